"""Whether a D that G fools (a low AUC) is a weak D: the figures beside
``checks.balance.MAX_WEAK_AUC``.

    python benchmarks/calibrate_weak_auc.py OUT.jsonl SOURCE:NAME:MUTATION:SEED ...
    STOPS=200,800 python benchmarks/calibrate_weak_auc.py OUT.jsonl ...

Cases as in ``calibrate_pace.py`` (``wild:GAN:MUTATION|healthy:SEED``, ``zoo:NAME:-:SEED``),
and ``blob:STD/DIM/LOSS:-:SEED``: a healthy MLP GAN on one Gaussian blob (mean 0.3,
standard deviation STD, DIM features, 1,024 samples; G 4-32-32-DIM with Tanh, D
DIM-32-32-1, Adam 2e-4 for both, batch 64), a GAN written outside the zoo and the wild on
which D's late AUC sits far below chance while the game is healthy. At each stop: the late
window's median AUC and D's belief a fake is real, D's pace over G's (``paces``), and
where G's samples are against the data, from the probes: ``reach_ratio``, the late
window's median ``fake_to_real / real_to_real`` (how far a fake is from its nearest
held-out real sample, against how far real samples are from each other: about 1 for
samples among the data), and ``closed``, ``history.gap_closed`` from the first probe to
the last. One JSON line per case (docs/benchmarks.md, "A D that G fools").
"""

from __future__ import annotations

import itertools
import math
import os
import sys
from typing import Any

import torch
from torch import nn

import pytest_gan as pg
from benchmarks import calibrate_extension
from pytest_gan.checks.balance import late_probes, paces
from pytest_gan.history import gap_closed
from pytest_gan.metrics import finite_median


def _mlp(*widths: int, out: nn.Module | None = None, slope: float = 0.0) -> nn.Module:
    layers: list[nn.Module] = []
    for a, b in itertools.pairwise(widths):
        layers += [nn.Linear(a, b), nn.LeakyReLU(slope) if slope else nn.ReLU()]
    layers.pop()
    if out is not None:
        layers.append(out)
    return nn.Sequential(*layers)


def blob_spec(std: float, dim: int, loss: str) -> pg.GANSpec:
    """The healthy blob GAN (module docstring)."""
    gen = torch.Generator().manual_seed(0)
    data = (0.3 + std * torch.randn(1024, dim, generator=gen)).clamp(-1, 1)
    return pg.GANSpec(
        generator=lambda: _mlp(4, 32, 32, dim, out=nn.Tanh()),
        discriminator=lambda: _mlp(dim, 32, 32, 1, slope=0.2),
        data=data,
        latent_dim=4,
        loss=loss,
        batch_size=64,
        name=f"blob-{std}-{dim}-{loss}",
    )


def case_spec(case: str) -> tuple[pg.GANSpec, int]:
    source, name, _, seed = case.split(":")
    if source == "blob":
        std, dim, loss = name.split("/")
        return blob_spec(float(std), int(dim), loss), int(seed)
    return calibrate_extension.case_spec(case)


def figures(run: pg.GANRun) -> dict[str, Any]:
    late = late_probes(run)
    probes = run.history.probes
    d_pace, g_pace, _ = paces(run)
    ratios = [p.fake_to_real / p.real_to_real for p in late if p.real_to_real > 0]
    return {
        "auc": finite_median([p.d_auc for p in late]),
        "belief": finite_median([p.d_fake_p for p in late]),
        "pace_ratio": d_pace / g_pace if g_pace > 0 else math.nan,
        "reach_ratio": finite_median(ratios),
        "closed": gap_closed(probes[0], probes[-1]) if len(probes) >= 2 else math.nan,
    }


def main() -> None:
    torch.set_num_threads(1)
    stops = tuple(int(s) for s in os.environ.get("STOPS", "200").split(","))
    calibrate_extension.trajectories(sys.argv[1], sys.argv[2:], figures, stops, case_spec)


if __name__ == "__main__":
    main()
