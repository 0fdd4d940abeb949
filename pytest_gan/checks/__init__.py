"""The checks, one module per family: ``wiring`` (detach, zero_grad, optimizer coverage),
``dynamics`` (how training went), ``ranges`` (data and output ranges)."""

from __future__ import annotations

from pytest_gan.checks.dynamics import assert_generator_learns, assert_losses_finite
from pytest_gan.checks.ranges import assert_data_normalized, assert_output_range_matches_data
from pytest_gan.checks.wiring import (
    assert_d_step_isolated,
    assert_gradients_zeroed,
    assert_optimizers_cover,
)

__all__ = [
    "assert_d_step_isolated",
    "assert_data_normalized",
    "assert_generator_learns",
    "assert_gradients_zeroed",
    "assert_losses_finite",
    "assert_optimizers_cover",
    "assert_output_range_matches_data",
]
