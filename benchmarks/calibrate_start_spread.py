"""How spread out a generator's samples are before its first step: the step-0 probe's
spread ratio (fixed-z fakes over held-out real samples, ``deciding.spread_by(run, 0)``),
for every healthy GAN and twin this project can build.

    python -m benchmarks.calibrate_start_spread OUT.jsonl [SEEDS] [GROUPS]

SEEDS is a comma list (default ``0,1,2``); GROUPS a comma list of ``zoo``, ``wild``
(the calibration half), ``validation`` (the wild's validation half), ``later`` (the wild
GANs added after the split), ``outside`` (the outside trials). Each spec is trained one
step (``pg.train(spec, steps=1)``) and its first probe, taken before any step, read. One
JSON line per spec and seed. It showed that a generator's spread before its first step
marks no class of its own: healthy GANs run from 0.002 to 3.8 of the data's
(docs/benchmarks.md "A generator leaving a collapsed start").
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator

import torch

import pytest_gan as pg
import wild
from fixtures import zoo
from pytest_gan.deciding import spread_by


def _zoo() -> Iterator[tuple[str, str, Callable[[], pg.GANSpec]]]:
    for name in zoo.HEALTHY:
        yield "zoo", name, zoo.case(name).spec
    for twin in (*zoo.BROKEN.values(), *zoo.SECOND_TWINS.values()):
        yield "zoo", twin.name, twin.spec


def _wild(half: str) -> Iterator[tuple[str, str, Callable[[], pg.GANSpec]]]:
    for gan in wild.HALVES[half]:
        yield half, f"{gan.name}:healthy", lambda gan=gan: gan.spec(None)
        for mutation in gan.mutations:
            yield half, f"{gan.name}:{mutation}", lambda gan=gan, m=mutation: gan.spec(m)


def _outside() -> Iterator[tuple[str, str, Callable[[], pg.GANSpec]]]:
    from benchmarks import trial_outside_zoo, trial_outside_zoo_2, trial_outside_zoo_3
    from benchmarks.trial_outside_zoo_5 import TRIALS as TRIALS_5

    for module in (trial_outside_zoo, trial_outside_zoo_2, trial_outside_zoo_3):
        for name, (make, _) in module.TRIALS.items():
            yield "outside", f"{module.__name__.rsplit('.', 1)[-1]}:{name}", make
    for name, make in TRIALS_5.items():
        yield "outside", f"trial_outside_zoo_5:{name}", make


GROUPS = {
    "zoo": _zoo,
    "wild": lambda: _wild("calibration"),
    "validation": lambda: _wild("validation"),
    "later": lambda: _wild("later"),
    "outside": _outside,
}


def every_spec(groups: list[str]) -> Iterator[tuple[str, str, Callable[[], pg.GANSpec]]]:
    """``(group, name, factory)`` for every spec of the ``groups`` of :data:`GROUPS`."""
    for group in groups:
        yield from GROUPS[group]()


def record(out: str, line: dict[str, object]) -> None:
    """``line`` with this machine's kernels, printed and appended to ``out`` as JSON."""
    line["kernels"] = torch.backends.cpu.get_cpu_capability()
    print(json.dumps(line), flush=True)
    with open(out, "a") as f:
        f.write(json.dumps(line) + "\n")


def main() -> None:
    out = sys.argv[1]
    seeds = [int(s) for s in (sys.argv[2] if len(sys.argv) > 2 else "0,1,2").split(",")]
    groups = (sys.argv[3] if len(sys.argv) > 3 else "zoo,wild,outside").split(",")
    for source, name, make in every_spec(groups):
        for seed in seeds:
            line: dict[str, object] = {"group": source, "case": name, "seed": seed}
            try:
                run = pg.train(make(), steps=1, seed=seed, device="cpu")
                line["spread0"] = spread_by(run, 0)
            except Exception as exc:  # a spec the scan cannot train: say so
                line["error"] = repr(exc)
            record(out, line)


if __name__ == "__main__":
    main()
