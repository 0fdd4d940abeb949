"""What the plugin keeps for a whole pytest session: the effective settings, the cache of
training runs that ``gan_train`` shares between tests, the device and the artifact folders.

Nothing here imports torch at import time: ``pytest --help`` and suites that never train a
GAN load the plugin, and with it this module, without paying for torch.
"""

from __future__ import annotations

import argparse
import math
import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

from pytest_gan import _defaults
from pytest_gan._args import MAX_SEED, check_int, check_seed
from pytest_gan._files import NAME_MAX, SAFE_NO_BRACKETS, safe_name

if TYPE_CHECKING:
    import torch

    from pytest_gan.run import GANRun
    from pytest_gan.spec import GANSpec

T = TypeVar("T")

#: The device setting that leaves the choice to the machine (``_defaults.DEVICE`` is None).
AUTO_DEVICE = "auto"

_DEVICE_PATTERN = re.compile(r"auto|cpu|mps|cuda(?::[0-9]+)?")
_DEVICE_CHOICES = "auto, cpu, cuda, cuda:N or mps"

#: The folder under pytest's temporary directory that holds the per-test artifact folders
#: when no ``--gan-artifacts`` is given.
ARTIFACTS_DIRNAME = "gan-artifacts"

#: Longest artifact folder name (``_files.NAME_MAX``).
ARTIFACT_NAME_MAX = NAME_MAX


def _parse_whole_number(value: str, minimum: int, expected: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = minimum - 1
    if number < minimum:
        raise ValueError(f"expected {expected}, got {value!r}")
    return number


def parse_steps(value: str) -> int:
    """A step count from option or ini text: an integer >= 1."""
    return _parse_whole_number(value, 1, "a whole number of training steps >= 1")


def parse_seed(value: str) -> int:
    """A seed from option or ini text: an integer from 0 to 2**64 - 1."""
    seed = _parse_whole_number(value, 0, "a whole number >= 0 as the seed")
    if seed > MAX_SEED:
        raise ValueError(f"expected a seed of at most 2**64 - 1 ({MAX_SEED}), got {value!r}")
    return seed


def parse_threads(value: str) -> int:
    """A thread count from option or ini text: an integer >= 1."""
    return _parse_whole_number(value, 1, "a whole number of threads >= 1")


def parse_seeds(value: str) -> int:
    """A baseline's seed count from option or ini text: an integer >= the minimum."""
    minimum = _defaults.BASELINE_MIN_SEEDS
    return _parse_whole_number(value, minimum, f"a whole number of seeds >= {minimum}")


def parse_timeout(value: str) -> float:
    """A time limit in seconds from option or ini text: a finite number > 0."""
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"expected a number of seconds > 0, got {value!r}")
    return seconds


def parse_device(value: str) -> str:
    """A device name from option or ini text, checked without importing torch."""
    device = value.strip()
    if not _DEVICE_PATTERN.fullmatch(device):
        raise ValueError(f"expected one of {_DEVICE_CHOICES}, got {value!r}")
    return device


def parse_file(value: str) -> Path:
    """A file path from option text (relative paths are resolved by the caller)."""
    if not value.strip():
        raise ValueError("expected a file path, got an empty value")
    return Path(value.strip()).expanduser()


def parse_dir(value: str) -> Path:
    """A directory from option or ini text (relative paths are resolved by the caller)."""
    if not value.strip():
        raise ValueError("expected a directory, got an empty value")
    return Path(value.strip()).expanduser()


def option_type(parse: Callable[[str], T]) -> Callable[[str], T]:
    """``parse`` as an argparse ``type=``, so that its message reaches the usage error.

    argparse shows the text of an ``ArgumentTypeError`` but replaces that of a
    ``ValueError`` with a generic "invalid value".
    """

    def convert(value: str) -> T:
        try:
            return parse(value)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return convert


@dataclass(frozen=True)
class GanSettings:
    """The effective session settings: command line, else ini, else ``_defaults``."""

    seed: int
    #: None: CUDA when available, else CPU (decided when a test first needs the device).
    device: str | None
    steps: int
    #: None: artifacts go under pytest's temporary directory.
    artifacts: Path | None
    #: Seconds a training run may take; None: no limit.
    timeout: float | None = None
    #: Seeds a regression baseline is measured on (``--gan-baseline-seeds``).
    baseline_seeds: int = _defaults.BASELINE_SEEDS
    #: Whether ``gan_baseline`` remeasures and rewrites baselines (``--gan-update-baselines``).
    update_baselines: bool = False
    #: How far the smoke suite may train a run on (``--gan-max-steps``); None: the default
    #: multiple of ``steps``.
    max_steps: int | None = None
    #: torch's intra-op threads per test process (``--gan-threads``); None: cores /
    #: workers under pytest-xdist, else torch's own (``pytest_gan.threads``).
    threads: int | None = None

    @property
    def smoke_max_steps(self) -> int:
        """The smoke suite's budget of steps for a run: never below ``steps``."""
        if self.max_steps is None:
            return self.steps * _defaults.MAX_EXTEND_FACTOR
        return max(self.max_steps, self.steps)

    def describe(self) -> str:
        """One line for the report header, in the terms of the options that set it."""
        device = self.device or f"{AUTO_DEVICE} (cuda if available)"
        artifacts = self.artifacts or f"<pytest basetemp>/{ARTIFACTS_DIRNAME}"
        timeout = "none" if self.timeout is None else f"{self.timeout:g} s"
        line = (
            f"seed={self.seed}, device={device}, steps={self.steps}, "
            f"max-steps={self.smoke_max_steps} (smoke), timeout={timeout}, "
            f"artifacts={artifacts}"
        )
        if self.update_baselines:
            line += f", updating baselines ({self.baseline_seeds} seeds each)"
        return line


