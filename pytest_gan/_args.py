"""Argument checks shared by the public functions (no torch import)."""

from __future__ import annotations


def check_int(value: object, argument: str, *, least: int = 1, why: str = "") -> int:
    """``value`` itself, or a ``TypeError`` unless it is an int (a bool is not one:
    ``train(spec, True)`` is a mistake, not one step) and a ``ValueError`` unless it is at
    least ``least``; both name ``argument`` (``why`` follows the bound)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{argument} must be an int; got {type(value).__name__}")
    if value < least:
        raise ValueError(f"{argument} must be at least {least}{why}; got {value}")
    return value
