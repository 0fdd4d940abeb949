"""``pg.watch``: check the training loop a team already has, where it stands.

``with pg.watch(G, D, opt_g, opt_d, data=..., latent_dim=...) as run:`` attaches the same
instrumentation ``train`` uses (gradient hooks, optimizer step hooks, probes) to the
team's own networks and optimizers, and records a :class:`WatchedRun` while their loop
runs. Every check that takes a run takes it.

How a loop is read:

* A step ends when G's optimizer steps (a step post-hook on it), so an ``n_critic`` loop
  counts one step per G update. Values given to ``run.log`` after G's step, before any
  optimizer steps again, belong to the step that just ended; values logged earlier in an
  iteration belong to the step in progress.
* Hooks go on the innermost module and optimizer: ``DataParallel`` and
  ``DistributedDataParallel`` (``.module``), ``torch.compile``'s wrapper (``._orig_mod``),
  and wrapper optimizers holding ``.optimizer`` (Accelerate's, Lightning's). A wrapper
  that skips a step (Accelerate while it accumulates gradients, a ``GradScaler`` after an
  fp16 overflow) never calls the inner ``step``: no step is recorded for it, rather than a
  step without an update.
* Probes (``instrument.Prober``) run after G's update every ``every`` steps, starting at
  ``WATCH_FIRST_EVERY``; when more than ``WATCH_MAX_PROBES`` have been kept, every other
  one is dropped and ``every`` doubles. A loop of any length keeps between half that many
  and that many evenly spaced probes, without knowing its length in advance. One more
  probe is taken when the block exits, of the final networks.
* The loss is read from the loop's first G update: the functions applied to D's outputs
  (``instrument.LossOps``, a ``TorchFunctionMode`` active until that update ends), and
  the operation that made D's output (its head).
* Nothing the loop computes changes: hooks only read, probes run without gradients on
  the unwrapped networks with their buffers restored, outside any autocast, and every
  draw of pytest-gan's own comes from private generators, with the global RNG states
  put back around each, so the loop's own ``torch.randn`` draws are the ones it would
  make unwatched.

What ``train`` has and a watched loop has not: the training step as a function. So the
final saturation probe (the step re-run with D forced to saturate, where a loss typed
without an epsilon turns NaN) cannot run: ``assert_losses_finite`` judges the losses the
loop logged, and a watched run cannot be trained on (``run.extendable`` is False).
"""

from __future__ import annotations

import contextlib
import copy
import math
import numbers
import time
import weakref
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from pytest_gan import _defaults
from pytest_gan.data import DataSource, check_varies
from pytest_gan.instrument import (
    _UNTRACED,
    SATURATED_LOGIT,
    History,
    Instrument,
    LossOps,
    Prober,
    _last_parametrized,
    _tensors,
    preserved_state,
    read_loss,
)
from pytest_gan.rng import RNGState, local_generator
from pytest_gan.run import STREAM_PROBE, GANRun
from pytest_gan.spec import GANSpec, validate_networks
from pytest_gan.training import make_prober

#: Steps between probes at the start of a watched loop: ``train``'s interval for a run of
#: the default 200 steps (``_defaults.MAX_PROBES`` probes), so that a watched loop of that
#: length is probed as ``train`` probes it, at the same cost (with probes every 10 steps,
#: the watch cost 1.16x the unwatched loop against ``train``'s 1.08x; docs/benchmarks.md
#: "Watching a loop").
WATCH_FIRST_EVERY = math.ceil(_defaults.STEPS / _defaults.MAX_PROBES)

#: Probes kept (besides the one before the first step) before every other one is dropped.
WATCH_MAX_PROBES = 2 * _defaults.MAX_PROBES


