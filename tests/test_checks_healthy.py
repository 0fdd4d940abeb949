"""The healthy references at the default step count pass every check that exists, on
seeds beyond those the thresholds were calibrated on (0-4).

Each run is trained once and judged by all the checks, which keeps the suite's cost to
one training per reference and seed.
"""

from __future__ import annotations

import pytest

from fixtures.zoo import HEALTHY, case
from pytest_gan import (
    assert_d_step_isolated,
    assert_data_normalized,
    assert_generator_learns,
    assert_gradients_zeroed,
    assert_losses_finite,
    assert_optimizers_cover,
    assert_output_range_matches_data,
    train,
)

SEEDS = (5, 6, 7)
RUN_CHECKS = (
    assert_losses_finite,
    assert_d_step_isolated,
    assert_gradients_zeroed,
    assert_optimizers_cover,
    assert_output_range_matches_data,
    assert_generator_learns,
)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", sorted(HEALTHY))
def test_a_healthy_reference_passes_every_check(name: str, seed: int) -> None:
    spec = case(name).spec()
    run = train(spec, seed=seed)
    for check in RUN_CHECKS:
        check(run)
    if spec.source.extremes()[0] >= -1.0 - 1e-6 and spec.source.extremes()[1] <= 1.0 + 1e-6:
        assert_data_normalized(spec)
