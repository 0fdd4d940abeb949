"""A watched loop's record: :class:`WatchedRun`, and the recorder that fills it while a
team's loop runs under ``pg.watch`` (steps ending at G's optimizer step, logged values,
probes, the loss read from the loop's first G update; ``pytest_gan.watching``).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from pytest_gan import _defaults
from pytest_gan.history import Saturation
from pytest_gan.instrument import Instrument, number
from pytest_gan.loss_trace import LossTrace, pop_mode
from pytest_gan.probing import (
    SATURATED_LOGIT,
    SHIFT_LEVELS,
    Prober,
    final_layer,
    fragile,
    read_loss,
    same_losses,
)
from pytest_gan.run import GANRun

#: Steps between probes at the start of a watched loop: ``train``'s interval for a run of
#: the default 200 steps (``_defaults.MAX_PROBES`` probes), so that a watched loop of that
#: length is probed as ``train`` probes it, at the same cost (with probes every 10 steps,
#: the watch cost 1.16x the unwatched loop against ``train``'s 1.08x; docs/benchmarks.md
#: "Watching a loop").
WATCH_FIRST_EVERY = math.ceil(_defaults.STEPS / _defaults.MAX_PROBES)


#: Probes kept (besides the one before the first step) before every other one is dropped.
WATCH_MAX_PROBES = 2 * _defaults.MAX_PROBES


def watched_step(ctx: Any, batch: Any) -> Mapping[str, Any]:
    raise RuntimeError(
        "this spec describes a watched loop (pytest_gan.watch): the training step is the "
        "team's own loop, which pytest-gan cannot call; train it with that loop under watch"
    )


@dataclass(eq=False, repr=False)
class WatchedRun(GANRun):
    """A :class:`GANRun` recorded from a team's own loop by :func:`watch`.

    ``run.log(**values)`` adds losses to the current step; ``run.complete`` is True once
    the ``with`` block has exited normally.
    """

    complete: bool = False
    #: Always True: the steps were the team's own (``train`` cannot repeat them).
    watched: bool = True
    _recorder: Recorder | None = field(default=None, repr=False)

    def log(self, **values: Any) -> None:
        """Record floats or 0-d tensors for the current step: ``d_loss`` and ``g_loss``
        are what the loss checks read; any other key is recorded too. Logged after G's
        optimizer step (and before any optimizer steps again), they belong to the step
        that step ended."""
        recorder = self._recorder
        if recorder is None:
            raise RuntimeError(
                f"{self.name}: run.log is for a run being watched; this watch has exited"
            )
        recorder.log(values)


def _as_logged(key: str, value: Any) -> float:
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(
                f"run.log: {key} must be a float or a 0-d tensor; got a tensor of shape "
                f"{list(value.shape)}"
            )
        return float(value.detach().float().item())
    converted = number(value)  # ints, floats, numpy scalars and one-value arrays
    if converted is not None:
        return converted
    raise TypeError(f"run.log: {key} must be a float or a 0-d tensor; got {type(value).__name__}")


class _ScalerPatch:
    """``GradScaler.step`` wrapped while any watch is open, once however many are: a step
    the scaler skips (an fp16 overflow) never calls the optimizer's own ``step``, so each
    open watch is told of the call instead (``Recorder.stepped_without_update``). The
    classes' own ``step`` is put back when the last watch closes."""

    def __init__(self) -> None:
        self.recorders: list[Recorder] = []
        self.originals: list[tuple[type, Any]] = []

    @staticmethod
    def _classes() -> list[type]:
        found: list[type] = []
        for path in ("amp", "cuda.amp"):
            owner: Any = torch
            for part in path.split("."):
                owner = getattr(owner, part, None)
            cls = getattr(owner, "GradScaler", None)
            # The classes that define step themselves (torch.cuda.amp's only on old torch).
            if isinstance(cls, type) and "step" in vars(cls) and cls not in found:
                found.append(cls)
        return found

    def register(self, recorder: Recorder) -> None:
        if not self.recorders:
            for cls in self._classes():
                original = vars(cls)["step"]
                self.originals.append((cls, original))
                setattr(cls, "step", self._wrap(original))  # noqa: B010
        self.recorders.append(recorder)

    def unregister(self, recorder: Recorder) -> None:
        if recorder in self.recorders:
            self.recorders.remove(recorder)
        if not self.recorders:
            for cls, original in reversed(self.originals):
                setattr(cls, "step", original)  # noqa: B010
            self.originals = []

    def _wrap(self, original: Any) -> Any:
        registry = self

        def step(scaler: Any, *args: Any, **kwargs: Any) -> Any:
            optimizer = kwargs.get("optimizer", args[0] if args else None)
            told = [(r, r.role_of(optimizer), dict(r.updates)) for r in registry.recorders]
            try:
                return original(scaler, *args, **kwargs)
            finally:
                for recorder, role, before in told:
                    if role is not None:
                        recorder.stepped_without_update(role, before)

        step.__wrapped__ = original  # type: ignore[attr-defined]
        return step


