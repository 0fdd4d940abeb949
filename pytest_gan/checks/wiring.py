"""Checks of how the training loop is wired: detach, zero_grad, optimizer coverage.

These read exact records of the instrumentation (see ``pytest_gan.instrument``), not
statistics: a single leaked or stale gradient is a bug, whatever the seed, so their
thresholds are zero.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping

from pytest_gan.checks._check import Check
from pytest_gan.errors import GANWastedBackwardWarning, fail
from pytest_gan.history import Event, Wiring
from pytest_gan.run import GANRun, require_instrumented, require_run


def assert_d_step_isolated(run: GANRun) -> None:
    """The discriminator's step writes no gradient into the generator's update.

    A missing ``.detach()`` on the fakes shown to D comes in two grades, told apart by the
    instrumentation's exact records:

    * harmful: the gradient D's loss wrote into G's parameters is still there when G's
      optimizer steps (G's ``zero_grad`` sits before the D step, or is missing), so G is
      updated partly to help D. Raises ``GANAssertionError`` with pitfall
      ``d-step-leaks-into-generator``.
    * wasteful: G's gradients are reset before its step, so training is unchanged, but
      every step pays a backward pass through G that is thrown away. Passes with a
      ``GANWastedBackwardWarning`` naming that pass.
    """
    __tracebackhide__ = True
    run = require_run(run, "assert_d_step_isolated")
    wiring = require_instrumented(run, "assert_d_step_isolated")
    event = run.history.events.get("d_step_g_grads")
    if event is None:
        return
    # Per D step: a step of several D iterations (WGAN's 5, or 100) writes them each time.
    written, d_steps = run.history["d_step_g_grads"], run.history["d_updates"]
    most = int(
        max(w / max(u, 1) for w, u in zip(written, d_steps, strict=True) if math.isfinite(w))
    )
    g_params = wiring.opt_g["generator"].total
    harmful = harmful_leak(run.history.events)
    if harmful is None:
        warnings.warn(
            GANWastedBackwardWarning(
                f"{run.name}: the discriminator's loss back-propagates through the generator "
                f"in {event.count} of {run.steps} steps (first at step "
                f"{event.first_step}; up to {most} of {g_params} G parameter tensors "
                "written per D step): the fakes shown to D are not detached. G's gradients "
                "are reset before its own step, so training is unharmed, but that backward "
                "pass through G is wasted work on every step. Fix: D(fake.detach()) in the "
                "D step."
            ),
            stacklevel=2,
        )
        return
    over_passes = run.history.events.get("d_step_g_grads_over_passes")
    if over_passes is not None:
        summary = (
            f"A backward pass run while D was trainable wrote the generator's gradients before "
            f"D's step, and G's update applied them, in {harmful.count} of {run.steps} steps "
            f"(first at step {harmful.first_step}). This loop accumulates gradients over "
            "several passes before its optimizers step, so such a pass is D's loss through "
            "fakes not detached, or G's own loss run with D trainable, whose gradient D's "
            "step then applies."
        )
        detail = (
            "Either is a bug: G following D's loss is pushed to make its fakes easier to "
            "reject; D stepping on G's loss is pushed to call fakes real. Detach the fakes "
            "in D's loss (D(fake.detach())), and freeze D for G's backward "
            "(D.requires_grad_(False), then True again before D's next pass, as "
            "StyleGAN2-ADA's phases do), or reset D's gradients between G's backward and D's "
            "next pass."
        )
    else:
        summary = (
            f"Gradient from the discriminator's loss reached the generator's update in "
            f"{harmful.count} of {run.steps} steps (first at step {harmful.first_step}): "
            "the fakes shown to D are not detached, and G's gradients are not reset between "
            "D's backward pass and G's step."
        )
        detail = (
            "G then follows D's loss as well as its own: it is pushed to make its fakes "
            "easier for D to reject. D(fake.detach()) in the D step fixes both this and the "
            "wasted backward pass; moving G's zero_grad() to just before G's own backward "
            "removes the harm but not the wasted pass."
        )
    raise fail(
        "d-step-leaks-into-generator",
        summary,
        [
            ("steps whose D step leaked into G", event.count, "0"),
            ("steps whose G update applied the leak", harmful.count, "0"),
            ("first such step", harmful.first_step, "-"),
            ("G parameter tensors written (max per D step)", most, f"0 of {g_params}"),
        ],
        {
            "leaking_steps": event.count,
            "harmful_steps": harmful.count,
            "first_step": harmful.first_step,
            "max_g_tensors_written": most,
            "over_several_passes": over_passes is not None,
        },
        detail=detail,
    )


def harmful_leak(events: Mapping[str, Event]) -> Event | None:
    """The record of D steps whose gradient reached G's update (None: none did)."""
    return events.get("d_leak_in_g_step")


def stale_gradients(events: Mapping[str, Event]) -> dict[str, Event]:
    """The records of optimizer steps taken on gradients not reset since that optimizer's
    previous step, by role ("d", "g"); empty when every step was on fresh gradients."""
    return {
        role: events[f"{role}_stale_grads"]
        for role in ("d", "g")
        if f"{role}_stale_grads" in events
    }


def carried_gradients(events: Mapping[str, Event]) -> Event | None:
    """The record of D steps that applied gradient written into D before G's step and not
    reset since (G's loss trained D); None when no D step did."""
    return events.get("d_carried_grads")


def crossed_tensors(wiring: Wiring) -> dict[str, int]:
    """Per optimizer, how many of the other network's parameter tensors it holds (0 for
    one optimizer over both networks, which is no mistake)."""
    same = wiring.same_optimizer
    return {
        "opt_g": 0 if same else wiring.opt_g["discriminator"].covered,
        "opt_d": 0 if same else wiring.opt_d["generator"].covered,
    }


def coverage_faults(wiring: Wiring) -> bool:
    """Whether the optimizers leave a trainable parameter out, or hold the other network's."""
    uncovered = wiring.uncovered
    crossed = crossed_tensors(wiring)
    return bool(uncovered["generator"] or uncovered["discriminator"] or any(crossed.values()))


def assert_gradients_zeroed(run: GANRun) -> None:
    """Every optimizer step uses gradients reset since that optimizer's previous step.

    Raises ``GANAssertionError`` with pitfall ``gradient-accumulation`` naming the
    network whose gradients were not reset.
    """
    __tracebackhide__ = True
    run = require_run(run, "assert_gradients_zeroed")
    require_instrumented(run, "assert_gradients_zeroed")
    events = run.history.events
    found = stale_gradients(events)
    carried = carried_gradients(events)
    if not found and carried is not None:
        raise fail(
            "gradient-accumulation",
            "The discriminator optimizer stepped on gradients written into D before the "
            f"generator's step and not reset since (from step {carried.first_step} on): "
            "G's loss, whose gradient reaches D through the fakes, trained D as well. A "
            "zero_grad() for D is missing after G's step, before D's backward.",
            [
                ("discriminator steps on G-step gradients", carried.count, "0"),
                ("first such step", carried.first_step, "-"),
            ],
            {"discriminator_carried_steps": carried.count, "first_step": carried.first_step},
            detail="Something reset D's gradients after D's previous step, so no stale "
            "gradient of D's own was left: another optimizer's zero_grad() over D (an "
            "InfoGAN's optimizer for the info loss over both networks), or one "
            "zero_grad() for both networks at the top of a loop that steps G first. "
            "Reset D's gradients (opt_d.zero_grad()) right before D's loss's backward.",
        )
    if not found:
        return
    names = {"d": "discriminator", "g": "generator"}
    who = " and ".join(names[r] for r in found)
    first = min(e.first_step for e in found.values())
    rows = [(f"{names[r]} steps with stale gradients", e.count, "0") for r, e in found.items()]
    rows.append(("first such step", first, "-"))
    raise fail(
        "gradient-accumulation",
        f"The {who} optimizer stepped with gradients not reset since its previous step "
        f"(from step {first} on): a zero_grad() is missing.",
        rows,
        {f"{names[r]}_stale_steps": e.count for r, e in found.items()} | {"first_step": first},
        detail="Each such update adds the previous steps' gradients (and, for D, the "
        "generator step's gradients through D) to the current one.",
    )


def assert_optimizers_cover(run: GANRun) -> None:
    """``opt_g`` trains the generator and ``opt_d`` the discriminator, every trainable
    parameter of each.

    Raises ``GANAssertionError`` with pitfall ``optimizer-misses-parameters`` listing the
    parameters no optimizer updates, or an optimizer built over the other network.
    """
    __tracebackhide__ = True
    run = require_run(run, "assert_optimizers_cover")
    w = require_instrumented(run, "assert_optimizers_cover")
    uncovered = w.uncovered
    crossed = crossed_tensors(w)
    g_own = w.opt_g["generator"]
    d_own = w.opt_d["discriminator"]
    if not coverage_faults(w):
        return
    problems = []
    if crossed["opt_g"] and not g_own.covered:
        problems.append("opt_g was built over the discriminator's parameters")
    elif crossed["opt_g"]:
        problems.append("opt_g also holds discriminator parameters")
    if crossed["opt_d"] and not d_own.covered:
        problems.append("opt_d was built over the generator's parameters")
    elif crossed["opt_d"]:
        problems.append("opt_d also holds generator parameters")
    for net, names in uncovered.items():
        if names:
            shown = ", ".join(names[:6]) + (
                f", ... ({len(names)} in all)" if len(names) > 6 else ""
            )
            problems.append(f"{net} parameters in no optimizer: {shown}")
    raise fail(
        "optimizer-misses-parameters",
        "The optimizers do not cover the networks they should train: " + "; ".join(problems) + ".",
        [
            ("generator tensors in opt_g", f"{g_own.covered} of {g_own.total}", "all"),
            ("discriminator tensors in opt_d", f"{d_own.covered} of {d_own.total}", "all"),
            ("discriminator tensors in opt_g", crossed["opt_g"], "0"),
            ("generator tensors in opt_d", crossed["opt_d"], "0"),
        ],
        {
            "uncovered": {k: list(v) for k, v in uncovered.items()},
            "opt_g_generator": dict(g_own),
            "opt_d_discriminator": dict(d_own),
            "opt_g_discriminator": crossed["opt_g"],
            "opt_d_generator": crossed["opt_d"],
        },
    )


#: The checks of this module (``pytest_gan.checks.ALL``).
D_STEP_ISOLATED = Check(
    "d-step-isolated", assert_d_step_isolated, ("d-step-leaks-into-generator",), exact=True
)
GRADIENTS_ZEROED = Check(
    "gradients-zeroed", assert_gradients_zeroed, ("gradient-accumulation",), exact=True
)
OPTIMIZERS_COVER = Check(
    "optimizers-cover", assert_optimizers_cover, ("optimizer-misses-parameters",), exact=True
)
