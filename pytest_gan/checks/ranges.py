"""Checks of value ranges: is the data normalised, can the generator reach the data's range."""

from __future__ import annotations

import math
from typing import Any

from pytest_gan._args import check_int
from pytest_gan.checks._check import Check
from pytest_gan.checks._nonfinite import nonfinite_verdict
from pytest_gan.data import RANGE_SLACK, DataSource, snap_range
from pytest_gan.errors import GANAssertionError, fail
from pytest_gan.run import GANRun, require_run
from pytest_gan.spec import GANSpec, checked_range

#: Least share of the expected range that normalised data spans.
#: Why here: normalised image sets span 1.0 of it, 8-bit sets after ToTensor() alone at
#: most 0.5; calibration: docs/benchmarks.md "Calibration notes".
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
    # Integer samples are the check's own subject (8-bit images as stored), not bad input.
    return DataSource(data, conditional=False, integers=True)


def _fits(lo: float, hi: float, expected: tuple[float, float]) -> bool:
    """Whether data spanning [lo, hi] lies in ``expected`` (within ``RANGE_SLACK`` of its
    width) and spans at least ``MIN_SPAN_SHARE`` of it."""
    e_lo, e_hi = expected
    slack = RANGE_SLACK * (e_hi - e_lo)
    inside = e_lo - slack <= lo and hi <= e_hi + slack
    return inside and (hi - lo) / (e_hi - e_lo) >= MIN_SPAN_SHARE


def assert_data_normalized(data: Any, expected_range: tuple[float, float] | None = None) -> None:
    """The data lives in ``expected_range`` and spans most of it.

    ``data`` is anything a ``GANSpec`` accepts, or a ``GANSpec``/``GANRun``; integer
    samples too (8-bit images as stored, which fail unless ``expected_range`` holds them).
    Raises ``GANAssertionError`` with pitfall ``data-not-normalized`` when the data leaves
    the range (beyond 2% of its width) or spans less than ``MIN_SPAN_SHARE`` of it.

    ``expected_range`` defaults to [-1, 1], a Tanh generator's range; for a run whose
    generator ends in a Sigmoid, [0, 1] (the Sigmoid's range, the pairing the seed pitfall
    names beside Tanh's) passes as well. An ``expected_range`` given is the only range
    judged. A spec's ``data_range`` does not change it: [0, 1] data declared as such under
    a Tanh generator is the mistake this check is for.
    """
    __tracebackhide__ = True
    given = expected_range is not None
    expected = checked_range(expected_range, "expected_range") if given else (-1.0, 1.0)
    source = _source(data)
    lo, hi = source.extremes()
    if _fits(lo, hi, expected):
        return
    sigmoid = not given and isinstance(data, GANRun) and saturating_activation(data) == "Sigmoid"
    if sigmoid and _fits(lo, hi, (0.0, 1.0)):
        return
    e_lo, e_hi = expected
    width = e_hi - e_lo
    slack = RANGE_SLACK * width
    share = (hi - lo) / width
    convention = snap_range(lo, hi)
    hint = _DIAGNOSES.get(convention, "")
    target = f"[{e_lo:g}, {e_hi:g}]"
    if sigmoid:
        target += " (or [0, 1], its Sigmoid generator's range)"
    summary = f"The data spans [{lo:.3g}, {hi:.3g}] but should fill {target}"
    summary += f": {hint}." if hint else "."
    dtype = source.peek(2)[0].dtype
    if not dtype.is_floating_point:
        summary += f" It is stored as {dtype}: convert it with .float() and normalise it."
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


#: Largest share of the data's span that the generator's final activation may leave out of
#: reach at either end. The verdict rests on the activation's bound, not on where the
#: samples happen to stop: a generator confined to Sigmoid's [0, 1] can never reach data
#: below 0, while an unbounded or Tanh generator that has not spread out yet may still.
#: Measured with benchmarks/calibrate_range.py (1,000 samples, 200 steps): the Sigmoid twin
#: on [-1, 1] data leaves 0.50 of the span out of reach on every seed; the healthy
#: references leave none (Tanh on [-1, 1] data; the ring's unbounded MLPs), though their
#: samples stopped up to 0.15 short (image references, seeds 0-4; 0.17 when they trained
#: at batch 64) and 0.40 short (ring-wgan-gp, seed 5, still spreading at step 200). A
#: third of the span separates the two with room on both sides.
MAX_RANGE_GAP = 1 / 3

