"""The wiring checks and the finite-loss check: every planted twin caught with its
pitfall id on 10 seeds, the healthy references and loops passing.

These verdicts read exact records (a leaked or stale gradient, a missing optimizer, a NaN
at saturation) that appear from the first steps, so short runs suffice; the full-length
runs of the zoo are exercised by the statistical checks' tests.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from torch.nn import functional as F

import pytest_gan
from fixtures.steps import UserStep
from fixtures.zoo import HEALTHY, case
from pytest_gan import (
    PITFALLS,
    GANAssertionError,
    GANTrainingError,
    GANWarning,
    GANWastedBackwardWarning,
    assert_d_step_isolated,
    assert_gradients_zeroed,
    assert_losses_finite,
    assert_optimizers_cover,
    train,
)
from pytest_gan.deciding import recorded_failures
from tests.tiny import tiny_spec

Check = Callable[..., None]
SEEDS = range(10)
STEPS = 6

TWINS: list[tuple[str, Check]] = [
    ("d-step-leaks-into-generator", assert_d_step_isolated),
    ("gradient-accumulation", assert_gradients_zeroed),
    ("optimizer-misses-parameters", assert_optimizers_cover),
    ("non-finite-loss", assert_losses_finite),
]
CHECKS = [check for _, check in TWINS]


@pytest.mark.parametrize(("pitfall", "check"), TWINS)
def test_each_twin_is_caught_with_its_pitfall_on_every_seed(pitfall: str, check: Check) -> None:
    spec = case(pitfall).spec()
    for seed in SEEDS:
        run = train(spec, steps=STEPS, seed=seed)
        with pytest.raises(GANAssertionError) as caught:
            check(run)
        assert caught.value.pitfall == pitfall, seed
        assert isinstance(caught.value, AssertionError) and caught.value.evidence


@pytest.mark.parametrize("name", sorted(HEALTHY))
def test_the_healthy_references_pass_on_every_seed(name: str) -> None:
    spec = case(name).spec()
    for seed in range(3 if name == "scenes-dcgan" else 5):
        run = train(spec, steps=STEPS, seed=seed)
        for check in CHECKS:
            check(run)


@pytest.mark.parametrize(
    "step",
    [
        None,
        UserStep(),
        UserStep(zero_grad_style="module"),
        UserStep(zero_grad_style="in-place"),
        UserStep(loss="wgan-gp", n_critic=2),
    ],
)
def test_healthy_loops_pass_every_wiring_check(step: UserStep | None) -> None:
    for seed in range(20):
        run = train(tiny_spec(train_step=step), steps=4, seed=seed)
        for check in CHECKS:
            check(run)


def test_the_leak_message_reads_top_down() -> None:
    run = train(case("d-step-leaks-into-generator").spec(), steps=STEPS)
    with pytest.raises(GANAssertionError) as caught:
        assert_d_step_isolated(run)
    text = str(caught.value)
    lines = text.splitlines()
    assert lines[0].startswith(
        "Gradient from the discriminator's loss reached the generator's update in "
        f"{STEPS} of {STEPS}"
    )
    assert "figure" in lines[2] and "measured" in lines[2] and "healthy" in lines[2]
    assert "Pitfall: d-step-leaks-into-generator" in text
    assert "Fix: Feed D fake.detach()" in text
    assert caught.value.evidence["leaking_steps"] == STEPS
    assert caught.value.evidence["harmful_steps"] == STEPS


# A missing .detach() in two grades: where the stray gradient reaches G's update, and where
# G's zero_grad() clears it first (the order of the PyTorch DCGAN example's loop).
HARMFUL_LEAKS = [
    UserStep(detach=False, zero_grad_g_first=True),  # G's zero_grad before D's step
    UserStep(detach=False, zero_grad_g_first=True, zero_grad_style="in-place"),
    UserStep(detach=False, zero_grad_g_first=True, zero_grad_style="module"),
]
WASTEFUL_LEAKS = [
    UserStep(detach=False),
    UserStep(detach=False, zero_grad_style="in-place"),
    UserStep(detach=False, zero_grad_style="module"),
    UserStep(detach=False, loss="wgan-gp", n_critic=3),
]


@pytest.mark.parametrize("step", HARMFUL_LEAKS)
def test_a_leak_that_reaches_gs_update_fails(step: UserStep) -> None:
    for seed in range(5):
        run = train(tiny_spec(train_step=step), steps=4, seed=seed)
        with pytest.raises(GANAssertionError) as caught:
            assert_d_step_isolated(run)
        assert caught.value.pitfall == "d-step-leaks-into-generator"
        assert caught.value.evidence["harmful_steps"] == 4


@pytest.mark.parametrize("step", WASTEFUL_LEAKS)
def test_a_leak_cleared_before_gs_step_passes_with_a_warning(step: UserStep) -> None:
    for seed in range(5):
        run = train(tiny_spec(train_step=step), steps=4, seed=seed)
        assert run.history.events["d_step_g_grads"]["count"] == 4
        assert "d_leak_in_g_step" not in run.history.events
        with pytest.warns(GANWastedBackwardWarning, match="backward pass through G is wasted"):
            assert_d_step_isolated(run)
        assert issubclass(GANWastedBackwardWarning, GANWarning)


def _d_loss(ctx: Any, batch: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """BCE on logits for D, on ``fake`` as given (detached or not)."""
    d_real, d_fake = ctx.discriminator(batch), ctx.discriminator(fake)
    return F.softplus(-d_real).mean() + F.softplus(d_fake).mean()


def _one_fake_undetached_step(ctx: Any, batch: torch.Tensor) -> dict[str, Any]:
    """The textbook step with ``.detach()`` left out of D's loss and G's fakes reused for
    G's loss: D's backward frees G's graph, and G's backward raises."""
    fake = ctx.generator(ctx.latent(batch.shape[0]))
    ctx.opt_d.zero_grad()
    d_loss = _d_loss(ctx, batch, fake)
    d_loss.backward()
    ctx.opt_d.step()
    ctx.opt_g.zero_grad()
    g_loss = F.softplus(-ctx.discriminator(fake)).mean()
    g_loss.backward()
    ctx.opt_g.step()
    return {"d_loss": d_loss, "g_loss": g_loss}


def _g_first_then_undetached_d(keep_g_graph: bool) -> Callable[..., dict[str, Any]]:
    """G's step first, then D's on the same fakes without ``.detach()``. D's backward
    reaches the graph G's backward freed, or, with ``keep_g_graph``, G's weights that
    G's step changed in place."""

    def step(ctx: Any, batch: torch.Tensor) -> dict[str, Any]:
        fake = ctx.generator(ctx.latent(batch.shape[0]))
        ctx.opt_g.zero_grad()
        F.softplus(-ctx.discriminator(fake)).mean().backward(retain_graph=keep_g_graph)
        ctx.opt_g.step()
        ctx.opt_d.zero_grad()
        d_loss = _d_loss(ctx, batch, fake)
        d_loss.backward()
        ctx.opt_d.step()
        return {"d_loss": d_loss, "g_loss": d_loss}

    return step