def unwrap_module(module: Any, argument: str) -> nn.Module:
    """The module a wrapper trains: ``DataParallel``/``DistributedDataParallel``'s
    ``.module``, ``torch.compile``'s ``._orig_mod``, repeatedly; a ``TypeError`` naming
    ``argument`` for anything that is no module."""
    seen = 0
    while seen < 16:
        seen += 1
        if isinstance(module, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
            module = module.module
        elif isinstance(getattr(module, "_orig_mod", None), nn.Module):
            module = module._orig_mod
        else:
            break
    if not isinstance(module, nn.Module):
        raise TypeError(f"{argument} must be an nn.Module; got {type(module).__name__}")
    return module


def unwrap_optimizer(optimizer: Any, argument: str) -> torch.optim.Optimizer:
    """The optimizer a wrapper steps: ``.optimizer`` (Accelerate's ``AcceleratedOptimizer``,
    Lightning's ``LightningOptimizer``), repeatedly; a ``TypeError`` naming ``argument``
    for anything that is no optimizer (a learning-rate scheduler holds ``.optimizer`` too,
    but takes no ``zero_grad``: it is refused, naming the optimizer to pass instead)."""
    given = optimizer
    for _ in range(16):
        inner = getattr(optimizer, "optimizer", None)
        if inner is None or inner is optimizer:
            break
        if not callable(getattr(optimizer, "zero_grad", None)):
            raise TypeError(
                f"{argument} must be the optimizer the loop steps (or a wrapper of it); got "
                f"{type(given).__name__}, which holds one as .optimizer but is no optimizer "
                f"(a learning-rate scheduler?): pass {argument}=<that>.optimizer"
            )
        optimizer = inner
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(
            f"{argument} must be a torch.optim.Optimizer (or a wrapper holding one as "
            f".optimizer); got {type(optimizer).__name__}"
        )
    return optimizer


def _watched_step(ctx: Any, batch: Any) -> Mapping[str, Any]:
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
    _recorder: _Recorder | None = field(default=None, repr=False)

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
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)  # ints, floats, numpy scalars
    raise TypeError(f"run.log: {key} must be a float or a 0-d tensor; got {type(value).__name__}")


#: Calls a trace keeps at most (a loop whose networks take no step keeps no longer one).
MAX_TRACE = 10_000

#: Bytes of copied tensors (D's inputs, the loss's other inputs) a trace keeps at most: a
#: loop that warms its critic up for many updates before G's first step is not traced to
#: the end (its saturation replay is skipped, and says why).
MAX_TRACE_BYTES = 256 * 2**20


def _autocast_now() -> tuple[tuple[str, torch.dtype], ...]:
    """The autocast contexts active now, as ``(device type, dtype)`` pairs."""
    active = []
    for kind in ("cpu", "cuda"):
        try:
            if torch.is_autocast_enabled(kind):
                active.append((kind, torch.get_autocast_dtype(kind)))
        except (AttributeError, RuntimeError, TypeError):  # an older torch; no such device
            continue
    return tuple(active)


@contextlib.contextmanager
def _autocast_as(state: tuple[tuple[str, torch.dtype], ...]) -> Iterator[None]:
    """Autocast as it was where a traced call was made (none: none)."""
    with contextlib.ExitStack() as stack:
        for kind, dtype in state:
            stack.enter_context(torch.autocast(device_type=kind, dtype=dtype))
        yield


def _pop_mode(mode: Any) -> bool:
    """Take ``mode`` off torch's stack of function modes wherever it is (a mode the loop
    entered after it stays, above or below): True when it was there."""
    stack = torch._C
    above = []
    found = False
    while stack._len_torch_function_stack() > 0:
        top = stack._pop_torch_function_stack()
        if top is mode:
            found = True
            break
        above.append(top)
    for other in reversed(above):
        stack._push_on_torch_function_stack(other)
    return found


class _Ref:
    """In a :class:`LossTrace` program: the ``index``-th tensor a recorded call returned."""

    __slots__ = ("index", "node")

    def __init__(self, node: int, index: int) -> None:
        self.node, self.index = node, index


