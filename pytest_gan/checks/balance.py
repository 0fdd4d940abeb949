"""The balance of the game: a discriminator that overpowers the generator, or one too weak
to teach it.

Both verdicts read the run's probes (``run.history.probes``): D's scores on held-out real
samples and on fresh fakes, taken every tenth of the run. They judge the last third of the
run, where a healthy game has settled, and never D's accuracy alone: a healthy DCGAN's D
is right on nearly every sample early on (FIELD.md), so dominance only counts together
with the generator's signal dying. A critic trained with a gradient penalty is judged too
weak on its slope as well, the figure its penalty holds near 1; and any D is too weak when
its optimizer moves it far more slowly than G's moves G (the history's paces), unless it
does not move because it has won outright (its loss at its floor, no gradient): that D
overpowers.
"""

from __future__ import annotations

import math

from pytest_gan.checks._causes import settings
from pytest_gan.checks._check import Check
from pytest_gan.checks._common import CLASSIFIER, CRITIC, least_squares, score_kind
from pytest_gan.checks._nonfinite import diverged_verdict
from pytest_gan.checks.lipschitz import has_gradient_penalty, run_gradient_norms
from pytest_gan.errors import fail
from pytest_gan.history import Probe, gap_closed
from pytest_gan.metrics import finite_median
from pytest_gan.run import (
    GANRun,
    noting_short_run,
    require_instrumented,
    require_run,
    verdict_at_first_steps,
)

#: The pitfalls this check names.
_PITFALLS = ("discriminator-overpowers", "discriminator-too-weak")

#: The judged window: probes taken in the last third of the run.
LATE_SHARE = 1 / 3

#: D separates real from fake almost perfectly: its scores rank a real sample above a fake
#: one with probability (AUC) at least this, in the median late probe.
#: Why here: evidence of dominance, not a verdict alone (healthy references reach it);
#: calibration: docs/benchmarks.md "Calibration notes".
DOMINANT_AUC = 0.99

#: ... and is certain: D's mean probability that a fake is real, in the median late probe,
#: at most this (G's loss -log D(G(z)) above 3.0; the saturating loss's gradient dying).
#: Not read for a least-squares D (``least_squares``). Why here: 3.2x below the zoo's
#: healthy least (0.163) and 3.5x above D at 20x G's rate (0.0143; the 100x twin 0.0019);
#: calibration: docs/benchmarks.md "Calibration notes".
MAX_FAKE_BELIEF = 0.05

#: ... *while* G's samples have come little nearer the data: at most this share of the gap
#: between the initial generator's samples and the data closed by the judged window
#: (``progress_over_run``; where no gap can be read, certainty alone decides). Why here:
#: 1.11x above the planted certain Ds' most (0.505) and 1.14x below the least of healthy
#: runs with a certain D (0.636, outside DCGANs lagging at 200 steps); kernel settings
#: moved a certain run's by 0.022 at most. Calibration: docs/benchmarks.md "Calibration notes".
MAX_PROGRESS_UNDER_CERTAIN_D = 0.56

#: D is too weak when G fools it: its scores rank fakes above real samples, an AUC in the
#: median late probe of at most this (a nearly static D is exploited by G, towards 0).
#: Why here: five standard errors of a 64 + 64 sample AUC below chance, between the healthy
#: least (0.524) and the weak-D twin (0.000); calibration: docs/benchmarks.md "Calibration
#: notes".
MAX_WEAK_AUC = 0.25

#: ... *and* D believes them: its mean probability that a fake is real, in the median late
#: probe, at least this (G's loss -log D(G(z)) below 0.6, under the 0.69 of a D at chance),
#: for a D that moves no faster than G (``FOOLED_PACE``). A healthy D at its equilibrium can
#: rank G's samples above the data at even odds. Why here: between the healthy most under
#: the AUC limit (0.519, blob MLP GANs) and the weak Ds' least (0.564), both kernel
#: settings; calibration: docs/benchmarks.md "Calibration notes".
MIN_FOOLED_BELIEF = 0.55