def test_a_step_that_frees_gs_graph_in_ds_backward_is_told_why() -> None:
    # Before G's backward raised, D's step found G written with D trainable: said, with the
    # likely cause.
    with pytest.raises(GANTrainingError) as raised:
        train(tiny_spec(train_step=_one_fake_undetached_step, name="undetached"), steps=3)
    message = str(raised.value)
    assert "the training step raised at step 0 of 3: RuntimeError: Trying to backward" in message
    assert "found 4 of G's 4 parameter tensors written by a backward pass run while D" in message
    assert "most likely D's loss reached G through fakes that were not detached" in message
    assert "fake.detach()" in message and "d-step-leaks-into-generator" in message
    # G's step first: D's backward raises before any optimizer step saw it; the likely cause.
    with pytest.raises(GANTrainingError, match=r"the usual cause is D's loss computed on G's"):
        train(tiny_spec(train_step=_g_first_then_undetached_d(False)), steps=3)
    # Uninstrumented, the same loop gets the likely cause too.
    with pytest.raises(GANTrainingError, match=r"the usual cause is D's loss computed on G's"):
        train(tiny_spec(train_step=_one_fake_undetached_step), steps=3, instrument=False)


def _stale_scores_step(ctx: Any, batch: torch.Tensor) -> dict[str, Any]:
    """G's loss reuses the scores D's loss used, after D's optimizer step changed D's
    weights in place: G's backward raises."""
    fake = ctx.generator(ctx.latent(batch.shape[0]))
    d_fake = ctx.discriminator(fake)
    d_loss = F.softplus(-ctx.discriminator(batch)).mean() + F.softplus(d_fake).mean()
    ctx.opt_d.zero_grad()
    d_loss.backward(retain_graph=True)
    ctx.opt_d.step()
    g_loss = F.softplus(-d_fake).mean()
    ctx.opt_g.zero_grad()
    g_loss.backward()
    ctx.opt_g.step()
    return {"d_loss": d_loss, "g_loss": g_loss}


