"""Regression baselines: what a healthy run of a test measured, and the band a later run of
it must stay in.

A baseline is a JSON file per test. Updating it trains the test's spec on several seeds
and stores, per figure of :func:`summarize` (windowed losses, D's accuracy on real and
fake samples, diversity, distances to the data, output statistics), the per-seed values,
their centre (mean) and spread (sample standard deviation). A later run passes when every
figure lies within ``centre +- band_factor(n) * max(spread, floor)``: a prediction
interval for one new seed given ``n`` seeds (Student's t), so that the many figures of one
check together raise a false alarm on fewer than one healthy re-run in twenty
(``benchmarks/baseline_calibration.py``, docs/baselines.md).

Importing this module does not import torch: the plugin reads its defaults and parsers.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import statistics
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_gan import _defaults
from pytest_gan._files import write_atomically
from pytest_gan.errors import GANWarning

if TYPE_CHECKING:
    import torch

    from pytest_gan.training import GANRun

#: Seeds of a baseline by default, and the fewest it may have (see ``_defaults``).
DEFAULT_SEEDS = _defaults.BASELINE_SEEDS
MIN_SEEDS = _defaults.BASELINE_MIN_SEEDS

#: False-alarm rate of one figure on one healthy re-run, two-sided, under the normal model
#: behind ``band_factor``: the band is 9.4 spreads at 5 seeds. Measured with
#: benchmarks/baseline_calibration.py (shapes-dcgan, 200 steps, batch 64, 45 healthy seeds,
#: 20 runs of its twin at a learning rate 100x too small; nine disjoint baselines of 5
#: seeds, each checked on 20 healthy seeds outside it): at 0.001 no healthy re-run of 180
#: failed and every regressed run did (the least of them moved 38 spreads); at 0.002 (7.9
#: spreads) 4 of 180 failed, one baseline passing only 18 of 20; at 0.01 (5.0 spreads) 30
#: of 180. At batch 32, whose losses are noisier, 2 of 180 failed at 0.001 (D's loss over
#: the third quarter), none at 0.0005. Real figures have heavier tails than the normal
#: model; hence the small rate.
FIGURE_FALSE_ALARM = 0.001

#: Generated and real samples a summary compares (as many real ones as the data holds
#: when it holds fewer): enough that sampling noise is small beside the seed-to-seed
#: spread (shapes-dcgan at batch 64: redrawing the samples of a run moves the energy
#: distance by 0.08 of its spread over seeds, diversity by 0.12, coverage by 0.18; at batch
#: 32 by 0.10, 0.08 and 0.16), few enough that a summary of 16x16 images takes 0.2 s on a
#: CPU.
SUMMARY_SAMPLES = 512

#: Loss windows: the run's steps cut into this many equal stretches, each summarised by
#: its mean D and G loss, so that a change in how the losses evolve shows, not only where
#: they end.
LOSS_WINDOWS = 4

#: D's accuracy is averaged over the probes of the last half of the run, where it has
#: settled (at 200 steps: five probes of 64 real and 64 generated samples).
LATE_SHARE = 1 / 2

#: Neighbours of Naeem et al.'s (2020) coverage: the paper's k.
COVERAGE_K = 5

#: The figures that judge the generated samples against the data. A baseline whose bands
#: all hold what the untrained generator gives cannot tell a generator that never learned
#: from a healthy one (``untrained_inside``): measuring one warns about it.
QUALITY_FIGURES = ("diversity", "energy_distance", "coverage")

#: Quantiles that stand for the output's range: robust to a few stray values, unlike the
#: minimum and maximum, which a saturating Tanh pins at exactly +-1 on every seed.
RANGE_QUANTILES = (0.005, 0.995)

#: Least spread a band assumes (its floor), by kind of figure. Five seeds tell little about
#: the tails of a figure's distribution over seeds: where they happen to agree closely, the
#: band is far narrower than the next seed needs. Measured on shapes-dcgan at 200 steps
#: and batch 64 over 45 seeds (benchmarks/baseline_calibration.py): D's accuracy on fakes
#: has a median of 0.97 and reaches down to 0.76, while five seeds may spread by only
#: 0.015; the output's 99.5% quantile has a median of 0.87 and reaches down to 0.22
#: (dimmer shapes), while five seeds may spread by 0.03; the 0.5% quantile sits at -0.999
#: with five seeds spreading by 0.0006. Without floors, 18 of 180 healthy re-runs failed
#: (those figures, the output's standard deviation and diversity); with them, none. (At
#: batch 32: 8 without floors, 2 with them, both on D's loss.)
#:
#: Losses and distances: a share of the centre's magnitude.
FLOOR_RELATIVE = 0.01
#: Shares and ratios (D's accuracies, coverage, diversity): in their own units.
FLOOR_SHARE = 0.03
#: The output's mean and standard deviation: a share of the data range's width.
FLOOR_OUTPUT = 0.01
#: The output's range quantiles: a share of the data range's width.
FLOOR_RANGE = 0.05

#: Largest difference, in 8-bit levels, that a pixel of a golden sample grid may show
#: against the stored PNG. Unchanged inference code gives the same outputs up to float
#: rounding, which quantisation to 8 bits mostly hides: the shapes-dcgan generator's grid
#: of 64 samples (200 steps) was identical under 1 and 2 CPU threads, and in float64 against
#: float32. One level is left for rounding that lands on a level boundary on other hardware
#: (not measured on a GPU here), one more for margin. A single extra training step moved
#: 6% of the grid's pixels by more than 2 levels (at most 15).
GOLDEN_TOLERANCE = 2

#: Samples per row of a golden sample grid.
GOLDEN_NROW = 8

#: Version of the file format this module reads and writes.
SCHEMA = 1
#: The value of the ``format`` key that marks a file as a pytest-gan baseline.
FORMAT = "pytest-gan baseline"

#: Longest file name of a baseline, ``.json`` included (as for the artifact folders).
NAME_MAX = 80
_HASH_LEN = 10
# Brackets are safe in file names everywhere (Windows forbids <>:"/\|?* only); keeping
# them leaves parametrised ids readable: test_dcgan[shapes-dcgan].json.
_UNSAFE = re.compile(r"[^A-Za-z0-9_.~\[\]-]+")

#: The remedy every message about a baseline file ends with.
UPDATE_HINT = "--gan-update-baselines"

WORSE_HIGHER = "higher"
WORSE_LOWER = "lower"
WORSE_EITHER = "either"
_WORSE = (WORSE_HIGHER, WORSE_LOWER, WORSE_EITHER)

# What a figure's floor is a share of (see FLOOR_RELATIVE and the floors after it).
_SCALE_CENTRE = "centre"
_SCALE_UNIT = "unit"
_SCALE_WIDTH = "width"


# ---------------------------------------------------------------------------- the band


def _t_coverage(t: float, df: int) -> float:
    """P(|T| <= t) for Student's t with ``df`` degrees of freedom, exactly (the finite
    series of Abramowitz & Stegun 26.7.3 and 26.7.4, valid for whole ``df``)."""
    theta = math.atan(t / math.sqrt(df))
    c2 = math.cos(theta) ** 2
    if df % 2:
        term = total = math.cos(theta)
        for j in range(3, df - 1, 2):
            term *= c2 * (j - 1) / j
            total += term
        return 2 / math.pi * (theta + (math.sin(theta) * total if df > 1 else 0.0))
    term = total = 1.0
    for j in range(2, df - 1, 2):
        term *= c2 * (j - 1) / j
        total += term
    return math.sin(theta) * total


def t_quantile(coverage: float, df: int) -> float:
    """The ``t`` with ``P(|T| <= t) = coverage`` for Student's t with ``df`` degrees of
    freedom (bisection on :func:`_t_coverage`, to 1e-9 relative)."""
    if not 0 < coverage < 1:
        raise ValueError(f"coverage must lie in (0, 1); got {coverage!r}")
    if df < 1:
        raise ValueError(f"df must be at least 1; got {df!r}")
    lo, hi = 0.0, 1.0
    while _t_coverage(hi, df) < coverage:
        lo, hi = hi, 2 * hi
    while hi - lo > 1e-9 * hi:
        mid = (lo + hi) / 2
        if _t_coverage(mid, df) < coverage:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def band_factor(seeds: int, false_alarm: float = FIGURE_FALSE_ALARM) -> float:
    """How many spreads a figure may move from its centre, for a baseline on ``seeds``
    seeds: the two-sided prediction interval of one new draw from the same normal
    distribution, ``t(1 - false_alarm/2, seeds - 1) * sqrt(1 + 1/seeds)``. The mean and
    the standard deviation of few seeds are estimates; the t quantile and the root widen
    the band for exactly that, so the false-alarm rate holds whatever the seed count."""
    if seeds < 2:
        raise ValueError(f"seeds must be at least 2; got {seeds!r}")
    return t_quantile(1 - false_alarm, seeds - 1) * math.sqrt(1 + 1 / seeds)


# ---------------------------------------------------------------------------- the figures


@dataclass(frozen=True)
class FigureSpec:
    """What a figure is: its description, which direction is worse, and its floor (a share
    ``floor`` of the centre's magnitude, of 1, or of the data range's width: ``scale``)."""

    name: str
    description: str
    worse: str
    floor: float
    scale: str


def _loss_figures(key: str, who: str) -> list[FigureSpec]:
    return [
        FigureSpec(
            f"{key}[{i}/{LOSS_WINDOWS}]",
            f"mean {who} loss ({key}) over window {i} of {LOSS_WINDOWS} of the steps",
            WORSE_EITHER,
            FLOOR_RELATIVE,
            _SCALE_CENTRE,
        )
        for i in range(1, LOSS_WINDOWS + 1)
    ]


#: The figures of a summary, in the order a failure's table lists them.
FIGURES: tuple[FigureSpec, ...] = (
    *_loss_figures("d_loss", "D"),
    *_loss_figures("g_loss", "G"),
    FigureSpec(
        "d_acc_real",
        "share of held-out real samples D calls real, mean of the late probes",
        WORSE_EITHER,
        FLOOR_SHARE,
        _SCALE_UNIT,
    ),
    FigureSpec(
        "d_acc_fake",
        "share of generated samples D calls fake, mean of the late probes",
        WORSE_EITHER,
        FLOOR_SHARE,
        _SCALE_UNIT,
    ),
    FigureSpec(
        "diversity",
        "mean distance between two generated samples / between two real ones",
        WORSE_LOWER,
        FLOOR_SHARE,
        _SCALE_UNIT,
    ),
    FigureSpec(
        "energy_distance",
        "energy distance between generated and real samples (0: same distribution)",
        WORSE_HIGHER,
        FLOOR_RELATIVE,
        _SCALE_CENTRE,
    ),
    FigureSpec(
        "coverage",
        f"share of real samples with a generated one among their {COVERAGE_K} nearest real "
        "neighbours (Naeem et al. 2020)",
        WORSE_LOWER,
        FLOOR_SHARE,
        _SCALE_UNIT,
    ),
    FigureSpec(
        "output_mean", "mean of the generated values", WORSE_EITHER, FLOOR_OUTPUT, _SCALE_WIDTH
    ),
    FigureSpec(
        "output_std",
        "standard deviation of the generated values",
        WORSE_EITHER,
        FLOOR_OUTPUT,
        _SCALE_WIDTH,
    ),
    FigureSpec(
        "output_low",
        f"{RANGE_QUANTILES[0]:.1%} quantile of the generated values",
        WORSE_EITHER,
        FLOOR_RANGE,
        _SCALE_WIDTH,
    ),
    FigureSpec(
        "output_high",
        f"{RANGE_QUANTILES[1]:.1%} quantile of the generated values",
        WORSE_EITHER,
        FLOOR_RANGE,
        _SCALE_WIDTH,
    ),
)
_BY_NAME = {f.name: f for f in FIGURES}


def _window_means(run: GANRun, key: str) -> list[float]:
    if key not in run.history:
        return []
    windows = min(LOSS_WINDOWS, run.steps)
    sums = [0.0] * windows
    counts = [0] * windows
    for step, value in zip(run.history.steps, run.history[key], strict=True):
        # NaN also marks a step that did not return this loss: the history's events tell
        # a loss that turned NaN from one that was not there.
        if math.isfinite(value):
            i = min(step * windows // run.steps, windows - 1)
            sums[i] += value
            counts[i] += 1
    means = [s / c if c else math.nan for s, c in zip(sums, counts, strict=True)]
    broken = run.history.events.get(f"nonfinite:{key}")
    if broken is not None:
        # From the window where the loss turned NaN or infinite on, the figure is not
        # finite: outside any band.
        first = min(broken["first_step"] * windows // run.steps, windows - 1)
        means[first:] = [math.nan] * (windows - first)
    return means


def _quantile(values: torch.Tensor, q: float) -> float:
    # torch.quantile refuses inputs of more than 2**24 values; a sort has no such limit.
    ordered = values.sort().values
    position = q * (ordered.numel() - 1)
    below = math.floor(position)
    above = min(below + 1, ordered.numel() - 1)
    share = position - below
    return float(ordered[below] * (1 - share) + ordered[above] * share)


def _quality(run: GANRun, *, initial: bool) -> tuple[torch.Tensor, dict[str, float]]:
    """The samples a summary judges (of the generator before its first step when
    ``initial``) and their ``QUALITY_FIGURES``."""
    from pytest_gan.metrics import coverage, energy_distance, mean_pairwise_distance

    size = run.spec.source.size()
    n = SUMMARY_SAMPLES if size is None else min(SUMMARY_SAMPLES, size)
    fake = run.samples(n, initial=initial)
    real = run.real(n).to(fake.dtype)
    real_spread = mean_pairwise_distance(real)
    return fake, {
        "diversity": mean_pairwise_distance(fake) / real_spread if real_spread else math.nan,
        "energy_distance": energy_distance(fake, real),
        "coverage": coverage(real, fake, k=min(COVERAGE_K, n - 1)),
    }


def summarize(run: GANRun) -> dict[str, float]:
    """The figures of one run, by name (see ``FIGURES``): what a baseline stores per seed
    and what a check compares. The same run gives the same figures."""
    from pytest_gan.checks._common import require_instrumented, require_run
    from pytest_gan.metrics import flat

    require_run(run, "summarize")
    require_instrumented(run, "summarize")
    out: dict[str, float] = {}
    for key in ("d_loss", "g_loss"):
        for i, value in enumerate(_window_means(run, key), start=1):
            out[f"{key}[{i}/{LOSS_WINDOWS}]"] = value
    late = [p for p in run.history.probes if p["step"] > run.steps * (1 - LATE_SHARE)]
    for name in ("d_acc_real", "d_acc_fake"):
        out[name] = statistics.fmean(float(p[name]) for p in late) if late else math.nan
    fake, quality = _quality(run, initial=False)
    out.update(quality)
    values = flat(fake).reshape(-1)
    out["output_mean"] = float(values.mean())
    out["output_std"] = float(values.std())
    out["output_low"] = _quantile(values, RANGE_QUANTILES[0])
    out["output_high"] = _quantile(values, RANGE_QUANTILES[1])
    return out


# ---------------------------------------------------------------------------- baselines


class BaselineFileError(ValueError):
    """A baseline file that cannot be used: not JSON, not a baseline, a newer format, or
    fields of the wrong type. The message names the file and the remedy."""


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
    if spec.scale == _SCALE_WIDTH:
        return spec.floor * abs(data_range[1] - data_range[0])
    if spec.scale == _SCALE_UNIT:
        return spec.floor
    return spec.floor * abs(centre)


def _describe_seeds(seeds: Sequence[int]) -> str:
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
        from pytest_gan.checks._common import require_run

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
            raise ValueError(f"runs must have different seeds; got seeds {seeds}")
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
            spec = _BY_NAME.get(name)
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
        baseline, runs = cls._measure(
            spec,
            steps=steps,
            seeds=seeds,
            device=device,
            run=run,
            time_limit=time_limit,
            on_train=on_train,
        )
        warn_if_blind(baseline, runs)
        return baseline

    @classmethod
    def _measure(
        cls,
        spec: Any,
        *,
        steps: int,
        seeds: int | Sequence[int] = DEFAULT_SEEDS,
        device: str | torch.device | None = None,
        run: GANRun | None = None,
        time_limit: float | None = None,
        on_train: Callable[[GANRun], None] | None = None,
    ) -> tuple[Baseline, list[GANRun]]:
        """``measure`` without the warning: the baseline and the runs it was measured on."""
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
        return cls.from_runs(runs), runs

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
            raise FileNotFoundError(
                f"no baseline file at {target}: create it with the gan_baseline fixture "
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
        names = known + sorted(str(name) for name in figures if name not in _BY_NAME)
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
        for name, value in _quality(run, initial=True)[1].items():
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
        parts.append(f"{name} {_cell(value)} (band {_cell(low)} to {_cell(high)})")
    return (
        f"The baseline{where}, measured on seeds {_describe_seeds(baseline.seeds)} at "
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
    if raw["worse"] not in _WORSE:
        raise _corrupt(
            path,
            f'figure "{name}": "worse" must be one of {", ".join(_WORSE)}; got {raw["worse"]!r}',
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

    from pytest_gan import __version__

    return {
        "data_range": list(run.data_range),
        "device": run.device.type,
        "pytest_gan": __version__,
        "seeds": list(seeds),
        "spec": run.name,
        "steps": run.steps,
        "torch": torch.__version__,
    }


# ---------------------------------------------------------------------------- comparing


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


def _cell(value: float) -> str:
    return f"{value:.4g}" if math.isfinite(value) else str(value)


def _table(rows: Sequence[Comparison]) -> str:
    header = ("figure", "obtained", "expected band", "spreads moved", "worse if", "verdict")
    cells = [header]
    for r in rows:
        moved = f"{r.moved:+.1f}" if math.isfinite(r.moved) else "-"
        worse = "either way" if r.worse == WORSE_EITHER else r.worse
        band = f"[{_cell(r.low)}, {_cell(r.high)}]"
        cells.append((r.name, _cell(r.obtained), band, moved, worse, r.verdict))
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join("    " + line for line in lines)


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
    from pytest_gan.checks._common import require_run

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
    from pytest_gan.errors import GANAssertionError
    from pytest_gan.pitfalls import PITFALLS

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
        f"deviation over the baseline's {len(seeds)} seeds ({_describe_seeds(seeds)}; "
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


# ---------------------------------------------------------------------------- the fixture


def baseline_path(module: Path, nodeid: str) -> Path:
    """Where the baseline of test ``nodeid`` (in the test module at ``module``) lives:
    ``<module's folder>/<module name>/<test name>.json``.

    The test name is the node id after the module (``TestClass.test_x[param]``), kept
    readable in ``[A-Za-z0-9_.~[]-]``; when that loses information (a replaced character)
    or runs past ``NAME_MAX``, a hash of the whole id is appended, so two tests never share
    a file.
    """
    local = nodeid.split("::", 1)[1] if "::" in nodeid else nodeid
    head, bracket, params = local.partition("[")
    readable = head.replace("::", ".") + bracket + params
    # A leading dot would hide the file; a leading dash reads as an option in a shell.
    safe = _UNSAFE.sub("_", readable).lstrip("._~-")
    limit = NAME_MAX - len(".json")
    if safe and safe == readable and len(safe) <= limit:
        name = safe
    else:
        digest = hashlib.sha1(local.encode("utf-8", "surrogatepass"), usedforsecurity=False)
        prefix = safe[: limit - _HASH_LEN - 1].rstrip("._-")
        suffix = digest.hexdigest()[:_HASH_LEN]
        name = f"{prefix}-{suffix}" if prefix else suffix
    return module.parent / module.stem / f"{name}.json"


class BaselineFixture:
    """The ``gan_baseline`` fixture: ``gan_baseline.check(run)`` compares ``run`` with
    this test's stored baseline (``gan_baseline.path``), measuring it first when it is
    missing or when pytest runs with ``--gan-update-baselines``."""

    def __init__(
        self,
        path: Path,
        *,
        update: bool,
        seeds: int,
        time_limit: float | None = None,
        on_train: Callable[[GANRun], None] | None = None,
        artifacts: Callable[[], Path] | None = None,
    ) -> None:
        self.path = path
        self.update = update
        self.seeds = seeds
        self._time_limit = time_limit
        self._on_train = on_train
        self._artifacts = artifacts

    def __repr__(self) -> str:
        return f"<gan_baseline {self.path} update={self.update} seeds={self.seeds}>"

    def load(self) -> Baseline:
        """This test's baseline as stored."""
        return Baseline.load(self.path)

    def check(self, run: GANRun, *, seeds: int | None = None) -> None:
        """Compare ``run`` with this test's baseline (``assert_matches_baseline``).

        When the file is missing, or pytest runs with ``--gan-update-baselines``, the
        baseline is measured instead: ``run``'s spec trained for ``run``'s steps on its
        device, on ``seeds`` seeds starting at ``run.seed`` (``run`` itself is the first
        of them; default ``--gan-baseline-seeds``), and written atomically. A missing file
        then fails the test, saying it was created and should be committed; an update
        passes.
        """
        __tracebackhide__ = True
        import pytest

        from pytest_gan.checks._common import require_instrumented, require_run

        require_run(run, "gan_baseline.check")
        require_instrumented(run, "gan_baseline.check")
        count = self.seeds if seeds is None else seeds
        if isinstance(count, bool) or not isinstance(count, int) or count < MIN_SEEDS:
            raise ValueError(
                f"gan_baseline.check: seeds must be an int >= {MIN_SEEDS}; got {count!r}"
            )
        if self.path.exists() and not self.update:
            try:
                stored = Baseline.load(self.path)
                check_compatible(run, stored)
            except (BaselineFileError, BaselineMismatchError) as exc:
                problem: Exception | None = exc
            else:
                problem = None
            if problem is not None:
                # The message is the whole story; the frames that read the file are not.
                pytest.fail(f"{type(problem).__name__}: {problem}", pytrace=False)
            assert_matches_baseline(run, stored)
            return
        measured, runs = Baseline._measure(
            run.spec,
            steps=run.steps,
            seeds=count,
            run=run,
            time_limit=self._time_limit,
            on_train=self._on_train,
        )
        baseline = measured.save(self.path)
        # Pointed at the test's line that called check.
        warn_if_blind(baseline, runs)
        if self.update:
            return
        pytest.fail(
            f"The baseline of this test did not exist; it was created at {self.path}, "
            f"measured on {len(baseline.seeds)} seeds ({_describe_seeds(baseline.seeds)}) at "
            f"{run.steps} steps on {run.device.type}. Commit it; later runs are compared with "
            "it. This run fails so that a baseline is never made unnoticed (on CI, say).",
            pytrace=False,
        )

    def samples_path(self, name: str | None = None) -> Path:
        """The golden sample grid of this test (``name`` tells several apart)."""
        stem = self.path.name.removesuffix(".json")
        if name is not None:
            if not isinstance(name, str) or not name or _UNSAFE.search(name):
                raise ValueError(
                    f"name must be a non-empty string of [A-Za-z0-9_.~[]-]; got {name!r}"
                )
            stem = f"{stem}-{name}"
        return self.path.with_name(f"{stem}.png")

    def check_samples(
        self,
        generator: Any,
        z: torch.Tensor,
        *,
        labels: torch.Tensor | None = None,
        data_range: tuple[float, float] = (-1.0, 1.0),
        tolerance: int = GOLDEN_TOLERANCE,
        name: str | None = None,
    ) -> None:
        """Compare the images ``generator`` makes from the fixed latents ``z`` (and
        ``labels``, for a conditional generator) with this test's stored PNG grid.

        For inference code: load a checkpoint as production does and check that the same
        ``z`` still gives the same pictures. A module is sampled in eval mode without
        gradients (its mode is restored); images ``[N, C, H, W]`` in ``data_range`` become
        one 8-bit grid. Any pixel more than ``tolerance`` levels from the stored grid fails
        the test (pitfall ``baseline-regression``), and the obtained grid and a diff image
        are written to this test's artifact folder. A missing PNG is written and fails the
        test; ``--gan-update-baselines`` rewrites it and passes.
        """
        __tracebackhide__ = True
        import pytest
        import torch

        if isinstance(tolerance, bool) or not isinstance(tolerance, int) or tolerance < 0:
            raise ValueError(f"tolerance must be an int >= 0 (8-bit levels); got {tolerance!r}")
        path = self.samples_path(name)
        obtained = _sample_grid(_generate(generator, z, labels), data_range)
        if self.update or not path.exists():
            _write_png(obtained, path)
            if self.update:
                return
            pytest.fail(
                f"The golden samples of this test did not exist; they were written to {path} "
                f"({z.shape[0]} samples). Look at them, then commit the file; later runs are "
                "compared with it.",
                pytrace=False,
            )
        try:
            stored = _read_png(path)
        except (OSError, ValueError) as exc:
            problem: str | None = f"{exc}".strip().splitlines()[0]
        else:
            problem = None
        if problem is not None:
            pytest.fail(
                f"BaselineFileError: the golden sample file {path} is not a readable PNG "
                f"({problem}). Restore it from version control, or delete it (or run pytest "
                f"with {UPDATE_HINT}) to write it again.",
                pytrace=False,
            )
        if stored.shape != obtained.shape:
            folder = self._write_obtained(path, obtained, None)
            raise _golden_failure(
                path,
                f"The golden sample grid changed size: {list(obtained.shape[1:])} pixels "
                f"against {list(stored.shape[1:])} stored (a different sample count, image "
                "size or channel count).",
                [
                    (
                        "grid size (height, width)",
                        str(list(obtained.shape[1:])),
                        str(list(stored.shape[1:])),
                    )
                ],
                {"size": list(obtained.shape[1:]), "stored_size": list(stored.shape[1:])},
                folder,
            )
        diff = (obtained.to(torch.int16) - stored.to(torch.int16)).abs()
        largest = int(diff.max())
        if largest <= tolerance:
            return
        share = float((diff > tolerance).any(dim=0).double().mean())
        folder = self._write_obtained(path, obtained, diff)
        raise _golden_failure(
            path,
            f"The generator's samples for the fixed z differ from the golden grid: "
            f"{share:.1%} of its pixels moved by more than {tolerance} levels (at most "
            f"{largest}).",
            [
                ("largest pixel difference (8-bit levels)", largest, f"<= {tolerance}"),
                ("share of pixels beyond the tolerance", share, "0"),
                ("mean pixel difference (levels)", float(diff.double().mean()), "about 0"),
            ],
            {"largest": largest, "share": share, "tolerance": tolerance},
            folder,
        )

    def _write_obtained(
        self, path: Path, obtained: torch.Tensor, diff: torch.Tensor | None
    ) -> Path:
        import tempfile

        folder = self._artifacts() if self._artifacts is not None else Path(tempfile.mkdtemp())
        stem = path.name.removesuffix(".png")
        _write_png(obtained, folder / f"{stem}.obtained.png")
        if diff is not None:
            # The difference stretched to the full range, so a one-level change shows.
            scaled = diff.amax(dim=0, keepdim=True).float() * (255 / max(int(diff.max()), 1))
            _write_png(
                scaled.round().to(obtained.dtype).expand(3, -1, -1), folder / f"{stem}.diff.png"
            )
        return folder


