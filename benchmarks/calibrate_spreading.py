"""How the spread of G's samples grows over a run's doublings, on generators that start
collapsed and leave it (healthy) and on generators that collapse and stay so (planted).

    python -m benchmarks.calibrate_spreading OUT.jsonl SOURCE:NAME:MUTATION:SEED ...
    STOPS=200,400,800,1600 python -m benchmarks.calibrate_spreading ...

Cases as ``benchmarks/calibrate_extension.py`` reads them. Each case is trained to the
first stop and extended (``GANRun.extend``) to each later one; at each stop, the probes'
spread ratio (``fake_spread / real_spread`` of the fixed-z fakes, the figure
``deciding.spreading`` reads) at that stop, the growth of that ratio over the last
doubling, the share of its distance to the data the run covered over its last doubling
or two (``deciding.still_moving``'s figure) and the checks still pending
(``deciding.undecided``). One JSON line per case. It measured ``deciding.SPREAD_GROWTH``
(docs/benchmarks.md "A generator leaving a collapsed start").
"""

from __future__ import annotations

import os
import sys
from typing import Any

import pytest_gan as pg
from benchmarks.calibrate_extension import trajectories
from pytest_gan.deciding import progress_since, spread_by, undecided

STOPS = tuple(int(s) for s in os.environ.get("STOPS", "200,400,800,1600").split(","))


def figures(run: pg.GANRun) -> dict[str, Any]:
    now, half = run.steps, run.steps // 2
    return {
        "spread": spread_by(run, now),
        "growth": spread_by(run, now) / spread_by(run, half),
        "growth_before": spread_by(run, half) / spread_by(run, half // 2),
        "moved": max(progress_since(run, half), progress_since(run, half // 2)),
        "pending": undecided(run),
    }


if __name__ == "__main__":
    trajectories(sys.argv[1], sys.argv[2:], figures, STOPS)