def test_a_loss_on_scores_from_before_ds_step_is_told_why() -> None:
    with pytest.raises(GANTrainingError) as raised:
        train(tiny_spec(train_step=_stale_scores_step), steps=3)
    message = str(raised.value)
    assert "RuntimeError: one of the variables needed for gradient computation" in message
    assert "D's optimizer stepped earlier in this step" in message
    assert "a fresh D(fake) after opt_d.step()" in message
    assert "is the other cause" in message
    assert "fake.detach()" not in message  # the leak is there, but it did not raise
    with pytest.raises(GANTrainingError, match=r"the usual cause is a loss computed from"):
        train(tiny_spec(train_step=_stale_scores_step), steps=3, instrument=False)


def _critic_loop_undetached_step(ctx: Any, batch: torch.Tensor) -> dict[str, Any]:
    """Two D steps, each on fresh fakes not detached; G's loss reuses the last ones."""
    for _ in range(2):
        fake = ctx.generator(ctx.latent(batch.shape[0]))
        ctx.opt_d.zero_grad()
        d_loss = _d_loss(ctx, batch, fake)
        d_loss.backward()
        ctx.opt_d.step()
    ctx.opt_g.zero_grad()
    F.softplus(-ctx.discriminator(fake)).mean().backward()
    ctx.opt_g.step()
    return {"d_loss": d_loss, "g_loss": d_loss}


def test_the_hint_counts_gs_tensors_per_d_step() -> None:
    # The counter sums over the step's two D steps (8); G has 4 tensors.
    with pytest.raises(GANTrainingError, match=r"found 4 of G's 4 parameter tensors"):
        train(tiny_spec(train_step=_critic_loop_undetached_step), steps=3)


def _leak_then_raise_in_ds_backward(ctx: Any, batch: torch.Tensor) -> dict[str, Any]:
    """A harmless leak at step 0; at step 1, D's backward through a freed graph of D's own
    (D's scores of the real batch back-propagated twice) before any D step."""
    fake = ctx.generator(ctx.latent(batch.shape[0]))
    d_real = ctx.discriminator(batch)
    d_loss = F.softplus(-d_real).mean() + F.softplus(ctx.discriminator(fake)).mean()
    ctx.opt_d.zero_grad()
    d_loss.backward()
    if ctx.step == 1:
        F.softplus(-d_real).mean().backward()
    ctx.opt_d.step()
    ctx.opt_g.zero_grad()
    g_loss = F.softplus(-ctx.discriminator(ctx.generator(ctx.latent(batch.shape[0])))).mean()
    g_loss.backward()
    ctx.opt_g.step()
    return {"d_loss": d_loss, "g_loss": g_loss}


def test_the_hint_reads_only_the_step_that_raised() -> None:
    # Step 0's leak was counted in step 0's row; step 1 raised before its D step.
    with pytest.raises(GANTrainingError) as raised:
        train(tiny_spec(train_step=_leak_then_raise_in_ds_backward), steps=3)
    assert "raised at step 1 of 3" in str(raised.value)
    assert "the usual cause is D's loss computed on G's output" in str(raised.value)


def test_an_in_place_error_after_gs_step_names_the_missing_detach() -> None:
    with pytest.raises(GANTrainingError) as raised:
        train(tiny_spec(train_step=_g_first_then_undetached_d(True)), steps=3)
    message = str(raised.value)
    assert "modified by an inplace operation" in message
    assert "G's optimizer stepped earlier in this step" in message
    assert "Score fake.detach() in D's step" in message
    assert "a fresh D(fake)" not in message


def test_any_other_error_of_a_step_gets_no_hint() -> None:
    def step(ctx: Any, batch: torch.Tensor) -> dict[str, Any]:
        fake = ctx.generator(ctx.latent(batch.shape[0]))  # not detached: the leak is there,
        ctx.opt_d.zero_grad()
        F.softplus(ctx.discriminator(fake)).mean().backward()
        ctx.opt_d.step()
        raise RuntimeError("shapes do not match")  # the error is not its

    with pytest.raises(GANTrainingError) as raised:
        train(tiny_spec(train_step=step), steps=3)
    assert str(raised.value).endswith("RuntimeError: shapes do not match")


def test_one_optimizer_for_both_networks_applies_the_leak_at_once() -> None:
    def shared(g: torch.nn.Module, d: torch.nn.Module) -> tuple[torch.optim.Optimizer, ...]:
        opt = torch.optim.Adam([*g.parameters(), *d.parameters()], lr=2e-4)
        return opt, opt

    run = train(tiny_spec(train_step=UserStep(detach=False), optimizers=shared), steps=3)
    with pytest.raises(GANAssertionError) as caught:
        assert_d_step_isolated(run)
    assert caught.value.pitfall == "d-step-leaks-into-generator"