def _generate(generator: Any, z: Any, labels: Any) -> torch.Tensor:
    import torch

    if not callable(generator):
        raise TypeError(
            f"generator must be an nn.Module or a callable; got {type(generator).__name__}"
        )
    if not isinstance(z, torch.Tensor) or not z.is_floating_point() or z.ndim < 2:
        raise TypeError("z must be a floating-point Tensor of latents [N, ...]")
    module = generator if isinstance(generator, torch.nn.Module) else None
    was_training = module.training if module is not None else False
    if module is not None:
        module.eval()
    try:
        with torch.no_grad():
            out = generator(z) if labels is None else generator(z, labels)
    finally:
        if module is not None:
            module.train(was_training)
    if not isinstance(out, torch.Tensor) or out.ndim != 4:
        shape = list(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(
            f"check_samples compares images [N, C, H, W]; the generator returned {shape}"
        )
    return out.detach().float().cpu()


def _sample_grid(images: torch.Tensor, data_range: tuple[float, float]) -> torch.Tensor:
    import torch
    from torchvision.utils import make_grid

    lo, hi = (float(v) for v in data_range)
    if not hi > lo:
        raise ValueError(f"data_range must be (low, high) with low < high; got {data_range!r}")
    unit = ((images - lo) / (hi - lo)).nan_to_num(0.0).clamp(0, 1)
    grid: torch.Tensor = make_grid(unit, nrow=GOLDEN_NROW, padding=2, pad_value=1.0)
    # The rounding save_image does: the stored PNG and this grid agree exactly.
    return (grid * 255 + 0.5).clamp(0, 255).to(torch.uint8)


# PNGs go through Pillow (torchvision's own dependency) rather than torchvision.io, whose
# image codecs warn that they are deprecated: an error under filterwarnings = error.
def _write_png(image: torch.Tensor, path: Path) -> None:
    from PIL import Image

    picture = Image.fromarray(image.permute(1, 2, 0).contiguous().numpy())

    def write(tmp: str) -> None:
        picture.save(tmp, format="PNG")

    write_atomically(path, write, suffix=".png")


def _read_png(path: Path) -> torch.Tensor:
    """An image file as ``[3, H, W]`` uint8 (grey and RGBA converted to RGB)."""
    import numpy as np
    import torch
    from PIL import Image

    with Image.open(path) as picture:
        pixels = np.array(picture.convert("RGB"))
    return torch.from_numpy(pixels).permute(2, 0, 1).contiguous()


def _golden_failure(
    path: Path,
    summary: str,
    rows: Sequence[tuple[str, Any, str]],
    evidence: dict[str, Any],
    folder: Path,
) -> Exception:
    from pytest_gan.errors import fail

    return fail(
        "baseline-regression",
        summary,
        rows,
        {**evidence, "golden": str(path), "artifacts": str(folder)},
        detail=f"Stored grid: {path}. Obtained grid and difference: {folder}. If the change "
        f"was meant, rewrite the grid with pytest {UPDATE_HINT} and commit it.",
    )