_SCALERS = _ScalerPatch()


class Recorder:
    """The hooks of one watch: step boundaries, logged values, probes, the loss reading."""

    def __init__(
        self,
        run: WatchedRun,
        instrument: Instrument,
        prober: Prober,
        opt_g: torch.optim.Optimizer,
        opt_d: torch.optim.Optimizer,
    ) -> None:
        self.run = run
        self.instrument = instrument
        self.prober = prober
        self.history = run.history
        self.same = opt_g is opt_d
        self.every = WATCH_FIRST_EVERY
        #: The row of the step G's optimizer just ended, open to ``log`` until an
        #: optimizer steps again; and what was logged for the step in progress.
        self.closed: dict[str, float] | None = None
        self.closed_step = -1
        self.logged: dict[str, float] = {}
        self.loss_ops: LossTrace | None = None
        self.batch_hook: Any = None
        self.batch_sizes: list[int] = []
        self.handles: list[Any] = []
        roles = [("d", opt_d)] if opt_g is opt_d else [("d", opt_d), ("g", opt_g)]
        for role, opt in roles:
            self.handles.append(opt.register_step_pre_hook(self._before_step(role)))
        for role, opt in roles:
            # After the instrument's own post-hooks, which measure the update.
            self.handles.append(opt.register_step_post_hook(self._after_step(role)))
        self.roles = {id(opt): role for role, opt in roles}
        self.updates = {"d": 0, "g": 0}
        #: Wrapper optimizers whose ``step`` this watch wrapped: (wrapper, the wrapping
        #: function, the instance attribute it replaced or None) to put back on removal.
        self.patched: list[tuple[Any, Any, Any]] = []

    # -- the loss reading of the first step --------------------------------------------

    def read_first_step(self, discriminator: nn.Module) -> None:
        self.discriminator = discriminator
        self.loss_ops = LossTrace(discriminator)
        self.batch_hook = discriminator.register_forward_pre_hook(self._batch_size)
        self.loss_ops.__enter__()  # type: ignore[no-untyped-call]

    def _shift_invariant(self, ops: LossTrace, layer: str) -> bool | None:
        """``probing.shift_invariant`` on the loop's losses computed again: None where a
        replay raises (the saturation figures stand as they are)."""
        levels = []
        try:
            for level in SHIFT_LEVELS:
                with no_autocast(self.run.device):
                    levels.append(ops.replay(self.discriminator, level, layer))
        except Exception:
            return None
        return same_losses(*levels)

    def _batch_size(self, module: nn.Module, inputs: Any) -> None:
        if self.loss_ops is not None and inputs and isinstance(inputs[0], torch.Tensor):
            if inputs[0].ndim:
                self.batch_sizes.append(int(inputs[0].shape[0]))

    def end_reading(self) -> None:
        """Stop tracing the loop's loss and record what it read (once both networks have
        stepped, or when the watch ends): the same records ``train``'s final probe keeps,
        the losses computed again with D saturated included."""
        ops = self.loss_ops
        if ops is None:
            return
        self.loss_ops = None
        pop_mode(ops)
        ops.remove()
        if self.batch_hook is not None:
            self.batch_hook.remove()
            self.batch_hook = None
        saturation: dict[str, Any] = {
            "watched": True,
            "d_ops": sorted(ops.ops),
            "d_loss_reads": read_loss(ops.ops, ops.reconstructs) if ops.outputs else None,
            "d_heads": sorted(h for h in ops.heads if h is not None),
        }
        if self.batch_sizes:
            self.run.spec.batch_size = max(2, max(self.batch_sizes))
        if ops.unreplayable is not None:
            saturation["replay_error"] = ops.unreplayable
        elif ops.losses:
            try:
                with no_autocast(self.run.device):
                    layer = final_layer(self.discriminator, self.prober.holdout)
                for direction, sign in (("real", 1.0), ("fake", -1.0)):
                    with no_autocast(self.run.device):
                        losses = ops.replay(self.discriminator, sign * SATURATED_LOGIT, layer)
                    at = losses.pop("d_output")
                    if direction == "real":
                        saturation["d_output_at_saturation"] = at
                    saturation[direction] = losses
                if fragile(saturation):
                    saturation["shift_invariant"] = self._shift_invariant(ops, layer)
            except Exception as exc:
                # A computation the trace could not repeat: no saturation verdict, rather
                # than one on a replay that differs from the loop.
                for direction in ("real", "fake"):
                    saturation.pop(direction, None)
                saturation["replay_error"] = f"{type(exc).__name__}: {exc}"
        self.history.saturation = Saturation(logit=SATURATED_LOGIT, **saturation)
        ops.program = []

    # -- step boundaries -------------------------------------------------------------

    def loss_key(self, role: str) -> str:
        """The name of the losses whose backward passes come before ``role``'s step."""
        if self.same:
            return "loss"
        return "d_loss" if role == "d" else "g_loss"

    def _before_step(self, role: str) -> Any:
        key = self.loss_key(role)

        def hook(optimizer: Any, args: Any, kwargs: Any) -> None:
            if self.loss_ops is not None:
                self.loss_ops.label(key)
            self.flush()

        return hook

    def _after_step(self, role: str) -> Any:
        ends_step = role == "g" or self.same

        def hook(optimizer: Any, args: Any, kwargs: Any) -> None:
            self.updates[role] += 1
            # Both networks have stepped (G's first in a loop that steps G first); or G
            # has stepped twice and D not at all: a loop that never steps D.
            both = self.same or min(self.updates.values()) > 0 or self.updates["g"] >= 2
            if self.loss_ops is not None and both:
                self.end_reading()
            if ends_step:
                self._end_step()

        return hook

    def _end_step(self) -> None:
        run = self.run
        step = run.steps
        self.closed = self.instrument.take_row(step, dict(self.logged))
        self.closed_step = step
        self.logged = {}
        run.steps = step + 1
        if run.steps % self.every == 0:
            self.probe()

    # -- step calls that apply no update ----------------------------------------------

    def watch_step_calls(self, wrappers: dict[str, Any]) -> None:
        """See every step the loop calls, also one that updates nothing: a wrapper
        optimizer's ``step`` (Accelerate's, while it accumulates gradients) and
        ``GradScaler.step`` (after an fp16 overflow) skip the inner optimizer's. Such a
        step still ends the backward passes before it: without it, G's backward before
        a skipped G step would read as D's at the next D step."""
        for role, wrapper in wrappers.items():
            if wrapper is not None:
                self._patch_wrapper(wrapper, role)
        _SCALERS.register(self)

    def role_of(self, optimizer: Any) -> str | None:
        """``"d"`` or ``"g"`` for one of the watched optimizers or a wrapper holding it."""
        for _ in range(16):
            role = self.roles.get(id(optimizer))
            inner = getattr(optimizer, "optimizer", None)
            if role is not None or inner is None or inner is optimizer:
                return role
            optimizer = inner
        return None

    def stepped_without_update(self, role: str, before: dict[str, int]) -> None:
        """After a step call of ``role``'s optimizer: if no update came of it, that step
        still ends the backward passes before it (their losses are ``role``'s)."""
        if self.handles and self.updates == before:
            if self.loss_ops is not None:
                self.loss_ops.label(self.loss_key(role))
            self.instrument.skipped_step(role)

    def _patch_wrapper(self, wrapper: Any, role: str) -> None:
        original = wrapper.step
        previous = vars(wrapper).get("step")
        recorder = self

        def step(*args: Any, **kwargs: Any) -> Any:
            before = dict(recorder.updates)
            try:
                return original(*args, **kwargs)
            finally:
                recorder.stepped_without_update(role, before)

        try:
            wrapper.step = step
        except (AttributeError, TypeError):
            return  # a wrapper that takes no attributes: its skipped steps go unseen
        self.patched.append((wrapper, step, previous))

    def _unpatch(self) -> None:
        _SCALERS.unregister(self)
        for wrapper, ours, previous in reversed(self.patched):
            if vars(wrapper).get("step") is not ours:
                continue  # patched again since by someone else: theirs stays
            if previous is None:
                del wrapper.step
            else:
                wrapper.step = previous
        self.patched = []

    def flush(self) -> None:
        """Append the row of the step that ended, with what was logged for it."""
        if self.closed is None:
            return
        row, self.closed = self.closed, None
        self.history.append(self.closed_step, row)

    def log_at(self, step: int, values: Mapping[str, Any]) -> None:
        """``values`` for the step numbered ``step`` (0 for the first G update), wherever
        its row is: still open, appended already, or (no G update since) the next one."""
        self.instrument.look_for_penalty(step, values.get("d_loss"))
        converted = {str(k): _as_logged(str(k), v) for k, v in values.items()}
        if self.closed is not None and self.closed_step == step:
            self.closed.update(converted)
        elif step < self.run.steps:
            self.history.amend(step, converted)
        else:
            self.logged.update(converted)

    def log(self, values: Mapping[str, Any]) -> None:
        self.instrument.look_for_penalty(self.run.steps, values.get("d_loss"))
        converted = {str(k): _as_logged(str(k), v) for k, v in values.items()}
        if self.closed is not None and not any(k in self.closed for k in converted):
            self.closed.update(converted)
        else:
            # Logged before G's step, or a key the ended step holds already: this step's.
            self.logged.update(converted)

    # -- probes ----------------------------------------------------------------------

    def probe(self) -> None:
        steps = self.run.steps
        if self.history.probe_at(steps) is not None:
            return
        with no_autocast(self.run.device):
            self.prober.probe(steps)
        kept = [p for p in self.history.probes if p.step > 0]
        if len(kept) > WATCH_MAX_PROBES:
            self.every *= 2
            # Evenly spaced again: the probes at multiples of the new interval (the final
            # probe taken at exit is never thinned: none is taken after it).
            self.history.probes = [
                p for p in self.history.probes if p.step == 0 or p.step % self.every == 0
            ]

    def close(self) -> None:
        """Take everything off: the trace if it is still on, every hook and patch."""
        ops, self.loss_ops = self.loss_ops, None
        try:
            if ops is not None:
                pop_mode(ops)
                ops.remove()
            if self.batch_hook is not None:
                self.batch_hook.remove()
                self.batch_hook = None
        finally:
            self._unpatch()
            for h in self.handles:
                h.remove()
            self.handles = []
            self.instrument.remove()


@contextlib.contextmanager
def no_autocast(device: torch.device) -> Iterator[None]:
    """Probes see float32 networks, whatever autocast the loop runs under."""
    with contextlib.ExitStack() as stack:
        for kind in {"cpu", device.type}:
            with contextlib.suppress(RuntimeError, ValueError):
                stack.enter_context(torch.autocast(device_type=kind, enabled=False))
        yield
