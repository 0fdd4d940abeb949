"""The smoke items: one per check per spec, beside each conftest that defines ``gan_spec``;
what a ``gan_expect`` marker expects of them, and the test each item runs."""

from __future__ import annotations

import ast
import functools
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pytest_gan.checks import Check

#: The fixture a conftest defines to put its GANs under the smoke suite.
SPEC_FIXTURE = "gan_spec"

#: The name of the collector beside each such conftest.
COLLECTOR_NAME = "gan-smoke"


#: The ids of ``pytest_gan.checks.ALL``, in its order, for the code that must not import
#: torch: the pytest-xdist controller schedules the items and draws the verdict table by
#: them, and importing the checks there would delay every worker's first training by
#: seconds (docs/benchmarks.md, "The smoke suite"). ``tests/test_architecture.py`` holds
#: it to the registry.
CHECK_IDS = (
    "losses-finite",
    "d-step-isolated",
    "d-output-fits-loss",
    "gradients-zeroed",
    "optimizers-cover",
    "data-normalized",
    "output-range",
    "generator-learns",
    "not-blank",
    "diverse",
    "losses-balanced",
    "d-generalizes",
    "conditioning",
    "lipschitz",
    "checkpoint-roundtrip",
)


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
    from pytest_gan.checks import BY_PITFALL
    from pytest_gan.pitfalls import PITFALLS

    return {p: c.id for p, c in BY_PITFALL.items() if p in PITFALLS}


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
    """What a smoke verdict says of the run it judged: the spec's own name
    (``GANSpec.name``), the steps it was judged at, how far it was trained on or where it
    was stopped, and its training time in seconds (``GANRun.elapsed``)."""
    found: dict[str, Any] = {
        "name": getattr(run, "name", None),
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
        record = request.node.stash[JUDGED] = judged(run)
        reason = smoke.applies(run)
        if reason is not None:
            pytest.skip(f"{smoke.id} does not apply: {reason}")
        from pytest_gan.checks._nonfinite import ended_diverged
        from pytest_gan.run import judged_at_first_steps

        at = judged_at_first_steps(run, smoke.name) if hasattr(run, "first_verdicts") else None
        # A run that diverged while trained on is judged as it is (diverged_verdict).
        if at is not None and not ended_diverged(run):
            record["judged_at"] = at
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
        return callable(obj) and name in CHECK_IDS

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


def spec_id(item: Any) -> str:
    """The spec's parameter id of a smoke item ("" when gan_spec is not parametrised)."""
    callspec = getattr(item, "callspec", None)
    return "" if callspec is None else str(callspec.id)
