"""Does a wild mutation the checks miss do measurable harm within the budget?

    python benchmarks/wild_harm.py run --half validation [--seeds 2] [--first-seed 0] \
        [--only NAME[:MUTATION] ...] [--at 1 4 16] --out FILE
    python benchmarks/wild_harm.py table FILE...

A mutation that the detection matrix (``wild_matrix.py``) counts as missed is either a
failure the checks cannot see, or a change that, within the run, leaves the generator as
good as the healthy one's. This tells the two apart with figures no check reads as a
verdict: each GAN is trained healthy and with each named mutation, without extension, and
at ``--at`` multiples of its steps its samples are compared with the data:

- ``energy``: Szekely's energy distance between 500 samples and 500 real ones, in the
  data's units (0 when the distributions agree; ``real_energy`` is the same figure for
  two disjoint real draws, the floor at this n);
- ``coverage``: Naeem et al.'s coverage of the 500 real samples by the 500 fakes (k = 5;
  ``real_coverage`` for a second real draw). Recorded, not tabled: in pixel space it is 0
  for nearly every run within 4x its steps, healthy or not.

The same seed trains the healthy GAN and its mutations on the same data stream and from
the same initial weights, so a mutation's figure is read beside its healthy twin's on the
same seed. ``table`` prints, per GAN and mutation, the energy distance at each multiple
beside the healthy run's, and the share of the healthy run's progress the mutation lost:

    lost = (energy(mutation) - energy(healthy)) / (energy(still) - energy(healthy))

where ``still`` is the same GAN's ``generator-not-learning`` mutation on the same seed (G's
loss on detached fakes: G's weights never move, its BatchNorm statistics still follow its
batches), measured alongside. 0: as near the data as the healthy run; 1: no nearer than
a generator that never learned; below 0: nearer than the healthy run. It is left out
("-") where the healthy run is no nearer the data than the still generator: a
pixel-space distance can favour the still generator's smooth outputs over a healthy
run's early samples, and then it measures no progress.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import torch

import pytest_gan as pg
import wild
from benchmarks.wild_matrix import HEALTHY, cli, done_runs
from pytest_gan.metrics import coverage, energy_distance

STILL = "generator-not-learning"
N = 500
# Streams for the two real draws the figures compare with, apart from any the run uses;
# the first also seeds the fakes' z, so every run is read on the same z.
_REAL_SEED, _REAL_SEED_2 = 7_001, 7_002


def real_draws(name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Two disjoint draws of ``N`` real samples of wild GAN ``name``'s whole data (the
    healthy spec's: a mutation that trains on a subset is still compared with the whole)."""
    source = wild.gan(name).spec(None).source
    first = source.real(N, torch.Generator().manual_seed(_REAL_SEED))[0]
    second = source.real(N, torch.Generator().manual_seed(_REAL_SEED_2))[0]
    return first.double().cpu(), second.double().cpu()


def figures(run: pg.GANRun, real: torch.Tensor, real2: torch.Tensor) -> dict[str, float]:
    """The figures for ``run``'s samples against the real draws."""
    fake = run.samples(N, seed=_REAL_SEED).double().cpu()
    if not bool(torch.isfinite(fake).all()):
        return {"energy": float("nan"), "coverage": 0.0}
    return {
        "energy": energy_distance(fake, real),
        "coverage": coverage(real, fake),
        "real_energy": energy_distance(real2, real),
        "real_coverage": coverage(real, real2),
    }


def measure(name: str, mutation: str, seed: int, at: list[int]) -> dict[str, Any]:
    g = wild.gan(name)
    spec = g.spec(None if mutation == HEALTHY else mutation)
    real, real2 = real_draws(name)
    run = pg.train(spec, steps=g.steps * at[0], seed=seed, device="cpu")
    points = {str(at[0]): figures(run, real, real2)}
    for mult in at[1:]:
        run.extend(g.steps * mult - run.steps)
        points[str(mult)] = figures(run, real, real2)
    return {
        "gan": name,
        "mutation": mutation,
        "seed": seed,
        "steps": g.steps,
        "kernels": torch.backends.cpu.get_cpu_capability(),
        "train_seconds": run.elapsed,
        "at": points,
    }


def run_main(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    gans = wild.HALVES[args.half]
    done = done_runs(args.out, lambda r: (r["gan"], r["mutation"], r["seed"], r["kernels"]))
    kernels = torch.backends.cpu.get_cpu_capability()
    only = [tuple(o.split(":", 1)) if ":" in o else (o, None) for o in args.only or []]
    for g in gans:
        named = [m for n, m in only if n == g.name]
        if only and not named:
            continue
        for mutation in (HEALTHY, *g.mutations):
            if only and mutation != HEALTHY and None not in named and mutation not in named:
                continue
            for seed in range(args.first_seed, args.first_seed + args.seeds):
                if (g.name, mutation, seed, kernels) in done:
                    continue
                line = json.dumps(measure(g.name, mutation, seed, sorted(args.at)))
                print(line, flush=True)
                with args.out.open("a") as f:
                    f.write(line + "\n")


def table_main(args: argparse.Namespace) -> None:
    rows = [json.loads(line) for path in args.files for line in Path(path).read_text().splitlines()]
    healthy = {(r["gan"], r["seed"], r["kernels"]): r for r in rows if r["mutation"] == HEALTHY}
    still = {(r["gan"], r["seed"], r["kernels"]): r for r in rows if r["mutation"] == STILL}
    cases: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        cases[(r["gan"], r["mutation"])].append(r)
    mults = sorted({int(m) for r in rows for m in r["at"]})
    out = sys.stdout
    head = " | ".join(f"energy at {m}x: it (healthy, still) | progress lost at {m}x" for m in mults)
    out.write(f"| GAN | mutation | seeds | {head} |\n")
    out.write("| --- | --- | --- |" + " --- | --- |" * len(mults) + "\n")
    order = sorted(cases.items(), key=lambda kv: (kv[0][0], kv[0][1] != HEALTHY))
    for (gan, mutation), rs in order:
        if mutation == STILL:
            continue
        cells = []
        for m in mults:
            key = str(m)
            es, hs, ss, lost = [], [], [], []
            for r in rs:
                twin = (r["gan"], r["seed"], r["kernels"])
                e, h = r["at"][key]["energy"], healthy[twin]["at"][key]["energy"]
                es.append(e)
                hs.append(h)
                if twin in still:
                    floor = still[twin]["at"][key]["energy"]
                    ss.append(floor)
                    # Read only where the healthy run came nearer the data than a generator
                    # that never learned: elsewhere the distance does not measure progress.
                    if floor > h and mutation != HEALTHY:
                        lost.append((e - h) / (floor - h))
            shown = _span(es) if mutation != HEALTHY else "-"
            cells.append(f"{shown} ({_span(hs)}, {_span(ss)}) | {_span(lost, '.2f')}")
        out.write(f"| {gan} | {mutation} | {len(rs)} | {' | '.join(cells)} |\n")


def _span(values: list[float], fmt: str = ".3g") -> str:
    if not values:
        return "-"
    lo, hi = f"{min(values):{fmt}}", f"{max(values):{fmt}}"
    return lo if lo == hi else f"{lo} to {hi}"


def _run_arguments(run: argparse.ArgumentParser) -> None:
    run.add_argument("--first-seed", type=int, default=0)
    run.add_argument("--at", type=int, nargs="+", default=[1, 4])


def main() -> None:
    cli(
        __doc__,
        {"run": run_main, "table": table_main},
        seeds=2,
        out_required=True,
        extra=_run_arguments,
    )


if __name__ == "__main__":
    main()