#: ... and, for a D that moves faster than G (its pace over G's above ``FOOLED_PACE``), at
#: least this: a fast D that G fools for a while at odds near even is chasing G, not weak.
#: Why here: midway, on G's loss, between a healthy fast D's most (0.576, an outside DRAGAN)
#: and the least of fooled Ds keeping pace that are broken (0.708), both kernel settings;
#: calibration: docs/benchmarks.md "Calibration notes".
MIN_FOOLED_BELIEF_FAST_D = 0.64

#: D's pace over G's (``paces``) above which a fooled D needs ``MIN_FOOLED_BELIEF_FAST_D``.
#: Why here: D no faster than G; the geometric mean of the weak Ds' most under the belief
#: limits (0.41, D at 1/5 of G's rate) and the healthy fast D's (2.29), 2.4x from each;
#: calibration: docs/benchmarks.md "Calibration notes".
FOOLED_PACE = 1.0

# A Wasserstein critic's scores are no classifier's: it ranks G's samples above the data for
# long stretches of healthy runs (AUC down to 0.01 on ring-wgan-gp), so a low AUC alone says
# nothing of it, and it is never judged as overpowering (``score_kind``: the ``wgan-gp``
# loss, or a user's step whose loss only averages and subtracts D's scores).

#: A critic trained with a gradient penalty is too weak when G fools it (``MAX_WEAK_AUC``)
#: *and* its slope, the median ``||grad_x D||`` at interpolates between the data and the
#: fakes (``lipschitz.run_gradient_norms``; the penalty aims at 1), is at most this.
#: Why here: 1.23x below the healthy least (0.862) and 1.31x above the wild weak critic's most
#: (0.534, 800 steps); calibration: docs/benchmarks.md "Calibration notes".
MAX_WEAK_SLOPE = 0.7

#: D is too weak, whatever its scores, when its optimizer moves it far more slowly than G's
#: moves G: D's pace over G's (``paces``) is at most this (a learning rate typed 100x small).
#: Why here: the geometric mean of the healthy least (0.455) and the weak-D mutations' most
#: at 200 steps (0.073), 2.5x from each; GANs updating D several times a step, read from
#: its first update: 0.385 and 0.023. Calibration: docs/benchmarks.md "Calibration notes".
MAX_WEAK_PACE = 0.18


#: A D that barely moves (``MAX_WEAK_PACE``) is no weak D but one that has won outright when,
#: on at least this share of its read steps, its optimizer saw a gradient of exactly 0 (its
#: loss at its floor: every sample beyond a hinge margin), with the AUC at least
#: ``DOMINANT_AUC``: the verdict is ``discriminator-overpowers``. It only renames a failure.
#: Why here: half the least of a D at rest (0.533, the tests' tiny hinge D at 10^5x G's
#: rate), against 0.000 for every weak-D mutation and twin; calibration: docs/benchmarks.md
#: "Calibration notes".
MIN_RESTING_SHARE = 0.25


def late_probes(run: GANRun, share: float = LATE_SHARE) -> list[Probe]:
    """The probes of the judged window: the last ``share`` of the run (by default its last
    third; step 0 excluded)."""
    start = run.steps * (1 - share)
    return [p for p in run.history.probes if p.step > 0 and p.step >= start]


def closing_share(run: GANRun) -> float:
    """``history.gap_closed`` over the judged window, from its first probe to its last
    (NaN with fewer than two). Measured by benchmarks/calibrate_overpowering.py; no
    verdict reads it: healthy runs often close nothing over their last third
    (docs/benchmarks.md, "A certain D and a generator still learning")."""
    late = late_probes(run)
    return gap_closed(late[0], late[-1]) if len(late) >= 2 else math.nan


def progress_over_run(run: GANRun) -> float:
    """How much of the gap between G's first samples and the data G has closed by the
    judged window: ``history.gap_closed`` from the probe at step 0 to the judged window's
    median ``fake_to_real`` (the median of its probes, so that one probe's batch of fakes
    does not decide). 1: at the data; 0: no nearer than the initial generator; ``inf``
    when the initial samples were already as near the data as real samples are; NaN
    without the figures (no probe at step 0, none in the judged window, or probes without
    ``fake_to_real``)."""
    late = late_probes(run)
    first = run.history.probe_at(0)
    if first is None or not late:
        return math.nan
    now = {"fake_to_real": finite_median([p.get("fake_to_real", math.nan) for p in late])}
    return gap_closed(first, now)


