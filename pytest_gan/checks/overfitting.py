"""A discriminator that memorises its training data instead of learning the distribution.

Seed 003: "a lack of sufficient data can lead to the discriminator overfitting to the
training dataset which again, limits the signal that G can use to learn". An overfitting
D scores the real samples it trained on as real and real samples it never saw more like
fakes: its verdict stops being about realism, and G is pushed towards copies of a few
training samples (StyleGAN2-ADA, Karras et al. 2020, FIELD.md).

The evidence is read from the run's probes, which show D, every tenth of the run, a batch
of its training samples and real samples held out of training (``pytest_gan.data``: 256
from data of 768 and more, one in four from smaller data of 64 and more). The figure is
the AUC of D's scores on training samples over held-out ones: 1/2 when D treats unseen
real samples as it treats the ones it trained on, 1 when it tells every training sample
from every unseen one. StyleGAN2-ADA's ``r_v`` (0 no overfitting, 1 held-out samples
scored as fakes) and ``r_t`` are reported beside it. The AUC ranks scores, so it reads a
classifier's probabilities, a hinge D's margins and a critic's scores alike.
"""

from __future__ import annotations

import math

from pytest_gan import _defaults
from pytest_gan.checks._check import Check
from pytest_gan.checks._nonfinite import diverged_verdict
from pytest_gan.checks.balance import late_probes
from pytest_gan.data import holdout_size
from pytest_gan.errors import fail
from pytest_gan.metrics import finite_median
from pytest_gan.run import GANRun, require_instrumented, require_run

#: D tells its training samples from real samples it never saw: the AUC of its scores on
#: training over held-out samples, in the median late probe, at least this (chance: 1/2).
#: Why here: between the healthy most (0.61) and the zoo twin's least (0.75, at 800
#: steps), 2.4 standard errors above chance with the fewest held-out samples; calibration:
#: docs/benchmarks.md "Calibration notes".
MAX_TRAIN_AUC = 0.7

#: ... and scores them towards the fakes: StyleGAN2-ADA's r_v (the held-out samples' mean
#: score moved this share of the way from the training samples' to the fakes') at least
#: this.
#: Why here: below the zoo twin's least (0.40 at 800 steps); the healthy most (0.39) comes
#: from a critic that barely separates real from fake (AUC 0.51) and is no verdict alone,
#: as MAX_TRAIN_AUC must hold too; calibration: docs/benchmarks.md "Calibration notes".
MIN_R_V = 0.3

#: Data from which a quarter is held out (``_defaults.HOLDOUT_SHARE``) is small enough for
#: D to memorise in a longer run than a check's 200 steps: the zoo's twin (64 images)
#: gives AUCs of 0.42-0.72 at 200 steps and 0.75-0.96 at 800 (seeds 0-9). Such a run's
#: verdict waits (``pytest_gan.deciding``) until it has trained this many times its first
#: steps.
SMALL_DATA_FACTOR = _defaults.EXTEND_FACTOR


def held_out(run: GANRun) -> bool:
    """Whether the run's probes showed D real samples held out of training."""
    probes = [p for p in run.history.probes if p.step > 0]
    return bool(probes) and bool(probes[-1].get("held_out", False))


def small_data(run: GANRun) -> bool:
    """Whether the run's held-out samples were a share of small data (under
    ``HOLDOUT + HOLDOUT_MIN_TRAIN`` samples) rather than ``HOLDOUT`` of plenty."""
    size = run.spec.source.size()
    return size is not None and holdout_size(size) < _defaults.HOLDOUT and held_out(run)


def too_early(run: GANRun) -> bool:
    """A run on small data that has not yet trained ``SMALL_DATA_FACTOR`` times its first
    steps: a pass may only mean D has not had time to memorise it."""
    return small_data(run) and run.steps < run.first_steps * SMALL_DATA_FACTOR


def _split_of(run: GANRun) -> str:
    size = run.spec.source.size()
    if size is None:
        return "-"
    held = holdout_size(size)
    return f"{size - held} / {held}"


def assert_d_generalizes(run: GANRun) -> None:
    """D scores real samples it never trained on as it scores its training samples.

    Raises ``GANAssertionError`` with pitfall ``discriminator-overfits`` when, over the last
    third of the run, D's scores rank a training sample above a held-out real sample with
    probability (AUC) at least ``MAX_TRAIN_AUC`` in the median probe, and scores the
    held-out samples at least ``MIN_R_V`` of the way towards the fakes (StyleGAN2-ADA's
    r_v): D has memorised its training set. A run with no held-out samples passes: its data
    came from a ``DataLoader`` (whose samples are not indexed) or held fewer than 64, or
    it is a watched loop given no ``holdout=`` (``pg.watch``).

    A run whose losses went NaN or infinite and that ended with non-finite weights or
    samples fails with ``non-finite-loss`` instead (``_nonfinite.diverged_verdict``).
    """
    __tracebackhide__ = True
    run = require_run(run, "assert_d_generalizes")
    require_instrumented(run, "assert_d_generalizes")
    if not held_out(run):
        return
    diverged_verdict(run, "assert_d_generalizes")
    late = late_probes(run)
    train_auc = finite_median([p.d_train_auc for p in late])
    r_v = finite_median([p.r_v for p in late])
    if not (math.isfinite(train_auc) and train_auc >= MAX_TRAIN_AUC and r_v >= MIN_R_V):
        return
    real_fake = finite_median([p.d_auc for p in late])
    window = f"steps {late[0]['step']}-{late[-1]['step']}"
    raise fail(
        "discriminator-overfits",
        f"D has memorised its training samples over {window}: it scores them above real "
        f"samples it never trained on (AUC {train_auc:.2f}; 0.5 when it treats both alike), "
        "so its feedback to G is about those samples, not about realism.",
        [
            (
                "D's AUC, training vs held-out real samples (median)",
                train_auc,
                f"< {MAX_TRAIN_AUC:g} (chance 0.5)",
            ),
            (
                "r_v: held-out real samples scored towards fakes (median)",
                r_v,
                f"< {MIN_R_V:g} (0: none)",
            ),
            ("D's AUC, held-out real vs fake (median)", real_fake, "-"),
            ("real samples: trained on / held out", _split_of(run), "-"),
        ],
        {
            "train_auc": train_auc,
            "r_v": r_v,
            "real_fake_auc": real_fake,
            "probes": len(late),
        },
    )


def judges_held_out(run: GANRun) -> str | None:
    """None when real samples were held out of ``run``'s training, else why not."""
    if held_out(run):
        return None
    if getattr(run, "watched", False):
        return (
            "no real samples held out of the watched loop's training: pass them to "
            "pg.watch(..., holdout=...)"
        )
    return "no real samples were held out of training (a DataLoader, or under 64 samples)"


#: The check of this module (``pytest_gan.checks.ALL``).
D_GENERALIZES = Check(
    "d-generalizes", assert_d_generalizes, ("discriminator-overfits",), applies=judges_held_out
)
