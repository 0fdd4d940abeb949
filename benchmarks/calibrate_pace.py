"""How fast D learns beside G: the figure ``checks.balance.MAX_WEAK_PACE`` judges.

    python benchmarks/calibrate_pace.py OUT.jsonl SOURCE:NAME:MUTATION:SEED ...
    STOPS=200,800 python benchmarks/calibrate_pace.py OUT.jsonl ...

Cases as in ``calibrate_critic.py`` (``wild:GAN:MUTATION|healthy:SEED`` or
``zoo:NAME:-:SEED``), trained to each of ``STOPS`` (default 200; later stops by
``GANRun.extend``). At each stop, D's pace over G's in two measures, both read on the
steps the instrumentation reads its norms on (every ``NORM_EVERY``-th):

- ``pace_ratio``, the judged one: ``checks.balance.paces``, the median over the run of each
  network's ``d_pace`` / ``g_pace`` (the median over its weight tensors of 2+ dimensions
  of each one's update norm over its weight norm), D's over G's;
- ``ratio_all``: the same with the whole network's update norm over its whole weight norm
  (``d_update_ratio`` / ``g_update_ratio``), which norm layers' scales and embeddings
  weigh on (docs/benchmarks.md: it failed its validation);

and the late window's median AUC (``assert_losses_balanced``'s figure), and
``resting_share``, the share of D's read steps at which its optimizer saw a gradient of
exactly 0 (``checks.balance.MIN_RESTING_SHARE`` judges it). One JSON line per
case (docs/benchmarks.md, "A discriminator that barely moves").
"""

from __future__ import annotations

import math
import os
import sys
from typing import Any

import torch

import pytest_gan as pg
from benchmarks.calibrate_extension import trajectories
from pytest_gan.checks.balance import late_probes, paces, resting_share
from pytest_gan.metrics import finite_median


def _pace(run: pg.GANRun, column: str) -> float:
    return finite_median(run.history[column]) if column in run.history else math.nan


def figures(run: pg.GANRun) -> dict[str, Any]:
    d, g = _pace(run, "d_update_ratio"), _pace(run, "g_update_ratio")
    d_pace, g_pace, readings = paces(run)
    return {
        "auc": finite_median([p["d_auc"] for p in late_probes(run)]),
        "d_update_ratio": d,
        "g_update_ratio": g,
        "ratio_all": d / g if g > 0 else math.nan,
        "d_pace": d_pace,
        "g_pace": g_pace,
        "readings": readings,
        "pace_ratio": d_pace / g_pace if g_pace > 0 else math.nan,
        "resting_share": resting_share(run),
    }


def main() -> None:
    torch.set_num_threads(1)
    stops = tuple(int(s) for s in os.environ.get("STOPS", "200").split(","))
    trajectories(sys.argv[1], sys.argv[2:], figures, stops)


if __name__ == "__main__":
    main()
