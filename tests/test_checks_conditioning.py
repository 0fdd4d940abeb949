"""assert_conditioning_effective: samples for different labels can be told apart."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from fixtures.zoo import case
from pytest_gan import GANAssertionError, GANNotApplicableWarning, GANSpec, train
from pytest_gan.checks.conditioning import (
    CONDITIONING_SIGNIFICANCE,
    NO_LABEL_EFFECT,
    assert_conditioning_effective,
    binomial_tail,
    centroid_predictions,
    label_separability,
    samples_by_label,
)
from tests.tiny import LATENT, CondD, CondG, tiny_spec, two_clusters


# The twin's generator drops its label embedding before its first layer: its samples are
# blind to the labels from the first step, so a short run shows it.
@pytest.mark.parametrize("seed", range(10))
def test_the_dropped_label_twin_is_caught(seed: int) -> None:
    run = train(case("conditioning-ignored").spec(), steps=5, seed=seed)
    with pytest.raises(GANAssertionError, match="never reach the generator") as caught:
        assert_conditioning_effective(run)
    assert caught.value.pitfall == "conditioning-ignored"
    evidence = caught.value.evidence
    # Blind to its labels, G gives one sample per z, named right under one label only
    # (exactly so on CPU; CUDA's unordered sums can break a tie or two).
    assert evidence["chance"] == 0.25
    assert evidence["accuracy"] < 0.3
    assert evidence["label_share"] < NO_LABEL_EFFECT
    assert evidence["p_value"] > 100 * CONDITIONING_SIGNIFICANCE


# Seeds beyond those the significance level was calibrated on (0-9).
@pytest.mark.parametrize("seed", [10, 11, 12])
def test_the_healthy_conditional_reference_passes(seed: int) -> None:
    run = train(case("shapes-cgan").spec(), seed=seed)
    assert_conditioning_effective(run)
    assert label_separability(samples_by_label(run)).accuracy > 0.9


# -- the statistic on hand-made samples ---------------------------------------------------


def test_samples_blind_to_their_labels_score_exactly_chance() -> None:
    per_z = torch.randn(1, 100, 3, 4, 4)
    result = label_separability(per_z.expand(5, -1, -1, -1, -1))
    assert result.correct == 50 and result.trials == 250
    assert result.accuracy == result.chance == 0.2
    assert result.label_share == 0.0
    assert result.p_value > 0.5


def test_labels_that_move_the_samples_are_told_apart() -> None:
    gen = torch.Generator().manual_seed(0)
    per_z = torch.randn(1, 64, 10, generator=gen)
    offsets = 3 * torch.randn(4, 1, 10, generator=gen)
    result = label_separability(per_z + offsets)
    assert result.accuracy == 1.0
    assert result.p_value < 1e-30
    assert 0.5 < result.label_share < 1.0


def test_labels_that_barely_move_the_samples_are_not_told_apart() -> None:
    # Differences a hundred times smaller than the spread over z: no better than chance.
    gen = torch.Generator().manual_seed(1)
    per_z = torch.randn(1, 256, 10, generator=gen)
    offsets = 0.01 * torch.randn(4, 1, 10, generator=gen)
    result = label_separability(per_z + offsets)
    assert result.p_value > CONDITIONING_SIGNIFICANCE
    assert 0 < result.label_share < 1e-3


def test_the_binomial_tail_is_exact() -> None:
    def brute(k: int, n: int, p: float) -> float:
        return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k, n + 1))

    for k, n, p in [(0, 10, 0.3), (3, 10, 0.25), (10, 10, 0.5), (40, 100, 0.25), (1, 1, 0.1)]:
        assert binomial_tail(k, n, p) == pytest.approx(brute(k, n, p), rel=1e-9)
    assert binomial_tail(512, 512, 0.25) == pytest.approx(0.25**512, rel=1e-9)
    with pytest.raises(ValueError, match="successes"):
        binomial_tail(11, 10, 0.5)
    with pytest.raises(ValueError, match="p must lie"):
        binomial_tail(1, 10, 0.0)


def test_centroid_predictions_pick_the_nearest_centre() -> None:
    fit = torch.tensor([[0.0, 0.0], [0.0, 2.0], [10.0, 0.0], [10.0, 2.0]])
    labels = torch.tensor([0, 0, 2, 2])  # class 1 absent: never predicted
    test = torch.tensor([[1.0, 1.0], [5.1, 1.0], [9.0, 9.0]])
    assert centroid_predictions(fit, labels, test, 3).tolist() == [0, 2, 2]


# -- tiny conditional GANs, and bad input -------------------------------------------------


class BlindG(nn.Module):
    """A conditional generator whose forward ignores its labels."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(LATENT, 32), nn.ReLU(), nn.Linear(32, 2))

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.net(z)


def cond_spec(generator: type[nn.Module]) -> GANSpec:
    return GANSpec(
        generator=generator,
        discriminator=CondD,
        data=two_clusters(),
        latent_dim=LATENT,
        num_classes=2,
    )


def test_a_generator_that_uses_its_labels_passes_and_a_blind_one_fails() -> None:
    assert_conditioning_effective(train(cond_spec(CondG), steps=20))
    with pytest.raises(GANAssertionError, match="never reach") as caught:
        assert_conditioning_effective(train(cond_spec(BlindG), steps=20))
    assert caught.value.evidence["accuracy"] < 0.55
    assert caught.value.evidence["real_accuracy"] > 0.9  # the real classes are separable


def test_an_unconditional_run_passes_saying_that_nothing_was_checked() -> None:
    # A legitimate run gets a verdict, never an input error.
    with pytest.warns(
        GANNotApplicableWarning, match=r"'.*' is unconditional.*nothing was checked"
    ) as caught:
        assert_conditioning_effective(train(tiny_spec(), steps=2))
    assert len(caught) == 1 and caught[0].filename == __file__


def test_the_conditioning_check_refuses_bad_input() -> None:
    with pytest.raises(TypeError, match="run must be a GANRun"):
        assert_conditioning_effective("run")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"samples must be at least 2"):
        assert_conditioning_effective(train(tiny_spec(), steps=2), samples=1)
    run = train(cond_spec(CondG), steps=2)
    with pytest.raises(ValueError, match=r"samples must be at least 4 \(2 \* num_classes\)"):
        assert_conditioning_effective(run, samples=3)
    with pytest.raises(TypeError, match="samples must be an int"):
        assert_conditioning_effective(run, samples=100.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="too few for even a perfect score to be significant"):
        assert_conditioning_effective(run, samples=16)  # 8 held out: 0.5 ** 8 > 1e-3
    with pytest.raises(ValueError, match="samples_by_label needs at least 2 labels"):
        label_separability(torch.zeros(1, 10, 2))


# Found by tests/test_fuzz_checks.py: finite float64 samples near the dtype's largest
# overflowed the centroid distances and variances, and labels that plainly change the
# samples were judged ignored.
def test_labels_are_told_apart_at_any_magnitude() -> None:
    gen = torch.Generator().manual_seed(0)
    x = (torch.randn(1, 64, 10, generator=gen) + 3 * torch.randn(4, 1, 10, generator=gen)).double()
    big = torch.finfo(torch.float64).max / 16 / float(x.abs().max())
    result, reference = label_separability(x * big), label_separability(x)
    assert result.accuracy == reference.accuracy == 1.0
    assert result.label_share == pytest.approx(reference.label_share, rel=1e-12)
