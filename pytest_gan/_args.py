"""Argument checks shared by the public functions (no torch import)."""

from __future__ import annotations

#: The largest seed: torch's generators take 64 bits (``torch.manual_seed``).
MAX_SEED = 2**64 - 1


def check_int(value: object, argument: str, *, least: int = 1, why: str = "") -> int:
    """``value`` itself, or a ``TypeError`` unless it is an int (a bool is not one:
    ``train(spec, True)`` is a mistake, not one step) and a ``ValueError`` unless it is at
    least ``least``; both name ``argument`` (``why`` follows the bound)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{argument} must be an int; got {type(value).__name__}")
    if value < least:
        raise ValueError(f"{argument} must be at least {least}{why}; got {value}")
    return value


def check_seed(value: object, argument: str = "seed") -> int:
    """A seed: an int from 0 to ``MAX_SEED`` (what torch's generators take)."""
    seed = check_int(value, argument, least=0)
    if seed > MAX_SEED:
        raise ValueError(
            f"{argument} must be at most 2**64 - 1 (torch's generators take 64 bits); got {seed}"
        )
    return seed
