"""A second set of GANs the checks were never tuned on, written as a team would write
them, each healthy and with the seed documents' mistakes planted in one line. Nothing
here is used by the tests or the calibrations; the first set is ``trial_outside_zoo.py``.

    python -m benchmarks.trial_outside_zoo_2 [NAME ...] [--seeds 3] [--first-seed 0]
                                             [--steps 200] [--budget 16] [--out FILE]

Each run is trained as the smoke suite trains it (``max_steps`` = ``--budget`` times its
steps, so that a slow verdict is trained on until decided) and judged by every check that
applies to it. One JSON line per GAN and seed: the pitfalls reported, each check's
verdict, and the steps it was judged at. The GANs:

- ``glyphs``: conditional 16x16 images of the digits 0-9, drawn here with Pillow's own
  font at random sizes and places; the generator takes a one-hot label beside z and
  upsamples by nearest neighbour and convolution; a projection discriminator (a label
  embedding's inner product with D's features); BCE on logits in a hand-written step.
- ``grid25``: the classic 5x5 grid of Gaussians; MLPs, BCE built in, batch 256, Adam
  1e-4 with betas (0.5, 0.9).
- ``swatches``: 3-channel 16x16 colour swatches (a two-colour gradient at a random
  angle); the generator upsamples with PixelShuffle and GroupNorm, the critic uses
  LayerNorm-free strided convolutions; WGAN-GP in a hand-written step (five critic steps
  per generator step, Adam 1e-4, betas (0, 0.9), penalty weight 10).
- ``table``: tabular rows of six columns (two correlated Gaussians, a log-normal, a
  uniform, a bimodal and a binary column), each scaled to [-1, 1] by its own min and max;
  the generator with BatchNorm1d and LeakyReLU, a discriminator with dropout; LSGAN
  built in, batch 128.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

import pytest_gan as pg
from benchmarks.trial_outside_zoo import adam, both_on_d, main

# -- data, made here ------------------------------------------------------------------


def glyphs(n: int = 3000, size: int = 16, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Digits drawn with Pillow's own font at sizes 9-13, shifted at random, in [-1, 1]."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFont

    g = torch.Generator().manual_seed(seed)
    fonts = {s: ImageFont.load_default(size=s) for s in range(9, 14)}
    labels = torch.randint(0, 10, (n,), generator=g)
    sizes = torch.randint(9, 14, (n,), generator=g)
    shifts = torch.randint(-2, 3, (n, 2), generator=g)
    out = np.zeros((n, size, size), dtype=np.float32)
    for i in range(n):
        im = Image.new("L", (size, size))
        s = int(sizes[i])
        ImageDraw.Draw(im).text(
            (size // 2 + int(shifts[i, 0]), size // 2 + int(shifts[i, 1])),
            str(int(labels[i])),
            fill=255,
            font=fonts[s],
            anchor="mm",
        )
        out[i] = np.asarray(im, dtype=np.float32)
    x = torch.from_numpy(out).unsqueeze(1) / 127.5 - 1
    return x, labels


def grid25(n: int = 8192, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    centres = torch.stack(
        torch.meshgrid(torch.linspace(-0.8, 0.8, 5), torch.linspace(-0.8, 0.8, 5), indexing="ij"),
        dim=-1,
    ).reshape(25, 2)
    pick = torch.randint(0, 25, (n,), generator=g)
    return centres[pick] + 0.03 * torch.randn(n, 2, generator=g)


def swatches(n: int = 2048, size: int = 16, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    a, b = torch.rand(n, 3, 1, 1, generator=g), torch.rand(n, 3, 1, 1, generator=g)
    angle = torch.rand(n, 1, 1, generator=g) * 2 * math.pi
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    t = ((xs * angle.cos() + ys * angle.sin()) / math.sqrt(2) + 1) / 2  # [n, size, size]
    img = a + (b - a) * t.unsqueeze(1)
    return img * 2 - 1


def table(n: int = 4096, seed: int = 0, scaled: bool = True) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, 2, generator=g)
    cols = [
        z[:, 0],
        0.8 * z[:, 0] + 0.6 * z[:, 1],
        torch.exp(0.5 * torch.randn(n, generator=g)) * 1000,  # an amount in currency
        torch.rand(n, generator=g) * 90 + 18,  # an age
        torch.where(torch.rand(n, generator=g) < 0.3, -2.0, 2.0)
        + 0.3 * torch.randn(n, generator=g),
        (torch.rand(n, generator=g) < 0.4).float(),
    ]
    x = torch.stack(cols, dim=1)
    if not scaled:
        return x
    lo, hi = x.min(0).values, x.max(0).values
    return (x - lo) / (hi - lo) * 2 - 1


# -- networks -------------------------------------------------------------------------


class GlyphG(nn.Module):
    def __init__(self, nz: int = 32, classes: int = 10, drop_label: bool = False) -> None:
        super().__init__()
        self.classes, self.drop_label = classes, drop_label
        self.fc = nn.Sequential(
            nn.Linear(nz + classes, 64 * 4 * 4), nn.BatchNorm1d(64 * 4 * 4), nn.ReLU()
        )
        self.up = nn.Sequential(
            nn.Upsample(scale_factor=2),
            nn.Conv2d(64, 32, 3, padding=1),
            nn.BatchNorm2d(32),
            nn.ReLU(),
            nn.Upsample(scale_factor=2),
            nn.Conv2d(32, 16, 3, padding=1),
            nn.BatchNorm2d(16),
            nn.ReLU(),
            nn.Conv2d(16, 1, 3, padding=1),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        onehot = F.one_hot(y, self.classes).to(z.dtype)
        if self.drop_label:
            onehot = torch.zeros_like(onehot)
        return self.up(self.fc(torch.cat([z, onehot], 1)).view(-1, 64, 4, 4))


class ProjectionD(nn.Module):
    def __init__(self, classes: int = 10, sigmoid: bool = False) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(32, 64, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Flatten(),
            nn.Linear(64 * 4 * 4, 128),
            nn.LeakyReLU(0.2),
        )
        self.out = nn.Linear(128, 1)
        self.embed = nn.Embedding(classes, 128)
        self.sigmoid = sigmoid

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.features(x)
        score = self.out(h).squeeze(1) + (self.embed(y) * h).sum(1)
        return torch.sigmoid(score) if self.sigmoid else score


def grid_g() -> nn.Module:
    return nn.Sequential(
        nn.Linear(2, 128),
        nn.ReLU(),
        nn.Linear(128, 128),
        nn.ReLU(),
        nn.Linear(128, 128),
        nn.ReLU(),
        nn.Linear(128, 2),
    )


def grid_g_tanh() -> nn.Module:
    return nn.Sequential(grid_g(), nn.Tanh())


def grid_d() -> nn.Module:
    return nn.Sequential(
        nn.Linear(2, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 1)
    )


class SwatchG(nn.Module):
    def __init__(self, nz: int = 24, final: str = "tanh") -> None:
        super().__init__()
        self.fc = nn.Linear(nz, 32 * 4 * 4)
        self.body = nn.Sequential(
            nn.GroupNorm(4, 32),
            nn.SiLU(),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.PixelShuffle(2),  # 16 x 8 x 8
            nn.GroupNorm(4, 16),
            nn.SiLU(),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.PixelShuffle(2),  # 8 x 16 x 16
            nn.GroupNorm(2, 8),
            nn.SiLU(),
            nn.Conv2d(8, 3, 3, padding=1),
        )
        self.final = nn.Sigmoid() if final == "sigmoid" else nn.Tanh()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.final(self.body(self.fc(z).view(-1, 32, 4, 4)))


def swatch_d() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, 2, 1),
        nn.LeakyReLU(0.2),
        nn.Conv2d(16, 32, 3, 2, 1),
        nn.LeakyReLU(0.2),
        nn.Conv2d(32, 64, 3, 2, 1),
        nn.LeakyReLU(0.2),
        nn.Flatten(),
        nn.Linear(64 * 2 * 2, 1),
    )


def table_g() -> nn.Module:
    return nn.Sequential(
        nn.Linear(16, 128),
        nn.BatchNorm1d(128),
        nn.LeakyReLU(0.2),
        nn.Linear(128, 128),
        nn.BatchNorm1d(128),
        nn.LeakyReLU(0.2),
        nn.Linear(128, 6),
        nn.Tanh(),
    )


def table_d() -> nn.Module:
    return nn.Sequential(
        nn.Linear(6, 128),
        nn.LeakyReLU(0.2),
        nn.Dropout(0.25),
        nn.Linear(128, 128),
        nn.LeakyReLU(0.2),
        nn.Dropout(0.25),
        nn.Linear(128, 1),
    )


# -- hand-written steps, with switches for mistakes ------------------------------------


def glyph_step(
    *, detach: bool = True, zero_g_first: bool = False
) -> Callable[..., Mapping[str, Any]]:
    """BCE on logits. ``detach=False`` with ``zero_g_first=True``: the fakes are not
    detached in D's step and G's gradients are zeroed only before D's step, so D's
    backward pass lands in G's update (the harmful missing ``.detach()``)."""

    def step(ctx: Any, batch: tuple[torch.Tensor, torch.Tensor]) -> Mapping[str, Any]:
        real, y = batch
        g, d = ctx.generator, ctx.discriminator
        n = real.shape[0]
        if zero_g_first:
            ctx.opt_g.zero_grad()
        fake = g(ctx.latent(n), y)
        ctx.opt_d.zero_grad()
        ones, zeros = torch.ones(n), torch.zeros(n)
        d_loss = F.binary_cross_entropy_with_logits(
            d(real, y), ones
        ) + F.binary_cross_entropy_with_logits(d(fake.detach() if detach else fake, y), zeros)
        d_loss.backward()
        ctx.opt_d.step()
        if not zero_g_first:
            ctx.opt_g.zero_grad()
        if not detach:  # D's backward pass freed the graph through G: draw again
            fake = g(ctx.latent(n), y)
        g_loss = F.binary_cross_entropy_with_logits(d(fake, y), ones)
        g_loss.backward()
        ctx.opt_g.step()
        return {"d_loss": d_loss, "g_loss": g_loss}

    return step


