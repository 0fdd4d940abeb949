"""A bit-for-bit fingerprint of short runs and their verdicts, to show that a change of
structure changes no behaviour.

    python benchmarks/fingerprint.py [STEPS] > OUT.json

Every GAN of the reference zoo (``fixtures.zoo``: the healthy cases and the broken twins)
and of the wild corpus (``wild``: each GAN healthy and with each of its mutations) is
trained ``STEPS`` steps (24 by default) on seed 0, one thread. For each run: a hash of
every history row, probe (its samples included), saturation, wiring and event record, and
every check of ``pytest_gan.checks.ALL`` called with its defaults: "pass", the pitfall it
raised with a hash of its whole message, or a hash of the input error it raised, plus a
hash of any warning. Run it on two versions of the code (``PYTHONPATH`` pointing at
each) and compare the files. A message that quotes a figure of a network initialised from
torch's global generator inside user code (a checkpoint mutation that saves a fresh
generator) differs from process to process, whatever the version: torch seeds that
generator anew in each process.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
import warnings
from typing import Any

import torch

import pytest_gan as pg
import wild
from fixtures.zoo import BROKEN, HEALTHY, case
from pytest_gan.checks import ALL


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _plain(value: Any) -> Any:
    if hasattr(value, "items"):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, torch.Tensor):
        data = value.detach().cpu().contiguous().numpy().tobytes()
        return hashlib.sha256(data).hexdigest()[:12]
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    return value


def fingerprint(spec: pg.GANSpec, steps: int) -> dict[str, Any]:
    try:
        run = pg.train(spec, steps=steps, seed=0)
    except Exception as exc:  # a spec that cannot train is part of the fingerprint
        return {"train": _digest(f"{type(exc).__name__}: {exc}")}
    h = hashlib.sha256()
    parts: list[Any] = [*run.history, *run.history.probes]
    parts += [run.history.saturation, run.history.wiring, run.history.events]
    for part in parts:
        h.update(json.dumps(_plain(part), sort_keys=True, default=str).encode())
    verdicts = {}
    for check in ALL:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                check.function(run)
                verdict = "pass"
            except pg.GANAssertionError as exc:
                verdict = f"{exc.pitfall} {_digest(str(exc))}"
            except (ValueError, TypeError) as exc:
                verdict = f"error {_digest(str(exc))}"
        if caught:
            verdict += " warn " + _digest(" ".join(str(w.message) for w in caught))
        verdicts[check.id] = verdict
    return {"history": h.hexdigest()[:16], "verdicts": verdicts}


def main() -> None:
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 24
    torch.set_num_threads(1)
    specs = {f"zoo:{name}": case(name).spec() for name in [*HEALTHY, *BROKEN]}
    for name, gan in wild.CORPUS.items():
        for mutation in [None, *gan.mutations]:
            specs[f"wild:{name}~{mutation or 'healthy'}"] = gan.spec(mutation)
    out = {}
    for key, spec in specs.items():
        out[key] = fingerprint(spec, steps)
        print(key, file=sys.stderr, flush=True)
    print(json.dumps(out, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
