"""Checks of how training went: finite losses, a generator that learns."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any

import torch

from pytest_gan.checks._causes import settings
from pytest_gan.checks._check import Check
from pytest_gan.checks._nonfinite import diverged_verdict, nonfinite_losses
from pytest_gan.errors import GANWarning, fail
from pytest_gan.history import LOSS_KEYS
from pytest_gan.metrics import (
    energy_distance,
    finite_median,
    median_tensor_movement,
    parameter_movement,
)
from pytest_gan.run import GANRun, require_instrumented, require_run, verdict_at_first_steps

#: Least relative movement ||theta_T - theta_0|| / ||theta_0|| of the generator's
#: parameters in a run of at least ``MOVEMENT_STEPS`` generator steps (a shorter run is
#: held to its share of it: ``least_movement``).
#: Why here: 2.3x below the healthy least (0.0274: an MLP GAN outside the zoo, a BatchNorm
#: D, data near G's first samples; the zoo's least is 0.129) and 2.2x above the generator
#: whose learning rate is 100x too small (0.0054 on the image GANs; a small MLP's G at
#: 1/100 of a high rate moves 0.015-0.028 and passes); calibration: docs/benchmarks.md
#: "Calibration notes".
MIN_PARAMETER_MOVEMENT = 0.012

#: A generator under ``MIN_PARAMETER_MOVEMENT`` also passes when the median over its weight
#: tensors of each one's relative movement reaches this (``metrics.median_tensor_movement``;
#: a shorter run held to its share): a StyleGAN-like mapping network stores its weights 100x
#: large (``lr_mul`` 0.01) and rules the whole figure while moving little relative to them.
#: Why here: the geometric mean of the style GANs' healthy least (0.062, whole movement
#: 0.0031) and the most of the generators 100x too slow that the whole figure fails
#: (0.0121), 2.3x and 2.2x from each; calibration: docs/benchmarks.md "Calibration notes".
MIN_MEDIAN_TENSOR_MOVEMENT = 0.027

#: The generator steps ``MIN_PARAMETER_MOVEMENT`` was measured at. Over a run's first
#: steps Adam moves the weights about linearly in the steps, healthy or slow (measured at
#: 20, 60, 100 and 200 steps: docs/benchmarks.md "Calibration notes"), so a run of fewer
#: G steps is held to that share of the least movement; a longer one to all of it.
MOVEMENT_STEPS = 200

#: A generator whose weights moved less, but moved, also passes when its samples came this
#: much closer to the data: final energy distance to real samples at most this share of the
#: initial one (same z, 1,000 samples each); parameter movement depends on the learning
#: rate and the weights' size. Only a generator whose weights a gradient reached and moved
#: passes this way: samples also move through buffers (BatchNorm's running statistics).
#: Why here: between the healthy most (0.14, a residual MLP that moved 2.4%) and a
#: generator that does not learn (0.99); calibration: docs/benchmarks.md "Calibration
#: notes".
MAX_DISTANCE_RATIO = 0.5

#: Samples each side of that comparison.
DISTANCE_SAMPLES = 1000


def _nonfinite(losses: Mapping[str, Any]) -> list[str]:
    return [k for k in LOSS_KEYS if k in losses and not math.isfinite(losses[k])]


def assert_losses_finite(run: GANRun) -> None:
    """``d_loss`` and ``g_loss`` stayed finite in the run and stay finite once the
    discriminator saturates.

    The second half reads the run's saturation probe (``run.history.saturation``): the
    training step run once more on copies of the networks whose discriminator outputs were
    forced to exact saturation, the state a long run reaches and a short one never does.
    Raises ``GANAssertionError`` with pitfall ``non-finite-loss``. A loss that ignores a
    common shift of D's outputs (``Saturation.shift_invariant``: a softmax over the batch)
    sees no saturated D in outputs forced all alike, and is judged on the run's losses.
    """
    __tracebackhide__ = True
    run = require_run(run, "assert_losses_finite")
    require_instrumented(run, "assert_losses_finite")
    in_run = nonfinite_losses(run.history.events)
    if in_run:
        first = min(e.first_step for e in in_run.values())
        raise fail(
            "non-finite-loss",
            f"{' and '.join(in_run)} turned NaN or infinite during the run, first at step {first}.",
            [(f"steps with a non-finite {k}", e.count, "0") for k, e in in_run.items()]
            + [("first such step", first, "-")],
            {"in_run": {k: dict(e) for k, e in in_run.items()}, "first_step": first},
        )
    probe = run.history.saturation
    if probe is None:
        return
    results = {d: r for d, r in (("real", probe.real), ("fake", probe.fake)) if r is not None}
    broken = {d: _nonfinite(r) for d, r in results.items() if "error" not in r}
    broken = {d: keys for d, keys in broken.items() if keys}
    errors = {d: r["error"] for d, r in results.items() if "error" in r}
    # A step that raises on the probe's copies with D's output forced to 0, too, says
    # nothing of saturation: it cannot run there at all (state of its own the copies lack).
    unprobed = {d: r["unsaturated_error"] for d, r in results.items() if "unsaturated_error" in r}
    errors = {d: e for d, e in errors.items() if d not in unprobed}
    if unprobed and not broken and not errors:
        warnings.warn(
            GANWarning(
                "assert_losses_finite: the saturation probe could not run the training step "
                "on copies of the networks, with D saturated or its output forced to 0 ("
                + "; ".join(sorted(set(unprobed.values())))
                + "): only the run's own losses were judged. A step that reads the networks, "
                "optimizers and batch size from ctx and its batch runs there."
            ),
            stacklevel=2,
        )
        return
    if not broken and not errors:
        return
    if probe.shift_invariant:
        # The loss ignores a common shift of D's outputs (a softmax over the batch): forced
        # all alike to +/-logit they are no saturated D, and a state its gradient never
        # moves D to (probing.shift_invariant). The figures stay in run.history.saturation.
        return
    rows: list[tuple[str, Any, str]] = []
    for direction in ("real", "fake"):
        result = results.get(direction, {})
        for k in LOSS_KEYS:
            if k in result:
                rows.append((f"{k}, D saturated towards {direction}", result[k], "finite"))
        if direction in errors:
            rows.append((f"step, D saturated towards {direction}", "raised", "ran"))
    how = (
        "computed the watched loop's losses again, as its first steps computed them, from "
        "D's outputs"
        if probe.watched
        else "ran the training step once on copies of the networks"
    )
    detail = (
        f"The probe forced D's final layer to +/-{probe.logit:g} (where float32 sigmoid is "
        f"exactly 1 or 0) and {how}."
    )
    if errors:
        detail += " The step raised: " + "; ".join(f"{d}: {e}" for d, e in errors.items()) + "."
    raise fail(
        "non-finite-loss",
        "The losses stayed finite in this run but turn NaN or infinite once the "
        "discriminator saturates: the loss is numerically fragile (a log of a sigmoid "
        "without an epsilon, or log(1 - D(G(z))) typed out).",
        rows,
        {"saturation": dict(probe), "nonfinite": broken, "errors": errors},
        detail=detail,
    )


def generator_steps(run: GANRun) -> int:
    """How many times G's optimizer stepped: the sum of ``g_updates`` over the history, or
    where the history was thinned (and that sum lost rows), at least the number of steps
    G stepped in (exact: ``no_g_update`` events count the others). With one optimizer for
    both networks, all its steps count (recorded as D's; those of D's update among them),
    so such a generator is held to the whole least movement from its 200th step on."""
    h = run.history
    shared = h.wiring is not None and h.wiring.same_optimizer
    role = "d" if shared else "g"
    column = f"{role}_updates"
    summed = int(sum(v for v in h[column] if math.isfinite(v))) if column in h else 0
    missing = h.events.get(f"no_{role}_update")
    return max(summed, run.steps - (missing.count if missing is not None else 0))


def least_movement(g_steps: int, limit: float | None = None) -> float:
    """The relative movement a generator stepped ``g_steps`` times must reach: ``limit``
    (``MIN_PARAMETER_MOVEMENT`` by default), or its share ``g_steps / MOVEMENT_STEPS`` of
    it in a shorter run (at least one step's share)."""
    limit = MIN_PARAMETER_MOVEMENT if limit is None else limit
    return limit * min(1.0, max(g_steps, 1) / MOVEMENT_STEPS)


def assert_generator_learns(run: GANRun) -> None:
    """The generator's weights moved measurably away from their initial values.

    Judged against the generator's own initial state (kept by ``train``): the relative
    movement ``||theta_T - theta_0|| / ||theta_0||`` of its parameters must reach
    ``MIN_PARAMETER_MOVEMENT`` (in a run of fewer than ``MOVEMENT_STEPS`` generator steps,
    its share of it: ``least_movement``), or the median over its weight tensors of each
    one's relative movement must reach ``MIN_MEDIAN_TENSOR_MOVEMENT`` (its share alike),
    or else its samples must have come much closer to the data
    (energy distance at most ``MAX_DISTANCE_RATIO`` of the initial generator's, same z)
    while a gradient reached its weights and moved them: samples moved only by buffers
    such as BatchNorm's running statistics, or weights moved only by weight decay, are not
    learning. Raises ``GANAssertionError`` with pitfall
    ``generator-not-learning``, saying whether the optimizer never stepped, no gradient
    reached G, every gradient read on G was exactly zero (then weights moved by weight
    decay alone do not pass either), or G moved too little.

    A run whose losses went NaN or infinite and that ended with non-finite weights or
    samples fails with ``non-finite-loss`` instead (``_nonfinite.diverged_verdict``).
    """
    __tracebackhide__ = True
    run = require_run(run, "assert_generator_learns")
    require_instrumented(run, "assert_generator_learns")
    # A run that ended diverged is named so, even where the verdict at its first steps
    # (before it diverged, while trained on for another check) would stand.
    diverged_verdict(run, "assert_generator_learns")
    if verdict_at_first_steps(run, "assert_generator_learns"):
        return
    names = [n for n, p in run.generator.named_parameters() if p.requires_grad]
    before, after = run.initial_generator_state, run.generator.state_dict()
    movement = parameter_movement(before, after, names)
    median_movement = median_tensor_movement(before, after, names)
    h = run.history
    readings = [v for v in h["g_grad_norm"] if math.isfinite(v)] if "g_grad_norm" in h else []
    # Every gradient read (at least two) was exactly zero: whatever moved the weights
    # (weight decay) or the samples (buffers), it was not what G's loss taught it. Two, not
    # one: a short run's only reading is its first step's, which a G-first loop with a
    # zero-initialised D head can leave at exactly 0 while G learns afterwards.
    zero_gradient = len(readings) >= 2 and max(readings) == 0.0
    g_steps = generator_steps(run)
    least = least_movement(g_steps)
    least_median = least_movement(g_steps, MIN_MEDIAN_TENSOR_MOVEMENT)
    shared = h.wiring is not None and h.wiring.same_optimizer
    if (movement >= least or median_movement >= least_median) and not zero_gradient:
        return
    grad = finite_median(readings) if readings else math.nan
    update = finite_median(h["g_update_norm"]) if "g_update_norm" in h else math.nan
    # The samples' distance speaks for G only where its weights moved: buffers alone
    # (BatchNorm's running statistics) move samples too.
    learned = movement > 0.0 and not zero_gradient
    n = run.sample_count(DISTANCE_SAMPLES)
    real = run.real(n)
    final, initial = run.samples(n), run.samples(n, initial=True)
    distance_ratio = math.nan
    if bool(torch.isfinite(final).all() and torch.isfinite(initial).all()):
        start = energy_distance(initial, real)
        distance_ratio = energy_distance(final, real) / start if start > 0 else math.nan
        if learned and distance_ratio <= MAX_DISTANCE_RATIO:
            return
    if g_steps == 0:
        cause = "opt_g never stepped."
    elif not math.isfinite(grad) and not (shared and movement > 0.0):
        # (One optimizer for both networks reads its norms as D's: G's own are not read.)
        cause = (
            "opt_g stepped, but no gradient ever reached its parameters: the generator's "
            "loss does not flow back into G (fakes detached in G's step?), or opt_g holds "
            "other parameters."
        )
    elif zero_gradient:
        cause = (
            "opt_g stepped, but every gradient read on G was exactly zero: the generator's "
            "loss does not depend on G (fakes detached in G's step, with gradients zeroed "
            "in place rather than set to None, or a D whose output does not change with "
            "its input, such as a Softmax over one output?)."
        )
    elif movement == 0.0:
        cause = "opt_g stepped, but G's parameters did not change."
    else:
        cause = "G was updated, but by too little to matter: is its learning rate too small"
        cause += (
            f", or the gradient D passes back to it too weak (median norm {grad:.2g})?"
            if math.isfinite(grad)
            else "?"
        )
    if zero_gradient and movement > 0.0:
        cause += (
            " Its weights moved with no gradient behind them: that is weight decay (or "
            "another update outside G's loss), not learning."
        )
    if movement == 0.0 and distance_ratio <= MAX_DISTANCE_RATIO:
        cause += (
            f" Its samples did come closer to the data (distance ratio {distance_ratio:.2f}), "
            "but through its buffers (such as BatchNorm's running statistics), not its "
            "weights."
        )
    raise fail(
        "generator-not-learning",
        f"The generator's weights moved {movement:.2%} from their initial values in "
        f"{run.steps} steps{', with zero gradients' if zero_gradient else ''}: it did not "
        f"learn. {cause}",
        [
            ("relative parameter movement", movement, f">= {least:.2g}"),
            ("median weight tensor's relative movement", median_movement, f">= {least_median:.2g}"),
            ("distance to data, final / initial", distance_ratio, f"<= {MAX_DISTANCE_RATIO:g}"),
            ("opt_g steps", g_steps, f"{run.steps}"),
            ("median G gradient norm", grad, "> 0"),
            ("median G update norm", update, "> 0"),
        ],
        {
            "movement": movement,
            "median_tensor_movement": median_movement,
            "distance_ratio": distance_ratio,
            "g_steps": g_steps,
            "median_g_grad_norm": grad,
            "median_g_update_norm": update,
        },
        detail=settings(run, lead="g"),
    )


#: The checks of this module (``pytest_gan.checks.ALL``).
LOSSES_FINITE = Check("losses-finite", assert_losses_finite, ("non-finite-loss",), exact=True)
GENERATOR_LEARNS = Check("generator-learns", assert_generator_learns, ("generator-not-learning",))
