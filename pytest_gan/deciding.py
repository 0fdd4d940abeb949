"""Statistical verdicts a short run cannot decide yet: train on until they are decided.

Some GANs leave their initialisation slowly. A WGAN-GP at its published settings (Adam
1e-4, betas (0, 0.9), five critic steps per generator step) first pulls every sample
towards the data's mean image, and only then spreads out again: at 200 steps its samples
are nearly flat and alike, at 800 they are not (benchmarks/calibrate_extension.py,
docs/benchmarks.md "Deciding early verdicts"). Judged at 200 steps it would fail as
``blank-output`` and ``mode-collapse`` although nothing is wrong with it.

A conditional GAN learns to use its labels after it learns the data: the wild cGAN with a
projection discriminator (mimicry-cgan-pd) shows labels that change 0.7% of its samples'
variance at 200 steps, too little to tell them apart.

A run that fails one of :data:`SETTLED` is therefore trained on (:meth:`GANRun.extend`,
doubling its steps) up to a budget of steps, and judged again; at the budget the verdict
stands as the threshold gives it, so a planted mistake still fails, only later. Exact
checks (wiring, gradients, non-finite losses, checkpoints) never wait: their records are
complete at any step.

The balance verdict's thresholds were measured at 200 steps (``_defaults.CALIBRATED_STEPS``)
and hold there, not earlier: the healthy scenes DCGAN's D is fooled over its first 30
steps as a weak D is. A run asked for fewer steps that fails it is trained on to at least
200 (:data:`FLOORED`), and judged there.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pytest_gan import _defaults
from pytest_gan.checks import ALL
from pytest_gan.checks._causes import without_causes
from pytest_gan.checks._nonfinite import nonfinite_losses
from pytest_gan.checks.balance import assert_losses_balanced
from pytest_gan.checks.conditioning import NO_LABEL_EFFECT, assert_conditioning_effective
from pytest_gan.checks.d_output import assert_d_output_fits_loss
from pytest_gan.checks.dynamics import assert_generator_learns, assert_losses_finite
from pytest_gan.checks.outputs import assert_diverse, assert_not_blank
from pytest_gan.checks.overfitting import assert_d_generalizes, held_out, too_early
from pytest_gan.checks.ranges import assert_output_range_matches_data
from pytest_gan.checks.wiring import (
    assert_d_step_isolated,
    assert_gradients_zeroed,
    assert_optimizers_cover,
    carried_gradients,
    coverage_faults,
    harmful_leak,
    stale_gradients,
)
from pytest_gan.errors import GANAssertionError
from pytest_gan.history import History, distance_fell
from pytest_gan.run import GANRun


@dataclass(frozen=True)
class Settled:
    """A check whose failure on a short run may only mean "too early"."""

    check: Callable[[GANRun], None]
    #: Whether the check applies to a run at all.
    applies: Callable[[GANRun], bool]
    #: Whether a failure, by its evidence, is one that training on could still change.
    waits: Callable[[Mapping[str, Any]], bool]
    #: The pitfall a pass on this run may be too early to rule out (a mistake that takes
    #: longer to show than the run has trained), or None: the pass stands.
    unsure: Callable[[GANRun], str | None] = lambda run: None


#: The checks that wait: blank and diverse decide on a ratio to the real data that a slow
#: GAN reaches late (a failure for NaN samples does not wait); conditioning decides on
#: whether the labels can be told apart, which a conditional GAN learns after it learns the
#: data (a generator whose labels change nothing at all, to rounding, does not wait). A D
#: memorises small data only after many passes over it: a run on small data waits, passing,
#: until it has trained ``overfitting.SMALL_DATA_FACTOR`` times its first steps.
SETTLED: tuple[Settled, ...] = (
    Settled(assert_not_blank, lambda run: True, lambda e: "contrast_ratio" in e),
    Settled(assert_diverse, lambda run: True, lambda e: "spread_ratio" in e),
    Settled(
        assert_conditioning_effective,
        lambda run: run.conditional,
        lambda e: e.get("label_share", 0.0) >= NO_LABEL_EFFECT,
    ),
    Settled(
        assert_d_generalizes,
        held_out,
        lambda e: False,
        lambda run: "discriminator-overfits" if too_early(run) else None,
    ),
)


def _failure(check: Callable[[GANRun], None], run: GANRun) -> GANAssertionError | None:
    """What ``check`` raises on ``run`` (None when it passes), its warnings silenced; a
    check that cannot judge the run raises its TypeError or ValueError."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            check(run)
    except GANAssertionError as exc:
        return exc
    return None


