"""What ``pytest --gan-smoke`` costs next to the training loop a team would write anyway.

    python benchmarks/smoke_cost.py [--case shapes-dcgan] [--steps 200] [--pairs 5]
                                    [--device cpu] [--threads N] [--zoo-workers 2]
                                    [--json FILE]

Two measurements:

1. **One spec, smoke vs bare loop.** The bare loop is the same training written as a
   plain loop: the networks and optimizers built, random batches from the data Tensor,
   and the spec's own step called (the built-in non-saturating BCE step for the zoo's
   DCGAN: ``n_critic`` D updates on detached fakes, then one G update), with no
   validation, hooks, probes or checks. The smoke side is what the smoke suite does for
   one spec: the instrumented ``train``, every applicable check of ``pytest_gan.checks.ALL``, and
   the spec's pictures (``samples.png``, ``curves.png``). Both run in one process,
   alternating which goes first in each pair, so that warm-up and drift of the machine
   fall on both alike. Reported: the medians and the median of the per-pair ratios, of
   the full verdict (training and every check; goal: at most 1.10) and of the whole
   item with its pictures.
2. **The whole bundled zoo** (``--zoo-workers N``: 0 runs it in one process, -1 skips
   it): the wall time of ``pytest --gan-smoke fixtures/smoke -n N`` in a fresh process,
   start-up included (goal: under 2 minutes with 2 workers on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

import pytest_gan as pg
from fixtures.zoo import case
from pytest_gan import GANSpec, train
from pytest_gan.checks import ALL
from pytest_gan.smoke import write_run_artifacts
from pytest_gan.training import TrainContext, builtin_step, default_optimizers

ROOT = Path(__file__).resolve().parent.parent


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def bare_loop(spec: GANSpec, steps: int, device: str, seed: int = 0) -> float:
    """Seconds for ``steps`` steps of the spec's own training step in a plain loop: the
    networks and optimizers built, random batches from the data Tensor, the step called;
    no validation, no hooks, no probes, no checks."""
    if not isinstance(spec.data, torch.Tensor) or spec.conditional:
        raise ValueError("the bare loop reads unlabelled batches from a data Tensor")
    _sync(device)
    started = time.perf_counter()
    torch.manual_seed(seed)
    dev = torch.device(device)
    g = spec.make_generator().to(dev)
    d = spec.make_discriminator().to(dev)
    if spec.optimizers is not None:
        opt_g, opt_d = spec.optimizers(g, d)
    else:
        opt_g, opt_d = default_optimizers(g, d)
    ctx = TrainContext(
        generator=g,
        discriminator=d,
        opt_g=opt_g,
        opt_d=opt_d,
        device=dev,
        batch_size=spec.batch_size,
        spec=spec,
        latent_shape=spec.latent_shape,
    )
    step = spec.train_step or builtin_step
    data = spec.data.to(dev)
    for i in range(steps):
        ctx.step = i
        step(ctx, data[torch.randint(len(data), (spec.batch_size,), device=dev)])
    _sync(device)
    return time.perf_counter() - started


def smoke(spec: GANSpec, steps: int, device: str, folder: Path) -> dict[str, float]:
    """Seconds for what the smoke suite does for one spec, by part."""
    _sync(device)
    started = time.perf_counter()
    run = train(spec, steps=steps, device=device, seed=0)
    _sync(device)
    trained = time.perf_counter()
    for check in ALL:
        if check.applies(run) is None:
            try:
                check.function(run)
            except pg.GANAssertionError:
                pass
    _sync(device)
    checked = time.perf_counter()
    write_run_artifacts(run, folder)
    done = time.perf_counter()
    return {
        "train_s": trained - started,
        "checks_s": checked - trained,
        "artifacts_s": done - checked,
        "total_s": done - started,
    }


def zoo_wall_time(workers: int, device: str) -> dict[str, Any]:
    """Wall seconds of ``pytest --gan-smoke fixtures/smoke`` in a fresh process."""
    with tempfile.TemporaryDirectory() as folder:
        command = [
            sys.executable,
            "-m",
            "pytest",
            "--gan-smoke",
            "fixtures/smoke",
            "-q",
            "-p",
            "no:cacheprovider",
            "--gan-device",
            device,
            "--gan-artifacts",
            folder,
        ]
        if workers:
            command += ["-n", str(workers)]
        started = time.perf_counter()
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - started
    lines = result.stdout.strip().splitlines()
    return {
        "workers": workers,
        "wall_s": wall,
        "exit_code": result.returncode,
        "summary": lines[-1] if lines else "",
        "runs": next((line for line in lines if line.startswith("gan: ")), ""),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--case", default="shapes-dcgan")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--zoo-workers", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    spec = case(args.case).spec()
    with tempfile.TemporaryDirectory() as folder:
        # Warm-up: allocator, kernels, lazy imports (matplotlib among them).
        smoke(spec, 10, args.device, Path(folder))
        bare_loop(spec, 10, args.device)
        bare: list[float] = []
        parts: list[dict[str, float]] = []
        for pair in range(args.pairs):
            for smoke_first in (True, False) if pair % 2 == 0 else (False, True):
                if smoke_first:
                    parts.append(smoke(spec, args.steps, args.device, Path(folder)))
                else:
                    bare.append(bare_loop(spec, args.steps, args.device))
    ratios = [p["total_s"] / b for p, b in zip(parts, bare, strict=True)]
    verdict_ratios = [(p["train_s"] + p["checks_s"]) / b for p, b in zip(parts, bare, strict=True)]
    result: dict[str, Any] = {
        "case": args.case,
        "steps": args.steps,
        "pairs": args.pairs,
        "device": args.device,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "machine": platform.machine(),
        "bare_s": statistics.median(bare),
        **{
            f"smoke_{k}": statistics.median(p[k] for p in parts)
            for k in ("train_s", "checks_s", "artifacts_s", "total_s")
        },
        "verdict_ratio_median": statistics.median(verdict_ratios),
        "verdict_ratio_min": min(verdict_ratios),
        "verdict_ratio_max": max(verdict_ratios),
        "ratio_median": statistics.median(ratios),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
    }
    r = result
    print(
        f"{args.case}, {args.steps} steps on {args.device} ({r['threads']} threads), "
        f"{args.pairs} pairs:\n"
        f"  bare loop {r['bare_s']:.2f} s; smoke {r['smoke_total_s']:.2f} s = train "
        f"{r['smoke_train_s']:.2f} + checks {r['smoke_checks_s']:.2f} + pictures "
        f"{r['smoke_artifacts_s']:.2f} (medians)\n"
        f"  verdict (train + checks) / bare: median {r['verdict_ratio_median']:.3f} "
        f"(range {r['verdict_ratio_min']:.3f}-{r['verdict_ratio_max']:.3f})\n"
        f"  smoke with pictures / bare: median {r['ratio_median']:.3f} "
        f"(range {r['ratio_min']:.3f}-{r['ratio_max']:.3f})",
        flush=True,
    )
    if args.zoo_workers >= 0:
        zoo = zoo_wall_time(args.zoo_workers, args.device)
        result["zoo"] = zoo
        print(
            f"whole zoo, -n {zoo['workers']}: {zoo['wall_s']:.1f} s wall, exit "
            f"{zoo['exit_code']}; {zoo['runs']}; {zoo['summary']}"
        )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
