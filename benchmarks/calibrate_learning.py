"""Calibration of the learning check: how much closer to the data training brought the
generator, healthy references against the twins that do not learn.

    python benchmarks/calibrate_learning.py [--seeds 5] [--steps 200] [--samples 512] NAME...

Prints, per case and seed: the relative movement of the generator's parameters from their
initial values, ||theta_T - theta_0|| / ||theta_0||; and, for comparison, the energy
distance to real data of the final generator over that of the initial one (same z, batch
statistics), which at 200 steps does not separate slow healthy references from a
generator that barely learns.
"""

from __future__ import annotations

import argparse
import json

import torch

from fixtures.zoo import case
from pytest_gan import train
from pytest_gan.metrics import energy_distance, parameter_movement


def relative_movement(run: object) -> float:
    names = [n for n, _ in run.generator.named_parameters()]  # type: ignore[attr-defined]
    return parameter_movement(run.initial_generator_state, run.generator.state_dict(), names)  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("names", nargs="+")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--samples", type=int, default=512)
    args = parser.parse_args()
    torch.set_num_threads(1)
    for name in args.names:
        spec = case(name).spec()
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            run = train(spec, steps=args.steps, seed=seed)
            real = run.real(args.samples)
            final = energy_distance(run.samples(args.samples, mode="train"), real)
            initial = energy_distance(run.samples(args.samples, mode="train", initial=True), real)
            row = {
                "case": name,
                "seed": seed,
                "movement": relative_movement(run),
                "distance_ratio": final / initial,
            }
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
