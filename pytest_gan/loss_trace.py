"""The trace of a watched loop's loss code: what the loop computes from D's outputs, kept
as a small program (:class:`LossTrace`) to run again with D forced to saturate, as
``train``'s final probe re-runs a step; and taking a function mode off torch's stack.
"""

from __future__ import annotations

import contextlib
import math
import weakref
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from pytest_gan.losses import copy_module, d_score, score_of
from pytest_gan.probing import (
    LossOps,
    _last_parametrized,
    _layer_named,
    _tensors,
    preserved_state,
    untraced,
)

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


def pop_mode(mode: Any) -> bool:
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
    """:class:`probing.LossOps` that also keeps what the loop computes from D's outputs
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
        # Tensors computed from D's outputs through a .detach() (Softmax GAN's and RaGAN's G
        # losses detach D's scores of the real batch): traced for the replay, so that a
        # replay forces them as it forces the rest, as train's probe does on its copies,
        # but not read as what the loss does with D's outputs (LossOps.ops).
        self._shadow: weakref.WeakValueDictionary[int, torch.Tensor] = weakref.WeakValueDictionary()
        self.unreplayable: str | None = None
        self._unlabelled: list[int] = []
        self.losses: dict[str, list[int]] = {}

    def _trace_call(self, module: nn.Module, args: Any, kwargs: Any, out: Any) -> None:
        self._tag_output(module, args, out)
        score = d_score(out)
        if score is None or self.unreplayable is not None:
            return
        if kwargs or not all(isinstance(a, torch.Tensor) for a in args):
            self.unreplayable = "D was called with keyword or non-tensor arguments"
            return
        node = len(self.program)
        self.program.append(("D", tuple(self._copy(a) for a in args), _autocast_now()))
        self._ref[id(score)] = _Ref(node, 0)
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

    def _traced(self, t: torch.Tensor) -> bool:
        return self._derived.get(id(t)) is t or self._shadow.get(id(t)) is t

    def _encode(self, value: Any) -> Any:
        if isinstance(value, torch.Tensor):
            ref = self._ref.get(id(value))
            if ref is not None and self._traced(value):
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
            if (
                ref is not None
                and self._derived.get(id(args[0])) is args[0]
                and (self.unreplayable is None)
            ):
                self._unlabelled.append(len(self.program))
                self.program.append(("loss", ref))
        encoded = None
        if (not untraced(func) or name == "detach") and self.unreplayable is None:
            leaves = [*_tensors(args), *_tensors(kwargs.values())]
            if any(self._traced(t) for t in leaves):
                encoded = (self._encode(args), self._encode(kwargs))
        result = super().__torch_function__(func, types, args, kwargs)
        if encoded is not None and self.unreplayable is None:
            node = len(self.program)
            self.program.append(("call", func, *encoded, _autocast_now()))
            for i, t in enumerate(_tensors((result,))):
                self._ref[id(t)] = _Ref(node, i)
                if self._derived.get(id(t)) is not t:
                    self._shadow[id(t)] = t
            self._bound()
        return result

    def label(self, key: str) -> None:
        """The losses whose ``backward`` ran since the last optimizer step are ``key``."""
        for node in self._unlabelled:
            self.losses.setdefault(key, []).append(node)
        self._unlabelled = []

    def replay(
        self, discriminator: nn.Module, logit: float, layer: str | None = None
    ) -> dict[str, Any]:
        """Each labelled loss, computed again as the loop computed it, with D's final layer
        (named ``layer``, ``probing.final_layer``; the last registered when None) forced
        to ``logit``: ``{"d_loss": ..., "g_loss": ...}`` (the least finite value of each;
        NaN or infinite if any was), and ``"d_output"``, D's largest output."""
        d = copy_module(discriminator)

        def force(module: nn.Module, inputs: Any, out: Any) -> Any:
            if isinstance(out, torch.Tensor) and out.is_floating_point():
                return torch.full_like(out, logit)
            return out

        forced = _last_parametrized(d) if layer is None else _layer_named(d, layer)
        handle = forced.register_forward_hook(force)
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
                            out = score_of(d(*decode(inputs)))
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
