"""A stored baseline: the per-seed figures of a test's healthy runs and the settings they
were measured with, made from runs, written atomically as sorted JSON, and read back with
every field checked (no torch import until one is measured)."""

from __future__ import annotations

import json
import math
import statistics
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_gan import _defaults
from pytest_gan._files import write_atomically
from pytest_gan._version import __version__
from pytest_gan.baseline.stats import band_factor
from pytest_gan.baseline.summary import (
    BY_NAME,
    FIGURES,
    FLOOR_RELATIVE,
    QUALITY_FIGURES,
    SCALE_UNIT,
    SCALE_WIDTH,
    WORSE_EITHER,
    WORSES,
    FigureSpec,
    sample_quality,
    summarize,
)
from pytest_gan.errors import GANWarning

if TYPE_CHECKING:
    import torch

    from pytest_gan.run import GANRun

#: Seeds of a baseline by default, and the fewest it may have (see ``_defaults``).
DEFAULT_SEEDS = _defaults.BASELINE_SEEDS
MIN_SEEDS = _defaults.BASELINE_MIN_SEEDS

#: Version of the file format this module reads and writes.
SCHEMA = 1
#: The value of the ``format`` key that marks a file as a pytest-gan baseline.
FORMAT = "pytest-gan baseline"

#: The remedy every message about a baseline file ends with.
UPDATE_HINT = "--gan-update-baselines"


class BaselineFileError(ValueError):
    """A baseline file that cannot be used: not JSON, not a baseline, a newer format, or
    fields of the wrong type. The message names the file and the remedy."""


class BaselineNotFoundError(FileNotFoundError, ValueError):
    """No baseline file at the path given: a ``FileNotFoundError``, and a ``ValueError`` as
    every bad argument to a public function is. The message names the path and how to
    create the file."""


class BaselineMismatchError(ValueError):
    """A run and a baseline that cannot be compared: trained for different step counts or
    on different kinds of device. The message says what differs and how to reconcile."""


class GANBaselineWarning(GANWarning):
    """A baseline was measured that cannot catch a generator that stopped learning: the
    band of each of its ``QUALITY_FIGURES`` holds the untrained generator's value."""


@dataclass(frozen=True)
class Figure:
    """One figure of a baseline: its per-seed values, their centre and spread, the least
    spread its band assumes, and which direction is worse. ``centre`` is None when the
    figure was not finite on every seed: it is then not compared."""

    values: tuple[float | None, ...]
    centre: float | None
    spread: float | None
    floor: float
    worse: str
    description: str = ""

    def half_width(self, factor: float) -> float:
        """How far from the centre the band reaches, for ``band_factor`` ``factor``."""
        return factor * max(self.spread or 0.0, self.floor)

    def moved(self, value: float) -> float:
        """How many spreads (at least the floor) ``value`` lies from the centre, signed."""
        assert self.centre is not None
        unit = max(self.spread or 0.0, self.floor)
        if unit > 0:
            return (value - self.centre) / unit
        return 0.0 if value == self.centre else math.copysign(math.inf, value - self.centre)

    def to_json(self) -> dict[str, Any]:
        return {
            "centre": self.centre,
            "description": self.description,
            "floor": self.floor,
            "spread": self.spread,
            "values": list(self.values),
            "worse": self.worse,
        }


def _rounded(value: float | None) -> float | None:
    # Seven significant digits: far below any spread, and a diff a person can read.
    if value is None or not math.isfinite(value):
        return None
    return float(f"{value:.7g}")


def _floor(spec: FigureSpec | None, centre: float, data_range: tuple[float, float]) -> float:
    if spec is None:
        return FLOOR_RELATIVE * abs(centre)
    if spec.scale == SCALE_WIDTH:
        return spec.floor * abs(data_range[1] - data_range[0])
    if spec.scale == SCALE_UNIT:
        return spec.floor
    return spec.floor * abs(centre)


