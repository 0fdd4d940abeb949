"""``train()``: a short, instrumented, reproducible training run, and the ``GANRun`` it gives.

The built-in losses follow their papers: ``bce`` is the non-saturating loss of Goodfellow
et al. (2014) on logits, ``hinge`` the one of Lim & Ye (2017) / Miyato et al. (2018),
``wgan-gp`` the critic loss with gradient penalty of Gulrajani et al. (2017), ``lsgan`` the
least-squares loss of Mao et al. (2017) with targets 1 (real) and 0 (fake).
"""

from __future__ import annotations

import copy
import math
import numbers
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from pytest_gan import _defaults
from pytest_gan.devices import resolve_device
from pytest_gan.instrument import (
    AUTO_THRESHOLD,
    History,
    Instrument,
    Prober,
    as_float,
    preserved_state,
    saturation_probe,
)
from pytest_gan.rng import RNGState, local_generator, seed_everything
from pytest_gan.spec import GANSpec, validate_networks

# Independent random streams of a run, each seeded from the run's seed.
_STREAM_DATA = 1
_STREAM_PROBE = 2
_STREAM_SAMPLES = 3
_STREAM_REAL = 4

# Decision threshold on D's raw output for each built-in loss (logits for bce and hinge,
# targets 0/1 for lsgan); None: no fixed boundary (a WGAN critic), split at the midpoint.
_THRESHOLDS: dict[str, float | None] = {"bce": 0.0, "hinge": 0.0, "lsgan": 0.5, "wgan-gp": None}
# What D's output says about its belief that a sample is real: a logit (bce), a
# probability-like target of 0/1 (lsgan), or a score with no such reading (hinge, WGAN).
_SCORES: dict[str, str] = {
    "bce": "logit",
    "hinge": "score",
    "lsgan": "probability",
    "wgan-gp": "score",
}


_CUBLAS_CONTEXT_WARNING = "Attempting to run cuBLAS, but there was no current CUDA context"


class GANTrainingError(RuntimeError):
    """A training step raised: the message names the spec and the step."""


# The shortest alarm ``train`` arms: ``setitimer`` treats 0 as "disarm", so a limit that is
# already (nearly) spent when the alarm is armed still fires, just after this many seconds.
_MIN_ALARM_S = 1e-3

# What the run was doing, for a time-limit message: before the steps, in them, after them.
_PHASE_SETUP = "setting up the run (building and validating the networks, the first probe)"
_PHASE_STEPS = "running the steps"
_PHASE_SATURATION = "running the final saturation probe"


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


class _TimeLimitInterrupt(BaseException):
    """Raised by the SIGALRM handler inside whatever the run was doing.

    A BaseException, so that neither a user's ``except Exception`` in their step nor the
    wrapping of step errors into :class:`GANTrainingError` can swallow it; ``train`` turns
    it into a :class:`GANTimeLimitError`.
    """


@dataclass
class _Deadline:
    """The wall-clock budget of one ``train`` call and where the run is, for the SIGALRM
    handler and the check after each step to read."""

    limit: float | None
    steps: int
    spec_name: str
    started: float = field(default_factory=time.perf_counter)
    #: The run's context once it exists: its ``step`` is the step the run is at.
    ctx: TrainContext | None = None
    phase: str = _PHASE_SETUP
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
            raise _TimeLimitInterrupt


def _check_time_limit(time_limit: object) -> float | None:
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


def _can_interrupt() -> bool:
    """Whether ``train`` may arm its own SIGALRM: POSIX, the main thread, and no ITIMER_REAL
    timer armed already (pytest-timeout's signal method, or the caller's own alarm)."""
    if sys.platform == "win32":
        return False
    return (
        threading.current_thread() is threading.main_thread()
        and signal.getitimer(signal.ITIMER_REAL)[0] == 0
    )


