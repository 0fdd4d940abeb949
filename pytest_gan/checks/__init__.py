"""The checks, one module per family: ``wiring`` (detach, zero_grad, optimizer coverage),
``dynamics`` (how training went), ``ranges`` (data and output ranges), ``outputs`` (blank,
collapsed), ``balance`` (who wins the game), ``checkpoint`` (save and reload), ``conditioning``
(labels reach the samples), ``lipschitz`` (the critic's constraint), ``overfitting`` (D
memorising its training set), ``d_output`` (D's output layer against its loss).

Each check is declared next to its function as a :class:`Check` (its id, the pitfalls it
diagnoses, what it applies to); :data:`ALL` lists them in the order the smoke suite runs
and shows them. The regression check ``assert_matches_baseline`` lives with the baselines
it reads, in ``pytest_gan.baseline``, above the engine that trains them (it is exported
from ``pytest_gan``, not from here)."""

from __future__ import annotations

from pytest_gan.checks._check import Check
from pytest_gan.checks.balance import LOSSES_BALANCED, assert_losses_balanced
from pytest_gan.checks.checkpoint import CHECKPOINT_ROUNDTRIP, assert_checkpoint_roundtrip
from pytest_gan.checks.conditioning import CONDITIONING, assert_conditioning_effective
from pytest_gan.checks.d_output import D_OUTPUT_FITS_LOSS, assert_d_output_fits_loss
from pytest_gan.checks.dynamics import (
    GENERATOR_LEARNS,
    LOSSES_FINITE,
    assert_generator_learns,
    assert_losses_finite,
)
from pytest_gan.checks.lipschitz import LIPSCHITZ, assert_lipschitz
from pytest_gan.checks.outputs import DIVERSE, NOT_BLANK, assert_diverse, assert_not_blank
from pytest_gan.checks.overfitting import D_GENERALIZES, assert_d_generalizes
from pytest_gan.checks.ranges import (
    DATA_NORMALIZED,
    OUTPUT_RANGE,
    assert_data_normalized,
    assert_output_range_matches_data,
)
from pytest_gan.checks.wiring import (
    D_STEP_ISOLATED,
    GRADIENTS_ZEROED,
    OPTIMIZERS_COVER,
    assert_d_step_isolated,
    assert_gradients_zeroed,
    assert_optimizers_cover,
)

#: Every check of a run, in the order the smoke suite runs them and its table shows them:
#: the exact records first (complete at any step), then how the run went.
ALL: tuple[Check, ...] = (
    LOSSES_FINITE,
    D_STEP_ISOLATED,
    D_OUTPUT_FITS_LOSS,
    GRADIENTS_ZEROED,
    OPTIMIZERS_COVER,
    DATA_NORMALIZED,
    OUTPUT_RANGE,
    GENERATOR_LEARNS,
    NOT_BLANK,
    DIVERSE,
    LOSSES_BALANCED,
    D_GENERALIZES,
    CONDITIONING,
    LIPSCHITZ,
    CHECKPOINT_ROUNDTRIP,
)

#: The check of each pitfall it diagnoses, by pitfall id.
BY_PITFALL: dict[str, Check] = {pitfall: c for c in ALL for pitfall in c.pitfalls}

__all__ = [
    "ALL",
    "BY_PITFALL",
    "Check",
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
