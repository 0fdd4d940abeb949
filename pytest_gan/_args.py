"""Argument checks shared by the public functions (no torch import)."""

from __future__ import annotations


def check_count(n: object, argument: str) -> None:
    """``TypeError`` unless ``n`` is an int (not a bool), ``ValueError`` unless it is at
    least 1; both name ``argument``."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"{argument} must be an int; got {type(n).__name__}")
    if n < 1:
        raise ValueError(f"{argument} must be at least 1; got {n}")
