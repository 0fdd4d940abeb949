"""A seventh set of GANs the checks were never tuned on, written here as a team would write
them: a DCGAN trained on a small dataset with DiffAugment (Zhao et al. 2020), the fix the
catalog's discriminator-overfits page recommends, beside the same GAN without it and with
the seed documents' mistakes planted in one line.

``diffaug`` follows DiffAugment's recipe for data-efficient GANs: differentiable
augmentations of its three families (its policy "color,translation,cutout") applied to
every image D sees, real and fake, in D's step and in G's; G three transposed
convolutions (128, 64, 3 channels, BatchNorm, ReLU, Tanh), D three strided convolutions
(LeakyReLU 0.2, no normalisation) to one logit; the non-saturating loss written with
softplus; Adam 2e-4 with betas (0.5, 0.999), batch 32. The augmentations, in this file's own words:

- colour: brightness (add U(-0.5, 0.5) per sample), saturation (scale each pixel's
  distance from the mean of its three channels by U(0, 2)), contrast (scale the distance
  from the image's mean by U(0.5, 1.5));
- translation: shift by up to 1/8 of the side (2 pixels) each way, zeros padding in;
- cutout: a square of half the side zeroed at a random place per sample, wholly inside
  the image (DiffAugment's own square may run off the edge).

The data: 128 colour 16x16 images (a disc or a square of a random colour and size at a
random place on a dark ground of another colour), in [-1, 1]: a small dataset, of which
the data module holds a quarter out for the probes.

- ``plain``: the same GAN and step without augmentations.
- ``diffaug-real-only``: augments the real images only, a known way of getting
  DiffAugment wrong (G learns to draw the augmentations); no seed pitfall names it.
- ``diffaug-sigmoid-d``: D ends in a Sigmoid while the loss still takes logits (seed 000's
  inappropriate final activation).
- ``diffaug-glr100``: G's rate typed 100x small.
- ``diffaug-gsigmoid``: G ends in a Sigmoid on data in [-1, 1].
- ``diffaug-undetached``: D's step scores the fakes without ``.detach()``, and G's
  gradients are zeroed after G's step instead of before (the D step's gradient reaches
  G's update).

    python -m benchmarks.trial_outside_zoo_7 GAN [--seeds 5] [--first-seed 0] [--out FILE]
                                             [--steps 200] [--budget 16]
    python -m benchmarks.trial_outside_zoo_7 GAN --harm --stops 200 800 [--seeds 2]
    python -m benchmarks.trial_outside_zoo_7 GAN --baseline HEALTHY [--seeds 3] [--first-seed 0]
    python -m benchmarks.trial_outside_zoo_7 GAN --probes [--steps 800] [--seeds 1]

Each run is trained as the smoke suite trains it (to 200 steps, on up to 16x while a
statistical verdict waits; ``--steps`` and ``--budget`` change both) and judged by every
check; one JSON line per seed. With
``--harm``, each run is trained to each stop and no further, and its line holds the energy
distance between 128 of its samples and the 128 images of the data, D's AUC on training
over held-out real images in the late probes and G's progress over the run. With
``--baseline HEALTHY``, a team's regression baseline of the healthy GAN is measured
(``Baseline.measure``, ``--steps`` steps, seeds 0-4) and each run of GAN as long is
compared with it (``assert_matches_baseline``); one line per seed. With ``--probes``, each
run is trained to ``--steps`` and no further, and its line holds D's AUC of the real
images over G's samples at every probe and the mean of each loss over the last third.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

import pytest_gan as pg
from benchmarks.outside_runs import against_baseline, judged, write
from pytest_gan import GANSpec, TrainContext
from pytest_gan.checks.balance import late_probes, progress_over_run
from pytest_gan.metrics import energy_distance

LATENT = 32
SIDE = 16


def sprites(n: int = 128, seed: int = 11) -> torch.Tensor:
    """``n`` colour images of one disc or square on a dark ground, in [-1, 1]."""
    gen = torch.Generator().manual_seed(seed)
    grid = torch.arange(SIDE).float() + 0.5
    yy, xx = torch.meshgrid(grid, grid, indexing="ij")
    centre = torch.rand(n, 2, generator=gen) * (SIDE - 6) + 3
    radius = torch.rand(n, generator=gen) * 3 + 2
    dy = (yy - centre[:, 0, None, None]).abs()
    dx = (xx - centre[:, 1, None, None]).abs()
    r = radius[:, None, None]
    disc = (dx**2 + dy**2) <= r**2
    square = torch.maximum(dx, dy) <= r * 0.8
    is_disc = (torch.rand(n, generator=gen) < 0.5)[:, None, None]
    shape = torch.where(is_disc, disc, square).float()[:, None]
    colour = torch.rand(n, 3, 1, 1, generator=gen) * 0.7 + 0.3
    ground = torch.rand(n, 3, 1, 1, generator=gen) * 0.25
    image = shape * colour + (1 - shape) * ground
    return image * 2 - 1


# DiffAugment's three families, each differentiable in x and drawn per sample.


def colour(x: torch.Tensor) -> torch.Tensor:
    b = x.shape[0]
    x = x + (torch.rand(b, 1, 1, 1, device=x.device) - 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (torch.rand(b, 1, 1, 1, device=x.device) * 2) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (torch.rand(b, 1, 1, 1, device=x.device) + 0.5) + mean


def translation(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    b, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    oy = torch.randint(-sh, sh + 1, (b, 1, 1), device=x.device)
    ox = torch.randint(-sw, sw + 1, (b, 1, 1), device=x.device)
    rows = torch.arange(h, device=x.device)[None, :, None] + oy + sh
    cols = torch.arange(w, device=x.device)[None, None, :] + ox + sw
    padded = F.pad(x, (sw, sw, sh, sh))
    batch = torch.arange(b, device=x.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)


def cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    top = torch.randint(0, h - ch + 1, (b, 1, 1), device=x.device)
    left = torch.randint(0, w - cw + 1, (b, 1, 1), device=x.device)
    rows = torch.arange(h, device=x.device)[None, :, None]
    cols = torch.arange(w, device=x.device)[None, None, :]
    hole = (rows >= top) & (rows < top + ch) & (cols >= left) & (cols < left + cw)
    return x * (~hole)[:, None].to(x.dtype)


def diff_augment(x: torch.Tensor) -> torch.Tensor:
    return cutout(translation(colour(x)))


def _none(x: torch.Tensor) -> torch.Tensor:
    return x


class G(nn.Module):
    def __init__(self, out: Callable[[], nn.Module] = nn.Tanh) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.ConvTranspose2d(LATENT, 128, 4, 1, 0, bias=False), nn.BatchNorm2d(128), nn.ReLU(),
            nn.ConvTranspose2d(128, 64, 4, 2, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
            nn.ConvTranspose2d(64, 3, 4, 2, 1), out(),
        )  # fmt: skip

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(z[:, :, None, None])
        return out


class D(nn.Module):
    def __init__(self, head: Callable[[], nn.Module] = nn.Identity) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, 64, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(64, 128, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(128, 1, 4, 1, 0), head(),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(x)
        return out.flatten()


def step_with(
    real_aug: Callable[[torch.Tensor], torch.Tensor],
    fake_aug: Callable[[torch.Tensor], torch.Tensor],
    detach: bool = True,
) -> Any:
    def step(ctx: TrainContext, real: torch.Tensor) -> dict[str, torch.Tensor]:
        g, d = ctx.generator, ctx.discriminator
        fake = g(ctx.latent(real.shape[0]))
        shown = fake.detach() if detach else fake
        d_loss = F.softplus(-d(real_aug(real))).mean() + F.softplus(d(fake_aug(shown))).mean()
        ctx.opt_d.zero_grad()
        d_loss.backward()
        ctx.opt_d.step()
        if detach:
            ctx.opt_g.zero_grad()
        g_loss = F.softplus(-d(fake_aug(g(ctx.latent(real.shape[0]))))).mean()
        g_loss.backward()
        ctx.opt_g.step()
        if not detach:
            ctx.opt_g.zero_grad()
        return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach()}

    return step


def spec(
    name: str,
    real_aug: Callable[[torch.Tensor], torch.Tensor] = diff_augment,
    fake_aug: Callable[[torch.Tensor], torch.Tensor] = diff_augment,
    g_out: Callable[[], nn.Module] = nn.Tanh,
    d_head: Callable[[], nn.Module] = nn.Identity,
    lr_g: float = 2e-4,
    detach: bool = True,
) -> GANSpec:
    def optimizers(
        g: nn.Module, d: nn.Module
    ) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
        return (
            torch.optim.Adam(g.parameters(), lr_g, betas=(0.5, 0.999)),
            torch.optim.Adam(d.parameters(), 2e-4, betas=(0.5, 0.999)),
        )

    return GANSpec(
        generator=lambda: G(g_out),
        discriminator=lambda: D(d_head),
        data=sprites(),
        latent_dim=LATENT,
        optimizers=optimizers,
        train_step=step_with(real_aug, fake_aug, detach),
        batch_size=32,
        name=name,
    )


TRIALS: dict[str, Callable[[], GANSpec]] = {
    "diffaug": lambda: spec("diffaug"),
    "plain": lambda: spec("plain", _none, _none),
    "diffaug-real-only": lambda: spec("diffaug-real-only", fake_aug=_none),
    "diffaug-sigmoid-d": lambda: spec("diffaug-sigmoid-d", d_head=nn.Sigmoid),
    "diffaug-glr100": lambda: spec("diffaug-glr100", lr_g=2e-6),
    "diffaug-gsigmoid": lambda: spec("diffaug-gsigmoid", g_out=nn.Sigmoid),
    "diffaug-undetached": lambda: spec("diffaug-undetached", detach=False),
}


def harm(gan: str, seed: int, steps: int) -> dict[str, Any]:
    """The figures of one run trained to ``steps`` and no further (module docstring)."""
    run = pg.train(TRIALS[gan](), steps=steps, seed=seed)
    return {
        "gan": gan,
        "seed": seed,
        "kernels": torch.backends.cpu.get_cpu_capability(),
        "steps": steps,
        "energy": round(energy_distance(run.samples(128).flatten(1), sprites().flatten(1)), 4),
        "progress": round(progress_over_run(run), 4),
        "late_train_auc": [round(p.d_train_auc, 3) for p in late_probes(run)],
    }


def probes(gan: str, seed: int, steps: int) -> dict[str, Any]:
    """D's AUC at every probe and the late losses of one run trained to ``steps``."""
    run = pg.train(TRIALS[gan](), steps=steps, seed=seed)
    late = len(run.history["d_loss"]) // 3
    return {
        "gan": gan,
        "seed": seed,
        "kernels": torch.backends.cpu.get_cpu_capability(),
        "steps": steps,
        "d_auc": {p.step: round(p.d_auc, 3) for p in run.history.probes},
        "late_d_loss": round(sum(run.history["d_loss"][-late:]) / late, 3),
        "late_g_loss": round(sum(run.history["g_loss"][-late:]) / late, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("gan", choices=sorted(TRIALS))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--budget", type=int, default=16, help="max_steps as a multiple of steps")
    parser.add_argument("--harm", action="store_true", help="plain runs to each stop, figures")
    parser.add_argument("--stops", type=int, nargs="+", default=[200, 800])
    parser.add_argument("--baseline", choices=sorted(TRIALS), help="the healthy GAN's baseline")
    parser.add_argument("--probes", action="store_true", help="plain runs, D's AUC per probe")
    args = parser.parse_args()
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    if args.baseline:
        against_baseline(TRIALS, args.gan, args.baseline, seeds, args.steps, args.out)
        return
    if args.probes:
        for seed in seeds:
            write(probes(args.gan, seed, args.steps), args.out)
        return
    if args.harm:
        for seed in seeds:
            for steps in args.stops:
                write(harm(args.gan, seed, steps), args.out)
        return
    for seed in seeds:
        gan_spec, steps = TRIALS[args.gan](), args.steps
        write(judged(gan_spec, args.gan, seed, steps, steps * args.budget), args.out)


if __name__ == "__main__":
    main()