#: Samples drawn to find the generator's extremes (and as many with z scaled): the count
#: the threshold was calibrated with; the extremes of 1,000 draws of a bounded activation
#: sit at its bounds (the Sigmoid twin's smallest value was below 1e-6 on every seed).
RANGE_SAMPLES = 1000

#: Factor on z for the structural probe of the final activation. At 100 standard
#: deviations every pre-activation of an untrained or trained generator is pushed far past
#: where Sigmoid (|x| > 17) and Tanh (|x| > 9) saturate, so a bounded output shows exactly
#: its bounds, while an unbounded one leaves them. Measured: the Sigmoid twin gives
#: exactly [0, 1] and the Tanh DCGAN [-1, 1], while the ring's MLP generator after one
#: step, whose ordinary samples all fall in [0.003, 0.25], gives [-9.9, 18.2].
PROBE_LATENT_SCALE = 100.0

#: How close to an activation's bound the probe must come for that bound to count as the
#: generator's: a share of the data's span.
#: Why here: a bounded activation driven by z x 100 sits within 1e-6 of its bound, the
#: nearest healthy unbounded generator 3.4 from it; calibration: docs/benchmarks.md
#: "Calibration notes".
SATURATION_SHARE = 1e-3

#: Samples with z scaled by ``PROBE_LATENT_SCALE`` that the output-range check draws
#: first; the rest of its draw only when these leave its verdict open. Not a threshold:
#: where these samples already pass, the whole draw, whose range holds theirs, passes too,
#: so the verdict is the whole draw's. 256 is ``saturating_activation``'s draw; on
#: ``shapes-dcgan`` it takes 17 ms against 82 ms for 1,000 (docs/benchmarks.md,
#: "The output-range check's probe").
FAR_FIRST = 256

# Ranges of the usual final activations, tightest first: the first that contains all
# the samples is taken to be the generator's.
_ACTIVATIONS = (((0.0, 1.0), "Sigmoid"), ((-1.0, 1.0), "Tanh"), ((0.0, math.inf), "ReLU"))


def _confining(lo: float, hi: float) -> tuple[tuple[float, float], str] | None:
    for bounds, name in _ACTIVATIONS:
        if lo >= bounds[0] and hi <= bounds[1]:
            return bounds, name
    return None


def saturating_activation(run: GANRun, samples: int = FAR_FIRST) -> str | None:
    """The bounded final activation of the run's generator ("Sigmoid", "Tanh"), or None:
    the tightest usual activation whose range holds samples drawn with z scaled by
    ``PROBE_LATENT_SCALE``, when they sit at both of its bounds (within
    ``SATURATION_SHARE`` of its span), as a bounded activation driven that far does."""
    far = run.samples(samples, latent_scale=PROBE_LATENT_SCALE)
    lo, hi = float(far.min()), float(far.max())
    confining = _confining(lo, hi)
    if confining is None or math.isinf(confining[0][1]):
        return None
    (a_lo, a_hi), name = confining
    near = SATURATION_SHARE * (a_hi - a_lo)
    return name if lo - a_lo <= near and a_hi - hi <= near else None


def assert_output_range_matches_data(run: GANRun, *, samples: int = RANGE_SAMPLES) -> None:
    """The generator's final activation can reach both ends of the data's range.

    Draws ``samples`` samples, and as many again with z scaled by ``PROBE_LATENT_SCALE``
    (which drives any bounded final activation to its bounds; the first ``FAR_FIRST`` of
    them, and the rest only when those leave the verdict open). When all of them lie within
    the range of a bounded activation (Sigmoid, Tanh, ReLU, tightest first) whose bound
    leaves more than ``MAX_RANGE_GAP`` of the data's span out of reach at either end, and
    the probe saturates at that bound (within ``SATURATION_SHARE`` of the span), raises
    ``GANAssertionError`` with pitfall ``output-range-mismatch`` naming that activation
    (as for a Sigmoid generator on [-1, 1] data).
    """
    __tracebackhide__ = True
    run = require_run(run, "assert_output_range_matches_data")
    check_int(samples, "samples", least=2)
    failure = range_failure(run, samples, FAR_FIRST)
    if failure is not None:
        raise failure


