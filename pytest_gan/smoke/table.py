"""The verdict table in the terminal, and its Markdown twin for a GitHub job summary."""

from __future__ import annotations

from pytest_gan._defaults import CALIBRATED_STEPS
from pytest_gan.smoke.items import CHECK_IDS, EXPECT_MARKER, SPEC_FIXTURE
from pytest_gan.smoke.verdicts import Verdict

#: The smoke ids of the checks whose verdict on a run trained on is that of its first
#: steps (``deciding.FIRST_STEPS``; named here, not imported, so that loading the plugin
#: does not import torch; tests/test_deciding.py holds the two lists together).
FIRST_STEP_CHECKS = ("generator-learns", "losses-balanced")

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


def _cell(verdict: Verdict) -> str:
    return _MARKS[verdict.outcome]


def _found(verdict: Verdict) -> str | None:
    """The pitfall a cell stands for, as the table lists it under its row."""
    outcome = verdict.outcome
    if outcome == "fail":
        return str(verdict.pitfall)
    if outcome == "expected":
        return f"{verdict.pitfall}{EXPECTED_SUFFIX}"
    if outcome == "missed":
        return f"{MISSED_PREFIX}{verdict.pitfall}"
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


def _steps_cell(verdict: Verdict) -> str:
    """The steps a spec was judged at, and why not the steps it was given where it was
    stopped early or trained on."""
    early = verdict.stopped_early
    if early:
        return f"{verdict.steps} of {early['of']} (stopped early)"
    if verdict.extensions:
        return f"{verdict.steps} (trained on from {verdict.first_steps})"
    return str(verdict.steps)


def _first_steps_lines(spec: str, first_steps: int | None, verdicts: list[Verdict]) -> list[str]:
    """For a spec trained on: the steps its balance and learning verdicts were taken at
    (``FIRST_STEP_CHECKS``), which are not the steps the run ended at."""
    names = {"losses-balanced": "balance", "generator-learns": "learning"}
    mine = [
        v
        for v in verdicts
        if v.spec == spec and v.check in FIRST_STEP_CHECKS and v.outcome != "n/a"
    ]
    at = {names[v.check]: v.steps if v.judged_at is None else v.judged_at for v in mine}
    ended = next((v.steps for v in mine), None)
    if not at:
        return []
    if set(at.values()) == {first_steps}:
        # (At fewer steps than the calibrated ones only learning can be judged where it
        # was asked for: a failing balance verdict there waits.)
        judged = " and ".join(sorted(at))
        why = (
            " (the steps their thresholds were calibrated at)"
            if first_steps is not None and first_steps >= CALIBRATED_STEPS
            else ""
        )
        return [f"    {judged} judged at step {first_steps}, as asked{why}"]
    parts = []
    for name in sorted(at):
        step = at[name]
        if step == first_steps:
            why = "as asked"
        elif (
            first_steps is not None and step is not None and first_steps < CALIBRATED_STEPS <= step
        ):
            why = f"the first steps reached at or past the {CALIBRATED_STEPS} it was calibrated at"
        elif step == ended:
            why = "as the run ended"
        else:
            # A watched loop's first run, which took more steps than it was asked for.
            why = "its first run"
        parts.append(f"{name} at step {step} ({why})")
    return _wrapped("    judged:", parts)


def _label(spec: str, verdicts: list[Verdict]) -> str:
    """A row's label: the spec's parameter id, or for an unparametrised ``gan_spec`` the
    fixture's name with the spec's own name (``GANSpec.name``) where its run was made."""
    if spec != SPEC_FIXTURE:
        return spec
    name = next((v.name for v in verdicts if v.spec == spec and v.name), None)
    return spec if name is None else f"{spec} ({name})"


def markdown_summary(verdicts: list[Verdict]) -> list[str]:
    """The verdicts as a Markdown table with one row per spec (for a GitHub job summary):
    the spec's result, the steps it was judged at, its training time, the pitfalls found
    (``*``: expected by its ``gan_expect`` marker), and the checks that failed or raised."""
    lines = [
        "### gan smoke verdicts",
        "",
        "| spec | result | steps | training s | pitfalls found | failing checks |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for spec in dict.fromkeys(v.spec for v in verdicts):
        mine = [v for v in verdicts if v.spec == spec]
        outcomes = {v.outcome for v in mine}
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
        failing = [v.check for v in mine if v.outcome in ("fail", "error", "missed")]
        steps = next((_steps_cell(v) for v in mine if v.steps is not None), "-")
        seconds = next((f"{v.elapsed:.1f}" for v in mine if v.elapsed is not None), "-")
        cells = [
            f"`{_label(spec, verdicts)}`",
            _SPEC_MARKS[result],
            steps,
            seconds,
            ", ".join(f"`{p}`" for p in found) or "-",
            ", ".join(f"`{c}`" for c in failing) or "-",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def verdict_table(verdicts: list[Verdict]) -> list[str]:
    """Specs as rows, checks as numbered columns: "ok", "-" (does not apply), "X" (a
    pitfall found, listed under the row), "E" (the run or the check raised an error).

    A spec whose run was trained on to decide a premature verdict
    (``pytest_gan.deciding``) says under its row how far, and for which pitfalls.

    Specs marked ``gan_expect`` (known broken) come last, under a rule of their own; in
    their rows a failure the marker expected reads ``X*`` and a check that did not find
    the expected pitfall ``M`` (listed as ``MISSED <pitfall>``). A key below the table
    names the checks and the marks.
    """
    checks = [c for c in CHECK_IDS if any(v.check == c for v in verdicts)]
    specs = list(dict.fromkeys(v.spec for v in verdicts))
    marked = {v.spec for v in verdicts if v.expected}
    by_cell = {(v.spec, v.check): v for v in verdicts}
    header = ["spec", *(str(i) for i in range(1, len(checks) + 1))]

    def row(spec: str) -> list[str]:
        cells = (_cell(by_cell[spec, c]) if (spec, c) in by_cell else "" for c in checks)
        return [_label(spec, verdicts), *cells]

    rows = {s: row(s) for s in specs}
    widths = [max(len(r[i]) for r in [header, *rows.values()]) for i in range(len(header))]
    widths[1:] = [max(2, w) for w in widths[1:]]  # an even grid of marks

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    def block(spec: str) -> list[str]:
        found = [_found(by_cell[spec, c]) for c in checks if (spec, c) in by_cell]
        pitfalls = [f for f in found if f is not None]
        lines = [line(rows[spec])] + (_wrapped("    found:", pitfalls) if pitfalls else [])
        judged = next((v for v in verdicts if v.spec == spec and v.extensions), None)
        if judged is not None and judged.extensions:
            extensions = judged.extensions
            pending = dict.fromkeys(p for e in extensions for p in e["pending"])
            lines += _wrapped(
                f"    judged at {judged.steps} steps, trained on from "
                f"{judged.first_steps} while pending:",
                list(pending),
            )
            lines += _first_steps_lines(spec, judged.first_steps, verdicts)
            stopped = extensions[-1].get("stopped")
            if stopped:
                lines += _wrapped("    not trained on further, as it already fails:", stopped)
            elif extensions[-1].get("no_progress") == judged.steps:
                lines.append(
                    "    not trained on further: its samples had stopped coming nearer the data"
                    " and spreading out"
                )
        early = next(
            (v.stopped_early for v in verdicts if v.spec == spec and v.stopped_early),
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
