"""assert_lipschitz: D's gradient norms at interpolates, for critics meant to be constrained."""

from __future__ import annotations

import math
import warnings
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd import grad as torch_grad
from torch.nn.utils.parametrizations import spectral_norm

from fixtures.steps import UserStep
from fixtures.zoo import case
from pytest_gan import (
    GANAssertionError,
    GANNotApplicableWarning,
    GANSpec,
    GANTrainingError,
    instrument,
    train,
)
from pytest_gan.checks.lipschitz import (
    MAX_LIPSCHITZ,
    MAX_LIPSCHITZ_PENALISED,
    TAKEN,
    assert_lipschitz,
    folded_penalty,
    interpolate_gradient_norms,
    lipschitz_constraints,
    run_gradient_norms,
    spectral_norms,
)
from pytest_gan.instrument import PENALTY_GRADIENT, PENALTY_IN_D_LOSS
from tests.tiny import LATENT, gaussian, make_g, tiny_spec


# Without create_graph=True the penalty never reaches D, and the 90th percentile of the
# critic's gradient norms reaches 25-45 within 20 steps, seeds 0-9
# (benchmarks/results/calibrate-lipschitz-20-steps.json).
@pytest.mark.parametrize("seed", range(10))
def test_the_penalty_without_create_graph_twin_is_caught(seed: int) -> None:
    run = train(case("discriminator-not-lipschitz").spec(), steps=20, seed=seed)
    with pytest.raises(GANAssertionError, match="create_graph=True") as caught:
        assert_lipschitz(run)
    assert caught.value.pitfall == "discriminator-not-lipschitz"
    assert caught.value.evidence["quantile"] > 5 * MAX_LIPSCHITZ
    assert caught.value.evidence["constraints"] == ["a gradient penalty (loss 'wgan-gp')"]


# Seeds beyond those the threshold was calibrated on (0-9).
@pytest.mark.parametrize(("name", "seed"), [("ring-wgan-gp", 10), ("ring-wgan-gp", 11)])
def test_a_working_gradient_penalty_passes(name: str, seed: int) -> None:
    run = train(case(name).spec(), seed=seed)
    assert_lipschitz(run)
    norms = run_gradient_norms(run)
    assert 0.5 < float(norms.median()) < 1.5  # held near 1, as WGAN-GP intends


def test_a_spectrally_normalised_critic_passes() -> None:
    run = train(case("shapes-hinge-sn").spec(), seed=10)
    assert lipschitz_constraints(run) == ["spectral normalisation (3 of 3 layers)"]
    assert_lipschitz(run)
    assert math.prod(s for s, _ in spectral_norms(run.discriminator).values()) < 1.1


# -- the statistic on hand-made critics ---------------------------------------------------


class Linear(nn.Module):
    """D(x) = <w, x>: its gradient is w everywhere."""

    def __init__(self, w: torch.Tensor) -> None:
        super().__init__()
        self.w = nn.Parameter(w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.reshape(x.shape[0], -1) * self.w).sum(dim=1, keepdim=True)


class ClassLinear(nn.Module):
    """D(x, y) = <W[y], x>: its gradient is W[y]."""

    def __init__(self, w: torch.Tensor) -> None:
        super().__init__()
        self.w = nn.Parameter(w)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (x * self.w[y]).sum(dim=1, keepdim=True)


def test_a_linear_critic_has_its_weight_norm_as_gradient_norm_everywhere() -> None:
    real, fake = torch.randn(300, 2), torch.randn(300, 2) + 5
    norms = interpolate_gradient_norms(Linear(torch.tensor([3.0, 4.0])), real, fake)
    assert norms.shape == (300,)
    assert torch.allclose(norms, torch.full((300,), 5.0, dtype=torch.float64))


def test_a_conditional_critic_is_given_the_labels() -> None:
    d = ClassLinear(torch.tensor([[3.0, 4.0], [0.0, 0.5]]))
    y = torch.tensor([0, 1, 1, 0])
    norms = interpolate_gradient_norms(d, torch.randn(4, 2), torch.randn(4, 2), y)
    assert norms.tolist() == pytest.approx([5.0, 0.5, 0.5, 5.0])


