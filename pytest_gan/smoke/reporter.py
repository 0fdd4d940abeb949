"""Where the verdicts arrive (the controller under pytest-xdist): the progress lines, the
verdict table, the JSON report."""

from __future__ import annotations

import math
import os
import time
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import pytest

from pytest_gan._files import write_json_atomically
from pytest_gan.smoke.items import SPEC_FIXTURE, judged
from pytest_gan.smoke.scheduling import SMOKE_NODEID, smoke_scope
from pytest_gan.smoke.table import GITHUB_SUMMARY_ENV, markdown_summary, verdict_table
from pytest_gan.smoke.verdicts import VERDICT_PROPERTY, Verdict

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
        self.verdicts: list[Verdict] = []
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
        match = SMOKE_NODEID.fullmatch(nodeid)
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
                self.verdicts.append(Verdict.from_json(value))
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
        write_json_atomically(path, {"verdicts": [v.to_json() for v in self.verdicts]})


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
