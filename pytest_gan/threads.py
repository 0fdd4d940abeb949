"""Torch's intra-op threads in each test process: cores / workers under pytest-xdist.

torch starts as many intra-op threads as the machine has cores, in every process. Under
pytest-xdist with one worker per core that is cores x cores threads: on 2 cores, a
team's first ``pytest --gan-smoke -n 2`` took 235 s where one process took 52 s (and
``-n 2`` with ``OMP_NUM_THREADS=1`` 49 s). So each xdist worker gets cores / workers
threads (at least 1), unless the team has said otherwise:

* ``--gan-threads N`` (ini ``gan_threads``) sets N in every test process, xdist or not;
* ``OMP_NUM_THREADS`` or ``MKL_NUM_THREADS`` in the environment is left to torch;
* a ``torch.set_num_threads`` of the team's own stays: in a conftest imported before the
  plugin configures, a setting lower than the plugin's is kept (the plugin only lowers),
  and one made later replaces the plugin's.

Nothing here imports torch: before torch is imported the setting goes through
``OMP_NUM_THREADS``, which torch reads when it starts.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass

#: The environment variables through which a team sets torch's threads itself.
THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS tells it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class ThreadPlan:
    """What the plugin does with torch's threads in a test process, and why."""

    #: The thread count the plugin sets; None: it leaves torch's own.
    threads: int | None
    #: Where that comes from, for the report header.
    source: str
    #: Whether the count is the team's (``--gan-threads``): set even above torch's own.
    forced: bool = False

    def describe(self) -> str:
        if self.threads is None:
            return f"threads={self.source}"
        return f"threads={self.threads} per process ({self.source})"


def plan(
    option: int | None,
    workers: int | None,
    env: Mapping[str, str] = os.environ,
    cores: int | None = None,
) -> ThreadPlan:
    """The plan for a process: ``option`` is ``--gan-threads``/``gan_threads`` (None when
    unset), ``workers`` the number of xdist workers (None without xdist)."""
    if option is not None:
        return ThreadPlan(option, "--gan-threads", forced=True)
    for name in THREAD_ENV:
        if env.get(name, "").strip():
            return ThreadPlan(None, f"torch's, from {name}={env[name].strip()} (yours)")
    if workers:
        cores = available_cores() if cores is None else cores
        return ThreadPlan(max(1, cores // workers), f"{cores} cores / {workers} xdist workers")
    return ThreadPlan(None, "torch's default")


def apply(thread_plan: ThreadPlan) -> None:
    """Carry the plan out in this process (see the module docstring)."""
    n = thread_plan.threads
    if n is None:
        return
    if "torch" not in sys.modules:
        # torch reads it when it starts its thread pool.
        os.environ["OMP_NUM_THREADS"] = str(n)
        return
    import torch

    if thread_plan.forced or torch.get_num_threads() > n:
        torch.set_num_threads(n)
