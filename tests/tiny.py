"""Tiny GANs for fast tests of the engine itself (the reference zoo lives in fixtures/)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from pytest_gan import GANSpec

LATENT = 4


def gaussian(n: int = 1024, seed: int = 0, mean: tuple[float, float] = (2.0, -1.0)) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, 2, generator=gen) * 0.5 + torch.tensor(mean)


def make_g() -> nn.Module:
    return nn.Sequential(nn.Linear(LATENT, 32), nn.ReLU(), nn.Linear(32, 2))


def make_d() -> nn.Module:
    return nn.Sequential(nn.Linear(2, 32), nn.LeakyReLU(0.2), nn.Linear(32, 1))


def tiny_spec(**overrides: Any) -> GANSpec:
    kwargs: dict[str, Any] = dict(generator=make_g, discriminator=make_d, data=gaussian(), latent_dim=LATENT)
    kwargs.update(overrides)
    return GANSpec(**kwargs)


class CondG(nn.Module):
    def __init__(self, num_classes: int = 2) -> None:
        super().__init__()
        self.emb = nn.Embedding(num_classes, 4)
        self.net = nn.Sequential(nn.Linear(LATENT + 4, 32), nn.ReLU(), nn.Linear(32, 2))

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([z, self.emb(y)], dim=1))


class CondD(nn.Module):
    def __init__(self, num_classes: int = 2) -> None:
        super().__init__()
        self.emb = nn.Embedding(num_classes, 4)
        self.net = nn.Sequential(nn.Linear(2 + 4, 32), nn.LeakyReLU(0.2), nn.Linear(32, 1))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([x, self.emb(y)], dim=1))


def two_clusters(n: int = 1024, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=gen)
    centres = torch.tensor([[-2.0, 0.0], [2.0, 0.0]])
    return centres[y] + 0.3 * torch.randn(n, 2, generator=gen), y


def hand_written_step(
    *, detach: bool = True, zero_d: str = "opt", zero_g: bool = True
) -> Any:
    """A user's own BCE step, written the way GAN scripts write it, with switches for the
    classic mistakes: no ``.detach()`` in the D step, ``zero_grad`` forgotten or done
    through the module or in place."""
    bce = nn.BCEWithLogitsLoss()

    def step(ctx: Any, real: torch.Tensor) -> Mapping[str, Any]:
        g, d = ctx.generator, ctx.discriminator
        n = real.shape[0]
        ones, zeros = torch.ones(n, 1, device=ctx.device), torch.zeros(n, 1, device=ctx.device)
        fake = g(ctx.latent(n))
        if zero_d == "opt":
            ctx.opt_d.zero_grad()
        elif zero_d == "module":
            d.zero_grad()
        elif zero_d == "in-place":
            ctx.opt_d.zero_grad(set_to_none=False)
        d_loss = bce(d(real), ones) + bce(d(fake.detach() if detach else fake), zeros)
        d_loss.backward()
        ctx.opt_d.step()
        if zero_g:
            ctx.opt_g.zero_grad()
        g_loss = bce(d(g(ctx.latent(n))), ones)
        g_loss.backward()
        ctx.opt_g.step()
        return {"d_loss": d_loss, "g_loss": g_loss.item(), "extra": 1.0}

    return step
