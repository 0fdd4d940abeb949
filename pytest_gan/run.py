"""``GANRun``: the result of a training run (the trained networks, their history, the
data's random streams), and how it is sampled and trained on."""

from __future__ import annotations

import copy
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from pytest_gan import _defaults
from pytest_gan._args import check_int, check_seed
from pytest_gan.devices import CUBLAS_CONTEXT_WARNING
from pytest_gan.errors import GANAssertionError
from pytest_gan.history import History, Wiring
from pytest_gan.limits import Deadline, check_time_limit
from pytest_gan.losses import samples_of
from pytest_gan.probing import preserved_state
from pytest_gan.rng import RNGState, derive_seed, local_generator
from pytest_gan.spec import GANSpec, latent_dtype

if TYPE_CHECKING:
    from pytest_gan.data import DataSource
    from pytest_gan.training import _Loop

#: Independent random streams of a run, each seeded from the run's seed.
STREAM_DATA = 1
STREAM_PROBE = 2
STREAM_SAMPLES = 3
STREAM_REAL = 4
#: The global RNG a DataLoader draws its order from while ``real`` reads it.
STREAM_REAL_LOADER = 5


@dataclass(frozen=True, eq=False)
class _PlainDraw:
    """``n`` samples of a plain draw and what they were drawn from: the generator, its
    parameters and buffers, and each one's version counter (torch counts every in-place
    change of a tensor). A generator changed or given other tensors since is drawn anew."""

    n: int
    generator: nn.Module
    tensors: tuple[torch.Tensor, ...]
    versions: tuple[int, ...]
    samples: torch.Tensor

    @classmethod
    def of(cls, n: int, generator: nn.Module, samples: torch.Tensor) -> _PlainDraw:
        tensors = (*generator.parameters(), *generator.buffers())
        return cls(n, generator, tensors, tuple(t._version for t in tensors), samples.clone())

    def fits(self, n: int, generator: nn.Module) -> bool:
        tensors = (*generator.parameters(), *generator.buffers())
        return (
            n == self.n
            and generator is self.generator
            and len(tensors) == len(self.tensors)
            and all(a is b for a, b in zip(tensors, self.tensors, strict=True))
            and all(t._version == v for t, v in zip(tensors, self.versions, strict=True))
        )


