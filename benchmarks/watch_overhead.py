"""What ``pg.watch`` costs a team's loop, beside what ``train``'s instrumentation costs.

    python benchmarks/watch_overhead.py [--case shapes-dcgan] [--steps 200] [--pairs 7]
                                        [--batch 64] [--threads N] [--json FILE]

In one process, alternating which goes first in each pair: the same plain loop
(``fixtures.loops.watched``: the spec's networks, optimizers and step, the loop's own
``DataLoader``) run watched and unwatched, and ``train(spec)`` run with its
instrumentation and without (``instrument=False``). Reported: the median seconds of each
and the median of the per-pair ratios. Nothing is warmed or pinned beyond what a user's
process does: ``--threads`` defaults to torch's own choice.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

from fixtures.loops import watched
from fixtures.zoo import case
from pytest_gan import train


def _seconds(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--case", default="shapes-dcgan")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--pairs", type=int, default=7)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    spec = dataclasses.replace(case(args.case).spec(), batch_size=args.batch)
    variants: dict[str, Callable[[], object]] = {
        "watched": lambda: watched(spec, args.steps, 0),
        "unwatched": lambda: watched(spec, args.steps, 0, watching=False),
        "train": lambda: train(spec, steps=args.steps, device="cpu"),
        "train_bare": lambda: train(spec, steps=args.steps, device="cpu", instrument=False),
    }
    times: dict[str, list[float]] = {k: [] for k in variants}
    ratios: dict[str, list[float]] = {"watch": [], "train": []}
    for i in range(args.pairs):
        for name, (a, b) in {
            "watch": ("watched", "unwatched"),
            "train": ("train", "train_bare"),
        }.items():
            order = (a, b) if i % 2 == 0 else (b, a)
            got = {k: _seconds(variants[k]) for k in order}
            times[a].append(got[a])
            times[b].append(got[b])
            ratios[name].append(got[a] / got[b])
            print(
                f"pair {i} {name}: {got[a]:.2f} s / {got[b]:.2f} s = {got[a] / got[b]:.3f}",
                flush=True,
            )
    result = {
        "case": args.case,
        "steps": args.steps,
        "batch": args.batch,
        "pairs": args.pairs,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "machine": platform.processor() or platform.machine(),
        "median_seconds": {k: statistics.median(v) for k, v in times.items()},
        "median_ratio": {k: statistics.median(v) for k, v in ratios.items()},
        "ratio_range": {k: [min(v), max(v)] for k, v in ratios.items()},
    }
    print(json.dumps(result, indent=2))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
