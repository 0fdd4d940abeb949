"""The checks on GANs they were not tuned on: other architectures, data and losses, each
healthy and with planted mistakes. Nothing here is used by the tests or the calibrations.

    python -m benchmarks.trial_outside_zoo [NAME ...] [--seeds 3] [--first-seed 0]
                                           [--steps 200] [--budget 1] [--out FILE]

Prints one JSON line per GAN and seed: the pitfall each applicable check reported (or
"pass"), and the steps the run was judged at (``--budget``: ``max_steps`` as a multiple of
the steps; 1, the default here, judges every run where it stopped). The GANs:

- ``bars``: 12x12 images of bars made here; upsample-and-convolve generator without
  BatchNorm, strided-convolution discriminator without normalisation, LSGAN loss.
- ``spiral``: a 2-D spiral; residual MLP generator with LayerNorm, MLP discriminator
  with dropout, a hand-written training step (BCE on logits), TTUR learning rates.
- ``corners``: conditional 10x10 images, a blob in the corner named by the label; the
  generator multiplies a label embedding into its features, the discriminator takes the
  label as extra input channels; hinge loss.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

import pytest_gan as pg
from benchmarks.detection_matrix import checks_for

# -- data, made here ------------------------------------------------------------------


def bars(n: int = 2048, size: int = 12, seed: int = 0) -> torch.Tensor:
    """Images in [-1, 1]: one bright bar (horizontal, vertical or diagonal) on black."""
    g = torch.Generator().manual_seed(seed)
    x = -torch.ones(n, 1, size, size)
    kind = torch.randint(0, 3, (n,), generator=g)
    pos = torch.randint(2, size - 2, (n,), generator=g)
    level = torch.rand(n, generator=g) * 1.5 + 0.5 - 1  # bar brightness in [-0.5, 1]
    idx = torch.arange(size)
    for i in range(n):
        if kind[i] == 0:
            x[i, 0, pos[i]] = level[i]
        elif kind[i] == 1:
            x[i, 0, :, pos[i]] = level[i]
        else:
            x[i, 0, idx, idx] = level[i]
    return x


def spiral(n: int = 4096, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    t = torch.rand(n, generator=g) * 3 * math.pi
    r = t / (3 * math.pi)
    pts = torch.stack([r * torch.cos(t), r * torch.sin(t)], dim=1)
    return pts + 0.02 * torch.randn(n, 2, generator=g)


def corners(n: int = 2048, size: int = 10, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 4, (n,), generator=g)
    ys, xs = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    centres = torch.tensor([[2.5, 2.5], [2.5, 6.5], [6.5, 2.5], [6.5, 6.5]])
    c = centres[y] + 0.7 * torch.randn(n, 2, generator=g)
    d2 = (ys[None] - c[:, 0, None, None]) ** 2 + (xs[None] - c[:, 1, None, None]) ** 2
    x = torch.exp(-d2 / 4.0) * 2 - 1
    return x[:, None], y


# -- networks ---------------------------------------------------------------------------


class UpconvG(nn.Module):
    def __init__(self, latent: int = 16, final: str = "tanh") -> None:
        super().__init__()
        self.latent_dim = latent
        self.fc = nn.Linear(latent, 32 * 3 * 3)
        self.body = nn.Sequential(
            nn.Upsample(scale_factor=2),
            nn.Conv2d(32, 32, 3, padding=1),
            nn.LeakyReLU(0.2),
            nn.Upsample(scale_factor=2),
            nn.Conv2d(32, 16, 3, padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(16, 1, 3, padding=1),
        )
        self.final: nn.Module = nn.Tanh() if final == "tanh" else nn.Sigmoid()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.final(self.body(self.fc(z).reshape(-1, 32, 3, 3)))
        return out


class StridedD(nn.Module):
    def __init__(self, extra_channels: int = 0, size: int = 12) -> None:
        super().__init__()
        side = (size // 2) // 2
        self.net = nn.Sequential(
            nn.Conv2d(1 + extra_channels, 16, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(16, 32, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Flatten(),
            nn.Linear(32 * side * side, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(x)
        return out


class ResMLPG(nn.Module):
    def __init__(self, latent: int = 4, hidden: int = 64) -> None:
        super().__init__()
        self.latent_dim = latent
        self.inp = nn.Linear(latent, hidden)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.LayerNorm(hidden), nn.Linear(hidden, hidden), nn.SiLU())
            for _ in range(3)
        )
        self.out = nn.Linear(hidden, 2)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.inp(z)
        for block in self.blocks:
            h = h + block(h)
        out: torch.Tensor = self.out(h)
        return out


def dropout_d(sigmoid: bool = False) -> nn.Module:
    layers: list[nn.Module] = [
        nn.Linear(2, 128),
        nn.LeakyReLU(0.2),
        nn.Dropout(0.2),
        nn.Linear(128, 128),
        nn.LeakyReLU(0.2),
        nn.Linear(128, 1),
    ]
    if sigmoid:
        layers.append(nn.Sigmoid())
    return nn.Sequential(*layers)


class GatedCondG(nn.Module):
    def __init__(self, latent: int = 16, classes: int = 4, drop_label: bool = False) -> None:
        super().__init__()
        self.latent_dim = latent
        self.drop_label = drop_label
        self.embed = nn.Embedding(classes, 64)
        self.fc = nn.Linear(latent, 64)
        self.net = nn.Sequential(
            nn.LeakyReLU(0.2),
            nn.Linear(64, 128),
            nn.LeakyReLU(0.2),
            nn.Linear(128, 100),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.fc(z)
        if not self.drop_label:
            h = h * (1 + self.embed(y))
        out: torch.Tensor = self.net(h).reshape(-1, 1, 10, 10)
        return out


class ChannelCondD(nn.Module):
    def __init__(self, classes: int = 4) -> None:
        super().__init__()
        self.classes = classes
        self.d = StridedD(extra_channels=classes, size=10)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        planes = F.one_hot(y, self.classes).float()[:, :, None, None]
        planes = planes.expand(-1, -1, *x.shape[-2:])
        return self.d(torch.cat([x, planes], dim=1))


# -- a hand-written training step, with switches for mistakes --------------------------


def spiral_step(
    *,
    detach: bool = True,
    zero_d: bool = True,
    g_repeats: int = 1,
    hand_log: bool = False,
) -> Callable[[Any, torch.Tensor], Mapping[str, Any]]:
    def step(ctx: Any, real: torch.Tensor) -> Mapping[str, Any]:
        g, d = ctx.generator, ctx.discriminator
        n = real.shape[0]
        fake = g(ctx.latent(n))
        if zero_d:
            ctx.opt_d.zero_grad()
        d_real, d_fake = d(real), d(fake.detach() if detach else fake)
        if hand_log:
            d_loss = -(torch.log(d_real) + torch.log(1 - d_fake)).mean()
        else:
            d_loss = F.softplus(-d_real).mean() + F.softplus(d_fake).mean()
        d_loss.backward()
        ctx.opt_d.step()
        for _ in range(g_repeats):
            ctx.opt_g.zero_grad()
            out = d(g(ctx.latent(n)))
            g_loss = -torch.log(out).mean() if hand_log else F.softplus(-out).mean()
            g_loss.backward()
            ctx.opt_g.step()
        return {"d_loss": d_loss, "g_loss": g_loss}

    return step


def adam(lr_g: float, lr_d: float, betas: tuple[float, float] = (0.5, 0.999)) -> Any:
    return lambda g, d: (
        torch.optim.Adam(g.parameters(), lr=lr_g, betas=betas),
        torch.optim.Adam(d.parameters(), lr=lr_d, betas=betas),
    )


def both_on_d(lr_g: float, lr_d: float, betas: tuple[float, float] = (0.9, 0.999)) -> Any:
    """The mistake ``optimizer-misses-parameters``: G's optimizer built over D's
    parameters as well as D's own."""
    return lambda g, d: (
        torch.optim.Adam(d.parameters(), lr=lr_g, betas=betas),
        torch.optim.Adam(d.parameters(), lr=lr_d, betas=betas),
    )


