"""A fifth set of GANs the checks were never tuned on, written here as a team would write
them: a recurrent GAN for time series, a GAN for tables whose discriminator scores packs
of rows, an InfoGAN with a third optimizer, and a WaveGAN for audio.

``rcgan`` follows the recurrent conditional GAN of Esteban et al. (2017, unconditioned
here): G an LSTM of two layers (48 units) over a sequence of noise ``[N, 24, 4]``, a
linear layer and a Tanh at each step; D an LSTM of one layer whose last hidden state a
linear layer reads as one logit; BCE on logits, Adam 2e-4 with betas (0.5, 0.999) for
both, batch 64; 2,000 sine waves of 24 steps with random frequency (0.5-3 cycles), phase
and amplitude (0.6-1). Its generator starts collapsed (the spread of its samples is 1-2%
of the data's at step 0: an LSTM's output hardly depends on small noise at
initialisation) and stays so for 600-800 steps while D wins, then spreads out to the
data's spread by 1,000-1,600. It found the false alarm that ``deciding.SPREAD_GROWTH``
answers (docs/benchmarks.md "A generator leaving a collapsed start"). ``rcgan-small`` is a
second recurrent GAN written apart from it (LSTMs of 32 units, noise of 3 entries per step,
1,500 waves of 20 steps, the spec's default optimizers); its generator wanders away from
the data before it spreads out, and found the false alarm ``deciding.MIN_CHANGE`` answers.

``ctgan`` follows CTGAN (Xu et al. 2019) on a small table: G two residual blocks
(Linear, BatchNorm, ReLU, concatenated with the block's input) and a linear layer, Tanh
on the continuous columns and a Gumbel-softmax (tau 0.2) on each categorical column's
span; D PacGAN's (Lin et al. 2018), ten rows viewed as one input (a batch of ``N`` gives
``N / 10`` scores), two hidden layers of 256 with LeakyReLU 0.2 and dropout 0.5; the
WGAN loss with CTGAN's penalty (one mixing weight per pack, the norm over a pack),
lambda 10; Adam 2e-4 with betas (0.5, 0.9) and weight decay 1e-6; batch 500. The table:
2,000 rows of three continuous columns (mixtures of Gaussians, scaled to [-1, 1]) and two
one-hot columns of 3 and 4 levels. Before packing was read, its D failed the networks'
dry run on two rows.

``infogan`` follows InfoGAN (Chen et al. 2016) as eriklindernoren's PyTorch-GAN writes it,
on 16x16 shapes: a latent of 24 noise entries, a one-hot code of 10 and two continuous
codes; D's trunk feeds an adversarial head and the Q heads; least-squares losses, G's step
then D's, then a third Adam over both networks for the info loss; Adam 2e-4 with betas
(0.5, 0.999) everywhere, batch 64. ``infogan-dlr100`` is the same with D's own rate typed
100x small. D's own optimizer never reaches its Q heads: read as still, they halved its
pace, and the healthy GAN failed as ``discriminator-too-weak`` (docs/benchmarks.md "A
discriminator that barely moves").

``wavegan`` follows WaveGAN (Donahue et al. 2019), narrowed: G a linear layer to 16 steps
and three transposed convolutions of kernel 25 and stride 4 to 1,024 samples, Tanh; D
three convolutions of kernel 25 and stride 4 with LeakyReLU 0.2 and phase shuffle of 2
after the first two; WGAN-GP (lambda 10), five critic updates per G update, Adam 1e-4
with betas (0.5, 0.9), batch 32; 2,048 sums of one to three sines. ``wavegan-nops`` has
no phase shuffle (a choice), ``wavegan-gp-nograph`` a penalty computed without
``create_graph=True`` (a mistake). Its penalised critic holds gradient norms of 1.8-2.1,
over the bound of 2 that held every critic before ``MAX_LIPSCHITZ_PENALISED``.
``wavegan-folded`` and ``wavegan-folded-nograph`` are the same two returning the critic's
loss as most public code keeps it, the penalty folded in and the graph attached, with no
``gp`` of its own: the first passes every check on seeds 0-1 under both kernel settings,
the second fails ``discriminator-not-lipschitz`` (``trial-outside-zoo-5-wavegan-folded*``).
``wavegan-folded-detached``, ``wavegan-nops-folded-detached`` and
``wavegan-folded-detached-nograph`` hand the folded loss back detached (a loop that logs
``d_loss.item()``): no graph to read, the penalty seen by its gradient
(``instrument.PENALTY_GRADIENT``).

    python -m benchmarks.trial_outside_zoo_5 GAN [--seeds 5] [--steps 200] [--out FILE]
    python -m benchmarks.trial_outside_zoo_5 GAN --plain --steps 8000 [--seeds 10]

Each run is trained as the smoke suite trains it (to ``--steps``, on up to 16x while a
statistical verdict waits) and judged by every check; one JSON line per seed (a step
that raises gives a line with its error's text, and the next seed runs). With
``--plain``, each run is trained ``--steps`` and no more, and its line holds the probes'
spread ratio by step.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

import pytest_gan as pg
from benchmarks.outside_runs import judged, write
from fixtures.data import shapes16
from fixtures.zoo import adam
from pytest_gan import GANSpec, TrainContext

STEPS, NOISE, HIDDEN = 24, 4, 48


def sines(
    n: int = 2000,
    seed: int = 3,
    steps: int = STEPS,
    cycles: tuple[float, float] = (0.5, 3.0),
    amplitude: tuple[float, float] = (0.6, 1.0),
) -> torch.Tensor:
    """``n`` sine waves of ``steps`` steps, ``[n, steps, 1]``, in [-1, 1]: their cycles
    and amplitude uniform in the ranges given, their phase uniform."""
    gen = torch.Generator().manual_seed(seed)
    f = cycles[0] + (cycles[1] - cycles[0]) * torch.rand(n, 1, generator=gen)
    phase = 2 * math.pi * torch.rand(n, 1, generator=gen)
    a = amplitude[0] + (amplitude[1] - amplitude[0]) * torch.rand(n, 1, generator=gen)
    t = torch.arange(steps).float() / steps
    return (a * torch.sin(2 * math.pi * f * t + phase)).unsqueeze(-1)


class SequenceG(nn.Module):
    def __init__(self, noise: int = NOISE, hidden: int = HIDDEN) -> None:
        super().__init__()
        self.lstm = nn.LSTM(noise, hidden, num_layers=2, batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        hidden, _ = self.lstm(z)
        return torch.tanh(self.head(hidden))


class SequenceD(nn.Module):
    def __init__(self, hidden: int = HIDDEN) -> None:
        super().__init__()
        self.lstm = nn.LSTM(1, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden, _ = self.lstm(x)
        return self.head(hidden[:, -1])


def rcgan_step(ctx: TrainContext, real: torch.Tensor) -> dict[str, torch.Tensor]:
    g, d = ctx.generator, ctx.discriminator
    n = real.shape[0]
    ones, zeros = torch.ones(n, 1), torch.zeros(n, 1)
    fake = g(ctx.latent(n))
    ctx.opt_d.zero_grad()
    d_loss = F.binary_cross_entropy_with_logits(d(real), ones) + F.binary_cross_entropy_with_logits(
        d(fake.detach()), zeros
    )
    d_loss.backward()
    ctx.opt_d.step()
    ctx.opt_g.zero_grad()
    g_loss = F.binary_cross_entropy_with_logits(d(fake), ones)
    g_loss.backward()
    ctx.opt_g.step()
    return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach()}


def rcgan() -> GANSpec:
    return GANSpec(
        generator=SequenceG,
        discriminator=SequenceD,
        data=sines(),
        latent_dim=(STEPS, NOISE),
        train_step=rcgan_step,
        batch_size=64,
        name="rcgan",
    )


def rcgan_small() -> GANSpec:
    """A second recurrent GAN, written apart from :func:`rcgan`: LSTMs of 32 units, noise
    of 3 entries per step, 1,500 waves of 20 steps (0.5-2.5 cycles, amplitude 0.8), and
    the spec's default optimizers."""
    return GANSpec(
        generator=lambda: SequenceG(noise=3, hidden=32),
        discriminator=lambda: SequenceD(hidden=32),
        data=sines(1500, steps=20, cycles=(0.5, 2.5), amplitude=(0.8, 0.8)),
        latent_dim=(20, 3),
        train_step=rcgan_step,
        batch_size=64,
        name="rcgan-small",
    )


