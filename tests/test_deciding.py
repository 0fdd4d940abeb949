"""Runs that go on training: ``GANRun.extend`` and ``train(..., max_steps=...)``."""

from __future__ import annotations

import copy
import os
import pickle
import random
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import pytest_gan as pg
import wild
from fixtures.steps import UserStep
from pytest_gan import _defaults, deciding
from pytest_gan.checks import ALL
from pytest_gan.deciding import (
    MIN_CHANGE,
    MIN_PROGRESS,
    SPREAD_GROWTH,
    certain_failures,
    changing,
    making_progress,
    progress_since,
    samples_moved,
    settle,
    spread_by,
    spreading,
    still_moving,
    undecided,
)
from pytest_gan.history import distance_fell
from pytest_gan.smoke import verdict_table
from pytest_gan.smoke.table import FIRST_STEP_CHECKS
from pytest_gan.smoke.verdicts import Verdict
from tests.tiny import LATENT, CondD, CondG, adam, make_g, tiny_spec, two_clusters


def _slow_g() -> nn.Module:
    """A healthy generator that starts with every output near one point: its samples
    spread out over the first few hundred steps (spread ratio 0.02 at 20 steps, 0.04 at
    40, 0.08-0.11 at 80, 0.18-0.28 at 160, 0.35-0.60 at 320 on seeds 0-2). A run of points
    passes once its samples stayed spread out over its last half: the lasting spread is
    0.13-0.21 at 160 steps and 0.25-0.49 at 320, past MIN_LASTING_SPREAD_RATIO (0.23) by
    320; the tests give it a budget of 640, so that a machine whose numerics put it a
    little lower at 320 judges it at 640."""
    g = make_g()
    with torch.no_grad():
        g[2].weight.mul_(0.01)
        g[2].bias.zero_()
    return g


class _ConstantG(nn.Module):
    """A generator that ignores z: every sample is one learnt point (a planted collapse)."""

    def __init__(self) -> None:
        super().__init__()
        self.point = nn.Parameter(torch.zeros(2))
        self.scale = nn.Linear(LATENT, 2)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.point + 0.0 * self.scale(z)