def undecided(run: GANRun) -> list[str]:
    """The pitfalls of :data:`SETTLED` checks that fail on ``run`` in a way training on
    could still change, or pass on it too early to be sure, in order; then those of
    :data:`FLOORED` checks that fail a run of fewer than ``_defaults.CALIBRATED_STEPS``."""
    failing: list[str] = []
    for settled in SETTLED:
        if not settled.applies(run):
            continue
        try:
            # Whether it waits reads the evidence, not the message: no causes looked for.
            with without_causes():
                failure = _failure(settled.check, run)
        except (TypeError, ValueError):
            # A check that cannot judge this run (say, more labels than its samples can
            # tell apart) says so when it is called; training on would not change that.
            continue
        if failure is None:
            unsure = settled.unsure(run)
            if unsure is not None:
                failing.append(unsure)
        elif settled.waits(failure.evidence):
            failing.append(failure.pitfall)
    if run.steps < _defaults.CALIBRATED_STEPS:
        for check in FLOORED:
            try:
                failure = _failure(check, run)
            except Exception:
                # A check that cannot judge this run raises again when it is called; the
                # training goes on as it would without it.
                continue
            # Its own pitfalls only: a diverged run's non-finite-loss never waits.
            if failure is not None and failure.pitfall in _FLOORED_PITFALLS:
                if failure.pitfall not in failing:
                    failing.append(failure.pitfall)
    return failing


#: Beyond ``EXTEND_FACTOR`` times its first steps, a run is trained on only while its
#: samples still approach the data: ``fake_to_real`` fell by at least this share of itself
#: over the last doubling or over the last two (a plateau of one doubling is a pause).
#: Why here: between the slowest healthy GAN's least (0.0072) and planted blank outputs'
#: most (0.0014); calibration: docs/benchmarks.md "Calibration notes".
MIN_PROGRESS = 0.003


def progress_since(run: GANRun, step: int) -> float:
    """``history.distance_fell`` from the probe after ``step`` steps to the run's last
    (NaN without them; ``inf`` when the samples were already as near the data as real
    samples are, which shows no progress a longer run could make)."""
    # A run trained again from scratch (a watched loop, ``settle_loop``): the last probe
    # at or before ``step``.
    then, now = run.history.probe_by(step), run.history.probe_at(run.steps)
    return math.nan if then is None or now is None else distance_fell(then, now)


def still_moving(run: GANRun) -> bool:
    """Whether ``run``'s samples came nearer the data by at least :data:`MIN_PROGRESS` of
    their distance to it over its last extension, or over its last two (a run not yet
    extended: since its first probe)."""
    starts = [e["from"] for e in run.extensions[-2:]] or [0]
    moved = [progress_since(run, step) for step in starts]
    return any(math.isfinite(m) and m >= MIN_PROGRESS for m in moved)


#: ... or while they still spread out: the probes' spread ratio grew by at least this
#: factor over the last two doublings. A generator may start collapsed (an LSTM's output
#: hardly depends on small noise at initialisation) and leave it only after D has won a
#: while, its samples moving away from the data meanwhile; a collapsed one's spread wanders.
#: Why here: between a healthy recurrent GAN's least (2.46, 200 to 800 steps) and the
#: collapsed twin's most (1.51) reaching this rule; calibration: docs/benchmarks.md
#: "Calibration notes".
SPREAD_GROWTH = 1.9


