"""``pytest --gan-smoke``: one test item per check per spec, from a ``gan_spec`` fixture.

A team declares its GANs once, in a conftest, as a fixture named ``gan_spec`` (usually
parametrised, one param per GAN). With ``--gan-smoke``, every conftest that defines that
fixture gets a collector named ``gan-smoke`` beside it whose items are the checks:
``gan-smoke::not-blank[<spec id>]``. All the items of one spec share one training run per
process (the run is keyed by the conftest and the spec's parameter id, so a function-scoped
fixture that builds a new spec per test does not retrain). Checks that do not apply to a
spec (conditioning for an unconditional GAN, the Lipschitz bound for an unconstrained
critic) are skipped with the reason.

Nothing here imports torch at import time.
"""

from __future__ import annotations

import ast
import base64
import functools
import json
import math
import os
import re
import time
import types
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_gan._files import write_atomically
from pytest_gan.session import artifact_dir_for

if TYPE_CHECKING:
    from pytest_gan.checks import Check

#: The fixture a conftest defines to put its GANs under the smoke suite.
SPEC_FIXTURE = "gan_spec"

#: The name of the collector beside each such conftest.
COLLECTOR_NAME = "gan-smoke"


def smoke_checks() -> tuple[Check, ...]:
    """The checks every smoke spec runs, in order: ``pytest_gan.checks.ALL``, imported
    (with torch) only when the smoke suite needs them."""
    from pytest_gan.checks import ALL

    return ALL


def spec_fixture_line(conftest: Path) -> int | None:
    """The line (0-based, as pytest counts) of the ``def gan_spec`` in a conftest's source
    (read, not imported): None when it defines none."""
    try:
        tree = ast.parse(conftest.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == SPEC_FIXTURE:
            return node.lineno - 1
    return None


def defines_spec_fixture(conftest: Path) -> bool:
    """Whether a conftest's source defines a ``gan_spec`` fixture (read, not imported)."""
    return spec_fixture_line(conftest) is not None


#: The marker that declares a spec known to be broken: ``pytest.param(..., marks=
#: pytest.mark.gan_expect("mode-collapse", may_also=("discriminator-overpowers",)))`` on a
#: ``gan_spec`` parameter.
EXPECT_MARKER = "gan_expect"
EXPECT_MARKER_HELP = (
    f"{EXPECT_MARKER}(*pitfalls, may_also=()): on a gan_spec parameter, the spec is known to "
    "have these pitfalls: with --gan-smoke each is an expected failure (xfail) of the check "
    "that diagnoses it, and that check passing fails the item (the mistake went unnoticed); "
    "the pitfalls of may_also are expected failures when found, never required."
)


@dataclass(frozen=True)
class Expectation:
    """What a ``gan_expect`` marker declares: pitfalls that must be found, and ones that may."""

    must: tuple[str, ...] = ()
    may: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.must or self.may)

    @property
    def pitfalls(self) -> tuple[str, ...]:
        return self.must + self.may


def _smoke_pitfalls() -> dict[str, str]:
    """Pitfall id -> the smoke check id that diagnoses it."""
    from pytest_gan.pitfalls import PITFALLS

    return {p: c.id for c in smoke_checks() for p in c.pitfalls if p in PITFALLS}


def expectation_of(item: Any) -> Expectation:
    """The ``gan_expect`` markers of a smoke item, merged; ValueError names a bad one."""
    must: list[str] = []
    may: list[str] = []
    known = _smoke_pitfalls()
    for mark in item.iter_markers(EXPECT_MARKER):
        extra = set(mark.kwargs) - {"may_also"}
        if extra:
            raise ValueError(
                f"{item.nodeid}: {EXPECT_MARKER} takes pitfall ids and may_also=(...); "
                f"got the keyword(s) {', '.join(sorted(extra))}"
            )
        also = mark.kwargs.get("may_also", ())
        if isinstance(also, str):
            also = (also,)
        for group, ids in ((must, mark.args), (may, also)):
            for pitfall in ids:
                if pitfall not in known:
                    raise ValueError(
                        f"{item.nodeid}: {EXPECT_MARKER}({pitfall!r}): not a pitfall the smoke "
                        f"suite diagnoses; expected one of {', '.join(sorted(known))}"
                    )
                group.append(pitfall)
    must_ids = tuple(dict.fromkeys(must))
    return Expectation(must_ids, tuple(p for p in dict.fromkeys(may) if p not in must_ids))