def range_failure(run: GANRun, samples: int, first: int) -> GANAssertionError | None:
    """The output-range verdict (see ``assert_output_range_matches_data``) on ``samples``
    plain samples and ``samples`` with z scaled, of which the first ``first`` are drawn
    before the rest: the failure to raise, or None for a pass.

    More samples only widen the range the verdict reads, and a wider range never turns a
    pass into a failure: it leaves every activation that did not hold the samples still
    unable to, and an activation that holds it is a looser one, whose bounds leave no more
    of the data's span out of reach (Sigmoid and ReLU share the floor 0, Tanh's reaches
    lower). So where the first samples pass on the activation alone (none holds them, or
    the one that does reaches far enough), the whole draw passes as well, and the rest is
    not drawn. Any other outcome is read from the whole draw."""
    __tracebackhide__ = True
    lo, hi = run.data_range
    span = hi - lo
    if not span > 0:
        # Only an inferred range can be empty (a spec's data_range has lo < hi).
        raise ValueError(
            f"assert_output_range_matches_data: run {run.name!r} has data of a single value "
            f"({lo:g}): it spans no range for the generator to reach; "
            "assert_data_normalized diagnoses the data"
        )
    fake = run.samples(samples)
    nonfinite_verdict(run, fake, "assert_output_range_matches_data")
    f_lo, f_hi = float(fake.min()), float(fake.max())
    p_lo, p_hi = math.inf, -math.inf
    for rows in (slice(0, min(first, samples)), slice(min(first, samples), samples)):
        if rows.start == rows.stop:
            continue
        far = run.scaled_part(samples, PROBE_LATENT_SCALE, rows)
        p_lo, p_hi = min(p_lo, float(far.min())), max(p_hi, float(far.max()))
        confining = _confining(min(f_lo, p_lo), max(f_hi, p_hi))
        if confining is None:
            return None
        (a_lo, a_hi), activation = confining
        low_gap, high_gap = max(0.0, (a_lo - lo) / span), max(0.0, (hi - a_hi) / span)
        if max(low_gap, high_gap) <= MAX_RANGE_GAP:
            return None
    side, bound = ("below", a_lo) if low_gap > high_gap else ("above", a_hi)
    reached = min(f_lo, p_lo) if side == "below" else max(f_hi, p_hi)
    if abs(reached - bound) > SATURATION_SHARE * span:
        return None  # the samples stay clear of the bound: no activation holds them there
    return fail(
        "output-range-mismatch",
        f"Generator outputs lie in [{f_lo:.2f}, {f_hi:.2f}] but the data spans "
        f"[{lo:g}, {hi:g}]: the final activation looks like {activation}, which cannot "
        f"go {side} {bound:g}.",
        [
            ("smallest generated value", f_lo, f"near {lo:g}"),
            ("largest generated value", f_hi, f"near {hi:g}"),
            (f"range with z x {PROBE_LATENT_SCALE:g}", f"[{p_lo:.3g}, {p_hi:.3g}]", "unbounded"),
            (
                f"span out of {activation}'s reach below",
                round(low_gap, 3),
                f"<= {MAX_RANGE_GAP:.2f}",
            ),
            (
                f"span out of {activation}'s reach above",
                round(high_gap, 3),
                f"<= {MAX_RANGE_GAP:.2f}",
            ),
        ],
        {
            "fake_min": f_lo,
            "fake_max": f_hi,
            "probe_range": (p_lo, p_hi),
            "data_range": (lo, hi),
            "activation": activation,
            "low_gap": low_gap,
            "high_gap": high_gap,
        },
    )


def judges_images(run: GANRun) -> str | None:
    """[-1, 1] is the range to check the data against for images (or [0, 1] under a
    Sigmoid generator), and for any data whose generator ends in a Tanh (flattened images
    fed to an MLP GAN): None for those, else why not."""
    if run.real(2).ndim == 4:
        return None
    if saturating_activation(run) == "Tanh":
        return None
    return "the data are not images, and the generator does not end in a Tanh"


#: The checks of this module (``pytest_gan.checks.ALL``). The data check reads the data,
#: not the run's records: it judges a stopped run as well.
DATA_NORMALIZED = Check(
    "data-normalized",
    assert_data_normalized,
    ("data-not-normalized",),
    applies=judges_images,
    exact=True,
)
OUTPUT_RANGE = Check(
    "output-range", assert_output_range_matches_data, ("output-range-mismatch",), exact=True
)
