"""The wild detection matrix: every check on every wild GAN and each of its mutations.

    python benchmarks/wild_matrix.py run --half calibration [--seeds 5] [--first-seed 0] \
        [--out FILE] [--only NAME[:MUTATION] ...] [--extend 4]
    python benchmarks/wild_matrix.py table FILE...
    python benchmarks/wild_matrix.py misses FILE...

``run`` trains each wild GAN of the group (``wild.HALVES``: the calibration or validation
half, or the GANs added later), healthy and with each mutation, once per seed at the GAN's
own step count, runs every check of the smoke suite that applies, and writes one JSON line
per run: the kernels torch ran on (``torch.backends.cpu.get_cpu_capability()``, set with
``ATEN_CPU_CAPABILITY``), the pitfall each check raised (or "pass", or "warn: <category>"
for a check that passed with a pytest-gan warning), and the training time. ``--extend F``
trains as the smoke suite does, with ``max_steps`` F times the GAN's steps
(``pytest_gan.deciding``): each line then also says the steps the run was judged at and why
it was trained on. Resumable: runs already in ``--out`` are skipped. ``table`` turns the
lines into the Markdown tables of docs/benchmarks.md, one per half, kernel setting and
``--extend``: caught with its own pitfall (seeds), other pitfalls reported, and false alarms
on healthy runs. ``misses`` lists every mutation missed on some run, with what those runs
showed instead: another pitfall, or where the run was judged beside its healthy twin (same
GAN, seed and kernels): later (its samples approached the data more slowly), at the same
step, or earlier.

The validation half is run once, after the thresholds are fixed; its table is reported
apart from the calibration half's.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

import pytest_gan as pg
import wild
from pytest_gan.checks import ALL
from pytest_gan.errors import GANWarning

HEALTHY = "healthy"


def measure(name: str, mutation: str, seed: int, extend: int = 1) -> dict[str, Any]:
    g = wild.gan(name)
    spec = g.spec(None if mutation == HEALTHY else mutation)
    expected = "" if mutation == HEALTHY else g.mutations[mutation].pitfall
    run = pg.train(spec, steps=g.steps, seed=seed, device="cpu", max_steps=g.steps * extend)
    verdicts: dict[str, str] = {}
    for s in ALL:
        if s.applies(run) is not None:
            continue
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", GANWarning)
            try:
                s.function(run)
                verdicts[s.name] = "pass"
            except pg.GANAssertionError as exc:
                verdicts[s.name] = exc.pitfall
            except Exception as exc:  # recorded, not hidden: a check must never crash
                verdicts[s.name] = f"error: {type(exc).__name__}: {exc}"[:300]
        ours = [w for w in caught if issubclass(w.category, GANWarning)]
        if ours and verdicts[s.name] == "pass":
            verdicts[s.name] = f"warn: {ours[0].category.__name__}"
    return {
        "gan": name,
        "half": g.half,
        "mutation": mutation,
        "expected": expected,
        "may_also": [] if mutation == HEALTHY else list(g.mutations[mutation].may_also),
        "seed": seed,
        "steps": g.steps,
        "max_steps": g.steps * extend,
        "judged_steps": run.steps,
        "extensions": run.extensions,
        "kernels": torch.backends.cpu.get_cpu_capability(),
        "train_seconds": run.elapsed,
        "verdicts": verdicts,
    }


def done_runs(out: Path | None, key: Callable[[dict[str, Any]], tuple[Any, ...]]) -> set[Any]:
    """The keys of the runs already written to ``out`` (a resumed run skips them)."""
    if out is None or not out.exists():
        return set()
    return {key(json.loads(line)) for line in out.read_text().splitlines()}


def run_main(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    gans = wild.HALVES[args.half]
    done = done_runs(
        args.out, lambda r: (r["gan"], r["mutation"], r["seed"], r["kernels"], _policy(r))
    )
    kernels = torch.backends.cpu.get_cpu_capability()
    only = [tuple(o.split(":", 1)) if ":" in o else (o, None) for o in args.only or []]
    for g in gans:
        for mutation in (HEALTHY, *g.mutations):
            if only and not any(n == g.name and m in (None, mutation) for n, m in only):
                continue
            for seed in range(args.first_seed, args.first_seed + args.seeds):
                if (g.name, mutation, seed, kernels, args.extend) in done:
                    continue
                line = json.dumps(measure(g.name, mutation, seed, args.extend))
                print(line, flush=True)
                if args.out is not None:
                    with args.out.open("a") as f:
                        f.write(line + "\n")


def _policy(r: dict[str, Any]) -> int:
    """How far a run could be trained on: max_steps / steps (1: judged where it stopped)."""
    return int(r.get("max_steps", r["steps"]) // r["steps"])


def _judged(r: dict[str, Any]) -> int:
    """The steps a run was judged at."""
    return int(r.get("judged_steps", r["steps"]))


def _found(r: dict[str, Any]) -> set[str]:
    return {v for v in r["verdicts"].values() if v != "pass" and not v.startswith("warn:")}


def table_main(args: argparse.Namespace) -> None:
    rows = [json.loads(line) for path in args.files for line in Path(path).read_text().splitlines()]
    groups: dict[tuple[str, str, int], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[(r["half"], r["kernels"], _policy(r))].append(r)
    out = sys.stdout
    for (half, kernels, extend), rs in sorted(groups.items()):
        policy = "judged at 200 steps" if extend == 1 else f"trained on up to {extend}x"
        out.write(f"\n**{half} half, kernels {kernels}, {policy}**\n\n")
        out.write("| GAN | mutation | expected | seeds | caught | also reported |\n")
        out.write("| --- | --- | --- | --- | --- | --- |\n")
        by_case: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for r in rs:
            by_case[(r["gan"], r["mutation"])].append(r)
        caught = total = alarms = healthy = 0
        extended = sum(bool(r.get("extensions")) for r in rs)
        seconds = sum(r["train_seconds"] for r in rs)
        for (gan, mutation), cs in by_case.items():
            expected = cs[0]["expected"]
            others: dict[str, int] = defaultdict(int)
            for r in cs:
                for v in _found(r) - {expected}:
                    others[v] += 1
            if expected:
                hit = sum(expected in _found(r) for r in cs)
                caught += hit
                total += len(cs)
                cell = f"{hit}/{len(cs)}"
            else:
                bad = sum(bool(_found(r)) for r in cs)
                alarms += bad
                healthy += len(cs)
                cell = f"{len(cs) - bad}/{len(cs)} pass"
            also = ", ".join(f"`{k}` {v}" for k, v in sorted(others.items())) or "-"
            out.write(
                f"| {gan} | {mutation} | `{expected or '-'}` | {len(cs)} | {cell} | {also} |\n"
            )
        out.write(
            f"\nMutations caught with their own pitfall: {caught} of {total} runs. "
            f"Healthy runs (and wasteful-only mutations) with a failing verdict: "
            f"{alarms} of {healthy}. Runs trained on: {extended} of {len(rs)}; training "
            f"time {seconds:.0f} s in all.\n"
        )


def misses_main(args: argparse.Namespace) -> None:
    rows = [json.loads(line) for path in args.files for line in Path(path).read_text().splitlines()]
    healthy = {
        (r["gan"], r["seed"], r["kernels"], _policy(r)): r for r in rows if r["mutation"] == HEALTHY
    }
    cases: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        if not r["expected"]:
            continue
        case = cases.setdefault(
            (r["gan"], r["mutation"]), {"runs": 0, "missed": 0, "others": defaultdict(int)}
        )
        case["runs"] += 1
        found = _found(r)
        if r["expected"] in found:
            continue
        case["missed"] += 1
        for v in sorted(found):
            case["others"][f"`{v}`"] += 1
        twin = healthy.get((r["gan"], r["seed"], r["kernels"], _policy(r)))
        # Lines written before runs were trained on have no judged_steps: judged where
        # they stopped.
        judged, twin_judged = _judged(r), _judged(twin) if twin is not None else 0
        if twin is None:
            where = "no healthy twin"
        elif judged > twin_judged:
            where = "judged later"
        elif judged < twin_judged:
            where = "judged earlier"
        else:
            where = "judged at the same step"
        case["others"][where] += 1
    out = sys.stdout
    out.write("| GAN | mutation | missed | what the missed runs showed |\n")
    out.write("| --- | --- | --- | --- |\n")
    for (gan, mutation), case in sorted(cases.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        if case["missed"]:
            shown = ", ".join(f"{k} {v}" for k, v in sorted(case["others"].items()))
            out.write(f"| {gan} | {mutation} | {case['missed']}/{case['runs']} | {shown} |\n")


def cli(
    doc: str,
    commands: dict[str, Callable[[argparse.Namespace], None]],
    *,
    seeds: int,
    out_required: bool,
    extra: Callable[[argparse.ArgumentParser], None] = lambda run: None,
) -> None:
    """The command line the wild benchmarks share: ``run`` over a half of the wild (its
    arguments: ``--half``, ``--seeds``, ``--threads``, ``--out``, ``--only`` and those
    ``extra`` adds), and every other command of ``commands`` reading result files."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run")
    run.add_argument("--half", choices=tuple(wild.HALVES), required=True)
    run.add_argument("--seeds", type=int, default=seeds)
    run.add_argument("--threads", type=int, default=1)
    run.add_argument("--out", type=Path, required=out_required)
    run.add_argument("--only", nargs="*")
    extra(run)
    for name in commands:
        if name != "run":
            sub.add_parser(name).add_argument("files", nargs="+")
    args = parser.parse_args()
    commands[args.command](args)


def _run_arguments(run: argparse.ArgumentParser) -> None:
    run.add_argument("--first-seed", type=int, default=0)
    run.add_argument(
        "--extend", type=int, default=1, help="max_steps as a multiple of the GAN's steps"
    )


def main() -> None:
    cli(
        __doc__,
        {"run": run_main, "table": table_main, "misses": misses_main},
        seeds=5,
        out_required=False,
        extra=_run_arguments,
    )


if __name__ == "__main__":
    main()
