"""``pg.watch``: a team's own loop, checked where it stands."""

from __future__ import annotations

import copy
import itertools
import random
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd import grad as torch_grad
from torch.overrides import TorchFunctionMode

import pytest_gan as pg
from fixtures import models, zoo
from fixtures.loops import watched
from pytest_gan import instrument
from pytest_gan.checks._common import CLASSIFIER, CRITIC, MARGIN, score_kind
from pytest_gan.checks.lipschitz import TAKEN, lipschitz_constraints
from pytest_gan.run import judged_at_first_steps
from pytest_gan.watched_run import WATCH_FIRST_EVERY, WATCH_MAX_PROBES, WatchedRun
from tests.tiny import scripted

LATENT = zoo.RING_LATENT
BATCH = 128
DATA = zoo.ring_points()


def _nets(seed: int = 0, sigmoid_d: bool = False) -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(seed)
    g = models.MLPGenerator(latent_dim=LATENT)
    d: nn.Module = models.MLPDiscriminator()
    if sigmoid_d:
        d = nn.Sequential(d, nn.Sigmoid())
    return g, d


def _adam(g: nn.Module, d: nn.Module) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
    return (
        torch.optim.Adam(g.parameters(), lr=1e-3, betas=(0.0, 0.9)),
        torch.optim.Adam(d.parameters(), lr=1e-3, betas=(0.0, 0.9)),
    )


def _real(i: int) -> torch.Tensor:
    start = (i * BATCH) % (DATA.shape[0] - BATCH)
    return DATA[start : start + BATCH]


def script(
    g: nn.Module,
    d: nn.Module,
    opt_g: Any,
    opt_d: Any,
    steps: int,
    run: Any = None,
    *,
    detach: bool = True,
    zero_grad_g_first: bool = False,
    zero_grad_d: bool = True,
    draws: list[torch.Tensor] | None = None,
    clip: float | None = None,
    scheduler: Any = None,
) -> None:
    """The loop of a DCGAN tutorial, on the ring: D step, then G step, BCE on logits."""
    ones, zeros = torch.ones(BATCH, 1), torch.zeros(BATCH, 1)
    for i in range(steps):
        if zero_grad_g_first:
            opt_g.zero_grad()
        z = torch.randn(BATCH, LATENT)
        if draws is not None:
            draws.append(z)
        fake = g(z)
        d_out = d(fake.detach() if detach else fake)
        d_loss = F.binary_cross_entropy_with_logits(d(_real(i)), ones)
        d_loss = d_loss + F.binary_cross_entropy_with_logits(d_out, zeros)
        if zero_grad_d:
            opt_d.zero_grad()
        d_loss.backward()
        if clip is not None:
            nn.utils.clip_grad_norm_(d.parameters(), clip)
        opt_d.step()
        # G's step runs G again: D's backward has freed the first graph.
        g_loss = F.binary_cross_entropy_with_logits(d(g(z)), ones)
        if not zero_grad_g_first:
            opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        if scheduler is not None:
            scheduler.step()
        if run is not None:
            run.log(d_loss=d_loss, g_loss=g_loss)


def watched_script(steps: int = 200, seed: int = 0, **loop: Any) -> WatchedRun:
    g, d = _nets(seed)
    opt_g, opt_d = _adam(g, d)
    with pg.watch(g, d, opt_g, opt_d, data=DATA, latent_dim=LATENT) as run:
        script(g, d, opt_g, opt_d, steps, run, **loop)
    return run


def _pitfall(check: Callable[..., None], run: Any) -> str:
    try:
        check(run)
    except pg.GANAssertionError as exc:
        return str(exc.pitfall)
    return "pass"


RUN_CHECKS = (
    pg.assert_losses_finite,
    pg.assert_d_step_isolated,
    pg.assert_d_output_fits_loss,
    pg.assert_gradients_zeroed,
    pg.assert_optimizers_cover,
    pg.assert_output_range_matches_data,
    pg.assert_generator_learns,
    pg.assert_not_blank,
    pg.assert_diverse,
    pg.assert_losses_balanced,
    pg.assert_checkpoint_roundtrip,
)


def _found(run: Any) -> set[str]:
    return {_pitfall(c, run) for c in RUN_CHECKS} - {"pass"}


# -- a plain script --------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1])
def test_a_healthy_script_passes_every_check(seed: int) -> None:
    run = watched_script(seed=seed)
    assert isinstance(run, pg.GANRun) and run.complete and run.steps == 200
    assert _found(run) == set()
    assert len(run.history["d_loss"]) == 200
    assert run.history.saturation["d_loss_reads"] == "logit"
    assert score_kind(run) == CLASSIFIER


def test_probes_are_evenly_spaced_and_bounded_without_a_step_count() -> None:
    run = watched_script(steps=90)
    assert [p["step"] for p in run.history.probes] == [0, 20, 40, 60, 80, 90]
    g, d = _nets()
    opt_g, opt_d = _adam(g, d)
    with pg.watch(g, d, opt_g, opt_d, data=DATA, latent_dim=LATENT) as long_run:
        script(g, d, opt_g, opt_d, 1003)
    steps = [p["step"] for p in long_run.history.probes]
    assert steps[0] == 0 and steps[-1] == 1003
    middle = steps[1:-1]
    gaps = {b - a for a, b in itertools.pairwise(middle)}
    assert len(gaps) == 1 and gaps.pop() == middle[0]
    assert WATCH_MAX_PROBES // 2 <= len(middle) <= WATCH_MAX_PROBES
    assert middle[0] % WATCH_FIRST_EVERY == 0