def test_the_interpolates_lie_between_real_and_fake() -> None:
    # D(x) = |x|^2 / 2 has gradient x: at alpha = 0 the fake, at alpha = 1 the real.
    class Square(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return (x**2).sum(dim=1, keepdim=True) / 2

    real, fake = torch.tensor([[3.0, 4.0]] * 3), torch.tensor([[0.0, 1.0]] * 3)
    norms = interpolate_gradient_norms(Square(), real, fake, alpha=torch.tensor([1.0, 0.0, 0.5]))
    assert norms.tolist() == pytest.approx([5.0, 1.0, math.hypot(1.5, 2.5)])


def test_a_critic_that_ignores_its_input_has_gradient_zero() -> None:
    class Constant(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.c = nn.Parameter(torch.ones(1))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.c.expand(x.shape[0], 1)

    norms = interpolate_gradient_norms(Constant(), torch.randn(5, 2), torch.randn(5, 2))
    assert norms.tolist() == [0.0] * 5


def test_measuring_leaves_the_critic_and_the_rng_as_they_were() -> None:
    d = nn.Sequential(spectral_norm(nn.Linear(2, 8)), nn.BatchNorm1d(8), nn.Linear(8, 1))
    d.train()
    before = {k: v.clone() for k, v in d.state_dict().items()}
    real, fake, alpha = torch.randn(64, 2), torch.randn(64, 2), torch.rand(64)
    rng = torch.get_rng_state()
    interpolate_gradient_norms(d, real, fake, alpha=alpha)
    assert d.training
    assert all(torch.equal(before[k], v) for k, v in d.state_dict().items())
    assert all(p.grad is None for p in d.parameters())
    assert torch.equal(torch.get_rng_state(), rng)


def test_spectral_norms_are_the_largest_singular_values() -> None:
    def linear(*diagonal: float) -> nn.Linear:
        layer = nn.Linear(4, len(diagonal))
        with torch.no_grad():
            layer.weight.copy_(torch.eye(len(diagonal), 4) * torch.tensor(diagonal)[:, None])
        return layer

    # A clear gap between the singular values: power iteration converges within a few steps.
    normalised = spectral_norm(linear(3.0, 1.0, 0.5, 0.2))
    old_style = torch.nn.utils.spectral_norm(linear(3.0, 1.0, 0.5, 0.2))
    d = nn.Sequential(normalised, nn.LeakyReLU(0.2), old_style, linear(2.0, 0.5))
    with torch.random.fork_rng():
        torch.manual_seed(0)
        for _ in range(20):  # power iterations, as training runs them
            d(torch.randn(8, 4))
    norms = spectral_norms(d)
    assert norms["3"] == (pytest.approx(2.0), False)
    assert norms["0"] == (pytest.approx(1.0, abs=1e-4), True)
    assert norms["2"] == (pytest.approx(1.0, abs=1e-4), True)


def test_partial_spectral_normalisation_is_named() -> None:
    def make_d() -> nn.Module:
        d = nn.Sequential(spectral_norm(nn.Linear(2, 32)), nn.LeakyReLU(0.2), nn.Linear(32, 1))
        with torch.no_grad():
            d[2].weight.mul_(1000.0)  # the unnormalised head alone breaks the bound
        return d

    run = train(tiny_spec(discriminator=make_d, loss="hinge"), steps=1)
    assert lipschitz_constraints(run) == ["spectral normalisation (1 of 2 layers)"]
    with pytest.raises(GANAssertionError, match="unnormalised: 2") as caught:
        assert_lipschitz(run)
    assert caught.value.evidence["spectral_norm_product"] > MAX_LIPSCHITZ


class _Branches(nn.Module):
    """Eight spectrally normalised branches summed, as residual blocks sum: every layer
    normalised, yet the gradient norm can reach 8 (a plain stack's bound of 1 does not
    hold; nor does it for convolutions, whose kernels SN normalises as matrices)."""

    def __init__(self, normalise_all: bool = True) -> None:
        super().__init__()
        layers = []
        for i in range(8):
            layer = nn.Linear(2, 1)
            with torch.no_grad():
                layer.weight.copy_(torch.tensor([[3.0, 4.0]]))  # one direction: they add up
            layers.append(spectral_norm(layer) if normalise_all or i < 7 else layer)
        self.branches = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return sum(b(x) for b in self.branches)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_critic_normalised_on_every_layer_passes_whatever_its_gradient_norms(
    seed: int,
) -> None:
    run = train(tiny_spec(discriminator=_Branches, loss="hinge"), steps=2, seed=seed)
    assert float(torch.quantile(run_gradient_norms(run), 0.9)) > MAX_LIPSCHITZ
    assert lipschitz_constraints(run) == ["spectral normalisation (8 of 8 layers)"]
    assert_lipschitz(run)
    # Asked for a bound, it is judged against it.
    with pytest.raises(GANAssertionError):
        assert_lipschitz(run, max_constant=MAX_LIPSCHITZ)


def test_a_critic_with_a_layer_left_unnormalised_is_judged_on_its_gradient() -> None:
    run = train(
        tiny_spec(discriminator=lambda: _Branches(normalise_all=False), loss="hinge"), steps=2
    )
    assert lipschitz_constraints(run) == ["spectral normalisation (7 of 8 layers)"]
    with pytest.raises(GANAssertionError, match=r"unnormalised: branches\.7") as caught:
        assert_lipschitz(run)
    assert caught.value.pitfall == "discriminator-not-lipschitz"


def _still_linear_critic(slope: float) -> GANSpec:
    """A WGAN-GP run whose critic is D(x) = <w, x> with |w| = ``slope`` and neither network
    moves (learning rate 0): its gradient norm is ``slope`` at every interpolate."""
    return tiny_spec(
        discriminator=lambda: Linear(torch.tensor([slope, 0.0])),
        loss="wgan-gp",
        optimizers=lambda g, d: (
            torch.optim.SGD(g.parameters(), lr=0.0),
            torch.optim.SGD(d.parameters(), lr=0.0),
        ),
    )


@pytest.mark.parametrize(("slope", "fails"), [(2.5, False), (3.5, False), (4.0, True)])
def test_a_penalised_critic_is_held_to_the_penalised_bound(slope: float, fails: bool) -> None:
    # A healthy WaveGAN's penalised critic reads 1.8-2.13 (its penalty holds it above 1);
    # a penalty that never reaches D, 6.4 at 100 steps and 14.7 at 200 (docs/benchmarks.md
    # "Calibration notes"). The bound for a critic whose run shows its penalty sits between.
    run = train(_still_linear_critic(slope), steps=1)
    assert MAX_LIPSCHITZ < 2.5 < MAX_LIPSCHITZ_PENALISED < 4.0
    if fails:
        with pytest.raises(GANAssertionError) as caught:
            assert_lipschitz(run)
        assert caught.value.evidence["max_constant"] == MAX_LIPSCHITZ_PENALISED
        assert caught.value.evidence["quantile"] == pytest.approx(slope)
    else:
        assert_lipschitz(run)
    # Asked for the unpenalised bound, it is judged against it.
    with pytest.raises(GANAssertionError):
        assert_lipschitz(run, max_constant=MAX_LIPSCHITZ)


# -- what the check applies to, and bad input ---------------------------------------------


def test_an_unconstrained_discriminator_is_checked_only_against_a_given_bound() -> None:
    run = train(tiny_spec(), steps=5)
    assert lipschitz_constraints(run) == []
    # A legitimate run gets a verdict, never an input error: a pass that says it checked
    # nothing, at the caller's line.
    with pytest.warns(
        GANNotApplicableWarning,
        match=r"no Lipschitz constraint.*nothing was checked.*pass max_constant",
    ) as caught:
        assert_lipschitz(run)
    assert len(caught) == 1 and caught[0].filename == __file__
    assert_lipschitz(run, max_constant=1e6)
    with pytest.raises(GANAssertionError) as caught:
        assert_lipschitz(run, max_constant=1e-6)
    assert caught.value.evidence["max_constant"] == 1e-6


def test_a_step_returning_a_penalty_counts_as_constrained() -> None:
    def step(ctx: object, real: torch.Tensor) -> dict[str, float]:
        return {"d_loss": 1.0, "g_loss": 1.0, "gp": 0.0}

    run = train(tiny_spec(train_step=step), steps=2)
    assert lipschitz_constraints(run) == ["a gradient penalty (the step's 'gp' loss)"]


def test_a_penalty_folded_into_a_critics_returned_d_loss_counts_as_constrained() -> None:
    # Public WGAN-GP code adds the penalty to the critic's loss and returns that loss; its
    # graph holds the gradient taken with create_graph=True, read without any hook.
    folded = UserStep(loss="wgan-gp", n_critic=2, return_graphs=True)
    run = train(tiny_spec(train_step=folded), steps=4)
    assert run.history.events[PENALTY_IN_D_LOSS].first_step == 0
    assert folded_penalty(run)
    assert lipschitz_constraints(run) == ["a gradient penalty (folded into d_loss)"]
    # Held to the penalised bound.
    with pytest.raises(GANAssertionError) as caught:
        assert_lipschitz(run, max_constant=1e-6)
    assert caught.value.evidence["constraints"] == ["a gradient penalty (folded into d_loss)"]


def test_a_penalty_folded_into_a_d_loss_handed_back_detached_is_seen_by_its_gradient() -> None:
    # The loop logs d_loss.item() (here .detach()): no graph comes back, but the step took
    # a gradient through D with create_graph=True, which a backward pass trains D with.
    run = train(tiny_spec(train_step=UserStep(loss="wgan-gp", n_critic=2)), steps=4)
    assert run.history.events[PENALTY_GRADIENT].first_step == 0
    assert PENALTY_IN_D_LOSS not in run.history.events
    assert folded_penalty(run)
    assert lipschitz_constraints(run) == [TAKEN]
    # torch's own is back in the tapped place once the stretch ends.
    assert getattr(torch.autograd, instrument._TAP_NAME) is instrument._TORCH_TAPPED
    assert torch.autograd.grad is torch_grad  # never replaced
    with pytest.raises(GANAssertionError) as caught:
        assert_lipschitz(run, max_constant=1e-6)
    assert caught.value.evidence["constraints"] == [TAKEN]


def test_a_step_that_raises_leaves_torchs_own_grad_behind() -> None:
    def step(ctx: Any, real: torch.Tensor) -> dict[str, Any]:
        if ctx.step == 1:
            raise RuntimeError("out of memory")
        assert getattr(torch.autograd, instrument._TAP_NAME) is instrument._tapped  # looking
        return {"d_loss": 0.0, "g_loss": 0.0}

    with pytest.raises(GANTrainingError, match="out of memory"):
        train(tiny_spec(train_step=step), steps=3)
    assert getattr(torch.autograd, instrument._TAP_NAME) is instrument._TORCH_TAPPED


def test_ours_kept_by_a_users_wrapper_does_not_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    # A step keeps the function it finds in the tapped place while a stretch looks (ours)
    # and a wrapper calling it is put in place after: the next stretch wraps that wrapper,
    # and ours, called again from inside it, calls torch's own instead of the wrapper.
    place = instrument._TAP_NAME
    monkeypatch.setattr(torch.autograd, place, getattr(torch.autograd, place))
    monkeypatch.setattr(instrument, "_buried", instrument._buried)  # restored after
    kept: list[Any] = []
    folded = _critic_step("folded")

    def keeping_step(ctx: Any, real: torch.Tensor) -> dict[str, Any]:
        kept.append(getattr(torch.autograd, place))
        return folded(ctx, real)

    train(tiny_spec(train_step=keeping_step), steps=2)
    assert kept[0] is instrument._tapped
    calls = []

    def users_wrapper(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return kept[0](*args, **kwargs)

    setattr(torch.autograd, place, users_wrapper)
    run = train(tiny_spec(train_step=folded), steps=4)
    assert PENALTY_GRADIENT in run.history.events
    assert getattr(torch.autograd, place) is users_wrapper and calls


def _critic_step(penalty: str, grad_by_name: Any = None) -> Any:
    """A WGAN critic step handing back its Wasserstein estimate as ``d_loss``, with its
    graph. ``penalty``: "folded" folds WGAN-GP's penalty into the loss D trains on, its
    gradient taken with create_graph=True given as the fifth positional argument;
    "unused" computes that gradient and leaves it out of the loss (a bug); "generator"
    takes a gradient through G alone (a path-length term); "none" takes none.
    ``grad_by_name``: the function the penalty's gradient is taken with, as a module
    that imported it by name holds it; ``torch.autograd.grad`` as found at each call when
    None."""

    def step(ctx: Any, real: torch.Tensor) -> dict[str, Any]:
        g, d = ctx.generator, ctx.discriminator
        z = ctx.latent(real.shape[0]).requires_grad_(True)
        fake = g(z)
        distance = d(fake.detach()).mean() - d(real).mean()
        d_loss = distance
        if penalty in ("folded", "unused"):
            mixed = (0.5 * real + 0.5 * fake.detach()).requires_grad_(True)
            out = d(mixed)
            take = grad_by_name or torch.autograd.grad
            (grad,) = take(out, mixed, torch.ones_like(out), None, True)
            if penalty == "folded":
                d_loss = distance + 10 * ((grad.norm(dim=1) - 1) ** 2).mean()
        elif penalty == "generator":
            torch.autograd.grad(fake.sum(), z, create_graph=True)
        ctx.opt_d.zero_grad()
        d_loss.backward()
        ctx.opt_d.step()
        g_loss = -d(fake).mean()
        ctx.opt_g.zero_grad()
        g_loss.backward()
        ctx.opt_g.step()
        return {"d_loss": distance, "g_loss": g_loss}

    return step


def test_a_penalty_is_seen_whatever_d_loss_comes_back() -> None:
    # The loop hands back (or logs) its Wasserstein estimate, with its graph, while the
    # loss D trains on holds the penalty; the gradient is taken with create_graph=True
    # as a positional argument.
    run = train(tiny_spec(train_step=_critic_step("folded")), steps=4)
    assert run.history.events[PENALTY_GRADIENT].first_step == 0
    assert lipschitz_constraints(run) == [TAKEN]


@pytest.mark.skipif(
    instrument._TAP_NAME != instrument._ENGINE,
    reason="this torch has no engine entry point to tap: only torch.autograd.grad is seen",
)
def test_a_penalty_through_a_grad_imported_by_name_is_seen() -> None:
    # `from torch.autograd import grad as torch_grad` (EmilienDupont/wgan-gp) binds torch's
    # own function before any stretch looks; its gradients pass through the tapped place.
    run = train(tiny_spec(train_step=_critic_step("folded", torch_grad)), steps=4)
    assert run.history.events[PENALTY_GRADIENT].first_step == 0
    assert lipschitz_constraints(run) == [TAKEN]


@pytest.mark.parametrize("kind", ["backward", "without-graph", "batched"])
def test_gradients_that_cannot_be_a_penalty_use_no_looks(kind: str) -> None:
    # More of them than there are looks, before the penalty: backward(create_graph=True)
    # (the same entry point, which returns no gradient), gradients through D taken without
    # create_graph=True (nothing to follow), or with is_grads_batched=True (the engine's
    # entry point is called inside vmap, whose tensors a hook cannot follow out; such a
    # penalty is not seen). None uses up a look: the penalty after them is seen.
    folded = _critic_step("folded")

    def step(ctx: Any, real: torch.Tensor) -> dict[str, Any]:
        x = real.detach().requires_grad_(True)
        out = ctx.discriminator(x).sum()
        w = torch.ones(2, requires_grad=True)
        with warnings.catch_warnings():  # torch's note on backward's reference cycle
            warnings.simplefilter("ignore", UserWarning)
            for _ in range(instrument.PENALTY_LOOKS + 1):
                if kind == "backward":
                    (w * w).sum().backward(create_graph=True)
                elif kind == "batched":
                    torch.autograd.grad(
                        out, x, torch.ones(1), create_graph=True, is_grads_batched=True
                    )
                else:
                    torch.autograd.grad(out, x, retain_graph=True)
        return folded(ctx, real)

    run = train(tiny_spec(train_step=step), steps=2)
    assert PENALTY_GRADIENT in run.history.events


def test_where_torch_has_no_engine_entry_point_grad_itself_is_tapped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # An older torch: torch.autograd.grad is tapped, and what calls it by that name seen.
    # (Only the event is asserted: the tapped function keeps the engine's name here.)
    monkeypatch.setattr(instrument, "_TAP_NAME", "grad")
    monkeypatch.setattr(instrument, "_TORCH_TAPPED", torch.autograd.grad)
    monkeypatch.setattr(instrument, "_untapped", torch.autograd.grad)
    monkeypatch.setattr(torch.autograd, "grad", torch.autograd.grad)
    seen = train(tiny_spec(train_step=_critic_step("folded")), steps=2)
    assert PENALTY_GRADIENT in seen.history.events
    assert torch.autograd.grad is torch_grad  # never replaced
    by_name = train(tiny_spec(train_step=_critic_step("folded", torch_grad)), steps=2)
    assert PENALTY_GRADIENT not in by_name.history.events


def test_a_users_wrapper_over_grad_leaves_the_critic_a_critic(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A timer put over torch.autograd.grad, under its own name: the gradient it returns is
    # still where the loss's reading of D's scores stops (its (norm - 1) ** 2 is the
    # penalty's, not a squared loss on D's scores), and the penalty is seen.
    inner = torch.autograd.grad
    calls = []

    def timed_grad(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return inner(*args, **kwargs)

    monkeypatch.setattr(torch.autograd, "grad", timed_grad)
    run = train(tiny_spec(train_step=UserStep(loss="wgan-gp", n_critic=2)), steps=4)
    saturation = run.history.saturation
    assert calls and saturation is not None
    assert saturation.d_loss_reads == "critic"
    assert "timed_grad" not in (saturation.d_ops or [])
    assert lipschitz_constraints(run) == [TAKEN]


def test_a_wrapper_over_ours_is_kept_and_does_not_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    # A wrapper (a profiler's) put over the tapped place while a stretch looks stays; the
    # next stretch wraps it in turn, and calls reach torch's own once.
    place = instrument._TAP_NAME
    monkeypatch.setattr(torch.autograd, place, getattr(torch.autograd, place))
    monkeypatch.setattr(instrument, "_buried", instrument._buried)  # restored after
    calls = []
    folded = _critic_step("folded")

    def wrapping_step(ctx: Any, real: torch.Tensor) -> dict[str, Any]:
        if not calls:
            inner = getattr(torch.autograd, place)

            def users_wrapper(*args: Any, **kwargs: Any) -> Any:
                calls.append(1)
                return inner(*args, **kwargs)

            setattr(torch.autograd, place, users_wrapper)
        return folded(ctx, real)

    first = train(tiny_spec(train_step=wrapping_step), steps=4)
    users_wrapper, before = getattr(torch.autograd, place), len(calls)
    assert users_wrapper is not instrument._tapped and before > 0
    second = train(tiny_spec(train_step=folded), steps=4)
    assert getattr(torch.autograd, place) is users_wrapper and len(calls) > before
    assert PENALTY_GRADIENT in first.history.events
    assert PENALTY_GRADIENT in second.history.events


@pytest.mark.parametrize(
    "step",
    [
        # The penalty without create_graph=True: a constant to autograd, it never reaches
        # D and leaves no trace in the graph; the critic is held to MAX_LIPSCHITZ.
        UserStep(loss="wgan-gp", n_critic=2, return_graphs=True, gp_create_graph=False),
        # ... and so handed back detached: no gradient with a graph was taken either.
        UserStep(loss="wgan-gp", n_critic=2, gp_create_graph=False),
        # A gradient through D taken with create_graph=True and left out of the loss:
        # no backward pass runs through it.
        _critic_step("unused"),
        # A gradient taken with create_graph=True through G alone.
        _critic_step("generator"),
    ],
    ids=["without-create-graph", "without-create-graph-detached", "unused", "generator"],
)
def test_a_penalty_that_does_not_reach_d_is_not_counted(step: Any) -> None:
    run = train(tiny_spec(train_step=step), steps=4)
    assert PENALTY_IN_D_LOSS not in run.history.events
    assert PENALTY_GRADIENT not in run.history.events
    assert not folded_penalty(run)


def test_a_critic_showing_no_penalty_is_told_how_to_show_one() -> None:
    def steep_d() -> nn.Module:
        d = nn.Sequential(nn.Linear(2, 32), nn.LeakyReLU(0.2), nn.Linear(32, 1))
        with torch.no_grad():
            for p in d.parameters():
                p.mul_(8.0)
        return d

    run = train(tiny_spec(discriminator=steep_d, train_step=_critic_step("none")), steps=2)
    with pytest.raises(GANAssertionError) as caught:
        assert_lipschitz(run)
    assert caught.value.evidence["max_constant"] == MAX_LIPSCHITZ
    words = " ".join(str(caught.value).split())
    assert "hand the penalty back as 'gp' (or log it), or pass max_constant=3.7" in words
    # What is not seen, on this torch: a grad imported by name is.
    assert "taken through torch.func or with is_grads_batched=True, or after the first 16" in words
    assert lipschitz_constraints(run) == [
        "a Wasserstein critic (its loss only averages and subtracts D's scores)"
    ]


def test_a_classifiers_input_gradient_penalty_does_not_make_it_a_critic() -> None:
    # R1 on real samples, folded into a BCE D's loss: recorded, but the check stays off
    # (R1 bounds nothing between the data and the fakes).
    def r1_step(ctx: Any, real: torch.Tensor) -> dict[str, torch.Tensor]:
        g, d = ctx.generator, ctx.discriminator
        fake = g(ctx.latent(real.shape[0]))
        real = real.requires_grad_(True)
        d_real = d(real)
        (grad,) = torch.autograd.grad(d_real.sum(), real, create_graph=True)
        d_loss = (
            F.softplus(-d_real).mean()
            + F.softplus(d(fake.detach())).mean()
            + 5.0 * grad.pow(2).sum(1).mean()
        )
        ctx.opt_d.zero_grad()
        d_loss.backward()
        ctx.opt_d.step()
        g_loss = F.softplus(-d(fake)).mean()
        ctx.opt_g.zero_grad()
        g_loss.backward()
        ctx.opt_g.step()
        return {"d_loss": d_loss, "g_loss": g_loss}

    run = train(tiny_spec(train_step=r1_step), steps=4)
    assert PENALTY_IN_D_LOSS in run.history.events
    assert not folded_penalty(run) and lipschitz_constraints(run) == []


def test_the_verdict_is_deterministic_and_leaves_global_rng_alone() -> None:
    run = train(tiny_spec(), steps=5)
    state = torch.get_rng_state()
    first = run_gradient_norms(run, 200)
    assert torch.equal(first, run_gradient_norms(run, 200))
    assert torch.equal(torch.get_rng_state(), state)


def test_a_conditional_run_pairs_real_and_fake_by_label() -> None:
    class CondLinearD(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.tensor([[3.0, 4.0], [0.0, 0.5]]))

        def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return (x * self.w[y]).sum(dim=1, keepdim=True)

    from tests.tiny import CondG, two_clusters

    spec = GANSpec(
        generator=CondG,
        discriminator=CondLinearD,
        data=two_clusters(),
        latent_dim=LATENT,
        num_classes=2,
        optimizers=lambda g, d: (
            torch.optim.SGD(g.parameters(), lr=0.0),
            torch.optim.SGD(d.parameters(), lr=0.0),
        ),
    )
    run = train(spec, steps=1)
    norms = run_gradient_norms(run, 400)
    assert set(norms.round(decimals=6).tolist()) == {5.0, 0.5}


def test_the_lipschitz_check_refuses_bad_input() -> None:
    run = train(tiny_spec(loss="wgan-gp"), steps=2)
    with pytest.raises(TypeError, match="run must be a GANRun"):
        assert_lipschitz("run")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="max_constant must be a number"):
        assert_lipschitz(run, max_constant="2")  # type: ignore[arg-type]
    for bad in (0.0, -1.0, math.nan, math.inf):
        with pytest.raises(ValueError, match="max_constant must be a finite number > 0"):
            assert_lipschitz(run, max_constant=bad)
    with pytest.raises(ValueError, match="samples must be at least 2"):
        assert_lipschitz(run, samples=1)
    with pytest.raises(TypeError, match="samples must be an int"):
        assert_lipschitz(run, samples=True)
    with pytest.raises(ValueError, match="same shape"):
        interpolate_gradient_norms(make_g(), torch.randn(4, LATENT), torch.randn(5, LATENT))
    with pytest.raises(TypeError, match=r"discriminator must be an nn\.Module"):
        interpolate_gradient_norms("d", gaussian(4), gaussian(4))  # type: ignore[arg-type]


# Found by tests/test_fuzz_checks.py: a critic whose weights turned NaN (a wgan-gp run on
# NaN fakes) made the spectral norm's SVD raise torch's _LinAlgError.
def test_a_critic_with_nan_weights_is_judged() -> None:
    run = train(tiny_spec(loss="wgan-gp"), steps=1)
    first = run.discriminator.get_submodule("0")
    assert isinstance(first, nn.Linear)
    with torch.no_grad():
        first.weight.fill_(float("nan"))
    norms = spectral_norms(run.discriminator)
    assert math.isnan(norms["0"][0]) and math.isfinite(norms["2"][0])
    with pytest.raises(GANAssertionError) as caught:
        assert_lipschitz(run)
    assert caught.value.pitfall == "discriminator-not-lipschitz"
    assert caught.value.evidence["nonfinite"] == caught.value.evidence["samples"]
