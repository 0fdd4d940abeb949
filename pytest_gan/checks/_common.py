"""What every check shares: argument validation at the boundary."""

from __future__ import annotations

from typing import Any

from pytest_gan.training import GANRun


def require_run(run: Any, check: str) -> GANRun:
    """``run`` itself, or a ``TypeError`` naming the argument and the check."""
    if not isinstance(run, GANRun):
        raise TypeError(
            f"{check}: run must be a GANRun (from pytest_gan.train); got {type(run).__name__}"
        )
    return run


def require_instrumented(run: GANRun, check: str) -> None:
    if not run.history.wiring:
        raise ValueError(
            f"{check}: run was trained with instrument=False, so it holds none of the "
            "records this check reads; train it with the default instrument=True"
        )
