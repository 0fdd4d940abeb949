"""Is G still learning while D is certain? The evidence of harm behind an overpowering verdict.

    python benchmarks/calibrate_overpowering.py [--stops 200,400] OUT.jsonl \
        SOURCE:NAME:MUTATION:SEED ...

SOURCE ``wild`` (MUTATION one of the GAN's mutations or ``healthy``) or ``zoo`` (MUTATION
``-``, or ``lr=D/G``: the case at those learning rates). Each case is trained 200 steps and
extended (``GANRun.extend``) to 400 and 800 (``--stops``: other steps); at each, D's pace
over G's and its resting share (``checks.balance``), the late window's (last third of the
run's probes) median AUC and D's belief that a fake is real (``assert_losses_balanced``'s
figures), how much of the gap between G's samples and the data G closed over that window
(``closing``: ``fake_to_real`` at the window's first and last probe against
``real_to_real``, the data's own scale, as a share of the gap at the window's start; 1:
reached the data, 0: stalled, negative: moving away), and how much of the gap between the
initial generator's samples and the data G had closed by that window (``progress``:
``checks.balance.progress_over_run``). One JSON line per case. It measured
``checks.balance.MAX_PROGRESS_UNDER_CERTAIN_D`` (docs/benchmarks.md, "A certain D and a
generator still learning").
"""

from __future__ import annotations

import math
import sys
from typing import Any

import torch

import pytest_gan as pg
from benchmarks.calibrate_extension import trajectories
from pytest_gan.checks.balance import (
    closing_share,
    late_probes,
    paces,
    progress_over_run,
    resting_share,
)
from pytest_gan.metrics import finite_median

STOPS = (200, 400, 800)


def figures(run: pg.GANRun) -> dict[str, Any]:
    late = late_probes(run)
    d_pace, g_pace, _ = paces(run)
    return {
        "pace_ratio": d_pace / g_pace if g_pace > 0 else math.nan,
        "resting_share": resting_share(run),
        "auc": finite_median([p["d_auc"] for p in late]),
        "belief": finite_median([p["d_fake_p"] for p in late]),
        "closing": closing_share(run),
        "progress": progress_over_run(run),
        "first_fake_to_real": run.history.probes[0]["fake_to_real"],
        "fake_to_real": [round(p["fake_to_real"], 3) for p in late],
        "real_to_real": late[-1]["real_to_real"],
    }


def main() -> None:
    torch.set_num_threads(1)
    args = sys.argv[1:]
    stops = STOPS
    if args and args[0] == "--stops":
        stops = tuple(int(s) for s in args[1].split(","))
        args = args[2:]
    trajectories(args[0], args[1:], figures, stops)


if __name__ == "__main__":
    main()
