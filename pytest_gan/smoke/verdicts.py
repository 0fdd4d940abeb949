"""A smoke item's verdict: the record the reports carry, and its JUnit properties."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from pytest_gan.smoke.items import (
    EXPECTED_FAILURE,
    JUDGED,
    SPEC_FIXTURE,
    Expectation,
    expectation_of,
    spec_id,
)

#: The user property that carries a smoke item's verdict to the controller (pytest-xdist
#: sends user properties with each report).
VERDICT_PROPERTY = "gan_smoke_verdict"


@dataclass(frozen=True)
class Verdict:
    """One smoke item's verdict: what the table, the GitHub summary, the JUnit properties,
    the artifacts and the JSON report show. ``to_json`` is the JSON report's record (and
    what a pytest-xdist worker sends its controller); a field left ``None`` (or no
    ``expected`` pitfalls) is absent from it."""

    spec: str
    check: str
    nodeid: str
    #: "pass", "fail", "expected" (a failure the spec's gan_expect marker expected),
    #: "missed" (an expected pitfall not found), "n/a" (does not apply) or "error".
    outcome: str
    #: The pitfalls the spec's ``gan_expect`` marker expects.
    expected: tuple[str, ...] = ()
    #: Of the run judged (``items.judged``): the spec's own name (``GANSpec.name``), the
    #: steps it was judged at, its first steps, how it was trained on, its training
    #: seconds, where it was stopped early.
    name: str | None = None
    steps: int | None = None
    first_steps: int | None = None
    extensions: list[dict[str, Any]] | None = None
    elapsed: float | None = None
    stopped_early: dict[str, Any] | None = None
    #: The steps this check judged the run at where not ``steps``: balance and learning
    #: keep their verdict at a run's first steps when it was trained on only to decide
    #: another check (``run.judged_at_first_steps``).
    judged_at: int | None = None
    #: Of a failure: the pitfall, its evidence (as JSON holds it) and the message; of a
    #: skip, why the check does not apply.
    pitfall: str | None = None
    evidence: dict[str, Any] | None = None
    message: str | None = None
    reason: str | None = None
    #: The folder the failure's pictures and evidence were written to.
    artifacts: str | None = None

    def to_json(self) -> dict[str, Any]:
        record: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None or (f.name == "expected" and not value):
                continue
            record[f.name] = list(value) if f.name == "expected" else value
        return record

    @classmethod
    def from_json(cls, record: Mapping[str, Any]) -> Verdict:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in record.items() if k in known}
        values["expected"] = tuple(values.get("expected", ()))
        return cls(**values)


def _plain(value: Any) -> Any:
    """Evidence as JSON can hold it: numbers, strings, lists and dicts; the rest as text."""
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Mapping):
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


def verdict_of(item: Any, call: Any, report: Any) -> Verdict | None:
    """The verdict of one phase of a smoke item, or None for a phase that says nothing."""
    check = item.originalname if hasattr(item, "originalname") else item.name
    judged = item.stash.get(JUDGED, {})
    base: dict[str, Any] = {
        # Rows go by the gan_spec parameter id (the fixture's name when not parametrised),
        # known for every phase of every item; the spec's own name comes with the run.
        "spec": spec_id(item) or SPEC_FIXTURE,
        "check": check,
        "nodeid": item.nodeid,
    }
    try:
        expected = expectation_of(item)
    except ValueError:
        expected = Expectation()
    if expected:
        base["expected"] = tuple(expected.pitfalls)
    base.update(judged)
    if report.when == "call" or (report.when == "setup" and not report.passed):
        exc = call.excinfo.value if call.excinfo is not None else None
        if hasattr(report, "wasxfail") and EXPECTED_FAILURE in item.stash:
            return Verdict(**base, outcome="expected", **_failure(item.stash[EXPECTED_FAILURE]))
        missed = getattr(exc, "missed", None)
        if isinstance(missed, str):
            return Verdict(**base, outcome="missed", pitfall=missed, message=str(exc))
        if report.skipped:
            return Verdict(**base, outcome="n/a", reason=str(getattr(exc, "msg", exc) or ""))
        if report.passed:
            return Verdict(**base, outcome="pass")
        # By its attributes rather than its class: a GANAssertionError raised by a copy of
        # the package imported again (pytester runs) is one too.
        pitfall = getattr(exc, "pitfall", None)
        if isinstance(exc, AssertionError) and isinstance(pitfall, str):
            return Verdict(**base, outcome="fail", **_failure(exc))
        return Verdict(**base, outcome="error", message=f"{type(exc).__name__}: {exc}")
    return None


#: Evidence figures a JUnit property carries at most (the rest are in the JSON report).
JUNIT_FIGURES = 12


def junit_properties(verdict: Verdict) -> list[tuple[str, str]]:
    """A smoke verdict as flat JUnit ``<property>`` pairs: what a CI server shows beside
    the test case (the spec, the check, the outcome, the pitfall, the steps it was judged
    at, the evidence's scalar figures and the artifacts' folder)."""
    props = [
        ("gan_spec", verdict.spec),
        *([("gan_name", verdict.name)] if verdict.name else []),
        ("gan_check", verdict.check),
        ("gan_outcome", verdict.outcome),
    ]
    if verdict.pitfall:
        props.append(("gan_pitfall", verdict.pitfall))
    if verdict.steps is not None:
        props.append(("gan_steps", str(verdict.steps)))
    if verdict.judged_at is not None:
        props.append(("gan_judged_at", str(verdict.judged_at)))
    if verdict.elapsed is not None:
        props.append(("gan_elapsed_s", f"{verdict.elapsed:.3f}"))
    if verdict.stopped_early:
        early = verdict.stopped_early
        props.append(
            (
                "gan_stopped_early",
                f"{early['at']} of {early['of']}: " + ", ".join(early["pitfalls"]),
            )
        )
    evidence = verdict.evidence
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
    if verdict.artifacts:
        props.append(("gan_artifacts", verdict.artifacts))
    return props
