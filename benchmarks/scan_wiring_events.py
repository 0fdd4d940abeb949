"""Which exact wiring events every spec this project can build records in a short run:
every healthy GAN and twin of the zoo, every wild GAN (all halves) with each of its
mutations, and every outside trial.

    python -m benchmarks.scan_wiring_events OUT.jsonl [FILTER]

Each spec is trained 6 steps on seed 0 (the events are exact records: their presence does
not depend on how long a run is); one JSON line per spec with the count of its
``d_carried_grads`` steps, the stale-gradient events and whether a harmful leak was
recorded; and whether a ``d_loss`` it returned holds a gradient penalty
(``d_loss_penalty``), whether its D is a critic, and whether ``assert_lipschitz`` counts
it as penalised with and without that event (``penalised``, ``penalised_before``); whether
its step took a gradient through D with ``create_graph=True`` that a backward pass ran
through, where no ``d_loss`` graph showed the penalty (``d_penalty_gradient``), and whether
it counts as penalised without that event (``penalised_by_graph``).
FILTER keeps the specs whose name contains it. It measured the ``d_carried_grads`` rule
(docs/pitfalls/gradient-accumulation.md): no healthy spec records it; and which specs the
folded-penalty reading changes (docs/pitfalls/discriminator-not-lipschitz.md).
"""

from __future__ import annotations

import sys
import warnings

import pytest_gan as pg
from benchmarks.calibrate_start_spread import every_spec, record
from pytest_gan.checks._common import CRITIC, score_kind
from pytest_gan.checks.lipschitz import FOLDED, TAKEN, gradient_penalty
from pytest_gan.instrument import PENALTY_GRADIENT, PENALTY_IN_D_LOSS


def main() -> None:
    out = sys.argv[1]
    keep = sys.argv[2] if len(sys.argv) > 2 else ""
    warnings.simplefilter("ignore")
    groups = ["zoo", "wild", "validation", "later", "outside"]
    for group, name, make in every_spec(groups):
        case = f"{group}:{name}"
        if keep not in case:
            continue
        line: dict[str, object] = {"case": case}
        try:
            run = pg.train(make(), steps=6, seed=0, device="cpu")
        except Exception as exc:  # a spec the scan cannot train: say so
            line["error"] = repr(exc)[:200]
        else:
            events = run.history.events
            carried = events.get("d_carried_grads")
            line["carried"] = 0 if carried is None else carried.count
            line["stale"] = sorted(k for k in events if k.endswith("stale_grads"))
            line["leak"] = "d_leak_in_g_step" in events
            line["penalty"] = PENALTY_IN_D_LOSS in events
            line["critic"] = score_kind(run) == CRITIC
            penalty = gradient_penalty(run)
            line["penalised"] = penalty is not None
            # What counted before the folded penalty was read: the loss, or a "gp" returned.
            line["penalised_before"] = penalty not in (None, FOLDED, TAKEN)
            # ... and before a penalty was also seen by its gradient.
            line["penalty_gradient"] = PENALTY_GRADIENT in events
            line["penalised_by_graph"] = penalty not in (None, TAKEN)
        record(out, line)


if __name__ == "__main__":
    main()
