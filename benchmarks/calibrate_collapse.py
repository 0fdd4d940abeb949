"""Calibration of assert_diverse's signals under the CPU kernels torch picks.

    ATEN_CPU_CAPABILITY=default python benchmarks/calibrate_collapse.py \
        [--seeds 10] [--steps 200] [--doublings 0] [--out FILE] NAME...

NAME is a zoo case (``mode-collapse``, ``ring-mlp``) or ``trial:`` and a GAN of
``benchmarks/trial_outside_zoo.py`` (``trial:spiral``). With ``--doublings N`` the run is
trained on N times, each time as many steps again (as the smoke suite trains a run on), and
measured after each.

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
- the same three for the second real draw (``real_*``);
- ``lasting_spread``: ``checks.outputs.lasting_spread``, the median spread ratio over the
  probes of the run's last half (a fixed-z batch against a fixed held-out real batch),
  with ``probe_ratios``, every probe's ratio, and ``coverage`` (``metrics.coverage``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from fixtures.zoo import case
from pytest_gan import GANRun, GANSpec, train
from pytest_gan.checks.outputs import CHECK_SAMPLES, lasting_spread
from pytest_gan.metrics import bin_intersection, coverage, mean_pairwise_distance, reach


def spec_of(name: str) -> GANSpec:
    if name.startswith("trial:"):
        from trial_outside_zoo import TRIALS

        return TRIALS[name.removeprefix("trial:")][0]()
    return case(name).spec()


def figures(name: str, seed: int, run: GANRun) -> dict[str, object]:
    steps = run.steps
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
        "lasting_spread": lasting_spread(run)[0],
        "coverage": coverage(real, fake),
        "probe_steps": [p["step"] for p in run.history.probes],
        "probe_ratios": [p["fake_spread"] / p["real_spread"] for p in run.history.probes],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="+")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--doublings", type=int, default=0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    for name in args.names:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            run = train(spec_of(name), steps=args.steps, seed=seed)
            for doubling in range(args.doublings + 1):
                if doubling:
                    run.extend(run.steps)
                line = json.dumps(figures(name, seed, run))
                print(line, flush=True)
                if args.out:
                    with args.out.open("a") as f:
                        f.write(line + "\n")


if __name__ == "__main__":
    main()
