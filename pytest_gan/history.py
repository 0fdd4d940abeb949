"""What a run records, as typed records: :class:`History` (the per-step rows), and the
records it holds beside them: each :class:`Probe`, the optimizers' :class:`Wiring`, the
final :class:`Saturation` probe and the exact :class:`Event` counts.

The records are frozen dataclasses read by attribute. Each also reads as a mapping of its
fields (``probe["d_auc"]``, ``dict(event)``), the form they had as plain dicts; a field
that was not recorded (``None``) is absent from that view.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

import torch

from pytest_gan import _defaults
from pytest_gan._args import check_int

Number = float


class _Fields(Mapping[str, Any]):
    """Read access to a record's recorded fields by name."""

    def _recorded(self) -> list[str]:
        return [f.name for f in fields(self) if getattr(self, f.name) is not None]  # type: ignore[arg-type]

    def __getitem__(self, key: str) -> Any:
        if key in self._recorded():
            return getattr(self, key)
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._recorded())

    def __len__(self) -> int:
        return len(self._recorded())


@dataclass(frozen=True, eq=False)
class Event(_Fields):
    """How often something happened in a run, and the step it first happened at."""

    count: int
    first_step: int


@dataclass(frozen=True, eq=False)
class Coverage(_Fields):
    """Of one network's parameter tensors: how many an optimizer covers, of how many
    trainable."""

    covered: int
    total: int


@dataclass(frozen=True, eq=False)
class Wiring(_Fields):
    """Which parameters each optimizer covers (by network), and the trainable parameters
    no optimizer covers (by network, their names)."""

    same_optimizer: bool
    opt_g: Mapping[str, Coverage]
    opt_d: Mapping[str, Coverage]
    uncovered: Mapping[str, list[str]]


@dataclass(frozen=True, eq=False)
class Saturation(_Fields):
    """The final saturation probe: the training step (or a watched loop's own loss code)
    run once more with D's final layer (``probing.final_layer``: of its layers with
    parameters, the last to begin running) forced to +/-``logit``.

    ``real`` and ``fake`` hold the losses each direction gave (or ``{"error": ...}``: what
    the step raised, with ``"unsaturated_error"`` when the step raises as well with D's
    final layer forced to 0, where it cannot run on the probe's copies at all);
    ``d_ops`` the functions the loss applied to D's outputs, read as
    ``d_loss_reads`` (``"logit"``, ``"probability"``, ``"square"``, ``"margin"``,
    ``"critic"``, ``"reconstruction"``, ``"softmax"``: ``probing.read_loss``); ``d_heads``
    the operations that made D's output;
    ``d_output_span_forced`` the lowest and highest of D's outputs on held-out samples, as
    they are and with its final layer forced to +/-``logit`` (equal: D's head discards its
    score; ``probing.forced_span``); ``watched`` whether the losses came from a watched
    loop, where ``replay_error`` says why they could not be computed again;
    ``shift_invariant``, read only where a direction gave a non-finite loss or raised,
    whether the losses ignore a common shift of D's outputs (``probing.shift_invariant``:
    then the forced outputs are no saturated D).
    """

    logit: float
    real: Mapping[str, Any] | None = None
    fake: Mapping[str, Any] | None = None
    d_ops: list[str] | None = None
    d_loss_reads: str | None = None
    d_output_at_saturation: float | None = None
    d_heads: list[str] | None = None
    d_output_span_forced: list[float] | None = None
    watched: bool | None = None
    replay_error: str | None = None
    shift_invariant: bool | None = None


@dataclass(frozen=True, eq=False)
class Probe(_Fields):
    """One periodic look at D and G after ``step`` steps (``probing.Prober``)."""

    step: int
    #: D's mean output on held-out real samples, fixed-z fakes and a fixed training batch.
    d_real: float
    d_fake: float
    d_train: float
    #: The boundary D's outputs were split at, and the shares it gets right on each side.
    d_threshold: float
    d_acc_real: float
    d_acc_fake: float
    #: AUC of held-out real over fakes.
    d_auc: float
    #: D's belief that the fakes are real (NaN where its scores carry no probability).
    d_fake_p: float
    #: StyleGAN2-ADA's overfitting heuristic r_t = E[sign(D(x_train) - threshold)] ...
    r_t: float
    #: ... and r_v = (E[D(train)] - E[D(held-out)]) / (E[D(train)] - E[D(fake)]): 0 when D
    #: scores samples it never trained on as it scores its training samples, 1 when it
    #: scores them as fakes; with the AUC of training over held-out samples (1/2: none).
    r_v: float
    d_train_auc: float
    #: Whether the real samples D was shown were truly held out of training.
    held_out: bool
    #: The fakes' statistics: mean, std, range, and the per-feature spread across the batch
    #: (near 0 when every z gives the same output).
    fake_mean: float
    fake_std: float
    fake_min: float
    fake_max: float
    fake_batch_std: float
    #: The mean distance between two fixed-z samples, and between two held-out real
    #: samples: their ratio over the later probes is how lastingly spread out the samples
    #: are (checks.outputs.lasting_spread).
    fake_spread: float
    real_spread: float
    #: The mean distance from a fixed-z fake to its nearest held-out real sample, and the
    #: same for the training batch (the data's own scale): whether G still approaches the
    #: data.
    fake_to_real: float
    real_to_real: float
    #: A few fixed-z samples, on the CPU.
    samples: torch.Tensor


