"""Checks of what the generator produces: not blank, not collapsed.

Both compare generated samples with real ones at the same sample count, in the data's own
space (pixels for images), and decide on ratios whose real-versus-real value is 1: a
second draw of real data scores within 2% of 1 at 1,000 samples on every data set of the
zoo (``benchmarks/calibrate_outputs.py``).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from pytest_gan import _defaults
from pytest_gan.checks._causes import (
    Causes,
    blank_causes,
    collapse_causes,
    looking_for_causes,
    without_causes,
)
from pytest_gan.checks._check import Check
from pytest_gan.checks._nonfinite import nonfinite_verdict
from pytest_gan.checks.balance import late_probes
from pytest_gan.errors import GANAssertionError, fail
from pytest_gan.metrics import (
    common_scale,
    contrast,
    coverage,
    finite_median,
    mean_pairwise_distance,
    scaled,
)
from pytest_gan.run import GANRun

#: Samples drawn from a run (and real samples it is compared with), as many as the data
#: holds when it holds fewer.
CHECK_SAMPLES = 1000

#: Least features for a sample to count as an image whose own spread (contrast) means
#: something; fewer (2-D points, small feature vectors) are judged on the batch instead.
MIN_IMAGE_FEATURES = 16

#: Least median contrast of generated images (a sample's standard deviation over its
#: pixels) as a share of the real images' median contrast.
#: Why here: 3.6x below the healthy least (0.356) and 14x above the blank twin (0.0075),
#: under native and default kernels; calibration: docs/benchmarks.md "Calibration notes".
MIN_CONTRAST_RATIO = 0.1

#: Without real samples to compare with, a batch is blank only when its images are flat to
#: the eye: a median contrast below one 8-bit grey level of a unit range (1/255), scaled by
#: the samples' magnitude when that exceeds 1 (data in [0, 255]).
ABSOLUTE_FLATNESS = 1 / 255

#: Least spread of generated samples (mean distance between two of them) as a share of the
#: real samples' spread.
#: Why here: about the geometric midpoint of the healthy least (0.201) and the collapse
#: twin's most (0.159, AMD EPYC); the lasting spread catches the twin where it ends higher
#: (an Intel Xeon); calibration: docs/benchmarks.md "Calibration notes".
MIN_SPREAD_RATIO = 0.17

#: Least lasting spread (``lasting_spread``) of a run whose samples are points or short
#: feature vectors (fewer than ``MIN_IMAGE_FEATURES`` features); images are not judged on
#: it (an untrained convolutional G already spreads to about 0.2 of the data).
#: Why here: about the geometric midpoint of the healthy rings' least (0.290) and the
#: collapse twin's most (0.176), under three kernel settings and at 200-800 steps, where
#: their snapshots overlap; calibration: docs/benchmarks.md "Calibration notes".
MIN_LASTING_SPREAD_RATIO = 0.23

#: The share of a run, counted back from its last step, whose probes ``lasting_spread``
#: reads: half, six probes at 200 steps (a median of six 64-sample looks), and the share
#: at which every figure of MIN_LASTING_SPREAD_RATIO's calibration was measured
#: (benchmarks/calibrate_collapse.py); the balance checks' last third would give four.
LASTING_SHARE = 0.5


def lasting_spread(run: GANRun) -> tuple[float, int, int]:
    """How spread out a run's samples stayed: the median, over the probes of the last
    ``LASTING_SHARE`` of the run (the step-0 probe excepted), of the probe's ``fake_spread``
    over its ``real_spread`` (a fixed-z batch against a fixed held-out real batch of the
    same size). With the count of probes it read and the step of the first; NaN (and 0
    probes) without probes, as for a run trained with ``instrument=False``."""
    late = [
        p
        for p in late_probes(run, LASTING_SHARE)
        if 0 < p.real_spread < math.inf and math.isfinite(p.fake_spread)
    ]
    if not late:
        return math.nan, 0, run.steps
    ratio = finite_median([p.fake_spread / p.real_spread for p in late])
    return ratio, len(late), late[0].step


def _as_samples(value: Any, argument: str, allowed: str = "a GANRun or a Tensor") -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{argument} must be {allowed}; got {type(value).__name__}")
    if value.ndim < 2 or value.shape[0] < 2:
        raise ValueError(f"{argument} must be a batch [N >= 2, ...]; got shape {list(value.shape)}")
    if not value.is_floating_point():
        raise TypeError(f"{argument} must hold floating-point values; got {value.dtype}")
    return value.detach()


def _real(real: Any, fake: torch.Tensor) -> torch.Tensor | None:
    if real is None:
        return None
    x = _as_samples(real, "real", "a Tensor of real samples")
    if x.shape[1:] != fake.shape[1:]:
        raise ValueError(
            f"real must have the samples' shape {list(fake.shape[1:])} per sample; "
            f"got {list(x.shape[1:])}"
        )
    if not bool(torch.isfinite(x).all()):
        raise ValueError("real holds NaN or infinite values")
    return x.to(fake.device)


def samples_and_real(
    run_or_samples: Any, real: Any, check: str
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Generated samples and, when known, real ones at the same count: from a run, its
    final generator in eval mode (as inference code uses it) and its data."""
    if isinstance(run_or_samples, GANRun):
        run = run_or_samples
        n = run.sample_count(CHECK_SAMPLES)
        fake = run.samples(n)
        return fake, (_real(real, fake) if real is not None else run.real(n))
    if not isinstance(run_or_samples, torch.Tensor):
        raise TypeError(
            f"{check}: run_or_samples must be a GANRun or a Tensor of samples; "
            f"got {type(run_or_samples).__name__}"
        )
    fake = _as_samples(run_or_samples, "run_or_samples")
    return fake, _real(real, fake)