class LossTrace(LossOps):
    """:class:`instrument.LossOps` that also keeps what the loop computes from D's outputs
    as a small program, to run again with D saturated (:meth:`replay`).

    Each call of D is a node (its inputs kept); each torch function applied to D's outputs,
    or to what was computed from them, is a node whose tensor arguments are references to
    earlier nodes or, for tensors not computed from D (targets, a gradient penalty),
    copies of their values. ``backward()`` on such a tensor marks it a loss; the optimizer
    that steps next names it (``label``): ``d_loss`` or ``g_loss``.
    """

    def __init__(self, module: nn.Module) -> None:
        super().__init__(module)
        self._handle.remove()
        self._handle = module.register_forward_hook(self._trace_call, with_kwargs=True)
        self.program: list[tuple[Any, ...]] = []
        self.kept_bytes = 0
        # Weak: a tensor the loop has let go of is no longer kept alive (with its graph)
        # for the trace; its id can then be reused, and is no longer found here.
        self._derived = weakref.WeakValueDictionary()  # type: ignore[assignment]
        self._ref: dict[int, _Ref] = {}
        self.unreplayable: str | None = None
        self._unlabelled: list[int] = []
        self.losses: dict[str, list[int]] = {}

    def _trace_call(self, module: nn.Module, args: Any, kwargs: Any, out: Any) -> None:
        self._tag_output(module, args, out)
        if not isinstance(out, torch.Tensor) or self.unreplayable is not None:
            return
        if kwargs or not all(isinstance(a, torch.Tensor) for a in args):
            self.unreplayable = "D was called with keyword or non-tensor arguments"
            return
        node = len(self.program)
        self.program.append(("D", tuple(self._copy(a) for a in args), _autocast_now()))
        self._ref[id(out)] = _Ref(node, 0)
        self._bound()

    def _copy(self, t: torch.Tensor) -> torch.Tensor:
        self.kept_bytes += t.numel() * t.element_size()
        return t.detach().clone()

    def _bound(self) -> None:
        """Give up the trace (and the memory it holds) once it has grown past its bounds."""
        if len(self.program) > MAX_TRACE or self.kept_bytes > MAX_TRACE_BYTES:
            self.unreplayable = (
                f"the loop's first updates made more than {MAX_TRACE} calls or kept more "
                f"than {MAX_TRACE_BYTES // 2**20} MiB of inputs before both networks stepped"
            )
            self.program = []

    def _encode(self, value: Any) -> Any:
        if isinstance(value, torch.Tensor):
            ref = self._ref.get(id(value))
            if ref is not None and self._derived.get(id(value)) is value:
                return ref
            return self._copy(value)
        if isinstance(value, (list, tuple)):
            return type(value)(self._encode(v) for v in value)
        if isinstance(value, dict):
            return {k: self._encode(v) for k, v in value.items()}
        return value

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        if name == "backward" and args and isinstance(args[0], torch.Tensor):
            ref = self._ref.get(id(args[0]))
            if ref is not None and self._derived.get(id(args[0])) is args[0] and (
                self.unreplayable is None
            ):
                self._unlabelled.append(len(self.program))
                self.program.append(("loss", ref))
        encoded = None
        if name not in _UNTRACED and self.unreplayable is None:
            leaves = [*_tensors(args), *_tensors(kwargs.values())]
            if any(self._derived.get(id(t)) is t for t in leaves):
                encoded = (self._encode(args), self._encode(kwargs))
        result = super().__torch_function__(func, types, args, kwargs)
        if encoded is not None and self.unreplayable is None:
            node = len(self.program)
            self.program.append(("call", func, *encoded, _autocast_now()))
            for i, t in enumerate(_tensors((result,))):
                self._ref[id(t)] = _Ref(node, i)
            self._bound()
        return result

    def label(self, key: str) -> None:
        """The losses whose ``backward`` ran since the last optimizer step are ``key``."""
        for node in self._unlabelled:
            self.losses.setdefault(key, []).append(node)
        self._unlabelled = []

    def replay(self, discriminator: nn.Module, logit: float) -> dict[str, Any]:
        """Each labelled loss, computed again as the loop computed it, with D's last layer
        forced to ``logit``: ``{"d_loss": ..., "g_loss": ...}`` (the least finite value of
        each; NaN or infinite if any was), and ``"d_output"``, D's largest output."""
        d = copy.deepcopy(discriminator)

        def force(module: nn.Module, inputs: Any, out: Any) -> Any:
            if isinstance(out, torch.Tensor) and out.is_floating_point():
                return torch.full_like(out, logit)
            return out

        handle = _last_parametrized(d).register_forward_hook(force)
        values: list[list[torch.Tensor]] = []
        d_outputs: list[float] = []

        def decode(value: Any) -> Any:
            if isinstance(value, _Ref):
                return values[value.node][value.index]
            if isinstance(value, torch.Tensor):
                return value.clone()  # each replay its own: a call may change it in place
            if isinstance(value, (list, tuple)):
                return type(value)(decode(v) for v in value)
            if isinstance(value, dict):
                return {k: decode(v) for k, v in value.items()}
            return value

        try:
            with preserved_state(d):
                for entry in self.program:
                    if entry[0] == "D":
                        _, inputs, autocast = entry
                        with _autocast_as(autocast):
                            out = d(*decode(inputs))
                        d_outputs.append(float(out.float().max()))
                        values.append([out])
                    elif entry[0] == "loss":
                        values.append([decode(entry[1])])
                    else:
                        _, func, args, kwargs, autocast = entry
                        with _autocast_as(autocast):
                            result = func(*decode(args), **decode(kwargs))
                        values.append(list(_tensors((result,))))
        finally:
            handle.remove()
        out_losses: dict[str, Any] = {}
        for key, nodes in self.losses.items():
            figures = [float(values[n][0].detach().float().sum()) for n in nodes]
            broken = [v for v in figures if not math.isfinite(v)]
            out_losses[key] = broken[0] if broken else max(figures)
        out_losses["d_output"] = max(d_outputs) if d_outputs else math.nan
        return out_losses