@dataclass
class TrainContext:
    """What a user's ``train_step(ctx, batch)`` gets.

    ``batch`` is the real batch on ``device``: a Tensor, or ``(x, y)`` for a conditional
    spec. ``latent(n)`` samples z; ``labels(n)`` samples class labels for fakes.
    """

    generator: nn.Module
    discriminator: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    device: torch.device
    batch_size: int
    spec: GANSpec
    step: int = 0
    num_classes: int | None = None
    latent_shape: tuple[int, ...] = ()

    def latent(self, n: int, labels: torch.Tensor | None = None) -> torch.Tensor:
        """``n`` latent vectors of the spec's shape, standard normal, on ``device``.

        ``labels`` is accepted for symmetry with ``generator(z, labels)``; when given its
        length must be ``n``.
        """
        _check_count(n, "n")
        if labels is not None and labels.shape[0] != n:
            raise ValueError(f"labels must hold n={n} labels; got {labels.shape[0]}")
        return torch.randn(n, *self.latent_shape, device=self.device)

    def labels(self, n: int) -> torch.Tensor:
        """``n`` class labels drawn uniformly, on ``device`` (conditional specs only)."""
        _check_count(n, "n")
        if self.num_classes is None:
            raise ValueError("labels() needs a conditional spec (num_classes is None)")
        return torch.randint(0, self.num_classes, (n,), device=self.device)


def _check_count(n: object, argument: str) -> None:
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"{argument} must be an int; got {type(n).__name__}")
    if n < 1:
        raise ValueError(f"{argument} must be at least 1; got {n}")