def swatch_step(
    *, create_graph: bool = True, n_critic: int = 5
) -> Callable[..., Mapping[str, Any]]:
    def step(ctx: Any, real: torch.Tensor) -> Mapping[str, Any]:
        g, d = ctx.generator, ctx.discriminator
        n = real.shape[0]
        for _ in range(n_critic):
            fake = g(ctx.latent(n)).detach()
            eps = torch.rand(n, 1, 1, 1)
            mixed = (eps * real + (1 - eps) * fake).requires_grad_(True)
            grad = torch.autograd.grad(d(mixed).sum(), mixed, create_graph=create_graph)[0]
            gp = ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
            d_loss = d(fake).mean() - d(real).mean() + 10 * gp
            ctx.opt_d.zero_grad()
            d_loss.backward()
            ctx.opt_d.step()
        g_loss = -d(g(ctx.latent(n))).mean()
        ctx.opt_g.zero_grad()
        g_loss.backward()
        ctx.opt_g.step()
        return {"d_loss": d_loss, "g_loss": g_loss, "gp": gp}

    return step


# -- the trials -----------------------------------------------------------------------


def _glyphs(**kw: Any) -> pg.GANSpec:
    base: dict[str, Any] = dict(
        generator=GlyphG,
        discriminator=ProjectionD,
        data=glyphs(),
        latent_dim=32,
        num_classes=10,
        train_step=glyph_step(),
    )
    base.update(kw)
    return pg.GANSpec(**base)