def test_logged_values_belong_to_the_step_they_were_logged_in() -> None:
    g, d = _nets()
    opt_g, opt_d = _adam(g, d)
    with pg.watch(g, d, opt_g, opt_d, data=DATA, latent_dim=LATENT) as run:
        for i in range(3):
            script(g, d, opt_g, opt_d, 1)
            run.log(g_loss=float(i), extra=torch.tensor(i + 0.5))  # after G's step
        run.log(d_loss=7.0)  # before any step of the next iteration: still step 2's
        run.log(d_loss=8.0)  # step 2 has a d_loss already: the next step's
        script(g, d, opt_g, opt_d, 1)
    assert run.history["g_loss"][:3] == [0.0, 1.0, 2.0]
    assert run.history["extra"][:3] == [0.5, 1.5, 2.5]
    assert run.history["d_loss"] == [
        pytest.approx(v, nan_ok=True) for v in [np.nan] * 2 + [7.0, 8.0]
    ]


def test_log_refuses_what_is_no_scalar() -> None:
    g, d = _nets()
    opt_g, opt_d = _adam(g, d)
    with pg.watch(g, d, opt_g, opt_d, data=DATA, latent_dim=LATENT) as run:
        with pytest.raises(ValueError, match="d_loss must be a float or a 0-d tensor"):
            run.log(d_loss=torch.ones(3))
        with pytest.raises(TypeError, match="g_loss must be a float"):
            run.log(g_loss="0.5")
        run.log(extra=np.float32(0.25))
        run.log(from_numpy=torch.tensor(0.75).numpy())  # a 0-d array: errD.cpu().numpy()
        with pytest.raises(TypeError, match="g_loss must be a float"):
            run.log(g_loss=np.ones(3))
        script(g, d, opt_g, opt_d, 2, run)
    assert run.history["extra"][0] == 0.25 and run.history["from_numpy"][0] == 0.75
    with pytest.raises(RuntimeError, match="exited"):
        run.log(d_loss=1.0)


# -- what the loop computes and draws is untouched ---------------------------------------


def test_the_loop_computes_and_draws_exactly_what_it_does_unwatched() -> None:
    def once(watching: bool) -> tuple[list[torch.Tensor], dict[str, torch.Tensor], Any]:
        g, d = _nets(3)
        opt_g, opt_d = _adam(g, d)
        torch.manual_seed(11)
        np.random.seed(5)
        random.seed(5)
        draws: list[torch.Tensor] = []
        if watching:
            with pg.watch(g, d, opt_g, opt_d, data=DATA, latent_dim=LATENT) as run:
                script(g, d, opt_g, opt_d, 25, run, draws=draws)
            assert run.steps == 25
        else:
            script(g, d, opt_g, opt_d, 25, draws=draws)
        after = (torch.rand(3), np.random.rand(), random.random())
        return draws, {**g.state_dict(), **d.state_dict()}, after

    plain, watched_ = once(False), once(True)
    assert all(torch.equal(a, b) for a, b in zip(plain[0], watched_[0], strict=True))
    assert plain[1].keys() == watched_[1].keys()
    assert all(torch.equal(plain[1][k], watched_[1][k]) for k in plain[1])
    assert torch.equal(plain[2][0], watched_[2][0]) and plain[2][1:] == watched_[2][1:]


def _hooks_left(g: nn.Module, d: nn.Module, *opts: torch.optim.Optimizer) -> int:
    params = [*g.parameters(), *d.parameters()]
    tensor_hooks = sum(len(p._backward_hooks or {}) for p in params)
    module_hooks = sum(
        len(m._forward_hooks) + len(m._forward_pre_hooks) for m in [*g.modules(), *d.modules()]
    )
    opt_hooks = sum(
        len(o._optimizer_step_pre_hooks) + len(o._optimizer_step_post_hooks) for o in opts
    )
    return tensor_hooks + module_hooks + opt_hooks


@pytest.mark.parametrize("when", [0, 1, 15])
def test_every_hook_goes_and_the_loops_error_propagates_unchanged(when: int) -> None:
    g, d = _nets()
    opt_g, opt_d = _adam(g, d)
    error = KeyError("the loop's own")
    with pytest.raises(KeyError) as caught:
        with pg.watch(g, d, opt_g, opt_d, data=DATA, latent_dim=LATENT) as run:
            script(g, d, opt_g, opt_d, when, run)
            raise error
    assert caught.value is error
    assert _hooks_left(g, d, opt_g, opt_d) == 0
    assert torch._C._len_torch_function_stack() == 0
    assert not run.complete and run.steps == when


class _PassThrough(TorchFunctionMode):
    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        return func(*args, **(kwargs or {}))