def spread_by(run: GANRun, step: int) -> float:
    """The probes' spread ratio (fixed-z fakes over held-out real samples) after ``step``
    steps (the last probe at or before it); NaN without one."""
    probe = run.history.probe_by(step)
    if probe is None or not probe.real_spread > 0:
        return math.nan
    return float(probe.fake_spread / probe.real_spread)


def spreading(run: GANRun) -> bool:
    """Whether ``run``'s samples spread out by at least :data:`SPREAD_GROWTH` over its last
    two extensions (a run extended fewer than twice: no)."""
    if len(run.extensions) < 2:
        return False
    before = spread_by(run, run.extensions[-2]["from"])
    now = spread_by(run, run.steps)
    return math.isfinite(now) and before > 0 and now >= SPREAD_GROWTH * before


#: ... or while they still change: the fixed-z samples moved, on average, by at least this
#: share of the held-out real samples' spread over the last doubling. A generator leaving
#: a collapsed start may wander for a while, away from the data and with its spread rising
#: and falling, before it spreads out; a stuck one (G's weights never moving) does not
#: move at all.
#: Why here: between healthy recurrent GANs' least still pending at 800 steps (0.034)
#: and settled broken runs' most (0.0100); calibration: docs/benchmarks.md "Calibration notes".
MIN_CHANGE = 0.018


def samples_moved(run: GANRun, step: int) -> float:
    """How far the probes' fixed-z samples moved from the probe after ``step`` steps (the
    last one at or before it) to the run's last: the mean distance between a sample then
    and the same z's sample now, over the held-out real samples' spread (the mean
    distance between two of them). NaN without the probes, their samples or that spread."""
    then, now = run.history.probe_by(step), run.history.probe_at(run.steps)
    if then is None or now is None or not 0 < now.real_spread < math.inf:
        return math.nan
    before, after = then.samples.flatten(1).double(), now.samples.flatten(1).double()
    if before.shape != after.shape or before.shape[0] == 0:
        return math.nan
    return float((after - before).norm(dim=1).mean() / now.real_spread)


def changing(run: GANRun) -> bool:
    """Whether ``run``'s fixed-z samples moved by at least :data:`MIN_CHANGE` of the real
    samples' spread over its last extension (a run not yet extended: no)."""
    if not run.extensions:
        return False
    moved = samples_moved(run, run.extensions[-1]["from"])
    return math.isfinite(moved) and moved >= MIN_CHANGE


#: The pitfalls judged on G's samples alone (``assert_not_blank``'s and
#: ``assert_diverse``'s), which a generator still changing may yet leave: only while one
#: of them is pending does :func:`changing` keep a run going.
SAMPLE_PITFALLS = frozenset(
    p for c in ALL if c.function in (assert_not_blank, assert_diverse) for p in c.pitfalls
)


def making_progress(run: GANRun, pending: list[str]) -> bool:
    """Whether ``run``, past ``EXTEND_FACTOR`` times its first steps, is trained on for its
    ``pending`` pitfalls: its samples still approach the data (:func:`still_moving`),
    spread out (:func:`spreading`) or, while a :data:`SAMPLE_PITFALLS` one is pending,
    change (:func:`changing`); or it is short of a :data:`FLOORED` check's steps."""
    return (
        still_moving(run)
        or spreading(run)
        or (not SAMPLE_PITFALLS.isdisjoint(pending) and changing(run))
        or below_floor(run.steps, pending)
    )


#: Checks that read exact records (hooks, optimizer state, the loss values, the D head,
#: the generator's bounds under a saturating probe): their verdict is the same at any step.
#: Past ``EXTEND_FACTOR`` a run failing one is not trained on to decide the waiting
#: verdicts. What that saves: the wild cGAN with a Sigmoid generator (aladdin-cgan) went on
#: to 3,200 steps, 404 s against 69 s for its healthy original, for a verdict
#: (output-range-mismatch) it had at 200.
CERTAIN: tuple[Callable[[GANRun], None], ...] = (
    assert_losses_finite,
    assert_d_step_isolated,
    assert_d_output_fits_loss,
    assert_gradients_zeroed,
    assert_optimizers_cover,
    assert_output_range_matches_data,
)