CONTINUOUS, LEVELS, PACK, TABLE_LATENT = 3, (3, 4), 10, 64
WIDTH = CONTINUOUS + sum(LEVELS)


def table(n: int = 2000, seed: int = 5) -> torch.Tensor:
    """Three continuous columns (two- and three-mode Gaussian mixtures, scaled to
    [-1, 1]) and one-hot columns of 3 and 4 levels with uneven frequencies."""
    gen = torch.Generator().manual_seed(seed)
    columns = []
    for modes in (2, 3, 2):
        centre = torch.randint(0, modes, (n,), generator=gen).float()
        value = centre * 3 + 0.5 * torch.randn(n, generator=gen)
        columns.append(2 * (value - value.min()) / (value.max() - value.min()) - 1)
    for levels in LEVELS:
        weights = torch.arange(1, levels + 1).float()
        level = torch.multinomial(weights / weights.sum(), n, True, generator=gen)
        columns.extend(F.one_hot(level, levels).float().T)
    return torch.stack(columns, 1)


class Residual(nn.Module):
    def __init__(self, inputs: int, outputs: int) -> None:
        super().__init__()
        self.fc, self.bn = nn.Linear(inputs, outputs), nn.BatchNorm1d(outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([F.relu(self.bn(self.fc(x))), x], 1)


class TableG(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            Residual(TABLE_LATENT, 128),
            Residual(TABLE_LATENT + 128, 128),
            nn.Linear(TABLE_LATENT + 256, WIDTH),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        raw = self.body(z)
        parts, start = [torch.tanh(raw[:, :CONTINUOUS])], CONTINUOUS
        for levels in LEVELS:
            parts.append(F.gumbel_softmax(raw[:, start : start + levels], tau=0.2))
            start += levels
        return torch.cat(parts, 1)


class PackedD(nn.Module):
    """PacGAN's discriminator: ``PACK`` rows scored together."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(PACK * WIDTH, 256),
            nn.LeakyReLU(0.2),
            nn.Dropout(0.5),
            nn.Linear(256, 256),
            nn.LeakyReLU(0.2),
            nn.Dropout(0.5),
            nn.Linear(256, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.shape[0] % PACK == 0, "a batch must be a whole number of packs"
        return self.body(x.reshape(-1, PACK * WIDTH))

    def penalty(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        alpha = torch.rand(real.shape[0] // PACK, 1, 1).expand(-1, PACK, WIDTH).reshape(-1, WIDTH)
        mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
        (grad,) = torch.autograd.grad(self(mixed).sum(), mixed, create_graph=True)
        return ((grad.reshape(-1, PACK * WIDTH).norm(dim=1) - 1) ** 2).mean() * 10


def ctgan_step(ctx: TrainContext, real: torch.Tensor) -> dict[str, torch.Tensor]:
    g, d = ctx.generator, ctx.discriminator
    n = real.shape[0]
    fake = g(ctx.latent(n))
    d_loss = d(fake.detach()).mean() - d(real).mean()
    ctx.opt_d.zero_grad()
    gp = d.penalty(real, fake.detach())
    (d_loss + gp).backward()
    ctx.opt_d.step()
    g_loss = -d(g(ctx.latent(n))).mean()
    ctx.opt_g.zero_grad()
    g_loss.backward()
    ctx.opt_g.step()
    return {"d_loss": (d_loss + gp).detach(), "g_loss": g_loss.detach(), "gp": gp.detach()}


def ctgan() -> GANSpec:
    def optimizers(g: nn.Module, d: nn.Module) -> tuple[torch.optim.Optimizer, ...]:
        return (
            torch.optim.Adam(g.parameters(), 2e-4, betas=(0.5, 0.9), weight_decay=1e-6),
            torch.optim.Adam(d.parameters(), 2e-4, betas=(0.5, 0.9), weight_decay=1e-6),
        )

    return GANSpec(
        generator=TableG,
        discriminator=PackedD,
        data=table(),
        latent_dim=TABLE_LATENT,
        optimizers=optimizers,  # type: ignore[arg-type]
        train_step=ctgan_step,
        batch_size=500,
        name="ctgan",
    )


INFO_NOISE, INFO_CATS, INFO_CONT = 24, 10, 2
INFO_LATENT = INFO_NOISE + INFO_CATS + INFO_CONT


class InfoG(nn.Module):
    """InfoGAN's G for 16x16: the whole latent (noise, a one-hot code, two continuous
    codes) through a linear layer to 4x4, then upsampling and convolutions with BatchNorm."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(INFO_LATENT, 32 * 4 * 4)
        self.net = nn.Sequential(
            nn.BatchNorm2d(32),
            nn.Upsample(scale_factor=2),
            nn.Conv2d(32, 16, 3, 1, 1),
            nn.BatchNorm2d(16, 0.8),
            nn.LeakyReLU(0.2),
            nn.Upsample(scale_factor=2),
            nn.Conv2d(16, 8, 3, 1, 1),
            nn.BatchNorm2d(8, 0.8),
            nn.LeakyReLU(0.2),
            nn.Conv2d(8, 1, 3, 1, 1),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(self.fc(z).view(-1, 32, 4, 4))


class InfoD(nn.Module):
    """InfoGAN's D: a strided trunk with dropout, the adversarial head, and the Q heads
    (the categorical code's logits, the continuous codes) that only the info loss reaches."""

    def __init__(self) -> None:
        super().__init__()
        self.trunk = nn.Sequential(
            nn.Conv2d(1, 16, 3, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Dropout2d(0.25),
            nn.Conv2d(16, 32, 3, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Dropout2d(0.25),
            nn.BatchNorm2d(32, 0.8),
            nn.Flatten(),
        )
        self.adv = nn.Linear(32 * 4 * 4, 1)
        self.cat = nn.Linear(32 * 4 * 4, INFO_CATS)
        self.cont = nn.Linear(32 * 4 * 4, INFO_CONT)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.adv(self.trunk(x))

    def codes(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.trunk(x)
        return self.cat(h), self.cont(h)


def info_latent(n: int, gen: torch.Generator | None = None) -> tuple[torch.Tensor, ...]:
    """A batch of InfoGAN latents, with the codes drawn into them."""
    labels = torch.randint(0, INFO_CATS, (n,), generator=gen)
    cont = torch.rand(n, INFO_CONT, generator=gen) * 2 - 1
    noise = torch.randn(n, INFO_NOISE, generator=gen)
    return torch.cat([noise, F.one_hot(labels, INFO_CATS).float(), cont], 1), labels, cont


def info_step(zero_grad_d: bool = True) -> Any:
    """InfoGAN's step: least-squares adversarial steps of G then D, then a third Adam over
    both networks for the info loss (cross-entropy on the code, 0.1 x MSE on the
    continuous codes), made for each run's pair of networks. ``zero_grad_d=False`` deletes
    ``opt_d.zero_grad()``: the third optimizer's reset keeps D's own gradients from
    piling up, but D's step applies G's loss's gradient through D."""
    third: dict[int, torch.optim.Optimizer] = {}

    def step(ctx: TrainContext, real: torch.Tensor) -> dict[str, torch.Tensor]:
        g, d = ctx.generator, ctx.discriminator
        if id(ctx.opt_d) not in third:
            params = [*g.parameters(), *d.parameters()]
            third[id(ctx.opt_d)] = torch.optim.Adam(params, 2e-4, betas=(0.5, 0.999))
        opt_info = third[id(ctx.opt_d)]
        n = real.shape[0]
        ones, zeros = torch.ones(n, 1), torch.zeros(n, 1)
        ctx.opt_g.zero_grad()
        fake = g(info_latent(n)[0])
        g_loss = F.mse_loss(d(fake), ones)
        g_loss.backward()
        ctx.opt_g.step()
        if zero_grad_d:
            ctx.opt_d.zero_grad()
        d_loss = (F.mse_loss(d(real), ones) + F.mse_loss(d(fake.detach()), zeros)) / 2
        d_loss.backward()
        ctx.opt_d.step()
        opt_info.zero_grad()
        z, labels, cont = info_latent(n)
        cat_logits, cont_pred = d.codes(g(z))
        info_loss = F.cross_entropy(cat_logits, labels) + 0.1 * F.mse_loss(cont_pred, cont)
        info_loss.backward()
        opt_info.step()
        return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach(), "info": info_loss.detach()}

    return step


def infogan(
    lr_d: float = 2e-4, name: str = "infogan", lr_g: float = 2e-4, zero_grad_d: bool = True
) -> GANSpec:
    return GANSpec(
        generator=InfoG,
        discriminator=InfoD,
        data=shapes16(2048, seed=0),
        latent_dim=INFO_LATENT,
        train_step=info_step(zero_grad_d),
        optimizers=adam(lr_g, lr_d),
        batch_size=64,
        name=name,
    )


WAVE_LENGTH, WAVE_LATENT, WAVE_WIDTH, WAVE_BATCH, WAVE_CRITIC = 1024, 100, 8, 32, 5


def waves(n: int = 2048, seed: int = 11) -> torch.Tensor:
    """``n`` waveforms of ``WAVE_LENGTH`` samples, ``[n, 1, WAVE_LENGTH]``: sums of one to
    three sines of random frequency (2-40 cycles), phase and amplitude, peak at most 0.95."""
    gen = torch.Generator().manual_seed(seed)
    t = torch.arange(WAVE_LENGTH).float() / WAVE_LENGTH
    out = torch.zeros(n, WAVE_LENGTH)
    parts = torch.randint(1, 4, (n,), generator=gen)
    for k in range(3):
        cycles = 2 + 38 * torch.rand(n, 1, generator=gen)
        phase = 2 * math.pi * torch.rand(n, 1, generator=gen)
        amplitude = torch.rand(n, 1, generator=gen) * (parts > k).float().unsqueeze(1)
        out += amplitude * torch.sin(2 * math.pi * cycles * t + phase)
    out = 0.95 * out / out.abs().amax(1, keepdim=True).clamp_min(1e-6)
    return out.unsqueeze(1)


class PhaseShuffle(nn.Module):
    """WaveGAN's phase shuffle: each sample's feature map shifted by a random whole number
    of steps in [-n, n], the gap filled by reflection."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.n == 0:
            return x
        shifts = torch.randint(-self.n, self.n + 1, (x.shape[0],))
        padded = F.pad(x, (self.n, self.n), mode="reflect")
        length = x.shape[-1]
        return torch.stack(
            [padded[i, :, self.n - s : self.n - s + length] for i, s in enumerate(shifts.tolist())]
        )


class WaveG(nn.Module):
    """WaveGAN's G, narrowed: a linear layer to 16 steps, then transposed convolutions of
    kernel 25 and stride 4 to 1,024 samples, Tanh."""

    def __init__(self) -> None:
        super().__init__()
        d = WAVE_WIDTH
        self.fc = nn.Linear(WAVE_LATENT, 16 * 4 * d)
        self.net = nn.Sequential(
            nn.ReLU(),
            nn.ConvTranspose1d(4 * d, 2 * d, 25, 4, 11, output_padding=1),
            nn.ReLU(),
            nn.ConvTranspose1d(2 * d, d, 25, 4, 11, output_padding=1),
            nn.ReLU(),
            nn.ConvTranspose1d(d, 1, 25, 4, 11, output_padding=1),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(self.fc(z).view(-1, 4 * WAVE_WIDTH, 16))


class WaveD(nn.Module):
    """WaveGAN's D, narrowed: convolutions of kernel 25 and stride 4 with LeakyReLU 0.2 and
    phase shuffle of 2 after the first two, a linear layer to one score."""

    def __init__(self, shuffle: int = 2) -> None:
        super().__init__()
        d = WAVE_WIDTH
        self.net = nn.Sequential(
            nn.Conv1d(1, d, 25, 4, 11),
            nn.LeakyReLU(0.2),
            PhaseShuffle(shuffle),
            nn.Conv1d(d, 2 * d, 25, 4, 11),
            nn.LeakyReLU(0.2),
            PhaseShuffle(shuffle),
            nn.Conv1d(2 * d, 4 * d, 25, 4, 11),
            nn.LeakyReLU(0.2),
            nn.Flatten(),
            nn.Linear(4 * d * 16, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def wave_step_with(create_graph: bool = True, folded: bool = False, detached: bool = False) -> Any:
    """WaveGAN's step: five critic updates of WGAN-GP (lambda 10), each on its own chunk
    of the batch and fresh fakes, then one G update. ``create_graph=False`` is the
    penalty computed so that its gradient never reaches D. ``folded``: the losses are
    returned as most public code keeps them, the critic's with its penalty folded in and
    its graph attached, with no ``gp`` of their own; ``detached``: ... and handed back
    detached, as a loop that logs ``loss.item()`` has them."""

    def step(ctx: TrainContext, real_all: torch.Tensor) -> dict[str, torch.Tensor]:
        g, d = ctx.generator, ctx.discriminator
        out: dict[str, torch.Tensor] = {}
        for real in real_all.split(WAVE_BATCH)[:WAVE_CRITIC]:
            ctx.opt_d.zero_grad()
            fake = g(ctx.latent(real.shape[0])).detach()
            distance = d(real).mean() - d(fake).mean()
            mix = torch.rand(real.shape[0], 1, 1)
            x = (mix * real + (1 - mix) * fake).requires_grad_(True)
            (grad,) = torch.autograd.grad(d(x).sum(), x, create_graph=create_graph)
            gp = ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
            d_loss = -distance + 10 * gp
            d_loss.backward()
            ctx.opt_d.step()
            out = {"d_loss": d_loss.detach(), "gp": gp.detach(), "distance": distance.detach()}
            if folded:
                out = {"d_loss": d_loss.detach() if detached else d_loss}
        ctx.opt_g.zero_grad()
        g_loss = -d(g(ctx.latent(WAVE_BATCH))).mean()
        g_loss.backward()
        ctx.opt_g.step()
        return {**out, "g_loss": g_loss if folded and not detached else g_loss.detach()}

    return step


def wavegan(
    shuffle: int = 2,
    create_graph: bool = True,
    name: str = "wavegan",
    folded: bool = False,
    detached: bool = False,
) -> GANSpec:
    return GANSpec(
        generator=WaveG,
        discriminator=lambda: WaveD(shuffle),
        data=waves(),
        latent_dim=WAVE_LATENT,
        train_step=wave_step_with(create_graph, folded, detached),
        optimizers=adam(1e-4, 1e-4, (0.5, 0.9)),
        batch_size=WAVE_BATCH * WAVE_CRITIC,
        name=name,
    )


TRIALS = {
    "rcgan": rcgan,
    "rcgan-small": rcgan_small,
    "ctgan": ctgan,
    "infogan": infogan,
    # The same InfoGAN with D's learning rate typed 100x small.
    "infogan-dlr100": lambda: infogan(2e-6, "infogan-dlr100"),
    # ... and with G's own rate typed 100x small (the third optimizer still moves G).
    "infogan-glr100": lambda: infogan(2e-4, "infogan-glr100", lr_g=2e-6),
    # ... and with D's opt_d.zero_grad() deleted (the third optimizer's reset hides it).
    "infogan-no-zero-grad-d": lambda: infogan(name="infogan-no-zero-grad-d", zero_grad_d=False),
    "wavegan": wavegan,
    # Without phase shuffle: a choice, no mistake.
    "wavegan-nops": lambda: wavegan(shuffle=0, name="wavegan-nops"),
    # The penalty's gradient computed without create_graph=True: it never reaches D.
    "wavegan-gp-nograph": lambda: wavegan(create_graph=False, name="wavegan-gp-nograph"),
    # Both again with the critic's loss returned as public code keeps it: the penalty
    # folded in, the graph attached, no "gp" of its own.
    "wavegan-folded": lambda: wavegan(folded=True, name="wavegan-folded"),
    "wavegan-folded-nograph": lambda: wavegan(
        create_graph=False, folded=True, name="wavegan-folded-nograph"
    ),
    # The folded loss handed back detached (a loop that logs d_loss.item()), with and
    # without phase shuffle: the penalty is in the critic's loss but not in what is
    # returned.
    "wavegan-folded-detached": lambda: wavegan(
        folded=True, detached=True, name="wavegan-folded-detached"
    ),
    "wavegan-nops-folded-detached": lambda: wavegan(
        shuffle=0, folded=True, detached=True, name="wavegan-nops-folded-detached"
    ),
    "wavegan-folded-detached-nograph": lambda: wavegan(
        create_graph=False, folded=True, detached=True, name="wavegan-folded-detached-nograph"
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("gan", choices=sorted(TRIALS))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--out", type=Path)
    parser.add_argument(
        "--plain", action="store_true", help="train --steps as asked, no extension; probes only"
    )
    args = parser.parse_args()
    if args.plain:
        for seed in range(args.seeds):
            run = pg.train(TRIALS[args.gan](), steps=args.steps, seed=seed)
            line = {
                "gan": args.gan,
                "seed": seed,
                "kernels": torch.backends.cpu.get_cpu_capability(),
                "spread_ratio": {p.step: p.fake_spread / p.real_spread for p in run.history.probes},
            }
            write(line, args.out)
        return
    for seed in range(args.seeds):
        steps = args.steps
        write(judged(TRIALS[args.gan](), args.gan, seed, steps, 16 * steps), args.out)


if __name__ == "__main__":
    main()
