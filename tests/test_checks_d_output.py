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

from fixtures.loops import watched
from fixtures.steps import UserStep
from fixtures.zoo import HEALTHY, case
from pytest_gan import GANAssertionError, assert_d_output_fits_loss, assert_losses_finite, train
from pytest_gan.probing import final_layer, forced_outputs
from tests.tiny import CondG, hinge_step, make_d, tiny_spec, two_clusters

STEPS = 4


def sigmoid_d() -> nn.Module:
    return nn.Sequential(make_d(), nn.Sigmoid())


def tanh_d() -> nn.Module:
    return nn.Sequential(make_d(), nn.Tanh())


def softmax_d() -> nn.Module:
    # A classifier's head copied onto D's one output: Softmax(dim=1) over a (N, 1) score.
    return nn.Sequential(make_d(), nn.Softmax(dim=1))


def log_softmax_d() -> nn.Module:
    return nn.Sequential(make_d(), nn.LogSoftmax(dim=1))


def batchnorm_head_d() -> nn.Module:
    # A BatchNorm without parameters after the last Linear (so the Linear is the layer
    # forced): in train mode a batch of one forced value would normalise to 0 in both
    # directions; the probe runs D in eval mode.
    return nn.Sequential(make_d(), nn.BatchNorm1d(1, affine=False))