#: Checks that judge how the run went and do not wait: their thresholds were calibrated at
#: the steps a run is asked for (200 by default), and a longer run reads differently (the
#: tests' tiny GAN with G 20x too slow is under its share of the movement limit at 40
#: steps and over the limit at 320; a hinge D that won outright and rested through the
#: first 200 steps has woken by 1,600-3,200, though G trained against it all that time:
#: mimicry-cgan-pd's overpowering D, docs/benchmarks.md "Deciding early verdicts"). A run
#: trained on only to decide a waiting verdict keeps their verdicts at its first steps
#: (``GANRun.first_verdicts``), or, for a :data:`FLOORED` check on a run asked for fewer
#: than ``_defaults.CALIBRATED_STEPS``, at the first steps at or past them.
FIRST_STEPS: tuple[Callable[[GANRun], None], ...] = (
    assert_losses_balanced,
    assert_generator_learns,
)


#: Of :data:`FIRST_STEPS`, the checks whose thresholds hold only from
#: ``_defaults.CALIBRATED_STEPS`` on: a run asked for fewer steps that fails one is trained
#: on (it waits, as :data:`SETTLED` do) to at least that many, and its verdict is taken at
#: the first steps at or past them. A healthy GAN's D can be fooled in its first 30-60
#: steps, or look overpowering at 40 (scenes-dcgan, a watched loop: docs/benchmarks.md
#: "Runs shorter than the calibration"). ``assert_generator_learns`` reads its own share of
#: the movement in a short run and is taken at the first steps asked for.
FLOORED: tuple[Callable[[GANRun], None], ...] = (assert_losses_balanced,)


#: The pitfalls of the :data:`FLOORED` checks.
_FLOORED_PITFALLS = frozenset(p for c in ALL if c.function in FLOORED for p in c.pitfalls)


def below_floor(steps: int, pending: list[str]) -> bool:
    """Whether a run of ``steps`` is trained on to reach ``_defaults.CALIBRATED_STEPS``
    for a :data:`FLOORED` check among the ``pending`` pitfalls: past ``EXTEND_FACTOR``
    times its first steps too, whether or not its samples still approach the data (not
    when it fails a :data:`CERTAIN` check: it is broken whatever the balance becomes)."""
    return steps < _defaults.CALIBRATED_STEPS and not _FLOORED_PITFALLS.isdisjoint(pending)


def _held(steps: int, pending: list[str], seen: list[str]) -> list[str]:
    """``pending`` for a run of ``steps``, with every :data:`FLOORED` pitfall found pending
    earlier (``seen``, updated here) kept pending below ``_defaults.CALIBRATED_STEPS``:
    a check that failed a short run is judged at its calibrated steps, not at whichever
    shorter extension it first passes."""
    if steps >= _defaults.CALIBRATED_STEPS:
        return pending
    seen.extend(p for p in pending if p in _FLOORED_PITFALLS and p not in seen)
    return pending + [p for p in seen if p not in pending]


def due(run: GANRun, done: set[str]) -> tuple[Callable[[GANRun], None], ...]:
    """The :data:`FIRST_STEPS` checks whose verdict on ``run`` is to be taken now, before
    it is trained on: those not in ``done`` (the names of checks already taken), but a
    :data:`FLOORED` one only once the run has ``_defaults.CALIBRATED_STEPS``."""
    return tuple(
        check
        for check in FIRST_STEPS
        if check.__name__ not in done
        and (check not in FLOORED or run.steps >= _defaults.CALIBRATED_STEPS)
    )


