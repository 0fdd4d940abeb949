"""A third set of GANs the checks were never tuned on: a style-based GAN trained the way
StyleGAN2 and its descendants train, written here as a team would write it, healthy and
with the seed documents' mistakes planted in one line. Nothing here is used by the tests
or the calibrations; the first two sets are ``trial_outside_zoo.py`` and
``trial_outside_zoo_2.py``.

    python -m benchmarks.trial_outside_zoo_3 [NAME ...] [--seeds 3] [--first-seed 0]
                                             [--steps 200] [--budget 16] [--out FILE]

Each run is trained as the smoke suite trains it (``max_steps`` = ``--budget`` times its
steps) and judged by every check that applies to it; one JSON line per GAN and seed.

``discs``: 3-channel 16x16 images of one or two soft-edged discs of random colours on a
dark ground, made here. What the zoo, the wild corpus and the first two sets have none of:

- equalized learning rate (weights drawn from N(0, 1) and scaled by 1/sqrt(fan-in) in the
  forward pass), a mapping network with a learning-rate multiplier of 0.01;
- a synthesis network from a learned constant, with modulated and demodulated
  convolutions (a grouped convolution per batch), per-pixel noise drawn in the forward
  pass (a stochastic generator, also in eval mode), skip connections to RGB, and no
  squashing of the output;
- a residual discriminator with a minibatch standard-deviation layer (groups of 4), so
  that D's score of a sample depends on the batch it is in;
- the non-saturating logistic loss (softplus), a lazy R1 penalty on real samples every
  16 steps (a second D update on those steps, with the optimizer's rate and betas
  corrected by 16/17), Adam 0.0025 with betas (0, 0.99);
- differentiable augmentation of everything D sees (colour, translation by up to 1/8 of
  the side, a 7x7 cutout), real and fake alike;
- an exponential moving average of G kept by the step (a copy made on the first step, a
  half-life of 10,000 images, or of 5% of the images seen so far while that is less).

``discs-relativistic`` trains the same networks with R3GAN's recipe instead: the
relativistic pairing loss softplus(D(fake) - D(real)), under which the level of D's
scores is free to drift, with R1 and R2 penalties in every D update (weight 0.1), Adam
0.002 with betas (0, 0.99). It is healthy only: its mistakes would be those above.
"""

from __future__ import annotations

import copy
import math
import weakref
from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

import pytest_gan as pg
from benchmarks.trial_outside_zoo import main

# -- data, made here ------------------------------------------------------------------


def discs(n: int = 2048, size: int = 16, seed: int = 0) -> torch.Tensor:
    """One or two soft discs of random colour, radius and place, on a dark ground."""
    g = torch.Generator().manual_seed(seed)
    ys, xs = torch.meshgrid(torch.arange(size).float(), torch.arange(size).float(), indexing="ij")
    img = torch.full((n, 3, size, size), -0.9)
    for first in (True, False):
        # The first disc always, a second on 60% of the images.
        present = (torch.rand(n, 1, 1, 1, generator=g) < (1.0 if first else 0.6)).float()
        cx, cy = (torch.rand(n, 2, generator=g) * (size - 6) + 3).unbind(1)
        r = torch.rand(n, generator=g) * 2.5 + 2.5
        colour = torch.rand(n, 3, 1, 1, generator=g) * 1.6 - 0.6
        dist = ((xs - cx.view(-1, 1, 1)) ** 2 + (ys - cy.view(-1, 1, 1)) ** 2).sqrt()
        alpha = torch.sigmoid((r.view(-1, 1, 1) - dist) * 2).unsqueeze(1) * present
        img = img * (1 - alpha) + colour * alpha
    return img.clamp(-1, 1)


# -- layers ---------------------------------------------------------------------------


def _act(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.2) * math.sqrt(2)


class EqLinear(nn.Module):
    def __init__(
        self, i: int, o: int, *, bias_init: float = 0.0, lr_mul: float = 1.0, act: bool = False
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(o, i) / lr_mul)
        self.bias = nn.Parameter(torch.full((o,), float(bias_init) / lr_mul))
        self.gain, self.lr_mul, self.act = lr_mul / math.sqrt(i), lr_mul, act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.linear(x, self.weight * self.gain, self.bias * self.lr_mul)
        return _act(x) if self.act else x


