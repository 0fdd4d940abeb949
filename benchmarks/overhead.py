"""What the instrumentation costs: the reference DCGAN trained with and without it.

    python benchmarks/overhead.py [--case shapes-dcgan] [--steps 200] [--pairs 7]
                                  [--device cpu] [--threads N] [--json FILE]

Both variants run the very same training loop (``train(..., instrument=False)`` drops the
hooks and probes and nothing else) in one process, alternating which goes first in each
pair so that warm-up and drift of the machine fall on both alike. Reported: the median
seconds per run of each, and the median of the per-pair ratios (goal: at most 1.05).
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


def _timed(spec: object, steps: int, device: str, instrument: bool) -> float:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    started = time.perf_counter()
    train(spec, steps=steps, device=device, seed=0, instrument=instrument)  # type: ignore[arg-type]
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - started


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
    with_hooks: list[float] = []
    without: list[float] = []
    for pair in range(args.pairs):
        order = (True, False) if pair % 2 == 0 else (False, True)
        for instrument in order:
            (with_hooks if instrument else without).append(
                _timed(spec, args.steps, args.device, instrument)
            )
    ratios = [a / b for a, b in zip(with_hooks, without, strict=True)]
    result = {
        "case": args.case,
        "steps": args.steps,
        "pairs": args.pairs,
        "device": args.device,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "machine": platform.machine(),
        "instrumented_s": statistics.median(with_hooks),
        "bare_s": statistics.median(without),
        "ratio_median": statistics.median(ratios),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
    }
    r = result
    print(
        f"{args.case}, {args.steps} steps on {args.device} ({r['threads']} threads), "
        f"{args.pairs} pairs:\n"
        f"  instrumented {r['instrumented_s']:.2f} s, bare {r['bare_s']:.2f} s (medians)\n"
        f"  overhead ratio median {r['ratio_median']:.3f} "
        f"(range {r['ratio_min']:.3f}-{r['ratio_max']:.3f})"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