def settings_from_config(config: pytest.Config) -> GanSettings:
    """The session settings; a malformed value is a ``pytest.UsageError`` naming its option."""
    steps = _setting(config, "steps", parse_steps)
    seed = _setting(config, "seed", parse_seed)
    device = _setting(config, "device", parse_device)
    baseline_seeds = _setting(config, "baseline_seeds", parse_seeds)
    return GanSettings(
        seed=_defaults.SEED if seed is None else seed,
        device=_defaults.DEVICE if device is None or device == AUTO_DEVICE else device,
        steps=_defaults.STEPS if steps is None else steps,
        artifacts=_artifacts_setting(config),
        timeout=_setting(config, "timeout", parse_timeout),
        baseline_seeds=_defaults.BASELINE_SEEDS if baseline_seeds is None else baseline_seeds,
        update_baselines=bool(config.getoption("gan_update_baselines", False)),
        max_steps=_setting(config, "max_steps", parse_steps),
        threads=_setting(config, "threads", parse_threads),
    )


def _setting(config: pytest.Config, name: str, parse: Callable[[str], T]) -> T | None:
    # The option's type= has already parsed and checked a command-line value.
    value: T | None = config.getoption(f"gan_{name}")
    if value is not None:
        return value
    raw = str(config.getini(f"gan_{name}"))
    if not raw.strip():
        return None
    try:
        return parse(raw)
    except ValueError as exc:
        raise pytest.UsageError(f"gan_{name} = {raw} in {config.inipath}: {exc}") from None


def _artifacts_setting(config: pytest.Config) -> Path | None:
    # Like pytest's own path settings: a command-line path is relative to where pytest was
    # invoked, an ini path to the ini file.
    option: Path | None = config.getoption("gan_artifacts")
    if option is not None:
        path, source = config.invocation_params.dir / option, "--gan-artifacts"
    else:
        raw = str(config.getini("gan_artifacts"))
        if not raw.strip():
            return None
        base = config.inipath.parent if config.inipath is not None else config.rootpath
        path, source = base / parse_dir(raw), "gan_artifacts"
    if path.exists() and not path.is_dir():
        raise pytest.UsageError(f"{source}: expected a directory, but {path} is a file")
    return path.resolve()


def resolve_device(device: str | None, *, option: str = "--gan-device") -> str:
    """The concrete device a run uses; ``None`` (or "auto") picks CUDA when available.

    A device this machine cannot provide is a ``ValueError`` that names ``option`` and says
    what to use instead. Imports torch, so only call it when a test needs the device.
    """
    if device is not None:
        try:
            device = parse_device(device)
        except ValueError as exc:
            raise ValueError(f"{option}: {exc}") from None
    from pytest_gan.devices import resolve_device as resolve

    return str(resolve(device, argument=option))


@dataclass
class RunStats:
    """How many runs the session trained and how many it served from the cache."""

    trained: int = 0
    reused: int = 0
    devices: list[str] = field(default_factory=list)

    def record(self, device: str, *, reused: bool) -> None:
        if reused:
            self.reused += 1
        else:
            self.trained += 1
        if device not in self.devices:
            self.devices.append(device)

    def as_dict(self) -> dict[str, Any]:
        """A plain form that crosses from a pytest-xdist worker to the controller."""
        return {"trained": self.trained, "reused": self.reused, "devices": list(self.devices)}

    def merge(self, other: dict[str, Any]) -> None:
        self.trained += int(other["trained"])
        self.reused += int(other["reused"])
        for device in other["devices"]:
            if device not in self.devices:
                self.devices.append(str(device))

    def describe(self) -> str:
        devices = ", ".join(self.devices)
        label = "device" if len(self.devices) == 1 else "devices"
        return (
            f"{self.trained} training run(s), {self.reused} reused from cache ({label} {devices})"
        )