def record_first_verdicts(
    run: GANRun, checks: tuple[Callable[[GANRun], None], ...] | None = None
) -> dict[str, GANAssertionError | None]:
    """The verdicts of ``checks`` (default :data:`FIRST_STEPS`) on ``run`` as it is: check
    name -> failure (its evidence noting ``judged_at_steps``, its traceback dropped so that
    it keeps no frame of the check alive), or None for a pass. A check that cannot judge
    the run, or raises anything but its verdict, is left out: it judges the longer run,
    and raises there."""
    verdicts: dict[str, GANAssertionError | None] = {}
    for check in FIRST_STEPS if checks is None else checks:
        try:
            failure = _failure(check, run)
        except Exception:
            continue
        if failure is not None:
            failure = GANAssertionError(
                str(failure),
                pitfall=failure.pitfall,
                evidence={**failure.evidence, "judged_at_steps": run.steps},
            )
        verdicts[check.__name__] = failure
    return verdicts


def certain_failures(run: GANRun) -> list[str]:
    """The pitfalls of :data:`CERTAIN` that ``run`` fails, in order."""
    found: list[str] = []
    for check in CERTAIN:
        try:
            failure = _failure(check, run)
        except (TypeError, ValueError):
            continue
        if failure is not None:
            found.append(failure.pitfall)
    return found


def recorded_failures(history: History) -> list[str]:
    """The pitfalls a run's exact records prove already, at whatever step its training is:
    a NaN or infinite loss, a D step whose gradient reached G's update, an optimizer step
    on gradients not reset, optimizers that leave parameters out. Records only accumulate,
    so the checks that read them fail whatever the rest of the run does: the smoke suite
    stops training there (``train(..., stop_early=True)``). Empty for a run trained with
    ``instrument=False``, which keeps no such records."""
    if history.wiring is None:
        return []
    found: list[str] = []
    if nonfinite_losses(history.events):
        found.append("non-finite-loss")
    if harmful_leak(history.events) is not None:
        found.append("d-step-leaks-into-generator")
    if stale_gradients(history.events) or carried_gradients(history.events):
        found.append("gradient-accumulation")
    if coverage_faults(history.wiring):
        found.append("optimizer-misses-parameters")
    return found


def settle(
    run: GANRun,
    max_steps: int,
    *,
    progress: Callable[[int, int], None] | None = None,
    time_limit: float | None = None,
) -> GANRun:
    """Train ``run`` on, doubling its steps up to ``max_steps``, while a :data:`SETTLED`
    check fails on it, and, past ``EXTEND_FACTOR`` times its first steps, only while it
    makes progress (:func:`making_progress`: its samples still approach the data, spread
    out, or, waiting on blank or collapse, change) and it fails none of :data:`CERTAIN`
    (a run that does is broken
    whatever its waiting verdicts would become: the last extension's ``"stopped"`` names
    what it fails; one stopped because it made no progress has ``"no_progress"``, the
    steps it stopped at); return it. A run
    of fewer than ``_defaults.CALIBRATED_STEPS`` that fails a :data:`FLOORED` check is
    trained on to at least that many, whether or not its samples still approach the data
    (unless it fails a :data:`CERTAIN` check), and that check's verdict is taken there
    (:func:`due`). Each extension is recorded in ``run.extensions``: the steps it started
    from, the steps it ended at, and the pitfalls that were pending. ``time_limit``
    (seconds) bounds all the training this call adds: an extension that would not fit in
    what is left (it costs about what the run has cost so far, as many steps again) is
    not started, and the verdicts stand as they are."""
    started = time.perf_counter()
    free_until = run.first_steps * _defaults.EXTEND_FACTOR
    taken: set[str] = set()
    seen: list[str] = []
    while run.steps < max_steps:
        pending = _held(run.steps, undecided(run), seen)
        if not pending:
            break
        if run.steps >= free_until and run.extensions:
            broken = certain_failures(run)
            if broken:
                run.extensions[-1]["stopped"] = broken
                break
            if not making_progress(run, pending):
                run.extensions[-1]["no_progress"] = run.steps
                break
        start = run.steps
        more = min(start, max_steps - start)
        if time_limit is not None:
            left = time_limit - (time.perf_counter() - started)
            if run.elapsed * more / start > left:
                break
        _take_due(run, bool(run.extensions), run.first_verdicts, run.first_verdicts_at, taken)
        remaining = None if time_limit is None else time_limit - (time.perf_counter() - started)
        run.extend(more, progress=progress, time_limit=remaining)
        run.extensions.append({"from": start, "to": run.steps, "pending": pending})
    return run