def _grid(**kw: Any) -> pg.GANSpec:
    base: dict[str, Any] = dict(
        generator=grid_g,
        discriminator=grid_d,
        data=grid25(),
        latent_dim=2,
        loss="bce",
        batch_size=256,
        optimizers=adam(1e-4, 1e-4, (0.5, 0.9)),
    )
    base.update(kw)
    return pg.GANSpec(**base)


def _swatches(**kw: Any) -> pg.GANSpec:
    base: dict[str, Any] = dict(
        generator=SwatchG,
        discriminator=swatch_d,
        data=swatches(),
        latent_dim=24,
        train_step=swatch_step(),
        optimizers=adam(1e-4, 1e-4, (0.0, 0.9)),
    )
    base.update(kw)
    return pg.GANSpec(**base)


def _table(**kw: Any) -> pg.GANSpec:
    base: dict[str, Any] = dict(
        generator=table_g,
        discriminator=table_d,
        data=table(),
        latent_dim=16,
        loss="lsgan",
        batch_size=128,
    )
    base.update(kw)
    return pg.GANSpec(**base)


def _g_repeats(repeats: int, zero_g: bool = True) -> Callable[..., Mapping[str, Any]]:
    """The grid GAN's BCE step written by hand, G stepped ``repeats`` times per D step;
    ``zero_g=False`` never zeroes G's gradients (a deleted ``zero_grad()``)."""

    def step(ctx: Any, real: torch.Tensor) -> Mapping[str, Any]:
        g, d = ctx.generator, ctx.discriminator
        n = real.shape[0]
        ctx.opt_d.zero_grad()
        d_loss = F.softplus(-d(real)).mean() + F.softplus(d(g(ctx.latent(n)).detach())).mean()
        d_loss.backward()
        ctx.opt_d.step()
        for _ in range(repeats):
            if zero_g:
                ctx.opt_g.zero_grad()
            g_loss = F.softplus(-d(g(ctx.latent(n)))).mean()
            g_loss.backward()
            ctx.opt_g.step()
        return {"d_loss": d_loss, "g_loss": g_loss}

    return step


