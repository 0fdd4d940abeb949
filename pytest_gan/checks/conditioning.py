"""The conditioning check: do a conditional generator's labels change its samples.

Each latent vector z is generated under every label, and a nearest-class-centroid
classifier fitted on the samples of half of the z is asked to name the label of the
samples of the other half. A generator that ignores its labels gives the same sample for
the same z whatever the label, so the classifier can do no better than chance (1 / number
of classes); an exact binomial test at the number of held-out samples decides whether it
did better. The same classifier fitted on real labelled data is reported alongside, as
the separation the data's own classes have in the same space.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import torch

from pytest_gan._args import check_int
from pytest_gan.checks._check import Check
from pytest_gan.checks._nonfinite import diverged_verdict, nonfinite_verdict
from pytest_gan.checks.outputs import early_note
from pytest_gan.errors import GANNotApplicableWarning, fail
from pytest_gan.metrics import common_scale
from pytest_gan.run import GANRun, require_run

#: Generated samples the check draws in all, split evenly among the labels (at least 2 per
#: label: one z to fit on, one to test). With 4 classes: 256 z, each under every label,
#: half fitted on and 512 samples held out, where the binomial test's critical accuracy at
#: CONDITIONING_SIGNIFICANCE is 31% against chance's 25%.
CONDITIONING_SAMPLES = 1024

#: Largest p-value, under the hypothesis that the labels do not change the samples, at
#: which the classifier's held-out accuracy counts as above chance.
#: Why here: the most often a generator whose labels change nothing passes by luck; the
#: healthy cGAN gives about 6e-309, the twin 0.52; calibration: docs/benchmarks.md
#: "Calibration notes".
CONDITIONING_SIGNIFICANCE = 1e-3


#: Share of the samples' variance due to the label below which the labels count as not
#: reaching the samples at all.
#: Why here: a generator blind to its labels gives 0 on CPU and 2.5e-16 on CUDA, the
#: healthy least 0.007; calibration: docs/benchmarks.md "Calibration notes".
NO_LABEL_EFFECT = 1e-9


def binomial_tail(successes: int, trials: int, p: float) -> float:
    """``P[X >= successes]`` for ``X ~ Binomial(trials, p)``, exactly (summed in log space)."""
    if not 0 <= successes <= trials:
        raise ValueError(f"successes must lie in [0, trials={trials}]; got {successes}")
    if not 0 < p < 1:
        raise ValueError(f"p must lie in (0, 1); got {p}")
    if successes == 0:
        return 1.0
    log_p, log_q = math.log(p), math.log1p(-p)
    terms = [
        math.lgamma(trials + 1)
        - math.lgamma(i + 1)
        - math.lgamma(trials - i + 1)
        + i * log_p
        + (trials - i) * log_q
        for i in range(successes, trials + 1)
    ]
    top = max(terms)
    return min(1.0, math.exp(top) * sum(math.exp(t - top) for t in terms))


def critical_accuracy(trials: int, num_classes: int) -> float:
    """The least held-out accuracy that counts as above chance at ``trials`` samples: the
    smallest share whose binomial p-value is at most ``CONDITIONING_SIGNIFICANCE``."""
    chance = 1 / num_classes
    successes = math.floor(trials * chance)
    while successes < trials and binomial_tail(successes, trials, chance) > (
        CONDITIONING_SIGNIFICANCE
    ):
        successes += 1
    return successes / trials


def centroid_predictions(
    fit: torch.Tensor, fit_labels: torch.Tensor, test: torch.Tensor, num_classes: int
) -> torch.Tensor:
    """Labels of ``test`` by their nearest class centroid of ``fit`` (rows of features);
    ties go to the lowest label. A class absent from ``fit`` is never predicted."""
    centroids = torch.full(
        (num_classes, fit.shape[1]), math.inf, dtype=fit.dtype, device=fit.device
    )
    for c in range(num_classes):
        members = fit[fit_labels == c]
        if members.shape[0]:
            centroids[c] = members.mean(dim=0)
    present = torch.isfinite(centroids).all(dim=1)
    distances = torch.cdist(test, torch.where(present[:, None], centroids, 0.0))
    distances[:, ~present] = math.inf
    return distances.argmin(dim=1)


@dataclass(frozen=True)
class LabelSeparability:
    """How well a generator's samples can be told apart by label.

    ``correct`` of ``trials`` held-out samples were named their own label; ``p_value`` is
    the chance of at least that many if labels changed nothing (``binomial_tail`` at 1 /
    ``num_classes``); ``label_share`` is the share of the samples' variance that changes
    with the label for a fixed z (0 when the labels do nothing).
    """

    correct: int
    trials: int
    num_classes: int
    p_value: float
    label_share: float

    @property
    def accuracy(self) -> float:
        return self.correct / self.trials

    @property
    def chance(self) -> float:
        return 1 / self.num_classes


def label_separability(samples_by_label: torch.Tensor) -> LabelSeparability:
    """Judge ``[num_classes, m, ...]`` samples: row ``c`` holds G(z_j, c) for the same
    ``z_1..z_m`` in every row. A nearest-class-centroid classifier is fitted on the samples
    of the first half of the z and tested on the rest."""
    if not isinstance(samples_by_label, torch.Tensor) or samples_by_label.ndim < 3:
        raise ValueError("samples_by_label must be a Tensor [num_classes, m, ...]")
    k, m = samples_by_label.shape[:2]
    if k < 2 or m < 2:
        raise ValueError(
            f"samples_by_label needs at least 2 labels and 2 z; got shape "
            f"{list(samples_by_label.shape)}"
        )
    x = samples_by_label.detach().reshape(k, m, -1).double()
    # Accuracy and variance share are the same for samples scaled by a power of two: 1
    # for ordinary data, and one that keeps the distances and variances of finite values
    # near float64's largest from overflowing.
    x = x / common_scale(x)
    half = m // 2
    labels = torch.arange(k, device=x.device)
    fit_labels = labels.repeat_interleave(half)
    test_labels = labels.repeat_interleave(m - half)
    predicted = centroid_predictions(
        x[:, :half].reshape(k * half, -1), fit_labels, x[:, half:].reshape(-1, x.shape[2]), k
    )
    correct = int((predicted == test_labels).sum())
    trials = int(test_labels.shape[0])
    total = float(x.reshape(k * m, -1).var(dim=0, unbiased=False).sum())
    across_labels = float(x.var(dim=0, unbiased=False).sum(dim=-1).mean())
    share = across_labels / total if total > 0 else 0.0
    return LabelSeparability(correct, trials, k, binomial_tail(correct, trials, 1 / k), share)


def samples_by_label(run: GANRun, samples: int = CONDITIONING_SAMPLES) -> torch.Tensor:
    """``[num_classes, samples // num_classes, ...]``: row ``c`` holds the final
    generator's samples for label ``c`` (eval mode), the same z in every row, drawn from
    the run's seed."""
    run = require_run(run, "samples_by_label")
    k = run.spec.num_classes
    if k is None:
        raise ValueError(f"run must be conditional (spec.num_classes set); {run.name!r} is not")
    return torch.stack([run.samples(samples // k, labels=c) for c in range(k)])


def real_class_accuracies(run: GANRun, n: int, generated: torch.Tensor) -> tuple[float, float]:
    """The classifier fitted on half of ``n`` real labelled samples: its accuracy on the
    other half (the real classes' own separation) and on the held-out half of the z of
    ``generated`` (as :func:`samples_by_label` gives: do they look like their label's real
    class). NaN where the data gives no labels."""
    k = generated.shape[0]
    x, y = run.real_with_labels(n)
    if y is None:
        return math.nan, math.nan
    unit = common_scale(x, generated)  # as in label_separability, both sides alike
    x = x.reshape(x.shape[0], -1).double() / unit
    half = n // 2
    fit, fit_y = x[:half], y[:half]
    real_acc = (centroid_predictions(fit, fit_y, x[half:], k) == y[half:]).double().mean()
    m = generated.shape[1]
    test = generated[:, m // 2 :].reshape(k * (m - m // 2), -1).double() / unit
    test_y = torch.arange(k, device=test.device).repeat_interleave(m - m // 2)
    fake_acc = (centroid_predictions(fit, fit_y, test, k) == test_y).double().mean()
    return float(real_acc), float(fake_acc)


def assert_conditioning_effective(run: GANRun, *, samples: int = CONDITIONING_SAMPLES) -> None:
    """Samples for different labels can be told apart.

    Draws ``samples`` samples of the final generator (eval mode), the same z under every
    label, and fits a nearest-class-centroid classifier on half of the z; when it names
    the label of the held-out half no better than chance (binomial test, p-value above
    ``CONDITIONING_SIGNIFICANCE``), raises ``GANAssertionError`` with pitfall
    ``conditioning-ignored``. The verdict is deterministic (z from the run's seed) and
    decides whether the labels change the samples at all, not whether each label's
    samples look like its real class: that figure is reported in the evidence, beside the
    same classifier's accuracy on held-out real data.

    An unconditional run (``spec.num_classes`` not set) passes with a
    ``GANNotApplicableWarning`` saying that nothing was checked.
    """
    __tracebackhide__ = True
    run = require_run(run, "assert_conditioning_effective")
    k = run.spec.num_classes
    if k is None:
        check_int(samples, "samples", least=2)
        diverged_verdict(run, "assert_conditioning_effective")
        warnings.warn(
            GANNotApplicableWarning(
                f"assert_conditioning_effective: run {run.name!r} is unconditional "
                "(spec.num_classes not set): there are no labels whose effect to check, and "
                "nothing was checked. For a conditional generator, set num_classes in its "
                "GANSpec (G is then called as G(z, labels))"
            ),
            stacklevel=2,
        )
        return
    check_int(samples, "samples", least=2 * k, why=" (2 * num_classes)")
    m = samples // k
    trials = k * (m - m // 2)
    if binomial_tail(trials, trials, 1 / k) > CONDITIONING_SIGNIFICANCE:
        raise ValueError(
            f"samples={samples} leaves {trials} held-out samples for {k} labels: too few for "
            f"even a perfect score to be significant at {CONDITIONING_SIGNIFICANCE:g}; "
            "draw more"
        )
    generated = samples_by_label(run, samples)
    nonfinite_verdict(run, generated, "assert_conditioning_effective")
    result = label_separability(generated)
    if result.p_value <= CONDITIONING_SIGNIFICANCE:
        return
    n_real = run.sample_count(samples)
    real_acc, fake_acc = real_class_accuracies(run, n_real, generated)
    critical = critical_accuracy(result.trials, result.num_classes)
    if result.label_share < NO_LABEL_EFFECT:
        cause = (
            "The same z gives the same sample whatever the label (to rounding): the labels "
            "never reach the generator's output. Check that G.forward uses its label input and "
            "that the label embedding is not dropped (sliced off, overwritten) on the way."
        )
    else:
        cause = (
            f"The labels change {result.label_share:.2%} of the samples' variance for a "
            "fixed z, too little to tell them apart: G ignores them. Check "
            "that D is shown the labels G was given, for the fakes in both steps. "
        ) + early_note(run)
    raise fail(
        "conditioning-ignored",
        f"Samples for different labels cannot be told apart: a classifier fitted on "
        f"generated samples names the label of {result.accuracy:.1%} of held-out ones, "
        f"chance being {result.chance:.1%} (p = {result.p_value:.2g}).",
        [
            ("held-out samples named their label", result.accuracy, f">= {critical:.3g}"),
            (
                "p-value (labels change nothing)",
                result.p_value,
                f"<= {CONDITIONING_SIGNIFICANCE:g}",
            ),
            ("share of variance due to the label", result.label_share, f">= {NO_LABEL_EFFECT:g}"),
            ("held-out samples", result.trials, "-"),
            ("real held-out samples named their class", real_acc, "-"),
            ("samples named their label by real classes", fake_acc, "-"),
        ],
        {
            "accuracy": result.accuracy,
            "correct": result.correct,
            "trials": result.trials,
            "chance": result.chance,
            "p_value": result.p_value,
            "label_share": result.label_share,
            "real_accuracy": real_acc,
            "fake_accuracy_by_real_classes": fake_acc,
            "num_classes": k,
        },
        detail=cause,
    )


def judges_conditional(run: GANRun) -> str | None:
    """None for a conditional run, else why the check does not apply."""
    return None if run.conditional else "the spec is unconditional (num_classes not set)"


#: The check of this module (``pytest_gan.checks.ALL``).
CONDITIONING = Check(
    "conditioning",
    assert_conditioning_effective,
    ("conditioning-ignored",),
    applies=judges_conditional,
)
