"""The raw records of the instrumentation: loud on planted wiring mistakes, quiet on
healthy loops (the verdicts on them are the checks' business)."""

from __future__ import annotations

import io
import math
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch.nn.modules import module as torch_module

from fixtures.steps import UserStep
from pytest_gan import History, TrainContext, _defaults, train
from pytest_gan.history import distance_fell, gap_closed
from tests.tiny import make_d, tiny_spec

STEPS = 12


def run_with(**step_kwargs: Any) -> Any:
    return train(tiny_spec(train_step=UserStep(**step_kwargs)), steps=STEPS, seed=0)


@pytest.mark.parametrize("style", ["optimizer", "module", "in-place"])
def test_healthy_loops_raise_no_flag(style: str) -> None:
    run = run_with(zero_grad_style=style)
    h = run.history
    assert set(h["d_step_g_grads"]) == {0.0}
    assert set(h["d_stale_grads"]) == {0.0} and set(h["g_stale_grads"]) == {0.0}
    assert set(h["d_updates"]) == {1.0} and set(h["g_updates"]) == {1.0}
    assert run.history.events == {}
    norms = h["g_grad_norm"] + h["d_grad_norm"] + h["g_update_norm"]
    assert all(v > 0 for v in norms if not math.isnan(v))


@pytest.mark.parametrize("start", [0, 4])
def test_norms_are_read_on_every_eighth_step_and_nan_between(start: int) -> None:
    """The optimizer norms cost a copy of the weights per optimizer step: they are read on
    a stretch's first step and on steps whose number is a multiple of NORM_EVERY; the
    exact bookkeeping (updates, stale gradients, leaks) stays on every step."""
    run = train(tiny_spec(), steps=start or 20, seed=0)
    if start:
        run.extend(16)
    h = run.history
    read = {s for s, v in zip(h.steps, h["g_update_norm"], strict=True) if not math.isnan(v)}
    expected = {s for s in range(20) if s % _defaults.NORM_EVERY == 0} | {start}
    assert len(expected) == (3 if not start else 4)  # the schedule is exercised, not empty
    assert read == expected
    for key in (
        "g_grad_norm",
        "d_grad_norm",
        "d_update_norm",
        "g_update_ratio",
        "d_update_ratio",
        "g_pace",
        "d_pace",
    ):
        assert {s for s, v in zip(h.steps, h[key], strict=True) if not math.isnan(v)} == read
    assert set(h["d_updates"]) == {1.0} and set(h["g_updates"]) == {1.0}


def test_the_builtin_step_raises_no_flag() -> None:
    run = train(tiny_spec(n_critic=3), steps=STEPS)
    assert run.history.events == {}
    assert set(run.history["d_updates"]) == {3.0}


@pytest.mark.parametrize("zero_g_first", [False, True])
def test_a_missing_detach_is_seen_on_every_step(zero_g_first: bool) -> None:
    # By default the leaked gradient is cleared before G's step (wasted work, hidden
    # coupling); with G's zero_grad at the top it is applied to G (harmful). Both leak
    # during D's step.
    run = run_with(detach=False, zero_grad_g_first=zero_g_first)
    leaks = run.history["d_step_g_grads"]
    assert all(v == 4.0 for v in leaks), leaks  # all four G parameter tensors
    assert run.history.events["d_step_g_grads"] == {"count": STEPS, "first_step": 0}
    # Only with G's zero_grad before D's step does G's update apply the leak.
    applied = run.history["d_leak_in_g_step"]
    assert all(v == (4.0 if zero_g_first else 0.0) for v in applied), applied
    assert ("d_leak_in_g_step" in run.history.events) == zero_g_first


def test_a_missing_zero_grad_is_seen_from_the_second_step() -> None:
    run = run_with(zero_grad_d=False)
    stale = run.history["d_stale_grads"]
    assert stale[0] == 0.0 and all(v == 4.0 for v in stale[1:]), stale
    assert run.history.events["d_stale_grads"] == {"count": STEPS - 1, "first_step": 1}
    assert set(run.history["g_stale_grads"]) == {0.0}


def test_zeroing_g_before_the_d_step_accumulates_gs_gradients_from_d() -> None:
    # G's gradients are reset once per iteration, but G's own backward of the previous
    # iteration is not what lands in them: D's backward does (the fakes reach D through
    # the graph only when detach is missing, so with detach this loop is healthy).
    run = run_with(zero_grad_g_first=True)
    assert run.history.events == {}


