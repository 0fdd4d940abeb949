"""What the outside sets (``benchmarks/trial_outside_zoo_*.py``) share: their JSON lines,
a run judged by every check, and runs compared with a team's baseline of a healthy GAN."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch

import pytest_gan as pg
from pytest_gan.baseline.store import Baseline
from tests.tiny import verdicts


def write(line: dict[str, Any], out: Path | None) -> None:
    """Print ``line`` as JSON and append it to ``out``, if given."""
    print(json.dumps(line), flush=True)
    if out is not None:
        with out.open("a") as f:
            f.write(json.dumps(line) + "\n")


def judged(spec: pg.GANSpec, gan: str, seed: int, steps: int, max_steps: int) -> dict[str, Any]:
    """One run trained to ``steps``, on up to ``max_steps`` while a statistical verdict
    waits, as the smoke suite trains it (but never stopped early), and every check's
    verdict on it; a step that raises gives a line with the error's text."""
    started = time.perf_counter()
    try:
        run = pg.train(spec, steps=steps, seed=seed, max_steps=max_steps)
    except pg.GANTrainingError as exc:
        return {"gan": gan, "seed": seed, "raised": str(exc)}
    return {
        "gan": gan,
        "seed": seed,
        "kernels": torch.backends.cpu.get_cpu_capability(),
        "steps": run.steps,
        "extensions": run.extensions,
        "seconds": round(time.perf_counter() - started, 1),
        "verdicts": verdicts(run),
    }


def against_baseline(
    trials: dict[str, Callable[[], pg.GANSpec]],
    gan: str,
    healthy: str,
    seeds: Iterable[int],
    steps: int,
    out: Path | None,
) -> None:
    """A team's regression baseline of ``healthy`` (``Baseline.measure``, ``steps`` steps,
    seeds 0-4), and one line per seed of ``gan`` trained as long and compared with it."""
    baseline = Baseline.measure(trials[healthy](), steps=steps, seeds=5)
    for seed in seeds:
        run = pg.train(trials[gan](), steps=steps, seed=seed)
        try:
            pg.assert_matches_baseline(run, baseline)
            found, words = "pass", ""
        except pg.GANAssertionError as exc:
            found, words = exc.pitfall, str(exc).splitlines()[0]
        line = {"gan": gan, "baseline": healthy, "steps": steps, "seed": seed}
        write({**line, "found": found, "message": words}, out)
