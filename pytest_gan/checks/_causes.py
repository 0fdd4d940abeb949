"""What a run itself shows of the usual causes of blank or collapsed samples.

The catalog's fix for ``blank-output`` names data scaling, the final activation and NaN
losses; its fix for ``mode-collapse`` names a generator trained several times per
discriminator step. A run can tell which of those hold: the data and output-range checks
judge the first two, the run's exact events the third, and its optimizer step counts the
fourth. The failure messages of ``assert_not_blank`` and ``assert_diverse`` on a run say
which causes the run shows and which it rules out, and where it rules out every cause the
catalog names (a BEGAN whose balance term drove it blank, with its data, activation and
losses all sound) give a fix that fits instead of the catalog's.

Nothing here decides a verdict: only the words of one already reached.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from pytest_gan.checks._nonfinite import nonfinite_losses
from pytest_gan.checks.ranges import (
    DATA_NORMALIZED,
    FAR_FIRST,
    RANGE_SAMPLES,
    assert_data_normalized,
    range_failure,
)
from pytest_gan.errors import GANAssertionError
from pytest_gan.pitfalls import PITFALLS
from pytest_gan.run import GANRun

#: Whether a failing check looks for causes: off while ``deciding`` asks the sample checks
#: whether a verdict is still pending, where the message is thrown away (and the
#: output-range probe would cost a thousand samples each time).
_LOOKING: ContextVar[bool] = ContextVar("looking_for_causes", default=True)


@contextmanager
def without_causes() -> Iterator[None]:
    """Checks called inside give their verdicts without looking for causes."""
    token = _LOOKING.set(False)
    try:
        yield
    finally:
        _LOOKING.reset(token)


def looking_for_causes() -> bool:
    """Whether a failing check looks for causes here (not inside :func:`without_causes`)."""
    return _LOOKING.get()


@dataclass(frozen=True)
class Causes:
    """The paragraph for a failure message, and the fix to give instead of the catalog's
    (None: the catalog's fix stands)."""

    detail: str = ""
    fix: str | None = None


def _first_line(failure: GANAssertionError) -> str:
    return str(failure).split("\n", 1)[0]


def _named(failure: GANAssertionError) -> str:
    """The check that raised ``failure``, and its pitfall: ``assert_x (pitfall-id)``."""
    return f"{PITFALLS[failure.pitfall].check} ({failure.pitfall})"


def _data_and_range(run: GANRun) -> tuple[list[GANAssertionError], list[str], bool]:
    """The failures of the data and output-range checks on ``run``, the names of those
    that passed, and whether the data check judged the run at all."""
    found: list[GANAssertionError] = []
    passed: list[str] = []
    judged_data = DATA_NORMALIZED.applies(run) is None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if judged_data:
            try:
                assert_data_normalized(run)
                passed.append("assert_data_normalized")
            except GANAssertionError as failure:
                found.append(failure)
        lo, hi = run.data_range
        if hi > lo:  # data of one value spans no range to reach (the data check says so)
            try:
                mismatch = range_failure(run, RANGE_SAMPLES, FAR_FIRST)
            except GANAssertionError as nonfinite:  # its own draw held NaN: a cause too
                mismatch = nonfinite
            if mismatch is None:
                passed.append("assert_output_range_matches_data")
            else:
                found.append(mismatch)
    return found, passed, judged_data


def _updates(run: GANRun) -> tuple[int, int] | None:
    """How many times G's and D's optimizers stepped, from the history's per-step counts;
    None for a run without them (not instrumented, or one optimizer for both), or whose
    history was thinned (a run past ``_defaults.HISTORY_CAPACITY`` steps keeps every
    ``stride``-th row, and the sums would count a share of the steps)."""
    h = run.history
    if h.wiring is not None and h.wiring.same_optimizer:
        return None
    if h.stride > 1:
        return None
    if "g_updates" not in h or "d_updates" not in h:
        return None
    g = sum(v for v in h["g_updates"] if math.isfinite(v))
    d = sum(v for v in h["d_updates"] if math.isfinite(v))
    if g <= 0 or d <= 0:
        return None
    return int(g), int(d)


def _listed(names: list[str]) -> str:
    return " and ".join(names)


def blank_causes(run: GANRun) -> Causes:
    """What ``run`` shows of blank samples' usual causes (see the module)."""
    if not _LOOKING.get():
        return Causes()
    broken = nonfinite_losses(run.history.events)
    found, passed, judged_data = _data_and_range(run)
    if found or broken:
        parts = [f"{_named(f)} fails on this run too: {_first_line(f)}" for f in found]
        if broken:
            first = min(e.first_step for e in broken.values())
            parts.append(
                f"The run's {_listed(sorted(broken))} turned NaN or infinite, first at step "
                f"{first} (assert_losses_finite)."
            )
        likelier = (
            " That is the likelier cause: fix it first."
            if len(parts) == 1
            else " Those are the likelier causes: fix them first."
        )
        return Causes(" ".join(parts) + likelier)
    ruled_out = (
        "the data lie in the generator's output range"
        if judged_data
        else "the generator can reach the data's range"
    )
    detail = (
        f"This run rules out the causes blank samples usually have: {ruled_out} "
        f"({_listed(passed)} pass{'es' if len(passed) == 1 else ''}), and every loss "
        "stayed finite. The training itself drove the generator to blank samples."
    )
    if not judged_data or "assert_output_range_matches_data" not in passed:
        return Causes(detail)
    steps = _updates(run)
    counts = f" (here G's optimizer stepped {steps[0]} times, D's {steps[1]})" if steps else ""
    return Causes(
        detail,
        "Look at how the two networks are balanced: their learning rates and how often "
        f"each steps{counts}, and any balance term or weight in the losses (BEGAN's k_t, a "
        "penalty's weight). assert_losses_balanced and assert_generator_learns say whether "
        "D won or G stopped learning.",
    )


def collapse_causes(run: GANRun, blank: GANAssertionError | None) -> Causes:
    """What ``run`` shows of collapsed samples' usual causes (see the module); ``blank``
    is ``assert_not_blank``'s failure on the same run, or None where it passes."""
    if not _LOOKING.get():
        return Causes()
    if blank is not None:
        return Causes(
            f"{_named(blank)} fails on this run too: {_first_line(blank)} Blank samples are "
            "alike: that verdict names what to fix.",
            "Fix what makes the samples blank first (assert_not_blank's message); a "
            "generator that produces the data's scale again is judged on its spread anew.",
        )
    steps = _updates(run)
    if steps is None:
        return Causes()
    g, d = steps
    if g >= 2 * d:
        return Causes(
            f"G's optimizer stepped {g / d:.3g} times per D step ({g} against {d}): G "
            "chases what D rewards faster than D can follow it, the likeliest cause here."
        )
    if g > d:  # a D step skipped now and then: a fact to weigh, not yet the cause
        return Causes(f"G's optimizer stepped {g / d:.3g} times per D step ({g} against {d}).")
    return Causes(
        f"G is not trained more often than D (G's optimizer stepped {g} times, D's {d}).",
        "Lower the generator's learning rate (or raise D's), and consider spectral "
        "normalisation, minibatch statistics or a loss that rewards spread; "
        "assert_losses_balanced says whether D keeps up with G.",
    )


def _rates(optimizer: object) -> tuple[float, float] | None:
    """The least and largest learning rate over ``optimizer``'s parameter groups (as it
    ends the run, after any scheduler), or None where it has none to read."""
    groups = getattr(optimizer, "param_groups", None)
    rates: list[float] = []
    for group in groups or ():
        lr = group.get("lr") if isinstance(group, dict) else None
        if lr is None:
            continue
        try:
            value = float(lr)  # a float, or a tensor (capturable optimizers)
        except (TypeError, ValueError):
            continue
        if math.isfinite(value):
            rates.append(value)
    return (min(rates), max(rates)) if rates else None


def _rate_words(rates: tuple[float, float]) -> str:
    lo, hi = rates
    return f"{lo:.3g}" if lo == hi else f"{lo:.3g}-{hi:.3g}"


def settings(run: GANRun, lead: str = "d") -> str:
    """A sentence of the run's own settings for a verdict on the balance of the networks
    or on G's learning: how often the ``lead`` network's optimizer ("d" or "g") stepped per
    step of the other's, and the two learning rates with their ratio, as the run ended.
    Empty where the run has neither (one optimizer for both networks, no step counts)."""
    if not _LOOKING.get():
        return ""
    names = {"d": ("D", "G"), "g": ("G", "D")}[lead]
    parts = []
    steps = _updates(run)
    if steps is not None:
        g, d = steps
        mine, other = (d, g) if lead == "d" else (g, d)
        parts.append(
            f"{names[0]}'s optimizer stepped {mine} times and {names[1]}'s {other} "
            f"({mine / other:.3g} per {names[1]} step)"
        )
    if run.opt_d is not run.opt_g:
        opts = (run.opt_d, run.opt_g) if lead == "d" else (run.opt_g, run.opt_d)
        mine_rates, other_rates = _rates(opts[0]), _rates(opts[1])
        if mine_rates is not None and other_rates is not None:
            words = (
                f"at a learning rate of {_rate_words(mine_rates)} against {names[1]}'s "
                f"{_rate_words(other_rates)}"
            )
            single = mine_rates[0] == mine_rates[1] and other_rates[0] == other_rates[1]
            if single and other_rates[0] > 0:
                words += f" ({mine_rates[0] / other_rates[0]:.3g}x)"
            parts.append(words)
    if not parts:
        return ""
    return "Here " + ", ".join(parts) + "."
