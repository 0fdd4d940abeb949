"""train(time_limit=...): a hanging step is stopped, the alarm is put back, the run is
otherwise unchanged."""

from __future__ import annotations

import math
import pickle
import signal
import threading
import time
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

import pytest
import torch

import pytest_gan
from fixtures.steps import UserStep
from pytest_gan import GANTimeLimitError, GANTrainingError, TrainContext, train
from tests.tiny import tiny_spec

pytestmark = pytest.mark.skipif(
    not hasattr(signal, "setitimer"), reason="SIGALRM and setitimer are POSIX only"
)

# Seconds: the limit the hanging runs get, and the most a stopped run may take.
LIMIT = 1.0
PROMPT = 30.0

Step = Callable[[TrainContext, Any], Any]


def stuck_at(step: int, hang: Callable[[], None]) -> Step:
    """A correct user step that calls ``hang()`` when it reaches ``step``."""
    healthy = UserStep()

    def train_step(ctx: TrainContext, batch: Any) -> Any:
        if ctx.step == step:
            hang()
        return healthy(ctx, batch)

    return train_step


def sleep_forever() -> None:
    time.sleep(3600)


def spin_forever() -> None:
    while True:
        pass


def sleep_forever_swallowing() -> None:
    try:
        time.sleep(3600)
    except Exception:
        pass


@pytest.fixture(autouse=True)
def no_alarm_left() -> Iterator[None]:
    """Every test starts and ends with SIGALRM's handler in place and no timer armed."""
    in_main_thread = threading.current_thread() is threading.main_thread()
    if signal.getitimer(signal.ITIMER_REAL)[0] or not in_main_thread:
        # pytest-timeout's signal method, or a runner off the main thread: train leaves
        # the alarm alone there, and a step that hangs forever would hang these tests.
        pytest.skip("needs the main thread with no ITIMER_REAL timer armed")
    handler = signal.getsignal(signal.SIGALRM)
    yield
    assert signal.getsignal(signal.SIGALRM) is handler
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


@pytest.mark.parametrize(
    "hang",
    [sleep_forever, spin_forever, sleep_forever_swallowing],
    ids=["sleep", "busy-loop", "except-Exception"],
)
def test_a_hanging_step_is_interrupted(hang: Callable[[], None]) -> None:
    spec = tiny_spec(train_step=stuck_at(2, hang), name="hangs-at-two")
    started = time.perf_counter()
    with pytest.raises(GANTimeLimitError) as info:
        train(spec, steps=50, time_limit=LIMIT)
    took = time.perf_counter() - started
    assert took < PROMPT
    err = info.value
    message = str(err)
    assert "hangs-at-two" in message and "step 2 of 50" in message
    assert "1 s" in message and "--gan-timeout" in message and "gan_timeout" in message
    assert (err.spec_name, err.step, err.steps, err.limit) == ("hangs-at-two", 2, 50, LIMIT)
    assert err.interrupted and err.elapsed >= LIMIT * 0.9
    assert isinstance(err, GANTrainingError)
    # The user's frame where it hung is in the chained traceback.
    assert err.__cause__ is not None
    assert not isinstance(err.__cause__, Exception)


def test_the_alarm_handler_and_timer_are_restored() -> None:
    def mine(signum: int, frame: FrameType | None) -> None:
        raise AssertionError("my handler must not fire")

    previous = signal.signal(signal.SIGALRM, mine)
    try:
        with pytest.raises(GANTimeLimitError):
            train(tiny_spec(train_step=stuck_at(1, sleep_forever)), steps=5, time_limit=LIMIT)
        assert signal.getsignal(signal.SIGALRM) is mine
        assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
        train(tiny_spec(), steps=5, time_limit=60)
        assert signal.getsignal(signal.SIGALRM) is mine
        assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
        with pytest.raises(GANTrainingError, match="boom"):
            train(tiny_spec(train_step=stuck_at(1, boom)), steps=5, time_limit=60)
        assert signal.getsignal(signal.SIGALRM) is mine
        assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    finally:
        signal.signal(signal.SIGALRM, previous)


def boom() -> None:
    raise RuntimeError("boom")