def test_a_function_mode_of_the_loops_own_stays_where_it_is() -> None:
    g, d = _nets()
    opt_g, opt_d = _adam(g, d)
    with pg.watch(g, d, opt_g, opt_d, data=DATA, latent_dim=LATENT) as run:
        with _PassThrough() as mode:  # entered after the watch, left after its first step
            script(g, d, opt_g, opt_d, 3, run)
            assert torch._C._len_torch_function_stack() == 1
            assert torch.overrides._get_current_function_mode() is mode
    assert torch._C._len_torch_function_stack() == 0
    assert run.history.saturation["d_loss_reads"] == "logit"


def test_watches_closed_out_of_order_put_the_scaler_back() -> None:
    step = torch.amp.GradScaler.step
    (g1, d1), (g2, d2) = _nets(), _nets(1)
    first = pg.watch(g1, d1, *_adam(g1, d1), data=DATA, latent_dim=LATENT)
    second = pg.watch(g2, d2, *_adam(g2, d2), data=DATA, latent_dim=LATENT)
    first.start()
    second.start()
    first.stop()
    assert torch.amp.GradScaler.step is not step  # the second watch still sees it
    second.stop()
    assert torch.amp.GradScaler.step is step
    assert torch._C._len_torch_function_stack() == 0


def test_every_hook_goes_on_a_normal_exit() -> None:
    g, d = _nets()
    opt_g, opt_d = _adam(g, d)
    with pg.watch(g, d, opt_g, opt_d, data=DATA, latent_dim=LATENT) as run:
        script(g, d, opt_g, opt_d, 3, run)
        assert _hooks_left(g, d, opt_g, opt_d) > 0
    assert _hooks_left(g, d, opt_g, opt_d) == 0
    assert torch._C._len_torch_function_stack() == 0


def test_a_loop_that_ended_before_gs_first_step_gets_verdicts_not_errors() -> None:
    # An empty loader, a loop that breaks at once: the run is legitimate and has 0 steps.
    g, d = _nets()
    opt_g, opt_d = _adam(g, d)
    with pg.watch(g, d, opt_g, opt_d, data=DATA, latent_dim=LATENT) as run:
        pass
    assert run.steps == 0
    with pytest.raises(pg.GANAssertionError, match="never stepped") as caught:
        pg.assert_generator_learns(run)
    assert caught.value.pitfall == "generator-not-learning"
    pg.assert_losses_balanced(run)  # no game was played: nothing for it to name


# -- mistakes in the loop, both ways ------------------------------------------------------


def test_a_missing_detach_is_caught_when_it_harms_and_warned_when_it_wastes() -> None:
    harmful = watched_script(steps=20, detach=False, zero_grad_g_first=True)
    assert _pitfall(pg.assert_d_step_isolated, harmful) == "d-step-leaks-into-generator"
    wasteful = watched_script(steps=20, detach=False)
    with pytest.warns(pg.GANWastedBackwardWarning):
        assert _pitfall(pg.assert_d_step_isolated, wasteful) == "pass"


def test_a_deleted_zero_grad_is_caught() -> None:
    run = watched_script(steps=20, zero_grad_d=False)
    assert _pitfall(pg.assert_gradients_zeroed, run) == "gradient-accumulation"
    assert _pitfall(pg.assert_gradients_zeroed, watched_script(steps=20)) == "pass"


def test_a_fragile_hand_written_loss_is_caught_by_computing_it_again_saturated() -> None:
    def loop(eps: float) -> WatchedRun:
        g, d = _nets(sigmoid_d=True)
        opt_g, opt_d = _adam(g, d)
        with pg.watch(g, d, opt_g, opt_d, data=DATA, latent_dim=LATENT) as run:
            for i in range(30):
                fake = g(torch.randn(BATCH, LATENT))
                d_loss = -torch.mean(
                    torch.log(d(_real(i)) + eps) + torch.log(1 - d(fake.detach()) + eps)
                )
                opt_d.zero_grad()
                d_loss.backward()
                opt_d.step()
                g_loss = -torch.mean(torch.log(d(fake) + eps))
                opt_g.zero_grad()
                g_loss.backward()
                opt_g.step()
                run.log(d_loss=d_loss, g_loss=g_loss)
        return run

    fragile = loop(0.0)
    assert fragile.history.saturation["real"]["d_loss"] == float("inf")
    with pytest.raises(pg.GANAssertionError, match="computed the watched loop's losses") as e:
        pg.assert_losses_finite(fragile)
    assert e.value.pitfall == "non-finite-loss"
    assert _pitfall(pg.assert_losses_finite, loop(1e-8)) == "pass"


def test_a_sigmoid_head_under_a_logits_loss_is_caught() -> None:
    g, d = _nets(sigmoid_d=True)
    opt_g, opt_d = _adam(g, d)
    with pg.watch(g, d, opt_g, opt_d, data=DATA, latent_dim=LATENT) as run:
        script(g, d, opt_g, opt_d, 5, run)
    assert _pitfall(pg.assert_d_output_fits_loss, run) == "discriminator-wrong-activation"
    assert run.history.saturation["d_output_at_saturation"] == 1.0


