"""Calibration of the output-range check: how far short of each end of the data's range
the generator's samples stop, healthy references against the Sigmoid twin.

    python benchmarks/calibrate_range.py [--seeds 5] [--steps 200] [--samples 1000] NAME...

Prints, per case and seed, the gaps at the low and high end as fractions of the data's
span: (min(fake) - lo) / span and (hi - max(fake)) / span.
"""

from __future__ import annotations

import argparse
import json

import torch

from fixtures.zoo import case
from pytest_gan import train


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("names", nargs="+")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--samples", type=int, default=1000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    for name in args.names:
        spec = case(name).spec()
        for seed in range(args.seeds):
            run = train(spec, steps=args.steps, seed=seed)
            fake = run.samples(args.samples)
            lo, hi = run.data_range
            span = hi - lo
            row = {
                "case": name,
                "seed": seed,
                "low_gap": (float(fake.min()) - lo) / span,
                "high_gap": (hi - float(fake.max())) / span,
            }
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
