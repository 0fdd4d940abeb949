"""The discriminator's output layer against the loss that reads it.

A ``Sigmoid`` at the end of D followed by a logits loss (``BCEWithLogitsLoss``,
``softplus``, ``logsigmoid``) squashes D's "logits" into (0, 1): the probability the loss
reads stays within (sigmoid(0), sigmoid(1)) = (0.5, 0.73), so D can never be confident,
and its loss has a floor far above a healthy D's (seed 000: "inappropriate activation
functions within the discriminator could distort its feedback"). The hinge and Wasserstein
losses expect unbounded scores too. The same layer under ``BCELoss`` (or a hand-written
log loss, or LSGAN's squares) is right.

Both facts come from the run's final probe, which re-runs the training step once on copies
of the networks with D's last layer forced to a logit of +200 (``pytest_gan.instrument
.saturation_probe``): D's output there is 200 for a linear head and at most 1 for a
squashing one, and the functions the step applies to D's outputs name its loss
(``read_loss``). No threshold is statistical: a forced logit of 200 reaches 1.0 exactly
through a Sigmoid (or Tanh), and any unsquashed head passes it on unchanged.
"""

from __future__ import annotations

import math

from pytest_gan.checks._common import require_instrumented, require_run
from pytest_gan.errors import fail
from pytest_gan.instrument import SATURATED_LOGIT
from pytest_gan.training import GANRun

#: D's output, with its last layer forced to +SATURATED_LOGIT, at or below this means its
#: output layer squashes (Sigmoid and Tanh give exactly 1.0; a linear head gives 200).
SQUASHED = 1.0 + 1e-6

#: Readings of the loss (``read_loss``) that expect D's outputs unbounded.
EXPECTS_UNBOUNDED = {
    "logit": "a logits loss (BCEWithLogits / softplus / logsigmoid)",
    "margin": "a hinge loss",
    "critic": "a Wasserstein critic's loss",
}


def assert_d_output_fits_loss(run: GANRun) -> None:
    """D's final activation fits the loss its training step applies to D's outputs.

    Raises ``GANAssertionError`` with pitfall ``discriminator-wrong-activation`` when D's
    output layer squashes its scores into a bounded range (a ``Sigmoid`` or ``Tanh`` head)
    while the step's loss reads them as logits, hinge margins or critic scores. Runs whose
    step could not be probed (the final probe raised before calling D) pass.
    """
    __tracebackhide__ = True
    run = require_run(run, "assert_d_output_fits_loss")
    require_instrumented(run, "assert_d_output_fits_loss")
    probe = run.history.saturation
    reads = probe.get("d_loss_reads")
    at_saturation = probe.get("d_output_at_saturation", math.nan)
    if reads not in EXPECTS_UNBOUNDED or not at_saturation <= SQUASHED:
        return
    ops = ", ".join(probe.get("d_ops", []))
    detail = ""
    if reads == "logit":
        detail = (
            "Read as a logit, D's output in (0, 1) means a probability of being real between "
            "sigmoid(0) = 0.50 and sigmoid(1) = 0.73, whatever D has learned: the fakes can "
            "never be scored below one half, so D's loss cannot fall below about 1.0 and its "
            "feedback to G is distorted."
        )
    raise fail(
        "discriminator-wrong-activation",
        f"D's output layer squashes its scores into a bounded range, but the training step "
        f"applies {EXPECTS_UNBOUNDED[reads]} to them, which expects unbounded scores.",
        [
            (
                f"D's output with its last layer forced to {SATURATED_LOGIT:g}",
                at_saturation,
                f"{SATURATED_LOGIT:g} (no squashing head)",
            ),
            ("functions the loss applies to D's outputs", ops or "-", "-"),
        ],
        {
            "d_output_at_saturation": at_saturation,
            "loss_reads": reads,
            "d_ops": list(probe.get("d_ops", [])),
        },
        detail=detail,
    )
