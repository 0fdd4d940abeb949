"""Whether a baseline catches the slow generators that ``assert_generator_learns`` passes
(docs/benchmarks.md, "Judging a generator by its median weight tensor").

    python -m benchmarks.slow_g_baseline [NAME ...] >> OUT.jsonl

For each GAN (the names of ``benchmarks/calibrate_learning.py``): a baseline made from
the healthy GAN's runs on seeds 10-13 (200 steps), then ``assert_matches_baseline`` on the
healthy GAN and on it with G's learning rate divided by 100, seeds 0-1. One JSON line per
run: the verdict and the figures outside their bands.
"""

from __future__ import annotations

import argparse
import json

import torch

from benchmarks.calibrate_learning import spec_of
from pytest_gan import GANAssertionError, assert_matches_baseline, train
from pytest_gan.baseline.store import Baseline

STEPS = 200


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "names", nargs="*", default=["ring-mlp", "ring-wgan-gp", "wild:aladdin-simple-gan"]
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    for name in args.names:
        baseline = Baseline.from_runs(
            [train(spec_of(name), steps=STEPS, seed=s) for s in (10, 11, 12, 13)]
        )
        for variant in (name, f"{name}~g-lr/100"):
            for seed in (0, 1):
                run = train(spec_of(variant), steps=STEPS, seed=seed)
                verdict, outside = "pass", []
                try:
                    assert_matches_baseline(run, baseline)
                except GANAssertionError as e:
                    verdict = e.pitfall
                    outside = sorted(e.evidence.get("outside", e.evidence))
                line = {
                    "case": variant,
                    "seed": seed,
                    "kernels": torch.backends.cpu.get_cpu_capability(),
                    "verdict": verdict,
                    "outside": outside,
                }
                print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
