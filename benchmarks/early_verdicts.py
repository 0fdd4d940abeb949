"""What stopping a run early on a certain failure saves the smoke suite, and what it changes.

    python benchmarks/early_verdicts.py [--seeds 2] [--steps 200] [--out FILE]

Every zoo case (healthy references and broken twins) is trained twice per seed, as the
smoke suite trains it (``--gan-steps`` and its budget of steps for training on): once
with ``stop_early=True`` (the smoke suite's setting) and once without. Reported per run:
where it stopped and why, the wall seconds of each training, and the exact checks' pitfalls
on each run (``Check.exact``: the checks a stopped run is still judged by). Two
things must hold: no healthy run stops, and each exact check gives the same verdict on the
stopped run as on the whole one. One JSON line per case and seed goes to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
import warnings
from pathlib import Path
from typing import Any

import torch

from fixtures.zoo import BROKEN, HEALTHY
from pytest_gan import _defaults, train
from pytest_gan.checks import ALL
from pytest_gan.errors import GANAssertionError


def exact_pitfalls(run: Any) -> list[str]:
    """The pitfalls the exact smoke checks find on ``run``, in their order."""
    found = []
    for smoke in ALL:
        if not smoke.exact or smoke.applies(run) is not None:
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                smoke.function(run)
        except GANAssertionError as exc:
            found.append(exc.pitfall)
    return found


def measure(name: str, pitfall: str | None, spec: Any, seed: int, steps: int) -> dict[str, Any]:
    budget = steps * _defaults.MAX_EXTEND_FACTOR
    row: dict[str, Any] = {"case": name, "pitfall": pitfall, "seed": seed}
    for label, early in (("whole", False), ("early", True)):
        started = time.perf_counter()
        run = train(spec, steps=steps, seed=seed, max_steps=budget, stop_early=early)
        row[f"{label}_s"] = round(time.perf_counter() - started, 2)
        row[f"{label}_steps"] = run.steps
        row[f"{label}_exact"] = exact_pitfalls(run)
        if early:
            row["stopped"] = run.stopped_early
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=_defaults.STEPS)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    cases = [(n, None, c) for n, c in sorted(HEALTHY.items())]
    cases += [(c.name, p, c) for p, c in sorted(BROKEN.items())]
    print(
        f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads"
    )
    out = args.out.open("a") if args.out else None
    for seed in range(args.seeds):
        for name, pitfall, c in cases:
            row = measure(name, pitfall, c.spec(), seed, args.steps)
            print(json.dumps(row), flush=True)
            if out is not None:
                out.write(json.dumps(row) + "\n")
                out.flush()


if __name__ == "__main__":
    main()