def test_an_optimizer_over_the_wrong_module_shows_in_the_wiring() -> None:
    def wrong(g: torch.nn.Module, d: torch.nn.Module) -> Any:
        return torch.optim.Adam(d.parameters(), lr=2e-4), torch.optim.Adam(d.parameters(), lr=2e-4)

    run = train(tiny_spec(optimizers=wrong), steps=3)
    w = run.history.wiring
    assert w["opt_g"]["generator"] == {"covered": 0, "total": 4}
    assert w["opt_g"]["discriminator"] == {"covered": 4, "total": 4}
    assert w["uncovered"]["generator"] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert w["uncovered"]["discriminator"] == []


def test_an_optimizer_over_part_of_a_module_lists_the_rest() -> None:
    def partial(g: torch.nn.Module, d: torch.nn.Module) -> Any:
        return torch.optim.Adam(g[0].parameters()), torch.optim.Adam(d.parameters())

    run = train(tiny_spec(optimizers=partial), steps=2)
    assert run.history.wiring["uncovered"] == {
        "generator": ["2.weight", "2.bias"],
        "discriminator": [],
    }


def test_healthy_wiring_covers_everything() -> None:
    w = train(tiny_spec(), steps=1).history.wiring
    assert w["uncovered"] == {"generator": [], "discriminator": []}
    assert w["opt_g"]["generator"]["covered"] == 4 and w["opt_d"]["discriminator"]["covered"] == 4
    assert w["opt_g"]["discriminator"]["covered"] == 0 and not w["same_optimizer"]


def test_a_step_that_never_updates_is_counted() -> None:
    def lazy(ctx: TrainContext, batch: torch.Tensor) -> dict[str, float]:
        return {"d_loss": 1.0, "g_loss": math.nan}

    run = train(tiny_spec(train_step=lazy), steps=5)
    events = run.history.events
    assert events["no_g_update"] == {"count": 5, "first_step": 0}
    assert events["nonfinite:g_loss"] == {"count": 5, "first_step": 0}
    assert "nonfinite:d_loss" not in events


def test_steps_before_a_networks_first_update_count_only_if_it_never_updates() -> None:
    # A step that updates G on every third call: its first two steps are its rhythm's
    # start, not missed updates; the later ones are counted, the same whether the run is
    # trained in one stretch or extended.
    def every_third(ctx: TrainContext, batch: torch.Tensor) -> dict[str, Any]:
        losses = UserStep()(ctx, batch) if ctx.step % 3 == 2 else {}
        if not losses:
            fake = ctx.generator(ctx.latent(batch.shape[0])).detach()
            ctx.opt_d.zero_grad()
            d_loss = F.softplus(-ctx.discriminator(batch)).mean()
            d_loss = d_loss + F.softplus(ctx.discriminator(fake)).mean()
            d_loss.backward()
            ctx.opt_d.step()
            losses = {"d_loss": d_loss, "g_loss": math.nan}
        return losses

    whole = train(tiny_spec(train_step=every_third), steps=9)
    extended = train(tiny_spec(train_step=every_third), steps=3).extend(6)
    for run in (whole, extended):
        assert run.history.events["no_g_update"] == {"count": 4, "first_step": 3}
        assert "no_d_update" not in run.history.events


def test_probes_are_bounded_and_regular() -> None:
    run = train(tiny_spec(), steps=200)
    probes = run.history.probes
    steps = [p["step"] for p in probes]
    assert steps[0] == 0 and steps[-1] == 200
    assert len(probes) <= _defaults.MAX_PROBES + 2
    assert all(p["samples"].shape == (_defaults.PROBE_KEEP, 2) for p in probes)
    last = probes[-1]
    assert 0.0 <= last["d_acc_real"] <= 1.0 and 0.0 <= last["d_acc_fake"] <= 1.0
    assert -1.0 <= last["r_t"] <= 1.0 and last["fake_batch_std"] > 0
    assert last["d_threshold"] == 0.0


