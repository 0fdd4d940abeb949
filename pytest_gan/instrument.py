"""Instrumentation of a training run: what the checks read, measured without interfering.

Nothing here changes what a training step computes. Gradient hooks only look at
``param.grad`` (never modify it), optimizer step hooks only read parameters and gradients,
and probes run without gradients on snapshotted buffers under a preserved RNG state.

What is recorded, per training step (:class:`History` rows):

* every loss the step returned;
* per network, the gradient norm seen by its optimizer and the size of the update it
  applied (``g_grad_norm``, ``g_update_norm``, ``g_update_ratio`` = update / weight norm;
  the same with ``d_``), read on every ``_defaults.NORM_EVERY``-th step (the first step of a
  stretch, then steps whose number is a multiple of it) and NaN between; and how many
  optimizer steps each took (``g_updates``, ``d_updates``), on every step;
* ``d_step_g_grads``: generator parameter tensors that received gradient between the
  previous optimizer step and the discriminator's step, i.e. during the D step's backward
  pass: the signature of a missing ``.detach()``;
* ``d_leak_in_g_step``: of those, the tensors whose leaked gradient was still there, never
  reset, when G's optimizer stepped: the missing ``.detach()`` changed G's update (harmful)
  rather than only costing a backward pass through G (wasteful);
* ``g_stale_grads`` / ``d_stale_grads``: parameter tensors whose gradient was not reset
  since that optimizer's previous step, so old gradients were accumulated into the new
  update: the signature of a missing ``zero_grad()``.

Once per run, :attr:`History.wiring` lists which parameters each optimizer covers and which
trainable parameters no optimizer covers. Periodic probes (:attr:`History.probes`) record
D's output on held-out real samples, on a fixed batch of training samples and on fixed-z
fakes, and keep a few fixed-z samples. After the last step, :func:`saturation_probe` runs
the training step on copies of the networks with D forced to saturate
(:attr:`History.saturation`), where a numerically fragile loss turns NaN.
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Iterator, Mapping
from typing import Any

import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.overrides import TorchFunctionMode

from pytest_gan import _defaults
from pytest_gan.losses import LOGIT, PROBABILITY, SCORE
from pytest_gan.metrics import mean_pairwise_distance, reach
from pytest_gan.rng import preserved_torch_rng

Number = float

#: Prober threshold meaning: 1/2 if D's outputs all lie in [0, 1] (a Sigmoid ending), else 0.
AUTO_THRESHOLD = "auto"


def _approach(then: Mapping[str, Any], now: Mapping[str, Any], of_gap: bool) -> float:
    """How far ``fake_to_real`` fell from the probe ``then`` to the probe ``now``, as a
    share of the gap to ``real_to_real`` at ``then`` (``of_gap``) or of the distance
    itself; ``inf`` when there was no gap, NaN without finite figures."""
    try:
        start, end = float(then["fake_to_real"]), float(now["fake_to_real"])
        scale = float(then["real_to_real"])
    except KeyError:
        return math.nan
    if not (math.isfinite(start) and math.isfinite(end)):
        return math.nan
    if start <= scale:
        return math.inf
    return (start - end) / ((start - scale) if of_gap else start)


def gap_closed(then: Mapping[str, Any], now: Mapping[str, Any]) -> float:
    """How much of the gap between G's samples and the data G closed from the probe
    ``then`` to the probe ``now``: ``fake_to_real`` at each, against the data's own scale
    (``real_to_real``), as a share of the gap at ``then``. 1: reached the data; 0: no
    nearer; negative: moved away. ``inf`` when the samples were already as close to the
    data as real samples are (no gap to close); NaN without the figures."""
    return _approach(then, now, of_gap=True)


def distance_fell(then: Mapping[str, Any], now: Mapping[str, Any]) -> float:
    """By what share of itself ``fake_to_real`` fell from the probe ``then`` to the probe
    ``now``: 0.01, G's samples came 1% nearer the data; negative, they moved away. Unlike
    :func:`gap_closed` it does not magnify a move by a gap that cannot close (outputs that
    cannot reach the data's scale). ``inf`` when the samples were already as close to the
    data as real samples are (nothing left to approach); NaN without the figures."""
    return _approach(then, now, of_gap=False)


class History:
    """Per-step records of a run, plus its probes, wiring and exact event counts.

    ``history["g_loss"]`` is the list of that column (NaN where a step did not record it);
    ``history[i]`` is the i-th row as a dict; iterating gives the rows. When a run outgrows
    ``capacity`` rows, every other row is dropped and only every ``stride``-th step is
    recorded from then on, so memory stays bounded; :attr:`events` (first step and count
    of non-finite losses, leaks, stale gradients, missing updates) stays exact regardless.
    """

    def __init__(self, capacity: int = _defaults.HISTORY_CAPACITY) -> None:
        if capacity < 2:
            raise ValueError(f"capacity must be at least 2; got {capacity}")
        self.capacity = capacity
        self.stride = 1
        self.columns: dict[str, list[Number]] = {"step": []}
        self.probes: list[dict[str, Any]] = []
        self.wiring: dict[str, Any] = {}
        self.saturation: dict[str, Any] = {}
        self.events: dict[str, dict[str, int]] = {}

    # -- writing ---------------------------------------------------------------------

    def note(self, event: str, step: int) -> None:
        """Count an event and remember the first step it happened at."""
        record = self.events.setdefault(event, {"count": 0, "first_step": step})
        record["count"] += 1

    def append(self, step: int, row: Mapping[str, Number]) -> None:
        for key, value in row.items():
            if not math.isfinite(value) and key not in _NOT_LOSSES:
                self.note(f"nonfinite:{key}", step)
        if step % self.stride:
            return
        n = len(self.columns["step"])
        self.columns["step"].append(float(step))
        for key, value in row.items():
            column = self.columns.get(key)
            if column is None:
                column = self.columns[key] = [math.nan] * n
            column.append(float(value))
        for column in self.columns.values():
            if len(column) == n:
                column.append(math.nan)
        if n + 1 > self.capacity:
            self._thin()

    def amend(self, step: int, values: Mapping[str, Number]) -> None:
        """Add ``values`` to the row of ``step`` already appended (a value logged after
        its step's row was closed); non-finite losses are counted as ``append`` counts
        them. A step whose row was thinned away keeps only that count."""
        for key, value in values.items():
            if not math.isfinite(value) and key not in _NOT_LOSSES:
                self.note(f"nonfinite:{key}", step)
        steps = self.columns["step"]
        if not steps or int(steps[-1]) < step:
            return
        index = max(i for i, s in enumerate(steps) if int(s) <= step)
        if int(steps[index]) != step:
            return
        for key, value in values.items():
            column = self.columns.setdefault(key, [math.nan] * len(steps))
            column[index] = float(value)

    def _thin(self) -> None:
        self.stride *= 2
        keep = [i for i, s in enumerate(self.columns["step"]) if int(s) % self.stride == 0]
        for key, column in self.columns.items():
            self.columns[key] = [column[i] for i in keep]

    # -- reading ---------------------------------------------------------------------

    @property
    def steps(self) -> list[int]:
        return [int(s) for s in self.columns["step"]]

    def keys(self) -> list[str]:
        return list(self.columns)

    def probe_at(self, step: int) -> dict[str, Any] | None:
        """The probe taken after ``step`` steps (None when none was)."""
        return next((p for p in self.probes if p["step"] == step), None)

    def __len__(self) -> int:
        return len(self.columns["step"])

    def __contains__(self, key: object) -> bool:
        return key in self.columns

    def __getitem__(self, key: str | int) -> Any:
        if isinstance(key, str):
            if key not in self.columns:
                raise KeyError(f"no column {key!r} in the history; columns: {sorted(self.columns)}")
            return list(self.columns[key])
        if key < 0:
            key += len(self)
        if not 0 <= key < len(self):
            raise IndexError(f"row {key} out of range for a history of {len(self)} rows")
        return {k: (int(v[key]) if k == "step" else v[key]) for k, v in self.columns.items()}

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return (self[i] for i in range(len(self)))

    def __repr__(self) -> str:
        return (
            f"History({len(self)} rows, stride {self.stride}, {len(self.probes)} probes, "
            f"columns={sorted(self.columns)})"
        )


# Columns that are counts or norms measured by the instrumentation rather than returned by
# the step: non-finite values there are not loss events (a NaN norm is reported through
# the losses that caused it).
_NOT_LOSSES = frozenset(
    {
        "g_grad_norm",
        "d_grad_norm",
        "g_update_norm",
        "d_update_norm",
        "g_update_ratio",
        "d_update_ratio",
        "g_updates",
        "d_updates",
        "d_step_g_grads",
        "d_leak_in_g_step",
        "g_stale_grads",
        "d_stale_grads",
    }
)


def as_float(value: Any, key: str) -> float:
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise TypeError(
                f"train_step must return scalar losses; {key!r} has shape {list(value.shape)}"
            )
        return float(value.detach().item())
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise TypeError(
        f"train_step must return a mapping of str to float or scalar Tensor; {key!r} is "
        f"{type(value).__name__}"
    )


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
        self.before: list[torch.Tensor] = []
        self.weight_norm = torch.zeros(())
        self.handles = [
            optimizer.register_step_pre_hook(self._pre),
            optimizer.register_step_post_hook(self._post),
        ]

    def _pre(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        owner = self.owner
        if owner.reading_norms:
            grads = [p.grad for p in self.params if p.grad is not None]
            # Gradient and weight norms in one call (small foreach calls cost tens of
            # microseconds each on CPU): per-tensor norms, then one norm per group.
            norms = torch.stack(torch._foreach_norm([*grads, *self.detached]))
            if grads:
                owner.pending[f"{self.role}_grad_norm"] = torch.linalg.vector_norm(
                    norms[: len(grads)]
                )
            self.weight_norm = torch.linalg.vector_norm(norms[len(grads) :])
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
        elif self.role == "g":
            owner.counts["d_leak_in_g_step"] += owner.harmful_leaks()

    def _post(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        owner = self.owner
        if self.before:
            torch._foreach_sub_(self.before, self.detached)
            update = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(self.before)))
            self.before = []
            owner.pending[f"{self.role}_update_norm"] = update
            owner.pending[f"{self.role}_update_ratio"] = update / self.weight_norm.clamp_min(
                1e-12
            )
        owner.counts[f"{self.role}_updates"] += 1
        for p, i in zip(self.params, self.indices, strict=True):
            if i is not None:
                owner.reset[i] = False
                owner.remember(i, p)
        owner.written = [False] * len(owner.written)
        if self.role == "g" or owner.same_optimizer:
            owner.leaked = [False] * len(owner.leaked)

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
        # G parameters holding gradient that D's step wrote, not reset since.
        self.leaked = [False] * len(self.params)
        self.same_optimizer = opt_g is opt_d
        self.seen: list[tuple[int, int] | None] = [None] * len(self.params)
        self.pending: dict[str, torch.Tensor] = {}
        # Whether the optimizer hooks read their norms in the step under way: the first
        # step of the stretch, then every NORM_EVERY-th (take_row sets it for the next).
        self.reading_norms = True
        self.counts: dict[str, int] = {}
        self._clear_counts()
        self.handles: list[Any] = []
        for i, p in enumerate(self.params):
            if p.requires_grad:
                self.handles.append(p.register_hook(self._pre_accumulate(i)))
        self.watches = [_OptimizerWatch(self, "d", opt_d)]
        if opt_g is not opt_d:
            self.watches.append(_OptimizerWatch(self, "g", opt_g))
        history.wiring = wiring(named, opt_g, opt_d)

    def _clear_counts(self) -> None:
        self.counts = dict.fromkeys(
            (
                "g_updates",
                "d_updates",
                "d_step_g_grads",
                "d_leak_in_g_step",
                "g_stale_grads",
                "d_stale_grads",
            ),
            0,
        )

    def account_d_step(self) -> None:
        """D's step: G parameters written since the last step got D's backward's gradient
        (a missing ``.detach()``)."""
        leaked = [i for i in self.g_indices if self.written[i]]
        self.counts["d_step_g_grads"] += len(leaked)
        if self.same_optimizer:
            # One optimizer for both networks: this very step applies the leak to G.
            self.counts["d_leak_in_g_step"] += len(leaked)
        for i in leaked:
            # From here, G's parameter holds D's gradient until it is reset; whether G's
            # step applies it is told at that step (Instrument.harmful_leaks).
            self.leaked[i] = True
            self.remember(i, self.params[i])

    def skipped_step(self, role: str) -> None:
        """An optimizer step the loop called that applied no update (a wrapper that
        accumulates gradients, a ``GradScaler`` after an overflow): what the backward
        passes before it wrote is that step's, as for a step taken, but nothing changed."""
        if role == "d":
            self.account_d_step()
        self.written = [False] * len(self.written)

    def harmful_leaks(self) -> int:
        """G parameter tensors whose gradient, at G's optimizer step, still holds what the
        D step's backward wrote into it: G is updated with D's gradient. A reset since
        (``zero_grad``: the gradient set to None, or zeroed in place, which bumps its
        version) makes the leak wasted work only."""
        count = 0
        for i in self.g_indices:
            if not self.leaked[i]:
                continue
            g = self.params[i].grad
            if g is not None and id(g) == self.seen_id(i) and (
                self.seen[i] == (id(g), g._version) or bool(g.any())
            ):
                # The same gradient tensor, unchanged since D's backward wrote into it; or
                # changed in place but not zeroed: a GradScaler unscales gradients in place
                # before the step (a version step), which resets nothing.
                count += 1
            else:
                self.leaked[i] = False
        return count

    def seen_id(self, i: int) -> int | None:
        seen = self.seen[i]
        return None if seen is None else seen[0]

    def remember(self, i: int, p: torch.Tensor) -> None:
        g = p.grad
        self.seen[i] = None if g is None else (id(g), g._version)

    def _pre_accumulate(self, i: int) -> Any:
        param = self.params[i]

        def hook(grad: torch.Tensor) -> None:
            # Runs as a gradient arrives, before autograd accumulates it into param.grad.
            # (A post-accumulate hook would see the result directly, but measured 5% of a
            # DCGAN step on CPU against 1% for this one.)
            self.written[i] = True
            g = param.grad
            # None, another tensor, or the same tensor modified in place since we last saw
            # it (zero_ bumps the version counter): the gradient was reset. After an
            # unseen creation (seen is None) nothing can be told: assume a reset, so that
            # a missing zero_grad is never reported where there may have been none.
            if g is None or self.seen[i] != (id(g), g._version):
                self.reset[i] = True
                self.leaked[i] = False
            # Accumulating into an existing gradient adds in place (one version step);
            # into None it creates a tensor that the next optimizer step will record.
            self.seen[i] = None if g is None else (id(g), g._version + 1)

        return hook

    def end_step(self, step: int, losses: Mapping[str, Any]) -> dict[str, float]:
        """Close one training step: convert what it measured to floats, append a row."""
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
        if self.counts["d_step_g_grads"]:
            self.history.note("d_step_g_grads", step)
        if self.counts["d_leak_in_g_step"]:
            self.history.note("d_leak_in_g_step", step)
        for role in ("g", "d"):
            if self.counts[f"{role}_stale_grads"]:
                self.history.note(f"{role}_stale_grads", step)
            if not self.counts[f"{role}_updates"]:
                self.history.note(f"no_{role}_update", step)
        self.pending = {}
        self._clear_counts()
        self.reading_norms = (step + 1) % _defaults.NORM_EVERY == 0
        return row

    def remove(self) -> None:
        for h in self.handles:
            h.remove()
        for w in self.watches:
            w.remove()
        self.handles = []
        self.watches = []


def wiring(
    named: list[tuple[str, str, nn.Parameter]],
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
) -> dict[str, Any]:
    """Which parameters each optimizer covers, and which trainable ones none covers."""
    covered = {
        role: {id(p) for group in opt.param_groups for p in group["params"]}
        for role, opt in (("opt_g", opt_g), ("opt_d", opt_d))
    }
    out: dict[str, Any] = {"same_optimizer": opt_g is opt_d}
    for role, ids in covered.items():
        out[role] = {
            net: {
                "covered": sum(1 for n, _, p in named if n == net and id(p) in ids),
                "total": sum(1 for n, _, p in named if n == net and p.requires_grad),
            }
            for net in ("generator", "discriminator")
        }
    out["uncovered"] = {
        net: [
            name
            for n, name, p in named
            if n == net and p.requires_grad and id(p) not in covered["opt_g"] | covered["opt_d"]
        ]
        for net in ("generator", "discriminator")
    }
    return out


def _snapshot_buffers(modules: tuple[nn.Module, ...]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(b, b.detach().clone()) for m in modules for b in m.buffers()]


def _restore_buffers(snapshot: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
    # Only buffers that changed are written back: a look in eval mode changes none, and
    # leaves their version counters (which GANRun.samples keys its reuse on) untouched.
    with torch.no_grad():
        for buf, saved in snapshot:
            if not torch.equal(buf, saved):
                buf.copy_(saved)


class preserved_state:
    """Context manager for a look at the networks that leaves no trace on training.

    Buffers (BatchNorm running statistics, spectral-norm power-iteration vectors) are
    restored, torch's RNG state is restored, and gradients are off.
    """

    def __init__(self, *modules: nn.Module) -> None:
        self.modules = modules

    def __enter__(self) -> None:
        self._buffers = _snapshot_buffers(self.modules)
        self._rng = preserved_torch_rng()
        self._rng.__enter__()
        self._grad = torch.no_grad()
        self._grad.__enter__()

    def __exit__(self, *exc: object) -> None:
        self._grad.__exit__(*exc)
        self._rng.__exit__(*exc)
        _restore_buffers(self._buffers)


def _per_sample(out: torch.Tensor) -> torch.Tensor:
    """D's output reduced to one score per sample (patch discriminators give maps)."""
    return out.reshape(out.shape[0], -1).float().mean(dim=1)


def auc(real: torch.Tensor, fake: torch.Tensor) -> float:
    """How well D's scores rank real above fake, with no threshold: the probability that
    a real sample scores above a fake one (ties count half). 1 is perfect separation, 1/2
    chance, below 1/2 D ranks the fakes as more real than the real samples."""
    diff = real.double()[:, None] - fake.double()[None, :]
    return float((diff > 0).double().mean() + 0.5 * (diff == 0).double().mean())


def _r_v(d_train: torch.Tensor, d_held: torch.Tensor, d_fake: torch.Tensor) -> float:
    train, held, fake = (float(t.double().mean()) for t in (d_train, d_held, d_fake))
    gap = train - fake
    return (train - held) / gap if gap > 0 else math.nan


def _spread(x: torch.Tensor) -> float:
    """``metrics.mean_pairwise_distance`` of a batch (NaN for a batch of one)."""
    return mean_pairwise_distance(x) if x.shape[0] >= 2 else math.nan


class Prober:
    """Periodic looks at D and G during training; see the module docstring."""

    def __init__(
        self,
        *,
        generator: nn.Module,
        discriminator: nn.Module,
        z: torch.Tensor,
        fake_labels: torch.Tensor | None,
        holdout: tuple[torch.Tensor, torch.Tensor | None],
        held_out: bool,
        train_batch: tuple[torch.Tensor, torch.Tensor | None],
        threshold: float | str | None,
        every: int,
        scores: str = SCORE,
        history: History,
    ) -> None:
        self.generator = generator
        self.discriminator = discriminator
        self.z = z
        self.fake_labels = fake_labels
        self.holdout = holdout
        self.held_out = held_out
        self.train_batch = train_batch
        # The data's own scale for fake_to_real: fixed batches, so measured once.
        self.real_to_real = reach(train_batch[0], holdout[0])
        # ... and the real batch's spread, the scale of each probe's fake_spread.
        self.real_spread = _spread(holdout[0])
        self.threshold = threshold
        # LOGIT, PROBABILITY, SCORE (no probability reading: pytest_gan.losses), or AUTO_THRESHOLD
        # (a user's step: logit or probability, told apart by the outputs' range).
        self.scores = scores
        self.every = every
        self.history = history

    def _d(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        out = self.discriminator(x) if labels is None else self.discriminator(x, labels)
        return _per_sample(out)

    def probe(self, steps_done: int) -> dict[str, Any]:
        with preserved_state(self.generator, self.discriminator):
            g_in = (self.z,) if self.fake_labels is None else (self.z, self.fake_labels)
            fake = self.generator(*g_in)
            d_fake = self._d(fake, self.fake_labels)
            d_real = self._d(*self.holdout)
            d_train = self._d(*self.train_batch)
        threshold = self.threshold
        if threshold == AUTO_THRESHOLD:
            outputs = torch.cat([d_real, d_fake, d_train])
            threshold = 0.5 if bool((outputs >= 0).all() and (outputs <= 1).all()) else 0.0
        elif threshold is None:
            # WGAN critics have no fixed decision boundary: split at the midpoint.
            threshold = float((d_real.mean() + d_fake.mean()) / 2)
        flat = fake.reshape(fake.shape[0], -1).float()
        assert isinstance(threshold, float)
        # D's belief that the fakes are real, where its outputs are probabilities or
        # logits; a hinge or WGAN critic's scores are neither.
        scores = self.scores
        if scores == AUTO_THRESHOLD:
            scores = PROBABILITY if threshold == 0.5 else LOGIT
        if scores == LOGIT:
            d_fake_p = float(torch.sigmoid(d_fake).mean())
        elif scores == PROBABILITY:
            d_fake_p = float(d_fake.clamp(0, 1).mean())
        else:
            d_fake_p = math.nan
        record: dict[str, Any] = {
            "step": steps_done,
            "d_real": float(d_real.mean()),
            "d_fake": float(d_fake.mean()),
            "d_train": float(d_train.mean()),
            "d_threshold": threshold,
            "d_acc_real": float((d_real > threshold).float().mean()),
            "d_acc_fake": float((d_fake <= threshold).float().mean()),
            "d_auc": auc(d_real, d_fake),
            "d_fake_p": d_fake_p,
            # StyleGAN2-ADA's overfitting heuristic r_t = E[sign(D(x_train) - threshold)].
            "r_t": float(torch.sign(d_train - threshold).mean()),
            # ... and r_v = (E[D(train)] - E[D(held-out)]) / (E[D(train)] - E[D(fake)]): 0
            # when D scores samples it never trained on as it scores its training samples,
            # 1 when it scores them as fakes (complete overfitting). With the AUC of
            # training over held-out samples (1/2: no difference).
            "r_v": _r_v(d_train, d_real, d_fake),
            "d_train_auc": auc(d_train, d_real),
            "held_out": self.held_out,
            "fake_mean": float(flat.mean()),
            "fake_std": float(flat.std()),
            "fake_min": float(flat.min()),
            "fake_max": float(flat.max()),
            # Spread of each feature across the batch, averaged: near 0 when every z gives
            # the same output.
            "fake_batch_std": float(flat.std(dim=0).mean()),
            # The mean distance between two fixed-z samples, and between two held-out real
            # samples: their ratio, over the run's later probes, is how lastingly spread
            # out the samples are (checks.outputs.lasting_spread).
            "fake_spread": _spread(flat),
            "real_spread": self.real_spread,
            # How far G's samples are from the data: the mean distance from a fixed-z fake
            # to its nearest held-out real sample, and the same for the training batch's
            # samples (the data's own scale). Over the run it tells whether G's samples
            # still approach the data.
            "fake_to_real": reach(flat, self.holdout[0]),
            "real_to_real": self.real_to_real,
            "samples": fake[: _defaults.PROBE_KEEP].detach().to("cpu", copy=True),
        }
        self.history.probes.append(record)
        return record


#: Logit the saturation probe forces on D: beyond 103.3, exp(-x) underflows float32 to 0,
#: so sigmoid(x) is exactly 1 and sigmoid(-x) exactly 0, the state a discriminator reaches
#: late in a run that short runs never see. Any loss written on logits stays finite there.
SATURATED_LOGIT = 200.0


def _last_parametrized(module: nn.Module) -> nn.Module:
    """The last submodule holding parameters of its own: D's final layer, before any
    Sigmoid that follows it."""
    last = module
    for name, sub in module.named_modules():
        # Spectral norm and other parametrizations keep the original weight in an inner
        # module whose forward is never called: the layer they wrap is the one to hook.
        if "parametrizations" in name.split("."):
            continue
        if any(True for _ in sub.parameters(recurse=False)) or parametrize.is_parametrized(sub):
            last = sub
    return last


#: What a loss does with D's outputs, by the torch functions it applies to them (or to what
#: is computed from them). A classifier's loss reads them as logits or probabilities; a
#: hinge loss clips margins; a Wasserstein critic's loss only averages and subtracts them.
LOGIT_OPS = frozenset({"binary_cross_entropy_with_logits", "softplus", "logsigmoid", "sigmoid"})
PROBABILITY_OPS = frozenset({"binary_cross_entropy", "log", "log1p", "log2", "log10"})
SQUARE_OPS = frozenset({"mse_loss", "pow", "__pow__", "square", "square_"})
MARGIN_OPS = frozenset(
    {"relu", "relu_", "clamp", "clamp_min", "clamp_max", "minimum", "min", "hinge_embedding_loss"}
)
# Functions whose result is no longer "computed from D's outputs" in the sense above: the
# gradient of a penalty (its norm is the penalty's business), copies for logging.
_UNTRACED = frozenset({"grad", "detach", "item", "tolist", "__get__", "backward", "cpu", "numpy"})


class LossOps(TorchFunctionMode):
    """Records, during one training step, the torch functions applied to the outputs of
    one module (D) and to every tensor computed from them, so that the loss a user's step
    computes can be read off without parsing its code."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.ops: set[str] = set()
        self.outputs: list[torch.Tensor] = []
        # The operation that made each D output (see output_head).
        self.heads: set[str | None] = set()
        # Tensors derived from D's outputs, by id; the list keeps them alive so that an id
        # is never reused by another tensor while the step runs.
        self._derived: dict[int, torch.Tensor] = {}
        self._handle = module.register_forward_hook(self._tag_output)

    def _tag_output(self, module: nn.Module, inputs: Any, out: Any) -> None:
        if isinstance(out, torch.Tensor):
            self._derived[id(out)] = out
            self.outputs.append(out.detach())
            self.heads.add(output_head(out))

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        result = func(*args, **kwargs)
        name = getattr(func, "__name__", "")
        if name in _UNTRACED:
            return result
        leaves = [*_tensors(args), *_tensors(kwargs.values())]
        if any(self._derived.get(id(t)) is t for t in leaves):
            self.ops.add(name)
            for t in _tensors((result,)):
                self._derived[id(t)] = t
        return result

    def remove(self) -> None:
        self._handle.remove()
        self._derived = {}


# Autograd nodes that only reshape, select or average what the layer before made: a
# Sigmoid's output stays in (0, 1) through them (a patch D's map averaged per sample).
_SHAPE_NODES = (
    "View",
    "Reshape",
    "UnsafeView",
    "Squeeze",
    "Unsqueeze",
    "Permute",
    "Transpose",
    "Expand",
    "Clone",
    "Select",
    "Slice",
    "Mean",
    "Flatten",
    "ToCopy",
)


def output_head(out: torch.Tensor) -> str | None:
    """The operation that made ``out``, looking through reshapes, selections and means:
    ``"Sigmoid"``, ``"Tanh"``, ``"Addmm"`` (a Linear), ``"Convolution"``, ... from the
    autograd graph; None when ``out`` has none (made without gradients)."""
    node = out.grad_fn
    while node is not None:
        name = type(node).__name__.removesuffix("Backward0").removesuffix("Backward1")
        # "T" is a transpose (TBackward0); a prefix test would also take Tanh for one.
        if name != "T" and not any(name.startswith(s) for s in _SHAPE_NODES):
            return name
        parents = [n for n, _ in node.next_functions if n is not None]
        if len(parents) != 1:
            return name
        node = parents[0]
    return None


def _tensors(values: Any) -> Iterator[torch.Tensor]:
    for v in values:
        if isinstance(v, torch.Tensor):
            yield v
        elif isinstance(v, (tuple, list)):
            yield from _tensors(v)


def read_loss(ops: set[str]) -> str:
    """``"logit"``, ``"probability"``, ``"square"``, ``"margin"`` or ``"critic"``: the loss a
    step applies to D's outputs, told by the functions it applies (:class:`LossOps`)."""
    if ops & LOGIT_OPS:
        return "logit"
    if ops & PROBABILITY_OPS:
        return "probability"
    if ops & SQUARE_OPS:
        return "square"
    if ops & MARGIN_OPS:
        return "margin"
    return "critic"


def saturation_probe(
    step: Any,
    make_context: Any,
    generator: nn.Module,
    discriminator: nn.Module,
    batch: Any,
) -> dict[str, Any]:
    """Run the training step once more on copies of the networks whose discriminator is
    forced to saturate, once towards "real" (+SATURATED_LOGIT) and once towards "fake".

    A loss written as ``log(sigmoid(x))`` or ``log(1 - D(G(z)))`` without an epsilon turns
    infinite or NaN there, however finite it stayed in the run. The copies, their fresh
    optimizers and the preserved RNG state leave the run itself untouched. Returns, per
    direction, the losses as floats, or the error the step raised.
    """
    results: dict[str, Any] = {"logit": SATURATED_LOGIT}
    for direction, sign in (("real", 1.0), ("fake", -1.0)):
        g, d = copy.deepcopy(generator), copy.deepcopy(discriminator)
        target = sign * SATURATED_LOGIT

        def saturate(module: nn.Module, inputs: Any, out: Any, target: float = target) -> Any:
            if not isinstance(out, torch.Tensor) or not out.is_floating_point():
                return out
            # Straight-through: the value saturates, the gradient still flows.
            return out + (torch.full_like(out, target) - out).detach()

        handle = _last_parametrized(d).register_forward_hook(saturate)
        # What the loss does with D's outputs is the same in both directions: read it once.
        recorder = LossOps(d) if direction == "real" else None
        try:
            with preserved_torch_rng(), recorder or contextlib.nullcontext():
                out = step(make_context(g, d), batch)
            results[direction] = {str(k): as_float(v, str(k)) for k, v in out.items()}
        except Exception as exc:  # the step's own failure is the finding
            results[direction] = {"error": f"{type(exc).__name__}: {exc}"}
        finally:
            handle.remove()
            if recorder is not None:
                recorder.remove()
        if recorder is not None:
            # The step's loss, read from what it does with D's outputs; and what D's output
            # layer makes of a last layer forced to +SATURATED_LOGIT: the logit itself for
            # a linear head, 1 for a Sigmoid.
            results["d_ops"] = sorted(recorder.ops)
            results["d_loss_reads"] = read_loss(recorder.ops) if recorder.outputs else None
            outs = [o.float() for o in recorder.outputs if o.is_floating_point()]
            results["d_output_at_saturation"] = (
                max(float(o.max()) for o in outs) if outs else math.nan
            )
            results["d_heads"] = sorted(h for h in recorder.heads if h is not None)
    return results
