"""The checks, one module per family: ``wiring`` (detach, zero_grad, optimizer coverage),
``dynamics`` (how training went), ``ranges`` (data and output ranges), ``outputs`` (blank,
collapsed), ``balance`` (who wins the game), ``checkpoint`` (save and reload), ``conditioning``
(labels reach the samples), ``lipschitz`` (the critic's constraint), ``overfitting`` (D
memorising its training set). The regression check ``assert_matches_baseline`` lives with
the baselines it reads, in ``pytest_gan.baseline``, above the engine that trains them (it is
exported from ``pytest_gan``, not from here)."""

from __future__ import annotations

from pytest_gan.checks.balance import assert_losses_balanced
from pytest_gan.checks.checkpoint import assert_checkpoint_roundtrip
from pytest_gan.checks.conditioning import assert_conditioning_effective
from pytest_gan.checks.d_output import assert_d_output_fits_loss
from pytest_gan.checks.dynamics import assert_generator_learns, assert_losses_finite
from pytest_gan.checks.lipschitz import assert_lipschitz
from pytest_gan.checks.outputs import assert_diverse, assert_not_blank
from pytest_gan.checks.overfitting import assert_d_generalizes
from pytest_gan.checks.ranges import assert_data_normalized, assert_output_range_matches_data
from pytest_gan.checks.wiring import (
    assert_d_step_isolated,
    assert_gradients_zeroed,
    assert_optimizers_cover,
)

__all__ = [
    "assert_checkpoint_roundtrip",
    "assert_conditioning_effective",
    "assert_d_generalizes",
    "assert_d_output_fits_loss",
    "assert_d_step_isolated",
    "assert_data_normalized",
    "assert_diverse",
    "assert_generator_learns",
    "assert_gradients_zeroed",
    "assert_lipschitz",
    "assert_losses_balanced",
    "assert_losses_finite",
    "assert_not_blank",
    "assert_optimizers_cover",
    "assert_output_range_matches_data",
]