def _same_tensors(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("seed", [0, 3])
def test_an_extended_run_is_the_longer_run_bit_for_bit(seed: int) -> None:
    spec = tiny_spec(batch_size=32)
    extended = pg.train(spec, steps=30, seed=seed, device="cpu").extend(50)
    longer = pg.train(spec, steps=80, seed=seed, device="cpu")
    assert extended.steps == 80 and extended.first_steps == 30
    assert extended.history["g_loss"] == longer.history["g_loss"]
    assert extended.history["d_loss"] == longer.history["d_loss"]
    assert _same_tensors(extended.generator, longer.generator)
    assert _same_tensors(extended.discriminator, longer.discriminator)
    assert [p["step"] for p in extended.history.probes][-1] == 80
    assert extended.history.saturation  # the final probe was taken again at step 80


def test_extending_leaves_the_callers_rng_states_as_they_were() -> None:
    run = pg.train(tiny_spec(batch_size=32), steps=10, seed=0, device="cpu")
    torch.manual_seed(7)
    np.random.seed(7)
    random.seed(7)
    expected = (torch.rand(3), np.random.rand(), random.random())
    torch.manual_seed(7)
    np.random.seed(7)
    random.seed(7)
    run.extend(10)
    got = (torch.rand(3), np.random.rand(), random.random())
    assert torch.equal(got[0], expected[0]) and got[1:] == expected[1:]


def test_extend_refuses_bad_arguments_and_runs_that_cannot_go_on() -> None:
    run = pg.train(tiny_spec(batch_size=32), steps=5, seed=0, device="cpu")
    with pytest.raises(TypeError, match="steps"):
        run.extend(2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="steps"):
        run.extend(0)
    with pytest.raises(TypeError, match="progress"):
        run.extend(2, progress=3)  # type: ignore[arg-type]
    run._loop = None
    assert not run.extendable
    with pytest.raises(ValueError, match="cannot be extended"):
        run.extend(2)


def test_train_refuses_a_budget_below_its_steps() -> None:
    with pytest.raises(ValueError, match="max_steps"):
        pg.train(tiny_spec(), steps=20, max_steps=10, device="cpu")
    with pytest.raises(TypeError, match="max_steps"):
        pg.train(tiny_spec(), steps=20, max_steps="40", device="cpu")  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_slow_healthy_run_is_trained_on_until_it_passes(seed: int) -> None:
    spec = tiny_spec(generator=_slow_g, batch_size=32)
    early = pg.train(spec, steps=40, seed=seed, device="cpu")
    with pytest.raises(pg.GANAssertionError) as caught:
        pg.assert_diverse(early)
    assert caught.value.pitfall == "mode-collapse"
    # The message says what would decide it: the smoke suite's budget.
    assert f"max_steps={40 * _defaults.MAX_EXTEND_FACTOR}" in str(caught.value)

    run = pg.train(spec, steps=40, seed=seed, device="cpu", max_steps=640)
    pg.assert_diverse(run)
    assert run.first_steps == 40 and 40 < run.steps <= 640
    assert run.extensions[0] == {"from": 40, "to": 80, "pending": ["mode-collapse"]}
    # The same generator as one run of that many steps: judging changed nothing.
    assert _same_tensors(
        run.generator, pg.train(spec, steps=run.steps, seed=seed, device="cpu").generator
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_planted_collapse_still_fails_at_the_budget(seed: int) -> None:
    run = pg.train(
        tiny_spec(generator=_ConstantG, batch_size=32),
        steps=20,
        seed=seed,
        device="cpu",
        max_steps=80,
    )
    assert run.steps == 80
    assert [e["pending"] for e in run.extensions] == [["mode-collapse"], ["mode-collapse"]]
    with pytest.raises(pg.GANAssertionError) as caught:
        pg.assert_diverse(run)
    assert caught.value.pitfall == "mode-collapse"
    assert "trained on from 20" in str(caught.value)
    assert "Meanwhile G's samples went from" in str(caught.value)
    # Stopped by its budget, not by the progress rule: nothing said of the latter.
    assert not any(e.get("no_progress") for e in run.extensions)
    assert "not trained further" not in str(caught.value)


class _StuckG(nn.Module):
    """A generator whose samples cannot leave a tiny box at the origin, away from the data
    around (2, -1): collapsed, and no nearer to the data however long it trains."""

    def __init__(self) -> None:
        super().__init__()
        self.net = make_g()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return 0.001 * torch.tanh(self.net(z))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_past_4x_a_run_goes_on_only_while_its_samples_approach_the_data(seed: int) -> None:
    # The slow generator needs 16x its first 20 steps (see _slow_g), and its samples keep
    # approaching the data: it is trained on past 4x and passes.
    slow = pg.train(
        tiny_spec(generator=_slow_g, batch_size=32),
        steps=20,
        seed=seed,
        device="cpu",
        max_steps=640,
    )
    pg.assert_diverse(slow)
    assert 4 * 20 < slow.steps <= 640
    assert progress_since(slow, slow.steps // 2) >= MIN_PROGRESS
    # The stuck one gets its free 4x, then stops: its samples came no nearer.
    stuck = pg.train(
        tiny_spec(generator=_StuckG, batch_size=32),
        steps=10,
        seed=seed,
        device="cpu",
        max_steps=160,
    )
    assert stuck.steps == 40
    assert progress_since(stuck, 20) < MIN_PROGRESS
    assert stuck.extensions[-1]["no_progress"] == 40
    with pytest.raises(pg.GANAssertionError) as caught:
        pg.assert_diverse(stuck)
    assert caught.value.pitfall == "mode-collapse"
    # The message says why it stopped short of its budget, and what would go further.
    assert "It was not trained further" in str(caught.value)
    assert "--gan-steps, or steps=" in str(caught.value)
    # Trained on by hand since, it did go further: the message no longer says otherwise.
    stuck.extend(10)
    with pytest.raises(pg.GANAssertionError) as caught:
        pg.assert_diverse(stuck)
    assert "not trained further" not in str(caught.value)


def _extended_twice() -> pg.GANRun:
    """A run trained 10 steps, then 10 to 20 and 20 to 40: two extensions, each pending."""
    run = pg.train(tiny_spec(generator=_ConstantG, batch_size=32), steps=10, device="cpu")
    for start in (10, 20):
        run.extend(start)
        run.extensions.append({"from": start, "to": run.steps, "pending": ["mode-collapse"]})
    return run


def _with_probes(
    run: pg.GANRun, field: str, by_step: dict[int, float], **fixed: float
) -> pg.GANRun:
    """``run`` with its probes' ``field`` at the given steps set to ``by_step``, and the
    ``fixed`` fields of those probes as given: a trajectory written out by hand."""
    run.history.probes = [
        replace(p, **{field: by_step[p.step]}, **fixed) if p.step in by_step else p
        for p in run.history.probes
    ]
    return run


def _with_distances(run: pg.GANRun, distances: dict[int, float], scale: float) -> pg.GANRun:
    """``run`` with its probes' ``fake_to_real`` at the given steps set to ``distances``
    and their ``real_to_real`` to ``scale``."""
    return _with_probes(run, "fake_to_real", distances, real_to_real=scale)


def test_a_plateau_of_one_doubling_is_a_pause_and_of_two_a_stall() -> None:
    run = _extended_twice()
    # Over the last doubling the samples came 0.1% nearer the data (under MIN_PROGRESS),
    # over the last two 10%: like the slow clipped WGAN on seed 5 (docs/benchmarks.md), a
    # pause.
    paused = _with_distances(run, {10: 10.0, 20: 9.0, 40: 8.99}, 1.0)
    assert progress_since(paused, 20) < MIN_PROGRESS <= progress_since(paused, 10)
    assert still_moving(paused)
    # No nearer over either: a stall.
    stalled = _with_distances(run, {10: 9.0, 20: 9.0, 40: 8.99}, 1.0)
    assert not still_moving(stalled)
    # Moving over the last doubling alone is enough, even after moving away before it.
    back = _with_distances(run, {10: 5.0, 20: 9.0, 40: 8.0}, 1.0)
    assert progress_since(back, 10) < MIN_PROGRESS <= progress_since(back, 20)
    assert still_moving(back)
    # Samples already as near the data as real samples are: nothing a longer run could do.
    there = _with_distances(run, {10: 1.0, 20: 0.9, 40: 0.8}, 1.0)
    assert not still_moving(there)


def _with_spreads(run: pg.GANRun, spreads: dict[int, float]) -> pg.GANRun:
    """``run`` with its probes' spread ratio at the given steps set to ``spreads``."""
    return _with_probes(run, "fake_spread", spreads, real_spread=1.0)


def test_samples_that_spread_out_over_two_doublings_are_still_leaving_their_start() -> None:
    once = pg.train(tiny_spec(generator=_ConstantG, batch_size=32), steps=10, device="cpu")
    once.extend(10)
    once.extensions.append({"from": 10, "to": 20, "pending": ["mode-collapse"]})
    assert not spreading(_with_spreads(once, {10: 0.01, 20: 1.0}))  # one extension: no read
    run = _extended_twice()
    # Growth over the last two doublings, at SPREAD_GROWTH and just under it: a healthy
    # recurrent GAN's least (2.46) goes on, the collapsed twin's most (1.51) does not.
    assert spreading(_with_spreads(run, {10: 0.01, 20: 0.014, 40: 0.01 * SPREAD_GROWTH}))
    assert not spreading(_with_spreads(run, {10: 0.01, 20: 0.02, 40: 0.0099 * SPREAD_GROWTH}))
    # Read over both doublings together: a hop within them that falls back is no growth.
    assert not spreading(_with_spreads(run, {10: 0.05, 20: 0.2, 40: 0.06}))
    assert spreading(_with_spreads(run, {10: 0.018, 20: 0.025, 40: 0.056}))  # rcgan seed 0


def _with_moves(run: pg.GANRun, moves: dict[int, float]) -> pg.GANRun:
    """``run`` with every fixed-z sample of its probe at each given step moved by the
    distance given there (along one feature) from where the first probe had it, its
    samples otherwise still: no nearer the data, spread no wider."""
    first = run.history.probes[0].samples
    unit = torch.zeros_like(first)
    unit.view(first.shape[0], -1)[:, 0] = 1.0
    still = {"fake_to_real": 5.0, "real_to_real": 1.0, "fake_spread": 0.1, "real_spread": 1.0}
    run.history.probes = [
        replace(p, samples=first + moves.get(p.step, 0.0) * unit, **still)
        for p in run.history.probes
    ]
    return run


def test_samples_that_still_change_keep_a_run_pending_collapse_going() -> None:
    run = _extended_twice()
    # Each sample moved MIN_CHANGE of the real samples' spread over the last doubling:
    # still changing, though no nearer the data and no more spread out.
    moving = _with_moves(run, {10: 3.0, 20: 1.0, 40: 1.0 + MIN_CHANGE})
    assert samples_moved(moving, 20) == pytest.approx(MIN_CHANGE)
    assert changing(moving) and not still_moving(moving) and not spreading(moving)
    assert making_progress(moving, ["mode-collapse"])
    assert making_progress(moving, ["blank-output", "conditioning-ignored"])
    # Only the verdicts on the samples themselves wait for that.
    assert not making_progress(moving, ["conditioning-ignored"])
    # Just under it, or a move before the last doubling alone: settled.
    assert not changing(_with_moves(run, {20: 1.0, 40: 1.0 + 0.99 * MIN_CHANGE}))
    assert not changing(_with_moves(run, {10: 0.0, 20: 3.0, 40: 3.0}))
    # A generator whose weights never move (G's loss on detached fakes) moves not at all.
    assert samples_moved(_with_moves(run, {}), 20) == 0.0
    # Not yet extended: nothing to read.
    once = pg.train(tiny_spec(generator=_ConstantG, batch_size=32), steps=10, device="cpu")
    assert not changing(once)


# About 30 s each on a core: the suite runs seed 0 (stopped at 800 and failed before, on
# AVX512), CI's sweep (PYTEST_GAN_SWEEP=1) adds seed 2 (the same).
_RCGAN_SEEDS = [0, 2] if os.environ.get("PYTEST_GAN_SWEEP") else [0]


@pytest.mark.parametrize("seed", _RCGAN_SEEDS)
def test_a_recurrent_gan_leaving_a_collapsed_start_is_not_stopped_for_want_of_progress(
    seed: int,
) -> None:
    # benchmarks/trial_outside_zoo_5.py's RCGAN starts collapsed and stays so, its samples
    # moving away from the data, until 600-1,000 steps; by 1,600 it spreads as the data
    # do. With AVX512 kernels these seeds are still collapsed at 800 and no nearer the
    # data (stopped there for want of progress, they failed mode-collapse), but spread
    # out 3.2x and 7.8x since 200; under ATEN_CPU_CAPABILITY=default both pass at 800.
    from benchmarks.trial_outside_zoo_5 import rcgan

    run = pg.train(rcgan(), steps=200, seed=seed, device="cpu", max_steps=3200)
    assert not any(e.get("no_progress") for e in run.extensions)
    assert run.steps in (800, 1600)
    if run.steps == 1600:
        # Trained on past 4x: at 800 its samples had come no nearer the data over either
        # window, and had spread out.
        at_800 = run.history.probe_by(800)
        for start in (200, 400):
            then = run.history.probe_by(start)
            assert then is not None and at_800 is not None
            assert distance_fell(then, at_800) < MIN_PROGRESS
        assert spread_by(run, 800) >= SPREAD_GROWTH * spread_by(run, 200)
    pg.assert_diverse(run)


def test_a_recurrent_gan_still_wandering_from_its_collapsed_start_is_trained_on() -> None:
    # The second recurrent GAN (benchmarks/trial_outside_zoo_5.py, rcgan-small) on seed 1,
    # under AVX512 and default kernels alike: at 800 steps its samples are no nearer the
    # data than at 200 or 400, and less spread out than at 400 (0.023 of the data's
    # spread, 0.053 at 400); it was stopped there and failed blank-output and
    # mode-collapse. But its fixed-z samples moved 0.97 of the data's spread over that
    # doubling: trained on, it spreads out by 1,600 steps (0.39) and passes (about 15 s).
    from benchmarks.trial_outside_zoo_5 import rcgan_small

    run = pg.train(rcgan_small(), steps=200, seed=1, device="cpu", max_steps=3200)
    assert not any(e.get("no_progress") for e in run.extensions)
    assert run.steps > 800
    # What the rules read at 800: no nearer the data over either window, not spread out
    # by SPREAD_GROWTH, but moved by more than MIN_CHANGE over the last doubling.
    at = {step: run.history.probe_by(step) for step in (200, 400, 800)}
    assert all(distance_fell(at[s], at[800]) < MIN_PROGRESS for s in (200, 400))
    assert spread_by(run, 800) < SPREAD_GROWTH * spread_by(run, 200)
    moved = (at[800].samples - at[400].samples).flatten(1).norm(dim=1).mean()
    assert moved / at[800].real_spread >= MIN_CHANGE
    pg.assert_not_blank(run)
    pg.assert_diverse(run)


# Each case trains the slowest wild GAN for 800 steps (about 50 s on a core): the suite
# runs seed 5 and the mutation; CI's sweep (PYTEST_GAN_SWEEP=1) adds seed 17, whose pause
# falls the other way round (the branch itself: the plateau test above).
_SLOW_WGAN_CASES = [(None, 5, True), ("blank-output", 0, False)] + (
    [(None, 17, True)] if os.environ.get("PYTEST_GAN_SWEEP") else []
)


@pytest.mark.parametrize(("mutation", "seed", "moving"), _SLOW_WGAN_CASES)
def test_at_4x_the_slow_clipped_wgan_is_still_moving_and_its_blank_outputs_are_not(
    mutation: str | None, seed: int, moving: bool
) -> None:
    # The slowest healthy GAN of the wild (aladdin-wgan) still fails blank and diversity at
    # 800 steps. On seed 5 its samples hardly moved over the last doubling but did over the
    # last two; on seed 17 the other way round (docs/benchmarks.md "Deciding early
    # verdicts"): both go on. Its raw-pixel mutation (outputs that cannot reach the data's
    # scale) stops.
    spec = wild.gan("aladdin-wgan").spec(mutation)
    run = pg.train(spec, steps=200, seed=seed, device="cpu", max_steps=800)
    assert run.steps == 800 and undecided(run) == ["blank-output", "mode-collapse"]
    assert still_moving(run) is moving


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_past_4x_a_run_that_already_fails_an_exact_check_is_not_trained_on(seed: int) -> None:
    # The slow generator again, with opt_d.zero_grad() deleted: its samples still approach
    # the data after 4x (so the progress rule alone would go on), but the run is broken
    # whatever its diversity becomes.
    spec = tiny_spec(generator=_slow_g, batch_size=32, train_step=UserStep(zero_grad_d=False))
    run = pg.train(spec, steps=10, seed=seed, device="cpu", max_steps=160)
    assert run.steps == 40
    assert progress_since(run, 20) >= MIN_PROGRESS
    assert certain_failures(run) == ["gradient-accumulation"]
    last = run.extensions[-1]
    assert (last["from"], last["to"], last["stopped"]) == (20, 40, ["gradient-accumulation"])
    # (On seed 2 the balance verdict of a run this short waits too, FLOORED, to be taken at
    # the calibrated steps; the exact failure stops the run all the same.)
    assert last["pending"][0] == "mode-collapse"
    # The same step without the mistake goes on to the budget.
    healthy = pg.train(
        tiny_spec(generator=_slow_g, batch_size=32, train_step=UserStep()),
        steps=10,
        seed=seed,
        device="cpu",
        max_steps=160,
    )
    assert healthy.steps == 160 and certain_failures(healthy) == []


def test_a_run_that_passes_is_not_trained_on() -> None:
    run = pg.train(tiny_spec(batch_size=32), steps=200, seed=0, device="cpu", max_steps=800)
    assert undecided(run) == []
    assert run.steps == 200 and run.extensions == []


def test_settle_starts_no_extension_it_has_no_time_for() -> None:
    run = pg.train(tiny_spec(generator=_ConstantG, batch_size=32), steps=20, device="cpu")
    # Less time than the run has cost so far: no doubling fits, none is started.
    settle(run, 10**6, time_limit=run.elapsed / 2)
    assert run.steps == 20 and run.extensions == []
    settle(run, 80, time_limit=10**6)
    assert run.steps == 80


def test_the_verdict_table_says_how_far_a_run_was_trained_on() -> None:
    judged = {
        "steps": 800,
        "first_steps": 200,
        "extensions": [
            {"from": 200, "to": 400, "pending": ["blank-output", "mode-collapse"]},
            {"from": 400, "to": 800, "pending": ["mode-collapse"]},
        ],
    }
    verdicts = [
        Verdict("slow-wgan", "not-blank", "", "pass", **judged),  # type: ignore[arg-type]
        Verdict("slow-wgan", "diverse", "", "pass", **judged),  # type: ignore[arg-type]
        Verdict("dcgan", "diverse", "", "pass", steps=200),
    ]
    lines = verdict_table(verdicts)
    notes = [line for line in lines if "trained on" in line]
    assert notes == [
        "    judged at 800 steps, trained on from 200 while pending: blank-output, mode-collapse"
    ]
    first = "judged at step 200, as asked (the steps their thresholds were calibrated at)"
    assert not any(first in line for line in lines)  # neither check judged this spec
    assert set(FIRST_STEP_CHECKS) == {c.id for c in ALL if c.function in deciding.FIRST_STEPS}
    balanced = Verdict("slow-wgan", "losses-balanced", "", "pass", judged_at=200, **judged)  # type: ignore[arg-type]
    assert f"    balance {first}" in verdict_table([*verdicts, balanced])
    learned = Verdict("slow-wgan", "generator-learns", "", "pass", judged_at=200, **judged)  # type: ignore[arg-type]
    assert f"    balance and learning {first}" in verdict_table([*verdicts, balanced, learned])
    judged["extensions"][-1]["no_progress"] = 800  # type: ignore[index]
    notes = [line for line in verdict_table(verdicts) if "trained on" in line]
    assert notes[1:] == [
        "    not trained on further: its samples had stopped coming nearer the data"
        " and spreading out"
    ]
    # Stopped at 400 and trained on by hand to 800 since: it did go further.
    stale = [
        replace(v, extensions=[{**judged["extensions"][-1], "no_progress": 400}])
        for v in verdicts[:2]
    ]  # type: ignore[dict-item]
    assert not any("not trained on further" in line for line in verdict_table(stale))
    judged["extensions"][-1]["stopped"] = ["gradient-accumulation"]  # type: ignore[index]
    notes = [line for line in verdict_table(verdicts) if "trained on" in line]
    assert notes[1:] == ["    not trained on further, as it already fails: gradient-accumulation"]
    # A run asked for fewer than the calibrated steps: its balance verdict was taken at the
    # first steps at or past them, its learning verdict where asked.
    short = {
        "steps": 480,
        "first_steps": 30,
        "extensions": [
            {"from": 30, "to": 60, "pending": ["discriminator-too-weak"]},
            {"from": 60, "to": 120, "pending": ["discriminator-too-weak"]},
            {"from": 120, "to": 240, "pending": ["discriminator-too-weak", "mode-collapse"]},
            {"from": 240, "to": 480, "pending": ["mode-collapse"]},
        ],
    }
    lines = verdict_table(
        [
            Verdict("short", "losses-balanced", "", "pass", judged_at=240, **short),  # type: ignore[arg-type]
            Verdict("short", "generator-learns", "", "pass", judged_at=30, **short),  # type: ignore[arg-type]
        ]
    )
    assert (
        f"judged: balance at step 240 (the first steps reached at or past the "
        f"{_defaults.CALIBRATED_STEPS} it was calibrated at), learning at step 30 (as asked)"
    ) in " ".join(" ".join(lines).split())


def _slow_cond_g() -> nn.Module:
    """A healthy conditional generator whose labels start almost without effect: they
    become separable between 40 and 80 steps at lr 1e-3 (seeds 0-3)."""
    g = CondG()
    with torch.no_grad():
        g.emb.weight.mul_(0.01)
    return g


class _LabelBlindG(CondG):
    """A conditional generator that drops its labels (a planted conditioning-ignored)."""

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return super().forward(z, torch.zeros_like(y))


def _fast(g: nn.Module, d: nn.Module) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
    return (
        torch.optim.Adam(g.parameters(), lr=1e-3, betas=(0.5, 0.999)),
        torch.optim.Adam(d.parameters(), lr=1e-3, betas=(0.5, 0.999)),
    )


def _conditional(generator: Any) -> pg.GANSpec:
    return tiny_spec(
        generator=generator,
        discriminator=CondD,
        data=two_clusters(),
        num_classes=2,
        batch_size=32,
        optimizers=_fast,
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_labels_that_are_still_being_learnt_are_waited_for(seed: int) -> None:
    early = pg.train(_conditional(_slow_cond_g), steps=20, seed=seed, device="cpu")
    with pytest.raises(pg.GANAssertionError) as caught:
        pg.assert_conditioning_effective(early)
    assert caught.value.evidence["label_share"] > 0
    assert f"max_steps={20 * _defaults.MAX_EXTEND_FACTOR}" in str(caught.value)
    run = pg.train(_conditional(_slow_cond_g), steps=20, seed=seed, device="cpu", max_steps=80)
    pg.assert_conditioning_effective(run)
    assert "conditioning-ignored" in run.extensions[0]["pending"]


def test_labels_that_change_nothing_are_not_waited_for() -> None:
    run = pg.train(_conditional(_LabelBlindG), steps=20, seed=0, device="cpu", max_steps=80)
    assert "conditioning-ignored" not in undecided(run)
    with pytest.raises(pg.GANAssertionError) as caught:
        pg.assert_conditioning_effective(run)
    assert caught.value.evidence["label_share"] == 0.0


def test_a_check_that_cannot_judge_the_run_does_not_stop_training() -> None:
    # 600 labels: more than assert_conditioning_effective's 1,024 samples can tell apart,
    # so it raises ValueError (asking for more samples) rather than judge; train goes on.
    k = 600
    x = torch.randn(2 * k, 2)
    y = torch.arange(2 * k) % k
    spec = tiny_spec(
        generator=lambda: CondG(k), discriminator=lambda: CondD(k), data=(x, y), num_classes=k
    )
    run = pg.train(spec, steps=4, device="cpu", max_steps=8)
    assert "conditioning-ignored" not in undecided(run)
    with pytest.raises(ValueError, match="samples"):
        pg.assert_conditioning_effective(run)


def test_a_copy_of_a_run_is_judged_but_not_extended() -> None:
    run = pg.train(tiny_spec(batch_size=32), steps=5, seed=0, device="cpu")
    twin = copy.deepcopy(run)
    assert not twin.extendable and run.extendable
    pg.assert_losses_finite(twin)
    run.extend(5)
    assert (run.steps, twin.steps) == (10, 5)


def test_an_extension_that_raises_leaves_a_run_that_cannot_go_on() -> None:
    def step(ctx: Any, batch: torch.Tensor) -> dict[str, float]:
        if ctx.step == 7:
            raise RuntimeError("boom")
        return {"d_loss": 0.0, "g_loss": 0.0}

    run = pg.train(tiny_spec(train_step=step), steps=5, device="cpu")
    with pytest.raises(pg.GANTrainingError, match="step 7"):
        run.extend(5)
    assert not run.extendable and run.steps == 5


def _pending_until(monkeypatch: pytest.MonkeyPatch, steps: int) -> None:
    """Make ``settle`` train every run on to ``steps``, as if a waiting verdict (say a slow
    GAN's blank samples) were pending until then."""
    monkeypatch.setattr(deciding, "undecided", lambda run: ["blank-output"] * (run.steps < steps))
    monkeypatch.setattr(deciding, "still_moving", lambda run: True)


# The tiny GAN's generator at 1e-5 (20x below its healthy 2e-4) moves 0.0011-0.0014 in 40
# steps, under its share of the limit there (0.0024), and 0.013-0.014 in 320 (limit 0.012),
# seeds 0-2: judged on the longer run, the slow generator would pass.
@pytest.mark.parametrize("seed", [0, 1])
def test_a_run_trained_on_for_a_waiting_verdict_keeps_its_first_steps_learning_verdict(
    monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    slow = tiny_spec(batch_size=32, optimizers=adam(1e-5))
    pg.assert_generator_learns(pg.train(slow, steps=640, seed=seed, device="cpu"))
    with pytest.raises(pg.GANAssertionError):
        pg.assert_generator_learns(pg.train(slow, steps=40, seed=seed, device="cpu"))
    _pending_until(monkeypatch, 640)

    run = pg.train(slow, steps=40, seed=seed, device="cpu", max_steps=640)
    assert (run.first_steps, run.steps) == (40, 640)
    with pytest.raises(pg.GANAssertionError) as caught:
        pg.assert_generator_learns(run)
    assert caught.value.pitfall == "generator-not-learning"
    assert caught.value.evidence["judged_at_steps"] == 40
    assert "Judged at the run's first 40 steps" in str(caught.value)
    assert "trained on to 640 steps only to decide blank-output" in str(caught.value)
    # Raised afresh on each call, the same verdict.
    with pytest.raises(pg.GANAssertionError, match="first 40 steps"):
        pg.assert_generator_learns(run)

    # Both ways: the healthy generator's pass at its first steps stands as well.
    healthy = pg.train(tiny_spec(batch_size=32), steps=40, seed=seed, device="cpu", max_steps=640)
    assert healthy.steps == 640 and healthy.first_verdicts["assert_generator_learns"] is None
    pg.assert_generator_learns(healthy)


def test_the_balance_check_gives_its_first_steps_verdict_on_an_extended_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A run asked for its calibrated steps (here 40, for a tiny GAN and a short test).
    monkeypatch.setattr(_defaults, "CALIBRATED_STEPS", 40)
    _pending_until(monkeypatch, 80)
    run = pg.train(tiny_spec(batch_size=32), steps=40, seed=0, device="cpu", max_steps=80)
    assert run.steps == 80 and set(run.first_verdicts) == {
        "assert_losses_balanced",
        "assert_generator_learns",
    }
    pg.assert_losses_balanced(run)
    # What the check found at the first steps is what it reports for the longer run.
    won = pg.GANAssertionError(
        "D has won outright.",
        pitfall="discriminator-overpowers",
        evidence={"auc": 1.0, "judged_at_steps": 40},
    )
    run.first_verdicts["assert_losses_balanced"] = won
    with pytest.raises(pg.GANAssertionError, match="D has won outright") as caught:
        pg.assert_losses_balanced(run)
    assert caught.value.pitfall == "discriminator-overpowers"
    assert caught.value.evidence == {"auc": 1.0, "judged_at_steps": 40}
    # A copy or a pickle of the run keeps the verdict (the error rebuilds from its fields).
    for twin in (copy.deepcopy(run), pickle.loads(pickle.dumps(run.first_verdicts))):
        stored = twin.first_verdicts if isinstance(twin, pg.GANRun) else twin
        kept = stored["assert_losses_balanced"]
        assert isinstance(kept, pg.GANAssertionError)
        assert (str(kept), kept.pitfall, kept.evidence) == (str(won), won.pitfall, won.evidence)
    # Trained on further by hand, the run is judged as it is again.
    run.extend(40)
    pg.assert_losses_balanced(run)
    # A run never trained on for a waiting verdict records nothing and is judged as it is.
    plain = pg.train(tiny_spec(batch_size=32), steps=40, seed=0, device="cpu")
    assert plain.first_verdicts == {}


def test_a_check_that_raises_while_recording_is_left_to_judge_the_longer_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(run: pg.GANRun) -> None:
        raise RuntimeError("a forward pass that fails")

    monkeypatch.setattr(deciding, "FIRST_STEPS", (broken, pg.assert_generator_learns))
    _pending_until(monkeypatch, 20)
    run = pg.train(tiny_spec(batch_size=32), steps=10, seed=0, device="cpu", max_steps=20)
    assert run.steps == 20 and set(run.first_verdicts) == {"assert_generator_learns"}


def test_a_diverged_short_run_is_not_trained_on_for_its_balance() -> None:
    # The balance check names a run that ended diverged non-finite-loss; that verdict is
    # exact and never waits, whatever the run's steps.
    def step(ctx: Any, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        g, d = ctx.generator, ctx.discriminator
        fake = g(ctx.latent(batch.shape[0]))
        ctx.opt_d.zero_grad()
        d_loss = F.softplus(-d(batch)).mean() + F.softplus(d(fake.detach())).mean()
        d_loss.backward()
        ctx.opt_d.step()
        ctx.opt_g.zero_grad()
        g_loss = F.softplus(-d(fake)).mean()
        if ctx.step >= 10:
            g_loss = g_loss * float("nan")
        g_loss.backward()
        ctx.opt_g.step()
        return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach()}

    run = pg.train(tiny_spec(train_step=step), steps=20, seed=0, device="cpu", max_steps=320)
    assert "non-finite-loss" not in undecided(run)
    assert (run.steps, run.extensions) == (20, [])
    with pytest.raises(pg.GANAssertionError) as caught:
        pg.assert_losses_balanced(run)
    assert caught.value.pitfall == "non-finite-loss"
