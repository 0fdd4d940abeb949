"""The wild corpus builds and trains, and the checks that read exact records (no
threshold) give their verdicts on it both ways: code written elsewhere, short runs.

The statistical checks are measured on the wild by ``benchmarks/wild_matrix.py`` (200
steps, seeds, kernel settings): docs/benchmarks.md, "The wild corpus".
"""

from __future__ import annotations

import warnings

import pytest

import wild
from pytest_gan import (
    PITFALLS,
    GANAssertionError,
    GANWastedBackwardWarning,
    assert_d_output_fits_loss,
    assert_d_step_isolated,
    assert_gradients_zeroed,
    assert_optimizers_cover,
    train,
)

STEPS = 3
#: Seed pitfalls planted in the wild that no check diagnoses yet.
NOT_YET_CHECKED = {"discriminator-overfits"}
NAMES = sorted(wild.CORPUS)


def test_the_corpus_is_split_in_two_halves_of_public_gans() -> None:
    assert len(wild.CORPUS) >= 8
    assert wild.CALIBRATION and wild.VALIDATION
    assert {g.name for g in wild.CALIBRATION}.isdisjoint(g.name for g in wild.VALIDATION)
    # Each GAN in exactly one group: a GAN added after both halves were measured is in
    # neither half (wild.LATER).
    assert sorted(g.name for group in wild.HALVES.values() for g in group) == NAMES
    for g in wild.CORPUS.values():
        assert "/" in g.source and g.description
        for name, m in g.mutations.items():
            assert m.line and name, (g.name, name)
            assert m.pitfall in PITFALLS or m.pitfall in NOT_YET_CHECKED or m.pitfall == ""
    with pytest.raises(KeyError, match="no wild GAN"):
        wild.gan("nope")


@pytest.mark.parametrize("name", NAMES)
def test_every_wild_gan_and_mutation_builds_and_the_healthy_one_trains(name: str) -> None:
    g = wild.gan(name)
    run = train(g.spec(), steps=STEPS, seed=0)
    assert len(run.history["d_loss"]) == STEPS
    for mutation in g.mutations:
        assert g.spec(mutation).name
    with pytest.raises(KeyError, match="has no mutation"):
        g.spec("nope")


def _verdict(check: object, run: object) -> str:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            check(run)  # type: ignore[operator]
        except GANAssertionError as exc:
            return exc.pitfall
    if any(issubclass(w.category, GANWastedBackwardWarning) for w in caught):
        return "wasted"
    return "pass"


EXACT = {
    "d-step-leaks-into-generator": assert_d_step_isolated,
    "gradient-accumulation": assert_gradients_zeroed,
    "optimizer-misses-parameters": assert_optimizers_cover,
    "discriminator-wrong-activation": assert_d_output_fits_loss,
}


@pytest.mark.parametrize("name", NAMES)
def test_the_exact_checks_catch_their_mutations_and_pass_the_healthy_gan(name: str) -> None:
    g = wild.gan(name)
    healthy = train(g.spec(), steps=STEPS, seed=0)
    for pitfall, check in EXACT.items():
        # The original's own loop may lack a .detach() whose gradient G's zero_grad clears:
        # wasted work, never a failure.
        assert _verdict(check, healthy) in ("pass", "wasted"), (name, pitfall)
        planted = [m for m, mut in g.mutations.items() if mut.pitfall == pitfall]
        for mutation in planted:
            run = train(g.spec(mutation), steps=STEPS, seed=0)
            assert _verdict(check, run) == pitfall, (name, mutation)
    if "detach-missing-wasteful" in g.mutations:
        run = train(g.spec("detach-missing-wasteful"), steps=STEPS, seed=0)
        assert _verdict(assert_d_step_isolated, run) == "wasted", name