def test_the_coverage_message_names_the_crossed_optimizer() -> None:
    run = train(case("optimizer-misses-parameters").spec(), steps=2)
    with pytest.raises(
        GANAssertionError, match="opt_g was built over the discriminator's parameters"
    ) as caught:
        assert_optimizers_cover(run)
    assert caught.value.evidence["opt_g_generator"]["covered"] == 0
    assert "generator parameters in no optimizer" in str(caught.value)


def test_a_partial_optimizer_lists_what_it_misses() -> None:
    def partial(
        g: torch.nn.Module, d: torch.nn.Module
    ) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
        return torch.optim.Adam(g[0].parameters()), torch.optim.Adam(d.parameters())

    run = train(tiny_spec(optimizers=partial), steps=2)
    with pytest.raises(
        GANAssertionError, match=r"generator parameters in no optimizer: 2.weight, 2.bias"
    ):
        assert_optimizers_cover(run)


def test_a_loss_that_is_nan_in_the_run_is_reported_with_its_step() -> None:
    def step(ctx: object, batch: torch.Tensor) -> dict[str, float]:
        return {"d_loss": float("nan") if ctx.step >= 3 else 1.0, "g_loss": 1.0}

    run = train(tiny_spec(train_step=step), steps=5)
    with pytest.raises(
        GANAssertionError, match="d_loss turned NaN or infinite during the run, first at step 3"
    ) as caught:
        assert_losses_finite(run)
    assert caught.value.pitfall == "non-finite-loss"


def test_the_saturation_message_explains_the_probe() -> None:
    run = train(case("non-finite-loss").spec(), steps=2)
    with pytest.raises(GANAssertionError, match="numerically fragile") as caught:
        assert_losses_finite(run)
    assert "+/-200" in str(caught.value)
    assert set(caught.value.evidence["nonfinite"]) == {"real", "fake"}


def _fixed_batch_step(batch_size: int, fragile: bool = False) -> Callable[..., dict[str, Any]]:
    """A user step that sizes z and its labels by a batch size of its own, as much public
    code does (``valid = torch.ones(opt.batch_size, 1)``); ``fragile`` writes D's loss as
    a log of a sigmoid with no epsilon."""
    valid, fake_label = torch.ones(batch_size, 1), torch.zeros(batch_size, 1)
    bce = torch.nn.BCEWithLogitsLoss()

    def step(ctx: Any, x: torch.Tensor) -> dict[str, Any]:
        g, d = ctx.generator, ctx.discriminator
        fake = g(torch.randn(batch_size, *ctx.latent_shape))
        ctx.opt_d.zero_grad()
        if fragile:
            d_loss = -(
                torch.log(torch.sigmoid(d(x))) + torch.log(1 - torch.sigmoid(d(fake.detach())))
            ).mean()
        else:
            d_loss = bce(d(x), valid) + bce(d(fake.detach()), fake_label)
        d_loss.backward()
        ctx.opt_d.step()
        ctx.opt_g.zero_grad()
        g_loss = bce(d(fake), valid)
        g_loss.backward()
        ctx.opt_g.step()
        return {"d_loss": d_loss, "g_loss": g_loss}

    return step


@pytest.mark.parametrize("batch_size", [32, 100])
def test_a_step_with_a_batch_size_of_its_own_is_probed_at_that_size(batch_size: int) -> None:
    # The saturation probe ran the step on 64 samples: a step sized for 32 raised there,
    # and the error read as a fragile loss (and its loss as a critic's).
    spec = tiny_spec(train_step=_fixed_batch_step(batch_size), batch_size=batch_size)
    run = train(spec, steps=4)
    assert_losses_finite(run)
    saturation = run.history.saturation
    assert saturation is not None and saturation.d_loss_reads == "logit"
    assert "error" not in (saturation.real or {}) and "error" not in (saturation.fake or {})
    # A fragile loss in the same step is still caught.
    fragile = train(replace(spec, train_step=_fixed_batch_step(batch_size, fragile=True)), steps=4)
    with pytest.raises(GANAssertionError, match="numerically fragile") as caught:
        assert_losses_finite(fragile)
    assert caught.value.pitfall == "non-finite-loss"


