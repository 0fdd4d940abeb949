"""An autoencoder discriminator (BEGAN, EBGAN): its output is a reconstruction of its input,
and its loss compares the two. It is neither a classifier nor a Wasserstein critic."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import pytest_gan as pg
from fixtures.steps import UserStep
from pytest_gan import train
from pytest_gan.checks._common import MARGIN, score_kind
from pytest_gan.checks.lipschitz import lipschitz_constraints
from tests.tiny import LATENT, gaussian, make_g, tiny_spec

DATA = gaussian()


def autoencoder_d(ending: nn.Module | None = None) -> nn.Module:
    """D(x) reconstructs x through a bottleneck; a Tanh ending is a decoder's, for data in
    [-1, 1]."""
    layers: list[nn.Module] = [nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2)]
    return nn.Sequential(*layers, *([ending] if ending is not None else []))


class BEGANStep:
    """BEGAN's step as eriklindernoren/PyTorch-GAN writes it: G first, L1 reconstruction
    errors, the fakes detached again for the loss, and the equilibrium term k_t."""

    def __init__(self) -> None:
        self.k = 0.0

    def __call__(self, ctx: Any, real: torch.Tensor) -> dict[str, Any]:
        g, d = ctx.generator, ctx.discriminator
        ctx.opt_g.zero_grad()
        fake = g(ctx.latent(real.shape[0]))
        g_loss = torch.mean(torch.abs(d(fake) - fake))
        g_loss.backward()
        ctx.opt_g.step()
        ctx.opt_d.zero_grad()
        d_real = d(real)
        d_fake = d(fake.detach())
        loss_real = torch.mean(torch.abs(d_real - real))
        loss_fake = torch.mean(torch.abs(d_fake - fake.detach()))
        d_loss = loss_real - self.k * loss_fake
        d_loss.backward()
        ctx.opt_d.step()
        self.k = min(max(self.k + 0.001 * (0.75 * loss_real - loss_fake).item(), 0.0), 1.0)
        return {"d_loss": d_loss, "g_loss": g_loss}


def ebgan_step(ctx: Any, real: torch.Tensor) -> dict[str, Any]:
    """EBGAN's margin loss on the mean squared reconstruction error."""
    g, d = ctx.generator, ctx.discriminator
    fake = g(ctx.latent(real.shape[0]))
    ctx.opt_d.zero_grad()
    detached = fake.detach()
    d_loss = F.mse_loss(d(real), real) + F.relu(1.0 - F.mse_loss(d(detached), detached))
    d_loss.backward()
    ctx.opt_d.step()
    ctx.opt_g.zero_grad()
    g_loss = F.mse_loss(d(fake), fake)
    g_loss.backward()
    ctx.opt_g.step()
    return {"d_loss": d_loss, "g_loss": g_loss}


def _tanh_g() -> nn.Module:
    return nn.Sequential(make_g(), nn.Tanh())


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("step", [BEGANStep, lambda: ebgan_step], ids=["began", "ebgan"])
def test_an_autoencoder_d_is_read_as_a_reconstruction(step: Any, seed: int) -> None:
    data = DATA.tanh()
    spec = tiny_spec(
        generator=_tanh_g,
        discriminator=lambda: autoencoder_d(nn.Tanh()),
        data=data,
        train_step=step(),
    )
    run = train(spec, steps=40, seed=seed)
    saturation = run.history.saturation
    assert saturation is not None and saturation.d_loss_reads == "reconstruction"
    # Not a Wasserstein critic: BEGAN's loss only subtracts and averages (its L1 errors), and
    # read by its functions alone it was taken for one, with a Lipschitz bound to meet.
    assert score_kind(run) == MARGIN
    assert lipschitz_constraints(run) == []
    with pytest.warns(pg.GANNotApplicableWarning, match="its step's loss read as 'reconstruction'"):
        pg.assert_lipschitz(run)
    # A decoder's Tanh is no squashing head on scores: it reconstructs data in [-1, 1].
    pg.assert_d_output_fits_loss(run)


def test_a_per_pixel_d_whose_output_has_its_inputs_shape_is_still_a_classifier() -> None:
    # D's output has the shape of its input, as a U-Net D's per-pixel decisions do, but the
    # loss (BCE with logits) compares it with targets, never with the input.
    step = UserStep()
    run = train(tiny_spec(discriminator=autoencoder_d, train_step=step), steps=10)
    assert run.history.saturation.d_loss_reads == "logit"
    # ... and a Sigmoid ending there is still the wrong head for a logits loss.
    squashed = train(
        tiny_spec(discriminator=lambda: autoencoder_d(nn.Sigmoid()), train_step=step), steps=10
    )
    with pytest.raises(pg.GANAssertionError) as caught:
        pg.assert_d_output_fits_loss(squashed)
    assert caught.value.pitfall == "discriminator-wrong-activation"


def test_a_watched_began_loop_is_read_as_a_reconstruction() -> None:
    g, d = _tanh_g(), autoencoder_d()
    opt_g = torch.optim.Adam(g.parameters(), lr=1e-3, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=1e-3, betas=(0.5, 0.999))
    data = DATA.tanh()
    k = 0.0
    with pg.watch(g, d, opt_g, opt_d, data=data, latent_dim=LATENT) as run:
        for i in range(20):
            real = data[i * 32 : (i + 1) * 32]
            fake = g(torch.randn(32, LATENT))
            opt_g.zero_grad()
            g_loss = torch.mean(torch.abs(d(fake) - fake))
            g_loss.backward()
            opt_g.step()
            opt_d.zero_grad()
            loss_real = torch.mean(torch.abs(d(real) - real))
            loss_fake = torch.mean(torch.abs(d(fake.detach()) - fake.detach()))
            d_loss = loss_real - k * loss_fake
            d_loss.backward()
            opt_d.step()
            k = min(max(k + 0.001 * (0.75 * loss_real - loss_fake).item(), 0.0), 1.0)
            run.log(d_loss=d_loss, g_loss=g_loss)
    assert run.history.saturation["d_loss_reads"] == "reconstruction"
    assert score_kind(run) == MARGIN
