"""torch's intra-op threads in each test process: cores / workers under pytest-xdist,
unless the team says otherwise (``pytest_gan.threads``)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pytest_gan.threads import ThreadPlan, available_cores, plan

# Each test process writes the threads torch uses there, at test time.
PROBE_TEST = """
import json, os
import pytest
import torch

@pytest.mark.parametrize("i", range(4))
def test_threads(i):
    name = os.environ.get("PYTEST_XDIST_WORKER", "main")
    out = os.path.join(os.environ["THREADS_OUT"], f"threads-{name}.json")
    with open(out, "w") as f:
        json.dump(torch.get_num_threads(), f)
"""


def _threads_seen(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, *args: str
) -> tuple[dict[str, int], str]:
    pytester.makepyfile(test_probe=PROBE_TEST)
    out = pytester.mkdir(f"seen-{len(list(pytester.path.glob('seen-*')))}")
    monkeypatch.setenv("THREADS_OUT", str(out))
    # This suite may itself run under xdist: its worker's name is not the inner run's.
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)
    result = pytester.runpytest_subprocess(*args, "-p", "no:cacheprovider")
    assert result.ret == 0, result.stdout.str()
    seen = {p.stem.removeprefix("threads-"): json.loads(p.read_text()) for p in out.iterdir()}
    return seen, result.stdout.str()


def test_the_plan_follows_the_teams_setting_first() -> None:
    assert plan(3, 2, env={}, cores=8) == ThreadPlan(3, "--gan-threads", forced=True)
    assert plan(None, 2, env={"OMP_NUM_THREADS": "4"}, cores=8).threads is None
    assert plan(None, 2, env={}, cores=8).threads == 4
    assert plan(None, 3, env={}, cores=2).threads == 1
    assert plan(None, None, env={}, cores=8) == ThreadPlan(None, "torch's default")
    assert available_cores() >= 1


@pytest.mark.parametrize("workers", [1, 2])
def test_each_xdist_worker_gets_cores_over_workers(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    seen, out = _threads_seen(pytester, monkeypatch, "-n", str(workers))
    expected = max(1, available_cores() // workers)
    assert set(seen) == {f"gw{i}" for i in range(workers)}
    assert set(seen.values()) == {expected}
    assert f"threads={expected} per process ({available_cores()} cores / {workers}" in out


# On one core the plugin's setting and the team's cannot be told apart.
needs_two_cores = pytest.mark.skipif(available_cores() < 2, reason="needs 2 cores or more")


@needs_two_cores
def test_the_teams_own_setting_stays(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The plugin alone would give one worker all the cores.
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    seen, out = _threads_seen(pytester, monkeypatch, "-n", "1")
    assert seen == {"gw0": 1}
    assert "threads=torch's, from OMP_NUM_THREADS=1 (yours)" in out
    monkeypatch.delenv("OMP_NUM_THREADS")
    # A conftest's own torch.set_num_threads, lower than the plugin's: kept.
    pytester.makeconftest("import torch\ntorch.set_num_threads(1)\n")
    seen, _ = _threads_seen(pytester, monkeypatch, "-n", "1")
    assert seen == {"gw0": 1}


@needs_two_cores
def test_gan_threads_sets_every_process(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    seen, out = _threads_seen(pytester, monkeypatch, "-n", "1", "--gan-threads", "1")
    assert seen == {"gw0": 1} and "threads=1 per process (--gan-threads)" in out
    pytester.makeini("[pytest]\ngan_threads = 1\n")
    seen, _ = _threads_seen(pytester, monkeypatch)
    assert seen == {"main": 1}


def test_without_xdist_torch_keeps_its_own(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    seen, out = _threads_seen(pytester, monkeypatch)
    fresh = subprocess.run(
        [sys.executable, "-c", "import torch; print(torch.get_num_threads())"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "threads=torch's default" in out
    assert seen == {"main": int(fresh.stdout)}
