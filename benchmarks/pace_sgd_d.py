"""A D trained with SGD beside G's Adam (a common tip): its pace, its verdict, and its harm.

    python benchmarks/pace_sgd_d.py OUT.jsonl

For the zoo's ``shapes-dcgan`` and ``ring-mlp``, the healthy spec and the same spec with D's
optimizer replaced by SGD at a few learning rates (with and without momentum), seeds 0-1,
200 steps: D's pace over G's (``checks.balance.paces``), the late AUC,
``assert_losses_balanced``'s verdict, and the harm: the energy distance and coverage of 1,000
samples against 1,000 data samples. One JSON line per run (docs/benchmarks.md, "A
discriminator that barely moves").
"""

from __future__ import annotations

import dataclasses
import json
import sys
from typing import Any

import torch

import pytest_gan as pg
from fixtures.zoo import case
from pytest_gan.checks.balance import late_probes, paces
from pytest_gan.metrics import coverage, energy_distance, finite_median
from pytest_gan.training import default_optimizers

#: (learning rate, momentum) of D's SGD.
SGD_SETTINGS = ((1e-3, 0.9), (1e-2, 0.0), (1e-2, 0.9), (5e-2, 0.0))


def _with_sgd_d(spec: pg.GANSpec, lr: float, momentum: float) -> pg.GANSpec:
    def optimizers(g: torch.nn.Module, d: torch.nn.Module) -> Any:
        # G's own optimizer, as the spec builds it (D's one is left unused).
        opt_g, _ = (spec.optimizers or default_optimizers)(g, d)
        return opt_g, torch.optim.SGD(d.parameters(), lr=lr, momentum=momentum)

    return dataclasses.replace(spec, optimizers=optimizers)


def measure(name: str, label: str, spec: pg.GANSpec, seed: int) -> dict[str, Any]:
    run = pg.train(spec, steps=200, seed=seed, device="cpu")
    d, g, _ = paces(run)
    data = spec.data
    assert isinstance(data, torch.Tensor)
    pick = torch.randperm(len(data), generator=torch.Generator().manual_seed(1))[:1000]
    real, fake = data[pick].flatten(1), run.samples(1000).flatten(1)
    try:
        pg.assert_losses_balanced(run)
        verdict = "pass"
    except pg.GANAssertionError as e:
        verdict = e.pitfall
    return {
        "case": name,
        "d_optimizer": label,
        "seed": seed,
        "kernels": torch.backends.cpu.get_cpu_capability(),
        "pace_ratio": d / g,
        "auc": finite_median([p["d_auc"] for p in late_probes(run)]),
        "verdict": verdict,
        "energy_distance": energy_distance(fake, real),
        "coverage": coverage(real, fake),
    }


def main() -> None:
    torch.set_num_threads(1)
    with open(sys.argv[1], "a") as out:
        for name in ("shapes-dcgan", "ring-mlp"):
            base = case(name).spec()
            variants = [("as the zoo", base)] + [
                (f"SGD lr {lr:g}, momentum {m:g}", _with_sgd_d(base, lr, m))
                for lr, m in SGD_SETTINGS
            ]
            for label, spec in variants:
                for seed in (0, 1):
                    row = measure(name, label, spec, seed)
                    print(row, flush=True)
                    out.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