class LabelLastD(nn.Module):
    """A conditional D on a Sigmoid whose label term runs last and enters through its
    square (the last layer to run is the embedding, off the score's path): forcing it to
    +200 or -200 adds the same 160,000 to the logit, so D's Sigmoid saturates to one value
    in both directions though D's head is sound. Only its unforced outputs, which vary,
    tell it from a head that discards D's score."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, 32), nn.LeakyReLU(0.2), nn.Linear(32, 1))
        self.emb = nn.Embedding(2, 4)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(x) + self.emb(y).square().sum(dim=1, keepdim=True))


class LabelsDeclaredLastD(nn.Module):
    """A conditional D whose label embedding is declared after its layers but runs before
    them (as in aladdinpersson's conditional critic and the zoo's shapes-cgan): its final
    layer is the last to run, not the last declared. A normalisation after the first layer
    (the critic's InstanceNorm, here a LayerNorm) undoes a forced embedding's scale, so
    forcing the embedding does not saturate D."""

    def __init__(self, head: nn.Module | None = None) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(2 + 4, 32), nn.LayerNorm(32), nn.LeakyReLU(0.2), nn.Linear(32, 1)
        )
        self.head = head if head is not None else nn.Identity()
        self.emb = nn.Embedding(2, 4)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.head(self.net(torch.cat([x, self.emb(y)], dim=1)))


def _labels_declared_last(head: nn.Module | None = None, **overrides: Any) -> Any:
    return tiny_spec(
        generator=CondG,
        discriminator=lambda: LabelsDeclaredLastD(head),
        data=two_clusters(),
        num_classes=2,
        **overrides,
    )


def _bce_loss_module_conditional(ctx: Any, batch: Any) -> dict[str, torch.Tensor]:
    g, d, criterion = ctx.generator, ctx.discriminator, nn.BCELoss()
    x, y = batch
    n = x.shape[0]
    fake_y = ctx.labels(n)
    fake = g(ctx.latent(n), fake_y)
    ones, zeros = torch.ones(n, 1), torch.zeros(n, 1)
    ctx.opt_d.zero_grad()
    d_loss = criterion(d(x, y), ones) + criterion(d(fake.detach(), fake_y), zeros)
    d_loss.backward()
    ctx.opt_d.step()
    ctx.opt_g.zero_grad()
    g_loss = criterion(d(fake, fake_y), ones)
    g_loss.backward()
    ctx.opt_g.step()
    return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach()}


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
        "LogSoftmax over one output, hinge",
        lambda: tiny_spec(discriminator=log_softmax_d, loss="hinge"),
    ),
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
    ("BatchNorm after the last layer", lambda: tiny_spec(discriminator=batchnorm_head_d)),
    (
        "conditional D, label embedding registered last, nn.BCELoss",
        lambda: tiny_spec(
            generator=CondG,
            discriminator=LabelLastD,
            data=two_clusters(),
            num_classes=2,
            train_step=_bce_loss_module_conditional,
        ),
    ),
]


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("loss", ["lsgan", "bce", "hinge", "wgan-gp"])
def test_a_softmax_over_one_output_fails_under_any_loss(loss: str, seed: int) -> None:
    run = train(tiny_spec(discriminator=softmax_d, loss=loss), steps=STEPS, seed=seed)
    with pytest.raises(GANAssertionError, match="discards D's score") as caught:
        assert_d_output_fits_loss(run)
    assert caught.value.pitfall == "discriminator-wrong-activation"
    assert caught.value.evidence["d_output_span_forced"] == [1.0, 1.0]
    assert "Softmax" in caught.value.evidence["d_heads"]


def test_the_forced_span_of_a_linear_and_a_sigmoid_head() -> None:
    linear = train(tiny_spec(), steps=STEPS).history.saturation
    sigmoid = train(tiny_spec(discriminator=sigmoid_d, loss="lsgan"), steps=STEPS)
    assert linear is not None and linear.d_output_span_forced == [-200.0, 200.0]
    saturation = sigmoid.history.saturation
    assert saturation is not None and saturation.d_output_span_forced == [0.0, 1.0]
    batchnorm = train(tiny_spec(discriminator=batchnorm_head_d), steps=STEPS).history.saturation
    span = batchnorm.d_output_span_forced if batchnorm is not None else None
    assert span is not None and span[0] < -100 and span[1] > 100  # eval mode: running stats


def test_the_final_layer_is_the_last_to_run_not_the_last_declared() -> None:
    # Forcing the embedding declared last (the layer chosen before) left D's outputs
    # spread: no saturation; the last layer to run is the one whose output D returns.
    linear = train(_labels_declared_last(), steps=STEPS, seed=0)
    saturation = linear.history.saturation
    assert saturation is not None and saturation.d_output_span_forced == [-200.0, 200.0]
    assert saturation.d_output_at_saturation == 200.0
    d = linear.discriminator
    x, y = two_clusters(64, seed=1)
    assert final_layer(d, (x, y)) == "net.3"
    assert final_layer(d, None) == "emb"  # registration order, when D cannot be run
    for seed in range(3):
        squashed = train(_labels_declared_last(nn.Sigmoid()), steps=STEPS, seed=seed)
        with pytest.raises(GANAssertionError, match="squashes its scores") as caught:
            assert_d_output_fits_loss(squashed)
        assert caught.value.evidence["d_output_at_saturation"] == 1.0


class ScaledD(nn.Module):
    """A D with a learned scale of its own, applied before its Sigmoid: D itself holds a
    parameter and wraps its layers, so it begins before them and ends after them."""

    def __init__(self) -> None:
        super().__init__()
        self.net = make_d()
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(x) * self.scale)


def test_a_d_with_a_parameter_of_its_own_is_forced_at_its_inner_layer() -> None:
    # Forcing D itself would hand nn.BCELoss 200, which it refuses: the step would raise at
    # saturation, and a healthy run would fail.
    for seed in range(3):
        spec = tiny_spec(discriminator=ScaledD, train_step=_bce_loss_module)
        run = train(spec, steps=STEPS, seed=seed)
        saturation = run.history.saturation
        assert saturation is not None and saturation.d_output_at_saturation == 1.0, seed
        assert saturation.d_output_span_forced == [0.0, 1.0]
        assert_losses_finite(run)
        assert_d_output_fits_loss(run)
    d = run.discriminator
    assert final_layer(d, (torch.zeros(4, 2), None)) == "net.2"


def _fragile_conditional_step(ctx: Any, batch: Any) -> dict[str, torch.Tensor]:
    # log(D) and log(1 - D) on a Sigmoid head, typed out without an epsilon.
    g, d = ctx.generator, ctx.discriminator
    x, y = batch
    n = x.shape[0]
    fake_y = ctx.labels(n)
    fake = g(ctx.latent(n), fake_y)
    ctx.opt_d.zero_grad()
    d_loss = -(torch.log(d(x, y)) + torch.log(1 - d(fake.detach(), fake_y))).mean()
    d_loss.backward()
    ctx.opt_d.step()
    ctx.opt_g.zero_grad()
    g_loss = -torch.log(d(fake, fake_y)).mean()
    g_loss.backward()
    ctx.opt_g.step()
    return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach()}


@pytest.mark.parametrize("seed", range(3))
def test_a_fragile_loss_on_a_d_with_its_labels_declared_last_is_caught(seed: int) -> None:
    spec = _labels_declared_last(nn.Sigmoid(), train_step=_fragile_conditional_step)
    run = train(spec, steps=STEPS, seed=seed)
    with pytest.raises(GANAssertionError, match="numerically fragile") as caught:
        assert_losses_finite(run)
    assert caught.value.pitfall == "non-finite-loss"
    assert_d_output_fits_loss(run)  # a log loss on a Sigmoid: the right pairing


def test_a_watched_loop_forces_the_layer_d_runs_last() -> None:
    spec = _labels_declared_last(nn.Sigmoid(), train_step=_fragile_conditional_step)
    run = watched(spec, 5, 0)
    with pytest.raises(GANAssertionError, match="computed the watched loop's losses") as caught:
        assert_losses_finite(run)
    assert caught.value.pitfall == "non-finite-loss"
    assert run.history.saturation.d_output_span_forced == [0.0, 1.0]  # type: ignore[union-attr]


def test_the_conditional_d_forced_off_its_output_path_saturates_to_one_value() -> None:
    # The innocent half of the rule, shown: forcing LabelLastD's embedding (the last layer
    # to run) gives one value in both directions, so the rule must (and does) also ask for
    # unforced outputs.
    spec = tiny_spec(generator=CondG, discriminator=LabelLastD, data=two_clusters(), num_classes=2)
    run = train(spec, steps=STEPS, seed=0)
    x, y = two_clusters(64, seed=1)
    d = run.discriminator
    forced = [forced_outputs(d, (x, y), t) for t in (200.0, -200.0)]  # on copies of D
    assert all(f is not None for f in forced)
    assert len({float(v) for f in forced if f is not None for v in f.reshape(-1)}) == 1
    span = run.history.saturation.d_output_span_forced  # type: ignore[union-attr]
    assert span is not None and span[0] < span[1]


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
