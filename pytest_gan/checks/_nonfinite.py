"""Verdicts on a run that diverged: the checks' own figures turn NaN with the run, and
read as NaN they look like other pitfalls (a generator whose weights "moved nan%" did not
learn; a D whose NaN scores rank every fake above every real sample looks too weak).
Such a run fails with the pitfall that explains it, ``non-finite-loss`` where its losses
went non-finite, never with an input error (a legitimate run can end here)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from pytest_gan.errors import fail
from pytest_gan.history import LOSS_KEYS, Event
from pytest_gan.run import GANRun


def finite_share(x: torch.Tensor) -> float:
    """The share of ``x``'s values that are finite (1.0 for an empty Tensor)."""
    return float(torch.isfinite(x).double().mean()) if x.numel() else 1.0


def nonfinite_losses(events: Mapping[str, Event]) -> dict[str, Event]:
    """The records of steps whose ``d_loss`` or ``g_loss`` was NaN or infinite, by loss."""
    return {k: events[f"nonfinite:{k}"] for k in LOSS_KEYS if f"nonfinite:{k}" in events}


def _broken_losses(run: GANRun) -> tuple[list[str], int] | None:
    """The losses (``LOSS_KEYS``; not other values a step returned or logged) the run
    recorded as NaN or infinite on some step, and the first such step; None when none."""
    broken = nonfinite_losses(run.history.events)
    if not broken:
        return None
    return sorted(broken), min(e.first_step for e in broken.values())


def _parameters_finite(module: nn.Module) -> bool:
    # Parameters only: a buffer may hold infinities by design (an additive attention
    # mask of -inf, a quantisation observer's initial bounds).
    return all(
        bool(torch.isfinite(p).all())
        for p in module.parameters()
        if p.is_floating_point() or p.is_complex()
    )


def nonfinite_state(run: GANRun) -> list[str]:
    """Where the run ended with NaN or infinite values: G's or D's parameters as they are
    now, and the fixed-z samples of the run's last probe (a generator whose weights are
    finite can still output NaN, through a buffer or its forward)."""
    found = []
    if not _parameters_finite(run.generator):
        found.append("G's weights")
    if not _parameters_finite(run.discriminator):
        found.append("D's weights")
    probes = run.history.probes
    if probes and not bool(torch.isfinite(probes[-1].samples).all()):
        found.append("G's samples at the last probe")
    return found


def ended_diverged(run: GANRun) -> bool:
    """Whether ``run``'s losses went non-finite and it ended with non-finite values in it
    (what :func:`diverged_verdict` fails)."""
    return _broken_losses(run) is not None and bool(nonfinite_state(run))


def diverged_verdict(run: GANRun, check: str) -> None:
    """Fail with ``non-finite-loss`` when ``run``'s losses went NaN or infinite and the run
    ended with non-finite values in it (``nonfinite_state``): ``check``'s figures are then
    NaN, or read from a broken state, and name no pitfall of their own. A run whose losses
    went non-finite on some steps but whose networks and samples are finite at its end (a
    step that skips non-finite updates, as a gradient scaler does) is judged as any other;
    ``assert_losses_finite`` reports those steps."""
    __tracebackhide__ = True
    losses = _broken_losses(run)
    if losses is None:
        return
    where = nonfinite_state(run)
    if not where:
        return
    broken, first = losses
    raise fail(
        "non-finite-loss",
        f"The run's {' and '.join(broken)} turned NaN or infinite from step {first} on, and "
        f"it ended with NaN or infinite values in {', '.join(where)}: {check} has nothing "
        "left to judge.",
        [
            ("first step with a non-finite loss", first, "-"),
            ("non-finite at the end of the run", ", ".join(where), "none"),
        ],
        {"nonfinite_losses": broken, "first_step": first, "nonfinite_state": where, "check": check},
        detail="assert_losses_finite on the run counts the steps.",
    )


def nonfinite_verdict(run: GANRun | None, fake: torch.Tensor, check: str) -> None:
    """Fail when generated samples hold NaN or infinite values: a verdict, never an input
    error, since a legitimate run can end there. The pitfall is ``non-finite-loss`` when
    the run's own losses went non-finite (the cause), else ``blank-output`` (NaN images
    render blank)."""
    __tracebackhide__ = True
    finite = finite_share(fake)
    if finite >= 1.0:
        return
    losses = None if run is None else _broken_losses(run)
    rows: list[tuple[str, Any, str]] = [("finite share of generated values", finite, "1")]
    evidence: dict[str, Any] = {"finite_share": finite, "check": check}
    if losses is not None:
        broken, first = losses
        rows.append(("first step with a non-finite loss", first, "-"))
        raise fail(
            "non-finite-loss",
            f"{1 - finite:.1%} of the generated values are NaN or infinite, and the run's "
            f"{' and '.join(broken)} turned non-finite from step {first} on: {check} "
            "has nothing left to judge.",
            rows,
            evidence | {"nonfinite_losses": broken, "first_step": first},
        )
    raise fail(
        "blank-output",
        f"{1 - finite:.1%} of the generated values are NaN or infinite: the images render "
        f"blank, and {check} has nothing to judge.",
        rows,
        evidence,
        detail="assert_losses_finite on the run tells whether training itself diverged.",
    )
