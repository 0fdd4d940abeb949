"""assert_losses_balanced: dominance counts only together with the generator's signal dying."""

from __future__ import annotations

import pytest
import torch

from fixtures.zoo import case
from pytest_gan import GANAssertionError, assert_losses_balanced, train
from pytest_gan.checks.balance import MAX_FAKE_BELIEF, MAX_WEAK_AUC
from pytest_gan.instrument import auc
from tests.tiny import tiny_spec


def test_auc_ranks_real_above_fake() -> None:
    real, fake = torch.tensor([2.0, 3.0]), torch.tensor([0.0, 1.0])
    assert auc(real, fake) == 1.0
    assert auc(fake, real) == 0.0
    assert auc(real, real) == 0.5
    assert auc(torch.tensor([1.0, 3.0]), torch.tensor([2.0, 0.0])) == 0.75


def test_probes_record_auc_and_belief() -> None:
    run = train(tiny_spec(), steps=20)
    last = run.history.probes[-1]
    assert 0.0 <= last["d_auc"] <= 1.0
    assert 0.0 < last["d_fake_p"] < 1.0  # bce: D's logits read as probabilities


def test_a_critic_has_no_belief() -> None:
    run = train(tiny_spec(loss="wgan-gp"), steps=10)
    assert all(p["d_fake_p"] != p["d_fake_p"] for p in run.history.probes)  # NaN


# D at 20x G's learning rate: by step 60 D gives the fakes a chance of 1.2-1.6% of being
# real (median of the late probes, seeds 0-9; limit 5%).
@pytest.mark.parametrize("seed", range(10))
def test_the_overpowering_twin_is_caught(seed: int) -> None:
    run = train(case("discriminator-overpowers").spec(), steps=60, seed=seed)
    with pytest.raises(GANAssertionError, match="rejects G's samples with certainty") as caught:
        assert_losses_balanced(run)
    assert caught.value.pitfall == "discriminator-overpowers"
    assert caught.value.evidence["fake_belief"] <= MAX_FAKE_BELIEF


# D at 1/100 of G's learning rate: G learns to fool the nearly static D within 20 steps.
@pytest.mark.parametrize("seed", range(10))
def test_the_weak_discriminator_twin_is_caught(seed: int) -> None:
    run = train(case("discriminator-too-weak").spec(), steps=60, seed=seed)
    with pytest.raises(GANAssertionError, match="G fools D") as caught:
        assert_losses_balanced(run)
    assert caught.value.pitfall == "discriminator-too-weak"
    assert caught.value.evidence["auc"] <= MAX_WEAK_AUC


def test_a_wgan_critic_is_not_judged_on_balance() -> None:
    run = train(tiny_spec(loss="wgan-gp"), steps=10)
    assert_losses_balanced(run)  # its scores are no classifier's: assert_lipschitz judges it


def test_balance_refuses_bad_input() -> None:
    with pytest.raises(TypeError, match="run must be a GANRun"):
        assert_losses_balanced(torch.zeros(3))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="instrument=False"):
        assert_losses_balanced(train(tiny_spec(), steps=2, instrument=False))