def test_a_sigmoid_discriminator_in_a_user_step_gets_the_half_threshold() -> None:
    def make_d() -> torch.nn.Module:
        return torch.nn.Sequential(
            torch.nn.Linear(2, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1), torch.nn.Sigmoid()
        )

    def step(ctx: TrainContext, real: torch.Tensor) -> dict[str, float]:
        return {"d_loss": 0.0, "g_loss": 0.0}

    run = train(tiny_spec(discriminator=make_d, train_step=step), steps=2)
    assert {p["d_threshold"] for p in run.history.probes} == {0.5}


def test_history_thins_itself_but_keeps_exact_event_counts() -> None:
    h = History(capacity=8)
    for step in range(1000):
        h.append(step, {"g_loss": math.nan if step % 100 == 7 else float(step)})
    assert len(h) <= 8
    assert h.stride & (h.stride - 1) == 0 and h.stride >= 128
    assert all(s % h.stride == 0 for s in h.steps)
    assert h.events["nonfinite:g_loss"] == {"count": 10, "first_step": 7}
    assert h[0]["step"] == 0 and h[-1]["g_loss"] == h["g_loss"][-1]
    with pytest.raises(KeyError, match="no column 'd_loss'"):
        h["d_loss"]


def test_history_rows_fill_missing_keys_with_nan() -> None:
    h = History()
    h.append(0, {"a": 1.0})
    h.append(1, {"b": 2.0})
    assert h["a"][0] == 1.0 and math.isnan(h["a"][1])
    assert math.isnan(h["b"][0]) and h["b"][1] == 2.0
    assert [row["step"] for row in h] == [0, 1]


def _clipping_step(*, zero_grad_d: bool, micro_batches: int = 1) -> Any:
    """A BCE step that clips gradients before stepping and may split D's batch."""

    def step(ctx: TrainContext, real: torch.Tensor) -> dict[str, Any]:
        g, d = ctx.generator, ctx.discriminator
        bce = torch.nn.functional.binary_cross_entropy_with_logits
        if zero_grad_d:
            ctx.opt_d.zero_grad()
        for part in real.chunk(micro_batches):
            fake = g(ctx.latent(part.shape[0])).detach()
            d_loss = bce(d(part), torch.ones(len(part), 1, device=part.device)) + bce(
                d(fake), torch.zeros(len(part), 1, device=part.device)
            )
            (d_loss / micro_batches).backward()
        torch.nn.utils.clip_grad_norm_(d.parameters(), 0.1)
        ctx.opt_d.step()
        ctx.opt_g.zero_grad()
        g_loss = bce(d(g(ctx.latent(len(real)))), torch.ones(len(real), 1, device=real.device))
        g_loss.backward()
        torch.nn.utils.clip_grad_norm_(g.parameters(), 0.1)
        ctx.opt_g.step()
        return {"d_loss": d_loss, "g_loss": g_loss}

    return step


@pytest.mark.parametrize("micro_batches", [1, 4])
def test_clipping_and_micro_batches_are_not_mistaken_for_stale_gradients(
    micro_batches: int,
) -> None:
    run = train(
        tiny_spec(train_step=_clipping_step(zero_grad_d=True, micro_batches=micro_batches)),
        steps=STEPS,
    )
    assert run.history.events == {}


def test_a_missing_zero_grad_is_seen_through_clipping() -> None:
    run = train(tiny_spec(train_step=_clipping_step(zero_grad_d=False)), steps=STEPS)
    assert run.history.events["d_stale_grads"] == {"count": STEPS - 1, "first_step": 1}


def test_gap_closed_is_the_share_of_the_gap_to_the_data_closed_between_two_probes() -> None:
    then = {"fake_to_real": 10.0, "real_to_real": 5.0}
    assert gap_closed(then, {"fake_to_real": 7.5}) == 0.5
    assert gap_closed(then, {"fake_to_real": 12.5}) == -0.5  # moved away
    assert gap_closed({"fake_to_real": 4.0, "real_to_real": 5.0}, then) == math.inf
    assert math.isnan(gap_closed({"step": 0}, then))
    assert math.isnan(gap_closed(then, {"fake_to_real": math.nan}))


def test_probe_at_finds_the_probe_of_a_step() -> None:
    run = train(tiny_spec(), steps=20, device="cpu")
    assert run.history.probe_at(20) is run.history.probes[-1]
    assert run.history.probe_at(0) is run.history.probes[0]
    assert run.history.probe_at(7) is None


