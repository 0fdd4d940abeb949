"""Does D score real samples it never trained on as it scores its training samples?

    python benchmarks/calibrate_overfitting.py OUT.jsonl SOURCE:NAME:MUTATION:SEED ...
    STOPS=200,400,800 python benchmarks/calibrate_overfitting.py ...

SOURCE ``wild`` (MUTATION one of the GAN's mutations or ``healthy``; ``small-N`` trains the
healthy GAN on its first N samples) or ``zoo`` (MUTATION ``-``). Each case is trained 200
steps and extended (``GANRun.extend``) to each of ``STOPS``; at each, over the late window
(the last third of the probes): the median AUC of D's scores on training samples over
held-out ones (``d_train_auc``: 1/2 when D treats them alike), StyleGAN2-ADA's ``r_v``
and ``r_t``, and the AUC of real over fake. One JSON line per case. It measured the
overfitting verdict's threshold (docs/benchmarks.md, "Discriminator overfitting").
"""

from __future__ import annotations

import sys
from typing import Any

import torch

import pytest_gan as pg
from benchmarks.calibrate_extension import STOPS, trajectories
from pytest_gan.checks.balance import late_probes
from pytest_gan.metrics import finite_median


def figures(run: pg.GANRun) -> dict[str, Any]:
    late = late_probes(run)
    return {
        "held_out": bool(late[-1]["held_out"]),
        "train_auc": finite_median([p["d_train_auc"] for p in late]),
        "r_v": finite_median([p["r_v"] for p in late]),
        "r_t": finite_median([p["r_t"] for p in late]),
        "auc": finite_median([p["d_auc"] for p in late]),
        "train_auc_all": [round(p["d_train_auc"], 3) for p in run.history.probes],
    }


def main() -> None:
    torch.set_num_threads(1)
    trajectories(sys.argv[1], sys.argv[2:], figures, STOPS)


if __name__ == "__main__":
    main()
