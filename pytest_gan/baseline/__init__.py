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

One module per job: ``stats`` (the band), ``summary`` (the figures of a run), ``store``
(the file), ``compare`` (a run against its band: ``assert_matches_baseline``), ``golden``
(golden sample grids). The ``gan_baseline`` fixture is the plugin's, in
``pytest_gan.baseline_fixture``. Importing this package does not import torch: the plugin
reads its defaults.
"""

from __future__ import annotations

from pytest_gan.baseline.compare import (
    Comparison,
    assert_matches_baseline,
    check_compatible,
    compare,
)
from pytest_gan.baseline.golden import GOLDEN_NROW, GOLDEN_TOLERANCE
from pytest_gan.baseline.stats import FIGURE_FALSE_ALARM, band_factor, t_quantile
from pytest_gan.baseline.store import (
    DEFAULT_SEEDS,
    FORMAT,
    MIN_SEEDS,
    SCHEMA,
    UPDATE_HINT,
    Baseline,
    BaselineFileError,
    BaselineMismatchError,
    BaselineNotFoundError,
    Figure,
    GANBaselineWarning,
    untrained_inside,
    warn_if_blind,
)
from pytest_gan.baseline.summary import (
    COVERAGE_K,
    FIGURES,
    FLOOR_OUTPUT,
    FLOOR_RANGE,
    FLOOR_RELATIVE,
    FLOOR_SHARE,
    LOSS_WINDOWS,
    QUALITY_FIGURES,
    RANGE_QUANTILES,
    SUMMARY_SAMPLES,
    WORSE_EITHER,
    WORSE_HIGHER,
    WORSE_LOWER,
    FigureSpec,
    summarize,
)

__all__ = [
    "COVERAGE_K",
    "DEFAULT_SEEDS",
    "FIGURES",
    "FIGURE_FALSE_ALARM",
    "FLOOR_OUTPUT",
    "FLOOR_RANGE",
    "FLOOR_RELATIVE",
    "FLOOR_SHARE",
    "FORMAT",
    "GOLDEN_NROW",
    "GOLDEN_TOLERANCE",
    "LOSS_WINDOWS",
    "MIN_SEEDS",
    "QUALITY_FIGURES",
    "RANGE_QUANTILES",
    "SCHEMA",
    "SUMMARY_SAMPLES",
    "UPDATE_HINT",
    "WORSE_EITHER",
    "WORSE_HIGHER",
    "WORSE_LOWER",
    "Baseline",
    "BaselineFileError",
    "BaselineMismatchError",
    "BaselineNotFoundError",
    "Comparison",
    "Figure",
    "FigureSpec",
    "GANBaselineWarning",
    "assert_matches_baseline",
    "band_factor",
    "check_compatible",
    "compare",
    "summarize",
    "t_quantile",
    "untrained_inside",
    "warn_if_blind",
]