def test_a_step_that_cannot_run_on_the_probes_copies_is_not_judged_by_them() -> None:
    """A step bound to the networks it first saw raises on any copy, saturated or not:
    that is no evidence of a fragile loss. Its run's own losses are judged, with a warning
    that says the probe could not run; a step that raises only under saturation fails."""
    seen: list[torch.nn.Module] = []
    inner = UserStep()

    def bound(ctx: Any, x: torch.Tensor) -> dict[str, Any]:
        seen.append(seen[0] if seen else ctx.generator)
        if ctx.generator is not seen[0]:
            raise RuntimeError("this step only trains the generator it was built for")
        return inner(ctx, x)

    run = train(tiny_spec(train_step=bound), steps=4)
    with pytest.warns(GANWarning, match="could not run the training step.*built for"):
        assert_losses_finite(run)

    def raises_saturated(ctx: Any, x: torch.Tensor) -> dict[str, Any]:
        losses = inner(ctx, x)
        if not bool(torch.isfinite(torch.log(torch.sigmoid(-ctx.discriminator(x)))).all()):
            raise FloatingPointError("log of zero")
        return losses

    run = train(tiny_spec(train_step=raises_saturated), steps=4)
    with pytest.raises(GANAssertionError, match="The step raised: real: FloatingPointError"):
        assert_losses_finite(run)


def test_a_guarded_fragile_loss_is_caught_when_training_already_saturated_d() -> None:
    """A step that raises on a non-finite D loss (written as logs of sigmoids), run on a D
    that training itself left saturated: it raises with D as it is, but not with D's
    output forced to 0, so the probe's finding stands."""

    def guarded(ctx: Any, x: torch.Tensor) -> dict[str, Any]:
        g, d = ctx.generator, ctx.discriminator
        fake = g(ctx.latent(x.shape[0]))
        ctx.opt_d.zero_grad()
        d_loss = -(torch.log(torch.sigmoid(d(x))) + torch.log(1 - torch.sigmoid(d(fake.detach()))))
        d_loss = d_loss.mean()
        if not bool(torch.isfinite(d_loss)):
            raise FloatingPointError("d_loss is not finite")
        d_loss.backward()
        ctx.opt_d.step()
        ctx.opt_g.zero_grad()
        g_loss = torch.nn.functional.softplus(-d(fake)).mean()
        g_loss.backward()
        ctx.opt_g.step()
        return {"d_loss": d_loss, "g_loss": g_loss}

    def saturating(
        g: torch.nn.Module, d: torch.nn.Module
    ) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
        # One step of this D optimizer leaves D's scores far beyond float32 sigmoid's range.
        return torch.optim.Adam(g.parameters()), torch.optim.SGD(d.parameters(), lr=1e4)

    run = train(tiny_spec(train_step=guarded, optimizers=saturating), steps=1)
    assert all(math.isfinite(v) for v in run.history["d_loss"])
    with torch.no_grad():
        assert float(run.discriminator(run.real(64)).abs().max()) > 104
    with pytest.raises(GANAssertionError, match="The step raised: real: FloatingPointError"):
        assert_losses_finite(run)


@pytest.mark.parametrize("check", CHECKS)
def test_checks_refuse_what_is_not_a_run(check: Check) -> None:
    with pytest.raises(TypeError, match="run must be a GANRun"):
        check(torch.zeros(3))
    bare = train(tiny_spec(), steps=2, instrument=False)
    with pytest.raises(ValueError, match="instrument=False"):
        check(bare)


def test_the_catalog_names_every_check_and_its_fix() -> None:
    assert len(PITFALLS) == 18
    index = (Path(__file__).parents[1] / "docs" / "pitfalls" / "index.md").read_text()
    for pitfall_id, entry in PITFALLS.items():
        assert entry.id == pitfall_id and entry.title and entry.symptom and entry.fix and entry.why
        assert entry.check.startswith("assert_")
        assert hasattr(pytest_gan, entry.check), entry.check
        assert Path(entry.doc).name in index and (Path(__file__).parents[1] / entry.doc).exists()
    with pytest.raises(TypeError):
        PITFALLS["new"] = PITFALLS["blank-output"]  # type: ignore[index]


def test_tensors_written_are_counted_per_d_step_not_per_step() -> None:
    # Three critic iterations per G step each write G's 4 tensors: 12 writes a step, but
    # at most 4 of the 4 tensors per D step, which is what the figure says.
    run = train(tiny_spec(train_step=UserStep(detach=False, loss="wgan-gp", n_critic=3)), steps=4)
    assert max(run.history["d_step_g_grads"]) == 12
    with pytest.warns(GANWastedBackwardWarning, match="up to 4 of 4 G parameter tensors written"):
        assert_d_step_isolated(run)
    harmful = UserStep(detach=False, zero_grad_g_first=True, loss="wgan-gp", n_critic=3)
    with pytest.raises(GANAssertionError) as caught:
        assert_d_step_isolated(train(tiny_spec(train_step=harmful), steps=4))
    assert caught.value.evidence["max_g_tensors_written"] == 4


