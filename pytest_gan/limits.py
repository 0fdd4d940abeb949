"""Time limits of a run: ``GANTimeLimitError``, the budget a run checks after each step, and
the SIGALRM interrupt that stops a step hanging inside Python (``train``'s ``time_limit``).
"""

from __future__ import annotations

import math
import numbers
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pytest_gan.errors import GANTrainingError

if TYPE_CHECKING:
    from pytest_gan.training import TrainContext

# The shortest alarm ``train`` arms: ``setitimer`` treats 0 as "disarm", so a limit that is
# already (nearly) spent when the alarm is armed still fires, just after this many seconds.
MIN_ALARM_S = 1e-3

# What the run was doing, for a time-limit message: before the steps, in them, after them.
PHASE_SETUP = "setting up the run (building and validating the networks, the first probe)"
PHASE_STEPS = "running the steps"
PHASE_SATURATION = "running the final saturation probe"


class GANTimeLimitError(GANTrainingError):
    """``train`` ran past its ``time_limit``: the message names the spec, the step it was
    at, the limit and the time spent, and what to do.

    ``spec_name``, ``step`` (the ``ctx.step`` it was at: 0 before the first step, ``steps``
    in the final saturation probe), ``steps``, ``limit`` and ``elapsed`` (seconds) say the
    same for code; ``phase`` names what the run was doing, ``interrupted`` whether it was
    interrupted there (SIGALRM) or stopped once a step had ended.
    """

    def __init__(
        self,
        spec_name: str,
        step: int,
        steps: int,
        limit: float,
        elapsed: float,
        phase: str,
        interrupted: bool,
    ) -> None:
        self.spec_name = spec_name
        self.step = step
        self.steps = steps
        self.limit = limit
        self.elapsed = elapsed
        self.phase = phase
        self.interrupted = interrupted
        where = (
            "the traceback above shows where it was interrupted"
            if interrupted
            else "it was stopped once the step had ended (the step itself could not be "
            "interrupted: not the main thread, not POSIX, or a timer such as pytest-timeout's "
            "was armed already)"
        )
        super().__init__(
            f"{spec_name}: training ran past its time limit of {limit:g} s at step {step} of "
            f"{steps} ({elapsed:.2f} s elapsed, while {phase}); {where}. A step that never "
            "finishes is usually a data loader that hangs (a worker that died or waits "
            "forever) or an endless loop in a train_step. If the run is merely slow, raise "
            "the limit with --gan-timeout or the ini option gan_timeout, or train fewer steps."
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # The message is built from the fields: pickle those (pytest-xdist, multiprocessing).
        fields = (self.spec_name, self.step, self.steps, self.limit, self.elapsed)
        return (type(self), (*fields, self.phase, self.interrupted))


class TimeLimitInterrupt(BaseException):
    """Raised by the SIGALRM handler inside whatever the run was doing.

    A BaseException, so that neither a user's ``except Exception`` in their step nor the
    wrapping of step errors into :class:`GANTrainingError` can swallow it; ``train`` turns
    it into a :class:`GANTimeLimitError`.
    """


@dataclass
class Deadline:
    """The wall-clock budget of one ``train`` call and where the run is, for the SIGALRM
    handler and the check after each step to read."""

    limit: float | None
    steps: int
    spec_name: str
    started: float = field(default_factory=time.perf_counter)
    #: The run's context once it exists: its ``step`` is the step the run is at.
    ctx: TrainContext | None = None
    phase: str = PHASE_SETUP
    #: Whether the SIGALRM handler may still raise (cleared before it is disarmed).
    interrupting: bool = False

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def error(self, interrupted: bool) -> GANTimeLimitError:
        assert self.limit is not None
        step = 0 if self.ctx is None else self.ctx.step
        return GANTimeLimitError(
            self.spec_name,
            step,
            self.steps,
            self.limit,
            self.elapsed(),
            self.phase,
            interrupted,
        )

    def check(self) -> None:
        """Raise :class:`GANTimeLimitError` if the limit is spent (a no-op without one)."""
        if self.limit is not None and self.elapsed() > self.limit:
            raise self.error(interrupted=False)

    def on_alarm(self, signum: int, frame: Any) -> None:
        if self.interrupting:
            self.interrupting = False  # once: the run's own clean-up must not be cut short
            raise TimeLimitInterrupt


def check_time_limit(time_limit: object) -> float | None:
    if time_limit is None:
        return None
    if isinstance(time_limit, bool) or not isinstance(time_limit, numbers.Real):
        raise TypeError(
            f"time_limit must be None or a number of seconds; got {type(time_limit).__name__}"
        )
    limit = float(time_limit)
    if not math.isfinite(limit) or limit <= 0:
        raise ValueError(
            f"time_limit must be a positive, finite number of seconds (or None); got {limit!r}"
        )
    return limit


def can_interrupt() -> bool:
    """Whether ``train`` may arm its own SIGALRM: POSIX, the main thread, and no ITIMER_REAL
    timer armed already (pytest-timeout's signal method, or the caller's own alarm)."""
    if sys.platform == "win32":
        return False
    return (
        threading.current_thread() is threading.main_thread()
        and signal.getitimer(signal.ITIMER_REAL)[0] == 0
    )
