"""``train(..., stop_early=True)``: a run whose failure is certain from its exact records
stops there, and says so; a healthy run never stops; the smoke suite stops such runs."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch

from fixtures.steps import UserStep
from pytest_gan import (
    GANAssertionError,
    assert_d_step_isolated,
    assert_gradients_zeroed,
    assert_losses_finite,
    assert_optimizers_cover,
    train,
)
from pytest_gan.deciding import recorded_failures
from tests.test_smoke import TOY_GAN, _table
from tests.tiny import tiny_spec


def nan_from(step: int) -> Any:
    """A correct step whose losses turn NaN from ``step`` on (a log of zero, say)."""

    def train_step(ctx: Any, batch: Any) -> Any:
        losses = dict(UserStep()(ctx, batch))
        if ctx.step >= step:
            losses["g_loss"] = torch.tensor(math.nan)
        return losses

    return train_step


def only_g_in_opt_d(g: Any, d: Any) -> Any:
    # opt_d built over the generator's parameters: D is never trained.
    return torch.optim.Adam(g.parameters(), lr=1e-3), torch.optim.Adam(g.parameters(), lr=1e-3)


@pytest.mark.parametrize(
    ("overrides", "pitfall", "at", "check"),
    [
        ({"train_step": nan_from(7)}, "non-finite-loss", 8, assert_losses_finite),
        (
            {"train_step": UserStep(detach=False, zero_grad_g_first=True)},
            "d-step-leaks-into-generator",
            1,
            assert_d_step_isolated,
        ),
        ({"train_step": UserStep(zero_grad_d=False)}, "gradient-accumulation", 2, None),
        (
            {"train_step": UserStep(), "optimizers": only_g_in_opt_d},
            "optimizer-misses-parameters",
            1,
            assert_optimizers_cover,
        ),
    ],
    ids=["nan", "leak", "no-zero-grad", "optimizer"],
)
def test_a_certain_failure_stops_the_run_where_it_is_recorded(
    overrides: dict[str, Any], pitfall: str, at: int, check: Any
) -> None:
    spec = tiny_spec(**overrides)
    run = train(spec, steps=40, stop_early=True)
    assert run.stopped_early == {"at": at, "of": 40, "pitfalls": [pitfall]}
    assert run.steps == at and run.history.probes[-1]["step"] == at
    # The check that reads those records fails the stopped run as it fails the whole one.
    whole = train(spec, steps=40)
    assert whole.steps == 40 and whole.stopped_early is None
    for judged in (run, whole):
        with pytest.raises(GANAssertionError) as failed:
            (check or assert_gradients_zeroed)(judged)
        assert failed.value.pitfall == pitfall


def test_a_healthy_run_is_never_stopped_and_trains_the_same() -> None:
    spec = tiny_spec()
    before = torch.get_rng_state()
    early = train(spec, steps=40, stop_early=True)
    assert torch.equal(torch.get_rng_state(), before)
    whole = train(spec, steps=40)
    assert early.stopped_early is None and early.steps == 40
    assert recorded_failures(early.history) == []
    for a, b in zip(early.generator.parameters(), whole.generator.parameters(), strict=True):
        assert torch.equal(a, b)


def test_a_stopped_run_is_not_trained_on_and_stops_the_same_way_each_time() -> None:
    spec = tiny_spec(train_step=nan_from(3))
    first = train(spec, steps=40, max_steps=640, stop_early=True)
    again = train(spec, steps=40, max_steps=640, stop_early=True)
    assert first.steps == again.steps == 4 and first.extensions == []
    assert first.stopped_early == again.stopped_early


def test_a_stopped_run_extended_by_hand_is_stopped_no_more() -> None:
    run = train(tiny_spec(train_step=UserStep(zero_grad_d=False)), steps=40, stop_early=True)
    assert run.stopped_early is not None and run.extendable
    run.extend(8)
    assert run.steps == 10 and run.stopped_early is None


def test_stop_early_must_be_a_bool() -> None:
    with pytest.raises(TypeError, match="stop_early must be a bool"):
        train(tiny_spec(), steps=2, stop_early="yes")  # type: ignore[arg-type]


def test_an_uninstrumented_run_is_never_stopped() -> None:
    run = train(tiny_spec(train_step=nan_from(1)), steps=10, instrument=False, stop_early=True)
    assert run.steps == 10 and run.stopped_early is None


STOPPING_CONFTEST = (
    TOY_GAN
    + """
import math

def nan_step(ctx, batch):
    losses = dict(UserStep()(ctx, batch))
    if ctx.step >= 5:
        losses["d_loss"] = torch.tensor(math.inf)
    return losses

@pytest.fixture(params=["healthy", "nan"])
def gan_spec(request):
    step = UserStep() if request.param == "healthy" else nan_step
    return GANSpec(generator=g, discriminator=d, data=DATA, latent_dim=4, train_step=step,
                   optimizers=fast, name=request.param)
"""
)


def test_the_smoke_suite_stops_a_failing_run_and_judges_only_its_records(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(STOPPING_CONFTEST)
    result = pytester.runpytest_subprocess(
        "--gan-smoke", "--gan-steps", "200", "-rs", "--gan-report", "r.json"
    )
    out = result.stdout.str()
    checks, rows, found = _table(out)
    assert list(found) == ["nan"] and "    found: non-finite-loss\n" in out
    row = dict(zip(checks, rows["nan"], strict=True))
    assert row["losses-finite"] == "X" and row["d-step-isolated"] == "ok"
    for judged_on_the_whole_run in ("generator-learns", "diverse", "losses-balanced"):
        assert row[judged_on_the_whole_run] == "-"
    assert "stopped at step 6 of 200, as it already fails: non-finite-loss" in out
    result.stdout.fnmatch_lines(
        [
            "*diverse not judged: training stopped at step 6 of 200, as the run already fails "
            "non-finite-loss*"
        ]
    )
    assert "-" not in rows["healthy"][:5] and "X" not in rows["healthy"]
    import json

    verdicts = json.loads((pytester.path / "r.json").read_text())["verdicts"]
    nan = [v for v in verdicts if v["spec"] == "nan"]
    assert all(v["steps"] == 6 and v["stopped_early"]["of"] == 200 for v in nan)
    assert all(v["elapsed"] > 0 for v in verdicts)


def test_the_checks_that_judge_a_stopped_run_are_the_certain_ones() -> None:
    """A stopped run is judged by the checks whose records are complete at any step:
    deciding's CERTAIN checks, and the data check, which reads no run."""
    import pytest_gan
    from pytest_gan.checks import ALL
    from pytest_gan.deciding import CERTAIN

    exact = {c.function for c in ALL if c.exact}
    assert exact == {*CERTAIN, pytest_gan.assert_data_normalized}
