"""``Check``: what the package knows of one check, declared next to the check's function."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


def applies_always(run: Any) -> str | None:
    """The applicability of a check that judges every run."""
    return None


@dataclass(frozen=True)
class Check:
    """One check: its id (the smoke suite's item and column), the function, the pitfalls
    it diagnoses, and what it applies to.

    ``applies(run)`` is None when the check judges ``run``, else why it does not (the
    smoke suite skips the item, saying so). ``exact``: the check reads exact records,
    complete at any step, so it judges a run the smoke suite stopped early
    (``train(..., stop_early=True)``) as well as a whole one; a check that judges how the
    run went (learning, spread, balance) cannot.
    """

    id: str
    function: Callable[..., None]
    pitfalls: tuple[str, ...]
    applies: Callable[[Any], str | None] = applies_always
    exact: bool = False

    @property
    def name(self) -> str:
        """The function's public name (``assert_...``)."""
        return self.function.__name__
