"""A run that diverged gets the verdict of its cause, ``non-finite-loss``, from every check
that judges how the run went: never an input error, and never another pitfall read off
figures that turned NaN with the run (a generator whose NaN weights "moved nan%" read as
``generator-not-learning``; NaN D scores ranked as an AUC of 0 read as
``discriminator-too-weak``). A run that reported a non-finite loss and recovered is judged
on its figures as any other."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from pytest_gan import (
    GANAssertionError,
    assert_conditioning_effective,
    assert_d_generalizes,
    assert_d_step_isolated,
    assert_diverse,
    assert_generator_learns,
    assert_gradients_zeroed,
    assert_lipschitz,
    assert_losses_balanced,
    assert_losses_finite,
    assert_not_blank,
    assert_optimizers_cover,
    assert_output_range_matches_data,
    train,
)
from pytest_gan.checks._nonfinite import diverged_verdict, ended_diverged, nonfinite_state
from pytest_gan.run import judged_at_first_steps
from pytest_gan.training import builtin_step
from tests.tiny import LATENT, CondD, CondG, adam, gaussian, tiny_spec, two_clusters

#: The checks that judge how a run went, from its samples, probes and weights.
JUDGING = (
    assert_losses_finite,
    assert_not_blank,
    assert_diverse,
    assert_output_range_matches_data,
    assert_losses_balanced,
    assert_generator_learns,
    assert_d_generalizes,
)


def _diverging_step(ctx, batch):  # type: ignore[no-untyped-def]
    """A correct step whose G learning rate is so large that its weights overflow: the
    losses and then the samples turn NaN, as a diverging run's do."""
    g, d = ctx.generator, ctx.discriminator
    fake = g(ctx.latent(batch.shape[0]))
    ones, zeros = torch.ones(batch.shape[0], 1), torch.zeros(batch.shape[0], 1)
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    ctx.opt_d.zero_grad()
    d_loss = bce(d(batch), ones) + bce(d(fake.detach()), zeros)
    d_loss.backward()
    ctx.opt_d.step()
    ctx.opt_g.zero_grad()
    g_loss = bce(d(fake), ones) * 1e38
    g_loss.backward()
    ctx.opt_g.step()
    return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach()}


def _fails_with_its_cause(run, checks=JUDGING) -> None:  # type: ignore[no-untyped-def]
    for check in checks:
        with pytest.raises(GANAssertionError) as caught:
            check(run)
        assert caught.value.pitfall == "non-finite-loss", check.__name__


@pytest.mark.parametrize("seed", range(3))
def test_a_run_whose_weights_overflow_fails_every_judging_check_with_its_cause(
    seed: int,
) -> None:
    spec = tiny_spec(
        train_step=_diverging_step,
        optimizers=lambda g, d: (
            torch.optim.SGD(g.parameters(), lr=1e30),
            torch.optim.SGD(d.parameters(), lr=1e-3),
        ),
    )
    run = train(spec, steps=6, seed=seed)
    assert not bool(torch.isfinite(run.samples(50)).all())
    _fails_with_its_cause(run)
    with pytest.raises(GANAssertionError) as caught:
        assert_lipschitz(run, max_constant=2.0)
    assert caught.value.pitfall == "non-finite-loss"
    assert "G's weights" in caught.value.evidence["nonfinite_state"]
    assert caught.value.evidence["check"] == "assert_lipschitz"
    # The checks this unconstrained, unconditional run is no case for name the divergence
    # too, rather than pass having checked nothing (GANNotApplicableWarning).
    _fails_with_its_cause(run, (assert_lipschitz, assert_conditioning_effective))
    # The wiring is read from exact records, not from NaN figures: it is right, and passes.
    for check in (assert_d_step_isolated, assert_gradients_zeroed, assert_optimizers_cover):
        check(run)