def test_a_generous_limit_changes_nothing() -> None:
    spec = tiny_spec()
    plain = train(spec, steps=20, seed=3)
    limited = train(spec, steps=20, seed=3, time_limit=600)
    assert plain.history.columns.keys() == limited.history.columns.keys()
    for key, column in plain.history.columns.items():
        other = limited.history.columns[key]
        same = [
            a == b or (math.isnan(a) and math.isnan(b)) for a, b in zip(column, other, strict=True)
        ]
        assert all(same), key
    assert len(plain.history.probes) == len(limited.history.probes)
    assert plain.history.events == limited.history.events
    for name, tensor in plain.generator.state_dict().items():
        assert torch.equal(tensor, limited.generator.state_dict()[name])


@pytest.mark.parametrize("value", [True, "1", [1.0], object()])
def test_a_time_limit_that_is_not_a_number_is_a_type_error(value: Any) -> None:
    with pytest.raises(TypeError, match="time_limit"):
        train(tiny_spec(), steps=1, time_limit=value)


@pytest.mark.parametrize("value", [0, 0.0, -1, -0.5, math.nan, math.inf, -math.inf])
def test_a_time_limit_out_of_range_is_a_value_error(value: float) -> None:
    with pytest.raises(ValueError, match="time_limit"):
        train(tiny_spec(), steps=1, time_limit=value)


def test_a_timer_armed_already_is_left_alone() -> None:
    fired: list[int] = []

    def mine(signum: int, frame: FrameType | None) -> None:
        fired.append(signum)

    def slow(ctx: TrainContext, batch: Any) -> Any:
        time.sleep(0.3)
        return UserStep()(ctx, batch)

    previous = signal.signal(signal.SIGALRM, mine)
    signal.setitimer(signal.ITIMER_REAL, 100.0)
    try:
        started = time.perf_counter()
        with pytest.raises(GANTimeLimitError) as info:
            train(tiny_spec(train_step=slow, name="slow"), steps=50, time_limit=LIMIT)
        assert time.perf_counter() - started < PROMPT
        assert signal.getsignal(signal.SIGALRM) is mine
        remaining, interval = signal.getitimer(signal.ITIMER_REAL)
        assert 0 < remaining <= 100.0 and interval == 0.0
        assert not fired
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    err = info.value
    # Stopped at the first step boundary past the limit, never by interrupting the sleep:
    # about 4 steps of 0.3 s; fewer where building the run ate into the limit (2 on a
    # machine busy with two other trainings), never none.
    assert not err.interrupted
    assert 1 <= err.step < 50 and f"step {err.step} of 50" in str(err)
    assert "slow" in str(err) and "could not be interrupted" in str(err)


def test_another_thread_relies_on_the_check_after_each_step() -> None:
    def slow(ctx: TrainContext, batch: Any) -> Any:
        time.sleep(0.3)
        return UserStep()(ctx, batch)

    caught: list[BaseException] = []

    def run() -> None:
        try:
            train(tiny_spec(train_step=slow), steps=50, time_limit=LIMIT)
        except BaseException as exc:
            caught.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(PROMPT)
    assert not worker.is_alive()
    (err,) = caught
    assert isinstance(err, GANTimeLimitError) and not err.interrupted


def test_the_callers_torch_rng_is_restored_after_a_timeout() -> None:
    torch.manual_seed(1234)
    before = torch.get_rng_state().clone()
    with pytest.raises(GANTimeLimitError):
        train(tiny_spec(train_step=stuck_at(2, sleep_forever)), steps=10, time_limit=LIMIT)
    assert torch.equal(before, torch.get_rng_state())


def test_the_error_is_exported_and_pickles() -> None:
    assert pytest_gan.GANTimeLimitError is GANTimeLimitError
    assert "GANTimeLimitError" in pytest_gan.__all__
    err = GANTimeLimitError("spec", 3, 200, 1.5, 1.7, "running the steps", True)
    copy = pickle.loads(pickle.dumps(err))
    assert str(copy) == str(err) and "at step 3 of 200" in str(err)
    assert (copy.spec_name, copy.step, copy.limit) == ("spec", 3, 1.5)