class EqConv(nn.Module):
    def __init__(
        self, i: int, o: int, k: int, *, act: bool = True, down: bool = False, bias: bool = True
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(o, i, k, k))
        self.bias = nn.Parameter(torch.zeros(o)) if bias else None
        self.gain, self.act, self.down = 1 / math.sqrt(i * k * k), act, down

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.conv2d(x, self.weight * self.gain, self.bias, padding=self.weight.shape[-1] // 2)
        if self.down:
            x = F.avg_pool2d(x, 2)
        return _act(x) if self.act else x


class ModConv(nn.Module):
    """A convolution whose input channels are scaled per sample by an affine map of w,
    then demodulated so that each output channel has unit expected variance."""

    def __init__(
        self, i: int, o: int, k: int, w_dim: int, *, demod: bool = True, up: bool = False
    ) -> None:
        super().__init__()
        self.affine = EqLinear(w_dim, i, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(o, i, k, k))
        self.bias = nn.Parameter(torch.zeros(o))
        self.gain, self.demod, self.up = 1 / math.sqrt(i * k * k), demod, up
        # Noise strength, learned from zero (StyleGAN's); no noise into the RGB layers.
        self.noise = nn.Parameter(torch.zeros(())) if demod else None

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        if self.up:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        n, c, h, wd = x.shape
        o, _, k, _ = self.weight.shape
        s = self.affine(w)
        weight = self.weight[None] * self.gain * s[:, None, :, None, None]
        if self.demod:
            weight = weight * torch.rsqrt(weight.square().sum([2, 3, 4], keepdim=True) + 1e-8)
        x = F.conv2d(
            x.reshape(1, n * c, h, wd), weight.reshape(n * o, c, k, k), padding=k // 2, groups=n
        ).reshape(n, o, h, wd)
        if self.noise is not None:
            x = x + self.noise * torch.randn(n, 1, h, wd, device=x.device, dtype=x.dtype)
        x = x + self.bias.view(1, -1, 1, 1)
        return _act(x) if self.demod else x


class StyleG(nn.Module):
    def __init__(self, z_dim: int = 32, w_dim: int = 64, final: str = "none") -> None:
        super().__init__()
        self.mapping = nn.Sequential(
            EqLinear(z_dim, w_dim, lr_mul=0.01, act=True),
            EqLinear(w_dim, w_dim, lr_mul=0.01, act=True),
        )
        self.const = nn.Parameter(torch.randn(64, 4, 4))
        self.conv4 = ModConv(64, 64, 3, w_dim)
        self.rgb4 = ModConv(64, 3, 1, w_dim, demod=False)
        self.up8, self.conv8 = ModConv(64, 32, 3, w_dim, up=True), ModConv(32, 32, 3, w_dim)
        self.rgb8 = ModConv(32, 3, 1, w_dim, demod=False)
        self.up16, self.conv16 = ModConv(32, 16, 3, w_dim, up=True), ModConv(16, 16, 3, w_dim)
        self.rgb16 = ModConv(16, 3, 1, w_dim, demod=False)
        self.final = final

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        z = z * torch.rsqrt(z.square().mean(1, keepdim=True) + 1e-8)
        w = self.mapping(z)
        x = self.conv4(self.const.expand(z.shape[0], -1, -1, -1), w)
        img = self.rgb4(x, w)
        x = self.conv8(self.up8(x, w), w)
        img = F.interpolate(img, scale_factor=2, mode="bilinear", align_corners=False)
        img = img + self.rgb8(x, w)
        x = self.conv16(self.up16(x, w), w)
        img = F.interpolate(img, scale_factor=2, mode="bilinear", align_corners=False)
        img = img + self.rgb16(x, w)
        return torch.sigmoid(img) if self.final == "sigmoid" else img


def minibatch_std(x: torch.Tensor, group: int = 4) -> torch.Tensor:
    """One more channel: the standard deviation of each feature over a group of samples,
    averaged, for every sample of the group (batches a multiple of the group size)."""
    n, c, h, w = x.shape
    g = min(group, n)
    y = x.reshape(g, -1, c, h, w)
    y = (y - y.mean(0)).square().mean(0).add(1e-8).sqrt().mean([1, 2, 3])
    return torch.cat([x, y.reshape(1, -1, 1, 1, 1).expand(g, -1, 1, h, w).reshape(n, 1, h, w)], 1)


class DBlock(nn.Module):
    def __init__(self, i: int, o: int) -> None:
        super().__init__()
        self.conv1 = EqConv(i, i, 3)
        self.conv2 = EqConv(i, o, 3, down=True)
        self.skip = EqConv(i, o, 1, act=False, down=True, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.skip(x) + self.conv2(self.conv1(x))) / math.sqrt(2)


class StyleD(nn.Module):
    def __init__(self, sigmoid: bool = False) -> None:
        super().__init__()
        self.from_rgb = EqConv(3, 16, 1)
        self.blocks = nn.Sequential(DBlock(16, 32), DBlock(32, 64))
        self.conv = EqConv(65, 64, 3)
        self.fc = EqLinear(64 * 4 * 4, 64, act=True)
        self.out = EqLinear(64, 1)
        self.sigmoid = sigmoid

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(minibatch_std(self.blocks(self.from_rgb(x))))
        score = self.out(self.fc(x.flatten(1)))
        return torch.sigmoid(score) if self.sigmoid else score


# -- augmentation of what D sees --------------------------------------------------------


def diff_augment(x: torch.Tensor) -> torch.Tensor:
    """Colour (brightness, saturation, contrast), translation by up to 1/8 of the side
    with zero padding, and a cutout (a square of side 7 at 16x16, where DiffAugment's is
    half the side), drawn per sample; differentiable in ``x``."""
    n, _, h, w = x.shape
    dev = x.device

    def r() -> torch.Tensor:
        return torch.rand(n, 1, 1, 1, device=dev, dtype=x.dtype)

    x = x + (r() - 0.5)
    mean = x.mean(1, keepdim=True)
    x = (x - mean) * (r() * 2) + mean
    mean = x.mean([1, 2, 3], keepdim=True)
    x = (x - mean) * (r() + 0.5) + mean
    # Translation: each sample read from a shifted window of its zero-padded self.
    shift = int(h * 0.125 + 0.5)
    padded = F.pad(x, [shift] * 4)
    dy = torch.randint(-shift, shift + 1, (n, 1, 1), device=dev)
    dx = torch.randint(-shift, shift + 1, (n, 1, 1), device=dev)
    rows = (torch.arange(h, device=dev).view(1, h, 1) + shift + dy).expand(n, h, w)
    cols = (torch.arange(w, device=dev).view(1, 1, w) + shift + dx).expand(n, h, w)
    batch = torch.arange(n, device=dev).view(n, 1, 1).expand(n, h, w)
    x = padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)
    # Cutout: the pixels within side // 2 - 1 of a centre anywhere in the image, zeroed.
    side = int(h * 0.5 + 0.5)
    cy = torch.randint(0, h, (n, 1, 1), device=dev)
    cx = torch.randint(0, w, (n, 1, 1), device=dev)
    ys = torch.arange(h, device=dev).view(1, h, 1)
    xs = torch.arange(w, device=dev).view(1, 1, w)
    keep = ((ys - cy).abs() >= side // 2) | ((xs - cx).abs() >= side // 2)
    return x * keep.unsqueeze(1).to(x.dtype)


# -- the team's step and optimizers ------------------------------------------------------

R1_EVERY = 16
#: R1 weight by the "auto" rule of StyleGAN2-ADA's training script: 0.0002 * side^2 / batch.
R1_GAMMA = 0.0002 * 16**2 / 32


def style_adam(lr_g: float = 0.0025, lr_d: float = 0.0025, on_d: bool = False) -> Any:
    """Adam with betas (0, 0.99); D's rate and beta2 corrected for the lazy R1 steps.
    ``on_d=True``: G's optimizer built over D's parameters (a copy-paste slip)."""
    c = R1_EVERY / (R1_EVERY + 1)

    def make(g: nn.Module, d: nn.Module) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
        opt_g = torch.optim.Adam(
            (d if on_d else g).parameters(), lr=lr_g, betas=(0.0, 0.99), eps=1e-8
        )
        opt_d = torch.optim.Adam(d.parameters(), lr=lr_d * c, betas=(0.0, 0.99**c), eps=1e-8)
        return opt_g, opt_d

    return make


def style_step(
    *,
    detach: bool = True,
    zero_g_first: bool = False,
    zero_d: bool = True,
    hand_log: bool = False,
) -> Callable[..., Mapping[str, Any]]:
    """The team's step. ``detach=False`` with ``zero_g_first=True``: the harmful missing
    ``.detach()`` (D's backward pass lands in G's update); ``zero_d=False``: D's gradients
    never zeroed; ``hand_log=True``: the logistic loss written as logs of sigmoids."""
    emas: weakref.WeakKeyDictionary[nn.Module, nn.Module] = weakref.WeakKeyDictionary()

    def d_loss_of(real_score: torch.Tensor, fake_score: torch.Tensor) -> torch.Tensor:
        if hand_log:
            p_real, p_fake = torch.sigmoid(real_score), torch.sigmoid(fake_score)
            return -(torch.log(p_real) + torch.log(1 - p_fake)).mean()
        return F.softplus(-real_score).mean() + F.softplus(fake_score).mean()

    def g_loss_of(fake_score: torch.Tensor) -> torch.Tensor:
        if hand_log:
            return -torch.log(torch.sigmoid(fake_score)).mean()
        return F.softplus(-fake_score).mean()

    def step(ctx: Any, real: torch.Tensor) -> Mapping[str, Any]:
        g, d = ctx.generator, ctx.discriminator
        n = real.shape[0]
        if g not in emas:
            emas[g] = copy.deepcopy(g).eval().requires_grad_(False)
        out: dict[str, Any] = {}
        if zero_g_first:
            ctx.opt_g.zero_grad(set_to_none=True)
        fake = g(ctx.latent(n))
        d_loss = d_loss_of(
            d(diff_augment(real)), d(diff_augment(fake.detach() if detach else fake))
        )
        if zero_d:
            ctx.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        ctx.opt_d.step()
        if ctx.step % R1_EVERY == 0:
            x = real.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(d(diff_augment(x)).sum(), x, create_graph=True)
            r1 = grad.square().sum([1, 2, 3]).mean()
            if zero_d:
                ctx.opt_d.zero_grad(set_to_none=True)
            (r1 * (R1_GAMMA / 2) * R1_EVERY).backward()
            ctx.opt_d.step()
            out["r1"] = r1
        if not zero_g_first:
            ctx.opt_g.zero_grad(set_to_none=True)
        if not detach:  # D's backward pass freed the graph through G: draw again
            fake = g(ctx.latent(n))
        g_loss = g_loss_of(d(diff_augment(fake)))
        g_loss.backward()
        ctx.opt_g.step()
        with torch.no_grad():
            seen = (ctx.step + 1) * n
            beta = 0.5 ** (n / max(min(10_000, seen * 0.05), 1e-8))
            for p_ema, p in zip(emas[g].parameters(), g.parameters(), strict=True):
                p_ema.copy_(p.lerp(p_ema, beta))
        out.update(d_loss=d_loss, g_loss=g_loss)
        return out

    return step


def relativistic_step(ctx: Any, real: torch.Tensor) -> Mapping[str, Any]:
    """R3GAN's recipe: the relativistic pairing loss, which sees D's scores only through
    D(real) - D(fake) (so that their level drifts freely), with R1 and R2 penalties on
    real and fake samples in the same update, every step."""
    g, d = ctx.generator, ctx.discriminator
    n = real.shape[0]
    x_real = real.detach().requires_grad_(True)
    x_fake = g(ctx.latent(n)).detach().requires_grad_(True)
    s_real, s_fake = d(x_real), d(x_fake)
    d_loss = F.softplus(s_fake - s_real).mean()
    g_real, g_fake = torch.autograd.grad(
        (s_real.sum(), s_fake.sum()), (x_real, x_fake), create_graph=True
    )
    r1 = g_real.square().sum([1, 2, 3]).mean()
    r2 = g_fake.square().sum([1, 2, 3]).mean()
    ctx.opt_d.zero_grad(set_to_none=True)
    (d_loss + RELATIVISTIC_GAMMA / 2 * (r1 + r2)).backward()
    ctx.opt_d.step()
    ctx.opt_g.zero_grad(set_to_none=True)
    g_loss = F.softplus(d(real) - d(g(ctx.latent(n)))).mean()
    g_loss.backward()
    ctx.opt_g.step()
    return {"d_loss": d_loss, "g_loss": g_loss, "r1": r1, "r2": r2}


#: R1 and R2 weight of the relativistic variant (scaled down with the image side).
RELATIVISTIC_GAMMA = 0.1


def relativistic_adam(g: nn.Module, d: nn.Module) -> tuple[torch.optim.Optimizer, ...]:
    return (
        torch.optim.Adam(g.parameters(), lr=2e-3, betas=(0.0, 0.99)),
        torch.optim.Adam(d.parameters(), lr=2e-3, betas=(0.0, 0.99)),
    )


# -- the trials -----------------------------------------------------------------------


def _discs(**kw: Any) -> pg.GANSpec:
    base: dict[str, Any] = dict(
        generator=StyleG,
        discriminator=StyleD,
        data=discs(),
        latent_dim=32,
        train_step=style_step(),
        optimizers=style_adam(),
    )
    base.update(kw)
    return pg.GANSpec(**base)


#: name -> (spec factory, the pitfall planted, or None for a healthy GAN)
TRIALS: dict[str, tuple[Callable[[], pg.GANSpec], str | None]] = {
    "discs": (lambda: _discs(name="discs"), None),
    "discs-relativistic": (
        lambda: _discs(
            train_step=relativistic_step,
            optimizers=relativistic_adam,
            name="discs-relativistic",
        ),
        None,
    ),
    "discs~sigmoid": (
        lambda: _discs(generator=lambda: StyleG(final="sigmoid"), name="discs~sigmoid"),
        "output-range-mismatch",
    ),
    "discs~unit-data": (
        lambda: _discs(data=(discs() + 1) / 2, name="discs~unit-data"),
        "data-not-normalized",
    ),
    "discs~no-detach": (
        lambda: _discs(
            train_step=style_step(detach=False, zero_g_first=True), name="discs~no-detach"
        ),
        "d-step-leaks-into-generator",
    ),
    "discs~no-zero-grad-d": (
        lambda: _discs(train_step=style_step(zero_d=False), name="discs~no-zero-grad-d"),
        "gradient-accumulation",
    ),
    "discs~hand-log": (
        lambda: _discs(train_step=style_step(hand_log=True), name="discs~hand-log"),
        "non-finite-loss",
    ),
    "discs~opt-g-on-d": (
        lambda: _discs(optimizers=style_adam(on_d=True), name="discs~opt-g-on-d"),
        "optimizer-misses-parameters",
    ),
    "discs~sigmoid-d": (
        lambda: _discs(discriminator=lambda: StyleD(sigmoid=True), name="discs~sigmoid-d"),
        "discriminator-wrong-activation",
    ),
    "discs~d-lr-typo": (
        lambda: _discs(optimizers=style_adam(lr_d=2.5e-5), name="discs~d-lr-typo"),
        "discriminator-too-weak",
    ),
    "discs~g-lr-typo": (
        lambda: _discs(optimizers=style_adam(lr_g=2.5e-5), name="discs~g-lr-typo"),
        "generator-not-learning",
    ),
}


if __name__ == "__main__":
    main(TRIALS, budget=16)