def _accumulating_step(
    detach: bool, freeze: bool = True
) -> Callable[[Any, torch.Tensor], dict[str, torch.Tensor]]:
    """A user's step that accumulates two micro-batches per optimizer step across calls:
    both optimizers reset on even calls and step on odd ones, D frozen for G's backward
    (StyleGAN2-ADA's phases; not with ``freeze=False``). G's backward of the first call
    runs before D's step."""

    def step(ctx: Any, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        g, d = ctx.generator, ctx.discriminator
        first = ctx.step % 2 == 0
        if first:
            ctx.opt_d.zero_grad()
            ctx.opt_g.zero_grad()
        fake = g(ctx.latent(batch.shape[0]))
        shown = fake.detach() if detach else fake
        d_loss = (
            torch.nn.functional.softplus(-d(batch)).mean()
            + torch.nn.functional.softplus(d(shown)).mean()
        ) / 2
        d_loss.backward(retain_graph=not detach)
        if not first:
            ctx.opt_d.step()
        d.requires_grad_(not freeze)
        g_loss = torch.nn.functional.softplus(-d(fake)).mean() / 2
        g_loss.backward()
        d.requires_grad_(True)
        if not first:
            ctx.opt_g.step()
        return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach()}

    return step


# A new user's tabular and time-series GANs accumulating this way failed on every seed as
# d-step-leaks-into-generator (200 of 200 steps): G's own backward of the first call had
# written G's gradients before D's step, which the leak test read as D's. It now counts
# only G gradients written while D is trainable (a pass with D frozen is G's own).
@pytest.mark.parametrize("seed", range(3))
def test_gradients_accumulated_over_calls_are_no_leak_and_a_missing_detach_still_is(
    seed: int,
) -> None:
    run = train(tiny_spec(train_step=_accumulating_step(detach=True)), steps=8, seed=seed)
    assert "d_step_g_grads" not in run.history.events
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert_d_step_isolated(run)
        assert_gradients_zeroed(run)
    leaking = train(tiny_spec(train_step=_accumulating_step(detach=False)), steps=8, seed=seed)
    with pytest.raises(GANAssertionError) as caught:
        assert_d_step_isolated(leaking)
    assert caught.value.pitfall == "d-step-leaks-into-generator"
    assert caught.value.evidence["harmful_steps"] == 4  # every optimizer step of the 8 calls


def _micro_batch_step(ctx: Any, batch: torch.Tensor) -> dict[str, Any]:
    """A new user's accumulation over two micro-batches per optimizer step: D's loss on
    detached fakes, then G's with D left trainable, each divided by 2; both optimizers
    step after the micro-batches and reset after their steps."""
    g, d = ctx.generator, ctx.discriminator
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    d_total = g_total = 0.0
    for x in batch.chunk(2):
        fake = g(ctx.latent(x.shape[0]))
        ones, zeros = torch.ones(x.shape[0], 1), torch.zeros(x.shape[0], 1)
        d_loss = (bce(d(x), ones) + bce(d(fake.detach()), zeros)) / 2
        d_loss.backward()
        g_loss = bce(d(fake), ones) / 2
        g_loss.backward()
        d_total, g_total = d_total + d_loss.item(), g_total + g_loss.item()
    ctx.opt_d.step()
    ctx.opt_d.zero_grad()
    ctx.opt_g.step()
    ctx.opt_g.zero_grad()
    return {"d_loss": d_total, "g_loss": g_total}


def _real_first_undetached_step(ctx: Any, batch: torch.Tensor) -> dict[str, Any]:
    """One pass of D's loss on undetached fakes, D run on the real batch before G runs
    (the backward then writes some D parameters after G's); G reset after its step."""
    g, d = ctx.generator, ctx.discriminator
    softplus = torch.nn.functional.softplus
    ctx.opt_d.zero_grad()
    d_real = d(batch)
    fake = g(ctx.latent(batch.shape[0]))
    d_loss = softplus(-d_real).mean() + softplus(d(fake)).mean()
    d_loss.backward(retain_graph=True)
    ctx.opt_d.step()
    g_loss = softplus(-d(fake)).mean()
    g_loss.backward()
    ctx.opt_g.step()
    ctx.opt_g.zero_grad()
    return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach()}


