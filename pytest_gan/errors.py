"""``GANAssertionError``: a check's verdict, with the pitfall it diagnosed and its evidence.

Messages read top-down: one line saying what was seen, the evidence as a small aligned
table (measured against the healthy range), why it matters, and how to fix it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


class GANAssertionError(AssertionError):
    """A check failed. ``pitfall`` is the id of the diagnosed pitfall (a key of
    ``pytest_gan.PITFALLS``); ``evidence`` holds the measured figures."""

    def __init__(self, message: str, *, pitfall: str, evidence: Mapping[str, Any]) -> None:
        super().__init__(message)
        self.pitfall = pitfall
        self.evidence = dict(evidence)

    def __reduce__(self) -> tuple[Any, ...]:
        # Copied and pickled with its keyword arguments (a run keeps some verdicts:
        # GANRun.first_verdicts, and a run may be deep-copied or sent between processes).
        return (_rebuild, (type(self), str(self), self.pitfall, self.evidence))


def _rebuild(
    cls: type[GANAssertionError], message: str, pitfall: str, evidence: Mapping[str, Any]
) -> GANAssertionError:
    return cls(message, pitfall=pitfall, evidence=evidence)


class GANTrainingError(RuntimeError):
    """A training step raised: the message names the spec and the step."""


class GANWarning(UserWarning):
    """The base of pytest-gan's warnings: something worth fixing that does not harm
    training (``-W error::pytest_gan.GANWarning`` turns them all into failures)."""


class GANNotApplicableWarning(GANWarning):
    """A check was asked of a run it does not apply to (``assert_lipschitz`` of a
    discriminator nothing constrains, ``assert_conditioning_effective`` of an
    unconditional spec): it passes, having checked nothing, and says so and why. A
    legitimate run gets a verdict, never an input error; the warning keeps the vacuous
    pass from reading as a checked one."""


class GANWastedBackwardWarning(GANWarning):
    """The D step's loss back-propagates through the generator (a missing ``.detach()``)
    whose gradients are then reset before G's step: no harm to training, but a backward
    pass through G computed and thrown away on every step."""


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def aligned_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """``rows`` of text under ``header``, columns aligned and ruled under the header,
    indented four spaces: the one table every failure message uses."""
    cells = [tuple(header), *(tuple(row) for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join("    " + line for line in lines)


def evidence_table(rows: Sequence[tuple[str, Any, str]]) -> str:
    """``figure | measured | healthy`` rows, aligned, for a failure message."""
    return aligned_table(
        ("figure", "measured", "healthy"),
        [(name, _cell(value), healthy) for name, value, healthy in rows],
    )


def fail(
    pitfall: str,
    summary: str,
    rows: Sequence[tuple[str, Any, str]],
    evidence: Mapping[str, Any],
    *,
    detail: str = "",
    fix: str | None = None,
) -> GANAssertionError:
    """The error a check raises: summary, evidence table, why it matters, how to fix it.

    ``detail`` adds a paragraph specific to what was found (names of parameters, the step
    a loss turned NaN). The why and the fix come from the pitfall catalog, but ``fix``,
    where the run itself rules out every cause the catalog's fix names.
    """
    from pytest_gan.pitfalls import PITFALLS

    entry = PITFALLS[pitfall]
    parts = [summary, "", evidence_table(rows)]
    if detail:
        parts += ["", detail]
    parts += [
        "",
        f"Pitfall: {pitfall} ({entry.title}). {entry.why}",
        f"Fix: {entry.fix if fix is None else fix}",
        f"See: {entry.doc}",
    ]
    return GANAssertionError("\n".join(parts), pitfall=pitfall, evidence=evidence)
