"""A Wasserstein critic too weak to teach G: how it differs from a healthy critic.

    python benchmarks/calibrate_critic.py OUT.jsonl SOURCE:NAME:MUTATION:SEED ...

SOURCE ``wild`` (MUTATION one of the GAN's mutations or ``healthy``) or ``zoo`` (NAME a
case's name, MUTATION ``-``). Each case is trained 200 steps and extended
(``GANRun.extend``) to 400 and 800; at each, the late window's median AUC (the figure
``assert_losses_balanced`` judges a classifier on) and the critic's slope: the median
``||grad_x D||`` at interpolates between real samples and fakes
(``checks.lipschitz.run_gradient_norms``), the figure a gradient penalty holds near 1. One
JSON line per case. It measured ``checks.balance.MAX_WEAK_SLOPE`` (docs/benchmarks.md,
"A critic too weak to teach").
"""

from __future__ import annotations

import sys
from typing import Any

import torch

import pytest_gan as pg
from benchmarks.calibrate_extension import trajectories
from pytest_gan.checks.balance import late_probes
from pytest_gan.checks.lipschitz import lipschitz_constraints, run_gradient_norms
from pytest_gan.metrics import finite_median

STOPS = (200, 400, 800)


def figures(run: pg.GANRun) -> dict[str, Any]:
    late = late_probes(run)
    norms = run_gradient_norms(run)
    return {
        "auc": finite_median([p["d_auc"] for p in late]),
        "slope": float(norms.median()),
        "slope_q90": float(torch.quantile(norms, 0.9)),
        "constraints": lipschitz_constraints(run),
    }


def main() -> None:
    torch.set_num_threads(1)
    trajectories(sys.argv[1], sys.argv[2:], figures, STOPS)


if __name__ == "__main__":
    main()
