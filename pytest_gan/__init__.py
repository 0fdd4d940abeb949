"""pytest-gan: catch the failures of PyTorch GAN code in a short, instrumented run.

The public names are re-exported lazily so that importing the plugin (which pytest does
for every session) does not import torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from pytest_gan._version import __version__

_EXPORTS: dict[str, str] = {
    "GANSpec": "pytest_gan.spec",
    "train": "pytest_gan.training",
    "GANRun": "pytest_gan.run",
    "TrainContext": "pytest_gan.training",
    "GANTrainingError": "pytest_gan.errors",
    "GANTimeLimitError": "pytest_gan.limits",
    "History": "pytest_gan.history",
    "watch": "pytest_gan.watching",
    "WatchedRun": "pytest_gan.watched_run",
    "GANAssertionError": "pytest_gan.errors",
    "GANWarning": "pytest_gan.errors",
    "GANNotApplicableWarning": "pytest_gan.errors",
    "GANWastedBackwardWarning": "pytest_gan.errors",
    "PITFALLS": "pytest_gan.pitfalls",
    "Pitfall": "pytest_gan.pitfalls",
    "Baseline": "pytest_gan.baseline",
    "GANBaselineWarning": "pytest_gan.baseline",
    "assert_checkpoint_roundtrip": "pytest_gan.checks",
    "assert_conditioning_effective": "pytest_gan.checks",
    "assert_d_output_fits_loss": "pytest_gan.checks",
    "assert_d_generalizes": "pytest_gan.checks",
    "assert_d_step_isolated": "pytest_gan.checks",
    "assert_data_normalized": "pytest_gan.checks",
    "assert_diverse": "pytest_gan.checks",
    "assert_generator_learns": "pytest_gan.checks",
    "assert_gradients_zeroed": "pytest_gan.checks",
    "assert_lipschitz": "pytest_gan.checks",
    "assert_losses_balanced": "pytest_gan.checks",
    "assert_losses_finite": "pytest_gan.checks",
    "assert_matches_baseline": "pytest_gan.baseline",
    "assert_not_blank": "pytest_gan.checks",
    "assert_optimizers_cover": "pytest_gan.checks",
    "assert_output_range_matches_data": "pytest_gan.checks",
}

__all__ = ["__version__", *_EXPORTS]

if TYPE_CHECKING:
    from pytest_gan.baseline import Baseline as Baseline
    from pytest_gan.baseline import GANBaselineWarning as GANBaselineWarning
    from pytest_gan.baseline import assert_matches_baseline as assert_matches_baseline
    from pytest_gan.checks import assert_checkpoint_roundtrip as assert_checkpoint_roundtrip
    from pytest_gan.checks import (
        assert_conditioning_effective as assert_conditioning_effective,
    )
    from pytest_gan.checks import assert_d_generalizes as assert_d_generalizes
    from pytest_gan.checks import assert_d_output_fits_loss as assert_d_output_fits_loss
    from pytest_gan.checks import assert_d_step_isolated as assert_d_step_isolated
    from pytest_gan.checks import assert_data_normalized as assert_data_normalized
    from pytest_gan.checks import assert_diverse as assert_diverse
    from pytest_gan.checks import assert_generator_learns as assert_generator_learns
    from pytest_gan.checks import assert_gradients_zeroed as assert_gradients_zeroed
    from pytest_gan.checks import assert_lipschitz as assert_lipschitz
    from pytest_gan.checks import assert_losses_balanced as assert_losses_balanced
    from pytest_gan.checks import assert_losses_finite as assert_losses_finite
    from pytest_gan.checks import assert_not_blank as assert_not_blank
    from pytest_gan.checks import assert_optimizers_cover as assert_optimizers_cover
    from pytest_gan.checks import (
        assert_output_range_matches_data as assert_output_range_matches_data,
    )
    from pytest_gan.errors import GANAssertionError as GANAssertionError
    from pytest_gan.errors import GANNotApplicableWarning as GANNotApplicableWarning
    from pytest_gan.errors import GANTrainingError as GANTrainingError
    from pytest_gan.errors import GANWarning as GANWarning
    from pytest_gan.errors import GANWastedBackwardWarning as GANWastedBackwardWarning
    from pytest_gan.history import History as History
    from pytest_gan.limits import GANTimeLimitError as GANTimeLimitError
    from pytest_gan.pitfalls import PITFALLS as PITFALLS
    from pytest_gan.pitfalls import Pitfall as Pitfall
    from pytest_gan.run import GANRun as GANRun
    from pytest_gan.spec import GANSpec as GANSpec
    from pytest_gan.training import TrainContext as TrainContext
    from pytest_gan.training import train as train
    from pytest_gan.watched_run import WatchedRun as WatchedRun
    from pytest_gan.watching import watch as watch


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pytest_gan' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