def test_a_softmax_over_one_output_is_caught_in_a_watched_loop() -> None:
    g, _ = _nets()
    torch.manual_seed(0)
    d = nn.Sequential(models.MLPDiscriminator(), nn.Softmax(dim=1))
    opt_g, opt_d = _adam(g, d)
    with pg.watch(g, d, opt_g, opt_d, data=DATA, latent_dim=LATENT) as run:
        script(g, d, opt_g, opt_d, 5, run)
    assert _pitfall(pg.assert_d_output_fits_loss, run) == "discriminator-wrong-activation"
    assert run.history.saturation["d_output_span_forced"] == [1.0, 1.0]
    g, d = _nets()
    opt_g, opt_d = _adam(g, d)
    with pg.watch(g, d, opt_g, opt_d, data=DATA, latent_dim=LATENT) as healthy:
        script(g, d, opt_g, opt_d, 5, healthy)
    assert _pitfall(pg.assert_d_output_fits_loss, healthy) == "pass"
    assert healthy.history.saturation["d_output_span_forced"] == [-200.0, 200.0]


# -- loops of other shapes -----------------------------------------------------------------


def _penalty(d: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    alpha = torch.rand(real.shape[0], 1)
    mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    out = d(mixed)
    (grad,) = torch.autograd.grad(out, mixed, torch.ones_like(out), create_graph=True)
    return ((grad.norm(2, dim=1) - 1) ** 2).mean()


def wgan_gp_loop(
    g: nn.Module,
    d: nn.Module,
    opt_g: Any,
    opt_d: Any,
    iters: int,
    run: Any,
    zero_grad_d: bool = True,
    log_items: bool = False,
) -> None:
    """An n_critic loop: five critic updates per generator update, WGAN-GP; it logs its
    losses as tensors, or as numbers with ``log_items``."""
    for i in range(iters):
        for k in range(5):
            fake = g(torch.randn(BATCH, LATENT)).detach()
            real = _real(5 * i + k)
            d_loss = d(fake).mean() - d(real).mean() + 10 * _penalty(d, real, fake)
            if zero_grad_d:
                opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
        g_loss = -d(g(torch.randn(BATCH, LATENT))).mean()
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        if log_items:
            run.log(d_loss=d_loss.item(), g_loss=g_loss.item())
        else:
            run.log(d_loss=d_loss, g_loss=g_loss)


def test_an_n_critic_loop_counts_one_step_per_generator_update_and_is_judged_as_a_critic() -> None:
    g, d = _nets()
    opt_g = torch.optim.Adam(g.parameters(), lr=1e-3, betas=(0.5, 0.9))
    opt_d = torch.optim.Adam(d.parameters(), lr=1e-3, betas=(0.5, 0.9))
    with pg.watch(g, d, opt_g, opt_d, data=DATA, latent_dim=LATENT) as run:
        wgan_gp_loop(g, d, opt_g, opt_d, 40, run)
    assert run.steps == 40
    assert set(run.history["d_updates"]) == {5.0} and set(run.history["g_updates"]) == {1.0}
    assert score_kind(run) == CRITIC
    # The loop logs its critic's loss with the penalty folded in: read from its graph.
    assert lipschitz_constraints(run) == ["a gradient penalty (folded into d_loss)"]
    assert _pitfall(pg.assert_losses_balanced, run) == "pass"
    assert _pitfall(pg.assert_d_step_isolated, run) == "pass"
    assert _pitfall(pg.assert_gradients_zeroed, run) == "pass"
    # The critic's zero_grad deleted: its five updates accumulate.
    g, d = _nets()
    opt_g = torch.optim.Adam(g.parameters(), lr=1e-3, betas=(0.5, 0.9))
    opt_d = torch.optim.Adam(d.parameters(), lr=1e-3, betas=(0.5, 0.9))
    with pg.watch(g, d, opt_g, opt_d, data=DATA, latent_dim=LATENT) as broken:
        wgan_gp_loop(g, d, opt_g, opt_d, 10, broken, zero_grad_d=False)
    assert _pitfall(pg.assert_gradients_zeroed, broken) == "gradient-accumulation"


def test_a_critic_loop_logging_numbers_shows_its_penalty_by_its_gradient() -> None:
    # The same loop logging d_loss.item(): no graph to read, but the loop took the
    # penalty's gradient through D with create_graph=True.
    g, d = _nets()
    opt_g, opt_d = _adam(g, d)
    with pg.watch(g, d, opt_g, opt_d, data=DATA, latent_dim=LATENT) as run:
        wgan_gp_loop(g, d, opt_g, opt_d, 4, run, log_items=True)
    assert lipschitz_constraints(run) == [TAKEN]
    assert torch.autograd.grad is torch_grad  # never replaced
    assert getattr(torch.autograd, instrument._TAP_NAME) is instrument._TORCH_TAPPED


def test_a_hinge_loop_is_read_as_a_margin_loss() -> None:
    g, d = _nets()
    opt_g, opt_d = _adam(g, d)
    with pg.watch(g, d, opt_g, opt_d, data=DATA, latent_dim=LATENT) as run:
        for i in range(5):
            fake = g(torch.randn(BATCH, LATENT))
            d_loss = F.relu(1 - d(_real(i))).mean() + F.relu(1 + d(fake.detach())).mean()
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
            g_loss = -d(fake).mean()
            opt_g.zero_grad()
            g_loss.backward()
            opt_g.step()
    assert score_kind(run) == MARGIN


def test_a_generator_first_loop_reads_both_losses() -> None:
    """The Lightning tutorial's order: G's step first, then D's."""
    g, d = _nets()
    opt_g, opt_d = _adam(g, d)
    ones, zeros = torch.ones(BATCH, 1), torch.zeros(BATCH, 1)
    with pg.watch(g, d, opt_g, opt_d, data=DATA, latent_dim=LATENT) as run:
        for i in range(30):
            fake = g(torch.randn(BATCH, LATENT))
            g_loss = F.binary_cross_entropy_with_logits(d(fake), ones)
            opt_g.zero_grad()
            g_loss.backward()
            opt_g.step()
            d_loss = F.binary_cross_entropy_with_logits(d(_real(i)), ones)
            d_loss = d_loss + F.binary_cross_entropy_with_logits(d(fake.detach()), zeros)
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
            run.log(d_loss=d_loss, g_loss=g_loss)
    saturation = run.history.saturation
    assert set(saturation["real"]) == {"d_loss", "g_loss"}
    assert run.steps == 30 and _found(run) <= {"mode-collapse", "blank-output"}
    assert _pitfall(pg.assert_d_step_isolated, run) == "pass"
    # Its first step ends at G's first update, before D's first: that is its order, not a
    # step without D's update.
    assert not run.history.events


def test_a_loop_that_never_steps_d_has_no_d_update_on_every_step() -> None:
    g, d = _nets()
    opt_g, opt_d = _adam(g, d)
    ones = torch.ones(BATCH, 1)
    with pg.watch(g, d, opt_g, opt_d, data=DATA, latent_dim=LATENT) as run:
        for _ in range(6):
            fake = g(torch.randn(BATCH, LATENT))
            g_loss = F.binary_cross_entropy_with_logits(d(fake), ones)
            opt_g.zero_grad()
            g_loss.backward()
            opt_g.step()
    assert run.history.events["no_d_update"] == {"count": 6, "first_step": 0}


def test_autocast_bfloat16_with_a_grad_scaler_and_clipping() -> None:
    def loop(detach: bool, overflow_at: int = -1) -> WatchedRun:
        g, d = _nets()
        opt_g, opt_d = _adam(g, d)
        scaler = torch.amp.GradScaler("cpu", init_scale=2.0**4)
        ones, zeros = torch.ones(BATCH, 1), torch.zeros(BATCH, 1)
        with pg.watch(g, d, opt_g, opt_d, data=DATA, latent_dim=LATENT) as run:
            for i in range(20):
                opt_g.zero_grad()  # at the loop's top: a missing .detach() then harms
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    z = torch.randn(BATCH, LATENT)
                    fake = g(z)
                    out = d(fake.detach() if detach else fake).float()
                    d_loss = F.binary_cross_entropy_with_logits(d(_real(i)).float(), ones)
                    d_loss = d_loss + F.binary_cross_entropy_with_logits(out, zeros)
                opt_d.zero_grad()
                scaler.scale(d_loss).backward()
                scaler.unscale_(opt_d)
                nn.utils.clip_grad_norm_(d.parameters(), 1.0)
                scaler.step(opt_d)
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    g_loss = F.binary_cross_entropy_with_logits(d(g(z)).float(), ones)
                if i == overflow_at:  # an overflow in G's gradient: the scaler skips its step
                    hook = next(g.parameters()).register_hook(lambda grad: grad * float("inf"))
                scaler.scale(g_loss).backward()
                if i == overflow_at:
                    hook.remove()
                scaler.step(opt_g)
                scaler.update()
                run.log(d_loss=d_loss, g_loss=g_loss)
        return run

    healthy = loop(detach=True)
    assert healthy.steps == 20
    # The saturation replay runs the traced bfloat16 calls under the same autocast.
    saturation = healthy.history.saturation
    assert "replay_error" not in saturation and set(saturation["real"]) == {"d_loss", "g_loss"}
    assert all(p["fake_spread"] == p["fake_spread"] for p in healthy.history.probes)
    for check in (pg.assert_d_step_isolated, pg.assert_gradients_zeroed, pg.assert_losses_finite):
        assert _pitfall(check, healthy) == "pass"
    # The scaler unscales G's gradients in place before its step: the leak still counts.
    assert _pitfall(pg.assert_d_step_isolated, loop(detach=False)) == "d-step-leaks-into-generator"
    # A G step the scaler skips is no step, and G's backward before it is not D's.
    step = torch.amp.GradScaler.step
    for overflow_at in (0, 3):  # 0: while the loss is being read
        skipped = loop(detach=True, overflow_at=overflow_at)
        assert skipped.steps == 19 and torch.amp.GradScaler.step is step
        assert skipped.history.events == {}
        for check in (
            pg.assert_d_step_isolated,
            pg.assert_gradients_zeroed,
            pg.assert_losses_finite,
        ):
            assert _pitfall(check, skipped) == "pass"
    # The skipped G step's loss was read as G's, not as the next D step's.
    assert set(skipped.history.saturation["real"]) == {"d_loss", "g_loss"}


def test_a_learning_rate_scheduler_and_gradient_clipping_change_nothing_watched() -> None:
    def loop(**mistake: Any) -> WatchedRun:
        g, d = _nets()
        opt_g, opt_d = _adam(g, d)
        scheduler = torch.optim.lr_scheduler.StepLR(opt_g, step_size=10, gamma=0.5)
        with pg.watch(g, d, opt_g, opt_d, data=DATA, latent_dim=LATENT) as run:
            script(g, d, opt_g, opt_d, 30, run, clip=0.5, scheduler=scheduler, **mistake)
        assert opt_g.param_groups[0]["lr"] == pytest.approx(1e-3 / 8)
        return run

    run = loop()
    assert run.steps == 30
    for check in (
        pg.assert_d_step_isolated,
        pg.assert_gradients_zeroed,
        pg.assert_optimizers_cover,
    ):
        assert _pitfall(check, run) == "pass"
    assert _pitfall(pg.assert_gradients_zeroed, loop(zero_grad_d=False)) == "gradient-accumulation"
    leaky = loop(detach=False, zero_grad_g_first=True)
    assert _pitfall(pg.assert_d_step_isolated, leaky) == "d-step-leaks-into-generator"


class _SkippingOptimizer:
    """A wrapper optimizer that, like Accelerate's while it accumulates gradients, steps
    the optimizer it holds only every ``every``-th call."""

    def __init__(self, optimizer: torch.optim.Optimizer, every: int) -> None:
        self.optimizer = optimizer
        self.every = every
        self.calls = 0

    def zero_grad(self) -> None:
        if self.calls % self.every == 0:
            self.optimizer.zero_grad()

    def step(self) -> None:
        self.calls += 1
        if self.calls % self.every == 0:
            self.optimizer.step()


# torch.compile's own tracing reads .grad of non-leaf tensors, watched or not.
@pytest.mark.filterwarnings("ignore:The .grad attribute of a Tensor that is not a leaf")
def test_wrapped_modules_and_optimizers_are_watched_where_they_train() -> None:
    g, d = _nets()
    opt_g, opt_d = _adam(g, d)
    wrapped_g, wrapped_d = nn.DataParallel(g), torch.compile(nn.DataParallel(d), backend="eager")
    skip_g, skip_d = _SkippingOptimizer(opt_g, 2), _SkippingOptimizer(opt_d, 2)
    with pg.watch(wrapped_g, wrapped_d, skip_g, skip_d, data=DATA, latent_dim=LATENT) as run:
        script(wrapped_g, wrapped_d, skip_g, skip_d, 20, run)
    assert run.generator is g and run.discriminator is d
    assert run.opt_g is opt_g and run.opt_d is opt_d
    # Skipped steps are no steps: 10 updates of each, none read as missing.
    assert run.steps == 10 and set(run.history["g_updates"]) == {1.0}
    assert set(run.history["d_updates"]) == {1.0}
    assert "no_d_update" not in run.history.events
    assert "step" not in vars(skip_g) and "step" not in vars(skip_d)
    for check in (
        pg.assert_d_step_isolated,
        pg.assert_optimizers_cover,
        pg.assert_gradients_zeroed,
    ):
        assert _pitfall(check, run) == "pass"


def test_bad_arguments_name_themselves() -> None:
    g, d = _nets()
    opt_g, opt_d = _adam(g, d)
    with pytest.raises(TypeError, match=r"generator must be an nn\.Module"):
        pg.watch(object(), d, opt_g, opt_d, data=DATA, latent_dim=LATENT)
    with pytest.raises(TypeError, match=r"opt_d must be a torch\.optim\.Optimizer"):
        pg.watch(g, d, opt_g, "adam", data=DATA, latent_dim=LATENT)
    with pytest.raises(TypeError, match="discriminator is a TorchScript module"):
        pg.watch(g, scripted(d), opt_g, opt_d, data=DATA, latent_dim=LATENT)
    lazy = nn.Sequential(nn.LazyLinear(8), nn.ReLU(), nn.Linear(8, 1))
    with pytest.raises(ValueError, match="discriminator has lazy layers not initialised yet"):
        pg.watch(g, lazy, opt_g, opt_d, data=DATA, latent_dim=LATENT)
    with pytest.raises(ValueError, match="loss must be None or one of"):
        pg.watch(g, d, opt_g, opt_d, data=DATA, latent_dim=LATENT, loss="bce-logits")
    with pytest.raises(ValueError, match="latent_dim"):
        pg.watch(g, d, opt_g, opt_d, data=DATA, latent_dim=3)
    with pytest.raises(TypeError, match="data"):
        pg.watch(g, d, opt_g, opt_d, data=[1, 2], latent_dim=LATENT)
    scheduler = torch.optim.lr_scheduler.StepLR(opt_g, step_size=10)
    with pytest.raises(TypeError, match=r"learning-rate scheduler\?\): pass opt_g=<that>"):
        pg.watch(g, d, scheduler, opt_d, data=DATA, latent_dim=LATENT)


def test_a_declared_loss_is_taken_and_the_run_cannot_be_trained_again() -> None:
    g, d = _nets()
    opt_g, opt_d = _adam(g, d)
    with pg.watch(g, d, opt_g, opt_d, data=DATA, latent_dim=LATENT, loss="wgan-gp") as run:
        pass
    assert run.steps == 0 and run.spec.loss == "wgan-gp" and not run.extendable
    with pytest.raises(pg.GANTrainingError, match="watched loop"):
        pg.train(run.spec, steps=1)


def test_the_checkpoint_check_rebuilds_the_generator_as_the_watch_found_it() -> None:
    run = watched_script(steps=30)
    fresh = run.spec.make_generator()
    initial = _nets()[0]
    assert all(
        torch.equal(a, b)
        for a, b in zip(fresh.state_dict().values(), initial.state_dict().values(), strict=True)
    )
    pg.assert_checkpoint_roundtrip(run)

    def save_fresh(module: nn.Module, path: Any) -> None:
        torch.save(copy.deepcopy(initial).state_dict(), path)

    with pytest.raises(pg.GANAssertionError) as e:
        pg.assert_checkpoint_roundtrip(run, save=save_fresh)
    assert e.value.pitfall == "checkpoint-not-trained"


# -- the zoo, trained by train(spec) and by a plain loop under watch ----------------------

#: One healthy reference and one or two twins of each family: the verdicts through watch
#: are the ones train gives (every case and seed: benchmarks/watch_parity.py).
PARITY = [
    "ring-mlp",
    "ring-mlp~non-finite-loss",
    "ring-mlp~d-step-leaks-into-generator",
    "ring-wgan-gp",
    "ring-wgan-gp~discriminator-not-lipschitz",
    "shapes-dcgan",
    "shapes-dcgan~discriminator-overpowers",
    "shapes-hinge-sn",
    "shapes-cgan~conditioning-ignored",
    "scenes-dcgan",
]


@pytest.mark.parametrize("name", PARITY)
def test_the_zoo_gets_the_same_verdicts_watched_as_trained(name: str) -> None:
    c = zoo.case(name)
    trained = pg.train(c.spec(), steps=200, seed=0, device="cpu")
    run = watched(c.spec(), 200, 0)
    checks = list(RUN_CHECKS) + [pg.assert_lipschitz] * c.spec().loss.startswith("wgan")
    if c.spec().conditional:
        checks.append(pg.assert_conditioning_effective)
    found = [{_pitfall(check, r) for check in checks} - {"pass"} for r in (trained, run)]
    assert found[0] == found[1]
    assert (c.pitfall in found[1]) if c.pitfall else not found[1]


def test_an_own_loop_that_ignores_its_steps_is_not_run_again() -> None:
    from pytest_gan.deciding import settle_loop

    calls: list[int] = []

    def loop(steps: int) -> WatchedRun:
        calls.append(steps)
        g, d = _nets()
        for p in g.parameters():
            nn.init.zeros_(p)  # every z gives the same point: blank and collapsed
        opt_g, opt_d = _adam(g, d)
        with pg.watch(g, d, opt_g, opt_d, data=DATA, latent_dim=LATENT) as run:
            script(g, d, opt_g, opt_d, 10, run)  # ten steps, whatever it is asked for
        return run

    run = settle_loop(loop, 10, 160)
    assert calls == [10, 20] and run.extensions == [] and run.steps == 10


class _Boxed(nn.Module):
    """A generator whose samples stay in a small blob at the origin, inside the ring,
    whatever its weights: z's first two coordinates / 100 (unbounded, so no activation
    confines it; its network's output weighs 0). Collapsed, and coming no nearer to the
    data however long it trains."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return 0.01 * z[:, :2] + 0.0 * self.net(z)


def test_an_own_loop_stopped_for_want_of_progress_says_so() -> None:
    from pytest_gan.deciding import settle_loop

    def loop(steps: int) -> WatchedRun:
        g, d = _nets()
        g = _Boxed(g)
        opt_g, opt_d = _adam(g, d)
        with pg.watch(g, d, opt_g, opt_d, data=DATA, latent_dim=LATENT) as run:
            script(g, d, opt_g, opt_d, steps, run)
        return run

    run = settle_loop(loop, 50, 800)
    # Its free 4x, then no further: its samples came no nearer the data.
    assert run.steps == 200 and run.extensions[-1]["no_progress"] == 200
    with pytest.raises(pg.GANAssertionError) as caught:
        pg.assert_diverse(run)
    message = str(caught.value)
    assert "the loop was run again for more steps from 50" in message
    # The loop run again from the start has no probe at step 50: the one before it.
    assert run.history.probe_at(50) is None
    assert "Meanwhile G's samples went from" in message and "(at step 40)" in message
    assert "It was not trained further" in message


def test_held_out_samples_are_shown_to_d_only_when_given() -> None:
    from pytest_gan.checks.overfitting import D_GENERALIZES, held_out

    g, d = _nets()
    opt_g, opt_d = _adam(g, d)
    data, unseen = DATA[:3000], DATA[3000:]
    with pg.watch(g, d, opt_g, opt_d, data=data, holdout=unseen, latent_dim=LATENT) as run:
        script(g, d, opt_g, opt_d, 20, run)
    assert held_out(run) and all(p["held_out"] for p in run.history.probes)
    plain = watched_script(steps=20)
    assert not held_out(plain)
    generalizes = D_GENERALIZES
    assert generalizes.applies(run) is None
    assert "pg.watch(..., holdout=...)" in str(generalizes.applies(plain))


def test_an_own_loop_run_again_keeps_its_first_runs_balance_and_learning_verdicts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pytest_gan import _defaults, deciding

    # A loop asked for its calibrated steps (here 10, for a short test).
    monkeypatch.setattr(_defaults, "CALIBRATED_STEPS", 10)
    # As if a waiting verdict were pending until the loop has run 40 steps.
    monkeypatch.setattr(deciding, "undecided", lambda run: ["mode-collapse"] * (run.steps < 40))
    monkeypatch.setattr(deciding, "still_moving", lambda run: True)
    recorded_at: list[int] = []
    record = deciding.record_first_verdicts

    def spy(run: Any, checks: Any = None) -> Any:
        recorded_at.append(run.steps)
        return record(run, checks)

    monkeypatch.setattr(deciding, "record_first_verdicts", spy)
    run = deciding.settle_loop(lambda steps: watched_script(steps=steps), 10, 160)
    assert (run.first_steps, run.steps) == (10, 40) and len(run.extensions) == 2
    assert recorded_at == [10]  # from the first run, once
    first = deciding.record_first_verdicts(watched_script(steps=10))
    assert (
        set(run.first_verdicts)
        == set(first)
        == {
            "assert_losses_balanced",
            "assert_generator_learns",
        }
    )
    assert {k: v and v.pitfall for k, v in run.first_verdicts.items()} == {
        k: v and v.pitfall for k, v in first.items()
    }
    assert run.first_verdicts_at == {}
    # A loop asked for fewer steps than the calibrated ones: its balance verdict is taken
    # from the first run at or past them (here 20), its learning verdict from the first.
    monkeypatch.setattr(_defaults, "CALIBRATED_STEPS", 20)
    recorded_at.clear()
    run = deciding.settle_loop(lambda steps: watched_script(steps=steps), 10, 160)
    assert recorded_at == [10, 20]
    assert set(run.first_verdicts) == {"assert_losses_balanced", "assert_generator_learns"}
    assert run.first_verdicts_at == {"assert_losses_balanced": 20}
    assert judged_at_first_steps(run, "assert_losses_balanced") == 20
    assert judged_at_first_steps(run, "assert_generator_learns") == 10
    # A loop that takes more G steps than it is asked for (whole batches): its verdicts
    # from the first run are its first steps' all the same, and say so.
    monkeypatch.setattr(_defaults, "CALIBRATED_STEPS", 10)
    run = deciding.settle_loop(lambda steps: watched_script(steps=steps + 2), 10, 160)
    assert run.first_verdicts_at == {} and run.steps == 42
    run.first_verdicts["assert_generator_learns"] = pg.GANAssertionError(
        "G did not learn.", pitfall="generator-not-learning", evidence={"judged_at_steps": 12}
    )
    with pytest.raises(pg.GANAssertionError, match="Judged at the run's first 12 steps"):
        pg.assert_generator_learns(run)
    # A run the loop gave once, with nothing pending, records nothing.
    monkeypatch.setattr(deciding, "undecided", lambda run: [])
    assert (
        deciding.settle_loop(lambda steps: watched_script(steps=steps), 10, 160).first_verdicts
        == {}
    )


class _CodedG(nn.Module):
    """InfoGAN's G: noise, a one-hot categorical code and a continuous code."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(LATENT + 3 + 1, 32), nn.ReLU(), nn.Linear(32, 2))

    def forward(self, noise: torch.Tensor, code: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([noise, code, c], dim=1))


class _InfoG(nn.Module):
    """getting-started's adapter: one z, split into G's three inputs."""

    def __init__(self, g: nn.Module) -> None:
        super().__init__()
        self.g = g

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        noise, code, c = z[:, :LATENT], z[:, LATENT : LATENT + 3], z[:, LATENT + 3 :]
        return self.g(noise, F.one_hot(code.argmax(1), 3).float(), c.clamp(-1, 1))


def test_a_generator_of_several_inputs_is_watched_through_an_adapter() -> None:
    d = _nets()[1]  # seeds torch's RNG: G's initialisation and the loop's draws follow it
    g = _CodedG()
    opt_g, opt_d = _adam(g, d)
    ones, zeros = torch.ones(BATCH, 1), torch.zeros(BATCH, 1)
    with pg.watch(_InfoG(g), d, opt_g, opt_d, data=DATA, latent_dim=LATENT + 4) as run:
        for i in range(30):
            code = F.one_hot(torch.randint(0, 3, (BATCH,)), 3).float()
            fake = g(torch.randn(BATCH, LATENT), code, torch.rand(BATCH, 1) * 2 - 1)
            d_loss = F.binary_cross_entropy_with_logits(d(_real(i)), ones)
            d_loss = d_loss + F.binary_cross_entropy_with_logits(d(fake.detach()), zeros)
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
            g_loss = F.binary_cross_entropy_with_logits(d(fake), ones)
            opt_g.zero_grad()
            g_loss.backward()
            opt_g.step()
            run.log(d_loss=d_loss, g_loss=g_loss)
    # The loop called g itself; the watch saw its 30 updates and samples through the adapter.
    assert run.steps == 30 and set(run.history["g_updates"]) == {1.0}
    assert not run.history.events
    assert run.samples(8).shape == (8, 2)
    pg.assert_d_step_isolated(run)
    pg.assert_optimizers_cover(run)
    pg.assert_generator_learns(run)
