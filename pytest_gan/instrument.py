"""Instrumentation of a training run: what the checks read, measured without interfering.

Nothing here changes what a training step computes. Gradient hooks only look at
``param.grad`` (never modify it), optimizer step hooks only read parameters and gradients,
and probes run without gradients on snapshotted buffers under a preserved RNG state.

What is recorded, per training step (:class:`History` rows):

* every loss the step returned;
* per network, the gradient norm seen by its optimizer and the size of the update it
  applied (``g_grad_norm``, ``g_update_norm``, ``g_update_ratio`` = update / weight norm;
  ``g_pace``, the median over its weight tensors of 2+ dimensions that had a gradient of
  each one's update / weight norm; the same with ``d_``), read on every
  ``_defaults.NORM_EVERY``-th step (the first step of a stretch, then steps whose number
  is a multiple of it; a network that takes no step then is read on the next step it
  takes) and NaN between;
  and how many optimizer steps each took (``g_updates``, ``d_updates``), on every step;
* ``d_step_g_grads``: generator parameter tensors that received gradient between the
  previous optimizer step and the discriminator's step while D was trainable, i.e. during
  D's loss's backward: the signature of a missing ``.detach()`` (a pass run with D frozen
  is G's own loss, run before D's step by a loop that accumulates gradients over several
  passes);
* ``d_step_g_grads_over_passes`` (an event only): steps whose D step found G's gradients
  written with D trainable by more than one backward pass (passes accumulated before the
  step, none with D frozen): such a pass may be G's own loss with D left trainable rather
  than D's loss through undetached fakes;
* ``d_leak_in_g_step``: of those, the tensors whose leaked gradient was still there, never
  reset, when G's optimizer stepped: the missing ``.detach()`` changed G's update (harmful)
  rather than only costing a backward pass through G (wasteful);
* ``g_stale_grads`` / ``d_stale_grads``: parameter tensors whose gradient was not reset
  since that optimizer's previous step, so old gradients were accumulated into the new
  update: the signature of a missing ``zero_grad()``;
* ``d_carried_grads`` (an event only): steps whose D step applied gradient that a backward
  pass wrote into D, with D trainable, before G's step, to which a backward pass after
  G's step added, with no reset between: D's own loss meant a fresh gradient, and G's
  loss's gradient through D trained D too. The signature of a ``zero_grad()`` missing
  between G's step and D's backward where something else reset D's gradients after D's
  previous step (an InfoGAN's third optimizer over both networks), or of one
  ``zero_grad()`` for both networks at the top of a loop that steps G first. (One pass
  for a loss meant to train both, stepped G then D with nothing added between, is not.)

And, as an event, ``d_loss_penalty``: a ``d_loss`` the step returned (or a watched loop
logged) as a tensor whose autograd graph holds a gradient taken with
``create_graph=True`` (a node of a backward pass's own backward, named
``...BackwardBackward...``): a gradient penalty folded into D's loss (WGAN-GP's, R1's)
that works, exact and read without a hook. The first ``PENALTY_LOOKS`` such tensors of a
stretch are searched, until one holds it. Where no ``d_loss`` graph shows it (one handed
back as ``d_loss.item()``, or a loop that logs only its Wasserstein estimate), the event
``d_penalty_gradient`` stands in for it: a gradient taken with ``create_graph=True`` during
the stretch, whose graph reaches D's parameters and through which a backward pass then ran
(the autograd engine's entry point, through which ``torch.autograd.grad`` computes every
gradient under whatever name it is called, is wrapped while a stretch looks for one, see
:func:`_tapped`).

Once per run, :func:`wiring` records which parameters each optimizer covers and which
trainable parameters no optimizer covers (:attr:`History.wiring`). The periodic probes and
the final saturation probe are in :mod:`pytest_gan.probing`; the records in
:mod:`pytest_gan.history`.
"""

from __future__ import annotations

import functools
import math
import numbers
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from pytest_gan import _defaults
from pytest_gan.history import COUNT_COLUMNS, Coverage, History, Wiring


