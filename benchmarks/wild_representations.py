"""In which representation does a wild GAN's approach to the data show as progress?

    python benchmarks/wild_representations.py run NAME SEED MUTATION... --samples DIR
    python benchmarks/wild_representations.py measure DIR [--out FILE]

``run`` trains wild GAN ``NAME`` on ``SEED``, healthy (``healthy``) or with each named
mutation, to 1x and then 4x its steps without extension, and saves 500 samples of the
initial generator (the same z before the first step), of the generator at 1x and at 4x,
and two disjoint draws of 500 real images of the whole data, to ``DIR/NAME-MUTATION-SEED.pt``.
``measure`` reads every saved file and prints, per representation, Szekely's energy
distance to the first real draw from the second real draw (the floor at this n), the
initial generator, 1x and 4x, one JSON line per file (appended to ``--out`` when given).
Samples are kept so that a new representation can be tried without training again.

The representations: the pixels; the images average-pooled to 8x8 and to 4x4; and the
2x2-pooled features of a fixed random two-layer ReLU convolution (32 and 64 channels,
stride 2, weights drawn from a seeded generator, never trained). No verdict reads any of
them: this measures which one a progress check could stand on (docs/benchmarks.md,
"Do the missed mutations do harm?").
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

import pytest_gan as pg
import wild
from benchmarks.wild_harm import _REAL_SEED, HEALTHY, N, real_draws
from pytest_gan.metrics import energy_distance

_FEATURE_SEED = 0


def _pixels(x: torch.Tensor) -> torch.Tensor:
    return x.double().reshape(x.shape[0], -1)


def _pooled(size: int) -> Callable[[torch.Tensor], torch.Tensor]:
    def pool(x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4:
            return _pixels(x)
        return F.adaptive_avg_pool2d(x.double(), size).reshape(x.shape[0], -1)

    return pool


def _random_features(x: torch.Tensor) -> torch.Tensor:
    if x.ndim != 4:
        return _pixels(x)
    g = torch.Generator().manual_seed(_FEATURE_SEED)
    c = x.shape[1]
    w1 = torch.randn(32, c, 3, 3, generator=g, dtype=torch.float64) / (c * 9) ** 0.5
    w2 = torch.randn(64, 32, 3, 3, generator=g, dtype=torch.float64) / (32 * 9) ** 0.5
    h = F.relu(F.conv2d(x.double(), w1, stride=2, padding=1))
    h = F.relu(F.conv2d(h, w2, stride=2, padding=1))
    return F.adaptive_avg_pool2d(h, 2).reshape(x.shape[0], -1)


REPRESENTATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "pixels": _pixels,
    "pooled 8x8": _pooled(8),
    "pooled 4x4": _pooled(4),
    "random features": _random_features,
}
#: The saved draws, in the order their distances are printed.
DRAWS = ("real2", "init", "s1", "s4")


def run_main(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    args.samples.mkdir(parents=True, exist_ok=True)
    g = wild.gan(args.name)
    real, real2 = real_draws(args.name)
    for mutation in args.mutations:
        spec = g.spec(None if mutation == HEALTHY else mutation)
        run = pg.train(spec, steps=g.steps, seed=args.seed, device="cpu")
        saved = {
            "real": real,
            "real2": real2,
            "init": run.samples(N, seed=_REAL_SEED, initial=True),
            "s1": run.samples(N, seed=_REAL_SEED),
        }
        run.extend(g.steps * 3)
        saved["s4"] = run.samples(N, seed=_REAL_SEED)
        torch.save(saved, args.samples / f"{args.name}-{mutation}-{args.seed}.pt")
        print(f"{args.name} {mutation} seed {args.seed}: saved", flush=True)


def measure_main(args: argparse.Namespace) -> None:
    for path in sorted(args.samples.glob("*.pt")):
        saved = torch.load(path)
        line: dict[str, object] = {"file": path.name, "draws": list(DRAWS)}
        for name, represent in REPRESENTATIONS.items():
            real = represent(saved["real"])
            line[name] = [energy_distance(represent(saved[d]), real) for d in DRAWS]
        text = json.dumps(line)
        print(text)
        if args.out is not None:
            with args.out.open("a") as f:
                f.write(text + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run")
    run.add_argument("name")
    run.add_argument("seed", type=int)
    run.add_argument("mutations", nargs="+")
    run.add_argument("--samples", type=Path, required=True)
    run.add_argument("--threads", type=int, default=1)
    measure = sub.add_parser("measure")
    measure.add_argument("samples", type=Path)
    measure.add_argument("--out", type=Path)
    args = parser.parse_args()
    (run_main if args.command == "run" else measure_main)(args)


if __name__ == "__main__":
    main()
