"""Tiny GANs for fast tests of the engine itself (the reference zoo lives in fixtures/)."""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import nn

from pytest_gan import GANAssertionError, GANRun, GANSpec
from pytest_gan.checks import ALL

LATENT = 4


def gaussian(n: int = 1024, seed: int = 0, mean: tuple[float, float] = (2.0, -1.0)) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, 2, generator=gen) * 0.5 + torch.tensor(mean)


def make_g() -> nn.Module:
    return nn.Sequential(nn.Linear(LATENT, 32), nn.ReLU(), nn.Linear(32, 2))


def make_d() -> nn.Module:
    return nn.Sequential(nn.Linear(2, 32), nn.LeakyReLU(0.2), nn.Linear(32, 1))


def scripted(module: nn.Module) -> nn.Module:
    """``torch.jit.script(module)``, which torch 2.14 deprecates with a FutureWarning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return torch.jit.script(module)


def tiny_spec(**overrides: Any) -> GANSpec:
    kwargs: dict[str, Any] = dict(
        generator=make_g, discriminator=make_d, data=gaussian(), latent_dim=LATENT
    )
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


def adam(lr_g: float, lr_d: float = 2e-4) -> Any:
    """``optimizers=`` for a spec: Adam for G and D at these learning rates, DCGAN's betas
    (0.5, 0.999)."""
    return lambda g, d: (
        torch.optim.Adam(g.parameters(), lr_g, betas=(0.5, 0.999)),
        torch.optim.Adam(d.parameters(), lr_d, betas=(0.5, 0.999)),
    )


def two_clusters(n: int = 1024, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=gen)
    centres = torch.tensor([[-2.0, 0.0], [2.0, 0.0]])
    return centres[y] + 0.3 * torch.randn(n, 2, generator=gen), y


def blob_spec(*, batch_norm: bool, slow_g: bool = False, lr_g: float | None = None) -> GANSpec:
    """An MLP GAN on a 2-D Gaussian blob near the origin, where its generator's first
    samples already lie: it has little to learn, and its weights move little (outside the
    zoo; ``benchmarks/calibrate_learning.py outside:blob-mlp-bn``). ``batch_norm`` puts a
    BatchNorm layer in D; ``slow_g`` gives G a learning rate 100x too small, ``lr_g``
    any other."""
    gen = torch.Generator().manual_seed(0)
    data = (torch.randn(1000, 2, generator=gen) * 0.3 + torch.tensor([0.3, -0.3])).clamp(-1, 1)

    def generator() -> nn.Module:
        return nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 2), nn.Tanh())

    def discriminator() -> nn.Module:
        norm = [nn.BatchNorm1d(64)] if batch_norm else []
        return nn.Sequential(nn.Linear(2, 64), *norm, nn.LeakyReLU(0.2), nn.Linear(64, 1))

    if lr_g is None:
        lr_g = 2e-6 if slow_g else 2e-4
    return GANSpec(
        generator=generator,
        discriminator=discriminator,
        data=data,
        latent_dim=8,
        batch_size=64,
        optimizers=adam(lr_g),
        name="blob-mlp",
    )


def hinge_step(ctx: Any, batch: torch.Tensor) -> dict[str, torch.Tensor]:
    """A user's own hinge-loss step (SNGAN's), written with nn.ReLU as public code does."""
    g, d = ctx.generator, ctx.discriminator
    fake = g(ctx.latent(batch.shape[0]))
    ctx.opt_d.zero_grad()
    d_loss = nn.ReLU()(1.0 - d(batch)).mean() + nn.ReLU()(1.0 + d(fake.detach())).mean()
    d_loss.backward()
    ctx.opt_d.step()
    ctx.opt_g.zero_grad()
    g_loss = -d(fake).mean()
    g_loss.backward()
    ctx.opt_g.step()
    return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach()}


def verdicts(run: GANRun) -> dict[str, str]:
    """Each applicable check's outcome on ``run``: "pass" or its pitfall; an input error
    fails the test."""
    out = {}
    for check in ALL:
        if check.applies(run) is not None:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                check.function(run)
                out[check.id] = "pass"
            except GANAssertionError as exc:
                out[check.id] = exc.pitfall
    return out


class SmallInitResidualG(nn.Module):
    """A generator for ``blob_spec``'s latent size: 8 -> 64, three residual blocks whose two
    64 x 64 layers start at 1/100 of PyTorch's default initialisation, 64 -> 2. Six of its
    eight weight matrices start small (the learning check's median tensor, measured against
    its own norm alone, would read tiny steps as large ones)."""

    def __init__(self) -> None:
        super().__init__()
        self.inp, self.out = nn.Linear(8, 64), nn.Linear(64, 2)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 64)) for _ in range(3)
        )
        with torch.no_grad():
            for block in self.blocks:
                block[0].weight.mul_(0.01)
                block[2].weight.mul_(0.01)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.inp(z))
        for block in self.blocks:
            x = x + block(x)
        return torch.tanh(self.out(x))