def test_distance_fell_is_the_share_of_the_distance_to_the_data_covered() -> None:
    then = {"fake_to_real": 10.0, "real_to_real": 5.0}
    assert distance_fell(then, {"fake_to_real": 9.0}) == pytest.approx(0.1)
    assert distance_fell(then, {"fake_to_real": 11.0}) == pytest.approx(-0.1)  # moved away
    # Unlike gap_closed, a gap that cannot close does not magnify the move.
    far = {"fake_to_real": 784.0, "real_to_real": 664.0}
    assert distance_fell(far, {"fake_to_real": 783.0}) < gap_closed(far, {"fake_to_real": 783.0})
    assert distance_fell({"fake_to_real": 4.0, "real_to_real": 5.0}, then) == math.inf
    assert math.isnan(distance_fell({"step": 0}, then))
    assert math.isnan(distance_fell(then, {"fake_to_real": math.nan}))


def _one_sgd_step(make: Any) -> tuple[Any, dict[str, torch.Tensor]]:
    """One step of plain SGD on the tiny GAN with D made by ``make``: the run, and each of
    D's tensors' update norm over its weight norm before the step, by name."""
    initial: list[dict[str, torch.Tensor]] = []

    def discriminator() -> torch.nn.Module:
        d = make()
        initial.append({n: p.detach().clone() for n, p in d.named_parameters()})
        return d

    spec = tiny_spec(
        discriminator=discriminator,
        optimizers=lambda g, d: (
            torch.optim.SGD(g.parameters(), lr=0.1),
            torch.optim.SGD(d.parameters(), lr=0.1),
        ),
    )
    run = train(spec, steps=1, seed=0)
    after = dict(run.discriminator.named_parameters())
    return run, {
        n: (after[n].detach() - w).norm() / w.norm() for n, w in initial[0].items() if w.dim() >= 2
    }


def test_a_networks_pace_is_its_median_weight_tensors_relative_update() -> None:
    """``d_pace``: of D's tensors of 2+ dimensions (not biases), the median of each one's
    update norm over its weight norm before the step; here, one step of plain SGD."""
    run, moved = _one_sgd_step(make_d)
    ratios = list(moved.values())
    assert len(ratios) >= 2 and all(r > 0 for r in ratios)
    expected = torch.stack(ratios).median().item()
    assert run.history["d_pace"][0] == pytest.approx(expected, rel=1e-5)


class _DWithIdleHead(torch.nn.Module):
    """The tiny D with two more heads its loss never reaches (an InfoGAN's code heads,
    trained by another optimizer): no gradient at D's step, so the optimizer skips them."""

    def __init__(self) -> None:
        super().__init__()
        self.body = make_d()
        self.code_head = torch.nn.Linear(2, 3)
        self.cont_head = torch.nn.Linear(2, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def test_a_weight_tensor_without_gradient_is_left_out_of_the_pace() -> None:
    """A head the step's loss did not reach is not part of that step: D's pace is the
    median over the tensors that had a gradient (read as 0, the idle heads made it 0)."""
    run, moved = _one_sgd_step(_DWithIdleHead)
    assert moved["code_head.weight"] == 0 and moved["cont_head.weight"] == 0
    stepped = [r for n, r in moved.items() if n.startswith("body")]
    assert len(stepped) == 2 and all(r > 0 for r in stepped)
    assert run.history["d_pace"][0] > 0
    assert run.history["d_pace"][0] == pytest.approx(torch.stack(stepped).median().item(), rel=1e-5)


def test_a_whole_discriminator_can_be_saved_mid_step_and_no_hook_outlives_the_run() -> None:
    """The instrumentation hooks nothing into the user's modules that pickling would meet
    (a forward hook kept in D's own dictionary failed to pickle): a loop that saves its
    whole D with ``torch.save`` mid-training keeps working, and nothing of the run's is
    left among torch's global module hooks afterwards."""
    inner = UserStep()
    saved: list[int] = []

    def step(ctx: Any, batch: Any) -> Any:
        out = inner(ctx, batch)
        buffer = io.BytesIO()
        torch.save(ctx.discriminator, buffer)
        saved.append(len(buffer.getvalue()))
        return out

    hooks_before = len(torch_module._global_forward_pre_hooks)
    train(tiny_spec(train_step=step), steps=10)
    assert len(saved) == 10 and all(n > 0 for n in saved)
    assert len(torch_module._global_forward_pre_hooks) == hooks_before