def early_note(run_or_samples: Any) -> str:
    """For a ratio verdict on a run: at what step it was decided, and, for a run judged
    where it first stopped, how to let a slow GAN train on before it is judged."""
    if not isinstance(run_or_samples, GANRun):
        return ""
    run = run_or_samples
    if run.extensions:
        how = (
            "the loop was run again for more steps"
            if run.extensions[-1].get("rerun")
            else "the run was trained on"
        )
        note = (
            f"Judged at {run.steps} steps: {how} from {run.first_steps} "
            "to decide this verdict, and it still holds."
        )
        # A loop run again from the start: the last probe at or before the first steps.
        first = run.history.probe_by(run.first_steps)
        last = run.history.probe_at(run.steps)
        if first is not None and last is not None:
            # What the samples did meanwhile, for the reader to weigh: a GAN still
            # approaching the data may only need more steps than the budget gave it.
            at = "" if first.step == run.first_steps else f" (at step {first.step})"
            note += (
                f" Meanwhile G's samples went from {first.fake_to_real:.3g}{at} to "
                f"{last.fake_to_real:.3g} from the nearest real sample (real samples lie "
                f"{last.real_to_real:.3g} from one another)."
            )
        # Not for a run trained on by hand since (run.extend): it did go further.
        if run.extensions[-1].get("no_progress") == run.steps:
            note += (
                f" It was not trained further: past {_defaults.EXTEND_FACTOR}x its first "
                "steps a run goes on only while its samples still come nearer the data, "
                "spread out or change, and these had done none of that. A run asked for "
                "more steps to begin with (--gan-steps, or steps=) goes on freely to "
                f"{_defaults.EXTEND_FACTOR}x as many."
            )
        return note
    if getattr(run, "watched", False):
        return (
            f"Judged at {run.steps} steps of a watched loop. A slow GAN (a WGAN-GP at its "
            "published settings) can look like this early on: run the loop longer under "
            "watch before judging it (the smoke suite runs an offered loop again for "
            "twice the steps while such a verdict is undecided)."
        )
    if not run.extendable:
        return ""
    budget = _defaults.MAX_EXTEND_FACTOR * run.steps
    return (
        f"Judged at {run.steps} steps. A slow GAN (a WGAN-GP at its published settings) can "
        f"look like this early on: train(spec, steps={run.steps}, max_steps={budget}) "
        "trains on until the verdict is decided, as the smoke suite does."
    )