class RunCache:
    """The training runs of a session, least recently used dropped first.

    A run is identified by its spec object (not by the spec's contents: tensors and
    factories do not compare by value), its steps, its seed and its resolved device. Each
    entry holds its spec, so that the ``id`` in the key cannot be reused by another spec
    while the entry lives.
    """

    def __init__(self, maxsize: int = _defaults.RUN_CACHE_SIZE) -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize: expected an int >= 1, got {maxsize!r}")
        self.maxsize = maxsize
        self.stats = RunStats()
        #: (spec key, steps, seed, device, max_steps, stop_early) -> (spec, run or the error
        #: it raised)
        self._runs: OrderedDict[tuple[Any, ...], tuple[Any, GANRun | Exception]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._runs)

    def get_or_train(
        self,
        spec: GANSpec | Callable[[int], Any],
        steps: int,
        seed: int,
        device: str,
        *,
        key: Any = None,
        time_limit: float | None = None,
        progress: Callable[[int, int], None] | None = None,
        max_steps: int | None = None,
        stop_early: bool = False,
    ) -> GANRun:
        """The cached run for these arguments, training it first if there is none.

        ``key`` names the spec instead of its ``id`` (the smoke suite keys a spec by its
        conftest and parameter, so that a fixture building a new spec object per test still
        shares one run). A training that raised is remembered too: the other tests of
        that run get the same error (a ``GANTrainingError`` naming the spec and the step)
        without training again. ``time_limit`` (seconds) bounds a training;
        ``progress(done, total)`` is called after each of its steps. ``max_steps`` is
        ``train``'s: how far a run may be trained on to decide a premature verdict;
        ``stop_early`` too (a team's own loop always runs its steps).
        """
        budget = steps if max_steps is None else max(max_steps, steps)
        full_key = (id(spec) if key is None else key, steps, seed, device, budget, stop_early)
        entry = self._runs.get(full_key)
        if entry is not None:
            self._runs.move_to_end(full_key)
            self.stats.record(device, reused=True)
            if isinstance(entry[1], Exception):
                raise entry[1]
            return entry[1]
        from pytest_gan.spec import GANSpec as _Spec
        from pytest_gan.training import train

        outcome: GANRun | Exception
        try:
            if isinstance(spec, _Spec) or not callable(spec):
                outcome = train(
                    spec,
                    steps=steps,
                    device=device,
                    seed=seed,
                    progress=progress,
                    time_limit=time_limit,
                    max_steps=budget,
                    stop_early=stop_early,
                )
            else:
                # A team's own loop under pg.watch: its seed and device are its own.
                from pytest_gan.deciding import settle_loop

                outcome = settle_loop(spec, steps, budget, time_limit=time_limit)
        except Exception as exc:  # deterministic: training again would raise it again
            outcome = exc
        self._runs[full_key] = (spec, outcome)
        if len(self._runs) > self.maxsize:
            self._runs.popitem(last=False)
        self.stats.record(device, reused=False)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


class RunFactory:
    """The ``gan_train`` fixture: ``gan_train(spec, steps=None, *, seed=None, device=None,
    max_steps=None)``.

    An argument left as None takes the session's setting (``--gan-steps``, ``--gan-seed``,
    ``--gan-device``); runs are shared through the session's ``RunCache``; every training
    is bounded by ``--gan-timeout``. ``max_steps`` is ``train``'s: a run a blank, collapse
    or conditioning verdict may have judged too early is trained on up to it.
    """

    def __init__(
        self,
        cache: RunCache,
        *,
        steps: int,
        seed: int,
        device: str,
        time_limit: float | None = None,
    ) -> None:
        self._cache = cache
        self._steps = steps
        self._seed = seed
        self._device = device
        self._time_limit = time_limit

    def __call__(
        self,
        spec: GANSpec,
        steps: int | None = None,
        *,
        seed: int | None = None,
        device: str | torch.device | None = None,
        max_steps: int | None = None,
    ) -> GANRun:
        __tracebackhide__ = True
        steps = self._steps if steps is None else _whole_number("steps", steps, minimum=1)
        if max_steps is not None:
            max_steps = _whole_number("max_steps", max_steps, minimum=steps)
        return self._cache.get_or_train(
            spec,
            steps=steps,
            seed=self._seed if seed is None else check_seed(seed, "gan_train: seed"),
            device=(
                self._device
                if device is None
                else resolve_device(str(device), option="gan_train(device=...)")
            ),
            time_limit=self._time_limit,
            max_steps=max_steps,
        )


def _whole_number(name: str, value: object, *, minimum: int) -> int:
    __tracebackhide__ = True
    return check_int(value, f"gan_train: {name}", least=minimum)


def artifact_dir_for(root: Path, nodeid: str) -> Path:
    """The artifact folder of the test ``nodeid`` under ``root`` (not created).

    The name keeps the readable part of the node id in ``[A-Za-z0-9_.~-]``. Whenever that
    loses information (replaced characters, truncation), a hash of the full node id is
    appended, so that two distinct tests never share a folder (``_files.safe_name``).
    """
    return root / safe_name(nodeid, nodeid, limit=ARTIFACT_NAME_MAX, unsafe=SAFE_NO_BRACKETS)