class NaNG(nn.Module):
    """A generator whose weights start finite and whose output is NaN."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(LATENT, 2)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.lin(z) * math.nan


def test_a_generator_whose_output_is_nan_fails_with_its_cause() -> None:
    run = train(tiny_spec(generator=NaNG), steps=10, seed=0)
    _fails_with_its_cause(run)


def test_nan_samples_without_a_run_render_blank() -> None:
    # No run to say why: the samples render blank.
    for check in (assert_diverse, assert_not_blank):
        with pytest.raises(GANAssertionError) as caught:
            check(torch.full((10, 2), torch.nan), real=torch.randn(10, 2))
        assert caught.value.pitfall == "blank-output", check.__name__


def _reports_nan_once(ctx, batch):  # type: ignore[no-untyped-def]
    """The built-in step, reporting a NaN D loss on step 3 (a step whose batch a gradient
    scaler skipped, say): the networks never see it."""
    losses = builtin_step(ctx, batch)
    if ctx.step == 3:
        losses = {**losses, "d_loss": torch.tensor(math.nan)}
    return losses


class MaskedG(nn.Module):
    """A generator with a buffer that holds -inf by design (an additive mask, as causal
    attention uses): finite samples, healthy training."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(LATENT, 32), nn.ReLU(), nn.Linear(32, 2))
        self.register_buffer("mask", torch.full((2, 2), -math.inf).triu(1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        mix = torch.softmax(torch.zeros(2, 2) + self.mask, dim=-1)
        return self.net(z) @ mix.T


def _reports_a_nan_metric(ctx, batch):  # type: ignore[no-untyped-def]
    """The built-in step, also returning a metric of its own that is NaN on odd steps
    (an accuracy over an empty subset, say): not a loss."""
    losses = builtin_step(ctx, batch)
    return {**losses, "d_acc_hard": torch.tensor(math.nan if ctx.step % 2 else 0.5)}


@pytest.mark.parametrize("seed", range(2))
def test_infinite_buffers_and_nan_metrics_are_no_divergence(seed: int) -> None:
    masked = train(tiny_spec(generator=MaskedG, train_step=_reports_nan_once), steps=30, seed=seed)
    assert nonfinite_state(masked) == []
    assert_generator_learns(masked)
    metric = train(tiny_spec(train_step=_reports_a_nan_metric), steps=30, seed=seed)
    assert "nonfinite:d_acc_hard" in metric.history.events
    assert_losses_finite(metric)
    diverged_verdict(metric, "assert_generator_learns")
    with torch.no_grad():
        next(metric.generator.parameters()).fill_(math.nan)
    # A broken end with only a metric non-finite: not this verdict.
    diverged_verdict(metric, "assert_generator_learns")


@pytest.mark.parametrize("seed", range(2))
def test_a_run_that_recovered_from_a_non_finite_loss_is_judged_on_its_figures(
    seed: int,
) -> None:
    healthy = train(
        tiny_spec(optimizers=adam(2e-4), train_step=_reports_nan_once), steps=30, seed=seed
    )
    with pytest.raises(GANAssertionError) as caught:
        assert_losses_finite(healthy)
    assert caught.value.evidence["first_step"] == 3
    assert nonfinite_state(healthy) == []
    assert_generator_learns(healthy)
    # The slow G's own figures give its verdict, not the NaN it reported once.
    slow = train(
        tiny_spec(optimizers=adam(2e-6), train_step=_reports_nan_once), steps=30, seed=seed
    )
    with pytest.raises(GANAssertionError, match="learning rate too small") as caught:
        assert_generator_learns(slow)
    assert caught.value.pitfall == "generator-not-learning"


def test_the_verdict_needs_a_non_finite_loss_and_a_broken_end() -> None:
    run = train(tiny_spec(), steps=6, seed=0)
    diverged_verdict(run, "assert_generator_learns")
    # Weights broken by hand, no loss ever non-finite: not this verdict; each check judges
    # the run as it is.
    with torch.no_grad():
        next(run.generator.parameters()).fill_(math.nan)
    assert nonfinite_state(run) == ["G's weights"]
    diverged_verdict(run, "assert_generator_learns")
    run.history.note("nonfinite:g_loss", 5)
    with pytest.raises(GANAssertionError) as caught:
        diverged_verdict(run, "assert_generator_learns")
    assert caught.value.evidence["first_step"] == 5
    assert caught.value.evidence["nonfinite_losses"] == ["g_loss"]


FIRST = 20


def _diverges_after(ctx, batch):  # type: ignore[no-untyped-def]
    """The built-in step until step FIRST + 2, then a G whose weights are NaN."""
    losses = builtin_step(ctx, batch)
    if ctx.step >= FIRST + 2:
        with torch.no_grad():
            for p in ctx.generator.parameters():
                p.fill_(math.nan)
        losses = {**losses, "g_loss": torch.tensor(math.nan)}
    return losses


def test_a_run_that_diverged_while_trained_on_is_named_by_balance_and_learning() -> None:
    # Small data: the overfitting check waits, so the run is trained on past its first
    # steps (where balance and learning otherwise keep their verdicts), and diverges there.
    run = train(
        tiny_spec(data=gaussian(128), optimizers=adam(2e-4), train_step=_diverges_after),
        steps=FIRST,
        max_steps=8 * FIRST,
        seed=0,
    )
    assert run.extensions and run.steps > FIRST
    assert "assert_generator_learns" in run.first_verdicts
    # Its first steps' verdict would stand (the smoke reports' judged_at), but the run
    # ended diverged: it is judged as it is, and the reports carry no judged_at.
    assert judged_at_first_steps(run, "assert_generator_learns") == FIRST
    assert ended_diverged(run)
    _fails_with_its_cause(run, (assert_losses_balanced, assert_generator_learns))


def test_a_diverged_conditional_run_fails_the_conditioning_check_with_its_cause() -> None:
    x, y = two_clusters()
    spec = tiny_spec(
        generator=CondG,
        discriminator=CondD,
        data=(x, y),
        num_classes=2,
        optimizers=lambda g, d: (
            torch.optim.SGD(g.parameters(), lr=1e30),
            torch.optim.SGD(d.parameters(), lr=1e-3),
        ),
    )
    run = train(spec, steps=6, seed=0)
    _fails_with_its_cause(run, (assert_conditioning_effective, assert_generator_learns))