def _bars(**kw: Any) -> pg.GANSpec:
    base: dict[str, Any] = dict(
        generator=UpconvG, discriminator=StridedD, data=bars(), latent_dim=16, loss="lsgan"
    )
    base.update(kw)
    return pg.GANSpec(**base)


def _spiral(**kw: Any) -> pg.GANSpec:
    base: dict[str, Any] = dict(
        generator=ResMLPG,
        discriminator=dropout_d,
        data=spiral(),
        latent_dim=4,
        batch_size=256,
        optimizers=adam(1e-4, 4e-4, (0.0, 0.9)),
        train_step=spiral_step(),
    )
    base.update(kw)
    return pg.GANSpec(**base)


def _corners(**kw: Any) -> pg.GANSpec:
    base: dict[str, Any] = dict(
        generator=GatedCondG,
        discriminator=ChannelCondD,
        data=corners(),
        latent_dim=16,
        num_classes=4,
        loss="hinge",
    )
    base.update(kw)
    return pg.GANSpec(**base)


#: name -> (spec factory, the pitfall planted, or None for a healthy GAN)
TRIALS: dict[str, tuple[Callable[[], pg.GANSpec], str | None]] = {
    "bars": (lambda: _bars(name="bars"), None),
    "bars~sigmoid": (
        lambda: _bars(generator=lambda: UpconvG(final="sigmoid"), name="bars~sigmoid"),
        "output-range-mismatch",
    ),
    "bars~unit-data": (
        lambda: _bars(data=(bars() + 1) / 2, name="bars~unit-data"),
        "data-not-normalized",
    ),
    "bars~raw-pixels": (
        lambda: _bars(data=(bars() + 1) * 127.5, name="bars~raw-pixels"),
        "blank-output",
    ),
    "bars~d-lr-typo": (
        lambda: _bars(optimizers=adam(2e-4, 2e-6), name="bars~d-lr-typo"),
        "discriminator-too-weak",
    ),
    "spiral": (lambda: _spiral(name="spiral"), None),
    "spiral~g-loop": (
        lambda: _spiral(train_step=spiral_step(g_repeats=5), name="spiral~g-loop"),
        "mode-collapse",
    ),
    "spiral~hand-log": (
        lambda: _spiral(
            discriminator=lambda: dropout_d(sigmoid=True),
            train_step=spiral_step(hand_log=True),
            name="spiral~hand-log",
        ),
        "non-finite-loss",
    ),
    "spiral~no-zero-grad": (
        lambda: _spiral(train_step=spiral_step(zero_d=False), name="spiral~no-zero-grad"),
        "gradient-accumulation",
    ),
    "spiral~opt-g-on-d": (
        lambda: _spiral(optimizers=both_on_d(1e-4, 4e-4), name="spiral~opt-g-on-d"),
        "optimizer-misses-parameters",
    ),
    "corners": (lambda: _corners(name="corners"), None),
    "corners~label-dropped": (
        lambda: _corners(
            generator=lambda: GatedCondG(drop_label=True), name="corners~label-dropped"
        ),
        "conditioning-ignored",
    ),
}


