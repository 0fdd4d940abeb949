"""Checks of how training went: finite losses."""

from __future__ import annotations

import math
from typing import Any

from pytest_gan.checks._common import require_instrumented, require_run
from pytest_gan.errors import fail
from pytest_gan.training import GANRun

#: The losses the checks read (the contract's keys of a training step's result).
LOSS_KEYS = ("d_loss", "g_loss")


def _nonfinite(losses: dict[str, Any]) -> list[str]:
    return [k for k in LOSS_KEYS if k in losses and not math.isfinite(losses[k])]


def assert_losses_finite(run: GANRun) -> None:
    """``d_loss`` and ``g_loss`` stayed finite in the run and stay finite once the
    discriminator saturates.

    The second half reads the run's saturation probe (``run.history.saturation``): the
    training step run once more on copies of the networks whose discriminator outputs were
    forced to exact saturation, the state a long run reaches and a short one never does.
    Raises ``GANAssertionError`` with pitfall ``non-finite-loss``.
    """
    __tracebackhide__ = True
    run = require_run(run, "assert_losses_finite")
    require_instrumented(run, "assert_losses_finite")
    events = run.history.events
    in_run = {k: events[f"nonfinite:{k}"] for k in LOSS_KEYS if f"nonfinite:{k}" in events}
    if in_run:
        first = min(e["first_step"] for e in in_run.values())
        raise fail(
            "non-finite-loss",
            f"{' and '.join(in_run)} turned NaN or infinite during the run, first at step {first}.",
            [(f"steps with a non-finite {k}", e["count"], "0") for k, e in in_run.items()]
            + [("first such step", first, "-")],
            {"in_run": in_run, "first_step": first},
        )
    probe = run.history.saturation
    broken = {
        d: _nonfinite(probe[d]) for d in ("real", "fake") if d in probe and "error" not in probe[d]
    }
    broken = {d: keys for d, keys in broken.items() if keys}
    errors = {d: probe[d]["error"] for d in ("real", "fake") if d in probe and "error" in probe[d]}
    if not broken and not errors:
        return
    rows: list[tuple[str, Any, str]] = []
    for direction in ("real", "fake"):
        result = probe.get(direction, {})
        for k in LOSS_KEYS:
            if k in result:
                rows.append((f"{k}, D saturated towards {direction}", result[k], "finite"))
        if "error" in result:
            rows.append((f"step, D saturated towards {direction}", "raised", "ran"))
    detail = (
        f"The probe forced D's final layer to +/-{probe['logit']:g} (where float32 sigmoid is "
        "exactly 1 or 0) and ran the training step once on copies of the networks."
    )
    if errors:
        detail += " The step raised: " + "; ".join(f"{d}: {e}" for d, e in errors.items()) + "."
    raise fail(
        "non-finite-loss",
        "The losses stayed finite in this run but turn NaN or infinite once the "
        "discriminator saturates: the loss is numerically fragile (a log of a sigmoid "
        "without an epsilon, or log(1 - D(G(z))) typed out).",
        rows,
        {"saturation": probe, "nonfinite": broken, "errors": errors},
        detail=detail,
    )