class _ScalerPatch:
    """``GradScaler.step`` wrapped while any watch is open, once however many are: a step
    the scaler skips (an fp16 overflow) never calls the optimizer's own ``step``, so each
    open watch is told of the call instead (``_Recorder.stepped_without_update``). The
    classes' own ``step`` is put back when the last watch closes."""

    def __init__(self) -> None:
        self.recorders: list[_Recorder] = []
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

    def register(self, recorder: _Recorder) -> None:
        if not self.recorders:
            for cls in self._classes():
                original = vars(cls)["step"]
                self.originals.append((cls, original))
                setattr(cls, "step", self._wrap(original))  # noqa: B010
        self.recorders.append(recorder)

    def unregister(self, recorder: _Recorder) -> None:
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


class _Recorder:
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
        _pop_mode(ops)
        ops.remove()
        if self.batch_hook is not None:
            self.batch_hook.remove()
            self.batch_hook = None
        saturation = self.history.saturation
        saturation["watched"] = True
        saturation["logit"] = SATURATED_LOGIT
        saturation["d_ops"] = sorted(ops.ops)
        saturation["d_loss_reads"] = read_loss(ops.ops) if ops.outputs else None
        saturation["d_heads"] = sorted(h for h in ops.heads if h is not None)
        if self.batch_sizes:
            self.run.spec.batch_size = max(2, max(self.batch_sizes))
        if ops.unreplayable is not None:
            saturation["replay_error"] = ops.unreplayable
        elif ops.losses:
            try:
                for direction, sign in (("real", 1.0), ("fake", -1.0)):
                    with _no_autocast(self.run.device):
                        losses = ops.replay(self.discriminator, sign * SATURATED_LOGIT)
                    at = losses.pop("d_output")
                    if direction == "real":
                        saturation["d_output_at_saturation"] = at
                    saturation[direction] = losses
            except Exception as exc:
                # A computation the trace could not repeat: no saturation verdict, rather
                # than one on a replay that differs from the loop.
                for direction in ("real", "fake"):
                    saturation.pop(direction, None)
                saturation["replay_error"] = f"{type(exc).__name__}: {exc}"
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
        converted = {str(k): _as_logged(str(k), v) for k, v in values.items()}
        if self.closed is not None and self.closed_step == step:
            self.closed.update(converted)
        elif step < self.run.steps:
            self.history.amend(step, converted)
        else:
            self.logged.update(converted)

    def log(self, values: Mapping[str, Any]) -> None:
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
        with _no_autocast(self.run.device):
            self.prober.probe(steps)
        kept = [p for p in self.history.probes if p["step"] > 0]
        if len(kept) > WATCH_MAX_PROBES:
            self.every *= 2
            # Evenly spaced again: the probes at multiples of the new interval (the final
            # probe taken at exit is never thinned: none is taken after it).
            self.history.probes = [
                p for p in self.history.probes if p["step"] == 0 or p["step"] % self.every == 0
            ]

    def close(self) -> None:
        """Take everything off: the trace if it is still on, every hook and patch."""
        ops, self.loss_ops = self.loss_ops, None
        try:
            if ops is not None:
                _pop_mode(ops)
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
def _no_autocast(device: torch.device) -> Iterator[None]:
    """Probes see float32 networks, whatever autocast the loop runs under."""
    with contextlib.ExitStack() as stack:
        for kind in {"cpu", device.type}:
            with contextlib.suppress(RuntimeError, ValueError):
                stack.enter_context(torch.autocast(device_type=kind, enabled=False))
        yield


def _device_of(module: nn.Module) -> torch.device:
    for t in (*module.parameters(), *module.buffers()):
        return t.device
    return torch.device("cpu")


def _state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}


