"""Calibration of the learning check: how much closer to the data training brought the
generator, healthy references against the twins that do not learn.

    python benchmarks/calibrate_learning.py [--seeds 5] [--steps 200] [--samples 512] NAME...

Prints, per case and seed: the relative movement of the generator's parameters from their
initial values, ||theta_T - theta_0|| / ||theta_0||; and, for comparison, the energy
distance to real data of the final generator over that of the initial one (same z, batch
statistics), which at 200 steps does not separate slow healthy references from a
generator that barely learns.

Besides the zoo's cases, ``outside:`` names a GAN written here as a team would, outside the
zoo: ``outside:blob-mlp-bn`` (MLPs on a 2-D Gaussian blob near the origin, D with
BatchNorm, the spec's default optimizers: a generator that starts near the data and has
little to learn), ``outside:blob-mlp`` (the same D without BatchNorm), and
``outside:blob-mlp-bn~slow-g`` (its generator's learning rate 100x too small), and
``outside:blob-mlp-bn~g-lr=X`` (its generator at learning rate X).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace

import torch

from fixtures.zoo import case
from pytest_gan import GANSpec, train
from pytest_gan.metrics import energy_distance, parameter_movement
from tests.tiny import blob_spec


def relative_movement(run: object) -> float:
    names = [n for n, _ in run.generator.named_parameters()]  # type: ignore[attr-defined]
    return parameter_movement(run.initial_generator_state, run.generator.state_dict(), names)  # type: ignore[attr-defined]


def spec_of(name: str) -> GANSpec:
    if name.startswith("outside:"):
        name = name.removeprefix("outside:")
        lr_g = float(name.split("~g-lr=")[1]) if "~g-lr=" in name else None
        bn = name.startswith("blob-mlp-bn")
        spec = blob_spec(batch_norm=bn, slow_g=name.endswith("~slow-g"), lr_g=lr_g)
        return replace(spec, name=name)
    return case(name).spec()


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
        spec = spec_of(name)
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            run = train(spec, steps=args.steps, seed=seed)
            real = run.real(args.samples)
            final = energy_distance(run.samples(args.samples, mode="train"), real)
            initial = energy_distance(run.samples(args.samples, mode="train", initial=True), real)
            row = {
                "case": name,
                "seed": seed,
                "steps": args.steps,
                "kernels": torch.backends.cpu.get_cpu_capability(),
                "movement": relative_movement(run),
                "distance_ratio": final / initial,
            }
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
