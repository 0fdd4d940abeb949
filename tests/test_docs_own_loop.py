"""The examples of docs/own-loop.md run, and say what the page says they say."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples" / "own_loop"


def _run(*args: str) -> str:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(EXAMPLES.parents[2]), str(EXAMPLES)])}
    # The example runs with this process's share of the cores (under pytest-xdist, the
    # plugin's cores / workers), not torch's default of every core beside busy workers:
    # on 2 cores next to another worker that made it 2.6x slower.
    env.setdefault("OMP_NUM_THREADS", str(torch.get_num_threads()))
    out = subprocess.run(
        [sys.executable, *args], cwd=EXAMPLES, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def test_the_teams_test_wraps_its_loop_and_passes() -> None:
    out = _run("-m", "pytest", "-q", "-p", "no:cacheprovider", "test_my_gan.py")
    assert "11 passed" in out


def test_the_n_critic_example_passes_and_its_mistake_is_caught() -> None:
    healthy = _run("wgan_gp.py")
    assert "200 generator steps watched" in healthy and "FAIL" not in healthy
    broken = _run("wgan_gp.py", "--mistake")
    assert [line.split()[-1] for line in broken.splitlines() if "FAIL" in line] == [
        "discriminator-not-lipschitz"
    ]