def _hand_log(ctx: Any, real: torch.Tensor) -> Mapping[str, Any]:
    """Probabilities from a sigmoid, logs taken by hand: log(0) once D is sure."""
    g, d = ctx.generator, ctx.discriminator
    n = real.shape[0]
    ctx.opt_d.zero_grad()
    p_real, p_fake = torch.sigmoid(d(real)), torch.sigmoid(d(g(ctx.latent(n)).detach()))
    d_loss = -(torch.log(p_real) + torch.log(1 - p_fake)).mean()
    d_loss.backward()
    ctx.opt_d.step()
    ctx.opt_g.zero_grad()
    g_loss = -torch.log(torch.sigmoid(d(g(ctx.latent(n))))).mean()
    g_loss.backward()
    ctx.opt_g.step()
    return {"d_loss": d_loss, "g_loss": g_loss}


#: name -> (spec factory, the pitfall planted, or None for a healthy GAN)
TRIALS: dict[str, tuple[Callable[[], pg.GANSpec], str | None]] = {
    "glyphs": (lambda: _glyphs(name="glyphs"), None),
    "glyphs~label-dropped": (
        lambda: _glyphs(generator=lambda: GlyphG(drop_label=True), name="glyphs~label-dropped"),
        "conditioning-ignored",
    ),
    "glyphs~sigmoid-d": (
        lambda: _glyphs(discriminator=lambda: ProjectionD(sigmoid=True), name="glyphs~sigmoid-d"),
        "discriminator-wrong-activation",
    ),
    "glyphs~no-detach": (
        lambda: _glyphs(
            train_step=glyph_step(detach=False, zero_g_first=True), name="glyphs~no-detach"
        ),
        "d-step-leaks-into-generator",
    ),
    "glyphs~unit-data": (
        lambda: _glyphs(data=((glyphs()[0] + 1) / 2, glyphs()[1]), name="glyphs~unit-data"),
        "data-not-normalized",
    ),
    "grid25": (lambda: _grid(name="grid25"), None),
    "grid25~g-loop": (
        lambda: _grid(train_step=_g_repeats(5), name="grid25~g-loop"),
        "mode-collapse",
    ),
    "grid25~d-lr-typo": (
        lambda: _grid(optimizers=adam(1e-4, 1e-6, (0.5, 0.9)), name="grid25~d-lr-typo"),
        "discriminator-too-weak",
    ),
    "grid25~d-lr-20x": (
        lambda: _grid(optimizers=adam(5e-5, 1e-3, (0.5, 0.9)), name="grid25~d-lr-20x"),
        "discriminator-overpowers",
    ),
    "grid25~no-zero-grad-g": (
        lambda: _grid(train_step=_g_repeats(1, zero_g=False), name="grid25~no-zero-grad-g"),
        "gradient-accumulation",
    ),
    "grid25~hand-log": (
        lambda: _grid(
            train_step=_hand_log, optimizers=adam(1e-4, 1e-3, (0.5, 0.9)), name="grid25~hand-log"
        ),
        "non-finite-loss",
    ),
    "swatches": (lambda: _swatches(name="swatches"), None),
    "swatches~sigmoid": (
        lambda: _swatches(generator=lambda: SwatchG(final="sigmoid"), name="swatches~sigmoid"),
        "output-range-mismatch",
    ),
    "swatches~no-create-graph": (
        lambda: _swatches(
            train_step=swatch_step(create_graph=False), name="swatches~no-create-graph"
        ),
        "discriminator-not-lipschitz",
    ),
    "swatches~g-lr-typo": (
        lambda: _swatches(optimizers=adam(1e-6, 1e-4, (0.0, 0.9)), name="swatches~g-lr-typo"),
        "generator-not-learning",
    ),
    "table": (lambda: _table(name="table"), None),
    "table~raw-columns": (
        lambda: _table(data=table(scaled=False), name="table~raw-columns"),
        "data-not-normalized",
    ),
    "table~opt-g-on-d": (
        lambda: _table(optimizers=both_on_d(2e-4, 2e-4, (0.5, 0.999)), name="table~opt-g-on-d"),
        "optimizer-misses-parameters",
    ),
}


if __name__ == "__main__":
    main(TRIALS, budget=16)
