"""What the instrumentation costs: the reference DCGAN trained with and without it.

    python benchmarks/overhead.py [--case shapes-dcgan] [--steps 200] [--pairs 7]
                                  [--device cpu] [--threads N] [--pieces N] [--json FILE]

Both variants run the very same training loop (``train(..., instrument=False)`` drops the
hooks and probes and nothing else) in one process, alternating which goes first in each
pair so that warm-up and drift of the machine fall on both alike. Reported: the median
seconds per run of each, and the median of the per-pair ratios (goal: at most 1.03 at
batch 32), both of wall time (what a user waits) and of the process's CPU time (all its
threads), which tells time spent waiting for a core from slower work: on the noisy day
of docs/benchmarks.md both swung alike. Every pair's figures are kept in the JSON.

``--pieces N`` adds N instrumented runs (each followed by a bare one) whose
instrumentation is timed from inside: the time spent in each of its pieces (the probes,
the final saturation probe, the optimizer step hooks, the gradient hooks, closing each
step's record), as a share of the median bare run. On a machine whose speed drifts
between runs by more than the overhead itself, these shares are the steadier figure: each
piece is timed under the same conditions as the steps around it. The timers add about a
microsecond per call (some 5,000 calls in a 200-step run).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import functools
import json
import platform
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from fixtures.zoo import case
from pytest_gan import instrument as instrument_module
from pytest_gan import train
from pytest_gan import training as training_module
from pytest_gan.probing import Prober


def _timed(spec: object, steps: int, device: str, instrument: bool) -> tuple[float, float]:
    """Wall and process CPU seconds of one run."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    started, cpu = time.perf_counter(), time.process_time()
    train(spec, steps=steps, device=device, seed=0, instrument=instrument)  # type: ignore[arg-type]
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - started, time.process_time() - cpu


# The instrumentation's pieces: (name, owner, method). The gradient hooks are closures made
# by Instrument._pre_accumulate, timed by wrapping what it returns.
_PIECES = (
    ("probes", Prober, "probe"),
    ("saturation probe", training_module._Loop, "saturate"),
    ("optimizer step hooks", instrument_module._OptimizerWatch, "_pre"),
    ("optimizer step hooks", instrument_module._OptimizerWatch, "_post"),
    ("closing each step's record", instrument_module.Instrument, "end_step"),
)


@contextlib.contextmanager
def _timing_pieces(spent: dict[str, float]) -> Iterator[None]:
    """Adds the seconds spent in each piece of the instrumentation to ``spent``."""

    def timed(name: str, f: Callable[..., object]) -> Callable[..., object]:
        @functools.wraps(f)
        def wrapper(*args: object, **kwargs: object) -> object:
            started = time.perf_counter()
            try:
                return f(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - started

        return wrapper

    saved = [(owner, method, getattr(owner, method)) for _, owner, method in _PIECES]
    make_hook = instrument_module.Instrument._pre_accumulate
    try:
        for name, owner, method in _PIECES:
            setattr(owner, method, timed(name, getattr(owner, method)))
        instrument_module.Instrument._pre_accumulate = (  # type: ignore[method-assign]
            lambda self, i: timed("gradient hooks", make_hook(self, i))
        )
        yield
    finally:
        for owner, method, original in saved:
            setattr(owner, method, original)
        instrument_module.Instrument._pre_accumulate = make_hook  # type: ignore[method-assign]


def pieces(spec: object, steps: int, device: str, runs: int) -> dict[str, Any]:
    """The instrumentation's pieces timed from inside ``runs`` instrumented runs, each
    followed by a bare one: per piece, the median seconds and its share of the median
    bare run."""
    per_run: dict[str, list[float]] = collections.defaultdict(list)
    bare: list[float] = []
    for _ in range(runs):
        spent: dict[str, float] = collections.defaultdict(float)
        with _timing_pieces(spent):
            _timed(spec, steps, device, True)
        for name, _, _ in _PIECES:
            per_run[name].append(spent[name])
        per_run["gradient hooks"].append(spent["gradient hooks"])
        bare.append(_timed(spec, steps, device, False)[0])
    base = statistics.median(bare)
    shares = {name: statistics.median(v) / base for name, v in per_run.items()}
    return {
        "runs": runs,
        "bare_s": base,
        "seconds": {name: statistics.median(v) for name, v in per_run.items()},
        "share_of_bare": shares,
        "total_share": sum(shares.values()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--case", default="shapes-dcgan")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--pairs", type=int, default=7)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--pieces", type=int, default=0)
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
    result: dict[str, Any] = {
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
    if args.pieces:
        found = pieces(spec, args.steps, args.device, args.pieces)
        result["pieces"] = found
        print(f"  pieces, timed from inside {args.pieces} runs (share of the bare run):")
        for name, share in found["share_of_bare"].items():
            seconds = found["seconds"][name]
            print(f"    {name:28s} {seconds * 1000:7.1f} ms  {share:6.2%}")
        print(f"    {'all':28s} {'':10s} {found['total_share']:6.2%}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
