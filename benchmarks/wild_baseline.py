"""Do the wild's mutations that no single-run check catches show against a team's baseline?

    python benchmarks/wild_baseline.py run --half validation --out FILE \
        [--mutations NAME ...] [--only GAN ...] [--seeds 5] [--at 1]
    python benchmarks/wild_baseline.py table FILE...

The harmful mutations the detection matrix misses (``wild_matrix.py misses``,
``wild_harm.py``) leave G's samples varied and unblank but no nearer the data than they
should be. "Than they should be" needs a reference, which a single run does not have and a
regression baseline does: the summary of the team's own healthy runs. This measures the
regression path as a team meets it. For each GAN of the half, at ``--at`` times its own
steps and with no extension (a baseline test calls ``gan_train(spec, steps=...)``):

- the baseline is measured as ``gan_baseline`` measures a missing one: the healthy spec on
  seeds 0 to ``BASELINE_SEEDS - 1`` (``Baseline.measure``), and written to ``--out`` first,
  so that a resumed run compares with the same baseline;
- each named mutation is trained on seeds 0 to ``--seeds - 1`` (the seed a team's test
  runs on is its baseline's first) and compared with ``assert_matches_baseline``;
- the healthy spec on seeds ``BASELINE_SEEDS`` to ``BASELINE_SEEDS + --seeds - 1``, seeds
  the baseline never saw, is compared the same way: its false alarms.

Each line records the verdict (``baseline-regression`` or ``pass``) and every figure that
left its band, with its direction, and whether measuring the baseline warned that it
cannot tell a generator that never learned from a healthy one (``GANBaselineWarning``,
"blind"). ``table`` prints, per GAN, steps and mutation, the runs flagged and the figures
that flagged them most often.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import torch

import pytest_gan as pg
import wild
from benchmarks.wild_matrix import HEALTHY, cli, done_runs
from pytest_gan.baseline import DEFAULT_SEEDS, Baseline
from pytest_gan.errors import GANAssertionError

#: The mutations the validation half's matrices miss on most runs (docs/benchmarks.md, "Do
#: the missed mutations do harm?"), for the GANs that have them (``conditioning-ignored``,
#: missed on 1 of 6 runs, is caught with its own pitfall on the rest).
MISSED = (
    "discriminator-overpowers",
    "discriminator-too-weak",
    "mode-collapse",
    "discriminator-not-lipschitz",
    "discriminator-overfits",
)
BASELINE = "baseline"


def compare(run: pg.GANRun, baseline: Baseline) -> dict[str, Any]:
    """The baseline's verdict on ``run``, and each figure that left its band."""
    try:
        pg.assert_matches_baseline(run, baseline)
    except GANAssertionError as exc:
        outside = {name: exc.evidence[name]["verdict"] for name in exc.evidence.get("outside", [])}
        return {"verdict": exc.pitfall, "outside": outside}
    return {"verdict": "pass", "outside": {}}


def _baseline(g: wild.WildGAN, steps: int, out: Path, kernels: str) -> Baseline:
    """The GAN's baseline at ``steps`` from ``out``, or measured and written there."""
    if out.exists():
        for line in out.read_text().splitlines():
            r = json.loads(line)
            if r["kind"] == BASELINE and (r["gan"], r["steps"], r["kernels"]) == (
                g.name,
                steps,
                kernels,
            ):
                return Baseline.from_mapping(r["baseline"])
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        baseline = Baseline.measure(g.spec(None), steps=steps, seeds=DEFAULT_SEEDS, device="cpu")
    line = {
        "kind": BASELINE,
        "gan": g.name,
        "steps": steps,
        "kernels": kernels,
        "seconds": time.perf_counter() - start,
        "warnings": sorted({type(w.message).__name__ for w in caught}),
        "baseline": baseline.to_json(),
    }
    with out.open("a") as f:
        f.write(json.dumps(line) + "\n")
    return baseline


def run_main(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    gans = wild.HALVES[args.half]
    kernels = torch.backends.cpu.get_cpu_capability()
    done = done_runs(
        args.out,
        lambda r: (r["gan"], r["steps"], r.get("mutation"), r.get("seed"), r["kernels"]),
    )
    for g in gans:
        if args.only and g.name not in args.only:
            continue
        steps = g.steps * args.at
        baseline = _baseline(g, steps, args.out, kernels)
        cases = [(HEALTHY, DEFAULT_SEEDS + s) for s in range(args.seeds)]
        cases += [(m, s) for m in args.mutations if m in g.mutations for s in range(args.seeds)]
        for mutation, seed in cases:
            if (g.name, steps, mutation, seed, kernels) in done:
                continue
            spec = g.spec(None if mutation == HEALTHY else mutation)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                run = pg.train(spec, steps=steps, seed=seed, device="cpu")
                verdict = compare(run, baseline)
            line = {
                "kind": "compared",
                "gan": g.name,
                "mutation": mutation,
                "seed": seed,
                "steps": steps,
                "kernels": kernels,
                "train_seconds": run.elapsed,
                **verdict,
            }
            print(json.dumps(line), flush=True)
            with args.out.open("a") as f:
                f.write(json.dumps(line) + "\n")


def table_main(args: argparse.Namespace) -> None:
    rows = [json.loads(line) for path in args.files for line in Path(path).read_text().splitlines()]
    blind = {
        (r["gan"], r["steps"], r["kernels"]): "GANBaselineWarning" in r["warnings"]
        for r in rows
        if r["kind"] == BASELINE
    }
    cases: dict[tuple[str, int, str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        if r["kind"] != BASELINE:
            cases[(r["gan"], r["steps"], r["kernels"], r["mutation"])].append(r)
    out = sys.stdout
    out.write(
        "| GAN | steps (baseline blind?) | kernels | mutation | seeds | flagged "
        "| figures most often outside |\n"
    )
    out.write("| --- | --- | --- | --- | --- | --- | --- |\n")
    order = sorted(cases.items(), key=lambda kv: (kv[0][:3], kv[0][3] != HEALTHY, kv[0]))
    flagged = total = alarms = healthy = 0
    for (gan, steps, kernels, mutation), rs in order:
        hit = sum(r["verdict"] != "pass" for r in rs)
        figures = Counter(f"{n} ({v})" for r in rs for n, v in r["outside"].items())
        top = ", ".join(f"{n} {c}" for n, c in figures.most_common(3)) or "-"
        shown = "healthy (unseen seeds)" if mutation == HEALTHY else mutation
        seen = "blind" if blind.get((gan, steps, kernels)) else "sees"
        out.write(
            f"| {gan} | {steps} ({seen}) | {kernels} | {shown} | {len(rs)} | {hit}/{len(rs)} "
            f"| {top} |\n"
        )
        if mutation == HEALTHY:
            alarms, healthy = alarms + hit, healthy + len(rs)
        else:
            flagged, total = flagged + hit, total + len(rs)
    out.write(
        f"\nMutation runs flagged: {flagged} of {total}. Healthy runs on unseen seeds "
        f"flagged: {alarms} of {healthy}.\n"
    )


def _run_arguments(run: argparse.ArgumentParser) -> None:
    run.add_argument("--at", type=int, default=1, help="steps as a multiple of the GAN's")
    run.add_argument("--mutations", nargs="+", default=list(MISSED))


def main() -> None:
    cli(
        __doc__,
        {"run": run_main, "table": table_main},
        seeds=5,
        out_required=True,
        extra=_run_arguments,
    )


if __name__ == "__main__":
    main()
