"""``pytest --gan-smoke -n 2`` against one process, on a project of six specs.

    python benchmarks/smoke_parallel.py [--pairs 2] [--workers 2] [--json FILE]

Writes a fresh project into a temporary folder whose conftest offers the zoo's six
healthy references as its ``gan_spec`` (nothing in it sets threads), and times
``pytest --gan-smoke`` in one process and with ``-n WORKERS``, alternating which goes
first, each in a new process as a team's CI runs it. The environment's
``OMP_NUM_THREADS`` and ``MKL_NUM_THREADS`` are removed, as on a fresh runner; the plugin
decides the threads (``pytest_gan.threads``). Reported: each run's wall time and the
median ratio parallel / one process (goal: at most 1.10).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pytest_gan.threads import available_cores

CONFTEST = """
import pytest
from fixtures.zoo import HEALTHY

@pytest.fixture(params=sorted(HEALTHY))
def gan_spec(request):
    return HEALTHY[request.param].spec()
"""


def _run(project: Path, repo: Path, args: list[str]) -> float:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    env["PYTHONPATH"] = str(repo)
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "--gan-smoke", "-q", "-p", "no:cacheprovider", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    if out.returncode != 0:
        raise SystemExit(out.stdout[-3000:] + out.stderr[-3000:])
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    repo = Path(__file__).resolve().parents[1]
    times: dict[str, list[float]] = {"one": [], "parallel": []}
    ratios: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        (project / "conftest.py").write_text(CONFTEST)
        for i in range(args.pairs):
            order = ["one", "parallel"] if i % 2 == 0 else ["parallel", "one"]
            got = {}
            for which in order:
                extra = [] if which == "one" else ["-n", str(args.workers)]
                got[which] = _run(project, repo, extra)
                times[which].append(got[which])
            ratios.append(got["parallel"] / got["one"])
            print(f"pair {i}: one {got['one']:.1f} s, -n {args.workers} {got['parallel']:.1f} s")
    result = {
        "specs": 6,
        "workers": args.workers,
        "cores": available_cores(),
        "pairs": args.pairs,
        "machine": platform.processor() or platform.machine(),
        "seconds": times,
        "median_ratio": statistics.median(ratios),
    }
    print(json.dumps(result, indent=2))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