class _Fresh:
    """A zero-argument factory for a watched network as it was when the watch began (the
    spec's ``generator``/``discriminator``): a copy of the module with its initial state."""

    def __init__(self, module: nn.Module, state: dict[str, torch.Tensor]) -> None:
        self.module = module
        self.state = state
        self.__name__ = type(module).__name__

    def __call__(self) -> nn.Module:
        fresh = copy.deepcopy(self.module)
        fresh.load_state_dict(self.state)
        return fresh


def _saturated_output(discriminator: nn.Module, batch: tuple[torch.Tensor, Any]) -> float:
    """D's largest output on ``batch`` with its last layer forced to ``SATURATED_LOGIT``:
    the logit itself through a linear head, 1 through a Sigmoid (NaN if D cannot be
    copied)."""
    try:
        d = copy.deepcopy(discriminator)
    except Exception:
        return math.nan

    def saturate(module: nn.Module, inputs: Any, out: Any) -> Any:
        if isinstance(out, torch.Tensor) and out.is_floating_point():
            return torch.full_like(out, SATURATED_LOGIT)
        return out

    handle = _last_parametrized(d).register_forward_hook(saturate)
    try:
        with preserved_state(d), _no_autocast(batch[0].device):
            x, y = batch
            out = d(x) if y is None else d(x, y)
        return float(out.float().max())
    except Exception:
        return math.nan
    finally:
        handle.remove()


