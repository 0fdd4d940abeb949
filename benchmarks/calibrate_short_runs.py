"""The balance verdict on runs shorter than the steps its thresholds were measured at:
the figures beside ``_defaults.CALIBRATED_STEPS``.

    python benchmarks/calibrate_short_runs.py OUT.jsonl SOURCE:NAME:MUTATION:SEED ...
    STOPS=30,60,100,200 python benchmarks/calibrate_short_runs.py OUT.jsonl ...

Cases as in ``calibrate_extension.py`` (``wild:GAN:MUTATION|healthy:SEED``,
``zoo:NAME:-:SEED``). Each case is trained to the first stop and extended to each later
one, as ``deciding.settle`` trains a short run on; at each stop, ``assert_losses_balanced``
on the run as it is (its pitfall, or "pass") with the late window's median AUC, D's belief
a fake is real and D's pace over G's. One JSON line per case (docs/benchmarks.md, "Runs
shorter than the calibration").
"""

from __future__ import annotations

import os
import sys
import warnings
from typing import Any

import torch

import pytest_gan as pg
from benchmarks import calibrate_extension
from benchmarks.calibrate_weak_auc import figures as balance_figures


def figures(run: pg.GANRun) -> dict[str, Any]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pg.assert_losses_balanced(run)
        verdict = "pass"
    except pg.GANAssertionError as exc:
        verdict = exc.pitfall
    found = balance_figures(run)
    return {"balance": verdict, **{k: found[k] for k in ("auc", "belief", "pace_ratio")}}


def main() -> None:
    torch.set_num_threads(1)
    stops = tuple(int(s) for s in os.environ.get("STOPS", "30,60,100,200").split(","))
    calibrate_extension.trajectories(sys.argv[1], sys.argv[2:], figures, stops)


if __name__ == "__main__":
    main()
