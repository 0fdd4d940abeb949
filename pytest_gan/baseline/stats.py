"""The band of a figure: how far one new healthy seed may stray from the centre of a few,
as a Student's t prediction interval (no torch import)."""

from __future__ import annotations

import math

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
