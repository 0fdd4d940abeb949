"""Checks of value ranges: is the data normalised, can the generator reach the data's range."""

from __future__ import annotations

import math
from typing import Any

from torch.utils.data import DataLoader, Dataset

from pytest_gan.checks._common import require_run
from pytest_gan.data import RANGE_SLACK, DataSource, snap_range
from pytest_gan.errors import fail
from pytest_gan.spec import GANSpec
from pytest_gan.training import GANRun

#: Least share of the expected range that normalised data spans. Every image set of the
#: zoo spans 100% of [-1, 1] once normalised (its darkest and brightest pixels reach -1 and
#: 1); the same sets after ToTensor() alone span 50% of it, and no 8-bit image set can
#: span more than 50% of [-1, 1] without Normalize. 0.75 sits between the two.
MIN_SPAN_SHARE = 0.75

# What a range says about the pipeline that produced it.
_DIAGNOSES = {
    (0.0, 1.0): "it looks like ToTensor() without Normalize",
    (0.0, 255.0): "it looks like raw 8-bit pixel values",
    (-1.0, 1.0): "it is already in [-1, 1]",
}


def _source(data: Any) -> DataSource:
    if isinstance(data, GANRun):
        return data.spec.source
    if isinstance(data, GANSpec):
        return data.source
    import torch

    if not isinstance(data, (torch.Tensor, tuple, list, Dataset, DataLoader)):
        raise TypeError(
            "data must be a Tensor, an (x, y) pair, a Dataset, a DataLoader, a GANSpec or a "
            f"GANRun; got {type(data).__name__}"
        )
    return DataSource(data, conditional=False)


def _checked_range(value: Any, argument: str) -> tuple[float, float]:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise TypeError(f"{argument} must be a pair (lo, hi); got {value!r}")
    lo, hi = (float(v) for v in value)
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"{argument} must be finite with lo < hi; got {value!r}")
    return lo, hi


def assert_data_normalized(data: Any, expected_range: tuple[float, float] = (-1.0, 1.0)) -> None:
    """The data lives in ``expected_range`` and spans most of it.

    ``data`` is anything a ``GANSpec`` accepts, or a ``GANSpec``/``GANRun``. Raises
    ``GANAssertionError`` with pitfall ``data-not-normalized`` when the data leaves the
    range (beyond 2% of its width) or spans less than ``MIN_SPAN_SHARE`` of it.
    """
    __tracebackhide__ = True
    e_lo, e_hi = _checked_range(expected_range, "expected_range")
    lo, hi = _source(data).extremes()
    width = e_hi - e_lo
    slack = RANGE_SLACK * width
    share = (hi - lo) / width
    outside = lo < e_lo - slack or hi > e_hi + slack
    if not outside and share >= MIN_SPAN_SHARE:
        return
    convention = snap_range(lo, hi)
    hint = _DIAGNOSES.get(convention, "")
    summary = f"The data spans [{lo:.3g}, {hi:.3g}] but should fill [{e_lo:g}, {e_hi:g}]"
    summary += f": {hint}." if hint else "."
    raise fail(
        "data-not-normalized",
        summary,
        [
            ("smallest value", lo, f">= {e_lo - slack:.3g}"),
            ("largest value", hi, f"<= {e_hi + slack:.3g}"),
            ("share of the expected range spanned", round(share, 3), f">= {MIN_SPAN_SHARE}"),
        ],
        {"min": lo, "max": hi, "expected_range": (e_lo, e_hi), "span_share": share},
    )


#: Largest share of the data's span that the generator's samples may stop short of either
#: end of the data's range. Measured with benchmarks/calibrate_range.py on 1,000 samples
#: after 200 steps: the healthy image references (shapes, conditional shapes, scenes, seeds
#: 0-4) stopped at most 0.17 short (scenes, seed 0; all others under 0.08), while a
#: Sigmoid generator on [-1, 1] data stops 0.50 short by construction. A third of the span
#: sits between, with twice the healthy maximum as margin.
MAX_RANGE_GAP = 1 / 3

#: Samples drawn to find the generator's extremes.
RANGE_SAMPLES = 1000

# Ranges of the usual final activations, to name the likely culprit.
_ACTIVATIONS = (((0.0, 1.0), "Sigmoid"), ((-1.0, 1.0), "Tanh"), ((0.0, math.inf), "ReLU"))


def _looks_like(lo: float, hi: float) -> str | None:
    for (a_lo, a_hi), name in _ACTIVATIONS:
        if lo >= a_lo and hi <= a_hi:
            return name
    return None


def assert_output_range_matches_data(run: GANRun, *, samples: int = RANGE_SAMPLES) -> None:
    """The generator's samples reach both ends of the range the data lives in.

    Raises ``GANAssertionError`` with pitfall ``output-range-mismatch`` when its samples
    stop more than ``MAX_RANGE_GAP`` of the data's span short of either end (as a
    Sigmoid generator does on [-1, 1] data), naming the activation its range suggests.
    """
    __tracebackhide__ = True
    run = require_run(run, "assert_output_range_matches_data")
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 2:
        raise ValueError(f"samples must be an int >= 2; got {samples!r}")
    lo, hi = run.data_range
    span = hi - lo
    fake = run.samples(samples)
    f_lo, f_hi = float(fake.min()), float(fake.max())
    low_gap, high_gap = (f_lo - lo) / span, (hi - f_hi) / span
    if max(low_gap, high_gap) <= MAX_RANGE_GAP:
        return
    activation = _looks_like(f_lo, f_hi)
    summary = (
        f"Generator outputs lie in [{f_lo:.2f}, {f_hi:.2f}] but the data spans [{lo:g}, {hi:g}]"
    )
    if activation and _looks_like(lo, hi) != activation:
        summary += f": the final activation looks like {activation}"
    summary += "."
    raise fail(
        "output-range-mismatch",
        summary,
        [
            ("smallest generated value", f_lo, f"near {lo:g}"),
            ("largest generated value", f_hi, f"near {hi:g}"),
            ("share of the span unreached below", round(low_gap, 3), f"<= {MAX_RANGE_GAP:.2f}"),
            ("share of the span unreached above", round(high_gap, 3), f"<= {MAX_RANGE_GAP:.2f}"),
        ],
        {
            "fake_min": f_lo,
            "fake_max": f_hi,
            "data_range": (lo, hi),
            "low_gap": low_gap,
            "high_gap": high_gap,
            "activation": activation,
        },
    )