class Watch:
    """Record a :class:`WatchedRun` while a team's own training loop runs.

    ``with pg.watch(netG, netD, opt_g, opt_d, data=real, latent_dim=(100, 1, 1)) as run:``
    around the loop, unchanged; ``run.log(d_loss=..., g_loss=...)`` inside it. Once the
    block exits normally the run is complete and every check that takes a run takes it.

    ``generator``, ``discriminator``, ``opt_g`` and ``opt_d`` are the ones the loop uses,
    wrapped or not (``DataParallel``, ``DistributedDataParallel``, ``torch.compile``, a
    wrapper optimizer holding ``.optimizer``). ``data`` takes the forms of
    ``GANSpec.data``: real samples to compare G's with and to show D in the probes (the
    loop's own loader is never drawn from). ``latent_dim`` is the shape of one z and
    ``num_classes`` makes the GAN conditional, as in ``GANSpec``. ``loss`` names the
    built-in loss kind the loop uses (``"bce"``, ``"hinge"``, ``"wgan-gp"``, ``"lsgan"``);
    None reads it from what the loop's first step does with D's outputs. ``holdout``
    (optional, same forms as ``data``) is real data the loop never trains on: with it the
    probes show D unseen samples and ``assert_d_generalizes`` can judge memorisation.
    ``seed`` seeds pytest-gan's own draws (probe z, samples), never the loop's.

    ``start()`` and ``stop()`` are the ``with`` block's two halves, for code that cannot
    use one (``pytest_gan.lightning.GANWatch``, a DDP script watching on one rank).
    """

    def __init__(
        self,
        generator: Any,
        discriminator: Any,
        opt_g: Any,
        opt_d: Any,
        *,
        data: Any,
        latent_dim: int | tuple[int, ...],
        num_classes: int | None = None,
        loss: str | None = None,
        name: str | None = None,
        holdout: Any = None,
        seed: int = _defaults.SEED,
    ) -> None:
        self.generator = unwrap_module(generator, "generator")
        self.discriminator = unwrap_module(discriminator, "discriminator")
        self.opt_g = unwrap_optimizer(opt_g, "opt_g")
        self.opt_d = unwrap_optimizer(opt_d, "opt_d")
        self.wrappers = {
            "g": None if opt_g is self.opt_g else opt_g,
            "d": None if opt_d is self.opt_d else opt_d,
        }
        if loss is not None and not isinstance(loss, str):
            raise TypeError(
                f"loss must be None or one of {_defaults.LOSSES}; got {type(loss).__name__}"
            )
        if loss is not None and loss not in _defaults.LOSSES:
            raise ValueError(f"loss must be None or one of {_defaults.LOSSES}; got {loss!r}")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"seed must be an int; got {type(seed).__name__}")
        if seed < 0:
            raise ValueError(f"seed must be non-negative; got {seed}")
        if name is None:
            name = type(self.generator).__name__
        self.seed = seed
        caller_rng = RNGState.capture()
        try:
            # The networks are live: the spec's factories give copies as they are now.
            g_state, d_state = _state(self.generator), _state(self.discriminator)
            self.spec = GANSpec(
                generator=_Fresh(self.generator, g_state),
                discriminator=_Fresh(self.discriminator, d_state),
                data=data,
                latent_dim=latent_dim,
                loss=loss or "bce",
                train_step=_watched_step,
                num_classes=num_classes,
                name=name,
            )
            self.holdout_source = None
            if holdout is not None:
                self.holdout_source = DataSource(holdout, conditional=num_classes is not None)
                check_varies(self.holdout_source)
            self.device = _device_of(self.generator)
            with preserved_state(self.generator, self.discriminator):
                validate_networks(self.spec, self.generator, self.discriminator, self.device)
        finally:
            caller_rng.restore()
        self.initial_state = g_state
        self.run: WatchedRun | None = None
        self._recorder: _Recorder | None = None
        self._started = 0.0

    def start(self) -> WatchedRun:
        """Attach the hooks, take the first probe, and return the run being recorded."""
        if self.run is not None:
            raise RuntimeError("this watch has been started already: make a new pg.watch(...)")
        caller_rng = RNGState.capture()
        try:
            return self._start()
        finally:
            caller_rng.restore()

    def _start(self) -> WatchedRun:
        spec, device = self.spec, self.device
        source = spec.source
        probe_gen = local_generator(self.seed, STREAM_PROBE)
        if self.holdout_source is not None:
            # Real samples the loop never trains on: D's scores on them against its scores
            # on the data tell whether it memorises (``assert_d_generalizes``).
            holdout, _ = self.holdout_source.holdout_batch(None, _defaults.PROBE_BATCH, probe_gen)
            held_out = True
        else:
            holdout, _ = source.holdout_batch(None, _defaults.PROBE_BATCH, probe_gen)
            held_out = False
        train_batch, _ = source.holdout_batch(None, _defaults.PROBE_BATCH, probe_gen)
        history = History()
        prober = make_prober(
            spec,
            self.generator,
            self.discriminator,
            device,
            history,
            holdout=holdout,
            held_out=held_out,
            train_batch=train_batch,
            probe_gen=probe_gen,
            every=WATCH_FIRST_EVERY,
        )
        run = WatchedRun(
            spec=spec,
            generator=self.generator,
            discriminator=self.discriminator,
            opt_g=self.opt_g,
            opt_d=self.opt_d,
            history=history,
            device=device,
            seed=self.seed,
            steps=0,
            data_range=spec.data_range or source.infer_range(),
            elapsed=0.0,
            initial_generator_state=self.initial_state,
        )
        with _no_autocast(device):
            prober.probe(0)
        instrument = Instrument(self.generator, self.discriminator, self.opt_g, self.opt_d, history)
        try:
            recorder = _Recorder(run, instrument, prober, self.opt_g, self.opt_d)
        except BaseException:
            instrument.remove()
            raise
        try:
            recorder.watch_step_calls(self.wrappers)
            recorder.read_first_step(self.discriminator)
        except BaseException:
            recorder.close()
            raise
        run._recorder = recorder
        self.run, self._recorder = run, recorder
        self._started = time.perf_counter()
        return run

    def stop(self, failed: bool = False) -> WatchedRun:
        """Remove every hook, take the final probe, and complete the run (``failed``: the
        loop raised; the run keeps what was recorded and stays incomplete)."""
        run, recorder = self.run, self._recorder
        if run is None or recorder is None:
            raise RuntimeError("this watch was not started")
        self._recorder = None
        run._recorder = None
        caller_rng = RNGState.capture()
        try:
            try:
                recorder.end_reading()
                recorder.flush()
            finally:
                recorder.close()
            run.elapsed = time.perf_counter() - self._started
            run.first_steps = run.steps
            if not failed:
                if run.steps and run.history.probe_at(run.steps) is None:
                    with _no_autocast(self.device):
                        recorder.prober.probe(run.steps)
                if "d_output_at_saturation" not in run.history.saturation:
                    run.history.saturation["d_output_at_saturation"] = _saturated_output(
                        self.discriminator, recorder.prober.holdout
                    )
                run.complete = True
        finally:
            caller_rng.restore()
        return run

    def __enter__(self) -> WatchedRun:
        return self.start()

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.stop()
            return
        # The loop's exception goes on unchanged; ours, if any, must not replace it.
        with contextlib.suppress(Exception):
            self.stop(failed=True)


#: ``pg.watch(generator, discriminator, opt_g, opt_d, *, data, latent_dim,
#: num_classes=None, loss=None, name=None, holdout=None, seed=0)``: the context manager
#: of :class:`Watch`, whose docstring says what each argument means.
watch = Watch
