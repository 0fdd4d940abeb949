"""A D at rest: the broken side of ``checks.balance.MIN_RESTING_SHARE``, on the tests' tiny
hinge GAN (``tests.tiny``: an MLP pair on a 2-D Gaussian, SN-GAN's ``betas=(0.0, 0.9)``).

    python benchmarks/calibrate_resting.py OUT.jsonl
    ATEN_CPU_CAPABILITY=default python benchmarks/calibrate_resting.py OUT.jsonl

Cases: D at 1e-2 against G at 1e-7 (a D 10^5 times faster, which puts every sample beyond
its margin and stays there), 600 steps, seeds 0-5; and both at 2e-4, 300 steps, seeds 0-2.
Per case: D's pace over G's (``checks.balance.paces``), the late median AUC and
``resting_share``, and ``assert_losses_balanced``'s verdict. One JSON line per case; the
zoo's and the wild's figures come from ``calibrate_pace.py`` (docs/benchmarks.md, "A
discriminator that barely moves").
"""

from __future__ import annotations

import json
import sys
from typing import Any

import torch

import pytest_gan as pg
from pytest_gan.checks.balance import late_probes, paces, resting_share
from pytest_gan.metrics import finite_median
from tests.tiny import hinge_step, tiny_spec

CASES = [(1e-7, 1e-2, 600, range(6)), (2e-4, 2e-4, 300, range(3))]


def _adam(lr_g: float, lr_d: float) -> Any:
    return lambda g, d: (
        torch.optim.Adam(g.parameters(), lr_g, betas=(0.0, 0.9)),
        torch.optim.Adam(d.parameters(), lr_d, betas=(0.0, 0.9)),
    )


def main() -> None:
    torch.set_num_threads(1)
    for lr_g, lr_d, steps, seeds in CASES:
        for seed in seeds:
            spec = tiny_spec(train_step=hinge_step, optimizers=_adam(lr_g, lr_d))
            run = pg.train(spec, steps=steps, seed=seed)
            d_pace, g_pace, _ = paces(run)
            try:
                pg.assert_losses_balanced(run)
                verdict = "pass"
            except pg.GANAssertionError as e:
                verdict = e.pitfall
            line = {
                "case": f"tiny-hinge lr_g={lr_g:g} lr_d={lr_d:g}",
                "seed": seed,
                "steps": steps,
                "kernels": torch.backends.cpu.get_cpu_capability(),
                "pace_ratio": d_pace / g_pace,
                "auc": finite_median([p["d_auc"] for p in late_probes(run)]),
                "resting_share": resting_share(run),
                "verdict": verdict,
            }
            print(line, flush=True)
            with open(sys.argv[1], "a") as f:
                f.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()