def cell(value: float) -> str:
    return f"{value:.4g}" if math.isfinite(value) else str(value)


def describe_seeds(seeds: Sequence[int]) -> str:
    ordered = list(seeds)
    if len(ordered) > 2 and ordered == list(range(ordered[0], ordered[0] + len(ordered))):
        return f"{ordered[0]}-{ordered[-1]}"
    return ", ".join(str(s) for s in ordered)


@dataclass(frozen=True)
class Baseline:
    """A test's stored baseline: the figures measured on several seeds and the settings
    they were measured with (``steps``, ``device``, ``seeds``, ``spec``, versions).

    ``Baseline.measure(spec, steps=...)`` trains and measures one; ``save(path)`` writes
    it; ``Baseline.load(path)`` reads one back. ``assert_matches_baseline`` compares a run
    with it.
    """

    figures: Mapping[str, Figure]
    settings: Mapping[str, Any]
    #: The file it was loaded from or saved to, for messages (None: made in memory).
    path: Path | None = field(default=None, compare=False)

    # -- making one -----------------------------------------------------------------------

    @classmethod
    def from_runs(cls, runs: Sequence[GANRun]) -> Baseline:
        """The baseline of ``runs``: the same spec, steps and kind of device on different
        seeds (at least ``MIN_SEEDS``)."""
        from pytest_gan.run import require_run

        if isinstance(runs, (str, bytes)) or not isinstance(runs, Sequence):
            raise TypeError(f"runs must be a sequence of GANRun; got {type(runs).__name__}")
        runs = [require_run(r, "Baseline.from_runs") for r in runs]
        if len(runs) < MIN_SEEDS:
            raise ValueError(f"runs must hold at least {MIN_SEEDS} runs; got {len(runs)}")
        first = runs[0]
        for r in runs[1:]:
            if (r.steps, r.device.type) != (first.steps, first.device.type):
                raise ValueError(
                    "runs must share their steps and kind of device; got "
                    f"{first.steps} steps on {first.device.type} and {r.steps} on "
                    f"{r.device.type}"
                )
        seeds = [r.seed for r in runs]
        if len(set(seeds)) != len(seeds):
            raise ValueError(
                f"runs must have different seeds; got seeds {seeds} (a run recorded by "
                "pg.watch carries the seed it is given, 0 by default: pass "
                "pg.watch(..., seed=s) with the seed each loop ran on)"
            )
        return cls.from_summaries([summarize(r) for r in runs], _settings(first, seeds))

    @classmethod
    def from_summaries(
        cls, summaries: Sequence[Mapping[str, float]], settings: Mapping[str, Any]
    ) -> Baseline:
        """The baseline of per-seed summaries (``summarize`` of each run) and the settings
        they were measured with (``settings["data_range"]`` scales the output floors)."""
        lo, hi = settings.get("data_range", (0.0, 0.0))
        figures: dict[str, Figure] = {}
        names = [f.name for f in FIGURES if any(f.name in s for s in summaries)]
        names += sorted({k for s in summaries for k in s} - set(names))
        for name in names:
            values = [s.get(name, math.nan) for s in summaries]
            finite = all(math.isfinite(v) for v in values)
            spec = BY_NAME.get(name)
            centre = statistics.fmean(values) if finite else None
            spread = statistics.stdev(values) if finite else None
            # Rounded as stored, so that a baseline compares the same before and after
            # a round trip through its file.
            figures[name] = Figure(
                values=tuple(_rounded(v) for v in values),
                centre=_rounded(centre),
                spread=_rounded(spread),
                floor=_rounded(_floor(spec, centre or 0.0, (lo, hi))) or 0.0,
                worse=spec.worse if spec is not None else WORSE_EITHER,
                description=spec.description if spec is not None else "",
            )
        return cls(figures, dict(settings))

    @classmethod
    def measure(
        cls,
        spec: Any,
        *,
        steps: int,
        seeds: int | Sequence[int] = DEFAULT_SEEDS,
        device: str | torch.device | None = None,
        run: GANRun | None = None,
        time_limit: float | None = None,
        on_train: Callable[[GANRun], None] | None = None,
    ) -> Baseline:
        """Train ``spec`` for ``steps`` on several seeds and measure the baseline.

        ``seeds`` is a count (the seeds ``first, first + 1, ...``; ``first`` is ``run.seed``
        when ``run`` is given, else 0) or the seeds themselves. ``run``, an existing run of
        ``spec`` with these steps, is used as the run of its own seed rather than trained
        again; its device is the device of the others. ``on_train`` is called with every
        run trained here. Warns (``GANBaselineWarning``) when the baseline cannot tell a
        generator that never learned from a healthy one (``warn_if_blind``).
        """
        runs = train_seeds(
            spec,
            steps=steps,
            seeds=seeds,
            device=device,
            run=run,
            time_limit=time_limit,
            on_train=on_train,
        )
        baseline = cls.from_runs(runs)
        warn_if_blind(baseline, runs)
        return baseline

    # -- reading and writing --------------------------------------------------------------

    @property
    def seeds(self) -> list[int]:
        return [int(s) for s in self.settings.get("seeds", [])]

    @property
    def factor(self) -> float:
        """How many spreads a figure may move: ``band_factor`` of the seed count."""
        count = len(self.seeds) or max((len(f.values) for f in self.figures.values()), default=0)
        return band_factor(max(count, 2))

    def band(self, name: str) -> tuple[float, float]:
        """The band of figure ``name``: ``(low, high)``."""
        figure = self.figures[name]
        if figure.centre is None:
            return (math.nan, math.nan)
        half = figure.half_width(self.factor)
        return (figure.centre - half, figure.centre + half)

    def to_json(self) -> dict[str, Any]:
        settings = dict(self.settings)
        if "data_range" in settings:
            settings["data_range"] = [_rounded(float(v)) for v in settings["data_range"]]
        return {
            "figures": {name: f.to_json() for name, f in self.figures.items()},
            "format": FORMAT,
            "schema": SCHEMA,
            "settings": settings,
        }

    def dumps(self) -> str:
        """The file's text: sorted keys, two-space indents, a final newline (stable diffs)."""
        return json.dumps(self.to_json(), indent=2, sort_keys=True, allow_nan=False) + "\n"

    def save(self, path: str | Path) -> Baseline:
        """Write the baseline to ``path`` atomically (parent folders created); returns it
        with ``path`` set."""
        target = Path(path)
        text = self.dumps()

        def write(tmp: str) -> None:
            # "\n" on every system: the same baseline gives the same bytes everywhere.
            with open(tmp, "w", encoding="utf-8", newline="\n") as file:
                file.write(text)

        write_atomically(target, write)
        return replace(self, path=target)

    @classmethod
    def load(cls, path: str | Path) -> Baseline:
        """Read a baseline file; anything unusable is a ``BaselineFileError`` naming it."""
        target = Path(path)
        try:
            text = target.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise BaselineNotFoundError(
                f"baseline: no baseline file at {target}: create it with the gan_baseline fixture "
                f"(gan_baseline.check(run)), pytest {UPDATE_HINT}, or "
                "Baseline.measure(spec, steps=...).save(path)"
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise BaselineFileError(f"cannot read the baseline file {target}: {exc}") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise _corrupt(target, f"not valid JSON ({exc})") from None
        return cls.from_mapping(data, path=target)

    @classmethod
    def from_mapping(cls, data: Any, *, path: Path | None = None) -> Baseline:
        """A baseline from its JSON form (``to_json``); a ``BaselineFileError`` says what is
        wrong with it."""
        where = path if path is not None else Path("<mapping>")
        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            raise _corrupt(where, f'not a pytest-gan baseline (no "format": {FORMAT!r})')
        schema = data.get("schema")
        if not isinstance(schema, int) or isinstance(schema, bool):
            raise _corrupt(where, f'"schema" must be a whole number; got {schema!r}')
        if schema > SCHEMA:
            raise BaselineFileError(
                f"the baseline file {where} has schema {schema}, newer than this pytest-gan "
                f"reads ({SCHEMA}): upgrade pytest-gan, or remake the file with "
                f"{UPDATE_HINT}"
            )
        settings = data.get("settings")
        figures = data.get("figures")
        if not isinstance(settings, Mapping):
            raise _corrupt(where, '"settings" must be an object')
        if not isinstance(figures, Mapping) or not figures:
            raise _corrupt(where, '"figures" must be an object with at least one figure')
        steps = settings.get("steps")
        if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
            raise _corrupt(where, f'"settings.steps" must be a whole number >= 1; got {steps!r}')
        seeds = settings.get("seeds")
        if (
            not isinstance(seeds, list)
            or len(seeds) < 2
            or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds)
        ):
            raise _corrupt(where, f'"settings.seeds" must list at least 2 seeds; got {seeds!r}')
        # The file's keys are sorted; a failure's table lists the figures in FIGURES' order.
        known = [f.name for f in FIGURES if f.name in figures]
        names = known + sorted(str(name) for name in figures if name not in BY_NAME)
        parsed = {name: _figure(where, name, figures[name]) for name in names}
        return cls(parsed, dict(settings), path)


