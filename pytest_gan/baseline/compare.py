"""A run against its baseline: every figure against its band, and the check
``assert_matches_baseline`` that fails with a table of them (pitfall
``baseline-regression``)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_gan.baseline.store import (
    UPDATE_HINT,
    Baseline,
    BaselineMismatchError,
    cell,
    describe_seeds,
)
from pytest_gan.baseline.summary import WORSE_EITHER, WORSE_HIGHER, summarize
from pytest_gan.errors import GANAssertionError, aligned_table
from pytest_gan.pitfalls import PITFALLS

if TYPE_CHECKING:
    from pytest_gan.run import GANRun


@dataclass(frozen=True)
class Comparison:
    """One figure of a run against its band."""

    name: str
    obtained: float
    centre: float
    low: float
    high: float
    moved: float
    worse: str

    @property
    def inside(self) -> bool:
        return self.low <= self.obtained <= self.high

    @property
    def verdict(self) -> str:
        """The verdict: "ok" inside the band; outside it "worse", "better", or "changed"
        for figures with no better side."""
        if self.inside:
            return "ok"
        if self.worse == WORSE_EITHER or not math.isfinite(self.obtained):
            return "changed" if math.isfinite(self.obtained) else "worse"
        higher = self.obtained > self.centre
        return "worse" if higher == (self.worse == WORSE_HIGHER) else "better"


def compare(summary: Mapping[str, float], baseline: Baseline) -> list[Comparison]:
    """Every comparable figure of ``summary`` (from :func:`summarize`) against its band.
    A figure the baseline has and the summary lacks counts as NaN (outside its band)."""
    factor = baseline.factor
    rows = []
    for name, figure in baseline.figures.items():
        if figure.centre is None:
            continue
        value = float(summary.get(name, math.nan))
        half = figure.half_width(factor)
        moved = figure.moved(value) if math.isfinite(value) else math.nan
        rows.append(
            Comparison(
                name,
                value,
                figure.centre,
                figure.centre - half,
                figure.centre + half,
                moved,
                figure.worse,
            )
        )
    return rows


def _coerce(baseline: Any) -> Baseline:
    if isinstance(baseline, Baseline):
        return baseline
    if isinstance(baseline, (str, Path)):
        return Baseline.load(baseline)
    if isinstance(baseline, Mapping):
        return Baseline.from_mapping(baseline)
    raise TypeError(
        "baseline must be a path to a baseline file, a Baseline or its JSON mapping; got "
        f"{type(baseline).__name__}"
    )


def check_compatible(run: GANRun, baseline: Baseline) -> None:
    """A ``BaselineMismatchError`` unless ``run`` has the baseline's steps and kind of
    device: the figures of other settings are not comparable with its bands."""
    where = f" {baseline.path}" if baseline.path is not None else ""
    steps = baseline.settings.get("steps")
    device = baseline.settings.get("device")
    problems = []
    if steps != run.steps:
        problems.append(f"it was measured at {steps} steps and the run has {run.steps}")
    if isinstance(device, str) and device != run.device.type:
        problems.append(f"it was measured on {device} and the run is on {run.device.type}")
    if problems:
        raise BaselineMismatchError(
            f"the run of {run.name} cannot be compared with the baseline{where}: "
            f"{'; '.join(problems)}. Train the run as the baseline was, or remake the "
            f"baseline for these settings with {UPDATE_HINT}."
        )


def _table(rows: Sequence[Comparison]) -> str:
    header = ("figure", "obtained", "expected band", "spreads moved", "worse if", "verdict")
    cells = []
    for r in rows:
        moved = f"{r.moved:+.1f}" if math.isfinite(r.moved) else "-"
        worse = "either way" if r.worse == WORSE_EITHER else r.worse
        band = f"[{cell(r.low)}, {cell(r.high)}]"
        cells.append((r.name, cell(r.obtained), band, moved, worse, r.verdict))
    return aligned_table(header, cells)


def assert_matches_baseline(
    run: GANRun, baseline: Baseline | str | Path | Mapping[str, Any]
) -> None:
    """Every figure of ``run`` (see :func:`summarize`) lies within its band of ``baseline``
    (a path to a baseline file, a loaded :class:`Baseline`, or its JSON mapping).

    The band of a figure is its centre over the baseline's seeds plus or minus
    ``band_factor(seeds)`` spreads (the seed-to-seed standard deviation, at least the
    figure's floor). Leaving it in either direction fails: a move for the worse is a
    regression, a move for the better a change to record on purpose. Raises
    ``GANAssertionError`` with pitfall ``baseline-regression`` and a table of every figure:
    obtained, expected band, spreads moved, which direction is worse. A run with other
    steps or another kind of device than the baseline is a ``BaselineMismatchError``.
    """
    __tracebackhide__ = True
    from pytest_gan.run import require_run

    require_run(run, "assert_matches_baseline")
    loaded = _coerce(baseline)
    check_compatible(run, loaded)
    rows = compare(summarize(run), loaded)
    outside = [r for r in rows if not r.inside]
    if not outside:
        return
    raise _regression(run, loaded, rows, outside)


def _regression(
    run: GANRun, baseline: Baseline, rows: Sequence[Comparison], outside: Sequence[Comparison]
) -> Exception:

    worse = [r for r in outside if r.verdict == "worse"]
    better = [r for r in outside if r.verdict == "better"]
    seeds = baseline.seeds
    source = f" ({baseline.path})" if baseline.path is not None else ""
    summary = (
        f"{len(outside)} of {len(rows)} figures of {run.name} (seed {run.seed}) left the band "
        f"of its baseline{source}: {len(worse)} worse, {len(better)} better, "
        f"{len(outside) - len(worse) - len(better)} changed either way."
    )
    settings = baseline.settings
    detail = (
        f"Band: centre +- {baseline.factor:.2f} x spread, the spread being the standard "
        f"deviation over the baseline's {len(seeds)} seeds ({describe_seeds(seeds)}; "
        f"{settings.get('steps')} steps on {settings.get('device')}, torch "
        f"{settings.get('torch', '?')}) and at least the figure's floor. A move for the "
        f"better is a change too: if it was meant, record it with pytest {UPDATE_HINT} "
        "and commit the new file."
    )
    entry = PITFALLS["baseline-regression"]
    message = "\n".join(
        [
            summary,
            "",
            _table(rows),
            "",
            detail,
            "",
            f"Pitfall: baseline-regression ({entry.title}). {entry.why}",
            f"Fix: {entry.fix}",
            f"See: {entry.doc}",
        ]
    )
    evidence: dict[str, Any] = {
        r.name: {
            "obtained": r.obtained,
            "centre": r.centre,
            "band": (r.low, r.high),
            "moved": r.moved,
            "worse": r.worse,
            "verdict": r.verdict,
        }
        for r in rows
    }
    evidence["baseline"] = str(baseline.path) if baseline.path is not None else None
    evidence["outside"] = [r.name for r in outside]
    return GANAssertionError(message, pitfall="baseline-regression", evidence=evidence)
