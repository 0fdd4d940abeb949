"""Calibration of regression baselines: how often a healthy re-run on another seed leaves
its band (false alarms), and whether the planted regression does (detection).

    python benchmarks/baseline_calibration.py run [--case shapes-dcgan] [--healthy 45]
        [--regressed 20] [--steps 200] [--batch-size N] [--out FILE]
    python benchmarks/baseline_calibration.py analyse FILE [--json OUT]

``run`` trains the healthy case on seeds 0..healthy-1 and its ``baseline-regression``
twin (the same GAN at a learning rate 100x too small) on seeds 0..regressed-1, and stores
each run's figures exactly as ``gan_baseline`` measures them (``summarize``), with the
training time. ``--batch-size`` trains both at another batch size than the case's own.
Every run is kept in FILE (by default ``results/baseline-runs-<case>-batch<N>.json``) as
soon as it ends, so an interrupted measurement resumes where it stopped; a FILE of another
case, step count or batch size is refused. It also resamples the distances of the first
healthy runs at other sample seeds, to compare sampling noise with the seed-to-seed spread.

``analyse`` builds baselines from the healthy runs the way an update does, and checks
runs against them with the code ``assert_matches_baseline`` uses (``compare``):

* the protocol of the docs: the baseline of seeds 0-4 (what ``gan_baseline`` makes for a
  test at the default seed), 20 healthy re-runs on seeds 5-24, the 20 regressed runs;
* every disjoint block of five healthy seeds as a baseline, each checked against 20
  healthy seeds outside it and against the regressed runs;
* the same with the per-figure false-alarm rate ``FIGURE_FALSE_ALARM`` swept, with and
  without the floors, and for baselines on 3, 4 and 8 seeds.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from fixtures.zoo import case
from pytest_gan import train
from pytest_gan._files import write_atomically
from pytest_gan.baseline import (
    FIGURE_FALSE_ALARM,
    FIGURES,
    SUMMARY_SAMPLES,
    Baseline,
    band_factor,
    compare,
    summarize,
)
from pytest_gan.metrics import coverage, energy_distance, mean_pairwise_distance
from pytest_gan.run import GANRun

RESULTS = Path(__file__).parent / "results"
RESAMPLED_RUNS = 3
RESAMPLES = 5
RERUNS = 20
SWEEP = (0.05, 0.02, 0.01, 0.005, 0.002, 0.001, 0.0005)


def _save(path: Path, data: dict[str, Any]) -> None:
    text = json.dumps(data, indent=2) + "\n"
    write_atomically(path, lambda tmp: Path(tmp).write_text(text))


def _resampled(run: GANRun) -> dict[str, list[float]]:
    """The distances at other sample seeds: sampling noise with the run held fixed."""
    out: dict[str, list[float]] = {"energy_distance": [], "diversity": [], "coverage": []}
    for k in range(1, RESAMPLES + 1):
        seed = 1000 * (run.seed + 1) + k
        fake, real = run.samples(SUMMARY_SAMPLES, seed=seed), run.real(SUMMARY_SAMPLES, seed=seed)
        out["energy_distance"].append(energy_distance(fake, real))
        out["diversity"].append(mean_pairwise_distance(fake) / mean_pairwise_distance(real))
        out["coverage"].append(coverage(real, fake, k=5))
    return out


def run(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    batch_size = args.batch_size or case(args.case).spec().batch_size
    out = args.out or RESULTS / f"baseline-runs-{args.case}-batch{batch_size}.json"
    data: dict[str, Any] = {"runs": []}
    if out.exists():
        data = json.loads(out.read_text())
        stored = (data["case"], data["steps"], data["batch_size"])
        if stored != (args.case, args.steps, batch_size):
            raise ValueError(
                f"--out {out} holds runs of case, steps, batch size {stored}, not "
                f"{(args.case, args.steps, batch_size)}: name another file"
            )
    done = {(r["group"], r["seed"]) for r in data["runs"]}
    data.update(
        case=args.case,
        steps=args.steps,
        batch_size=batch_size,
        threads=args.threads,
        torch=torch.__version__,
        samples=SUMMARY_SAMPLES,
    )
    plan = [("healthy", args.case, s) for s in range(args.healthy)]
    plan += [("regressed", "baseline-regression", s) for s in range(args.regressed)]
    for group, name, seed in plan:
        if (group, seed) in done:
            continue
        spec = replace(case(name).spec(), batch_size=batch_size)
        started = time.perf_counter()
        trained = train(spec, steps=args.steps, seed=seed, device="cpu")
        seconds = time.perf_counter() - started
        started = time.perf_counter()
        figures = summarize(trained)
        row: dict[str, Any] = {
            "group": group,
            "case": name,
            "seed": seed,
            "train_seconds": round(seconds, 3),
            "summary_seconds": round(time.perf_counter() - started, 3),
            "data_range": list(trained.data_range),
            "figures": figures,
        }
        if group == "healthy" and seed < RESAMPLED_RUNS:
            row["resampled"] = _resampled(trained)
        data["runs"].append(row)
        _save(out, data)
        print(f"{group} {name} seed {seed}: {seconds:.1f} s", flush=True)


def _baseline(rows: list[dict[str, Any]], steps: int) -> Baseline:
    settings = {
        "data_range": rows[0]["data_range"],
        "device": "cpu",
        "seeds": [r["seed"] for r in rows],
        "steps": steps,
    }
    return Baseline.from_summaries([r["figures"] for r in rows], settings)


def _outside(rows: list[dict[str, Any]], baseline: Baseline) -> list[list[str]]:
    """Per checked run, the figures outside their bands."""
    return [[c.name for c in compare(r["figures"], baseline) if not c.inside] for r in rows]


def _with_alarm(baseline: Baseline, false_alarm: float, floors: bool = True) -> Baseline:
    # The sweep re-reads the same figures under another band factor, or with no floors.
    class Swept(Baseline):
        @property
        def factor(self) -> float:
            return band_factor(len(self.seeds), false_alarm)

    figures = baseline.figures
    if not floors:
        figures = {name: replace(f, floor=0.0) for name, f in figures.items()}
    return Swept(figures, baseline.settings)


def _blocks(healthy: list[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
    return [healthy[i : i + size] for i in range(0, len(healthy) - size + 1, size)]


def _evaluate(
    healthy: list[dict[str, Any]],
    regressed: list[dict[str, Any]],
    steps: int,
    size: int,
    false_alarm: float,
    floors: bool = True,
) -> dict[str, Any]:
    passes, detected, alarms = [], [], 0
    tripped: dict[str, int] = {}
    least_moved = math.inf
    for block in _blocks(healthy, size):
        baseline = _with_alarm(_baseline(block, steps), false_alarm, floors)
        inside = {r["seed"] for r in block}
        reruns = [r for r in healthy if r["seed"] not in inside][:RERUNS]
        outside = _outside(reruns, baseline)
        passes.append(sum(1 for names in outside if not names))
        for names in outside:
            alarms += bool(names)
            for name in names:
                tripped[name] = tripped.get(name, 0) + 1
        detected.append(sum(1 for names in _outside(regressed, baseline) if names))
        for r in regressed:
            moved = max(
                (abs(c.moved) for c in compare(r["figures"], baseline) if math.isfinite(c.moved)),
                default=math.inf,
            )
            least_moved = min(least_moved, moved)
    checked = len(passes) * RERUNS
    return {
        "seeds_per_baseline": size,
        "false_alarm_per_figure": false_alarm,
        "floors": floors,
        "band_factor": round(band_factor(size, false_alarm), 3),
        "baselines": len(passes),
        "reruns_passing_of_20": passes,
        "false_alarm_rate": round(alarms / checked, 4) if checked else None,
        "regressed_detected": detected,
        "regressed_runs": len(regressed),
        "regression_least_max_spreads_moved": round(least_moved, 1),
        "figures_tripped": dict(sorted(tripped.items(), key=lambda kv: -kv[1])),
    }


def analyse(args: argparse.Namespace) -> None:
    data = json.loads(args.file.read_text())
    steps = data["steps"]
    healthy = sorted((r for r in data["runs"] if r["group"] == "healthy"), key=lambda r: r["seed"])
    regressed = [r for r in data["runs"] if r["group"] == "regressed"]
    base = _baseline(healthy[:5], steps)
    reruns = healthy[5 : 5 + RERUNS]
    rerun_outside = _outside(reruns, base)
    regressed_outside = _outside(regressed, base)
    protocol = {
        "baseline_seeds": base.seeds,
        "band_factor": round(base.factor, 3),
        "rerun_seeds": [r["seed"] for r in reruns],
        "reruns_passing": sum(1 for names in rerun_outside if not names),
        "reruns": len(reruns),
        "rerun_failures": {
            str(r["seed"]): names for r, names in zip(reruns, rerun_outside, strict=True) if names
        },
        "regressed_seeds": [r["seed"] for r in regressed],
        "regressed_failing": sum(1 for names in regressed_outside if names),
        "regressed_figures_outside_least": min(len(n) for n in regressed_outside),
        "regressed_figures": len(FIGURES),
    }
    spread = {
        name: statistics.stdev(r["figures"][name] for r in healthy)
        for name in ("energy_distance", "diversity", "coverage")
    }
    noise = {
        name: statistics.fmean(
            statistics.stdev(r["resampled"][name]) for r in healthy if "resampled" in r
        )
        for name in spread
    }
    train_seconds = [r["train_seconds"] for r in healthy]
    result = {
        "case": data["case"],
        "steps": steps,
        "batch_size": data["batch_size"],
        "threads": data["threads"],
        "torch": data["torch"],
        "samples": data["samples"],
        "healthy_runs": len(healthy),
        "regressed_runs": len(regressed),
        "figure_false_alarm": FIGURE_FALSE_ALARM,
        "protocol": protocol,
        "disjoint_baselines": _evaluate(healthy, regressed, steps, 5, FIGURE_FALSE_ALARM),
        "sweep": [_evaluate(healthy, regressed, steps, 5, a) for a in SWEEP],
        "sweep_without_floors": [
            _evaluate(healthy, regressed, steps, 5, a, floors=False) for a in SWEEP
        ],
        "other_seed_counts": [
            _evaluate(healthy, regressed, steps, n, FIGURE_FALSE_ALARM) for n in (3, 4, 8)
        ],
        "sampling_noise_over_seed_spread": {k: round(noise[k] / spread[k], 3) for k in spread},
        "train_seconds_median": round(statistics.median(train_seconds), 2),
        "summary_seconds_median": round(
            statistics.median(r["summary_seconds"] for r in data["runs"]), 3
        ),
    }
    text = json.dumps(result, indent=2) + "\n"
    print(text, end="")
    if args.json is not None:
        write_atomically(args.json, lambda tmp: Path(tmp).write_text(text))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run")
    p_run.add_argument("--case", default="shapes-dcgan")
    p_run.add_argument("--healthy", type=int, default=45)
    p_run.add_argument("--regressed", type=int, default=20)
    p_run.add_argument("--steps", type=int, default=200)
    p_run.add_argument("--batch-size", type=int, default=None)
    p_run.add_argument("--threads", type=int, default=1)
    p_run.add_argument("--out", type=Path, default=None)
    p_an = sub.add_parser("analyse")
    p_an.add_argument("file", type=Path)
    p_an.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.command == "run":
        run(args)
    else:
        analyse(args)


if __name__ == "__main__":
    main()
