"""What the instrumentation costs: the reference DCGAN trained with and without it.

    python benchmarks/overhead.py [--case shapes-dcgan] [--steps 200] [--pairs 7]
                                  [--device cpu] [--threads N] [--json FILE]

Both variants run the very same training loop (``train(..., instrument=False)`` drops the
hooks and probes and nothing else) in one process, alternating which goes first in each
pair so that warm-up and drift of the machine fall on both alike. Reported: the median
seconds per run of each, and the median of the per-pair ratios (goal: at most 1.03 at
batch 32), both of wall time (what a user waits) and of the process's CPU time (all its
threads), which tells time spent waiting for a core from slower work: on the noisy day
of docs/benchmarks.md both swung alike. Every pair's figures are kept in the JSON.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from fixtures.zoo import case
from pytest_gan import train


def _timed(spec: object, steps: int, device: str, instrument: bool) -> tuple[float, float]:
    """Wall and process CPU seconds of one run."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    started, cpu = time.perf_counter(), time.process_time()
    train(spec, steps=steps, device=device, seed=0, instrument=instrument)  # type: ignore[arg-type]
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - started, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--case", default="shapes-dcgan")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--pairs", type=int, default=7)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    spec = case(args.case).spec()
    _timed(spec, 10, args.device, True)  # warm-up: allocator, kernels, lazy imports
    with_hooks: list[tuple[float, float]] = []
    without: list[tuple[float, float]] = []
    for pair in range(args.pairs):
        order = (True, False) if pair % 2 == 0 else (False, True)
        for instrument in order:
            (with_hooks if instrument else without).append(
                _timed(spec, args.steps, args.device, instrument)
            )
    ratios = [a[0] / b[0] for a, b in zip(with_hooks, without, strict=True)]
    cpu_ratios = [a[1] / b[1] for a, b in zip(with_hooks, without, strict=True)]
    result = {
        "case": args.case,
        "steps": args.steps,
        "pairs": args.pairs,
        "device": args.device,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "machine": platform.machine(),
        "instrumented_s": statistics.median(w for w, _ in with_hooks),
        "bare_s": statistics.median(w for w, _ in without),
        "ratio_median": statistics.median(ratios),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
        "instrumented_cpu_s": statistics.median(c for _, c in with_hooks),
        "bare_cpu_s": statistics.median(c for _, c in without),
        "cpu_ratio_median": statistics.median(cpu_ratios),
        "cpu_ratio_min": min(cpu_ratios),
        "cpu_ratio_max": max(cpu_ratios),
        "pairs_wall_s": [[a[0], b[0]] for a, b in zip(with_hooks, without, strict=True)],
        "pairs_cpu_s": [[a[1], b[1]] for a, b in zip(with_hooks, without, strict=True)],
    }
    r = result
    print(
        f"{args.case}, {args.steps} steps on {args.device} ({r['threads']} threads), "
        f"{args.pairs} pairs:\n"
        f"  instrumented {r['instrumented_s']:.2f} s, bare {r['bare_s']:.2f} s (medians)\n"
        f"  overhead ratio median {r['ratio_median']:.3f} "
        f"(range {r['ratio_min']:.3f}-{r['ratio_max']:.3f})\n"
        f"  CPU time: instrumented {r['instrumented_cpu_s']:.2f} s, bare {r['bare_cpu_s']:.2f} s; "
        f"ratio median {r['cpu_ratio_median']:.3f} "
        f"(range {r['cpu_ratio_min']:.3f}-{r['cpu_ratio_max']:.3f})"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
