"""Which exact wiring events every spec this project can build records in a short run:
every healthy GAN and twin of the zoo, every wild GAN (all halves) with each of its
mutations, and every outside trial.

    python -m benchmarks.scan_wiring_events OUT.jsonl [FILTER]

Each spec is trained 6 steps on seed 0 (the events are exact records: their presence does
not depend on how long a run is); one JSON line per spec with the count of its
``d_carried_grads`` steps, the stale-gradient events and whether a harmful leak was
recorded. FILTER keeps the specs whose name contains it. It measured the
``d_carried_grads`` rule (docs/pitfalls/gradient-accumulation.md): no healthy spec
records it.
"""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import Callable, Iterator

import torch

import pytest_gan as pg
import wild
from fixtures import zoo


def specs() -> Iterator[tuple[str, Callable[[], pg.GANSpec]]]:
    for name in zoo.HEALTHY:
        yield f"zoo:{name}", zoo.case(name).spec
    for twin in (*zoo.BROKEN.values(), *zoo.SECOND_TWINS.values()):
        yield f"zoo:{twin.name}", twin.spec
    for half in wild.HALVES:
        for gan in wild.HALVES[half]:
            yield f"wild:{gan.name}:healthy", lambda gan=gan: gan.spec(None)
            for mutation in gan.mutations:
                yield f"wild:{gan.name}:{mutation}", lambda gan=gan, m=mutation: gan.spec(m)
    from benchmarks import trial_outside_zoo, trial_outside_zoo_2, trial_outside_zoo_3
    from benchmarks.trial_outside_zoo_5 import TRIALS as TRIALS_5

    for module in (trial_outside_zoo, trial_outside_zoo_2, trial_outside_zoo_3):
        for name, (make, _) in module.TRIALS.items():
            yield f"{module.__name__.rsplit('.', 1)[-1]}:{name}", make
    for name, make in TRIALS_5.items():
        yield f"trial_outside_zoo_5:{name}", make


def main() -> None:
    out = sys.argv[1]
    keep = sys.argv[2] if len(sys.argv) > 2 else ""
    warnings.simplefilter("ignore")
    for name, make in specs():
        if keep not in name:
            continue
        line: dict[str, object] = {"case": name}
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
        line["kernels"] = torch.backends.cpu.get_cpu_capability()
        print(json.dumps(line), flush=True)
        with open(out, "a") as f:
            f.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()