def test_an_accumulating_loop_that_leaves_d_trainable_for_gs_backward_is_told_both_ways() -> None:
    # A new user's loop, accumulating over micro-batches without freezing D for G's
    # backward: its fakes are detached, but G's loss writes D's gradients, which D's step
    # applies. A pass writing both networks' gradients before D's step cannot be told from
    # D's loss through undetached fakes; the message said only the latter (its fix,
    # detaching, changed nothing). It now names both, and their fixes.
    run = train(tiny_spec(train_step=_micro_batch_step), steps=8)
    assert "d_step_g_grads_over_passes" in run.history.events
    with pytest.raises(GANAssertionError, match="G's own loss run with D trainable") as caught:
        assert_d_step_isolated(run)
    assert caught.value.pitfall == "d-step-leaks-into-generator"
    assert caught.value.evidence["over_several_passes"] is True
    assert "requires_grad_(False)" in str(caught.value)
    # Where the loop freezes D for G's backward, a pass with D trainable is D's loss: the
    # message names the missing detach alone. So it does where no pass accumulated, and
    # where the passes accumulate across calls with one write of G before D's step (D's
    # parameters written after G's in one pass, D(real) being computed before G(z), are
    # no second pass).
    steps = (
        _accumulating_step(False),
        UserStep(detach=False, zero_grad_g_first=True),
        _accumulating_step(True, freeze=False),
        _real_first_undetached_step,
    )
    for step in steps:
        leaking = train(tiny_spec(train_step=step), steps=8)
        assert "d_step_g_grads_over_passes" not in leaking.history.events
        with pytest.raises(GANAssertionError, match="the fakes shown to D are not detached") as c:
            assert_d_step_isolated(leaking)
        assert c.value.evidence["over_several_passes"] is False


def test_the_same_loop_under_watch_is_judged_alike() -> None:
    import pytest_gan as pg
    from tests.tiny import LATENT, gaussian, make_d, make_g

    data = gaussian()
    for detach in (True, False):
        torch.manual_seed(0)
        g, d = make_g(), make_d()
        opt_g = torch.optim.Adam(g.parameters(), 2e-4, betas=(0.5, 0.999))
        opt_d = torch.optim.Adam(d.parameters(), 2e-4, betas=(0.5, 0.999))
        step = _accumulating_step(detach)
        with pg.watch(g, d, opt_g, opt_d, data=data, latent_dim=LATENT) as run:
            for i in range(12):
                ctx = SimpleNamespace(
                    generator=g,
                    discriminator=d,
                    opt_g=opt_g,
                    opt_d=opt_d,
                    step=i,
                    latent=lambda n: torch.randn(n, LATENT),
                )
                step(ctx, data[64 * i : 64 * (i + 1)])
        if detach:
            assert_d_step_isolated(run)
        else:
            with pytest.raises(GANAssertionError, match="not detached"):
                assert_d_step_isolated(run)


class _CheckpointedD(torch.nn.Module):
    """The tiny D under reentrant activation checkpointing: its parameters get their
    gradients in a nested backward pass of their own."""

    def __init__(self) -> None:
        super().__init__()
        from tests.tiny import make_d

        self.net = make_d()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from torch.utils.checkpoint import checkpoint

        out = checkpoint(self.net, x, use_reentrant=True)
        assert isinstance(out, torch.Tensor)
        return out