def verdicts(run: pg.GANRun) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, call in checks_for(run).items():
        try:
            call()
            out[name] = "pass"
        except pg.GANAssertionError as exc:
            out[name] = exc.pitfall
        except Exception as exc:  # recorded: a check must never crash
            out[name] = f"error: {type(exc).__name__}: {exc}"
    return out


def main(
    trials: Mapping[str, tuple[Callable[[], pg.GANSpec], str | None]] | None = None,
    budget: int = 1,
) -> None:
    """Train and judge each trial on each seed; ``budget`` is the default of ``--budget``
    (``max_steps`` as a multiple of the steps: 1 judges every run where it stopped)."""
    trials = TRIALS if trials is None else trials
    parser = argparse.ArgumentParser()
    parser.add_argument("names", nargs="*")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--budget", type=int, default=budget)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    for name in args.names or list(trials):
        build, planted = trials[name]
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            start = time.perf_counter()
            run = pg.train(
                build(),
                steps=args.steps,
                seed=seed,
                device="cpu",
                max_steps=args.budget * args.steps,
            )
            v = verdicts(run)
            found = sorted({p for p in v.values() if p != "pass"})
            line = json.dumps(
                {
                    "gan": name,
                    "planted": planted,
                    "seed": seed,
                    "judged_steps": run.steps,
                    "seconds": round(time.perf_counter() - start, 1),
                    "reported": found,
                    "verdicts": v,
                }
            )
            print(line, flush=True)
            if args.out is not None:
                with args.out.open("a") as f:
                    f.write(line + "\n")


if __name__ == "__main__":
    main()