def _kind(fake: torch.Tensor) -> tuple[str, str]:
    """What ``fake``'s samples are called in a message, and their entries: images and
    pixels for ``[N, C, H, W]`` batches and ``[N, H, W]`` ones at least 8 by 8; samples
    and values for anything else (sequences, waveforms, tables, volumes)."""
    if fake.dim() == 4 or (fake.dim() == 3 and min(fake.shape[1:]) >= 8):
        return "images", "pixel"
    return "samples", "value"


def assert_not_blank(run_or_samples: Any, *, real: Any = None) -> None:
    """Generated images carry visible content: they are not flat (blank, grey, one colour)
    and not NaN.

    Images are judged on their contrast (each image's standard deviation over its pixels)
    against real images': the generated median must reach ``MIN_CONTRAST_RATIO`` of the
    real one. Without ``real`` (a bare Tensor of samples), only images flat to the eye fail
    (``ABSOLUTE_FLATNESS``). Samples with fewer than ``MIN_IMAGE_FEATURES`` features (2-D
    points) are blank when every sample is the same point. Raises ``GANAssertionError``
    with pitfall ``blank-output``; samples holding NaN or infinite values fail with the
    pitfall that explains them (``nonfinite_verdict``: ``non-finite-loss`` for a run whose
    losses went non-finite, else ``blank-output``).
    """
    __tracebackhide__ = True
    fake, ref = samples_and_real(run_or_samples, real, "assert_not_blank")
    run = run_or_samples if isinstance(run_or_samples, GANRun) else None
    nonfinite_verdict(run, fake, "assert_not_blank")
    # Verdicts on figures of both sides divided by one power of two, which their ratio
    # does not change: 1 for any ordinary data; finite values near float64's largest
    # would overflow squares and sums, and either side's figure could overflow or
    # underflow beside the other's. The figures reported are each side's own.
    unit = common_scale(fake) if ref is None else common_scale(fake, ref)
    fake_u = scaled(fake, unit)
    ref_u = None if ref is None else scaled(ref, unit)
    features = fake[0].numel()
    if features < MIN_IMAGE_FEATURES:
        spread_u = mean_pairwise_distance(fake_u)
        scale_u = mean_pairwise_distance(ref_u) if ref_u is not None else 1.0 / unit
        if spread_u > 1e-6 * scale_u:
            return
        spread = spread_u if unit == 1.0 else mean_pairwise_distance(fake)
        scale = 1.0 if ref is None else (scale_u if unit == 1.0 else mean_pairwise_distance(ref))
        raise fail(
            "blank-output",
            "Every generated sample is the same point: the generator ignores z entirely.",
            [("mean distance between samples", spread, f"about {scale:.3g} (real)")],
            {"spread": spread, "real_spread": scale},
        )
    kind, entry = _kind(fake)
    c_fake = contrast(fake_u)
    median_u = float(c_fake.median())
    median = median_u if unit == 1.0 else float(contrast(fake).median())
    if ref_u is None:
        magnitude = max(1.0, float(fake.abs().max()))
        limit = ABSOLUTE_FLATNESS * magnitude
        if median_u >= limit / unit:
            return
        raise fail(
            "blank-output",
            f"The generated {kind} are flat: their median contrast is {median:.2g}, "
            "below one grey level.",
            [(f"median {kind[:-1]} contrast", median, f">= {limit:.2g}")],
            {"median_contrast": median, "limit": limit},
            detail=f"Pass real=<real {kind}> to compare with the data's own contrast.",
        )
    assert ref is not None
    c_real = contrast(ref_u)
    real_median_u = float(c_real.median())
    real_median = real_median_u if unit == 1.0 else float(contrast(ref).median())
    ratio = median_u / real_median_u if real_median_u > 0 else math.inf
    if ratio >= MIN_CONTRAST_RATIO:
        return
    flattest = float(c_real.quantile(0.01))
    flat_share = float((c_fake < flattest).double().mean())
    lo, hi = float(fake.min()), float(fake.max())
    r_lo, r_hi = float(ref.min()), float(ref.max())
    detail = ""
    if hi - lo < MIN_CONTRAST_RATIO * (r_hi - r_lo):
        flat = "image is one flat colour" if kind == "images" else "sample is flat"
        detail = (
            f"The generated values span [{lo:.3g}, {hi:.3g}] while the data spans "
            f"[{r_lo:.3g}, {r_hi:.3g}]: at the data's scale every {flat}."
        )
        if run is None:
            detail += (
                " assert_data_normalized and assert_output_range_matches_data tell which "
                "side is off."
            )
    causes = blank_causes(run) if run is not None else Causes()
    raise fail(
        "blank-output",
        f"The generated {kind} are nearly blank: their contrast is {100 * ratio:.2g}% of "
        f"the real {kind}' (median {entry} std {median:.3g} against {real_median:.3g}).",
        [
            ("median contrast, generated / real", ratio, f">= {MIN_CONTRAST_RATIO:g}"),
            ("median contrast, generated", median, f"about {real_median:.3g}"),
            ("share flatter than the flattest 1% of real", flat_share, "about 0.01"),
            ("generated value range", f"[{lo:.3g}, {hi:.3g}]", "-"),
        ],
        {
            "contrast_ratio": ratio,
            "median_contrast": median,
            "real_median_contrast": real_median,
            "flat_share": flat_share,
            "range": (lo, hi),
        },
        detail=" ".join(d for d in (detail, causes.detail, early_note(run_or_samples)) if d),
        fix=causes.fix,
    )


