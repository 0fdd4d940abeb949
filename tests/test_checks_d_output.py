"""assert_d_output_fits_loss: a squashing D head under a loss that expects unbounded scores.

The verdict reads the final probe's exact records (D's output with its last layer forced
to a logit of 200, and the functions the step applies to D's outputs), so short runs
suffice and the verdict does not depend on the seed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn

from fixtures.steps import UserStep
from fixtures.zoo import HEALTHY, case
from pytest_gan import GANAssertionError, assert_d_output_fits_loss, train
from tests.tiny import hinge_step, make_d, tiny_spec

STEPS = 4


def sigmoid_d() -> nn.Module:
    return nn.Sequential(make_d(), nn.Sigmoid())


def tanh_d() -> nn.Module:
    return nn.Sequential(make_d(), nn.Tanh())


def _bce_loss_module(ctx: Any, batch: torch.Tensor) -> dict[str, torch.Tensor]:
    # nn.BCELoss on a Sigmoid head: the right pairing (the Lightning tutorial's).
    g, d, criterion = ctx.generator, ctx.discriminator, nn.BCELoss()
    fake = g(ctx.latent(batch.shape[0]))
    ones, zeros = torch.ones(batch.shape[0], 1), torch.zeros(batch.shape[0], 1)
    ctx.opt_d.zero_grad()
    d_loss = criterion(d(batch), ones) + criterion(d(fake.detach()), zeros)
    d_loss.backward()
    ctx.opt_d.step()
    ctx.opt_g.zero_grad()
    g_loss = criterion(d(fake), ones)
    g_loss.backward()
    ctx.opt_g.step()
    return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach()}


@pytest.mark.parametrize("seed", range(5))
def test_the_zoo_twin_is_caught(seed: int) -> None:
    run = train(case("discriminator-wrong-activation").spec(), steps=STEPS, seed=seed)
    with pytest.raises(GANAssertionError, match="squashes its scores") as caught:
        assert_d_output_fits_loss(run)
    assert caught.value.pitfall == "discriminator-wrong-activation"
    assert caught.value.evidence["loss_reads"] == "logit"
    assert caught.value.evidence["d_output_at_saturation"] == 1.0


MISMATCHED: list[tuple[str, Callable[[], Any]]] = [
    ("built-in bce (logits)", lambda: tiny_spec(discriminator=sigmoid_d)),
    ("user BCEWithLogits", lambda: tiny_spec(discriminator=sigmoid_d, train_step=UserStep())),
    ("built-in hinge", lambda: tiny_spec(discriminator=sigmoid_d, loss="hinge")),
    ("user hinge", lambda: tiny_spec(discriminator=sigmoid_d, train_step=hinge_step)),
    ("wgan-gp critic", lambda: tiny_spec(discriminator=sigmoid_d, loss="wgan-gp")),
    (
        "user wgan-gp critic",
        lambda: tiny_spec(discriminator=tanh_d, train_step=UserStep(loss="wgan-gp", n_critic=2)),
    ),
]
FITTING: list[tuple[str, Callable[[], Any]]] = [
    ("built-in bce, linear head", lambda: tiny_spec()),
    (
        "nn.BCELoss on a Sigmoid",
        lambda: tiny_spec(discriminator=sigmoid_d, train_step=_bce_loss_module),
    ),
    (
        "hand-written log loss on a Sigmoid",
        lambda: tiny_spec(discriminator=sigmoid_d, train_step=UserStep(loss="bce-hand-written")),
    ),
    ("lsgan on a Sigmoid", lambda: tiny_spec(discriminator=sigmoid_d, loss="lsgan")),
    ("user hinge, linear head", lambda: tiny_spec(train_step=hinge_step)),
    ("wgan-gp, linear head", lambda: tiny_spec(loss="wgan-gp")),
]


@pytest.mark.parametrize(("what", "build"), MISMATCHED, ids=[w for w, _ in MISMATCHED])
def test_a_squashing_head_under_an_unbounded_loss_fails(what: str, build: Any) -> None:
    for seed in range(3):
        with pytest.raises(GANAssertionError) as caught:
            assert_d_output_fits_loss(train(build(), steps=STEPS, seed=seed))
        assert caught.value.pitfall == "discriminator-wrong-activation", what


@pytest.mark.parametrize(("what", "build"), FITTING, ids=[w for w, _ in FITTING])
def test_a_head_that_fits_its_loss_passes(what: str, build: Any) -> None:
    for seed in range(3):
        assert_d_output_fits_loss(train(build(), steps=STEPS, seed=seed))


@pytest.mark.parametrize("name", sorted(HEALTHY))
def test_the_healthy_references_pass(name: str) -> None:
    assert_d_output_fits_loss(train(case(name).spec(), steps=2, seed=0))


def test_bad_input_is_refused() -> None:
    with pytest.raises(TypeError, match="run must be a GANRun"):
        assert_d_output_fits_loss(torch.zeros(2))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="instrument=False"):
        assert_d_output_fits_loss(train(tiny_spec(), steps=2, instrument=False))