def paces(run: GANRun) -> tuple[float, float, int]:
    """D's and G's pace, and the fewer of their readings: the median over the run of each
    network's ``d_pace`` / ``g_pace`` (the median over its weight tensors of 2+ dimensions
    that had a gradient at that step of each one's update / weight norm, read on every
    ``NORM_EVERY``-th step). NaN where a network has no reading, or both share one
    optimizer (whose step is both networks' at once)."""
    h = run.history
    if "d_pace" not in h or "g_pace" not in h:
        return math.nan, math.nan, 0
    if h.wiring is not None and h.wiring.same_optimizer:
        return math.nan, math.nan, 0
    d = [v for v in h["d_pace"] if math.isfinite(v)]
    g = [v for v in h["g_pace"] if math.isfinite(v)]
    return finite_median(d), finite_median(g), min(len(d), len(g))


def _window_mean(values: list[float], start: int, stop: int, steps: list[int]) -> float:
    chosen = [v for v, s in zip(values, steps, strict=True) if start <= s < stop]
    finite = [v for v in chosen if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else math.nan


def assert_losses_balanced(run: GANRun) -> None:
    """Neither network wins the game outright by the end of the run.

    Raises ``GANAssertionError`` with pitfall ``discriminator-overpowers`` when, over the
    last third of the run, D separates real from fake almost perfectly (AUC >=
    ``DOMINANT_AUC``) *and* is certain about the fakes (mean probability that a fake is
    real <= ``MAX_FAKE_BELIEF``: G's loss climbing, its saturating gradient dying) *while*
    G's samples have closed at most ``MAX_PROGRESS_UNDER_CERTAIN_D`` of the gap between
    the initial generator's samples and the data (``progress_over_run``: a certain D
    beside a G that learns all the same is a healthy GAN's D-dominated start; where that
    share cannot be read, certainty alone decides); with
    pitfall ``discriminator-too-weak`` when G fools D (AUC <= ``MAX_WEAK_AUC``: D ranks the
    fakes as more real than the real samples, *and* its mean probability that a fake is
    real is at least ``MIN_FOOLED_BELIEF``, or ``MIN_FOOLED_BELIEF_FAST_D`` for a D that
    moves faster than G, ``FOOLED_PACE``: G is winning, not sitting at an equilibrium
    where D gives its samples even odds, nor ahead for a while of a D chasing it). Both
    verdicts need D's outputs to read as probabilities or logits (not a hinge D's scores,
    whose weakness the pace shows). A D trained on a least-squares loss
    (``least_squares``: LSGAN) is never overpowering by its certainty: G's least-squares
    loss keeps its gradient where D is certain.

    Whatever its scores, D of any kind is too weak when its optimizer moves it far more
    slowly than G's moves G: D's pace over G's (``paces``) at most ``MAX_WEAK_PACE``;
    unless a D other than a Wasserstein critic does not move because it has won outright
    (a gradient of exactly 0 on at least ``MIN_RESTING_SHARE`` of its read steps, its loss
    at its floor: in practice a hinge D with every sample beyond its margin; and its AUC
    at least ``DOMINANT_AUC``): then ``discriminator-overpowers``.

    A Wasserstein critic (loss ``"wgan-gp"``, or a user's step whose loss only averages and
    subtracts D's scores: ``score_kind``) is never judged as overpowering, and a low AUC
    alone is no verdict on it (a healthy critic ranks G's samples above the data for long
    stretches). A critic trained with a gradient penalty is too weak when G fools it *and*
    its slope between the data and the fakes (the median ``||grad_x D||`` the penalty
    holds near 1) is at most ``MAX_WEAK_SLOPE``. A critic without a penalty (weight
    clipping) has no target slope to read: ``assert_lipschitz`` judges its constraint.
    A run in which G never stepped (a watched loop that ended first) passes: no game was
    played, and ``assert_generator_learns`` fails it.

    A run whose losses went NaN or infinite and that ended with non-finite weights or
    samples fails with ``non-finite-loss`` instead (``_nonfinite.diverged_verdict``).
    """
    __tracebackhide__ = True
    run = require_run(run, "assert_losses_balanced")
    require_instrumented(run, "assert_losses_balanced")
    # A run that ended diverged is named so, even where the verdict at its first steps
    # (before it diverged, while trained on for another check) would stand.
    diverged_verdict(run, "assert_losses_balanced")
    if verdict_at_first_steps(run, "assert_losses_balanced", own=_PITFALLS):
        return
    with noting_short_run(run):
        _judge_balance(run)


def _judge_balance(run: GANRun) -> None:
    """``assert_losses_balanced`` on ``run`` as it is."""
    __tracebackhide__ = True
    kind = score_kind(run)
    late = late_probes(run)
    if kind == CRITIC:
        if late:
            _judge_critic(run, finite_median([p.d_auc for p in late]), late)
        _judge_pace(run, kind)
        return
    if not late:
        # Only a run in which G never stepped has no probe after step 0 (``train`` probes
        # its last step): a watched loop that ended before G's first update. No game was
        # played; assert_generator_learns fails such a run (opt_g never stepped).
        return
    auc = finite_median([p.d_auc for p in late])
    # A hinge D's margin scores carry no probability: no belief to read (the probes of a
    # user's step read them as logits, not knowing the loss).
    belief = finite_median([p.d_fake_p for p in late]) if kind == CLASSIFIER else math.nan
    h = run.history
    steps = h.steps
    first, last = run.steps * LATE_SHARE, run.steps * (1 - LATE_SHARE)
    g_early = _window_mean(h["g_loss"], 0, int(first), steps) if "g_loss" in h else math.nan
    g_late = _window_mean(h["g_loss"], int(last), run.steps, steps) if "g_loss" in h else math.nan
    d_late = _window_mean(h["d_loss"], int(last), run.steps, steps) if "d_loss" in h else math.nan
    window = f"steps {late[0]['step']}-{late[-1]['step']}"
    evidence = {
        "auc": auc,
        "fake_belief": belief,
        "g_loss_early": g_early,
        "g_loss_late": g_late,
        "d_loss_late": d_late,
        "probes": len(late),
    }
    losses = [
        ("g_loss, first third (mean)", g_early, "-"),
        ("g_loss, last third (mean)", g_late, "-"),
        ("d_loss, last third (mean)", d_late, "-"),
    ]
    # Under a least-squares loss G's gradient (D(G(z)) - 1) does not die where D is
    # certain, and healthy LSGANs' beliefs reach below the overpowering twin's (0.016
    # against 0.033): certainty decides nothing there (docs/benchmarks.md "A certain
    # least-squares D"). Nor does it where G's samples have come well towards the data
    # all the same: a healthy DCGAN lagging at 200 steps (docs/benchmarks.md "A certain D
    # and a generator still learning").
    progress = progress_over_run(run)
    readable = math.isfinite(progress)
    learning = readable and progress > MAX_PROGRESS_UNDER_CERTAIN_D
    certain = auc >= DOMINANT_AUC and belief <= MAX_FAKE_BELIEF
    if certain and not least_squares(run) and not learning:
        raise fail(
            "discriminator-overpowers",
            f"D rejects G's samples with certainty over {window}: it gives a fake a "
            f"{belief:.1%} chance of being real. {_progress_words(progress)}",
            [
                ("D's AUC, real vs fake (median)", auc, "often ~1 early; not the verdict"),
                ("D's belief a fake is real (median)", belief, f"> {MAX_FAKE_BELIEF:g}"),
                (
                    "share of the gap to the data G closed since step 0",
                    progress if readable else _unread(progress),
                    f"> {MAX_PROGRESS_UNDER_CERTAIN_D:g} (G learning all the same)",
                ),
                *losses,
            ],
            {**evidence, "progress": progress},
            detail=settings(run),
        )
    pace = _pace_ratio(run)
    fast = pace > FOOLED_PACE  # NaN (no readings) is not fast: the lower limit, 0.55
    least = MIN_FOOLED_BELIEF_FAST_D if fast else MIN_FOOLED_BELIEF
    if auc <= MAX_WEAK_AUC and belief >= least:
        raise fail(
            "discriminator-too-weak",
            f"G fools D over {window}: D ranks G's samples as more real than the real "
            f"ones (AUC {auc:.2f}, chance 0.5) and gives a fake a {belief:.0%} chance of "
            "being real, so it no longer teaches G anything.",
            [
                ("D's AUC, real vs fake (median)", auc, f"> {MAX_WEAK_AUC:g} (chance 0.5)"),
                ("D's belief a fake is real (median)", belief, f"< {least:g}"),
                (
                    "D's pace / G's",
                    pace,
                    f"> {FOOLED_PACE:g}: the limit above is {MIN_FOOLED_BELIEF_FAST_D:g}",
                ),
                *losses,
            ],
            {**evidence, "pace_ratio": pace, "belief_limit": least},
            detail=settings(run),
        )
    _judge_pace(run, kind)


def _pace_ratio(run: GANRun) -> float:
    """D's pace over G's (``paces``), NaN without two readings of each."""
    d_pace, g_pace, readings = paces(run)
    return d_pace / g_pace if readings >= 2 and g_pace > 0 else math.nan


def _unread(progress: float) -> str:
    """The evidence row of a progress that cannot be read: NaN (no figures) or inf (no
    gap)."""
    return "- (not measured)" if math.isnan(progress) else "- (no gap to read)"


def _progress_words(progress: float) -> str:
    """What G's progress since step 0 (``progress_over_run``) says beside a certain D."""
    if math.isnan(progress):
        return (
            "G's progress towards the data was not measured (no probe at step 0 or in the "
            "judged window), so D's certainty alone decides."
        )
    if math.isinf(progress):
        return (
            "G's progress towards the data cannot be read on this data (its first samples "
            "were already as near the data as real samples are to each other), so D's "
            "certainty alone decides."
        )
    if progress < 0:
        return (
            "G has learned nothing against it: its samples have moved away from the data "
            f"since its first ones ({-progress:.0%} of their gap further)."
        )
    return (
        f"G has learned little against it: its samples have closed {progress:.0%} of the "
        "gap between its first samples and the data."
    )


def _judge_pace(run: GANRun, kind: str) -> None:
    """A D whose optimizer moves it far more slowly than G's moves G (``MAX_WEAK_PACE``):
    too slow to teach G, whatever its scores say yet (a D that barely moves can still rank
    G's first samples below the data, and a critic's scores rank nothing)."""
    __tracebackhide__ = True
    d_pace, g_pace, readings = paces(run)
    if readings < 2 or not g_pace > 0:
        # Fewer than two readings of each, or a G that does not move (generator-not-learning
        # is assert_generator_learns's verdict): no pace to compare.
        return
    ratio = d_pace / g_pace
    if not ratio <= MAX_WEAK_PACE:
        return
    if kind != CRITIC:
        # (A critic's signed loss has no floor to rest on: never judged as overpowering.)
        _judge_won(run, d_pace, g_pace, readings)
    if ratio == 0:
        how = "does not move at all, while G does"
    else:
        how = f"learns {1 / ratio:.0f}x more slowly than G"
    raise fail(
        "discriminator-too-weak",
        f"D {how}: a step of its optimizer moves D's weights by {d_pace:.2g} of "
        f"their norm, G's by {g_pace:.2g} (medians over the run). A D that barely moves "
        "cannot teach G what the data looks like.",
        [
            ("D's relative update per step (median)", d_pace, "-"),
            ("G's relative update per step (median)", g_pace, "-"),
            ("D's pace / G's", ratio, f"> {MAX_WEAK_PACE:g}"),
        ],
        {"d_pace": d_pace, "g_pace": g_pace, "pace_ratio": ratio, "readings": readings},
        detail="Check D's learning rate (a typo of a factor of 10 or 100 is the usual "
        f"cause) and its optimizer's settings. {settings(run)}".rstrip(),
    )


def resting_share(run: GANRun) -> float:
    """The share of D's optimizer steps, among those whose norms the run read (every
    ``NORM_EVERY``-th, over the whole run, as ``paces``), at which the gradient D's
    optimizer saw was exactly 0: D's loss at its floor (a margin loss with every sample of
    the batch beyond the margin), so the step moved nothing. NaN with no such reading. A
    D that barely moves because its learning rate is tiny still has a gradient; this
    reads the steps whatever loss the step returns (the first of several D updates in a
    step, as every norm reading is)."""
    h = run.history
    if "d_grad_norm" not in h:
        return math.nan
    reads = [v for v in h["d_grad_norm"] if math.isfinite(v)]
    return sum(v == 0.0 for v in reads) / len(reads) if reads else math.nan


def _judge_won(run: GANRun, d_pace: float, g_pace: float, readings: int) -> None:
    """A D that barely moves (``MAX_WEAK_PACE``) because it has won outright: on at least
    ``MIN_RESTING_SHARE`` of its read steps its optimizer saw a gradient of exactly 0
    (``resting_share``), and it separates held-out real samples from G's late in the run
    (AUC >= ``DOMINANT_AUC``). A D whose loss reaches its floor (in practice a margin,
    hinge, D: every sample beyond its margin) has no gradient, so its optimizer does not
    move it: no weak D, one whose margin G's samples do not reach, and G trains against
    a frozen D."""
    __tracebackhide__ = True
    share = resting_share(run)
    late = late_probes(run)
    auc = finite_median([p.d_auc for p in late]) if late else math.nan
    if not (share >= MIN_RESTING_SHARE and auc >= DOMINANT_AUC):
        return
    ratio = d_pace / g_pace
    window = f"steps {late[0]['step']}-{late[-1]['step']}"
    raise fail(
        "discriminator-overpowers",
        f"D has won outright over {window}: it separates almost every real sample from "
        f"G's (AUC {auc:.3f}), and on {share:.0%} of its steps read over the run its "
        "optimizer saw a gradient of exactly 0: its loss at its floor, every sample beyond "
        f"its margin. So its optimizer no longer moves it (its pace is {ratio:.2g} of "
        "G's): this D is not too weak, it has stopped learning, and G trains against a D "
        "that no longer tells it anything about the data.",
        [
            ("D's AUC, real vs fake (median)", auc, f"< {DOMINANT_AUC:g}, or D still learning"),
            ("share of D's steps with a gradient of exactly 0", share, f"< {MIN_RESTING_SHARE:g}"),
            ("D's pace / G's", ratio, f"> {MAX_WEAK_PACE:g}"),
        ],
        {
            "auc": auc,
            "resting_share": share,
            "d_pace": d_pace,
            "g_pace": g_pace,
            "pace_ratio": ratio,
            "readings": readings,
            "probes": len(late),
        },
        detail="Lower D's learning rate or raise G's (a D many times faster than G is the "
        f"usual cause), or take fewer D steps per G step. {settings(run)}".rstrip(),
    )


def _judge_critic(run: GANRun, auc: float, late: list[Probe]) -> None:
    """A penalised critic that G fools while its slope stays far below the penalty's
    target: too weak to teach G (``MAX_WEAK_SLOPE``). The slope is measured only when the
    AUC already says G fools the critic; a critic with no penalty (weight clipping, or
    none) has no target slope to read and passes."""
    __tracebackhide__ = True
    if not (auc <= MAX_WEAK_AUC and has_gradient_penalty(run)):
        return
    slope = float(run_gradient_norms(run).median())
    if not slope <= MAX_WEAK_SLOPE:
        # Above it, or NaN: a critic whose scores are not finite is no weak one
        # (assert_losses_finite and assert_lipschitz judge it).
        return
    window = f"steps {late[0]['step']}-{late[-1]['step']}"
    raise fail(
        "discriminator-too-weak",
        f"G fools the critic over {window}: it ranks G's samples as more real than the "
        f"real ones (AUC {auc:.2f}), and its slope between them is {slope:.2f} where its "
        "gradient penalty holds a trained critic's near 1: it learns too slowly to teach G.",
        [
            ("critic's AUC, real vs fake (median)", auc, "- (alone, not the verdict)"),
            ("critic's slope, median ||grad_x D||", slope, f"> {MAX_WEAK_SLOPE:g} (target 1)"),
        ],
        {"auc": auc, "slope": slope, "probes": len(late)},
        detail=settings(run),
    )


#: The check of this module (``pytest_gan.checks.ALL``).
LOSSES_BALANCED = Check("losses-balanced", assert_losses_balanced, _PITFALLS)