def number(value: Any) -> float | None:
    """``value`` as a float when it is one number: a Python or numpy int or float (not a
    bool), or a numpy array holding one value (``loss.detach().cpu().numpy()``); None for
    anything else. Tensors are the callers' business (their messages differ)."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, np.ndarray) and value.size == 1 and value.dtype.kind in "iuf":
        return float(value.reshape(()).item())
    return None


#: The event of a ``d_loss`` whose graph holds a gradient penalty (:func:`holds_penalty`).
PENALTY_IN_D_LOSS = "d_loss_penalty"

#: The event of a stretch whose step took, with ``create_graph=True``, a gradient whose
#: graph reaches D's parameters and through which a backward pass then ran, where no
#: ``d_loss`` graph showed it (:func:`_tapped`): a gradient penalty on D, whatever
#: loss it was folded into.
PENALTY_GRADIENT = "d_penalty_gradient"

#: How many ``d_loss`` tensors with a graph, and how many gradients taken with
#: ``create_graph=True``, a stretch searches for a folded gradient penalty before it stops
#: looking: a penalty on every D step shows in the first, a lazy one (StyleGAN2's R1 every
#: 16 D steps) within 16. Each search walks the loss's graph
#: once, 0.1-0.3 ms for a small critic's.
PENALTY_LOOKS = 16

#: Nodes of a loss's graph searched at most: a graph larger than this is not searched to
#: its end (a penalty found in the part searched still counts). The critics' losses
#: measured with their penalties held 33-63 nodes (an MLP, a small conv critic, a Tanh
#: MLP; 0.1-0.3 ms each): the bound only caps a pathological graph's walk.
_PENALTY_NODES = 50_000


def _tensors(value: Any) -> list[torch.Tensor]:
    """The tensors of ``value``: one, or the values of a sequence or a dict (what
    ``torch.autograd.grad`` returns for a sequence or a dict of inputs)."""
    if isinstance(value, Mapping):
        items = list(value.values())
    elif isinstance(value, (tuple, list)):
        items = list(value)
    else:
        items = [value]
    return [t for t in items if isinstance(t, torch.Tensor)]


def _graph_nodes(tensors: Any) -> Iterator[Any]:
    """The nodes of the autograd graph of ``tensors`` (:func:`_tensors`; entries that are
    not tensors skipped), each once, depth first, at most ``_PENALTY_NODES`` of them."""
    stack = [t.grad_fn for t in _tensors(tensors)]
    seen: set[int] = set()
    while stack and len(seen) < _PENALTY_NODES:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        yield node
        stack.extend(nxt for nxt, _ in node.next_functions)


def holds_penalty(loss: torch.Tensor) -> bool:
    """Whether ``loss``'s autograd graph holds a gradient taken with ``create_graph=True``:
    a node that differentiates a backward pass (``LeakyReluBackwardBackward0``,
    ``ConvolutionBackwardBackward0``, ...), which only a loss built on an input gradient,
    a gradient penalty, has. A penalty computed without ``create_graph=True`` is a
    constant to autograd, leaves no such node, and does not count: it never reaches D.
    The graph is read after the backward pass as well (its nodes outlive their saved
    tensors)."""
    return any("BackwardBackward" in type(node).__name__ for node in _graph_nodes(loss))


def reaches(tensors: Any, targets: set[int]) -> bool:
    """Whether the autograd graph of ``tensors`` (:func:`_tensors`) accumulates into a
    tensor whose ``id`` is in ``targets``: it was computed from them, and a backward pass
    through it writes their gradients."""
    return any(
        id(variable) in targets
        for node in _graph_nodes(tensors)
        if (variable := getattr(node, "variable", None)) is not None
    )


# Where the tap goes. torch.autograd.grad hands each gradient to the autograd engine's
# entry point, which it looks up in its own module's globals on every call: tapped there, a
# gradient is seen whatever name the user's code calls grad by (``from torch.autograd
# import grad as torch_grad`` binds torch's own function, and a wrapper put over
# torch.autograd.grad still calls it). A torch without that entry point is tapped at
# torch.autograd.grad itself, where only calls made by that name are seen. (torch.autograd's
# own namespace is where torch's grad looks the name up, whatever wraps grad by now.)
_ENGINE = "_engine_run_backward"
_TAP_NAME = _ENGINE if callable(vars(torch.autograd).get(_ENGINE)) else "grad"
_TORCH_TAPPED: Any = getattr(torch.autograd, _TAP_NAME)
# Tests of whether a tensor is one of vmap's batched tensors (the legacy vmap's, which
# grad(..., is_grads_batched=True) calls the engine's entry point inside, and functorch's);
# those this torch lacks are left out.
_BATCHED_TESTS: list[Any] = [
    test
    for name in ("is_legacy_batchedtensor", "is_batchedtensor")
    if (test := getattr(getattr(torch._C, "_functorch", None), name, None)) is not None
]

# The instruments looking for a gradient penalty by its gradient (_tap); the function that
# was in the tapped place when ours last replaced it (torch's own, or a wrapper, which ours
# then calls); and whether ours was left inside a wrapper put over it.
_tapping: list[Instrument] = []
_untapped: Any = _TORCH_TAPPED
_buried = False
_inside = threading.local()


def _creates_graph(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    """Whether a call of the tapped function (its arguments after ``outputs``) returns
    gradients taken with ``create_graph=True``: the engine's ``(grad_outputs,
    retain_graph, create_graph, inputs, allow_unreachable)`` with ``accumulate_grad=False``
    (a ``backward()``'s accumulate into ``.grad`` and return nothing), or
    ``torch.autograd.grad``'s ``(inputs, grad_outputs, retain_graph, create_graph)``."""
    if _TAP_NAME == _ENGINE:
        if kwargs.get("accumulate_grad", True):
            return False
        return bool(kwargs.get("create_graph", args[2] if len(args) > 2 else False))
    return bool(kwargs.get("create_graph", args[3] if len(args) > 3 else False))


def _tapped(outputs: Any, *args: Any, **kwargs: Any) -> Any:
    """The tapped function (the engine's entry point, or ``torch.autograd.grad``),
    unchanged, which also shows each instrument looking for a gradient penalty the
    gradients it returns when they were taken with ``create_graph=True``. It is in place
    only while an instrument looks (:meth:`Instrument.look_at_gradient`). Called again
    from inside itself (a wrapper put over it that it then calls), it calls torch's own."""
    if getattr(_inside, "active", False):
        return _TORCH_TAPPED(outputs, *args, **kwargs)
    _inside.active = True
    try:
        result = _untapped(outputs, *args, **kwargs)
    finally:
        _inside.active = False
    if _creates_graph(args, kwargs) and not _batched(result):
        for instrument in tuple(_tapping):
            instrument.look_at_gradient(result)
    return result


def _batched(result: Any) -> bool:
    """Whether ``result`` holds vmap's batched tensors: the engine's entry point called
    inside ``torch.autograd.grad(..., is_grads_batched=True)``, whose gradients a hook
    could not follow out of vmap. Not looked at (and no look used up): such a penalty is
    not seen."""
    return any(test(t) for test in _BATCHED_TESTS for t in _tensors(result))


functools.update_wrapper(_tapped, _TORCH_TAPPED)


def _tap(instrument: Instrument) -> None:
    global _untapped, _buried
    current = getattr(torch.autograd, _TAP_NAME)
    # Ours is in place, or still inside the wrapper put over it when it was last to go.
    in_chain = current is _tapped or (
        _buried and current is not _untapped and current is not _TORCH_TAPPED
    )
    if not in_chain:
        _untapped, _buried = current, False
        setattr(torch.autograd, _TAP_NAME, _tapped)
    _tapping.append(instrument)


def _untap(instrument: Instrument) -> None:
    global _buried
    if instrument not in _tapping:
        return
    _tapping.remove(instrument)
    if _tapping:
        return
    if getattr(torch.autograd, _TAP_NAME) is _tapped:
        setattr(torch.autograd, _TAP_NAME, _untapped)
    else:
        # A wrapper put over ours since stays, and calls ours, which then only passes
        # through; the next look finds ours there rather than wrapping the wrapper.
        _buried = True


def as_float(value: Any, key: str) -> float:
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise TypeError(
                f"train_step must return scalar losses; {key!r} has shape {list(value.shape)}"
            )
        return float(value.detach().item())
    converted = number(value)
    if converted is not None:
        return converted
    raise TypeError(
        f"train_step must return a mapping of str to float or scalar Tensor; {key!r} is "
        f"{type(value).__name__}"
    )


def _has_updated(history: History, role: str) -> bool:
    """Whether a row of ``history`` records an update of the network ``role``."""
    column = f"{role}_updates"
    return column in history and any(v > 0 for v in history[column] if math.isfinite(v))


def _named(module: nn.Module) -> list[tuple[str, nn.Parameter]]:
    return [(n, p) for n, p in module.named_parameters()]


class _OptimizerWatch:
    """Hooks on one optimizer: gradient norms, update sizes, stale gradients."""

    def __init__(self, owner: Instrument, role: str, optimizer: torch.optim.Optimizer) -> None:
        self.owner = owner
        self.role = role
        self.optimizer = optimizer
        self.params: list[torch.Tensor] = [
            p for group in optimizer.param_groups for p in group["params"]
        ]
        # Views that follow the optimizer's in-place updates, made once.
        self.detached = [p.detach() for p in self.params]
        self.indices = [owner.index_of.get(id(p)) for p in self.params]
        # The weight tensors (2+ dimensions: no biases or norm layers' scales), whose
        # relative updates give the network's pace.
        self.matrix_indices = [i for i, p in enumerate(self.params) if p.dim() >= 2]
        self.matrices = torch.tensor(self.matrix_indices)
        self.before: list[torch.Tensor] = []
        self.weight_norm = torch.zeros(())
        self.weight_norms = torch.zeros(0)
        self.grad_after = False
        self.handles = [
            optimizer.register_step_pre_hook(self._pre),
            optimizer.register_step_post_hook(self._post),
        ]

    def _pre(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        owner = self.owner
        if owner.reading_norms[self.role]:
            # A step given a closure computes its gradient inside the step: what .grad
            # holds now is not it, so its norm is read after the step (_post).
            self.grad_after = kwargs.get("closure", args[0] if args else None) is not None
            grads = [p.grad for p in self.params if p.grad is not None and not self.grad_after]
            # Gradient and weight norms in one call (small foreach calls cost tens of
            # microseconds each on CPU): per-tensor norms, then one norm per group.
            norms = torch.stack(torch._foreach_norm([*grads, *self.detached]))
            if grads:
                owner.pending[f"{self.role}_grad_norm"] = torch.linalg.vector_norm(
                    norms[: len(grads)]
                )
            self.weight_norms = norms[len(grads) :]
            self.weight_norm = torch.linalg.vector_norm(self.weight_norms)
            # A copy of the weights; _post turns it into the update in place.
            self.before = [p.clone() for p in self.detached]
        stale = sum(
            1
            for p, i in zip(self.params, self.indices, strict=True)
            if p.grad is not None and i is not None and not owner.reset[i]
        )
        owner.counts[f"{self.role}_stale_grads"] += stale
        if self.role == "d":
            owner.account_d_step()
            if owner.any_carried_into and any(
                owner.carried_into[i] and owner.unreset(i) for i in self.indices if i is not None
            ):
                owner.d_carried = True
        elif self.role == "g":
            owner.counts["d_leak_in_g_step"] += owner.harmful_leaks()
            owner.carry_d_writes()

    def _post(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        owner = self.owner
        if self.grad_after:
            self.grad_after = False
            grads = [p.grad for p in self.params if p.grad is not None]
            if grads:
                owner.pending[f"{self.role}_grad_norm"] = torch.linalg.vector_norm(
                    torch.stack(torch._foreach_norm(grads))
                )
        if self.before:
            # One reading per network and step, of its first update: a later update in the
            # same step is another kind of step (the lazy R1 update that StyleGAN's loops
            # take every 16 steps after D's main one moves D a fiftieth as far or less, and
            # read last it made a healthy D's pace that of its penalty), or, with several
            # critic steps, one more of the same kind. An update that had no gradient at
            # all (a step() called before any backward) leaves the reading to the next.
            if any(p.grad is not None for p in self.params):
                owner.reading_norms[self.role] = False
            torch._foreach_sub_(self.before, self.detached)
            updates = torch.stack(torch._foreach_norm(self.before))
            update = torch.linalg.vector_norm(updates)
            self.before = []
            owner.pending[f"{self.role}_update_norm"] = update
            owner.pending[f"{self.role}_update_ratio"] = update / self.weight_norm.clamp_min(1e-12)
            # The median weight tensor's relative update: a network's pace, whatever share
            # of its weight norm its norm layers or embeddings hold. Only over the tensors
            # this step updated: a head that the loss did not reach has no gradient, and
            # the optimizer skips it (an InfoGAN's Q heads, trained by a third optimizer for
            # the info loss, read as still, put its D's pace at a quarter of its own).
            m = self.stepped_matrices()
            if len(m):
                owner.pending[f"{self.role}_pace"] = (
                    updates[m] / self.weight_norms[m].clamp_min(1e-12)
                ).median()
        owner.counts[f"{self.role}_updates"] += 1
        for p, i in zip(self.params, self.indices, strict=True):
            if i is not None:
                owner.reset[i] = False
                owner.carried[i] = False
                owner.carried_into[i] = False
                owner.remember(i, p)
        if self.role == "d":
            owner.any_carried_into = False
        owner.clear_written()
        if self.role == "g" or owner.same_optimizer:
            owner.leaked = [False] * len(owner.leaked)

    def stepped_matrices(self) -> torch.Tensor:
        """The indices of the weight tensors (``matrices``) that had a gradient at this
        step; all of them where none had one (a step with no gradient at all)."""
        stepped = [i for i in self.matrix_indices if self.params[i].grad is not None]
        if 0 < len(stepped) < len(self.matrix_indices):
            return torch.tensor(stepped)
        return self.matrices

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


class Instrument:
    """Attaches the hooks of one run and turns what they see into :class:`History` rows."""

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        opt_g: torch.optim.Optimizer,
        opt_d: torch.optim.Optimizer,
        history: History,
    ) -> None:
        self.history = history
        named = [("generator", n, p) for n, p in _named(generator)]
        named += [("discriminator", n, p) for n, p in _named(discriminator)]
        self.params = [p for _, _, p in named]
        self.index_of = {id(p): i for i, p in enumerate(self.params)}
        self.g_indices = [i for i, (net, _, _) in enumerate(named) if net == "generator"]
        self.reset = [True] * len(self.params)
        self.written = [False] * len(self.params)
        # Since the last optimizer step: G parameters written again with D trainable (a
        # parameter's hook runs once per backward pass, so a second write is a second pass:
        # passes accumulate before a step); and whether a G parameter was written with
        # every D parameter frozen (the loop freezes D for G's backward, so that a pass with
        # D trainable is D's loss's).
        self.rewritten = [False] * len(self.params)
        self.frozen_write = False
        # Whether a D step since the last row found G's gradients written over several
        # passes while D was trainable (``d_step_g_grads_over_passes``).
        self.leak_over_passes = False
        # G parameters written since the last optimizer step while D was trainable (some
        # of its parameters requiring grad): only such a backward pass can be D's loss's.
        self.open_write = [False] * len(self.params)
        self.is_g = [net == "generator" for net, _, _ in named]
        # Read when G is written: a D frozen now may be trained later, and the reverse.
        self.d_params = [p for (net, _, p) in named if net == "discriminator"]
        # G parameters holding gradient that D's step wrote, not reset since.
        self.leaked = [False] * len(self.params)
        # D parameters written, with D trainable, before G's step and not reset since; and
        # whether a D step since the last row applied such a gradient (d_carried_grads).
        self.d_indices = [i for i, (net, _, _) in enumerate(named) if net != "generator"]
        self.carried = [False] * len(self.params)
        # ... and, of those, the ones a backward pass after G's step added to.
        self.carried_into = [False] * len(self.params)
        # Whether any entry of carried_into is set: a healthy loop never sets one, and its
        # D steps then skip the look over D's parameters.
        self.any_carried_into = False
        self.d_carried = False
        self.same_optimizer = opt_g is opt_d
        self.seen: list[tuple[int, int] | None] = [None] * len(self.params)
        self.pending: dict[str, torch.Tensor] = {}
        # Whether each optimizer's hooks read its norms in the step under way: the first
        # step of the stretch, then every NORM_EVERY-th; a network not stepped in a step
        # that should have read it is read in the next step it is (take_row sets these).
        # Only a network's first update in a step is read (_OptimizerWatch._post).
        self.reading_norms = {"g": True, "d": True}
        self.counts: dict[str, int] = {}
        self._clear_counts()
        # Steps that ended before a network's first update: (how many, the first), noted as
        # ``no_<role>_update`` only if it never updates. A loop that steps G first ends its
        # first step before D's first update; that is its order, not a missed update.
        # Whether it has updated is read from the history too: a run extended by another
        # stretch (a new Instrument) goes on where the first left off.
        self.before_first: dict[str, tuple[int, int] | None] = {"g": None, "d": None}
        self.updated = {role: _has_updated(history, role) for role in ("g", "d")}
        self.handles: list[Any] = []
        for i, p in enumerate(self.params):
            if p.requires_grad:
                self.handles.append(p.register_hook(self._pre_accumulate(i)))
        # d_loss tensors, and gradients taken with create_graph=True, left to search for a
        # folded penalty (none once the run shows one); whether a backward pass ran
        # through such a gradient reaching D, and the step at which it first did.
        shown = PENALTY_IN_D_LOSS in history.events or PENALTY_GRADIENT in history.events
        self.penalty_looks = 0 if shown else PENALTY_LOOKS
        self.gradient_looks = self.penalty_looks
        self.penalty_gradient = False
        self.penalty_gradient_step: int | None = None
        self.d_ids = {id(p) for p in self.d_params}
        self.watches = [_OptimizerWatch(self, "d", opt_d)]
        if opt_g is not opt_d:
            self.watches.append(_OptimizerWatch(self, "g", opt_g))
        history.wiring = wiring(named, opt_g, opt_d)
        if self.penalty_looks:
            _tap(self)

    def _clear_counts(self) -> None:
        self.counts = dict.fromkeys(COUNT_COLUMNS, 0)

    def clear_written(self) -> None:
        """An optimizer step was taken: what backward passes write from here is the next
        step's."""
        self.written = [False] * len(self.written)
        self.rewritten = [False] * len(self.rewritten)
        self.frozen_write = False
        self.open_write = [False] * len(self.open_write)

    def account_d_step(self) -> None:
        """D's step: G parameters written since the last step while D was trainable got D's
        backward's gradient (a missing ``.detach()``). A backward pass run with every D
        parameter frozen (``requires_grad_(False)``) is G's own loss: a loop that
        accumulates gradients over several passes, stepping its optimizers every few of
        them, runs G's backward before D's next step, with D frozen for it as
        StyleGAN2-ADA's phases do."""
        leaked = [i for i in self.g_indices if self.written[i] and self.open_write[i]]
        self.counts["d_step_g_grads"] += len(leaked)
        if not self.frozen_write and any(self.rewritten[i] for i in leaked):
            # Passes accumulated before D's step, each writing G with D trainable, none with
            # D frozen: such a pass may as well be G's own loss as D's through undetached
            # fakes (the message says so).
            self.leak_over_passes = True
        if self.same_optimizer:
            # One optimizer for both networks: this very step applies the leak to G.
            self.counts["d_leak_in_g_step"] += len(leaked)
        for i in leaked:
            # From here, G's parameter holds D's gradient until it is reset; whether G's
            # step applies it is told at that step (Instrument.harmful_leaks).
            self.leaked[i] = True
            self.remember(i, self.params[i])

    def carry_d_writes(self) -> None:
        """G's step: D parameters written since the last step while D was trainable, in
        passes that wrote G with D trainable too (not G's own backward with D frozen), hold
        G's loss's gradient through D, or a loss's meant for both networks. D's own
        backward adding to it before D's step, with no reset between, trains D on it."""
        if self.frozen_write:
            return
        for i in self.d_indices:
            if self.written[i]:
                self.carried[i] = True
                # The gradient as it is now: one that this window's first pass created
                # (after a zero_grad() to None) is otherwise unseen, and D's own backward
                # adding to it later would read as a reset.
                self.remember(i, self.params[i])

    def skipped_step(self, role: str) -> None:
        """An optimizer step the loop called that applied no update (a wrapper that
        accumulates gradients, a ``GradScaler`` after an overflow): what the backward
        passes before it wrote is that step's, as for a step taken, but nothing changed."""
        if role == "d":
            self.account_d_step()
        self.clear_written()

    def harmful_leaks(self) -> int:
        """G parameter tensors whose gradient, at G's optimizer step, still holds what the
        D step's backward wrote into it: G is updated with D's gradient. A reset since
        (``zero_grad``: the gradient set to None, or zeroed in place, which bumps its
        version) makes the leak wasted work only."""
        count = 0
        for i in self.g_indices:
            if not self.leaked[i]:
                continue
            if self.unreset(i):
                count += 1
            else:
                self.leaked[i] = False
        return count

    def unreset(self, i: int) -> bool:
        """Whether parameter ``i``'s gradient is still what the last backward pass to write
        into it left: the same tensor, unchanged since; or changed in place but not zeroed
        (a GradScaler unscales gradients in place before the step, a version step, which
        resets nothing)."""
        g = self.params[i].grad
        return (
            g is not None
            and id(g) == self.seen_id(i)
            and (self.seen[i] == (id(g), g._version) or bool(g.any()))
        )

    def seen_id(self, i: int) -> int | None:
        seen = self.seen[i]
        return None if seen is None else seen[0]

    def remember(self, i: int, p: torch.Tensor) -> None:
        g = p.grad
        self.seen[i] = None if g is None else (id(g), g._version)

    def _pre_accumulate(self, i: int) -> Any:
        param = self.params[i]
        is_g = self.is_g[i]

        def hook(grad: torch.Tensor) -> None:
            # Runs as a gradient arrives, before autograd accumulates it into param.grad.
            # (A post-accumulate hook would see the result directly, but measured 5% of a
            # DCGAN step on CPU against 1% for this one.)
            self.written[i] = True
            if is_g and any(p.requires_grad for p in self.d_params):
                # Written while D is trainable: possibly by D's loss's backward; a second
                # time since the last step: by a second pass.
                self.rewritten[i] = self.open_write[i]
                self.open_write[i] = True
            elif is_g:
                # A pass with D frozen: the loop freezes D for G's own backward.
                self.frozen_write = True
            g = param.grad
            # None, another tensor, or the same tensor modified in place since we last saw
            # it (zero_ bumps the version counter): the gradient was reset. After an
            # unseen creation (seen is None) nothing can be told: assume a reset, so that
            # a missing zero_grad is never reported where there may have been none.
            if g is None or self.seen[i] != (id(g), g._version):
                self.reset[i] = True
                self.leaked[i] = False
                self.carried[i] = False
                self.carried_into[i] = False
            elif self.carried[i]:
                # Added to what a pass before G's step wrote, with no reset between.
                self.carried_into[i] = True
                self.any_carried_into = True
            # Accumulating into an existing gradient adds in place (one version step);
            # into None it creates a tensor that the next optimizer step will record.
            self.seen[i] = None if g is None else (id(g), g._version + 1)

        return hook

    def look_for_penalty(self, step: int, d_loss: Any) -> None:
        """Note ``PENALTY_IN_D_LOSS`` at ``step`` when ``d_loss`` (a step's returned or a
        watched loop's logged value) is a tensor whose graph holds a gradient penalty; at
        most ``PENALTY_LOOKS`` graphs are searched."""
        if self.penalty_looks <= 0 or not isinstance(d_loss, torch.Tensor):
            return
        if d_loss.grad_fn is None:
            return
        self.penalty_looks -= 1
        if holds_penalty(d_loss):
            self.history.note(PENALTY_IN_D_LOSS, step)
            self.penalty_looks = self.gradient_looks = 0
            _untap(self)

    def look_at_gradient(self, gradients: Any) -> None:
        """A gradient the step took with ``create_graph=True`` (:func:`_tapped`):
        where its graph reaches D's parameters, a hook on it tells whether a backward pass
        then runs through it, as through a penalty folded into the loss D is trained on
        (noted as ``PENALTY_GRADIENT`` when the stretch ends, :meth:`remove`). A penalty
        computed and left out of that loss is never run through, and does not count."""
        if self.gradient_looks <= 0:
            return
        self.gradient_looks -= 1
        if reaches(gradients, self.d_ids):
            for t in _tensors(gradients):
                if t.requires_grad:
                    t.register_hook(self._penalty_used)
        if self.gradient_looks <= 0:
            _untap(self)

    def _penalty_used(self, grad: torch.Tensor) -> None:
        """A backward pass ran through a gradient with a graph reaching D."""
        self.penalty_gradient = True
        self.gradient_looks = 0
        _untap(self)

    def end_step(self, step: int, losses: Mapping[str, Any]) -> dict[str, float]:
        """Close one training step: convert what it measured to floats, append a row."""
        self.look_for_penalty(step, losses.get("d_loss"))
        row = self.take_row(step, {str(k): as_float(v, str(k)) for k, v in losses.items()})
        self.history.append(step, row)
        return row

    def take_row(self, step: int, row: dict[str, float]) -> dict[str, float]:
        """What the hooks measured since the last row, added to ``row`` (the step's losses,
        as floats), with the step's exact events noted; the counts start again at zero.
        The caller appends the row (a watched loop may still log losses to it)."""
        if self.pending:
            keys = list(self.pending)
            values = torch.stack([self.pending[k].float() for k in keys]).tolist()
            row.update(zip(keys, values, strict=True))
        row.update({k: float(v) for k, v in self.counts.items()})
        if self.penalty_gradient and self.penalty_gradient_step is None:
            self.penalty_gradient_step = step
        if self.counts["d_step_g_grads"]:
            self.history.note("d_step_g_grads", step)
        if self.counts["d_leak_in_g_step"]:
            self.history.note("d_leak_in_g_step", step)
        if self.leak_over_passes:
            self.history.note("d_step_g_grads_over_passes", step)
            self.leak_over_passes = False
        if self.d_carried:
            self.history.note("d_carried_grads", step)
            self.d_carried = False
        for role in ("g", "d"):
            if self.counts[f"{role}_stale_grads"]:
                self.history.note(f"{role}_stale_grads", step)
            if self.counts[f"{role}_updates"]:
                self.updated[role] = True
            elif self.updated[role]:
                self.history.note(f"no_{role}_update", step)
            else:
                count, first = self.before_first[role] or (0, step)
                self.before_first[role] = (count + 1, first)
        due = (step + 1) % _defaults.NORM_EVERY == 0
        for role in ("g", "d"):
            # A network stepped (and so read, if owed) in this step waits for the next
            # NORM_EVERY-th; one that took no step stays owed its reading (a D stepped only
            # on odd steps), so that its pace has readings whatever the loop's rhythm.
            stepped = self.counts[f"{role}_updates"] > 0
            self.reading_norms[role] = due or (self.reading_norms[role] and not stepped)
        self.pending = {}
        self._clear_counts()
        return row

    def remove(self) -> None:
        _untap(self)
        for h in self.handles:
            h.remove()
        for w in self.watches:
            w.remove()
        self.handles = []
        self.watches = []
        # A penalty seen by its gradient, where no d_loss graph showed it.
        if self.penalty_gradient_step is not None and PENALTY_IN_D_LOSS not in self.history.events:
            self.history.note(PENALTY_GRADIENT, self.penalty_gradient_step)
        self.penalty_gradient_step = None
        # A network that never updated in the stretch: every step of it lacked its update.
        for role, before in self.before_first.items():
            if before is not None and not self.updated[role]:
                count, first = before
                for step in range(first, first + count):
                    self.history.note(f"no_{role}_update", step)
        self.before_first = {"g": None, "d": None}


def wiring(
    named: list[tuple[str, str, nn.Parameter]],
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
) -> Wiring:
    """Which parameters each optimizer covers, and which trainable ones none covers."""
    ids = {
        role: {id(p) for group in opt.param_groups for p in group["params"]}
        for role, opt in (("opt_g", opt_g), ("opt_d", opt_d))
    }
    nets = ("generator", "discriminator")

    def coverage(covered: set[int]) -> dict[str, Coverage]:
        return {
            net: Coverage(
                covered=sum(1 for n, _, p in named if n == net and id(p) in covered),
                total=sum(1 for n, _, p in named if n == net and p.requires_grad),
            )
            for net in nets
        }

    return Wiring(
        same_optimizer=opt_g is opt_d,
        opt_g=coverage(ids["opt_g"]),
        opt_d=coverage(ids["opt_d"]),
        uncovered={
            net: [
                name
                for n, name, p in named
                if n == net and p.requires_grad and id(p) not in ids["opt_g"] | ids["opt_d"]
            ]
            for net in nets
        },
    )
