"""The metrics on hand-made tensors."""

from __future__ import annotations

import pytest
import torch

from pytest_gan.metrics import (
    common_scale,
    contrast,
    energy_distance,
    flat,
    mean_pairwise_distance,
)


def _normal(n: int, d: int, seed: int, shift: float = 0.0) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed)) + shift


def test_energy_distance_is_near_zero_for_two_samples_of_one_distribution() -> None:
    values = [energy_distance(_normal(300, 4, s), _normal(300, 4, 100 + s)) for s in range(10)]
    # The U-statistic is unbiased: its mean over splits is close to 0, single values small.
    assert abs(sum(values) / len(values)) < 0.02
    assert max(abs(v) for v in values) < 0.1


def test_energy_distance_grows_with_the_shift() -> None:
    base = _normal(300, 4, 0)
    distances = [energy_distance(base, _normal(300, 4, 1, shift)) for shift in (0.5, 1.0, 2.0, 4.0)]
    assert distances == sorted(distances) and distances[0] > 0.1


def test_energy_distance_is_symmetric_and_exact_on_points() -> None:
    a = torch.tensor([[0.0], [0.0]])
    b = torch.tensor([[3.0], [3.0]])
    # 2 * 3 - 0 - 0
    assert energy_distance(a, b) == pytest.approx(6.0)
    x, y = _normal(50, 3, 1), _normal(70, 3, 2, 1.0)
    assert energy_distance(x, y) == pytest.approx(energy_distance(y, x))


def test_images_are_flattened() -> None:
    imgs = torch.zeros(5, 3, 4, 4)
    assert flat(imgs).shape == (5, 48) and flat(imgs).dtype == torch.float64


@pytest.mark.parametrize(
    ("a", "b", "names"),
    [
        (torch.zeros(1, 2), torch.zeros(4, 2), "N >= 2"),
        (torch.zeros(4), torch.zeros(4, 2), "batch"),
        (torch.zeros(4, 2), torch.zeros(4, 3), "differ in size"),
    ],
)
def test_bad_samples_are_refused(a: torch.Tensor, b: torch.Tensor, names: str) -> None:
    with pytest.raises(ValueError, match=names):
        energy_distance(a, b)


# Found by tests/test_fuzz_checks.py: finite float64 values near the dtype's largest
# overflowed the squares and sums to inf and NaN.
def test_spreads_of_values_near_the_float64_maximum_are_exact() -> None:
    x = _normal(30, 3, 0).double()
    big = 2.0**1000  # x * big reaches 1e301: its squared distances overflow float64
    assert common_scale(x) == 1.0  # ordinary data is measured as it is
    assert common_scale(x * big) > 1.0
    assert mean_pairwise_distance(x * big) == mean_pairwise_distance(x) * big
    assert torch.equal(contrast(x * big), contrast(x) * big)
