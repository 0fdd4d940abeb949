"""The checkpoint check's fixed-value rule for a bare generator (pitfall
``checkpoint-not-trained``, docs/pitfalls/checkpoint-not-trained.md): an exact round trip
whose every fixed-init tensor that a step moves still holds its value.

    python benchmarks/checkpoint_fixed_init.py untrained OUT.jsonl [--seeds 3]
    python benchmarks/checkpoint_fixed_init.py trained OUT.jsonl [--seeds 2] [--steps 1 10]

``untrained``: a copy of each healthy generator of the zoo and the wild corpus taken
before training (what an EMA or "best" copy never updated holds), checked as a bare
module with its spec's factory and checkpoint code, without and with
``reference=factory``. ``trained``: every zoo case and every wild GAN and mutation
trained ``--steps`` steps (uninstrumented: the rule reads no run), its generator checked
the same way. One JSON line per GAN, seed (and steps): the verdict of each call, and for
this rule's failures how many tensors it read (``fixed``).
"""

from __future__ import annotations

import argparse
import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

import pytest_gan as pg
from fixtures.zoo import BROKEN, HEALTHY
from pytest_gan import GANSpec, train
from wild import CORPUS


def verdict(generator: torch.nn.Module, spec: GANSpec, **kwargs: Any) -> str:
    try:
        pg.assert_checkpoint_roundtrip(
            generator,
            spec.make_generator,
            save=spec.save_checkpoint,
            load=spec.load_checkpoint,
            latent_dim=spec.latent_shape,
            num_classes=spec.num_classes,
            **kwargs,
        )
    except pg.GANAssertionError as e:
        fixed = e.evidence.get("at_fixed_init")
        return e.pitfall + ("" if fixed is None else f" (fixed rule, {len(fixed)} tensors)")
    return "pass"


def both(generator: torch.nn.Module, spec: GANSpec) -> dict[str, str]:
    return {
        "factory": verdict(generator, spec),
        "reference_factory": verdict(generator, spec, reference=spec.make_generator),
    }


def healthy() -> Iterator[tuple[str, Callable[[], GANSpec]]]:
    for name, c in HEALTHY.items():
        yield f"zoo:{name}", c.spec
    for g in CORPUS.values():
        yield f"wild:{g.name}", g.spec


def everything() -> Iterator[tuple[str, Callable[[], GANSpec]]]:
    yield from healthy()
    for name, c in BROKEN.items():
        yield f"zoo:{name}", c.spec
    for g in CORPUS.values():
        for m in g.mutations:
            yield f"wild:{g.name}~{m}", (lambda g=g, m=m: g.spec(m))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=("untrained", "trained"))
    parser.add_argument("out", type=Path)
    parser.add_argument("--seeds", type=int, default=None)
    parser.add_argument("--steps", type=int, nargs="+", default=[1, 10])
    args = parser.parse_args()
    with args.out.open("w") as out:

        def emit(row: dict[str, Any]) -> None:
            print(json.dumps(row), flush=True)
            out.write(json.dumps(row) + "\n")
            out.flush()

        if args.mode == "untrained":
            for name, make in healthy():
                spec = make()
                for seed in range(args.seeds or 3):
                    torch.manual_seed(seed)
                    g = copy.deepcopy(spec.make_generator())
                    emit({"gan": name, "seed": seed, **both(g, spec)})
            return
        for name, make in everything():
            for steps in args.steps:
                for seed in range(args.seeds or 2):
                    spec = make()
                    run = train(spec, steps=steps, seed=seed, instrument=False)
                    emit({"gan": name, "seed": seed, "steps": steps, **both(run.generator, spec)})


if __name__ == "__main__":
    main()
