"""A smoke item's verdict: the record the reports carry, and its JUnit properties."""

from __future__ import annotations

import math
from typing import Any

from pytest_gan.smoke.items import (
    EXPECTED_FAILURE,
    JUDGED,
    Expectation,
    expectation_of,
    spec_id,
)

#: The user property that carries a smoke item's verdict to the controller (pytest-xdist
#: sends user properties with each report).
VERDICT_PROPERTY = "gan_smoke_verdict"


def _plain(value: Any) -> Any:
    """Evidence as JSON can hold it: numbers, strings, lists and dicts; the rest as text."""
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return str(value)


def _failure(exc: BaseException | None) -> dict[str, Any]:
    return {
        "pitfall": getattr(exc, "pitfall", None),
        "evidence": _plain(getattr(exc, "evidence", {})),
        "message": str(exc),
    }


def verdict_of(item: Any, call: Any, report: Any) -> dict[str, Any] | None:
    """The verdict of one phase of a smoke item, or None for a phase that says nothing."""
    check = item.originalname if hasattr(item, "originalname") else item.name
    base: dict[str, Any] = {
        "spec": spec_id(item) or "gan_spec",
        "check": check,
        "nodeid": item.nodeid,
    }
    try:
        expected = expectation_of(item)
    except ValueError:
        expected = Expectation()
    if expected:
        base["expected"] = list(expected.pitfalls)
    if JUDGED in item.stash:
        base.update(item.stash[JUDGED])
    if report.when == "call" or (report.when == "setup" and not report.passed):
        exc = call.excinfo.value if call.excinfo is not None else None
        if hasattr(report, "wasxfail") and EXPECTED_FAILURE in item.stash:
            return {**base, "outcome": "expected", **_failure(item.stash[EXPECTED_FAILURE])}
        missed = getattr(exc, "missed", None)
        if isinstance(missed, str):
            return {**base, "outcome": "missed", "pitfall": missed, "message": str(exc)}
        if report.skipped:
            return {**base, "outcome": "n/a", "reason": str(getattr(exc, "msg", exc) or "")}
        if report.passed:
            return {**base, "outcome": "pass"}
        # By its attributes rather than its class: a GANAssertionError raised by a copy of
        # the package imported again (pytester runs) is one too.
        pitfall = getattr(exc, "pitfall", None)
        if isinstance(exc, AssertionError) and isinstance(pitfall, str):
            return {**base, "outcome": "fail", **_failure(exc)}
        return {**base, "outcome": "error", "message": f"{type(exc).__name__}: {exc}"}
    return None


#: Evidence figures a JUnit property carries at most (the rest are in the JSON report).
JUNIT_FIGURES = 12


def junit_properties(verdict: dict[str, Any]) -> list[tuple[str, str]]:
    """A smoke verdict as flat JUnit ``<property>`` pairs: what a CI server shows beside
    the test case (the spec, the check, the outcome, the pitfall, the steps it was judged
    at, the evidence's scalar figures and the artifacts' folder)."""
    props = [
        ("gan_spec", str(verdict["spec"])),
        ("gan_check", str(verdict["check"])),
        ("gan_outcome", str(verdict["outcome"])),
    ]
    if verdict.get("pitfall"):
        props.append(("gan_pitfall", str(verdict["pitfall"])))
    if "steps" in verdict:
        props.append(("gan_steps", str(verdict["steps"])))
    if "elapsed" in verdict:
        props.append(("gan_elapsed_s", f"{verdict['elapsed']:.3f}"))
    if verdict.get("stopped_early"):
        early = verdict["stopped_early"]
        props.append(
            (
                "gan_stopped_early",
                f"{early['at']} of {early['of']}: " + ", ".join(early["pitfalls"]),
            )
        )
    evidence = verdict.get("evidence")
    if isinstance(evidence, dict):
        figures = {
            k: v
            for k, v in evidence.items()
            if isinstance(v, int | float | str) and not isinstance(v, bool)
        }
        for key in list(figures)[:JUNIT_FIGURES]:
            value = figures[key]
            text = f"{value:.4g}" if isinstance(value, float) else str(value)
            props.append((f"gan_evidence.{key}", text))
    if verdict.get("artifacts"):
        props.append(("gan_artifacts", str(verdict["artifacts"])))
    return props