class ExpectedPitfallMissed(AssertionError):
    """A spec marked ``gan_expect(pitfall)`` passed the check that diagnoses that pitfall."""

    def __init__(self, message: str, missed: str) -> None:
        super().__init__(message)
        self.missed = missed


#: Where a smoke item keeps the check's failure that its ``gan_expect`` marker expected.
EXPECTED_FAILURE = pytest.StashKey[AssertionError]()
#: Where a smoke item keeps the steps its run was judged at and why it was trained on.
JUDGED = pytest.StashKey[dict[str, Any]]()


def judged(run: Any) -> dict[str, Any]:
    """What a smoke verdict says of the run it judged: the steps it was judged at, how far
    it was trained on or where it was stopped, and its training time in seconds
    (``GANRun.elapsed``)."""
    found: dict[str, Any] = {
        "steps": run.steps,
        "first_steps": run.first_steps,
        "extensions": list(run.extensions),
        "elapsed": round(float(run.elapsed), 3),
    }
    stopped = getattr(run, "stopped_early", None)
    if stopped:
        found["stopped_early"] = dict(stopped)
    return found


def _make_test(smoke: Check) -> Callable[..., None]:
    def test(request: pytest.FixtureRequest, gan_spec: Any, gan_smoke_run: Any) -> None:
        __tracebackhide__ = True
        run = gan_smoke_run
        request.node.stash[JUDGED] = judged(run)
        reason = smoke.applies(run)
        if reason is not None:
            pytest.skip(f"{smoke.id} does not apply: {reason}")
        stopped = getattr(run, "stopped_early", None)
        if stopped and not smoke.exact:
            pytest.skip(
                f"{smoke.id} not judged: training stopped at step {stopped['at']} of "
                f"{stopped['of']}, as the run already fails {', '.join(stopped['pitfalls'])}"
            )
        expected = expectation_of(request.node)
        try:
            smoke.function(run)
        except AssertionError as exc:
            pitfall = getattr(exc, "pitfall", None)
            if pitfall not in expected.pitfalls:
                raise
            request.node.stash[EXPECTED_FAILURE] = exc
            pytest.xfail(f"{pitfall}, as the spec's {EXPECT_MARKER} marker says")
        missed = [p for p in expected.must if _smoke_pitfalls()[p] == smoke.id]
        if missed:
            raise ExpectedPitfallMissed(
                f"{run.name} is marked {EXPECT_MARKER}({missed[0]!r}), but "
                f"{smoke.name} passed: the mistake behind {missed[0]} went unnoticed on "
                f"this run (seed {run.seed}, {run.steps} steps, {run.device}).",
                missed[0],
            )

    test.__name__ = smoke.id
    test.__qualname__ = smoke.id
    test.__doc__ = f"pytest_gan.{smoke.name} on the spec's smoke run."
    return test


def _smoke_module() -> types.ModuleType:
    module = types.ModuleType("pytest_gan_smoke_items")
    for smoke in smoke_checks():
        setattr(module, smoke.id, _make_test(smoke))
    return module


class SmokeCollector(pytest.Module):
    """The ``gan-smoke`` items beside one conftest that defines ``gan_spec``."""

    def _getobj(self) -> types.ModuleType:
        return _smoke_module()

    def istestfunction(self, obj: object, name: str) -> bool:
        return callable(obj) and name in {c.id for c in smoke_checks()}

    def _register_setup_module_fixture(self) -> None:
        pass

    def _register_setup_function_fixture(self) -> None:
        pass

    def collect(self) -> list[pytest.Item | pytest.Collector]:
        """The items, each reporting its location as the team's ``gan_spec`` definition
        (conftest and line): where a CI annotation or an IDE jump should land, rather
        than inside this plugin."""
        items = list(super().collect())
        line = spec_fixture_line(self.path) or 0
        for item in items:
            if isinstance(item, pytest.Function):
                where = (self.path, line, f"{COLLECTOR_NAME}::{item.name}")
                item.reportinfo = functools.partial(_located, where)  # type: ignore[method-assign]
        return items


def _located(where: tuple[Path, int, str]) -> tuple[Path, int, str]:
    return where


