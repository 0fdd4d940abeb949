"""assert_generator_learns: judged against the generator's own initial state."""

from __future__ import annotations

import pytest
import torch

from fixtures.steps import UserStep
from fixtures.zoo import case
from pytest_gan import GANAssertionError, TrainContext, assert_generator_learns, train
from pytest_gan.metrics import parameter_movement
from tests.tiny import tiny_spec


# The twin's generator gets no gradient at all, from the first step: a short run shows it.
@pytest.mark.parametrize("seed", range(10))
def test_the_detached_g_loss_twin_is_caught(seed: int) -> None:
    run = train(case("generator-not-learning").spec(), steps=10, seed=seed)
    with pytest.raises(GANAssertionError, match="no gradient ever reached") as caught:
        assert_generator_learns(run)
    assert caught.value.pitfall == "generator-not-learning"
    assert caught.value.evidence["movement"] == 0.0


def test_a_learning_rate_100x_too_small_is_caught() -> None:
    run = train(case("baseline-regression").spec(), seed=8)
    with pytest.raises(GANAssertionError, match="learning rate too small") as caught:
        assert_generator_learns(run)
    assert 0 < caught.value.evidence["movement"] < 0.01


def test_a_generator_whose_optimizer_never_steps_is_named() -> None:
    def step(ctx: TrainContext, real: torch.Tensor) -> dict[str, float]:
        return {"d_loss": 1.0, "g_loss": 1.0}

    run = train(tiny_spec(train_step=step), steps=5)
    with pytest.raises(GANAssertionError, match="opt_g never stepped"):
        assert_generator_learns(run)


def test_the_tiny_gan_learns() -> None:
    assert_generator_learns(train(tiny_spec(train_step=UserStep()), steps=100))


def test_the_initial_state_is_kept_and_sampled() -> None:
    run = train(tiny_spec(), steps=20)
    names = [n for n, _ in run.generator.named_parameters()]
    assert (
        parameter_movement(run.initial_generator_state, run.initial_generator_state, names) == 0.0
    )
    assert parameter_movement(run.initial_generator_state, run.generator.state_dict(), names) > 0
    fresh = run.spec.make_generator()
    assert set(run.initial_generator_state) == set(fresh.state_dict())
    assert not torch.equal(run.samples(8, initial=True), run.samples(8))
    assert torch.equal(run.samples(8, initial=True), run.samples(8, initial=True))


def test_the_learning_check_refuses_bad_input() -> None:
    with pytest.raises(TypeError, match="run must be a GANRun"):
        assert_generator_learns("run")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="instrument=False"):
        assert_generator_learns(train(tiny_spec(), steps=2, instrument=False))


def test_samples_that_came_closer_to_the_data_pass_without_much_movement(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pytest_gan.checks import dynamics

    # Demand more movement than any run makes: only the distance to the data can pass it.
    monkeypatch.setattr(dynamics, "MIN_PARAMETER_MOVEMENT", 100.0)
    assert_generator_learns(train(case("ring-mlp").spec(), seed=1))
    run = train(case("generator-not-learning").spec(), steps=10)
    with pytest.raises(GANAssertionError) as caught:
        assert_generator_learns(run)
    # BatchNorm statistics still move, the weights do not: the distance stays put.
    assert caught.value.evidence["distance_ratio"] == pytest.approx(1.0, abs=0.05)
