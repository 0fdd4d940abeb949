"""What a baseline measures of a run: the figures of :func:`summarize` (windowed losses, D's
accuracy, diversity, distances to the data, output statistics), what each means, which
direction is worse, and the least spread its band assumes (torch imported only to measure).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

    from pytest_gan.run import GANRun

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
LATE_ACCURACY_SHARE = 1 / 2

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

WORSE_HIGHER = "higher"
WORSE_LOWER = "lower"
WORSE_EITHER = "either"
WORSES = (WORSE_HIGHER, WORSE_LOWER, WORSE_EITHER)

# What a figure's floor is a share of (see FLOOR_RELATIVE and the floors after it).
SCALE_CENTRE = "centre"
SCALE_UNIT = "unit"
SCALE_WIDTH = "width"


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
            SCALE_CENTRE,
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
        SCALE_UNIT,
    ),
    FigureSpec(
        "d_acc_fake",
        "share of generated samples D calls fake, mean of the late probes",
        WORSE_EITHER,
        FLOOR_SHARE,
        SCALE_UNIT,
    ),
    FigureSpec(
        "diversity",
        "mean distance between two generated samples / between two real ones",
        WORSE_LOWER,
        FLOOR_SHARE,
        SCALE_UNIT,
    ),
    FigureSpec(
        "energy_distance",
        "energy distance between generated and real samples (0: same distribution)",
        WORSE_HIGHER,
        FLOOR_RELATIVE,
        SCALE_CENTRE,
    ),
    FigureSpec(
        "coverage",
        f"share of real samples with a generated one among their {COVERAGE_K} nearest real "
        "neighbours (Naeem et al. 2020)",
        WORSE_LOWER,
        FLOOR_SHARE,
        SCALE_UNIT,
    ),
    FigureSpec(
        "output_mean", "mean of the generated values", WORSE_EITHER, FLOOR_OUTPUT, SCALE_WIDTH
    ),
    FigureSpec(
        "output_std",
        "standard deviation of the generated values",
        WORSE_EITHER,
        FLOOR_OUTPUT,
        SCALE_WIDTH,
    ),
    FigureSpec(
        "output_low",
        f"{RANGE_QUANTILES[0]:.1%} quantile of the generated values",
        WORSE_EITHER,
        FLOOR_RANGE,
        SCALE_WIDTH,
    ),
    FigureSpec(
        "output_high",
        f"{RANGE_QUANTILES[1]:.1%} quantile of the generated values",
        WORSE_EITHER,
        FLOOR_RANGE,
        SCALE_WIDTH,
    ),
)
BY_NAME = {f.name: f for f in FIGURES}


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
        first = min(broken.first_step * windows // run.steps, windows - 1)
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


def sample_quality(run: GANRun, *, initial: bool) -> tuple[torch.Tensor, dict[str, float]]:
    """The samples a summary judges (of the generator before its first step when
    ``initial``) and their ``QUALITY_FIGURES``."""
    from pytest_gan.metrics import coverage, energy_distance, mean_pairwise_distance

    n = run.sample_count(SUMMARY_SAMPLES)
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
    from pytest_gan.metrics import flat
    from pytest_gan.run import require_instrumented, require_run

    require_run(run, "summarize")
    require_instrumented(run, "summarize")
    out: dict[str, float] = {}
    for key in ("d_loss", "g_loss"):
        for i, value in enumerate(_window_means(run, key), start=1):
            out[f"{key}[{i}/{LOSS_WINDOWS}]"] = value
    late = [p for p in run.history.probes if p.step > run.steps * (1 - LATE_ACCURACY_SHARE)]
    for name in ("d_acc_real", "d_acc_fake"):
        out[name] = statistics.fmean(float(p[name]) for p in late) if late else math.nan
    fake, quality = sample_quality(run, initial=False)
    out.update(quality)
    values = flat(fake).reshape(-1)
    out["output_mean"] = float(values.mean())
    out["output_std"] = float(values.std())
    out["output_low"] = _quantile(values, RANGE_QUANTILES[0])
    out["output_high"] = _quantile(values, RANGE_QUANTILES[1])
    return out