def collector_for(conftest: Path, parent: pytest.Collector) -> SmokeCollector:
    base = parent.nodeid
    nodeid = f"{base}/{COLLECTOR_NAME}" if base not in ("", ".") else COLLECTOR_NAME
    return SmokeCollector.from_parent(parent, path=conftest, nodeid=nodeid)


#: The user property that carries a smoke item's verdict to the controller (pytest-xdist
#: sends user properties with each report).
VERDICT_PROPERTY = "gan_smoke_verdict"


def spec_id(item: Any) -> str:
    """The spec's parameter id of a smoke item ("" when gan_spec is not parametrised)."""
    callspec = getattr(item, "callspec", None)
    return "" if callspec is None else str(callspec.id)


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


#: Marks a failure the spec's ``gan_expect`` marker expected (its cell and its pitfall).
EXPECTED_SUFFIX = "*"
#: Prefix of an expected pitfall the check did not find.
MISSED_PREFIX = "MISSED "
#: Width the verdict table keeps to, so that it reads in a CI log without scrolling: the
#: checks are numbered columns (named in the key below the table), and the pitfalls a row
#: found go on lines of their own, wrapped at this width. Only a spec name longer than
#: the width leaves less.
TABLE_WIDTH = 100

#: A cell's mark by outcome: two characters at most, so that fourteen columns fit.
_MARKS = {
    "pass": "ok",
    "n/a": "-",
    "fail": "X",
    "expected": f"X{EXPECTED_SUFFIX}",
    "missed": "M",
    "error": "E",
}


def _cell(verdict: dict[str, Any]) -> str:
    return _MARKS[verdict["outcome"]]


def _found(verdict: dict[str, Any]) -> str | None:
    """The pitfall a cell stands for, as the table lists it under its row."""
    outcome = verdict["outcome"]
    if outcome == "fail":
        return str(verdict["pitfall"])
    if outcome == "expected":
        return f"{verdict['pitfall']}{EXPECTED_SUFFIX}"
    if outcome == "missed":
        return f"{MISSED_PREFIX}{verdict['pitfall']}"
    return None


def _wrapped(label: str, items: list[str]) -> list[str]:
    """``items`` after ``label``, separated by commas, in lines of at most TABLE_WIDTH
    continued under the first item (an item too long for any line keeps one of its own)."""
    lines, line = [], label
    for i, item in enumerate(items):
        item += "," if i < len(items) - 1 else ""
        if line != label and len(line) + 1 + len(item) > TABLE_WIDTH:
            lines.append(line)
            line = " " * len(label) + " " + item
        else:
            line = f"{line} {item}"
    return [*lines, line]


#: The file GitHub Actions shows as a job's summary (``$GITHUB_STEP_SUMMARY``).
GITHUB_SUMMARY_ENV = "GITHUB_STEP_SUMMARY"

#: The summary's mark per spec: every check passed (or does not apply); a pitfall found;
#: a pitfall its ``gan_expect`` marker names went unnoticed; only what the marker
#: expects was found; a check or the run raised.
_SPEC_MARKS = {
    "pass": "✅ pass",
    "fail": "❌ fail",
    "missed": "❌ missed",
    "expected": "☑️ as expected",
    "error": "⚠️ error",
}


def _steps_cell(verdict: dict[str, Any]) -> str:
    """The steps a spec was judged at, and why not the steps it was given where it was
    stopped early or trained on."""
    early = verdict.get("stopped_early")
    if early:
        return f"{verdict['steps']} of {early['of']} (stopped early)"
    if verdict.get("extensions"):
        return f"{verdict['steps']} (trained on from {verdict['first_steps']})"
    return str(verdict["steps"])


