"""A fourth set of GANs the checks were never tuned on: DRAGAN (Kodali et al. 2017) on a
ring of 8 Gaussians, written here as a team would write it. It found a false alarm of
``assert_losses_balanced`` (docs/benchmarks.md "A D that G fools"): with D at 4x G's rate
the GAN is healthy, yet one seed's D is fooled at steps 140-200, at a belief of 0.576, and
the check called it too weak; at the paper's rates (1e-4 for both) G learns nothing while
D, keeping pace, is fooled at a belief of 0.76-0.84, and the same verdict is right. Its
figures place ``MIN_FOOLED_BELIEF_FAST_D`` and ``FOOLED_PACE``;
``tests/test_checks_balance.py`` trains both.

    python -m benchmarks.trial_outside_zoo_4 [--seeds 5] [--stops 200 400 800] [--out FILE]

``dragan-ring`` (D at 4e-4) and ``dragan-ring-paper`` (D at 1e-4): MLPs of two hidden
layers of 128 (ReLU in G, LeakyReLU 0.2 in D, G's output linear), z of 8 dimensions;
2,000 points on a ring of radius 2 (8 modes, standard deviation 0.05); BCE on logits
with DRAGAN's penalty, lambda 10 times (||grad_x D(x_hat)|| - 1)^2 at x_hat between a
real batch and that batch pushed by up to half its standard deviation; Adam 1e-4 for G,
betas (0.5, 0.9); batch 64. Each run is trained to each stop and judged by
``assert_losses_balanced``; one JSON line per GAN, seed and stop: D's AUC and belief over
the late probes, D's pace over G's, the verdict, and the squared MMD (RBF kernel,
bandwidth 1) of 500 of G's samples to 500 of the data.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

import pytest_gan as pg
from pytest_gan import GANSpec, TrainContext, train
from pytest_gan.checks.balance import late_probes, paces
from pytest_gan.metrics import finite_median

LATENT = 8


def ring(n: int = 2000, modes: int = 8, radius: float = 2.0, std: float = 0.05) -> torch.Tensor:
    gen = torch.Generator().manual_seed(123)
    which = torch.randint(0, modes, (n,), generator=gen).float() * (2 * math.pi / modes)
    centres = radius * torch.stack([which.cos(), which.sin()], 1)
    return centres + std * torch.randn(n, 2, generator=gen)


def generator() -> nn.Module:
    return nn.Sequential(
        nn.Linear(LATENT, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 2)
    )


def discriminator() -> nn.Module:
    return nn.Sequential(
        nn.Linear(2, 128), nn.LeakyReLU(0.2), nn.Linear(128, 128), nn.LeakyReLU(0.2),
        nn.Linear(128, 1),
    )  # fmt: skip


def dragan_step(ctx: TrainContext, real: torch.Tensor) -> dict[str, torch.Tensor]:
    """One D update with DRAGAN's penalty around the real batch, then one G update."""
    g, d = ctx.generator, ctx.discriminator
    n = real.shape[0]
    fake = g(ctx.latent(n))
    ctx.opt_d.zero_grad()
    real_logit, fake_logit = d(real), d(fake.detach())
    d_loss = F.binary_cross_entropy_with_logits(
        real_logit, torch.ones_like(real_logit)
    ) + F.binary_cross_entropy_with_logits(fake_logit, torch.zeros_like(fake_logit))
    pushed = real + 0.5 * real.std() * torch.rand_like(real)
    alpha = torch.rand(n, 1)
    between = (real + alpha * (pushed - real)).requires_grad_(True)
    (grad,) = torch.autograd.grad(d(between).sum(), between, create_graph=True)
    gp = 10 * ((grad.norm(2, dim=1) - 1) ** 2).mean()
    (d_loss + gp).backward()
    ctx.opt_d.step()
    ctx.opt_g.zero_grad()
    fake_logit = d(fake)
    g_loss = F.binary_cross_entropy_with_logits(fake_logit, torch.ones_like(fake_logit))
    g_loss.backward()
    ctx.opt_g.step()
    return {"d_loss": d_loss, "g_loss": g_loss, "gp": gp}


def spec(d_rate: float, name: str) -> GANSpec:
    return GANSpec(
        generator=generator,
        discriminator=discriminator,
        data=ring(),
        latent_dim=LATENT,
        train_step=dragan_step,
        optimizers=lambda g, d: (
            torch.optim.Adam(g.parameters(), 1e-4, betas=(0.5, 0.9)),
            torch.optim.Adam(d.parameters(), d_rate, betas=(0.5, 0.9)),
        ),
        name=name,
    )


GANS = {"dragan-ring": 4e-4, "dragan-ring-paper": 1e-4}


def mmd2(x: torch.Tensor, y: torch.Tensor) -> float:
    def k(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.exp(-torch.cdist(a, b).square() / 2)

    return float(k(x, x).mean() + k(y, y).mean() - 2 * k(x, y).mean())


def balance_verdict(run: pg.GANRun) -> str:
    try:
        pg.assert_losses_balanced(run)
    except pg.GANAssertionError as e:
        return e.pitfall
    return "pass"


def judge(run: pg.GANRun) -> dict[str, Any]:
    late = late_probes(run)
    d_pace, g_pace, _ = paces(run)
    return {
        "auc": finite_median([p.d_auc for p in late]),
        "belief": finite_median([p.d_fake_p for p in late]),
        "pace_ratio": d_pace / g_pace if g_pace > 0 else math.nan,
        "verdict": balance_verdict(run),
        "mmd2": mmd2(run.samples(500), run.real(500)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--stops", type=int, nargs="+", default=[200, 400, 800])
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    out = args.out.open("w") if args.out else None
    for name, rate in GANS.items():
        for seed in range(args.seeds):
            for stop in args.stops:
                run = train(spec(rate, name), steps=stop, seed=seed)
                row = {"gan": name, "seed": seed, "steps": stop, **judge(run)}
                print(json.dumps(row), flush=True)
                if out:
                    out.write(json.dumps(row) + "\n")
    if out:
        out.close()


if __name__ == "__main__":
    main()