def assert_diverse(run_or_samples: Any, *, real: Any = None) -> None:
    """Generated samples are as spread out as real ones: no collapse onto a few outputs.

    Compares the mean distance between two generated samples with the mean distance
    between two real ones (``run_or_samples`` a run, or a Tensor with ``real``); the ratio
    must reach ``MIN_SPREAD_RATIO``. A run of points or short vectors (fewer than
    ``MIN_IMAGE_FEATURES`` features) must also have stayed spread out: its
    ``lasting_spread``, over the probes of the run's last half, must reach
    ``MIN_LASTING_SPREAD_RATIO`` (for images it is reported). Coverage (Naeem et al. 2020:
    the share of real samples with a generated one among their 5 nearest neighbours) is
    reported alongside. Without ``real``, only a batch of identical samples fails. Raises
    ``GANAssertionError`` with pitfall ``mode-collapse``; samples holding NaN or infinite
    values fail with the pitfall that explains them (``nonfinite_verdict``).
    """
    __tracebackhide__ = True
    fake, ref = samples_and_real(run_or_samples, real, "assert_diverse")
    run = run_or_samples if isinstance(run_or_samples, GANRun) else None
    nonfinite_verdict(run, fake, "assert_diverse")
    # As in assert_not_blank: verdicts on both sides divided by one power of two (1 for
    # ordinary data), figures reported at each side's own.
    unit = common_scale(fake) if ref is None else common_scale(fake, ref)
    spread_u = mean_pairwise_distance(scaled(fake, unit))
    spread = spread_u if unit == 1.0 else mean_pairwise_distance(fake)
    if ref is None:
        if spread_u > 0:
            return
        raise fail(
            "mode-collapse",
            "Every generated sample is identical: the generator ignores z.",
            [("mean distance between samples", spread, "> 0")],
            {"spread": spread},
            detail="Pass real=<real samples> to compare with the data's own spread.",
        )
    real_spread_u = mean_pairwise_distance(scaled(ref, unit))
    real_spread = real_spread_u if unit == 1.0 else mean_pairwise_distance(ref)
    ratio = spread_u / real_spread_u if real_spread_u > 0 else math.inf
    # A run of points or short vectors is judged on how spread out its samples stayed
    # over its later probes as well: a collapsed generator's snapshot wanders, and so does
    # a healthy one's (docs/benchmarks.md, "Margins per threshold").
    points = fake[0].numel() < MIN_IMAGE_FEATURES
    lasting, probes, since = lasting_spread(run) if run is not None else (math.nan, 0, 0)
    held = points and lasting < MIN_LASTING_SPREAD_RATIO  # False for NaN: no probes
    if ratio >= MIN_SPREAD_RATIO and not held:
        return
    k = min(5, ref.shape[0] - 1)
    cov = coverage(scaled(ref, unit), scaled(fake, unit), k=k)
    if bool((fake == fake[:1]).all()):
        summary = (
            "Every generated sample is identical, while real samples lie "
            f"{real_spread:.3g} apart on average: the generator has collapsed onto one output."
        )
    elif ratio >= MIN_SPREAD_RATIO and run is not None:
        summary = (
            f"From step {since} to step {run.steps} the generated samples stayed "
            + (
                f"{1 / lasting:.1f}x closer to one another than real samples are"
                if lasting > 0
                else "identical"
            )
            + f" (the median of {probes} probes): the generator has collapsed onto a few "
            "outputs."
        )
    elif ratio > 0:
        summary = (
            f"The generated samples are {1 / ratio:.1f}x closer to one another than real "
            "samples are: the generator has collapsed onto a few outputs."
        )
    else:  # a spread too small beside the real one for float64 to hold their ratio
        summary = (
            f"The generated samples lie {spread:.3g} apart on average, real samples "
            f"{real_spread:.3g}: the generator has collapsed onto a few outputs."
        )
    figures: list[tuple[str, float, str]] = [
        ("spread, generated / real", ratio, f">= {MIN_SPREAD_RATIO:g}")
    ]
    if run is not None and math.isfinite(lasting):
        figures.append(
            (
                f"lasting spread (median of {probes} probes, steps {since}-{run.steps})",
                lasting,
                f">= {MIN_LASTING_SPREAD_RATIO:g}" if points else f"reported ({_kind(fake)[0]})",
            )
        )
    elif run is not None and points:
        figures.append(("lasting spread", lasting, "not measured: the run has no probes"))
    figures += [
        ("mean distance between generated samples", spread, f"about {real_spread:.3g}"),
        (f"coverage of real samples (k={k})", cov, "about 1"),
    ]
    causes = collapse_causes(run, _blank_failure(run)) if run is not None else Causes()
    raise fail(
        "mode-collapse",
        summary,
        figures,
        {
            "spread_ratio": ratio,
            **({"lasting_spread_ratio": lasting} if math.isfinite(lasting) else {}),
            "spread": spread,
            "real_spread": real_spread,
            "coverage": cov,
        },
        detail=" ".join(d for d in (causes.detail, early_note(run_or_samples)) if d),
        fix=causes.fix,
    )


def _blank_failure(run: GANRun) -> GANAssertionError | None:
    """``assert_not_blank``'s failure on ``run``, or None where it passes (or where
    ``collapse_causes`` would not read it)."""
    if not looking_for_causes():
        return None
    try:
        # Only its first line is read: the blank verdict's own causes are not looked for.
        with without_causes():
            assert_not_blank(run)
    except GANAssertionError as failure:
        return failure
    return None


#: The checks of this module (``pytest_gan.checks.ALL``).
NOT_BLANK = Check("not-blank", assert_not_blank, ("blank-output",))
DIVERSE = Check("diverse", assert_diverse, ("mode-collapse",))