def markdown_summary(verdicts: list[dict[str, Any]]) -> list[str]:
    """The verdicts as a Markdown table with one row per spec (for a GitHub job summary):
    the spec's result, the steps it was judged at, its training time, the pitfalls found
    (``*``: expected by its ``gan_expect`` marker), and the checks that failed or raised."""
    lines = [
        "### gan smoke verdicts",
        "",
        "| spec | result | steps | training s | pitfalls found | failing checks |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for spec in dict.fromkeys(v["spec"] for v in verdicts):
        mine = [v for v in verdicts if v["spec"] == spec]
        outcomes = {v["outcome"] for v in mine}
        if "error" in outcomes:
            result = "error"
        elif "missed" in outcomes:
            result = "missed"
        elif "fail" in outcomes:
            result = "fail"
        elif "expected" in outcomes:
            result = "expected"
        else:
            result = "pass"
        found = list(dict.fromkeys(f for f in (_found(v) for v in mine) if f is not None))
        failing = [v["check"] for v in mine if v["outcome"] in ("fail", "error", "missed")]
        steps = next((_steps_cell(v) for v in mine if "steps" in v), "-")
        seconds = next((f"{v['elapsed']:.1f}" for v in mine if "elapsed" in v), "-")
        cells = [
            f"`{spec}`",
            _SPEC_MARKS[result],
            steps,
            seconds,
            ", ".join(f"`{p}`" for p in found) or "-",
            ", ".join(f"`{c}`" for c in failing) or "-",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def verdict_table(verdicts: list[dict[str, Any]]) -> list[str]:
    """Specs as rows, checks as numbered columns: "ok", "-" (does not apply), "X" (a
    pitfall found, listed under the row), "E" (the run or the check raised an error).

    A spec whose run was trained on to decide a premature verdict
    (``pytest_gan.deciding``) says under its row how far, and for which pitfalls.

    Specs marked ``gan_expect`` (known broken) come last, under a rule of their own; in
    their rows a failure the marker expected reads ``X*`` and a check that did not find
    the expected pitfall ``M`` (listed as ``MISSED <pitfall>``). A key below the table
    names the checks and the marks.
    """
    checks = [c.id for c in smoke_checks() if any(v["check"] == c.id for v in verdicts)]
    specs = list(dict.fromkeys(v["spec"] for v in verdicts))
    marked = {v["spec"] for v in verdicts if v.get("expected")}
    by_cell = {(v["spec"], v["check"]): v for v in verdicts}
    header = ["spec", *(str(i) for i in range(1, len(checks) + 1))]

    def row(spec: str) -> list[str]:
        return [spec, *(_cell(by_cell[spec, c]) if (spec, c) in by_cell else "" for c in checks)]

    rows = {s: row(s) for s in specs}
    widths = [max(len(r[i]) for r in [header, *rows.values()]) for i in range(len(header))]
    widths[1:] = [max(2, w) for w in widths[1:]]  # an even grid of marks

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    def block(spec: str) -> list[str]:
        found = [_found(by_cell[spec, c]) for c in checks if (spec, c) in by_cell]
        pitfalls = [f for f in found if f is not None]
        lines = [line(rows[spec])] + (_wrapped("    found:", pitfalls) if pitfalls else [])
        judged = next((v for v in verdicts if v["spec"] == spec and v.get("extensions")), None)
        if judged is not None:
            pending = dict.fromkeys(p for e in judged["extensions"] for p in e["pending"])
            lines += _wrapped(
                f"    judged at {judged['steps']} steps, trained on from "
                f"{judged['first_steps']} while pending:",
                list(pending),
            )
            stopped = judged["extensions"][-1].get("stopped")
            if stopped:
                lines += _wrapped("    not trained on further, as it already fails:", stopped)
        early = next(
            (v["stopped_early"] for v in verdicts if v["spec"] == spec and v.get("stopped_early")),
            None,
        )
        if early is not None:
            lines += _wrapped(
                f"    stopped at step {early['at']} of {early['of']}, as it already fails:",
                list(early["pitfalls"]),
            )
        return lines

    rule = "  ".join("-" * w for w in widths)
    lines = [line(header), rule]
    for group in ([s for s in specs if s not in marked], [s for s in specs if s in marked]):
        if group and len(lines) > 2:
            lines.append(rule)
        for spec in group:
            lines += block(spec)
    lines.append(rule)
    lines += _wrapped("checks:", [f"{i} {c}" for i, c in enumerate(checks, 1)])
    marks = ["ok passed", "- does not apply", "X found the pitfall listed under the row"]
    if marked:
        marks += [
            f"X{EXPECTED_SUFFIX} found it as the spec's {EXPECT_MARKER} marker expects",
            "M missed the pitfall the marker names",
        ]
    lines += _wrapped("marks:", [*marks, "E error: the run or the check raised"])
    return lines


def write_json_atomically(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path``, atomically."""

    def dump(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, sort_keys=True)
            f.write("\n")

    write_atomically(path, dump)


#: The user property of the setup report of the smoke item whose setup trained its spec's
#: run (the first of the spec's items to run): what the training was and what it took.
TRAINED_PROPERTY = "gan_smoke_trained"


def training_record(
    spec: str, seconds: float, run: Any | None, error: BaseException | None
) -> dict[str, Any]:
    """A spec's training as the progress lines, ``--durations`` and JUnit report it:
    the wall seconds of the whole training call (building, steps, probes, any training
    on), and the run's steps and device, or the error it raised."""
    record: dict[str, Any] = {"spec": spec, "seconds": round(seconds, 3)}
    if run is not None:
        record.update(judged(run), device=str(run.device))
    if error is not None:
        record["error"] = f"{type(error).__name__}: {error}".splitlines()[0]
    return record


def training_line(record: dict[str, Any]) -> str:
    """The plain line that ends a spec's training, e.g. ``gan-smoke: trained
    shapes-dcgan: 200 steps in 31.2 s on cpu``."""
    head = f"gan-smoke: trained {record['spec']}"
    if "error" in record:
        return f"{head}: raised after {record['seconds']:.1f} s: {record['error']}"
    steps = f"{record['steps']} step" + ("" if record["steps"] == 1 else "s")
    line = f"{head}: {steps} in {record['seconds']:.1f} s on {record['device']}"
    early = record.get("stopped_early")
    if early:
        line += f", stopped early (of {early['of']}): it already fails " + ", ".join(
            early["pitfalls"]
        )
    elif record.get("extensions"):
        line += f", trained on from {record['first_steps']} to decide a verdict"
    return line


class SmokeReporter:
    """Collects the smoke verdicts where the reports arrive (the controller under
    pytest-xdist), prints the verdict table and writes ``--gan-report``.

    Where no progress line can be rewritten in place (output that is not a terminal, as
    in a CI log, or pytest-xdist, whose workers do not write to it), it prints one plain
    line when a spec's training starts and one when it ends, from the process the reports
    arrive at. With ``--durations`` it says which item's setup each training was charged
    to, and what it took.
    """

    NAME = "gan-smoke-reporter"

    def __init__(self, config: pytest.Config, settings: Any) -> None:
        self.config = config
        #: The session's ``GanSettings`` (steps, seed, device for the progress lines).
        self.settings = settings
        self.verdicts: list[dict[str, Any]] = []
        #: Each spec's training, in the order they ended (TRAINED_PROPERTY records).
        self.trainings: list[dict[str, Any]] = []
        self._started: set[str] = set()

    def _plain_lines(self) -> Any | None:
        """The terminal reporter to write plain progress lines to, or None where the
        in-place line (``TrainingProgress``) shows the training, or nobody looks."""
        config = self.config
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is None or hasattr(config, "workerinput") or config.get_verbosity() < -1:
            return None
        distributed = config.pluginmanager.has_plugin("dsession")
        if bool(getattr(reporter, "isatty", False)) and not distributed:
            return None
        return reporter

    def _say(self, reporter: Any, line: str) -> None:
        # On a line of its own, also after a run of pytest's progress dots.
        if getattr(getattr(reporter, "_tw", None), "width_of_current_line", 0):
            reporter.write("\n")
        reporter.write_line(line)

    def pytest_runtest_logstart(self, nodeid: str, location: tuple[str, int | None, str]) -> None:
        scope = smoke_scope(nodeid)
        if scope == nodeid or scope in self._started:
            return  # not a smoke item, or its spec's training was announced already
        match = _SMOKE_NODEID.fullmatch(nodeid)
        assert match is not None  # smoke_scope matched it
        self._started.add(scope)
        reporter = self._plain_lines()
        if reporter is None:
            return
        settings = self.settings
        budget = settings.smoke_max_steps
        steps = f"{settings.steps} steps" + (
            f" (up to {budget})" if budget > settings.steps else ""
        )
        device = settings.device or "auto"
        self._say(
            reporter,
            f"gan-smoke: training {match['spec'] or SPEC_FIXTURE}: {steps}, seed {settings.seed}, "
            f"device {device}",
        )

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for name, value in report.user_properties:
            if name == VERDICT_PROPERTY and isinstance(value, dict):
                self.verdicts.append(value)
            elif name == TRAINED_PROPERTY and isinstance(value, dict) and report.when == "setup":
                record = {**value, "nodeid": report.nodeid}
                self.trainings.append(record)
                reporter = self._plain_lines()
                if reporter is not None:
                    self._say(reporter, training_line(record))

    def _durations(self, terminalreporter: pytest.TerminalReporter) -> None:
        """Under ``--durations``: each spec's training, and the setup it is counted in."""
        if self.config.getoption("durations", None) is None or not self.trainings:
            return
        terminalreporter.write_sep("=", "gan-smoke training durations")
        terminalreporter.write_line(
            "Each spec trains once, in the setup of the first of its items to run: "
            "--durations counts the training in that setup."
        )
        for record in sorted(self.trainings, key=lambda r: -float(r["seconds"])):
            what = (
                f"{record['steps']} steps on {record['device']}"
                if "error" not in record
                else "raised"
            )
            terminalreporter.write_line(
                f"{record['seconds']:.2f}s train {record['spec']} ({what}), "
                f"in setup of {record['nodeid']}"
            )

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        self._durations(terminalreporter)
        if not self.verdicts:
            return
        terminalreporter.write_sep("=", "gan smoke verdicts")
        for line in verdict_table(self.verdicts):
            terminalreporter.write_line(line)
        summary = os.environ.get(GITHUB_SUMMARY_ENV, "").strip()
        if summary and not hasattr(self.config, "workerinput"):
            # GitHub Actions shows this file as the job's summary page: append to it.
            with open(summary, "a", encoding="utf-8") as f:
                f.write("\n".join(markdown_summary(self.verdicts)) + "\n")

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        path = self.config.getoption("gan_report", None)
        if path is None or hasattr(self.config, "workerinput"):
            return
        path = Path(self.config.invocation_params.dir, path)
        write_json_atomically(path, {"verdicts": self.verdicts})


# -- pytest-xdist ---------------------------------------------------------------------

_SMOKE_NODEID = re.compile(
    rf"(?P<collector>(?:.*/)?{COLLECTOR_NAME})::(?P<check>[a-z-]+)(?:\[(?P<spec>.*)\])?"
)


def smoke_scope(nodeid: str) -> str:
    """A node id's unit of work under pytest-xdist: all the items of one smoke spec go
    together (so its run is trained once in all); any other test is a unit of its own."""
    match = _SMOKE_NODEID.fullmatch(nodeid)
    if match is None or match["check"] not in {c.id for c in smoke_checks()}:
        return nodeid
    return f"{match['collector']}[{match['spec'] or ''}]"


def spec_scheduler(config: pytest.Config, log: Any) -> Any:
    """pytest-xdist's load-by-scope scheduling with :func:`smoke_scope` as the scope.

    Any test outside the smoke suite is its own scope, so it is distributed one by one, as
    with ``--dist load``.
    """
    from xdist.scheduler import LoadScopeScheduling

    class SpecScheduling(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return smoke_scope(nodeid)

    return SpecScheduling(config, log)


# -- artifacts ------------------------------------------------------------------------

#: Samples of each kind (real, generated) in a spec's ``samples.png``: an 8 x 8 grid of
#: images, or a scatter plot of points (dense enough to show a ring's modes).
GRID_SAMPLES = 64
SCATTER_POINTS = 1000
#: File names in a spec's artifact folder.
SAMPLES_PNG = "samples.png"
CURVES_PNG = "curves.png"


def smoke_artifact_dir(root: Path, collector: str, spec: str) -> Path:
    """A spec's folder: ``<root>/<conftest dir>/gan-smoke/<spec id>``, each part made safe.

    Parts that had to change to be safe get a hash (see ``artifact_dir_for``), so two
    specs never share a folder; pytest-xdist workers write identical files atomically.
    """
    folder = root
    for part in [*collector.split("/"), spec or SPEC_FIXTURE]:
        if part:
            folder = artifact_dir_for(folder, part)
    return folder


def write_run_artifacts(run: Any, folder: Path) -> list[Path]:
    """``samples.png`` (real above generated; 2-D data as a scatter plot) and
    ``curves.png`` (losses and the discriminator over steps) of a smoke run."""
    from pytest_gan.report import save_curves, save_sample_grid

    folder.mkdir(parents=True, exist_ok=True)
    written = [save_curves(folder / CURVES_PNG, run)]
    real = run.real(2)
    if (real.ndim == 4 and real.shape[1] in (1, 3)) or (real.ndim == 2 and real.shape[1] == 2):
        n = GRID_SAMPLES if real.ndim == 4 else SCATTER_POINTS
        n = run.sample_count(n)
        grid = save_sample_grid(
            folder / SAMPLES_PNG, run.samples(n), run.real(n), data_range=run.data_range
        )
        written.append(grid)
    return written


def record_failure(folder: Path, verdict: dict[str, Any]) -> list[str]:
    """For a failed (or expectedly failed) smoke item: its evidence as ``<check>.json`` in
    the spec's folder, and the lines of the report section that point at the files."""
    if verdict["outcome"] not in ("fail", "expected", "missed"):
        return []
    folder.mkdir(parents=True, exist_ok=True)
    evidence = folder / f"{verdict['check']}.json"
    write_json_atomically(evidence, verdict)
    lines = [f"evidence: {evidence}"]
    for name, what in ((SAMPLES_PNG, "real vs generated samples"), (CURVES_PNG, "curves")):
        if (folder / name).exists():
            lines.append(f"{what}: {folder / name}")
    return lines


#: What a smoke item's pytest-html extras are called.
HTML_TITLES = {SAMPLES_PNG: "samples (real above, generated below)", CURVES_PNG: "curves"}


def html_extras(folder: Path | None, verdict: dict[str, Any]) -> list[dict[str, Any]]:
    """A smoke item's extras for pytest-html: its spec's sample grid and curves, embedded
    as base64 PNGs, and, for a check that failed (or raised, or missed what its marker
    expects), the verdict with its evidence as JSON. Called only when pytest-html is
    active (``--html``), so its ``extras`` module can be imported: it builds each extra
    in the form the installed version reads."""
    from pytest_html import extras  # type: ignore[import-untyped]

    found: list[dict[str, Any]] = []
    if folder is not None:
        for name, title in HTML_TITLES.items():
            path = folder / name
            if path.is_file():
                content = base64.b64encode(path.read_bytes()).decode("ascii")
                found.append(extras.png(content, name=title))
    if verdict["outcome"] in ("fail", "expected", "missed", "error"):
        found.append(extras.json(verdict, name=f"evidence: {verdict.get('pitfall') or 'error'}"))
    return found


# -- progress ---------------------------------------------------------------------------


class TrainingProgress:
    """A line that counts a smoke run's training steps, on an interactive terminal.

    Written between pytest's own output: it starts on a fresh line, is rewritten in place
    at most every ``INTERVAL`` seconds, and ends with the run's time.
    """

    #: Seconds between rewrites of the line: often enough to look alive, rarely enough
    #: to cost nothing next to a training step.
    INTERVAL = 0.2

    def __init__(self, reporter: Any, capture: Any, label: str) -> None:
        self._reporter = reporter
        self._capture = capture
        self._label = label
        self._started = time.perf_counter()
        self._last = -math.inf
        self._shown = False

    @classmethod
    def for_config(cls, config: pytest.Config, label: str) -> TrainingProgress | None:
        """A progress line, or None where nobody watches a terminal (not a TTY, a
        pytest-xdist worker, ``-qq``)."""
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if (
            reporter is None
            or not bool(getattr(reporter, "isatty", False))
            or hasattr(config, "workerinput")
            or config.get_verbosity() < -1
        ):
            return None
        return cls(reporter, config.pluginmanager.get_plugin("capturemanager"), label)

    def _terminal(self) -> AbstractContextManager[Any]:
        # Items capture the process's output while they run; the line goes past that.
        if self._capture is None:
            return nullcontext()
        disabled: AbstractContextManager[Any] = self._capture.global_and_fixture_disabled()
        return disabled

    def __call__(self, done: int, total: int) -> None:
        now = time.perf_counter()
        if done < total and now - self._last < self.INTERVAL:
            return
        self._last = now
        with self._terminal():
            if not self._shown:
                self._reporter.ensure_newline()
                self._shown = True
            self._reporter.rewrite(
                f"gan-smoke: training {self._label}: step {done}/{total}, "
                f"{now - self._started:.1f} s",
                erase=True,
            )

    def close(self) -> None:
        """End the line (after the last step, or when the training raised)."""
        if self._shown:
            with self._terminal():
                self._reporter.write("\n")
            self._shown = False
