"""Which of a network's updates in one training step its norm readings should come from.

    python -m benchmarks.calibrate_pace_updates OUT.jsonl SOURCE:NAME:MUTATION:SEED ...

A step may update one network more than once: several critic steps per generator step
(WGAN, WGAN-GP, most SN-GANs), a generator stepped several times (the mode-collapse
mutations), or a lazy regulariser's own update after the main one (StyleGAN2's R1 every 16
steps, its path-length penalty every 4). The instrumentation reads the norms of one update
per network on every ``NORM_EVERY``-th step. Until 2026-12-05 the pending reading was
overwritten by each update, so the last one counted; a lazy R1 update, a fiftieth of the
main one or less, then made a healthy D "too weak" (``benchmarks/trial_outside_zoo_3.py``).

Cases as in ``calibrate_pace.py`` (``calibrate_extension.case_spec``:
``wild:GAN:MUTATION:SEED``, ``zoo:NAME:-:SEED``, ``outside3:NAME:-:SEED`` for
``trial_outside_zoo_3``), trained to 200 steps with the instrumentation reading every
update of a read step (the code before the change), each update's pace (``d_pace`` /
``g_pace``) and gradient norm recorded in the order taken.
Written per case: ``checks.balance``'s figures (the pace ratio and the resting share)
under three rules, the first update of each read step, the last, and the largest, and the
late window's AUC. Run it from a copy of the code before the change.
"""

from __future__ import annotations

import json
import math
import statistics
import sys
from typing import Any

import torch

import pytest_gan as pg
from benchmarks.calibrate_extension import case_spec
from pytest_gan import instrument
from pytest_gan.checks.balance import late_probes
from pytest_gan.metrics import finite_median

_updates: list[tuple[int, str, float, float]] = []
_step = [0]


def _recording_post(original: Any) -> Any:
    def post(self: Any, optimizer: Any, args: Any, kwargs: Any) -> None:
        reading = bool(self.before)
        original(self, optimizer, args, kwargs)
        if reading:
            pending = self.owner.pending
            pace = pending.get(f"{self.role}_pace")
            grad = pending.get(f"{self.role}_grad_norm")
            _updates.append(
                (
                    _step[0],
                    self.role,
                    math.nan if pace is None else float(pace),
                    math.nan if grad is None else float(grad),
                )
            )

    return post


def _counting_take_row(original: Any) -> Any:
    def take_row(self: Any, step: int, row: dict[str, float]) -> dict[str, float]:
        out = original(self, step, row)
        _step[0] = step + 1
        return out

    return take_row


def _rule_figures(
    by_step: dict[tuple[int, str], list[tuple[float, float]]], pick: Any
) -> dict[str, float]:
    d = [pick(v)[0] for (s, r), v in sorted(by_step.items()) if r == "d"]
    g = [pick(v)[0] for (s, r), v in sorted(by_step.items()) if r == "g"]
    grads = [pick(v)[1] for (s, r), v in sorted(by_step.items()) if r == "d"]
    d_pace = finite_median(d)
    g_pace = finite_median(g)
    reads = [x for x in grads if math.isfinite(x)]
    return {
        "pace_ratio": d_pace / g_pace if g_pace > 0 else math.nan,
        "resting_share": sum(x == 0.0 for x in reads) / len(reads) if reads else math.nan,
    }


def main() -> None:
    torch.set_num_threads(1)
    watch = instrument._OptimizerWatch
    watch._post = _recording_post(watch._post)  # type: ignore[method-assign]
    instrument.Instrument.take_row = _counting_take_row(instrument.Instrument.take_row)  # type: ignore[method-assign]
    out_path = sys.argv[1]
    for case in sys.argv[2:]:
        spec, seed = case_spec(case)
        _updates.clear()
        _step[0] = 0
        run = pg.train(spec, steps=200, seed=seed, device="cpu")
        by_step: dict[tuple[int, str], list[tuple[float, float]]] = {}
        for step, role, pace, grad in _updates:
            by_step.setdefault((step, role), []).append((pace, grad))
        line: dict[str, Any] = {
            "case": case,
            "kernels": torch.backends.cpu.get_cpu_capability(),
            "auc": finite_median([p["d_auc"] for p in late_probes(run)]),
            "updates_per_read_step": {
                role: statistics.median(len(v) for (s, r), v in by_step.items() if r == role)
                for role in ("d", "g")
                if any(r == role for _, r in by_step)
            },
            "first": _rule_figures(by_step, lambda v: v[0]),
            "last": _rule_figures(by_step, lambda v: v[-1]),
            "largest": _rule_figures(by_step, lambda v: max(v, key=lambda u: u[0])),
        }
        print(json.dumps(line), flush=True)
        with open(out_path, "a") as f:
            f.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()
