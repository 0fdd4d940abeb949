"""How far the style-based generator of ``trial_outside_zoo_3`` moves, by the measures
``assert_generator_learns`` could read (docs/benchmarks.md, "A third outside set").

    python -m benchmarks.style_g_movement [--seeds 2] [NAME ...] >> OUT.jsonl

Each GAN trained for 200 steps per seed; one JSON line each: the whole generator's
relative movement ``||theta_T - theta_0|| / ||theta_0||`` (the check's figure), the median
over its weight tensors of 2+ dimensions of each one's relative movement (as the pace
reads a network), and the energy distance of its samples to the data over the initial
generator's (same z, 1,000 samples; the check's second route).
"""

from __future__ import annotations

import argparse
import json

import torch

import pytest_gan as pg
from benchmarks.trial_outside_zoo_3 import TRIALS
from pytest_gan.metrics import energy_distance, parameter_movement


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("names", nargs="*", default=["discs", "discs-relativistic"])
    parser.add_argument("--seeds", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    for name in args.names:
        for seed in range(args.seeds):
            run = pg.train(TRIALS[name][0](), steps=200, seed=seed, device="cpu")
            names = [n for n, p in run.generator.named_parameters() if p.requires_grad]
            before, after = run.initial_generator_state, run.generator.state_dict()
            per_tensor = sorted(
                float((after[k].double() - before[k].double()).norm() / before[k].double().norm())
                for k in names
                if before[k].dim() >= 2
            )
            n = run.sample_count(1000)
            real = run.real(n)
            ratio = energy_distance(run.samples(n), real) / energy_distance(
                run.samples(n, initial=True), real
            )
            line = {
                "gan": name,
                "seed": seed,
                "kernels": torch.backends.cpu.get_cpu_capability(),
                "movement": parameter_movement(before, after, names),
                "median_tensor_movement": per_tensor[len(per_tensor) // 2],
                "distance_ratio": ratio,
            }
            print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
