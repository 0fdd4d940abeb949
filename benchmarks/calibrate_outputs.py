"""Calibration of the output and balance checks: the figures assert_not_blank,
assert_diverse and assert_losses_balanced decide on, for healthy references and twins.

    python benchmarks/calibrate_outputs.py [--seeds 10] [--first-seed 0] [--steps 200] \
        [--out FILE] NAME...

One JSON line per case and seed (appended to ``--out`` when given):
- ``contrast_ratio``: median image contrast (pixel std), generated / real (images only);
- ``coarse_contrast_ratio``: the same on 4x4 block averages (``coarse_contrast``);
- ``spread_ratio``: mean distance between two samples, generated / real;
- ``coverage``: Naeem et al.'s coverage (k = 5) of the real samples by the generated;
- the same two ratios for a second draw of real data against the first (``real_*``), the
  real-versus-real calibration at the same n;
- ``auc``, ``fake_belief``: median over the probes of the run's last third of D's AUC
  (real vs fake) and of its belief that a fake is real.

The figures quoted beside the thresholds are in ``results/calibrate-outputs.jsonl``: the
six healthy references on seeds 0-19 and the output and balance twins on seeds 0-9, one
thread per process. The ring GANs' rows were taken 15 processes at a time on a 16-core
machine (torch 2.11 on CPU); the image GANs' rows, after they moved to batch 32, two at a
time on the 2-core machine (torch 2.14.1 on CPU).
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import torch

from fixtures.zoo import case
from pytest_gan import train
from pytest_gan.checks.outputs import CHECK_SAMPLES, MIN_IMAGE_FEATURES
from pytest_gan.metrics import coarse_contrast, contrast, coverage, mean_pairwise_distance


def _contrast_ratio(a: torch.Tensor, b: torch.Tensor) -> float | None:
    if a[0].numel() < MIN_IMAGE_FEATURES:
        return None
    return float(contrast(a).median() / contrast(b).median())


def _coarse_ratio(a: torch.Tensor, b: torch.Tensor) -> float | None:
    if a[0].numel() < MIN_IMAGE_FEATURES:
        return None
    return float(coarse_contrast(a).median() / coarse_contrast(b).median())


def figures(name: str, seed: int, steps: int) -> dict[str, object]:
    run = train(case(name).spec(), steps=steps, seed=seed)
    n = CHECK_SAMPLES
    fake, real = run.samples(n), run.real(n)
    other = run.real(n, seed=seed + 10_000)
    late = [p for p in run.history.probes if p["step"] >= steps * 2 / 3 and p["step"] > 0]
    finite = bool(torch.isfinite(fake).all())
    return {
        "case": name,
        "seed": seed,
        "steps": steps,
        "contrast_ratio": _contrast_ratio(fake, real) if finite else None,
        "coarse_contrast_ratio": _coarse_ratio(fake, real) if finite else None,
        "spread_ratio": mean_pairwise_distance(fake) / mean_pairwise_distance(real)
        if finite
        else None,
        "coverage": coverage(real, fake) if finite else None,
        "real_contrast_ratio": _contrast_ratio(other, real),
        "real_coarse_contrast_ratio": _coarse_ratio(other, real),
        "real_spread_ratio": mean_pairwise_distance(other) / mean_pairwise_distance(real),
        "auc": statistics.median(p["d_auc"] for p in late),
        "fake_belief": statistics.median(p["d_fake_p"] for p in late),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("names", nargs="+")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    for name in args.names:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            line = json.dumps(figures(name, seed, args.steps))
            print(line, flush=True)
            if args.out is not None:
                with args.out.open("a") as f:
                    f.write(line + "\n")


if __name__ == "__main__":
    main()
