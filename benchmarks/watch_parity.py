"""Verdicts through ``pg.watch`` against ``train(spec)``: every zoo case, both ways.

    python benchmarks/watch_parity.py run [--seeds 3] [--steps 200] [--out FILE] [NAME ...]
    python benchmarks/watch_parity.py table FILE...

``run`` trains each zoo case (default: every healthy reference and broken twin but the
baseline one, which needs a baseline) with ``train(spec, steps, seed)`` and, on the same
seed, with a plain loop under ``pg.watch`` (``fixtures.loops.watched``: the spec's own
networks, optimizers and step, the loop's own ``DataLoader`` and global seed), runs every
check of the smoke suite on each run, and writes one JSON line per case and seed with
both sets of verdicts and the figures each check reports. ``table`` gives the Markdown
table of docs/benchmarks.md "Watching a loop".
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import torch

import pytest_gan as pg
from benchmarks.trial_outside_zoo import verdicts
from fixtures.loops import watched
from fixtures.zoo import BROKEN, HEALTHY, case


def measure(name: str, seed: int, steps: int) -> dict[str, Any]:
    c = case(name)
    spec = c.spec()
    trained = pg.train(spec, steps=steps, seed=seed, device="cpu")
    run = watched(c.spec(), steps, seed)
    # The team's own checkpoint code, as they would hand it to assert_checkpoint_roundtrip.
    run.spec.save_checkpoint, run.spec.load_checkpoint = spec.save_checkpoint, spec.load_checkpoint
    return {
        "case": name,
        "expected": c.pitfall,
        "seed": seed,
        "steps": steps,
        "train": verdicts(trained),
        "watch": verdicts(run),
        "train_seconds": trained.elapsed,
        "watch_seconds": run.elapsed,
        "watch_steps": run.steps,
    }


def run_main(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    names = args.names or [
        *HEALTHY,
        *(c.name for c in BROKEN.values() if c.pitfall != "baseline-regression"),
    ]
    for name in names:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            line = json.dumps(measure(name, seed, args.steps))
            print(line, flush=True)
            if args.out is not None:
                with args.out.open("a") as f:
                    f.write(line + "\n")


def _found(verdicts: dict[str, str]) -> set[str]:
    return {v for v in verdicts.values() if v != "pass"}


def table_main(args: argparse.Namespace) -> None:
    rows = [json.loads(line) for path in args.files for line in Path(path).read_text().splitlines()]
    by_case: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_case[r["case"]].append(r)
    out = sys.stdout
    out.write(
        "| case | expected | seeds | `train` found (seeds) | `watch` found (seeds) | "
        "same pitfalls |\n| --- | --- | --- | --- | --- | --- |\n"
    )
    same_total = 0
    for name, rs in by_case.items():
        cells = []
        for side in ("train", "watch"):
            counts: dict[str, int] = defaultdict(int)
            for r in rs:
                for v in _found(r[side]):
                    counts[v] += 1
            cells.append(", ".join(f"`{k}` {v}" for k, v in sorted(counts.items())) or "none")
        same = sum(_found(r["train"]) == _found(r["watch"]) for r in rs)
        same_total += same
        expected = rs[0]["expected"] or "-"
        row = [f"`{name}`", f"`{expected}`", str(len(rs)), *cells, f"{same}/{len(rs)}"]
        out.write("| " + " | ".join(row) + " |\n")
    out.write(f"\nRuns whose two sets of pitfalls are the same: {same_total} of {len(rows)}.\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run")
    r.add_argument("names", nargs="*")
    r.add_argument("--seeds", type=int, default=3)
    r.add_argument("--first-seed", type=int, default=0)
    r.add_argument("--steps", type=int, default=200)
    r.add_argument("--threads", type=int, default=1)
    r.add_argument("--out", type=Path)
    t = sub.add_parser("table")
    t.add_argument("files", nargs="+")
    args = parser.parse_args()
    if args.command == "run":
        run_main(args)
    else:
        table_main(args)


if __name__ == "__main__":
    main()
