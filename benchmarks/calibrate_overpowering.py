"""Is G still learning while D is certain? The evidence of harm behind an overpowering verdict.

    python benchmarks/calibrate_overpowering.py OUT.jsonl SOURCE:NAME:MUTATION:SEED ...

SOURCE ``wild`` (MUTATION one of the GAN's mutations or ``healthy``) or ``zoo`` (MUTATION
``-``, or ``lr=D/G``: the case at those learning rates). Each case is trained 200 steps and
extended (``GANRun.extend``) to 400 and 800; at each, D's pace over G's and its resting
share (``checks.balance``), the late window's (last third of the run's probes) median AUC
and D's belief that a fake is real (``assert_losses_balanced``'s figures), and how much of
the gap between G's samples and the data G closed over that window: ``fake_to_real`` at
the window's first and last probe against ``real_to_real`` (the data's own scale), as a
share of the gap at the window's start (1: reached the data; 0: stalled; negative: moving
away). One JSON line per case. It measured ``checks.balance.MIN_CLOSING``
(docs/benchmarks.md, "Overpowering").
"""

from __future__ import annotations

import math
import sys
from typing import Any

import torch

import pytest_gan as pg
from benchmarks.calibrate_extension import trajectories
from pytest_gan.checks.balance import closing_share, late_probes, paces, resting_share
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
        "fake_to_real": [round(p["fake_to_real"], 3) for p in late],
        "real_to_real": late[-1]["real_to_real"],
    }


def main() -> None:
    torch.set_num_threads(1)
    trajectories(sys.argv[1], sys.argv[2:], figures, STOPS)


if __name__ == "__main__":
    main()
