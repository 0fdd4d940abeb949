"""Calibration of assert_diverse's signals under the CPU kernels torch picks.

    ATEN_CPU_CAPABILITY=default python benchmarks/calibrate_collapse.py \
        [--seeds 10] [--steps 200] [--out FILE] NAME...

One JSON line per case and seed, with the kernel setting it ran under
(``torch.backends.cpu.get_cpu_capability()``) and, at ``CHECK_SAMPLES`` samples:

- ``spread_ratio``: mean distance between two generated samples over the same for real;
- ``reach_ratio``: mean distance from a real sample to its nearest generated sample, over
  the mean distance from a real sample to its nearest sample of a second real draw of the
  same size (real-versus-real 1; a generator that covers only part of the data leaves the
  rest of it far from every sample: above 1);
- ``bin_share``: histogram intersection over the data's k-means bins
  (``metrics.bin_intersection``): the share of the data's mass that the generated samples
  fill, real-versus-real near 1;
- the same three for the second real draw (``real_*``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from fixtures.zoo import case
from pytest_gan import train
from pytest_gan.checks.outputs import CHECK_SAMPLES
from pytest_gan.metrics import bin_intersection, mean_pairwise_distance, reach


def figures(name: str, seed: int, steps: int) -> dict[str, object]:
    run = train(case(name).spec(), steps=steps, seed=seed)
    n = CHECK_SAMPLES
    fake, real = run.samples(n), run.real(n)
    other = run.real(n, seed=seed + 10_000)
    third = run.real(n, seed=seed + 20_000)
    base = reach(real, third)
    spread = mean_pairwise_distance(real)
    return {
        "case": name,
        "seed": seed,
        "steps": steps,
        "kernels": torch.backends.cpu.get_cpu_capability(),
        "spread_ratio": mean_pairwise_distance(fake) / spread,
        "reach_ratio": reach(real, fake) / base,
        "bin_share": bin_intersection(real, fake, seed=seed),
        "real_spread_ratio": mean_pairwise_distance(other) / spread,
        "real_reach_ratio": reach(real, other) / base,
        "real_bin_share": bin_intersection(real, other, seed=seed),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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
            if args.out:
                with args.out.open("a") as f:
                    f.write(line + "\n")


if __name__ == "__main__":
    main()