def test_a_missing_detach_is_caught_under_reentrant_checkpointing() -> None:
    step = UserStep(detach=False, zero_grad_g_first=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # checkpoint's warning on the real batch's input
        run = train(tiny_spec(discriminator=_CheckpointedD, train_step=step), steps=4)
    with pytest.raises(GANAssertionError) as caught:
        assert_d_step_isolated(run)
    assert caught.value.pitfall == "d-step-leaks-into-generator"
    assert caught.value.evidence["harmful_steps"] == 4


def _g_first_step(
    *, zero_d: str, third_optimizer: bool = False, freeze_d_for_g: bool = False, joint: bool = False
) -> Callable[..., dict[str, Any]]:
    """A step that trains G first, then D. ``zero_d``: where D's gradients are reset,
    "before-d" (right before D's backward: correct), "top" (with G's, at the top of the
    step, before G's backward reaches D) or "nowhere". ``third_optimizer``: a third Adam
    over both networks, reset and stepped after D's step on a loss of its own (an
    InfoGAN's info optimizer). ``freeze_d_for_g``: D's backward first, then G's step with
    D frozen, then D's step (D's gradient is D's loss's alone). ``joint``: after D's step,
    both networks reset, one loss meant to train both (an InfoGAN's info loss without a
    third optimizer), and G's step, then D's."""
    third: dict[int, torch.optim.Optimizer] = {}

    def step(ctx: Any, real: torch.Tensor) -> dict[str, Any]:
        g, d = ctx.generator, ctx.discriminator
        n = real.shape[0]
        bce = torch.nn.functional.binary_cross_entropy_with_logits
        if zero_d == "top":
            ctx.opt_d.zero_grad()
        fake = g(ctx.latent(n))
        if freeze_d_for_g:
            ctx.opt_d.zero_grad()
            d_loss = bce(d(real), torch.ones(n, 1)) + bce(d(fake.detach()), torch.zeros(n, 1))
            d_loss.backward()
            d.requires_grad_(False)
        ctx.opt_g.zero_grad()
        g_loss = bce(d(fake), torch.ones(n, 1))
        g_loss.backward()
        ctx.opt_g.step()
        if freeze_d_for_g:
            d.requires_grad_(True)
        else:
            if zero_d == "before-d":
                ctx.opt_d.zero_grad()
            d_loss = bce(d(real), torch.ones(n, 1)) + bce(d(fake.detach()), torch.zeros(n, 1))
            d_loss.backward()
        ctx.opt_d.step()
        if joint:
            ctx.opt_g.zero_grad()
            ctx.opt_d.zero_grad()
            z = ctx.latent(n)
            (d(g(z)) - z[:, :1]).pow(2).mean().backward()
            ctx.opt_g.step()
            ctx.opt_d.step()
        if third_optimizer:
            if id(ctx.opt_d) not in third:
                params = [*g.parameters(), *d.parameters()]
                third[id(ctx.opt_d)] = torch.optim.Adam(params, 1e-4)
            opt_info = third[id(ctx.opt_d)]
            opt_info.zero_grad()
            z = ctx.latent(n)
            info_loss = (d(g(z)) - z[:, :1]).pow(2).mean()
            info_loss.backward()
            opt_info.step()
        return {"d_loss": d_loss, "g_loss": g_loss}

    return step


def test_a_d_step_on_gs_loss_gradient_fails_though_something_reset_d_before() -> None:
    # An InfoGAN's third optimizer resets both networks after D's step, so a deleted
    # opt_d.zero_grad() leaves no stale gradient of D's own: D's step applies G's loss's
    # gradient through D instead (benchmarks/trial_outside_zoo_5.py, infogan-no-zero-grad-d).
    healthy = train(
        tiny_spec(train_step=_g_first_step(zero_d="before-d", third_optimizer=True)), steps=6
    )
    assert_gradients_zeroed(healthy)
    broken = train(
        tiny_spec(train_step=_g_first_step(zero_d="nowhere", third_optimizer=True)), steps=6
    )
    with pytest.raises(GANAssertionError) as caught:
        assert_gradients_zeroed(broken)
    assert caught.value.pitfall == "gradient-accumulation"
    assert "written into D before the generator's step" in str(caught.value)
    assert caught.value.evidence["discriminator_carried_steps"] == 6
    assert caught.value.evidence["first_step"] == 0
    # One zero_grad() for both at the top of a step that trains G first: the same harm.
    top = train(tiny_spec(train_step=_g_first_step(zero_d="top")), steps=6)
    with pytest.raises(GANAssertionError, match="before the generator's step"):
        assert_gradients_zeroed(top)
    assert recorded_failures(top.history) == ["gradient-accumulation"]
    # D's own loss's backward before G's step, G's backward with D frozen, then D's step:
    # D's gradient is its own loss's alone.
    frozen = train(tiny_spec(train_step=_g_first_step(zero_d="", freeze_d_for_g=True)), steps=6)
    assert_gradients_zeroed(frozen)
    # One loss meant for both networks, both reset before it, G stepped first: nothing was
    # added to D's gradient between G's step and D's.
    assert_gradients_zeroed(
        train(tiny_spec(train_step=_g_first_step(zero_d="before-d", joint=True)), steps=6)
    )
    # Without the third optimizer's reset, a deleted zero_grad() is stale as before.
    stale = train(tiny_spec(train_step=_g_first_step(zero_d="nowhere")), steps=6)
    with pytest.raises(GANAssertionError, match="not reset since its previous step"):
        assert_gradients_zeroed(stale)


def test_the_outside_infogans_deleted_d_reset_is_caught_and_its_original_passes() -> None:
    from benchmarks.trial_outside_zoo_5 import TRIALS

    assert_gradients_zeroed(train(TRIALS["infogan"](), steps=3, seed=0))
    broken = train(TRIALS["infogan-no-zero-grad-d"](), steps=3, seed=0)
    assert "d_stale_grads" not in broken.history.events  # hidden from the stale count
    with pytest.raises(GANAssertionError, match="before the generator's step"):
        assert_gradients_zeroed(broken)
