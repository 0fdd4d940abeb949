"""The detection matrix: which pitfall each check reports on each zoo case, over seeds, and
what each check costs on a finished run.

    python benchmarks/detection_matrix.py run [--seeds 10] [--first-seed 0] [--steps 200] \
        [--device cpu] [--out FILE] [NAME ...]
    python benchmarks/detection_matrix.py table FILE...

``run`` trains each case (default: every healthy reference and broken twin) once per seed,
runs every applicable check on the run, and writes one JSON line per case and seed: the
pitfall each check raised (or "pass"), each check's time in seconds, and the run's own
training time. ``table`` turns those lines into the Markdown tables of
docs/benchmarks.md: cases against pitfalls (how many seeds reported each), and the time
of each check against the training run it judges.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

import pytest_gan as pg
from fixtures.zoo import BROKEN, HEALTHY, case
from pytest_gan.checks import ALL
from pytest_gan.run import GANRun


def checks_for(run: GANRun) -> dict[str, Callable[[], None]]:
    """Every check of the smoke suite that applies to this run, as zero-argument calls."""

    def on_run(check: Callable[[GANRun], None]) -> Callable[[], None]:
        return lambda: check(run)

    return {c.name: on_run(c.function) for c in ALL if c.applies(run) is None}


def measure(name: str, seed: int, steps: int, device: str | None) -> dict[str, Any]:
    c = case(name)
    run = pg.train(c.spec(), steps=steps, seed=seed, device=device)
    verdicts: dict[str, str] = {}
    seconds: dict[str, float] = {}
    for check, call in checks_for(run).items():
        start = time.perf_counter()
        try:
            call()
            verdicts[check] = "pass"
        except pg.GANAssertionError as exc:
            verdicts[check] = exc.pitfall
        except Exception as exc:  # recorded, not hidden: a check must never crash
            verdicts[check] = f"error: {type(exc).__name__}: {exc}"
        if run.device.type == "cuda":
            torch.cuda.synchronize()
        seconds[check] = time.perf_counter() - start
    return {
        "case": name,
        "expected": c.pitfall,
        "seed": seed,
        "steps": steps,
        "device": str(run.device),
        "train_seconds": run.elapsed,
        "verdicts": verdicts,
        "check_seconds": seconds,
    }


def run_main(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    names = args.names or [*HEALTHY, *(c.name for c in BROKEN.values())]
    for name in names:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            line = json.dumps(measure(name, seed, args.steps, args.device))
            print(line, flush=True)
            if args.out is not None:
                with args.out.open("a") as f:
                    f.write(line + "\n")


def table_main(args: argparse.Namespace) -> None:
    rows = [json.loads(line) for path in args.files for line in Path(path).read_text().splitlines()]
    by_case: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_case[r["case"]].append(r)
    out = sys.stdout
    out.write("| case | expected | seeds | reported (seeds) |\n| --- | --- | --- | --- |\n")
    caught = total = false_alarms = healthy_runs = 0
    for name, rs in by_case.items():
        counts: dict[str, int] = defaultdict(int)
        for r in rs:
            for v in set(r["verdicts"].values()) - {"pass"}:
                counts[v] += 1
        expected = rs[0]["expected"] or "-"
        if rs[0]["expected"]:
            total += len(rs)
            caught += sum(rs[0]["expected"] in r["verdicts"].values() for r in rs)
        else:
            healthy_runs += len(rs)
            false_alarms += sum(any(v != "pass" for v in r["verdicts"].values()) for r in rs)
        found = ", ".join(f"`{k}` {v}" for k, v in sorted(counts.items())) or "none"
        out.write(f"| `{name}` | `{expected}` | {len(rs)} | {found} |\n")
    out.write(
        f"\nTwins caught with their own pitfall: {caught} of {total} runs. "
        f"Healthy runs with any failure: {false_alarms} of {healthy_runs}.\n\n"
    )
    timing: dict[str, list[float]] = defaultdict(list)
    shares: list[float] = []
    for r in rows:
        for check, s in r["check_seconds"].items():
            timing[check].append(s)
        shares.append(sum(r["check_seconds"].values()) / r["train_seconds"])
    out.write("| check | median s | max s |\n| --- | --- | --- |\n")
    for check, ts in sorted(timing.items()):
        out.write(f"| `{check}` | {statistics.median(ts):.3f} | {max(ts):.3f} |\n")
    out.write(
        f"\nWhole battery / training run: median {statistics.median(shares):.1%}, "
        f"max {max(shares):.1%} over {len(shares)} runs.\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run")
    r.add_argument("names", nargs="*")
    r.add_argument("--seeds", type=int, default=10)
    r.add_argument("--first-seed", type=int, default=0)
    r.add_argument("--steps", type=int, default=200)
    r.add_argument("--device", default="cpu")
    r.add_argument("--threads", type=int, default=1)
    r.add_argument("--out", type=Path)
    t = sub.add_parser("table")
    t.add_argument("files", nargs="+")
    args = parser.parse_args()
    run_main(args) if args.command == "run" else table_main(args)


if __name__ == "__main__":
    main()