def _take_due(
    run: GANRun,
    later: bool,
    verdicts: dict[str, GANAssertionError | None],
    at: dict[str, int],
    taken: set[str],
) -> None:
    """Take the :func:`due` first-steps verdicts of ``run`` into ``verdicts``, and into
    ``at`` the steps of those taken ``later`` than the first run (after an extension or a
    rerun); ``taken`` names every check taken so far, a check that could not judge the
    run included (it judges the longer run instead)."""
    checks = due(run, taken)
    taken.update(check.__name__ for check in checks)
    found = record_first_verdicts(run, checks) if checks else {}
    verdicts.update(found)
    if later:
        at.update(dict.fromkeys(found, run.steps))


def run_loop(loop: Callable[[int], Any], steps: int) -> GANRun:
    """``loop(steps)``, which must return the complete run ``pg.watch`` recorded."""
    run = loop(steps)
    if not isinstance(run, GANRun) or not getattr(run, "watched", False):
        raise TypeError(
            "a training loop offered in place of a GANSpec must train for the number of "
            "steps it is given under pg.watch and return the run it recorded (the value "
            f"of `with pg.watch(...) as run:`); {getattr(loop, '__name__', loop)!r} "
            f"returned {type(run).__name__}"
        )
    if not getattr(run, "complete", False):
        raise ValueError(
            f"{run.name}: the loop returned its run from inside the watch: return it after "
            "the `with pg.watch(...)` block has exited"
        )
    return run


def settle_loop(
    loop: Callable[[int], Any],
    steps: int,
    max_steps: int,
    *,
    time_limit: float | None = None,
) -> GANRun:
    """``settle`` for a team's own loop, which cannot go on where it stopped: while a
    :data:`SETTLED` check is undecided, the loop is run again from the start for twice the
    steps, up to ``max_steps``, by the same rules (past ``EXTEND_FACTOR`` times the first
    steps only while it makes progress (:func:`making_progress`), and no :data:`CERTAIN` check
    fails). The last run is returned, its ``extensions`` saying what was run again and
    why (``"rerun": True``). Reaching ``n`` steps this way costs about ``2n`` steps of
    training. ``time_limit`` (seconds) bounds the reruns: one that would not fit in
    what is left (it costs about twice the last run) is not started, and the verdicts
    stand; a loop that does not train longer when asked to is not run again."""
    started = time.perf_counter()
    run = run_loop(loop, steps)
    first = steps
    extensions: list[dict[str, Any]] = []
    first_verdicts: dict[str, GANAssertionError | None] = {}
    first_verdicts_at: dict[str, int] = {}
    taken: set[str] = set()
    seen: list[str] = []
    free_until = first * _defaults.EXTEND_FACTOR
    while steps < max_steps:
        # The floor counts the G steps the loop took (``run.steps``), which need not be
        # the steps it was asked for.
        pending = _held(run.steps, undecided(run), seen)
        if not pending:
            break
        if steps >= free_until and extensions:
            broken = certain_failures(run)
            if broken:
                extensions[-1]["stopped"] = broken
                break
            if not making_progress(run, pending):
                extensions[-1]["no_progress"] = run.steps
                break
        if time_limit is not None:
            spent = time.perf_counter() - started
            if spent + 2 * run.elapsed > time_limit:
                break
        start, steps = steps, min(2 * steps, max_steps)
        shorter = run.steps
        _take_due(run, bool(extensions), first_verdicts, first_verdicts_at, taken)
        run = run_loop(loop, steps)
        if run.steps <= shorter:
            break  # the loop ignores the steps it is given: running it again decides nothing
        extensions.append({"from": start, "to": steps, "pending": pending, "rerun": True})
        run.first_steps, run.extensions = first, list(extensions)
    run.first_steps, run.extensions = first, extensions
    if extensions:
        run.first_verdicts, run.first_verdicts_at = first_verdicts, first_verdicts_at
    return run
