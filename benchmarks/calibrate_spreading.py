"""How the spread of G's samples grows over a run's doublings, on generators that start
collapsed and leave it (healthy) and on generators that collapse and stay so (planted).

    python -m benchmarks.calibrate_spreading OUT.jsonl SOURCE:NAME:MUTATION:SEED ...
    STOPS=200,400,800,1600 python -m benchmarks.calibrate_spreading ...
    python -m benchmarks.calibrate_spreading --settle OUT.jsonl SOURCE:NAME:MUTATION:SEED ...

Cases as ``benchmarks/calibrate_extension.py`` reads them. Each case is trained to the
first stop and extended (``GANRun.extend``) to each later one; at each stop, the probes'
spread ratio (``fake_spread / real_spread`` of the fixed-z fakes, the figure
``deciding.spreading`` reads) at that stop, the growth of that ratio over the last
doubling, the share of its distance to the data the run covered over its last doubling
or two (``deciding.still_moving``'s figure), how far the fixed-z samples moved over the
last doubling (``deciding.samples_moved``, ``deciding.changing``'s figure) and the checks
still pending (``deciding.undecided``). One JSON line per case. It measured
``deciding.SPREAD_GROWTH`` and ``deciding.MIN_CHANGE`` (docs/benchmarks.md "A generator
leaving a collapsed start").

With ``--settle``, each case is trained as the smoke suite trains it instead (200 steps,
on up to 3,200 while a verdict waits: ``pg.train(..., max_steps=3200)``), and its line
says where it stopped and why (its last extension: ``no_progress``, the rules found no
progress; ``stopped``, an exact check failed; neither, decided or at the budget) with the
training's seconds, the spread ratio there, and ``changed`` over the last doubling
(``moved_h``) and the last two (``moved_q``).
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import torch

import pytest_gan as pg
from benchmarks.calibrate_extension import case_spec, trajectories
from pytest_gan.deciding import progress_since, samples_moved, spread_by, undecided

STOPS = tuple(int(s) for s in os.environ.get("STOPS", "200,400,800,1600").split(","))


def figures(run: pg.GANRun) -> dict[str, Any]:
    now, half = run.steps, run.steps // 2
    return {
        "spread": spread_by(run, now),
        "growth": spread_by(run, now) / spread_by(run, half),
        "growth_before": spread_by(run, half) / spread_by(run, half // 2),
        "moved": max(progress_since(run, half), progress_since(run, half // 2)),
        "changed": samples_moved(run, half),
        "pending": undecided(run),
    }


def settled(out_path: str, cases: list[str]) -> None:
    """Each case trained as the smoke suite trains it; where and why it stopped."""
    for case in cases:
        spec, seed = case_spec(case)
        started = time.perf_counter()
        run = pg.train(spec, steps=STOPS[0], seed=seed, device="cpu", max_steps=3200)
        line: dict[str, Any] = {
            "case": case,
            "kernels": torch.backends.cpu.get_cpu_capability(),
            "steps": run.steps,
            "seconds": round(time.perf_counter() - started, 1),
            "last": run.extensions[-1] if run.extensions else {},
        }
        if run.extensions:
            half = run.steps // 2
            line["moved_h"] = samples_moved(run, half)
            line["moved_q"] = samples_moved(run, half // 2)
            line["spread"] = spread_by(run, run.steps)
        print(json.dumps(line), flush=True)
        with open(out_path, "a") as f:
            f.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    if sys.argv[1] == "--settle":
        settled(sys.argv[2], sys.argv[3:])
    else:
        trajectories(sys.argv[1], sys.argv[2:], figures, STOPS)
