"""A sixth set of GANs the checks were never tuned on, written here as a team would write
them: a SAGAN-style hinge GAN, an LSGAN and a DCGAN trained with two of the "GAN hacks".

``sagan`` follows SAGAN (Zhang et al. 2019), narrowed to 16x16: G a spectrally normalised
linear layer to 4x4x64, two upsampling blocks (nearest neighbour, a spectrally normalised
3x3 convolution, BatchNorm, ReLU) with a self-attention layer between them (1x1
convolutions for query, key and value, keys and values max-pooled 2x2, the output scaled by
a learned ``gamma`` that starts at 0), Tanh; D two spectrally normalised 4x4 stride-2
convolutions with LeakyReLU 0.1 and self-attention between, a 4x4 convolution to one
score; the hinge loss, one D step per G step on fresh z, the two time-scale rule (Adam
1e-4 for G, 4e-4 for D, betas (0, 0.9)), batch 32. ``sagan-dlr10`` and ``sagan-dlr100``
run D at 10x and 100x its rate (40x and 400x G's).

``lsgan`` follows LSGAN (Mao et al. 2017) on a DCGAN: G three transposed convolutions
(64, 32, 1 channels, BatchNorm, ReLU, Tanh), D three convolutions (LeakyReLU 0.2,
BatchNorm on the second) to one linear score, weights drawn from N(0, 0.02) as DCGAN's
code does; D's loss ``((D(x) - 1)^2 + D(G(z))^2) / 2``, G's ``(D(G(z)) - 1)^2 / 2``, written
out in the step (not the built-in ``"lsgan"``), one batch of fakes for both steps, losses
returned as floats; Adam 2e-4 with betas (0.5, 0.999), batch 64. ``lsgan-dlr100`` types
D's rate 100x large (2e-2); ``lsgan-retain`` drops ``.detach()`` from D's loss, adds
``retain_graph=True`` to D's backward (without it the step raises) and resets G's
gradients after G's step instead of before; ``lsgan-undetached`` is the same without
``retain_graph=True``, a new user's first try, whose step raises.

``smooth-dcgan`` is the same DCGAN under BCE on logits with one-sided label smoothing
(real targets 0.9) and instance noise (Gaussian, standard deviation 0.1 decaying
linearly to 0 over 200 steps, added to both D's inputs and to the fakes G's loss scores).
``smooth-glr100`` types G's rate 100x small, ``smooth-gsigmoid`` ends G in a Sigmoid.

The data: 2,000 grey 16x16 images of one or two Gaussian blobs (random centres, widths
1-3 pixels), scaled to [-1, 1].

    python -m benchmarks.trial_outside_zoo_6 GAN [--seeds 5] [--first-seed 0] [--out FILE]
    python -m benchmarks.trial_outside_zoo_6 GAN --harm --stops 200 800 [--seeds 2]
    python -m benchmarks.trial_outside_zoo_6 GAN --baseline HEALTHY [--seeds 3] [--first-seed 0]

Each run is trained as the smoke suite trains it (to 200 steps, on up to 16x while a
statistical verdict waits) and judged by every check; one JSON line per seed. With
``--harm``, each run is trained to each stop and no further, and its line holds the
energy distance between 500 of its samples and 500 images of the data (real against
real at this n is zero within sampling error), D's pace over G's, G's progress over the
run (``checks.balance.progress_over_run``) and D's AUC over the late probes. With
``--baseline HEALTHY``, a team's regression baseline of the healthy GAN is measured
(``Baseline.measure``, 200 steps, seeds 0-4) and each 200-step run of GAN is compared with
it (``assert_matches_baseline``); one line per seed.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils import spectral_norm

import pytest_gan as pg
from benchmarks.outside_runs import against_baseline, judged, write
from pytest_gan import GANSpec, TrainContext
from pytest_gan.checks.balance import late_probes, paces, progress_over_run
from pytest_gan.metrics import energy_distance

LATENT = 64


def blobs(n: int = 2000, size: int = 16, seed: int = 7) -> torch.Tensor:
    """``n`` grey images of one or two Gaussian blobs, in [-1, 1]."""
    gen = torch.Generator().manual_seed(seed)
    grid = torch.arange(size).float()
    yy, xx = torch.meshgrid(grid, grid, indexing="ij")
    count = torch.randint(1, 3, (n,), generator=gen)
    centres = torch.rand(n, 2, 2, generator=gen) * (size - 4) + 2
    widths = torch.rand(n, 2, generator=gen) * 2 + 1
    d2 = (xx - centres[..., 0, None, None]) ** 2 + (yy - centres[..., 1, None, None]) ** 2
    bumps = torch.exp(-d2 / (2 * widths[..., None, None] ** 2))
    bumps[:, 1] *= (count == 2).float()[:, None, None]
    return (bumps.sum(1).clamp(0, 1) * 2 - 1).unsqueeze(1)


def _same(m: nn.Module) -> nn.Module:
    return m


class SelfAttention(nn.Module):
    """SAGAN's attention over the positions of a feature map, keys and values pooled."""

    def __init__(self, ch: int, sn: bool = True) -> None:
        super().__init__()
        w = spectral_norm if sn else _same
        self.q = w(nn.Conv2d(ch, ch // 8, 1, bias=False))
        self.k = w(nn.Conv2d(ch, ch // 8, 1, bias=False))
        self.v = w(nn.Conv2d(ch, ch // 2, 1, bias=False))
        self.o = w(nn.Conv2d(ch // 2, ch, 1, bias=False))
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q = self.q(x).flatten(2)
        k = F.max_pool2d(self.k(x), 2).flatten(2)
        v = F.max_pool2d(self.v(x), 2).flatten(2)
        attn = torch.softmax(q.transpose(1, 2) @ k, dim=-1)
        out = (v @ attn.transpose(1, 2)).view(b, c // 2, h, w)
        return x + self.gamma * self.o(out)


class SAGenerator(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        sn = spectral_norm
        self.fc = sn(nn.Linear(LATENT, 4 * 4 * 64))
        self.b1 = nn.Sequential(
            nn.BatchNorm2d(64), nn.ReLU(), nn.Upsample(scale_factor=2),
            sn(nn.Conv2d(64, 32, 3, padding=1)), nn.BatchNorm2d(32), nn.ReLU(),
        )  # fmt: skip
        self.attn = SelfAttention(32)
        self.b2 = nn.Sequential(
            nn.Upsample(scale_factor=2), sn(nn.Conv2d(32, 16, 3, padding=1)),
            nn.BatchNorm2d(16), nn.ReLU(), sn(nn.Conv2d(16, 1, 3, padding=1)), nn.Tanh(),
        )  # fmt: skip

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.b2(self.attn(self.b1(self.fc(z).view(-1, 64, 4, 4))))


class SADiscriminator(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        sn = spectral_norm
        self.b1 = nn.Sequential(sn(nn.Conv2d(1, 32, 4, 2, 1)), nn.LeakyReLU(0.1))
        self.attn = SelfAttention(32)
        self.b2 = nn.Sequential(
            sn(nn.Conv2d(32, 64, 4, 2, 1)), nn.LeakyReLU(0.1), sn(nn.Conv2d(64, 1, 4))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b2(self.attn(self.b1(x))).view(-1)


def sagan_step(ctx: TrainContext, real: torch.Tensor) -> dict[str, torch.Tensor]:
    """One hinge D step on fresh fakes, detached; one G step on fresh fakes."""
    g, d = ctx.generator, ctx.discriminator
    fake = g(ctx.latent(real.shape[0]))
    d_loss = F.relu(1 - d(real)).mean() + F.relu(1 + d(fake.detach())).mean()
    ctx.opt_d.zero_grad()
    d_loss.backward()
    ctx.opt_d.step()
    g_loss = -d(g(ctx.latent(real.shape[0]))).mean()
    ctx.opt_g.zero_grad()
    g_loss.backward()
    ctx.opt_g.step()
    return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach()}


def adam(lr_g: float, lr_d: float, betas: tuple[float, float]) -> Any:
    def make(g: nn.Module, d: nn.Module) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
        return (
            torch.optim.Adam(g.parameters(), lr_g, betas=betas),
            torch.optim.Adam(d.parameters(), lr_d, betas=betas),
        )

    return make


def sagan(lr_d: float = 4e-4, name: str = "sagan") -> GANSpec:
    return GANSpec(
        generator=SAGenerator,
        discriminator=SADiscriminator,
        data=blobs(),
        latent_dim=LATENT,
        optimizers=adam(1e-4, lr_d, (0.0, 0.9)),
        train_step=sagan_step,
        batch_size=32,
        name=name,
    )


class DCG(nn.Module):
    def __init__(self, out: Callable[[], nn.Module] = nn.Tanh) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.ConvTranspose2d(LATENT, 64, 4, 1, 0, bias=False), nn.BatchNorm2d(64), nn.ReLU(True),
            nn.ConvTranspose2d(64, 32, 4, 2, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU(True),
            nn.ConvTranspose2d(32, 1, 4, 2, 1, bias=False), out(),
        )  # fmt: skip

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.view(-1, LATENT, 1, 1))


class DCD(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 32, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True),
            nn.Conv2d(32, 64, 4, 2, 1, bias=False), nn.BatchNorm2d(64), nn.LeakyReLU(0.2, True),
            nn.Conv2d(64, 1, 4, 1, 0, bias=False),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).view(-1)


def _dcgan_init(m: nn.Module) -> None:
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def dcg(out: Callable[[], nn.Module] = nn.Tanh) -> nn.Module:
    return DCG(out).apply(_dcgan_init)


def dcd() -> nn.Module:
    return DCD().apply(_dcgan_init)


def lsgan_step_with(leak: bool = False, retain: bool = True) -> Any:
    def step(ctx: TrainContext, real: torch.Tensor) -> dict[str, float]:
        g, d = ctx.generator, ctx.discriminator
        fake = g(ctx.latent(real.shape[0]))
        ctx.opt_d.zero_grad()
        shown = fake if leak else fake.detach()
        d_loss = 0.5 * ((d(real) - 1) ** 2).mean() + 0.5 * (d(shown) ** 2).mean()
        d_loss.backward(retain_graph=leak and retain)
        ctx.opt_d.step()
        if not leak:
            ctx.opt_g.zero_grad()
        g_loss = 0.5 * ((d(fake) - 1) ** 2).mean()
        g_loss.backward()
        ctx.opt_g.step()
        if leak:
            ctx.opt_g.zero_grad()
        return {"d_loss": d_loss.item(), "g_loss": g_loss.item()}

    return step


def lsgan(
    lr_d: float = 2e-4, leak: bool = False, name: str = "lsgan", retain: bool = True
) -> GANSpec:
    return GANSpec(
        generator=dcg,
        discriminator=dcd,
        data=blobs(),
        latent_dim=LATENT,
        optimizers=adam(2e-4, lr_d, (0.5, 0.999)),
        train_step=lsgan_step_with(leak, retain),
        batch_size=64,
        name=name,
    )


#: One-sided label smoothing's target for real samples, and instance noise's first
#: standard deviation and the steps over which it decays to 0.
SMOOTH, NOISE, ANNEAL = 0.9, 0.1, 200


def smooth_step(ctx: TrainContext, real: torch.Tensor) -> dict[str, torch.Tensor]:
    g, d = ctx.generator, ctx.discriminator
    sigma = NOISE * max(0.0, 1 - ctx.step / ANNEAL)
    b = real.shape[0]
    fake = g(ctx.latent(b))
    ctx.opt_d.zero_grad()
    real_in = real + sigma * torch.randn_like(real)
    fake_in = fake.detach() + sigma * torch.randn_like(fake)
    targets = torch.full((b,), SMOOTH, device=real.device)
    d_loss = F.binary_cross_entropy_with_logits(d(real_in), targets)
    d_loss = d_loss + F.binary_cross_entropy_with_logits(d(fake_in), torch.zeros_like(targets))
    d_loss.backward()
    ctx.opt_d.step()
    ctx.opt_g.zero_grad()
    scored = d(fake + sigma * torch.randn_like(fake))
    g_loss = F.binary_cross_entropy_with_logits(scored, torch.ones_like(targets))
    g_loss.backward()
    ctx.opt_g.step()
    return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach()}


def smooth_dcgan(
    lr_g: float = 2e-4, out: Callable[[], nn.Module] = nn.Tanh, name: str = "smooth-dcgan"
) -> GANSpec:
    return GANSpec(
        generator=lambda: dcg(out),
        discriminator=dcd,
        data=blobs(),
        latent_dim=LATENT,
        optimizers=adam(lr_g, 2e-4, (0.5, 0.999)),
        train_step=smooth_step,
        batch_size=64,
        name=name,
    )


TRIALS: dict[str, Callable[[], GANSpec]] = {
    "sagan": sagan,
    # D at 10x and 100x its own rate (40x and 400x G's): a choice or a typo?
    "sagan-dlr10": lambda: sagan(4e-3, "sagan-dlr10"),
    "sagan-dlr100": lambda: sagan(4e-2, "sagan-dlr100"),
    "lsgan": lsgan,
    "lsgan-dlr100": lambda: lsgan(lr_d=2e-2, name="lsgan-dlr100"),
    "lsgan-retain": lambda: lsgan(leak=True, name="lsgan-retain"),
    # The same without retain_graph=True: G's backward raises at step 0.
    "lsgan-undetached": lambda: lsgan(leak=True, name="lsgan-undetached", retain=False),
    "smooth-dcgan": smooth_dcgan,
    "smooth-glr100": lambda: smooth_dcgan(lr_g=2e-6, name="smooth-glr100"),
    "smooth-gsigmoid": lambda: smooth_dcgan(out=nn.Sigmoid, name="smooth-gsigmoid"),
}


def harm(gan: str, seed: int, steps: int) -> dict[str, Any]:
    """The figures of one run trained to ``steps`` and no further (module docstring)."""
    run = pg.train(TRIALS[gan](), steps=steps, seed=seed)
    data = blobs()
    real = data[torch.randperm(len(data), generator=torch.Generator().manual_seed(1))[:500]]
    d_pace, g_pace, _ = paces(run)
    return {
        "gan": gan,
        "seed": seed,
        "kernels": torch.backends.cpu.get_cpu_capability(),
        "steps": steps,
        "energy": round(energy_distance(run.samples(500).flatten(1), real.flatten(1)), 4),
        "pace_ratio": round(d_pace / g_pace, 3),
        "progress": round(progress_over_run(run), 4),
        "late_auc": [round(p.d_auc, 3) for p in late_probes(run)],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("gan", choices=sorted(TRIALS))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--harm", action="store_true", help="plain runs to each stop, figures")
    parser.add_argument("--stops", type=int, nargs="+", default=[200, 800])
    parser.add_argument("--baseline", choices=sorted(TRIALS), help="the healthy GAN's baseline")
    args = parser.parse_args()
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    if args.baseline:
        against_baseline(TRIALS, args.gan, args.baseline, seeds, 200, args.out)
        return
    if args.harm:
        for seed in seeds:
            for steps in args.stops:
                write(harm(args.gan, seed, steps), args.out)
        return
    for seed in seeds:
        write(judged(TRIALS[args.gan](), args.gan, seed, 200, 3200), args.out)


if __name__ == "__main__":
    main()