class History:
    """Per-step records of a run, plus its probes, wiring and exact event counts.

    ``history["g_loss"]`` is the list of that column (NaN where a step did not record it);
    ``history[i]`` is the i-th row as a dict; iterating gives the rows. When a run outgrows
    ``capacity`` rows, every other row is dropped and only every ``stride``-th step is
    recorded from then on, so memory stays bounded; :attr:`events` (first step and count
    of non-finite losses, leaks, stale gradients, missing updates) stays exact regardless.
    """

    def __init__(self, capacity: int = _defaults.HISTORY_CAPACITY) -> None:
        self.capacity = check_int(capacity, "capacity", least=2)
        self.stride = 1
        self.columns: dict[str, list[Number]] = {"step": []}
        self.probes: list[Probe] = []
        #: Recorded once, when the run's optimizers are first seen.
        self.wiring: Wiring | None = None
        #: Recorded after the last step.
        self.saturation: Saturation | None = None
        self.events: dict[str, Event] = {}
        #: Norm readings (``READING_COLUMNS``) of rows dropped since the last row kept,
        #: written into the next row kept where it has none of its own.
        self.carried: dict[str, float] = {}

    # -- writing ---------------------------------------------------------------------

    def note(self, event: str, step: int) -> None:
        """Count an event and remember the first step it happened at."""
        record = self.events.get(event)
        self.events[event] = (
            Event(count=1, first_step=step)
            if record is None
            else replace(record, count=record.count + 1)
        )

    def append(self, step: int, row: Mapping[str, Number]) -> None:
        for key, value in row.items():
            if not math.isfinite(value) and key not in _NOT_LOSSES:
                self.note(f"nonfinite:{key}", step)
        if step % self.stride:
            self._carry(row)
            return
        row = self._with_carried(row)
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

    def _carry(self, row: Mapping[str, Number]) -> None:
        """Keep a dropped row's norm readings for the next row kept (a network read on
        steps that thinning drops, such as one stepped only on odd steps)."""
        for key in READING_COLUMNS:
            value = row.get(key)
            if value is not None and math.isfinite(value):
                self.carried[key] = float(value)

    def _with_carried(self, row: Mapping[str, Number]) -> Mapping[str, Number]:
        if not self.carried:
            return row
        merged = dict(row)
        for key, value in self.carried.items():
            own = merged.get(key)
            if own is None or not math.isfinite(own):
                merged[key] = value
        self.carried = {}
        return merged

    def _thin(self) -> None:
        self.stride *= 2
        steps = self.columns["step"]
        keep = [i for i, s in enumerate(steps) if int(s) % self.stride == 0]
        # The readings of rows dropped now go to the next row kept, as they do for rows
        # dropped as they arrive: each network keeps readings over the whole run.
        for key in self.carried:
            self.columns.setdefault(key, [math.nan] * len(steps))
        readings = [k for k in READING_COLUMNS if k in self.columns]
        kept = set(keep)
        for i in range(len(steps)):
            row = {k: self.columns[k][i] for k in readings}
            if i not in kept:
                self._carry(row)
            elif self.carried:
                for key, value in self._with_carried(row).items():
                    self.columns[key][i] = value
        for key, column in self.columns.items():
            self.columns[key] = [column[i] for i in keep]

    # -- reading ---------------------------------------------------------------------

    @property
    def steps(self) -> list[int]:
        return [int(s) for s in self.columns["step"]]

    def keys(self) -> list[str]:
        return list(self.columns)

    def probe_at(self, step: int) -> Probe | None:
        """The probe taken after ``step`` steps (None when none was)."""
        return next((p for p in self.probes if p.step == step), None)

    def probe_by(self, step: int) -> Probe | None:
        """The probe taken after ``step`` steps, or else the last one before it (None when
        there is neither): a loop run again from the start has its probes where its own
        schedule put them."""
        exact = self.probe_at(step)
        if exact is not None:
            return exact
        before = [p for p in self.probes if p.step <= step]
        return before[-1] if before else None

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


#: The losses the checks read (the contract's keys of a training step's result).
LOSS_KEYS = ("d_loss", "g_loss")

#: The per-step counts the instrumentation keeps (``instrument.Instrument``).
COUNT_COLUMNS = (
    "g_updates",
    "d_updates",
    "d_step_g_grads",
    "d_leak_in_g_step",
    "g_stale_grads",
    "d_stale_grads",
)

#: The instrumentation's norm readings, read on some steps only (``_defaults.NORM_EVERY``).
#: A row a history drops as it thins hands its readings on to the next row kept.
READING_COLUMNS = (
    "g_grad_norm",
    "d_grad_norm",
    "g_update_norm",
    "d_update_norm",
    "g_update_ratio",
    "d_update_ratio",
    "g_pace",
    "d_pace",
)

# Columns that are counts or norms measured by the instrumentation rather than returned by
# the step: non-finite values there are not loss events (a NaN norm is reported through
# the losses that caused it).
_NOT_LOSSES = frozenset({*READING_COLUMNS, *COUNT_COLUMNS})


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