def untrained_inside(baseline: Baseline, runs: Sequence[GANRun]) -> dict[str, float]:
    """The ``QUALITY_FIGURES`` whose band in ``baseline`` holds what the generators of
    ``runs`` gave before their first step (the mean over the runs), by name.

    All of them there means the baseline cannot tell a generator that never learned from
    a healthy one: the seeds scatter as widely as training moves the samples, and a change
    that stopped training (a learning rate 100x too small, a frozen generator) would pass.
    """
    untrained: dict[str, list[float]] = {}
    for run in runs:
        for name, value in sample_quality(run, initial=True)[1].items():
            untrained.setdefault(name, []).append(value)
    inside: dict[str, float] = {}
    for name, values in untrained.items():
        if name not in baseline.figures or not all(math.isfinite(v) for v in values):
            continue
        low, high = baseline.band(name)
        value = statistics.fmean(values)
        if low <= value <= high:
            inside[name] = value
    return inside


def warn_if_blind(baseline: Baseline, runs: Sequence[GANRun], *, stacklevel: int = 2) -> None:
    """Warn (``GANBaselineWarning``) when the bands of all the ``QUALITY_FIGURES`` of
    ``baseline`` hold the untrained generator's values (``untrained_inside``).

    ``stacklevel`` counts from the caller, as for ``warnings.warn``: the default points
    at the line that called the caller."""
    inside = untrained_inside(baseline, runs)
    judged = [
        name
        for name in QUALITY_FIGURES
        if name in baseline.figures and baseline.figures[name].centre is not None
    ]
    if judged and len(inside) == len(judged):
        message = _blind_message(baseline, inside)
        warnings.warn(GANBaselineWarning(message), stacklevel=stacklevel + 1)


