"""The output-range check's probe with z scaled, drawn whole (1,000 samples at once, as
before) and in two parts (the first ``FAR_FIRST``, the rest only when those leave the
verdict open): the verdict and the seconds of each, on the same trained run.

    python benchmarks/range_probe.py --out range-probe.jsonl [--seeds 1] [--at 1 4]
                                     [--zoo] [--wild MUTATION...]

``--zoo`` runs every healthy case and every twin of the zoo; ``--wild`` every GAN of the
wild corpus, healthy and with each named mutation it has (default: the mutations whose
verdict reads the range: ``output-range-mismatch``, ``data-not-normalized``,
``blank-output``). ``--at`` reads each run at these multiples of its steps (extending
it between, as the smoke suite does when a verdict is pending). One JSON line per run
and multiple, appended to ``--out`` (rows already there are skipped): both verdicts, the
probe's lowest and highest value drawn whole, the plain draw's, and the seconds each way.
The verdicts must agree on every row: the two-part draw decides as the whole draw does
by construction (``checks.ranges.range_failure``); this measures it, and the time saved.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterator
from pathlib import Path

import torch

import pytest_gan as pg
import wild
from fixtures.zoo import BROKEN, HEALTHY, SECOND_TWINS
from pytest_gan.checks.ranges import FAR_FIRST, PROBE_LATENT_SCALE, RANGE_SAMPLES, range_failure
from pytest_gan.spec import GANSpec

RANGE_MUTATIONS = ("output-range-mismatch", "data-not-normalized", "blank-output")


def _cases(zoo: bool, mutations: list[str]) -> Iterator[tuple[str, GANSpec, int]]:
    if zoo:
        for name, c in {**HEALTHY, **BROKEN, **SECOND_TWINS}.items():
            yield f"zoo:{name}", c.spec(), 200
    for g in wild.CORPUS.values():
        yield f"wild:{g.name}:healthy", g.spec(None), g.steps
        for m in mutations:
            if m in g.mutations:
                yield f"wild:{g.name}:{m}", g.spec(m), g.steps


def _verdict(run: pg.GANRun, first: int) -> tuple[str, float]:
    started = time.perf_counter()
    try:
        failure = range_failure(run, RANGE_SAMPLES, first)
    except pg.GANAssertionError as exc:  # a non-finite verdict raises its own
        failure = exc
    seconds = time.perf_counter() - started
    return ("pass" if failure is None else failure.pitfall), seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--at", type=int, nargs="+", default=[1])
    parser.add_argument("--zoo", action="store_true")
    parser.add_argument("--wild", nargs="*", default=list(RANGE_MUTATIONS))
    args = parser.parse_args()
    torch.set_num_threads(1)
    done = set()
    if args.out.exists():
        for line in args.out.read_text().splitlines():
            row = json.loads(line)
            done.add((row["case"], row["seed"], row["at"]))
    for name, spec, steps in _cases(args.zoo, args.wild):
        for seed in range(args.seeds):
            if all((name, seed, at) in done for at in args.at):
                continue
            run: pg.GANRun | None = None
            for at in sorted(args.at):
                if run is None:
                    run = pg.train(spec, steps=steps * at, seed=seed, device="cpu")
                else:
                    run.extend(steps * at - run.steps)
                if (name, seed, at) in done:
                    continue
                row: dict[str, object] = {"case": name, "seed": seed, "at": at}
                row["steps"] = run.steps
                plain = run.samples(RANGE_SAMPLES)
                row["plain"] = [float(plain.min()), float(plain.max())]
                row["data_range"] = list(run.data_range)
                whole = run.samples(RANGE_SAMPLES, latent_scale=PROBE_LATENT_SCALE)
                row["probe"] = [float(whole.min()), float(whole.max())]
                # The plain draw is kept by the run: each timing is the probe's own.
                for label, first in (("whole", RANGE_SAMPLES), ("parts", FAR_FIRST)):
                    verdict, seconds = _verdict(run, first)
                    row[f"verdict_{label}"] = verdict
                    row[f"seconds_{label}"] = seconds
                print(json.dumps(row), flush=True)
                with args.out.open("a") as f:
                    f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
