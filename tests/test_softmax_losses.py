"""Losses that exponentiate D's scores as a softmax's: Softmax GAN's softmax over the whole
batch (``log(sum(exp(-D)))``), a semi-supervised D's ``cross_entropy`` over its classes.
Such scores are neither a classifier's logits (a softmax over the batch ranks real samples
*low*) nor a critic's, and the loss ignores a common shift of them, so the saturation
probe's outputs forced all alike to +/-200 are no saturated D."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import pytest_gan as pg
from pytest_gan import train
from pytest_gan.checks._common import CLASSIFIER, MARGIN, score_kind
from pytest_gan.probing import SHIFT_LEVELS, SHIFT_TOLERANCE, read_loss, same_losses
from tests.tiny import LATENT, gaussian, make_d, make_g, tiny_spec


def _log(x: torch.Tensor, eps: float) -> torch.Tensor:
    return torch.log(x + eps) if eps else torch.log(x)


def softmax_gan_step(eps: float = 1e-8, lse: bool = False) -> Any:
    """Softmax GAN's step as eriklindernoren/PyTorch-GAN writes it: D's loss is the
    cross-entropy of a softmax over the whole batch's energies against real targets 1/B
    (fakes 0), G's against 1/(2B) for every sample; ``log(Z + 1e-8)`` as the original
    writes it, or ``logsumexp``."""

    def log_z(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
        if lse:
            return torch.logsumexp(-torch.cat([d_real, d_fake]).flatten(), 0)
        return _log(torch.sum(torch.exp(-d_real)) + torch.sum(torch.exp(-d_fake)), eps)

    def step(ctx: Any, real: torch.Tensor) -> dict[str, Any]:
        g, d = ctx.generator, ctx.discriminator
        n = real.shape[0]
        fake = g(ctx.latent(n))
        ctx.opt_d.zero_grad()
        d_real, d_fake = d(real), d(fake.detach())
        d_loss = torch.sum(d_real) / n + log_z(d_real, d_fake)
        d_loss.backward()
        ctx.opt_d.step()
        ctx.opt_g.zero_grad()
        d_real, d_fake = d(real).detach(), d(fake)
        g_loss = (torch.sum(d_real) + torch.sum(d_fake)) / (2 * n) + log_z(d_real, d_fake)
        g_loss.backward()
        ctx.opt_g.step()
        return {"d_loss": d_loss, "g_loss": g_loss}

    return step


def fragile_bce_step(ctx: Any, real: torch.Tensor) -> dict[str, Any]:
    """BCE typed out on a Sigmoid head's probabilities, with no epsilon (the seed's form)."""
    g, d = ctx.generator, ctx.discriminator
    fake = g(ctx.latent(real.shape[0]))
    ctx.opt_d.zero_grad()
    d_loss = -torch.mean(torch.log(d(real)) + torch.log(1 - d(fake.detach())))
    d_loss.backward()
    ctx.opt_d.step()
    ctx.opt_g.zero_grad()
    g_loss = -torch.mean(torch.log(d(fake)))
    g_loss.backward()
    ctx.opt_g.step()
    return {"d_loss": d_loss, "g_loss": g_loss}


def _sigmoid_d() -> nn.Module:
    return nn.Sequential(make_d(), nn.Sigmoid())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_softmax_gan_as_published_is_no_fragile_loss(seed: int) -> None:
    # Until 2026-12-07 it failed assert_losses_finite on every seed: D's outputs forced all
    # to -200 overflow exp(200) in log(sum(exp(-D))), though the loss's value there is its
    # value at 0, and its gradient never moves D's outputs along a common shift.
    run = train(tiny_spec(train_step=softmax_gan_step()), steps=30, seed=seed)
    saturation = run.history.saturation
    assert saturation is not None
    assert not math.isfinite(saturation.fake["d_loss"])  # the overflow is there ...
    assert saturation.shift_invariant is True  # ... at a level the loss ignores
    pg.assert_losses_finite(run)
    assert saturation.d_loss_reads == "softmax"
    # Its energies are no logits (real samples score low) and no critic's scores.
    assert score_kind(run) == MARGIN
    with pytest.warns(pg.GANNotApplicableWarning, match="read as 'softmax'"):
        pg.assert_lipschitz(run)
    pg.assert_d_output_fits_loss(run)


def test_softmax_gan_with_logsumexp_reads_alike_and_never_overflows() -> None:
    run = train(tiny_spec(train_step=softmax_gan_step(lse=True)), steps=30, seed=0)
    saturation = run.history.saturation
    assert saturation is not None and saturation.d_loss_reads == "softmax"
    # Finite in both directions: the shift test is not run (nothing to explain).
    assert saturation.shift_invariant is None
    assert saturation.real["d_loss"] == pytest.approx(math.log(2 * 64), rel=1e-5)
    pg.assert_losses_finite(run)
    # Read by its functions alone it was taken for a Wasserstein critic, with a bound to meet.
    with pytest.warns(pg.GANNotApplicableWarning):
        pg.assert_lipschitz(run)


def test_a_fragile_classifier_loss_is_not_shift_invariant_and_still_fails() -> None:
    run = train(tiny_spec(discriminator=_sigmoid_d, train_step=fragile_bce_step), steps=30, seed=0)
    saturation = run.history.saturation
    assert saturation is not None and saturation.shift_invariant is False
    with pytest.raises(pg.GANAssertionError, match="numerically fragile") as caught:
        pg.assert_losses_finite(run)
    assert caught.value.pitfall == "non-finite-loss"
    assert score_kind(run) == CLASSIFIER


def test_the_shift_test_separates_the_losses_by_far_more_than_its_tolerance() -> None:
    # The figures the tolerance's comment quotes: each loss with every D output at the two
    # levels the test forces.
    n = 64
    lo, hi = SHIFT_LEVELS

    def softmax_gan(level: float) -> dict[str, float]:
        d = torch.full((n, 1), level)
        d_loss = torch.sum(d) / n + torch.log(torch.sum(torch.exp(-d)) * 2 + 1e-8)
        return {"d_loss": float(d_loss)}

    def bce(level: float, sigmoid_head: bool) -> dict[str, float]:
        x = torch.full((n, 1), level)
        if sigmoid_head:
            p = torch.sigmoid(x)
            loss = -torch.mean(torch.log(p) + torch.log(1 - p))
        else:
            loss = F.binary_cross_entropy_with_logits(
                x, torch.ones_like(x)
            ) + F.binary_cross_entropy_with_logits(x, torch.zeros_like(x))
        return {"d_loss": float(loss)}

    a, b = softmax_gan(lo), softmax_gan(hi)
    assert abs(a["d_loss"] - b["d_loss"]) < 1e-6 < SHIFT_TOLERANCE
    assert same_losses(a, b) is True
    for head in (False, True):
        a, b = bce(lo, head), bce(hi, head)
        assert abs(a["d_loss"] - b["d_loss"]) > 2.6  # 1.386 against 4.036
        assert same_losses(a, b) is False
    assert same_losses({"d_loss": 1.0}, {"g_loss": 1.0}) is None
    assert same_losses({"d_loss": math.inf}, {"d_loss": math.inf}) is False


def test_the_readings_of_softmax_losses() -> None:
    assert read_loss({"exp", "sum", "log", "neg"}) == "softmax"  # Softmax GAN as published
    assert read_loss({"logsumexp", "neg", "cat"}) == "softmax"
    assert read_loss({"cross_entropy"}) == "softmax"  # a D of K+1 classes
    assert read_loss({"log_softmax", "nll_loss"}) == "softmax"
    # A logits function comes first: a sigmoid's exp is no softmax.
    assert read_loss({"sigmoid", "exp", "log"}) == "logit"
    assert read_loss({"log", "sub", "mean"}) == "probability"


def test_a_watched_softmax_gan_loop_is_read_and_judged_alike() -> None:
    torch.manual_seed(0)
    g, d = make_g(), make_d()
    opt_g = torch.optim.Adam(g.parameters(), 2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), 2e-4, betas=(0.5, 0.999))
    data = gaussian()
    n = 64
    with pg.watch(g, d, opt_g, opt_d, data=data, latent_dim=LATENT) as run:
        for i in range(20):
            real = data[i * n : (i + 1) * n]
            fake = g(torch.randn(n, LATENT))
            d_real, d_fake = d(real), d(fake.detach())
            z = torch.sum(torch.exp(-d_real)) + torch.sum(torch.exp(-d_fake))
            d_loss = torch.sum(d_real) / n + torch.log(z + 1e-8)
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
            d_real, d_fake = d(real).detach(), d(fake)
            z = torch.sum(torch.exp(-d_real)) + torch.sum(torch.exp(-d_fake))
            g_loss = (torch.sum(d_real) + torch.sum(d_fake)) / (2 * n) + torch.log(z + 1e-8)
            opt_g.zero_grad()
            g_loss.backward()
            opt_g.step()
            run.log(d_loss=d_loss, g_loss=g_loss)
    saturation = run.history.saturation
    assert saturation is not None and saturation.watched
    assert saturation.d_loss_reads == "softmax"
    assert not math.isfinite(saturation.fake["d_loss"])
    assert saturation.shift_invariant is True
    pg.assert_losses_finite(run)
    assert score_kind(run) == MARGIN
