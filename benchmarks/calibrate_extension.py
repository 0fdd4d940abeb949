"""How the blank and diversity figures move when a run is trained on: 200, 400, 800 steps.

    python benchmarks/calibrate_extension.py OUT.jsonl SOURCE:NAME:MUTATION:SEED ...
    STOPS=200,400,800,1600,3200 python benchmarks/calibrate_extension.py ...

SOURCE is ``wild`` (NAME a wild GAN, MUTATION one of its mutations or ``healthy``) or
``zoo`` (NAME a zoo case, MUTATION ``-``, or ``lr=D/G`` for the case with Adam at those
learning rates, its betas the zoo's); MUTATION ``small-N`` trains the healthy wild GAN on
its first N samples. Each case is trained 200 steps and extended
(``GANRun.extend``) to 400 and 800 (or the steps listed in ``STOPS``); at each, the
contrast ratio (``assert_not_blank``'s figure, images only), the spread ratio
(``assert_diverse``'s) and coverage (k = 5) of 1,000 samples against as many real ones,
the probes' ``fake_to_real`` (with their steps and the run's ``real_to_real``) and the
checks still pending (``deciding.undecided``). One JSON line per case. It measured
``_defaults.EXTEND_FACTOR`` (docs/benchmarks.md, "Deciding early verdicts").
"""

from __future__ import annotations

import importlib
import json
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import torch

import pytest_gan as pg
import wild
from fixtures import zoo
from pytest_gan.checks.outputs import samples_and_real
from pytest_gan.deciding import undecided
from pytest_gan.metrics import common_scale, contrast, coverage, mean_pairwise_distance, scaled

STOPS = tuple(int(s) for s in os.environ.get("STOPS", "200,400,800").split(","))


def figures(run: pg.GANRun) -> dict[str, Any]:
    fake, real = samples_and_real(run, None, "calibrate_extension")
    assert real is not None
    if not bool(torch.isfinite(fake).all()):
        return {"finite": False}
    unit = common_scale(fake, real)
    f, r = scaled(fake, unit), scaled(real, unit)
    out: dict[str, Any] = {}
    if f[0].numel() >= 16:
        out["contrast"] = float(contrast(f).median() / contrast(r).median())
    out["spread"] = mean_pairwise_distance(f) / mean_pairwise_distance(r)
    out["coverage"] = coverage(r, f, k=5)
    out["fake_to_real"] = [round(p.get("fake_to_real", math.nan), 4) for p in run.history.probes]
    out["probe_steps"] = [p["step"] for p in run.history.probes]
    out["real_to_real"] = run.history.probes[0].get("real_to_real", math.nan)
    out["pending"] = undecided(run)
    return out


def case_spec(case: str) -> tuple[pg.GANSpec, int]:
    """The spec and seed of a ``SOURCE:NAME:MUTATION:SEED`` case: ``wild:GAN:MUTATION``
    (``healthy``, or ``small-N`` for the healthy GAN on its first N samples),
    ``zoo:NAME:-`` (``lr=D/G`` for its learning rates, ``loss=NAME`` for another built-in
    loss, or both joined by ``+``), or ``outsideN:NAME:-`` (a GAN of
    ``benchmarks/trial_outside_zoo_N.py``, N one of 1-3 and 5-7; ``outside`` alone: the
    first set's; not ``calibrate_learning.py``'s ``outside:``, its blob MLPs)."""
    source, name, mutation, seed = case.split(":")
    if source.startswith("outside"):
        number = source.removeprefix("outside")
        if number not in ("", "1", "2", "3", "5", "6", "7") or mutation != "-":
            raise ValueError(
                f"{case!r}: outsideN:NAME:-:SEED with N one of 1-3, 5-7 (set 4 lists no "
                "TRIALS) and no mutation (the set's own entries are its mutations)"
            )
        module = importlib.import_module(
            "benchmarks.trial_outside_zoo" + (f"_{number}" if number not in ("", "1") else "")
        )
        # The first three sets list (spec factory, expected pitfall); the later ones the
        # factory alone.
        entry = module.TRIALS[name]
        spec = (entry[0] if isinstance(entry, tuple) else entry)()
    elif source == "wild" and mutation.startswith("small-"):
        # The healthy GAN on its first N samples.
        spec = wild.gan(name).build(n_images=int(mutation.removeprefix("small-")))
    elif source == "wild":
        spec = wild.gan(name).spec(None if mutation == "healthy" else mutation)
    elif mutation != "-":
        # "lr=D/G" (the case at those learning rates), "loss=NAME" (under that built-in
        # loss), or both joined by "+".
        spec = zoo.case(name).spec()
        for token in mutation.split("+"):
            if token.startswith("lr="):
                lr_d, lr_g = (float(v) for v in token.removeprefix("lr=").split("/"))
                spec = replace(spec, optimizers=zoo.adam(lr_g, lr_d))
            elif token.startswith("loss="):
                spec = replace(spec, loss=token.removeprefix("loss="))
            else:
                raise ValueError(f"unknown zoo mutation {token!r} in {case!r}")
        spec = replace(spec, name=f"{name}~{mutation}")
    else:
        spec = zoo.case(name).spec()
    return spec, int(seed)


def trajectories(
    out_path: str,
    cases: list[str],
    figures: Callable[[pg.GANRun], dict[str, Any]],
    stops: tuple[int, ...],
    spec_of: Callable[[str], tuple[pg.GANSpec, int]] | None = None,
) -> None:
    """Each ``SOURCE:NAME:MUTATION:SEED`` case (read by ``spec_of``, by default
    :func:`case_spec`) trained to ``stops[0]`` and extended to each later stop;
    ``figures(run)`` at every stop; one JSON line per case to ``out_path``."""
    for case in cases:
        spec, seed = (spec_of or case_spec)(case)
        started = time.perf_counter()
        run = pg.train(spec, steps=stops[0], seed=seed, device="cpu")
        rows = []
        for stop in stops:
            if run.steps < stop:
                run.extend(stop - run.steps)
            rows.append(
                {"steps": run.steps, "seconds": time.perf_counter() - started, **figures(run)}
            )
            print(case, {k: v for k, v in rows[-1].items() if k != "fake_to_real"}, flush=True)
        line = {"case": case, "kernels": torch.backends.cpu.get_cpu_capability(), "rows": rows}
        with open(out_path, "a") as f:
            f.write(json.dumps(line) + "\n")


def main() -> None:
    trajectories(sys.argv[1], sys.argv[2:], figures, STOPS)


if __name__ == "__main__":
    main()
