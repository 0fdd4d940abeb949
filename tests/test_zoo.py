"""The reference zoo builds, trains, and its wiring twins show in the raw records."""

from __future__ import annotations

import math

import pytest
import torch

from fixtures.zoo import BROKEN, HEALTHY, case
from pytest_gan import GANSpec, train

# Pitfall ids of the public contract, and the seed pitfalls checked since: every one has a
# broken twin.
API_PITFALLS = {
    "discriminator-wrong-activation",
    "discriminator-overfits",
    "blank-output",
    "mode-collapse",
    "non-finite-loss",
    "discriminator-overpowers",
    "discriminator-too-weak",
    "output-range-mismatch",
    "data-not-normalized",
    "d-step-leaks-into-generator",
    "gradient-accumulation",
    "optimizer-misses-parameters",
    "generator-not-learning",
    "conditioning-ignored",
    "discriminator-not-lipschitz",
    "checkpoint-roundtrip-mismatch",
    "checkpoint-not-trained",
    "baseline-regression",
}


def test_every_pitfall_of_the_contract_has_a_twin() -> None:
    assert set(BROKEN) == API_PITFALLS
    for pitfall, twin in BROKEN.items():
        assert twin.pitfall == pitfall and twin.reference in HEALTHY and twin.mistake
        assert twin.name == f"{twin.reference}~{pitfall}"
        assert case(twin.name) is twin is case(pitfall)
    with pytest.raises(KeyError, match="no zoo case"):
        case("nope")


@pytest.mark.parametrize("name", sorted(HEALTHY) + sorted(BROKEN))
def test_every_case_builds_and_trains(name: str) -> None:
    spec = case(name).spec()
    assert isinstance(spec, GANSpec)
    run = train(spec, steps=3, seed=0)
    assert len(run.history["d_loss"]) == 3
    assert run.samples(4).shape[1:] == run.real(4).shape[1:]


def test_the_shape_twins_differ_from_their_reference_as_described() -> None:
    assert case("output-range-mismatch").spec().make_generator()(torch.randn(8, 32)).min() >= 0
    assert float(case("data-not-normalized").spec().data.min()) == 0.0
    assert case("shapes-dcgan").spec().source.infer_range() == (-1.0, 1.0)
    assert case("data-not-normalized").spec().source.infer_range() == (0.0, 1.0)


STEPS = 5


def test_the_detach_twin_leaks_and_its_reference_does_not() -> None:
    twin = case("d-step-leaks-into-generator")
    assert twin.reference is not None
    leaky = train(twin.spec(), steps=STEPS)
    assert leaky.history.events["d_step_g_grads"]["count"] == STEPS
    healthy = train(case(twin.reference).spec(), steps=STEPS)
    assert healthy.history.events == {}


def test_the_zero_grad_twin_accumulates() -> None:
    run = train(case("gradient-accumulation").spec(), steps=STEPS)
    assert run.history.events["d_stale_grads"] == {"count": STEPS - 1, "first_step": 1}
    assert "d_step_g_grads" not in run.history.events


def test_the_optimizer_twin_leaves_the_generator_uncovered() -> None:
    run = train(case("optimizer-misses-parameters").spec(), steps=STEPS)
    wiring = run.history.wiring
    assert wiring["opt_g"]["generator"]["covered"] == 0
    assert len(wiring["uncovered"]["generator"]) == wiring["opt_g"]["generator"]["total"] > 0


def test_the_detached_g_loss_twin_never_moves_the_generator() -> None:
    run = train(case("generator-not-learning").spec(), steps=STEPS)
    # Read on every NORM_EVERY-th step (NaN between): zero at each reading.
    assert {v for v in run.history["g_update_norm"] if not math.isnan(v)} == {0.0}
    assert all(v > 0 for v in run.history["d_update_norm"] if not math.isnan(v))