def _d(ctx: TrainContext, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
    out: torch.Tensor = ctx.discriminator(x) if y is None else ctx.discriminator(x, y)
    return out


def _g(ctx: TrainContext, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
    out: torch.Tensor = ctx.generator(z) if y is None else ctx.generator(z, y)
    return out


def _d_loss(loss: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    if loss == "bce":
        return F.softplus(-real).mean() + F.softplus(fake).mean()
    if loss == "hinge":
        return F.relu(1 - real).mean() + F.relu(1 + fake).mean()
    if loss == "lsgan":
        return 0.5 * ((real - 1) ** 2).mean() + 0.5 * (fake**2).mean()
    return fake.mean() - real.mean()


def _g_loss(loss: str, fake: torch.Tensor) -> torch.Tensor:
    if loss == "bce":
        return F.softplus(-fake).mean()
    if loss == "lsgan":
        return 0.5 * ((fake - 1) ** 2).mean()
    return -fake.mean()


def _gradient_penalty(
    ctx: TrainContext, real: torch.Tensor, fake: torch.Tensor, y: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    alpha = torch.rand(
        real.shape[0], *([1] * (real.ndim - 1)), device=real.device, dtype=real.dtype
    )
    mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    out = _d(ctx, mixed, y)
    (grad,) = torch.autograd.grad(out.sum(), mixed, create_graph=True)
    norms = grad.reshape(grad.shape[0], -1).norm(dim=1)
    return ((norms - 1) ** 2).mean(), norms.mean().detach()


def builtin_step(ctx: TrainContext, batch: Any) -> dict[str, torch.Tensor]:
    """The step ``train`` runs when the spec has no ``train_step``: ``n_critic`` D updates
    on detached fakes, then one G update, each preceded by its own ``zero_grad``."""
    loss = ctx.spec.loss
    real, y = batch if isinstance(batch, tuple) else (batch, None)
    n = real.shape[0]
    out: dict[str, torch.Tensor] = {}
    for _ in range(ctx.spec.n_critic):
        y_fake = ctx.labels(n) if y is not None else None
        with torch.no_grad():
            fake = _g(ctx, ctx.latent(n), y_fake)
        d_real = _d(ctx, real, y)
        d_fake = _d(ctx, fake, y_fake)
        d_loss = _d_loss(loss, d_real, d_fake)
        if loss == "wgan-gp":
            # The interpolates pair each real with a fake of the same label.
            gp, gp_norm = _gradient_penalty(ctx, real, fake, y)
            d_loss = d_loss + _defaults.GP_LAMBDA * gp
            out["gp"], out["gp_grad_norm"] = gp.detach(), gp_norm
        ctx.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        ctx.opt_d.step()
    y_fake = ctx.labels(n) if y is not None else None
    g_out = _d(ctx, _g(ctx, ctx.latent(n), y_fake), y_fake)
    g_loss = _g_loss(loss, g_out)
    ctx.opt_g.zero_grad(set_to_none=True)
    g_loss.backward()
    ctx.opt_g.step()
    out.update(
        d_loss=d_loss.detach(),
        g_loss=g_loss.detach(),
        d_real=d_real.detach().mean(),
        d_fake=d_fake.detach().mean(),
    )
    return out


def default_optimizers(
    generator: nn.Module, discriminator: nn.Module
) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
    """Adam with DCGAN's settings for both networks."""
    return (
        torch.optim.Adam(generator.parameters(), lr=_defaults.LR, betas=_defaults.BETAS),
        torch.optim.Adam(discriminator.parameters(), lr=_defaults.LR, betas=_defaults.BETAS),
    )


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
class _Loop:
    """What a run needs to go on training where it stopped: its step, its data stream,
    its probes, and the training's own global RNG state at the step it stopped after."""

    spec: GANSpec
    step_fn: Callable[[TrainContext, Any], Any]
    ctx: TrainContext
    stream: Any
    prober: Prober
    history: History
    instrumented: bool
    conditional: bool
    #: The training batch the final saturation probe runs the step on.
    probe_batch: Any
    #: The global RNG states the steps left behind (torch, CUDA, numpy, random), put back
    #: when the run goes on, so that an extended run draws what one longer run would.
    rng: RNGState | None = None

    def __deepcopy__(self, memo: dict[int, Any]) -> None:
        # A data stream cannot be copied: a copy of a run (copy.deepcopy(run)) is one that
        # cannot be extended, and the original keeps going where it stopped.
        return None

    def advance(
        self,
        start: int,
        stop: int,
        progress: Callable[[int, int], None] | None,
        deadline: _Deadline,
        stop_when: Callable[[History], list[str]] | None = None,
    ) -> dict[str, Any] | None:
        """Steps ``start`` to ``stop - 1``, instrumented and probed; probe 0 first when
        ``start`` is 0. Leaves the training's RNG state in :attr:`rng`.

        ``stop_when(history)``, read after each instrumented step, names the pitfalls the
        run already fails for certain: when it names any, the steps end there (with a probe
        at that step) and ``{"at", "of", "pitfalls"}`` is returned; else None."""
        __tracebackhide__ = True
        spec, ctx, prober, history = self.spec, self.ctx, self.prober, self.history
        device = ctx.device
        # At most MAX_PROBES probes over this stretch, evenly spaced.
        prober.every = max(1, math.ceil((stop - start) / _defaults.MAX_PROBES))
        instrument = (
            Instrument(ctx.generator, ctx.discriminator, ctx.opt_g, ctx.opt_d, history)
            if self.instrumented
            else None
        )
        stopped: dict[str, Any] | None = None
        try:
            if instrument is not None and start == 0:
                prober.probe(0)
            deadline.phase = _PHASE_STEPS
            for step in range(start, stop):
                ctx.step = step
                batch = _step_batch(_to_device(next(self.stream), device, self.conditional))
                try:
                    losses = self.step_fn(ctx, batch)
                except Exception as exc:
                    raise GANTrainingError(
                        f"{spec.name}: the training step raised at step {step} of {stop}: "
                        f"{type(exc).__name__}: {exc}"
                    ) from exc
                if not isinstance(losses, Mapping):
                    raise TypeError(
                        "train_step must return a mapping of losses (with 'd_loss' and "
                        f"'g_loss'); it returned {type(losses).__name__}"
                    )
                if instrument is not None:
                    instrument.end_step(step, losses)
                    found = stop_when(history) if stop_when is not None else []
                    if found:
                        stopped = {"at": step + 1, "of": stop, "pitfalls": found}
                    if (step + 1 - start) % prober.every == 0 or step + 1 == stop or stopped:
                        prober.probe(step + 1)
                else:
                    history.append(step, {str(k): as_float(v, str(k)) for k, v in losses.items()})
                if progress is not None:
                    progress(step + 1, stop)
                deadline.check()
                if stopped is not None:
                    break
        finally:
            if instrument is not None:
                instrument.remove()
        self.rng = RNGState.capture()
        return stopped

    def saturate(self, steps: int, deadline: _Deadline) -> None:
        """The final saturation probe: the step re-run on copies of the networks."""
        if not self.instrumented:
            return
        spec, ctx = self.spec, self.ctx

        def make_context(g: nn.Module, d: nn.Module) -> TrainContext:
            opt_g2, opt_d2 = _optimizers(spec, g, d)
            return replace(
                ctx, generator=g, discriminator=d, opt_g=opt_g2, opt_d=opt_d2, step=steps
            )

        # Training samples: the step never sees the held-out ones, not even here.
        ctx.step = steps  # the probe's own context says steps too
        deadline.phase = _PHASE_SATURATION
        self.history.saturation = saturation_probe(
            self.step_fn, make_context, ctx.generator, ctx.discriminator, self.probe_batch
        )
        deadline.check()


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
        _check_count(steps, "steps")
        if progress is not None and not callable(progress):
            raise TypeError(f"progress must be None or a callable; got {type(progress).__name__}")
        limit = _check_time_limit(time_limit)
        loop = self._loop
        if loop is None or loop.rng is None:
            raise ValueError(f"{self.name}: this run cannot be extended (run.extendable is False)")
        start, stop = self.steps, self.steps + steps
        deadline = _Deadline(limit, stop, self.name)
        deadline.ctx = loop.ctx
        started = time.perf_counter()
        caller_rng = RNGState.capture()
        try:
            loop.rng.restore()
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=_CUBLAS_CONTEXT_WARNING)
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
        _check_count(n, "n")
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

    def _draw(
        self,
        n: int,
        labels: torch.Tensor | int | None,
        seed: int | None,
        mode: str,
        initial: bool,
        latent_scale: float,
    ) -> torch.Tensor:
        stream_seed = self.seed if seed is None else seed
        cpu_gen = local_generator(stream_seed, _STREAM_SAMPLES)
        y = self._sample_labels(n, labels, cpu_gen)
        z = latent_scale * torch.randn(n, *self.spec.latent_shape, generator=cpu_gen).to(
            self.device
        )
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
                    generator(
                        *(
                            (z[i : i + chunk],)
                            if y is None
                            else (z[i : i + chunk], y[i : i + chunk])
                        )
                    )
                    for i in range(0, n, chunk)
                ]
        finally:
            generator.train(was_training)
        return torch.cat(parts).detach()

    def real(self, n: int, *, seed: int | None = None) -> torch.Tensor:
        """``n`` distinct real samples from the spec's data, on the run's device."""
        return self.real_with_labels(n, seed=seed)[0]

    def real_with_labels(
        self, n: int, *, seed: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``n`` distinct real samples and their labels (None when the data has none)."""
        _check_count(n, "n")
        gen = local_generator(self.seed if seed is None else seed, _STREAM_REAL)
        x, y = self.spec.source.real(n, gen)
        return x.to(self.device), (None if y is None else y.to(self.device))

    def __repr__(self) -> str:
        return (
            f"GANRun({self.name!r}, steps={self.steps}, seed={self.seed}, device={self.device}, "
            f"{self.elapsed:.1f}s)"
        )


def _optimizers(
    spec: GANSpec, g: nn.Module, d: nn.Module
) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
    pair = (spec.optimizers or default_optimizers)(g, d)
    if (
        not isinstance(pair, (tuple, list))
        or len(pair) != 2
        or not all(isinstance(o, torch.optim.Optimizer) for o in pair)
    ):
        raise TypeError(
            "optimizers must return a pair (opt_g, opt_d) of torch.optim.Optimizer; it returned "
            f"{type(pair).__name__}"
        )
    return pair[0], pair[1]


def _to_device(
    batch: tuple[torch.Tensor, torch.Tensor | None], device: torch.device, conditional: bool
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """A batch moved to ``device``; labels kept only for a conditional spec."""
    x, y = batch
    x = x.to(device, non_blocking=True)
    return x, (y.to(device, non_blocking=True) if conditional and y is not None else None)


def _step_batch(batch: tuple[torch.Tensor, torch.Tensor | None]) -> Any:
    """What a step receives: ``x``, or ``(x, y)`` for a conditional spec."""
    x, y = batch
    return x if y is None else (x, y)


def train(
    spec: GANSpec,
    steps: int = _defaults.STEPS,
    device: str | torch.device | None = _defaults.DEVICE,
    seed: int = _defaults.SEED,
    *,
    progress: Callable[[int, int], None] | None = None,
    instrument: bool = True,
    time_limit: float | None = None,
    max_steps: int | None = None,
    stop_early: bool = False,
) -> GANRun:
    """Train ``spec`` for ``steps`` generator updates and return the instrumented run.

    ``max_steps`` (None: ``steps``) lets a run that a statistical check would fail on
    train on, its steps doubled each time up to ``max_steps``, until the check passes or
    the budget is spent (``pytest_gan.deciding``): a slow but healthy GAN is then judged
    when it has left its start, and a broken one still fails. ``run.steps`` is where it
    stopped, ``run.extensions`` says why.

    ``stop_early=True`` (the smoke suite's setting) ends the training at the first step
    after which a failure is certain from the exact records (a NaN or infinite loss, a D
    step whose gradient reached G's update, gradients not reset, optimizers that miss
    parameters: ``pytest_gan.deciding.recorded_failures``); ``run.steps`` is then the step
    it stopped after, ``run.stopped_early`` says where and why (``{"at", "of",
    "pitfalls"}``; None for a run trained to the end), and the run is not trained on.
    Checks that judge the whole run (learning, spread, balance) cannot judge such a run.

    The same spec, seed, steps and device give the same run on CPU, bit for bit; the
    caller's global RNG states (torch, CUDA, numpy, random) are restored on return.
    ``progress(done, total)`` is called after each step when given. ``instrument=False``
    trains the very same way with no hooks and no probes (the history then holds the
    losses only): for measuring what the instrumentation costs, which it never changes.

    ``time_limit`` (seconds; None: no limit) bounds the whole call: building and
    validating the networks, the steps, the probes and the final saturation probe. Past
    it, ``train`` raises :class:`GANTimeLimitError` naming the step it was at; the run is
    otherwise the very same run as without a limit. The limit is checked after every step,
    everywhere. On POSIX, in the main thread, a SIGALRM timer (``ITIMER_REAL``) also
    interrupts a step that hangs inside Python (a ``time.sleep``, an endless loop, a data
    loader waiting forever), even under the step's own ``except Exception``; the previous
    handler is put back and the timer disarmed on return. The alarm is left alone, and
    only the check after each step applies, where it cannot be used: in another thread,
    on Windows, or when an ``ITIMER_REAL`` timer is armed already (pytest-timeout's
    ``signal`` method arms one). Code that runs in C without returning to Python (one long
    kernel) is interrupted only when it returns, and a step that catches every exception
    (a bare ``except:``) swallows the interrupt: the check after the step still stops it.
    """
    # pytest shows the caller's frame and, below it, the user's own step that raised (the
    # error's cause), not the engine's frames in between; --full-trace shows them all.
    __tracebackhide__ = True
    if not isinstance(spec, GANSpec):
        raise TypeError(f"spec must be a GANSpec; got {type(spec).__name__}")
    _check_count(steps, "steps")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int; got {type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"seed must be non-negative; got {seed}")
    if progress is not None and not callable(progress):
        raise TypeError(f"progress must be None or a callable; got {type(progress).__name__}")
    limit = _check_time_limit(time_limit)
    if max_steps is not None:
        _check_count(max_steps, "max_steps")
        if max_steps < steps:
            raise ValueError(f"max_steps must be at least steps={steps}; got {max_steps}")
    if not isinstance(stop_early, bool):
        raise TypeError(f"stop_early must be a bool; got {type(stop_early).__name__}")
    stop_when: Callable[[History], list[str]] | None = None
    if stop_early and instrument:
        # Imported here: deciding runs the checks, which import this module.
        from pytest_gan.deciding import recorded_failures

        stop_when = recorded_failures
    deadline = _Deadline(limit, steps, str(spec.name))
    dev = resolve_device(device)
    alarm = limit is not None and _can_interrupt()
    previous_handler: Any = signal.SIG_DFL
    caller_rng = RNGState.capture()
    try:
        seed_everything(seed)
        with warnings.catch_warnings():
            # The first backward on a CUDA device runs in autograd's device thread before
            # any CUDA context is current there; torch warns and sets the primary context
            # itself. Harmless, but fatal under pytest's filterwarnings = error.
            warnings.filterwarnings("ignore", message=_CUBLAS_CONTEXT_WARNING)
            try:
                try:
                    if alarm:
                        assert limit is not None
                        previous_handler = signal.signal(signal.SIGALRM, deadline.on_alarm)
                        deadline.interrupting = True
                        remaining = max(limit - deadline.elapsed(), _MIN_ALARM_S)
                        signal.setitimer(signal.ITIMER_REAL, remaining)
                    run = _run(spec, steps, dev, seed, progress, instrument, deadline, stop_when)
                finally:
                    # Inline, not in a helper: the alarm may fire at any call, and this
                    # clean-up must run whole. Once ``interrupting`` is cleared the handler
                    # is inert, and the handler is put back whatever happens.
                    if alarm:
                        try:
                            deadline.interrupting = False
                            signal.setitimer(signal.ITIMER_REAL, 0)
                        finally:
                            # None: the previous handler was not set from Python.
                            signal.signal(
                                signal.SIGALRM,
                                signal.SIG_DFL if previous_handler is None else previous_handler,
                            )
            except _TimeLimitInterrupt as exc:
                raise deadline.error(interrupted=True) from exc
    finally:
        caller_rng.restore()
    if max_steps is not None and max_steps > steps and instrument and not run.stopped_early:
        # Imported here: deciding runs the checks, which import this module.
        from pytest_gan.deciding import settle

        left = None if limit is None else max(limit - deadline.elapsed(), _MIN_ALARM_S)
        settle(run, max_steps, progress=progress, time_limit=left)
    return run


def make_prober(
    spec: GANSpec,
    generator: nn.Module,
    discriminator: nn.Module,
    device: torch.device,
    history: History,
    *,
    holdout: tuple[torch.Tensor, torch.Tensor | None],
    held_out: bool,
    train_batch: tuple[torch.Tensor, torch.Tensor | None],
    probe_gen: torch.Generator,
    every: int,
) -> Prober:
    """The probes of a run of ``spec``: its fixed z (drawn from ``probe_gen``), the real
    batches D is shown, and how D's outputs are read (by the spec's loss, or told by
    their range for a user's own step)."""
    conditional = spec.conditional
    # Fakes for the probes: a full probe batch even where few real samples are held out.
    size = spec.source.size()
    n_probe = holdout[0].shape[0] if size is None else min(_defaults.PROBE_BATCH, size)
    z_probe = torch.randn(n_probe, *spec.latent_shape, generator=probe_gen).to(device)
    fake_labels = (
        (torch.arange(n_probe) % spec.num_classes).to(device)
        if spec.num_classes is not None
        else None
    )
    threshold: float | str | None = _THRESHOLDS[spec.loss]
    if spec.train_step is not None and threshold == 0.0:
        # A user's own step may end D in a Sigmoid (probabilities, boundary 1/2) rather
        # than return logits (boundary 0): the prober tells them apart by their range.
        threshold = AUTO_THRESHOLD
    scores = AUTO_THRESHOLD if threshold == AUTO_THRESHOLD else _SCORES[spec.loss]
    return Prober(
        generator=generator,
        discriminator=discriminator,
        z=z_probe,
        fake_labels=fake_labels,
        holdout=_to_device(holdout, device, conditional),
        held_out=held_out,
        train_batch=_to_device(train_batch, device, conditional),
        threshold=threshold,
        scores=scores,
        every=every,
        history=history,
    )


def _run(
    spec: GANSpec,
    steps: int,
    device: torch.device,
    seed: int,
    progress: Callable[[int, int], None] | None,
    instrumented: bool,
    deadline: _Deadline,
    stop_when: Callable[[History], list[str]] | None = None,
) -> GANRun:
    __tracebackhide__ = True
    started = time.perf_counter()
    generator = spec.make_generator().to(device)
    discriminator = spec.make_discriminator().to(device)
    generator.train()
    discriminator.train()
    with preserved_state(generator, discriminator):
        validate_networks(spec, generator, discriminator, device)
    initial_state = {k: v.detach().to("cpu", copy=True) for k, v in generator.state_dict().items()}
    opt_g, opt_d = _optimizers(spec, generator, discriminator)

    data_gen = local_generator(seed, _STREAM_DATA)
    probe_gen = local_generator(seed, _STREAM_PROBE)
    source = spec.source
    train_idx, holdout_idx = source.split(data_gen)
    holdout, held_out = source.holdout_batch(holdout_idx, _defaults.PROBE_BATCH, probe_gen)
    train_probe = (
        source.gather(train_idx[: _defaults.PROBE_BATCH]) if train_idx is not None else holdout
    )
    conditional = spec.conditional
    history = History()
    prober = make_prober(
        spec,
        generator,
        discriminator,
        device,
        history,
        holdout=holdout,
        held_out=held_out,
        train_batch=train_probe,
        probe_gen=probe_gen,
        every=max(1, math.ceil(steps / _defaults.MAX_PROBES)),
    )
    ctx = TrainContext(
        generator=generator,
        discriminator=discriminator,
        opt_g=opt_g,
        opt_d=opt_d,
        device=device,
        batch_size=spec.batch_size,
        spec=spec,
        num_classes=spec.num_classes,
        latent_shape=spec.latent_shape,
    )
    deadline.ctx = ctx  # the step the run is at, from here on (0 until the first step)
    loop = _Loop(
        spec=spec,
        step_fn=spec.train_step or builtin_step,
        ctx=ctx,
        stream=source.batches(spec.batch_size, train_idx, data_gen),
        prober=prober,
        history=history,
        instrumented=instrumented,
        conditional=conditional,
        probe_batch=_step_batch(_to_device(train_probe, device, conditional)),
    )
    stopped = loop.advance(0, steps, progress, deadline, stop_when)
    if stopped is not None:
        steps = stopped["at"]
    elapsed = time.perf_counter() - started
    loop.saturate(steps, deadline)
    return GANRun(
        spec=spec,
        generator=generator,
        discriminator=discriminator,
        opt_g=opt_g,
        opt_d=opt_d,
        history=history,
        device=device,
        seed=seed,
        steps=steps,
        data_range=spec.data_range or source.infer_range(),
        elapsed=elapsed,
        initial_generator_state=initial_state,
        _holdout_indices=holdout_idx,
        _loop=loop,
        stopped_early=stopped,
    )