def _blind_message(baseline: Baseline, inside: Mapping[str, float]) -> str:
    where = f" at {baseline.path}" if baseline.path is not None else ""
    parts = []
    for name, value in inside.items():
        low, high = baseline.band(name)
        parts.append(f"{name} {cell(value)} (band {cell(low)} to {cell(high)})")
    return (
        f"The baseline{where}, measured on seeds {describe_seeds(baseline.seeds)} at "
        f"{baseline.settings.get('steps')} steps, cannot tell a generator that never learned "
        f"from a healthy one: the untrained generator's {', '.join(parts)} all lie inside "
        "their bands. Its seeds scatter as widely as training moves the samples, so a "
        "change that stopped the generator learning would pass. Train for more steps or "
        "with a steadier setup before relying on this baseline; more seeds "
        "(--gan-baseline-seeds) narrow the bands only where the seeds agree."
    )


def _corrupt(path: Path, problem: str) -> BaselineFileError:
    return BaselineFileError(
        f"the baseline file {path} is unusable: {problem}. Restore it from version control, "
        f"or delete it (or run pytest with {UPDATE_HINT}) to measure it again."
    )


def _number_or_none(path: Path, where: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _corrupt(path, f"{where} must be a finite number or null; got {value!r}")
    return float(value)


def _figure(path: Path, name: str, raw: Any) -> Figure:
    if not isinstance(raw, Mapping):
        raise _corrupt(path, f'figure "{name}" must be an object')
    for key in ("centre", "spread", "floor", "values", "worse"):
        if key not in raw:
            raise _corrupt(path, f'figure "{name}" has no "{key}"')
    values = raw["values"]
    if not isinstance(values, list):
        raise _corrupt(path, f'figure "{name}": "values" must be a list')
    centre = _number_or_none(path, f'figure "{name}": "centre"', raw["centre"])
    spread = _number_or_none(path, f'figure "{name}": "spread"', raw["spread"])
    floor = _number_or_none(path, f'figure "{name}": "floor"', raw["floor"])
    if (spread is not None and spread < 0) or floor is None or floor < 0:
        raise _corrupt(path, f'figure "{name}": "spread" and "floor" must be numbers >= 0')
    if centre is not None and spread is None:
        raise _corrupt(path, f'figure "{name}": a "centre" needs a "spread"')
    if raw["worse"] not in WORSES:
        raise _corrupt(
            path,
            f'figure "{name}": "worse" must be one of {", ".join(WORSES)}; got {raw["worse"]!r}',
        )
    return Figure(
        values=tuple(_number_or_none(path, f'figure "{name}": a value', v) for v in values),
        centre=centre,
        spread=spread,
        floor=floor,
        worse=str(raw["worse"]),
        description=str(raw.get("description", "")),
    )


def _settings(run: GANRun, seeds: Sequence[int]) -> dict[str, Any]:
    import torch

    return {
        "data_range": list(run.data_range),
        "device": run.device.type,
        "pytest_gan": __version__,
        "seeds": list(seeds),
        "spec": run.name,
        "steps": run.steps,
        "torch": torch.__version__,
    }


def train_seeds(
    spec: Any,
    *,
    steps: int,
    seeds: int | Sequence[int],
    device: str | torch.device | None = None,
    run: GANRun | None = None,
    time_limit: float | None = None,
    on_train: Callable[[GANRun], None] | None = None,
) -> list[GANRun]:
    """The runs a baseline of ``spec`` is measured on (``Baseline.measure``'s arguments):
    one per seed, ``run`` standing for its own seed."""
    from pytest_gan.training import train

    if run is not None:
        if run.spec is not spec:
            raise ValueError("run must be a run of spec (run.spec is not spec)")
        if run.steps != steps:
            raise ValueError(f"run has {run.steps} steps; the baseline is of {steps}")
        device = run.device
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        first = run.seed if run is not None else 0
        seed_list = list(range(first, first + seeds))
    elif isinstance(seeds, Sequence) and all(
        isinstance(s, int) and not isinstance(s, bool) for s in seeds
    ):
        seed_list = list(seeds)
    else:
        raise TypeError(f"seeds must be an int or a sequence of ints; got {seeds!r}")
    if len(seed_list) < MIN_SEEDS:
        raise ValueError(f"seeds: a baseline needs at least {MIN_SEEDS}; got {len(seed_list)}")
    runs: list[GANRun] = []
    for seed in seed_list:
        if run is not None and seed == run.seed:
            runs.append(run)
            continue
        trained = train(spec, steps=steps, device=device, seed=seed, time_limit=time_limit)
        if on_train is not None:
            on_train(trained)
        runs.append(trained)
    return runs
