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
import json
import math
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pytest_gan._files import write_atomically

#: The fixture a conftest defines to put its GANs under the smoke suite.
SPEC_FIXTURE = "gan_spec"

#: The name of the collector beside each such conftest.
COLLECTOR_NAME = "gan-smoke"


@dataclass(frozen=True)
class SmokeCheck:
    """One column of the smoke suite: an item id, the check it calls, and when it applies."""

    id: str
    check: str
    applies: Callable[[Any], str | None] = lambda run: None  # None: applies; else why not


def _conditional(run: Any) -> str | None:
    return None if run.conditional else "the spec is unconditional (num_classes not set)"


def _constrained(run: Any) -> str | None:
    from pytest_gan.checks.lipschitz import lipschitz_constraints

    if lipschitz_constraints(run):
        return None
    return "D has no Lipschitz constraint (no gradient penalty, no spectral normalisation)"


def _images(run: Any) -> str | None:
    return None if run.real(2).ndim == 4 else "the data are not images"


SMOKE_CHECKS: tuple[SmokeCheck, ...] = (
    SmokeCheck("losses-finite", "assert_losses_finite"),
    SmokeCheck("d-step-isolated", "assert_d_step_isolated"),
    SmokeCheck("gradients-zeroed", "assert_gradients_zeroed"),
    SmokeCheck("optimizers-cover", "assert_optimizers_cover"),
    SmokeCheck("data-normalized", "assert_data_normalized", _images),
    SmokeCheck("output-range", "assert_output_range_matches_data"),
    SmokeCheck("generator-learns", "assert_generator_learns"),
    SmokeCheck("not-blank", "assert_not_blank"),
    SmokeCheck("diverse", "assert_diverse"),
    SmokeCheck("losses-balanced", "assert_losses_balanced"),
    SmokeCheck("conditioning", "assert_conditioning_effective", _conditional),
    SmokeCheck("lipschitz", "assert_lipschitz", _constrained),
    SmokeCheck("checkpoint-roundtrip", "assert_checkpoint_roundtrip"),
)


def defines_spec_fixture(conftest: Path) -> bool:
    """Whether a conftest's source defines a ``gan_spec`` fixture (read, not imported)."""
    try:
        tree = ast.parse(conftest.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return False
    return any(
        isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == SPEC_FIXTURE
        for node in ast.walk(tree)
    )


def _make_test(smoke: SmokeCheck) -> Callable[..., None]:
    def test(gan_spec: Any, gan_smoke_run: Any) -> None:
        __tracebackhide__ = True
        import pytest_gan

        run = gan_smoke_run
        reason = smoke.applies(run)
        if reason is not None:
            pytest.skip(f"{smoke.id} does not apply: {reason}")
        getattr(pytest_gan, smoke.check)(run)

    test.__name__ = smoke.id
    test.__qualname__ = smoke.id
    test.__doc__ = f"pytest_gan.{smoke.check} on the spec's smoke run."
    return test


def _smoke_module() -> types.ModuleType:
    module = types.ModuleType("pytest_gan_smoke_items")
    for smoke in SMOKE_CHECKS:
        setattr(module, smoke.id, _make_test(smoke))
    return module


class SmokeCollector(pytest.Module):
    """The ``gan-smoke`` items beside one conftest that defines ``gan_spec``."""

    def _getobj(self) -> types.ModuleType:
        return _smoke_module()

    def istestfunction(self, obj: object, name: str) -> bool:
        return callable(obj) and name in {s.id for s in SMOKE_CHECKS}

    def _register_setup_module_fixture(self) -> None:
        pass

    def _register_setup_function_fixture(self) -> None:
        pass


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


def verdict_of(item: Any, call: Any, report: Any) -> dict[str, Any] | None:
    """The verdict of one phase of a smoke item, or None for a phase that says nothing."""
    check = item.originalname if hasattr(item, "originalname") else item.name
    base = {"spec": spec_id(item) or "gan_spec", "check": check, "nodeid": item.nodeid}
    if report.when == "call" or (report.when == "setup" and not report.passed):
        exc = call.excinfo.value if call.excinfo is not None else None
        if report.skipped:
            return {**base, "outcome": "n/a", "reason": str(getattr(exc, "msg", exc) or "")}
        if report.passed:
            return {**base, "outcome": "pass"}
        # By its attributes rather than its class: a GANAssertionError raised by a copy of
        # the package imported again (pytester runs) is one too.
        pitfall = getattr(exc, "pitfall", None)
        if isinstance(exc, AssertionError) and isinstance(pitfall, str):
            return {
                **base,
                "outcome": "fail",
                "pitfall": pitfall,
                "evidence": _plain(getattr(exc, "evidence", {})),
                "message": str(exc),
            }
        return {**base, "outcome": "error", "message": f"{type(exc).__name__}: {exc}"}
    return None


def _cell(verdict: dict[str, Any]) -> str:
    outcome = verdict["outcome"]
    if outcome == "fail":
        return str(verdict["pitfall"])
    return {"pass": "ok", "n/a": "-", "error": "ERROR"}[outcome]


def verdict_table(verdicts: list[dict[str, Any]]) -> list[str]:
    """Specs as rows, checks as columns: "ok", the pitfall found, "-" (does not apply) or
    "ERROR" (the run or the check raised)."""
    checks = [s.id for s in SMOKE_CHECKS if any(v["check"] == s.id for v in verdicts)]
    specs = list(dict.fromkeys(v["spec"] for v in verdicts))
    cells = {(v["spec"], v["check"]): _cell(v) for v in verdicts}
    rows = [["spec", *checks]] + [[s, *(cells.get((s, c), "") for c in checks)] for s in specs]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


def write_json_atomically(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path``, atomically."""

    def dump(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, sort_keys=True)
            f.write("\n")

    write_atomically(path, dump)


class SmokeReporter:
    """Collects the smoke verdicts where the reports arrive (the controller under
    pytest-xdist), prints the verdict table and writes ``--gan-report``."""

    NAME = "gan-smoke-reporter"

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.verdicts: list[dict[str, Any]] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for name, value in report.user_properties:
            if name == VERDICT_PROPERTY and isinstance(value, dict):
                self.verdicts.append(value)

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.verdicts:
            return
        terminalreporter.write_sep("=", "gan smoke verdicts")
        for line in verdict_table(self.verdicts):
            terminalreporter.write_line(line)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        path = self.config.getoption("gan_report", None)
        if path is None or hasattr(self.config, "workerinput"):
            return
        path = Path(self.config.invocation_params.dir, path)
        write_json_atomically(path, {"verdicts": self.verdicts})
