"""The discriminator's output layer against the loss that reads it.

A ``Sigmoid`` at the end of D followed by a logits loss (``BCEWithLogitsLoss``,
``softplus``, ``logsigmoid``) squashes D's "logits" into (0, 1): the probability the loss
reads stays within (sigmoid(0), sigmoid(1)) = (0.5, 0.73), so D can never be confident,
and its loss has a floor far above a healthy D's (seed 000: "inappropriate activation
functions within the discriminator could distort its feedback"). The hinge and Wasserstein
losses expect unbounded scores too. The same layer under ``BCELoss`` (or a hand-written
log loss, or LSGAN's squares) is right.

A head that discards D's score is wrong under any loss: a ``Softmax`` over D's one output
normalises that output against itself and is exactly 1 for every input, so D's loss is a
constant and no gradient reaches either network. The final probe runs D on held-out
samples in eval mode as it is, then with its final layer (``probing.final_layer``: of its
layers with parameters, the last to begin running) forced to +200 and to -200: a D whose
every output is the same number all three times has such a head, whatever the loss
(``probing.forced_span``).

The facts come from the run's final probe, which re-runs the training step once on copies
of the networks (``pytest_gan.probing.saturation_probe``): the operation that made each
of D's outputs, read from the autograd graph through reshapes and means
(``output_head``: ``Sigmoid``, ``Addmm`` for a Linear, ...), and the functions the step
applies to D's outputs, which name its loss (``read_loss``). Neither is statistical. D's
output with its final layer forced to a logit of 200 is reported beside them (1.0 through a
Sigmoid, 200 through a linear head).
"""

from __future__ import annotations

import math

from pytest_gan.checks._check import Check
from pytest_gan.errors import fail
from pytest_gan.history import Saturation
from pytest_gan.probing import SATURATED_LOGIT
from pytest_gan.run import GANRun, require_instrumented, require_run

#: Operations whose output is bounded: a D whose outputs all come from one of them (read
#: from the autograd graph, through reshapes and means: ``probing.output_head``)
#: squashes its scores.
SQUASHING = frozenset({"Sigmoid", "Tanh", "Hardtanh", "Hardsigmoid", "Softsign"})

#: Readings of the loss (``read_loss``) that expect D's outputs unbounded.
EXPECTS_UNBOUNDED = {
    "logit": "a logits loss (BCEWithLogits / softplus / logsigmoid)",
    "margin": "a hinge loss",
    "critic": "a Wasserstein critic's loss",
}


def assert_d_output_fits_loss(run: GANRun) -> None:
    """D's final activation fits the loss its training step applies to D's outputs.

    Raises ``GANAssertionError`` with pitfall ``discriminator-wrong-activation`` when D's
    output is one number whatever its last layer computes (a ``Softmax`` over a single
    output), or when D's output layer squashes its scores into a bounded range (a
    ``Sigmoid`` or ``Tanh`` head) while the step's loss reads them as logits, hinge margins
    or critic scores. Runs whose step could not be probed (the final probe raised before
    calling D) pass.
    """
    __tracebackhide__ = True
    run = require_run(run, "assert_d_output_fits_loss")
    require_instrumented(run, "assert_d_output_fits_loss")
    probe = run.history.saturation
    if probe is None:
        return
    _fail_if_head_discards_score(probe)
    reads = probe.d_loss_reads
    heads = set(probe.d_heads or [])
    at_saturation = probe.d_output_at_saturation
    if at_saturation is None:
        at_saturation = math.nan
    if reads not in EXPECTS_UNBOUNDED or not heads or not heads <= SQUASHING:
        return
    ops = ", ".join(probe.d_ops or [])
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
            ("operation that makes D's output", ", ".join(sorted(heads)), "a linear layer"),
            (
                f"D's output with its last layer forced to {SATURATED_LOGIT:g}",
                at_saturation,
                f"{SATURATED_LOGIT:g} (no squashing head)",
            ),
            ("functions the loss applies to D's outputs", ops or "-", "-"),
        ],
        {
            "d_heads": sorted(heads),
            "d_output_at_saturation": at_saturation,
            "loss_reads": reads,
            "d_ops": list(probe.d_ops or []),
        },
        detail=detail,
    )


def _fail_if_head_discards_score(probe: Saturation) -> None:
    __tracebackhide__ = True
    span = probe.d_output_span_forced
    if span is None or not all(math.isfinite(v) for v in span) or span[0] != span[1]:
        return
    heads = ", ".join(probe.d_heads or []) or "-"
    raise fail(
        "discriminator-wrong-activation",
        f"D's output is {span[0]:g} for every input, whatever its last layer computes: its "
        f"output layer ({heads}) discards D's score, so D's loss is a constant and no "
        f"gradient from the data reaches D or G.",
        [
            (
                f"D's outputs, as they are and forced to +/-{SATURATED_LOGIT:g} (lowest, highest)",
                f"{span[0]:g}, {span[1]:g}",
                "two different values",
            ),
            ("operation that makes D's output", heads, "a linear layer, or a Sigmoid"),
        ],
        {"d_output_span_forced": list(span), "d_heads": list(probe.d_heads or [])},
        detail=(
            "A Softmax over one output is always exactly 1 (it divides the output by "
            "itself). End D with a linear layer for a logits, hinge or Wasserstein loss, or "
            "with a Sigmoid for BCELoss."
        ),
    )


#: The check of this module (``pytest_gan.checks.ALL``).
D_OUTPUT_FITS_LOSS = Check(
    "d-output-fits-loss", assert_d_output_fits_loss, ("discriminator-wrong-activation",), exact=True
)
