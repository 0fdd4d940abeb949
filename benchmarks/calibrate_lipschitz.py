"""Calibration of the Lipschitz check: D's gradient norms between real and generated
samples, for the constrained healthy references against the twin whose gradient penalty
never reaches D.

    python benchmarks/calibrate_lipschitz.py [--seeds 10] [--steps 200] [--json FILE] NAME...
    python benchmarks/calibrate_lipschitz.py --stops 200,400,800 wild:aladdin-wgan-gp:healthy ...

A NAME is a zoo case, or ``SOURCE:NAME:MUTATION`` as ``calibrate_extension.case_spec``
reads it without its seed (``wild:GAN:MUTATION``, ``outside5:NAME:-``). With ``--stops``,
each run is trained to the first stop and extended to each later one (``GANRun.extend``),
measured at every stop.

Prints, per case and seed, the figures assert_lipschitz decides on: quantiles of
||grad_x D(x_hat)|| over LIPSCHITZ_SAMPLES interpolates (the 90th percentile is judged),
and, per D, the product of its layers' spectral norms and how many layers are spectrally
normalised. ``--json`` writes every row to FILE as well.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch

from benchmarks.calibrate_extension import case_spec
from fixtures.zoo import case
from pytest_gan import train
from pytest_gan.checks.lipschitz import (
    LIPSCHITZ_SAMPLES,
    lipschitz_constraints,
    run_gradient_norms,
    spectral_norms,
)
from pytest_gan.run import GANRun


def measure(run: GANRun, samples: int) -> dict[str, object]:
    """The check's own measurement on ``run`` (same interpolates, same seeding)."""
    norms = run_gradient_norms(run, samples)
    q = torch.quantile(
        norms, torch.tensor([0.1, 0.5, 0.9, 0.99], dtype=norms.dtype, device=norms.device)
    )
    layers = spectral_norms(run.discriminator)
    return {
        "q10": float(q[0]),
        "median": float(q[1]),
        "q90": float(q[2]),
        "q99": float(q[3]),
        "max": float(norms.max()),
        "spectral_norm_product": math.prod(s for s, _ in layers.values()),
        "normalised_layers": sum(sn for _, sn in layers.values()),
        "layers": len(layers),
        "constraints": lipschitz_constraints(run),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("names", nargs="+")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--samples", type=int, default=LIPSCHITZ_SAMPLES)
    parser.add_argument("--stops", default=None, help="e.g. 200,400,800 (default: --steps)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    stops = [int(s) for s in args.stops.split(",")] if args.stops else [args.steps]
    rows = []
    for name in args.names:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            spec = case_spec(f"{name}:{seed}")[0] if ":" in name else case(name).spec()
            started = time.perf_counter()
            run = train(spec, steps=stops[0], seed=seed)
            for stop in stops:
                if run.steps < stop:
                    run.extend(stop - run.steps)
                row = {
                    "case": name,
                    "seed": seed,
                    "steps": run.steps,
                    "kernels": torch.backends.cpu.get_cpu_capability(),
                    **measure(run, args.samples),
                }
                row["seconds"] = time.perf_counter() - started
                rows.append(row)
                print(json.dumps(row), flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