@dataclass(eq=False)
class GANRun:
    """The result of :func:`train`: the trained networks and everything measured."""

    spec: GANSpec
    generator: nn.Module
    discriminator: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    history: History
    device: torch.device
    seed: int
    steps: int
    data_range: tuple[float, float]
    elapsed: float
    #: The generator's parameters and buffers before the first step (CPU copies), for
    #: judging what training changed.
    initial_generator_state: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)
    _holdout_indices: torch.Tensor | None = field(default=None, repr=False)
    #: The last plain draw (``samples(n)``, every other argument at its default). The
    #: output-range, not-blank and diversity checks each ask for the same 1,000 samples;
    #: drawing them once saves two forward passes of G per run.
    _plain_draw: _PlainDraw | None = field(default=None, repr=False)
    #: How to go on training (:meth:`extend`); None for a run that cannot.
    _loop: _Loop | None = field(default=None, repr=False)
    #: The step count the run was first trained for, before any :meth:`extend`.
    first_steps: int = field(default=0, repr=False)
    #: Where and why ``train(..., stop_early=True)`` ended the run before its steps:
    #: ``{"at": step, "of": steps, "pitfalls": [...]}``; None when it trained to the end.
    stopped_early: dict[str, Any] | None = field(default=None, repr=False)
    #: Why and how far the run was trained on beyond ``first_steps`` to decide a verdict
    #: (``train(..., max_steps=...)``): ``{"from", "to", "pending"}`` per extension.
    extensions: list[dict[str, Any]] = field(default_factory=list, repr=False)
    #: The verdicts of the checks that judge how a run went without waiting
    #: (``deciding.FIRST_STEPS``: balance, learning), taken at ``first_steps`` before the
    #: run was trained on to decide a waiting verdict: check name -> its failure, or None
    #: for a pass. Those checks give these verdicts on the extended run
    #: (``verdict_at_first_steps``). Empty for a run never trained on that way.
    first_verdicts: dict[str, GANAssertionError | None] = field(default_factory=dict, repr=False)
    #: The steps each of ``first_verdicts`` was taken at where not ``first_steps``: the
    #: balance verdict of a run asked for fewer than ``_defaults.CALIBRATED_STEPS`` is
    #: taken at the first steps it was trained on to at or past them (``deciding.FLOORED``).
    first_verdicts_at: dict[str, int] = field(default_factory=dict, repr=False)
    #: The run's view of the spec's data (its samples in the dtype the run hands D them
    #: in); None: the spec's own.
    source: DataSource | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.first_steps:
            self.first_steps = self.steps

    @property
    def extendable(self) -> bool:
        """Whether :meth:`extend` can train this run further."""
        return self._loop is not None

    def extend(
        self,
        steps: int,
        *,
        progress: Callable[[int, int], None] | None = None,
        time_limit: float | None = None,
    ) -> GANRun:
        """Train this run ``steps`` more generator updates, in place, and return it.

        The run goes on exactly where it stopped: the same networks and optimizers, the
        next batches of the same data stream, the training's own random state; its history
        gains the new rows and probes and a fresh final saturation probe, and
        :attr:`steps` and :attr:`elapsed` grow. The caller's global RNG states are left
        as they were. ``progress(done, total)`` is called after each step;
        ``time_limit`` (seconds, for this call) is checked after each step and raises
        :class:`GANTimeLimitError`. Raises ``ValueError`` for a run that cannot go on
        (see :attr:`extendable`): a copy of a run, or one whose extension raised midway.
        """
        __tracebackhide__ = True
        check_int(steps, "steps")
        if progress is not None and not callable(progress):
            raise TypeError(f"progress must be None or a callable; got {type(progress).__name__}")
        limit = check_time_limit(time_limit)
        loop = self._loop
        if loop is None or loop.rng is None:
            raise ValueError(f"{self.name}: this run cannot be extended (run.extendable is False)")
        start, stop = self.steps, self.steps + steps
        deadline = Deadline(limit, stop, self.name)
        deadline.ctx = loop.ctx
        started = time.perf_counter()
        caller_rng = RNGState.capture()
        try:
            loop.rng.restore()
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=CUBLAS_CONTEXT_WARNING)
                loop.advance(start, stop, progress, deadline)
                self.elapsed += time.perf_counter() - started
                self.steps = stop
                self.stopped_early = None  # trained on past where it was stopped
                self._plain_draw = None
                loop.saturate(stop, deadline)
        except BaseException:
            # The networks went on some steps: the run no longer matches its records.
            self._loop = None
            self._plain_draw = None
            raise
        finally:
            caller_rng.restore()
        return self

    @property
    def name(self) -> str:
        return str(self.spec.name)

    @property
    def conditional(self) -> bool:
        return self.spec.conditional

    def _sample_labels(self, n: int, labels: Any, gen: torch.Generator) -> torch.Tensor | None:
        num_classes = self.spec.num_classes
        if num_classes is None:
            if labels is not None:
                raise ValueError("labels must be None for an unconditional spec")
            return None
        if labels is None:
            # Balanced classes, in an order that does not depend on n's divisibility.
            base = torch.arange(n) % num_classes
            return base[torch.randperm(n, generator=gen)].to(self.device)
        if isinstance(labels, int):
            if not 0 <= labels < num_classes:
                raise ValueError(f"labels must lie in [0, {num_classes}); got {labels}")
            return torch.full((n,), labels, dtype=torch.long, device=self.device)
        if not isinstance(labels, torch.Tensor):
            raise TypeError(f"labels must be None, an int or a Tensor; got {type(labels).__name__}")
        if labels.shape != (n,):
            raise ValueError(f"labels must have shape [{n}]; got {list(labels.shape)}")
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
            raise ValueError(f"labels must lie in [0, {num_classes})")
        return labels.long().to(self.device)

    def samples(
        self,
        n: int,
        labels: torch.Tensor | int | None = None,
        *,
        seed: int | None = None,
        mode: str = "eval",
        initial: bool = False,
        latent_scale: float = 1.0,
    ) -> torch.Tensor:
        """``n`` samples from the final generator, on the run's device, without gradients.

        The same ``n``, ``labels`` and ``seed`` give the same samples; global RNG state and
        the generator's buffers are left untouched. ``mode="eval"`` (the default) samples
        as inference code does (BatchNorm running statistics); ``mode="train"`` uses batch
        statistics in batches of the spec's batch size. For a conditional spec ``labels``
        is a Tensor of n labels, one class for all, or None for balanced classes.
        ``initial=True`` samples the generator as it was before the first step instead
        (same z for the same arguments). ``latent_scale`` multiplies z (a probe of how the
        generator behaves far from its training inputs). A plain draw (``n`` alone) is
        kept, and a copy of it returned again while no tensor of the generator changed.
        """
        check_int(n, "n")
        if seed is not None:
            check_seed(seed)
        if mode not in ("eval", "train"):
            raise ValueError(f"mode must be 'eval' or 'train'; got {mode!r}")
        plain = labels is None and seed is None and mode == "eval" and not initial
        plain = plain and latent_scale == 1.0
        if plain and self._plain_draw is not None and self._plain_draw.fits(n, self.generator):
            return self._plain_draw.samples.clone()
        out = self._draw(n, labels, seed, mode, initial, latent_scale)
        if plain:
            # Taken after the draw, which leaves G's tensors as they were.
            self._plain_draw = _PlainDraw.of(n, self.generator, out)
        return out

    def scaled_part(self, n: int, latent_scale: float, rows: slice) -> torch.Tensor:
        """The samples ``rows`` of ``samples(n, latent_scale=latent_scale)``, without
        drawing the others: the same z, through the generator in eval mode. A probe that
        can decide on the first rows draws the rest only when it must, and so decides
        exactly as on the whole draw (``checks.ranges``)."""
        return self._draw(n, None, None, "eval", False, latent_scale, rows)

    def _draw(
        self,
        n: int,
        labels: torch.Tensor | int | None,
        seed: int | None,
        mode: str,
        initial: bool,
        latent_scale: float,
        rows: slice | None = None,
    ) -> torch.Tensor:
        stream_seed = self.seed if seed is None else seed
        cpu_gen = local_generator(stream_seed, STREAM_SAMPLES)
        y = self._sample_labels(n, labels, cpu_gen)
        z = latent_scale * torch.randn(n, *self.spec.latent_shape, generator=cpu_gen).to(
            self.device, latent_dtype(self.generator)
        )
        if rows is not None:
            z, y = z[rows], (None if y is None else y[rows])
            n = z.shape[0]
        chunk = self.spec.batch_size if mode == "train" else max(n, 1)
        generator = self.generator
        if initial:
            generator = copy.deepcopy(self.generator)
            generator.load_state_dict(self.initial_generator_state)
        was_training = generator.training
        generator.train(mode == "train")
        try:
            with preserved_state(generator):
                parts = [
                    samples_of(
                        generator(
                            *(
                                (z[i : i + chunk],)
                                if y is None
                                else (z[i : i + chunk], y[i : i + chunk])
                            )
                        )
                    )
                    for i in range(0, n, chunk)
                ]
        finally:
            generator.train(was_training)
        return torch.cat(parts).detach()

    def sample_count(self, n: int) -> int:
        """``n``, or as many as the spec's data holds when it holds fewer: how many samples
        a check compares (as many fakes as real ones)."""
        size = self.spec.source.size()
        return n if size is None else min(n, size)

    def real(self, n: int, *, seed: int | None = None) -> torch.Tensor:
        """``n`` distinct real samples from the spec's data, on the run's device."""
        return self.real_with_labels(n, seed=seed)[0]

    def real_with_labels(
        self, n: int, *, seed: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``n`` distinct real samples and their labels (None when the data has none)."""
        check_int(n, "n")
        if seed is not None:
            check_seed(seed)
        gen = local_generator(self.seed if seed is None else seed, STREAM_REAL)
        # A DataLoader draws its order (shuffle) and its workers' seed from torch's global
        # RNG each time it is iterated: seeded from the run's stream, then put back.
        caller_rng = RNGState.capture()
        try:
            torch.default_generator.manual_seed(
                derive_seed(self.seed if seed is None else seed, STREAM_REAL_LOADER)
            )
            x, y = (self.source or self.spec.source).real(n, gen)
        finally:
            caller_rng.restore()
        return x.to(self.device), (None if y is None else y.to(self.device))

    def __repr__(self) -> str:
        return (
            f"GANRun({self.name!r}, steps={self.steps}, seed={self.seed}, device={self.device}, "
            f"{self.elapsed:.1f}s)"
        )


def require_run(run: Any, check: str) -> GANRun:
    """``run`` itself, or a ``TypeError`` naming the argument and the check."""
    if not isinstance(run, GANRun):
        raise TypeError(
            f"{check}: run must be a GANRun (from pytest_gan.train); got {type(run).__name__}"
        )
    return run


def judged_at_first_steps(run: GANRun, check: str) -> int | None:
    """The steps at which ``check`` judges ``run`` where that is not the run's own: a run
    trained on past its first steps only to decide another check's waiting verdict keeps
    ``check``'s verdict at its first steps (:func:`verdict_at_first_steps`). None where
    the check judges the run as it is."""
    if check not in run.first_verdicts or not run.extensions:
        return None
    if run.extendable and run.steps != run.extensions[-1]["to"]:
        return None
    failure = run.first_verdicts[check]
    if failure is None:
        return run.first_verdicts_at.get(check, run.first_steps)
    return int(failure.evidence.get("judged_at_steps", run.first_steps))


def verdict_at_first_steps(run: GANRun, check: str, own: tuple[str, ...] = ()) -> bool:
    """For a run trained on past its first steps only to decide another check's waiting
    verdict (``deciding.settle``), ``check``'s verdict at those first steps, the steps it
    was calibrated at: its failure raised again, saying so, or True for a pass. False
    where none was recorded, or where the run was trained on by hand since
    (``extend`` past the last of those extensions): the check judges the run as it is."""
    __tracebackhide__ = True
    at = judged_at_first_steps(run, check)
    if at is None:
        return False
    failure = run.first_verdicts[check]
    if failure is None:
        return True
    # What the run was trained on for, but the check's ``own`` pitfalls (a balance failure
    # below the calibrated steps waits for them itself).
    pending = sorted({p for e in run.extensions for p in e.get("pending", ()) if p not in own})
    if check not in run.first_verdicts_at:
        when = (
            f"Judged at the run's first {at} steps, the verdict this check gives at the "
            "steps it was asked for"
        )
    else:
        when = (
            f"Judged at {at} steps, the first the run was trained on to at or past the "
            f"{_defaults.CALIBRATED_STEPS} this check's thresholds were measured at (it was "
            f"asked for {run.first_steps})"
        )
    raise GANAssertionError(
        f"{failure}\n\n{when}; the run was then trained on to {run.steps} steps "
        f"only to decide {', '.join(pending) or 'a waiting verdict'}.",
        pitfall=failure.pitfall,
        evidence=failure.evidence,
    )


def short_run_note(run: GANRun) -> str:
    """For a balance verdict taken on ``run`` as it is: where the run has fewer steps
    than the thresholds were measured at (``_defaults.CALIBRATED_STEPS``), that a healthy
    GAN can look like this so early, and how to decide it; else ""."""
    calibrated = _defaults.CALIBRATED_STEPS
    if run.steps >= calibrated:
        return ""
    note = (
        f"Judged at {run.steps} steps, fewer than the {calibrated} at which this check's "
        "thresholds were measured: a healthy GAN can look like this so early. "
    )
    if getattr(run, "watched", False):
        return note + (
            f"Run the loop for {calibrated} steps under watch to decide it (the smoke suite "
            "runs an offered loop again for twice the steps while such a verdict is "
            "undecided)."
        )
    if not run.extendable:
        return note + f"Train the run for {calibrated} steps to decide it."
    if run.extensions:
        return note + (
            f"It was trained on from {run.first_steps} steps, but its budget ended before "
            f"{calibrated}: allow at least {calibrated} (max_steps={calibrated}, or "
            f"--gan-max-steps {calibrated} in the smoke suite) to decide it."
        )
    return note + (
        f"train(spec, steps={run.first_steps}, max_steps={calibrated}) trains on to decide "
        "it, as the smoke suite does."
    )


@contextmanager
def noting_short_run(run: GANRun) -> Iterator[None]:
    """A verdict raised inside, taken on ``run`` as it is, with :func:`short_run_note`
    added to its message."""
    __tracebackhide__ = True
    try:
        yield
    except GANAssertionError as exc:
        note = short_run_note(run)
        if not note:
            raise
        raise GANAssertionError(
            f"{exc}\n\n{note}", pitfall=exc.pitfall, evidence=exc.evidence
        ) from None


def require_instrumented(run: GANRun, check: str) -> Wiring:
    """The run's wiring record, or a ``ValueError`` for a run trained without the
    instrumentation every such check reads."""
    wiring = run.history.wiring
    if wiring is None:
        raise ValueError(
            f"{check}: run was trained with instrument=False, so it holds none of the "
            "records this check reads; train it with the default instrument=True"
        )
    return wiring
