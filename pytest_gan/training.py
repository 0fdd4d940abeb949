"""``train()``: a short, instrumented, reproducible training run (its result, ``GANRun``, is in
``pytest_gan.run``; its time limit in ``pytest_gan.limits``; the built-in losses in
``pytest_gan.losses``).
"""

from __future__ import annotations

import math
import signal
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import nn

from pytest_gan import _defaults
from pytest_gan._args import check_int, check_seed
from pytest_gan.deciding import recorded_failures, settle
from pytest_gan.devices import CUBLAS_CONTEXT_WARNING, resolve_device
from pytest_gan.errors import GANTrainingError
from pytest_gan.history import History
from pytest_gan.instrument import Instrument, as_float
from pytest_gan.limits import (
    MIN_ALARM_S,
    PHASE_SATURATION,
    PHASE_STEPS,
    Deadline,
    TimeLimitInterrupt,
    can_interrupt,
    check_time_limit,
)
from pytest_gan.losses import BY_RANGE, LOSSES, call_d, gradient_norms, samples_of, score_of
from pytest_gan.probing import (
    Prober,
    data_dtype,
    forced_span,
    preserved_state,
    saturation_probe,
)
from pytest_gan.rng import RNGState, local_generator, seed_everything
from pytest_gan.run import STREAM_DATA, STREAM_PROBE, GANRun
from pytest_gan.spec import GANSpec, latent_dtype, materialize_lazy, validate_networks


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
        check_int(n, "n")
        if labels is not None and labels.shape[0] != n:
            raise ValueError(f"labels must hold n={n} labels; got {labels.shape[0]}")
        return torch.randn(n, *self.latent_shape, device=self.device).to(
            latent_dtype(self.generator)
        )

    def labels(self, n: int) -> torch.Tensor:
        """``n`` class labels drawn uniformly, on ``device`` (conditional specs only)."""
        check_int(n, "n")
        if self.num_classes is None:
            raise ValueError("labels() needs a conditional spec (num_classes is None)")
        return torch.randint(0, self.num_classes, (n,), device=self.device)


def _d(ctx: TrainContext, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
    return score_of(call_d(ctx.discriminator, x, y))


def _g(ctx: TrainContext, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
    return samples_of(ctx.generator(z) if y is None else ctx.generator(z, y))


def _gradient_penalty(
    ctx: TrainContext, real: torch.Tensor, fake: torch.Tensor, y: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    alpha = torch.rand(
        real.shape[0], *([1] * (real.ndim - 1)), device=real.device, dtype=real.dtype
    )
    mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    # Each sample's own score: a D that averages over the batch would give each gradient
    # divided by the batch size (a D that packs samples, each pack's).
    norms = gradient_norms(ctx.discriminator, mixed, y, create_graph=True)
    return ((norms - 1) ** 2).mean(), norms.mean().detach()


def builtin_step(ctx: TrainContext, batch: Any) -> dict[str, torch.Tensor]:
    """The step ``train`` runs when the spec has no ``train_step``: ``n_critic`` D updates
    on detached fakes, then one G update, each preceded by its own ``zero_grad``."""
    loss = LOSSES[ctx.spec.loss]
    real, y = batch if isinstance(batch, tuple) else (batch, None)
    n = real.shape[0]
    out: dict[str, torch.Tensor] = {}
    for _ in range(ctx.spec.n_critic):
        y_fake = ctx.labels(n) if y is not None else None
        with torch.no_grad():
            fake = _g(ctx, ctx.latent(n), y_fake)
        d_real = _d(ctx, real, y)
        d_fake = _d(ctx, fake, y_fake)
        d_loss = loss.d_loss(d_real, d_fake)
        if loss.gradient_penalty:
            # The interpolates pair each real with a fake of the same label.
            gp, gp_norm = _gradient_penalty(ctx, real, fake, y)
            d_loss = d_loss + _defaults.GP_LAMBDA * gp
            out["gp"], out["gp_grad_norm"] = gp.detach(), gp_norm
        ctx.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        ctx.opt_d.step()
    y_fake = ctx.labels(n) if y is not None else None
    g_out = _d(ctx, _g(ctx, ctx.latent(n), y_fake), y_fake)
    g_loss = loss.g_loss(g_out)
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
    #: The training batch the final saturation probe runs the step on: as many samples as
    #: a training step gets (on the CPU, as the data gives it).
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
        deadline: Deadline,
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
            deadline.phase = PHASE_STEPS
            for step in range(start, stop):
                ctx.step = step
                batch = _step_batch(_to_device(next(self.stream), device, self.conditional))
                try:
                    losses = self.step_fn(ctx, batch)
                except Exception as exc:
                    raise GANTrainingError(
                        f"{spec.name}: the training step raised at step {step} of {stop}: "
                        f"{type(exc).__name__}: {exc}{step_error_hint(exc, instrument)}"
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

    def saturate(self, steps: int, deadline: Deadline) -> None:
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
        deadline.phase = PHASE_SATURATION
        saturation = saturation_probe(
            self.step_fn,
            make_context,
            ctx.generator,
            ctx.discriminator,
            _step_batch(_to_device(self.probe_batch, ctx.device, self.conditional)),
            self.prober.holdout,
        )
        span = forced_span(ctx.discriminator, self.prober.holdout)
        self.history.saturation = replace(saturation, d_output_span_forced=span)
        deadline.check()


#: What torch says when a backward pass reaches a graph an earlier one freed ...
FREED_GRAPH = "backward through the graph a second time"
#: ... and when a tensor a backward pass needs was changed in place since it was saved.
CHANGED_IN_PLACE = "modified by an inplace operation"


def step_error_hint(exc: BaseException, instrument: Instrument | None) -> str:
    """The likely cause of one of torch's two autograd errors a GAN step is prone to, and
    its fix: what the hooks saw before the error where they saw something (each network's
    optimizer steps so far in the step, G's parameters written by a backward pass run
    while D was trainable), else the usual cause. Empty for any other error. The hooks
    see which tensors were written and stepped, not which loss wrote them, so the cause
    is named as the likely one, never as a fact.

    ``FREED_GRAPH``: D's loss computed on G's output without ``.detach()``, so that D's
    backward pass went on through G and freed G's graph, which G's own loss then needed.
    ``CHANGED_IN_PLACE``: a loss computed from a network's outputs taken before that
    network's optimizer step (which updates weights in place) and back-propagated after
    it: G's loss reusing D's scores from before ``opt_d.step()``, or, with G stepped
    first, D's loss on fakes not detached from before ``opt_g.step()``."""
    if not isinstance(exc, RuntimeError):
        return ""
    counts = instrument.counts if instrument is not None else {}
    detach = "Score fake.detach() in D's step (pitfall d-step-leaks-into-generator)"
    if FREED_GRAPH in str(exc):
        fix = detach + "; retain_graph=True would silence the error and keep the leak."
        written = counts.get("d_step_g_grads", 0)
        if written and instrument is not None:
            # Summed over the D steps taken so far in this step: per D step, at most all.
            each = min(math.ceil(written / max(counts["d_updates"], 1)), len(instrument.g_indices))
            return (
                f" (Before the error, D's optimizer step found {each} of G's "
                f"{len(instrument.g_indices)} parameter tensors written by a backward pass "
                "run while D was trainable: most likely D's loss reached G through fakes "
                "that were not detached, and that pass freed G's graph. " + fix + ")"
            )
        return (
            " (In a GAN step the usual cause is D's loss computed on G's output without "
            ".detach(): D's backward pass goes on through G and frees G's graph, which G's "
            "loss needs, or the reverse. " + fix + ")"
        )
    if CHANGED_IN_PLACE in str(exc):
        rescore = (
            "Compute G's loss from a fresh D(fake) after opt_d.step(), not from the scores "
            "D's loss used."
        )
        other = (
            " An in-place operation (an activation with inplace=True, a tensor changed with "
            "a trailing-underscore method) on a tensor the backward pass needs is the other "
            "cause: torch's own message names the tensor."
        )
        d_stepped, g_stepped = counts.get("d_updates", 0), counts.get("g_updates", 0)
        if d_stepped:
            return (
                " (D's optimizer stepped earlier in this step, and an optimizer updates "
                "weights in place: most likely a loss computed from D's outputs taken before "
                "that step, such as G's loss reusing D's scores of the fakes, was "
                "back-propagated through them afterwards. " + rescore + other + ")"
            )
        if g_stepped:
            return (
                " (G's optimizer stepped earlier in this step, and an optimizer updates "
                "weights in place: most likely D's loss, computed on fakes made before that "
                "step and not detached, was back-propagated into G's changed weights. "
                + detach
                + "."
                + other
                + ")"
            )
        return (
            " (In a GAN step the usual cause is a loss computed from a network's outputs "
            "taken before that network's optimizer step, which updates its weights in "
            "place: G's loss reusing the scores D's loss used, before opt_d.step(). "
            + rescore
            + other
            + ")"
        )
    return ""


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
    check_int(steps, "steps")
    check_seed(seed)
    if progress is not None and not callable(progress):
        raise TypeError(f"progress must be None or a callable; got {type(progress).__name__}")
    limit = check_time_limit(time_limit)
    if max_steps is not None:
        check_int(max_steps, "max_steps")
        if max_steps < steps:
            raise ValueError(f"max_steps must be at least steps={steps}; got {max_steps}")
    if not isinstance(stop_early, bool):
        raise TypeError(f"stop_early must be a bool; got {type(stop_early).__name__}")
    stop_when: Callable[[History], list[str]] | None = None
    if stop_early and instrument:
        stop_when = recorded_failures
    deadline = Deadline(limit, steps, str(spec.name))
    dev = resolve_device(device)
    alarm = limit is not None and can_interrupt()
    previous_handler: Any = signal.SIG_DFL
    caller_rng = RNGState.capture()
    try:
        seed_everything(seed)
        with warnings.catch_warnings():
            # The first backward on a CUDA device runs in autograd's device thread before
            # any CUDA context is current there; torch warns and sets the primary context
            # itself. Harmless, but fatal under pytest's filterwarnings = error.
            warnings.filterwarnings("ignore", message=CUBLAS_CONTEXT_WARNING)
            try:
                try:
                    if alarm:
                        assert limit is not None
                        previous_handler = signal.signal(signal.SIGALRM, deadline.on_alarm)
                        deadline.interrupting = True
                        remaining = max(limit - deadline.elapsed(), MIN_ALARM_S)
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
            except TimeLimitInterrupt as exc:
                raise deadline.error(interrupted=True) from exc
    finally:
        caller_rng.restore()
    if max_steps is not None and max_steps > steps and instrument and not run.stopped_early:
        left = None if limit is None else max(limit - deadline.elapsed(), MIN_ALARM_S)
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
    z_probe = torch.randn(n_probe, *spec.latent_shape, generator=probe_gen).to(
        device, latent_dtype(generator)
    )
    fake_labels = (
        (torch.arange(n_probe) % spec.num_classes).to(device)
        if spec.num_classes is not None
        else None
    )
    loss = LOSSES[spec.loss]
    # A user's own step may end D in a Sigmoid (probabilities, boundary 1/2) rather than
    # return logits (boundary 0): the prober tells them apart by their range.
    scores = BY_RANGE if spec.train_step is not None and loss.threshold == 0.0 else loss.scores
    return Prober(
        generator=generator,
        discriminator=discriminator,
        z=z_probe,
        fake_labels=fake_labels,
        holdout=_to_device(holdout, device, conditional),
        held_out=held_out,
        train_batch=_to_device(train_batch, device, conditional),
        threshold=loss.threshold,
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
    deadline: Deadline,
    stop_when: Callable[[History], list[str]] | None = None,
) -> GANRun:
    __tracebackhide__ = True
    started = time.perf_counter()
    generator = spec.make_generator().to(device)
    discriminator = spec.make_discriminator().to(device)
    generator.train()
    discriminator.train()
    # The run's own view of the data: samples in D's dtype where D takes no other.
    source = spec.source.in_dtype(data_dtype(spec, discriminator, device))
    materialize_lazy(spec, generator, discriminator, device, source)
    with preserved_state(generator, discriminator):
        validate_networks(spec, generator, discriminator, device, source)
    initial_state = {k: v.detach().to("cpu", copy=True) for k, v in generator.state_dict().items()}
    opt_g, opt_d = _optimizers(spec, generator, discriminator)

    data_gen = local_generator(seed, STREAM_DATA)
    probe_gen = local_generator(seed, STREAM_PROBE)
    train_idx, holdout_idx = source.split(data_gen)
    holdout, held_out = source.holdout_batch(holdout_idx, _defaults.PROBE_BATCH, probe_gen)
    train_probe = (
        source.gather(train_idx[: _defaults.PROBE_BATCH]) if train_idx is not None else holdout
    )
    conditional = spec.conditional
    # The saturation probe's batch, as many samples as a step gets; drawn with the caller's
    # RNG states left as they were (a Dataset's random transforms draw from them), and
    # kept on the CPU until the probe runs.
    caller_rng = RNGState.capture()
    try:
        step_sized = source.step_sized(spec.batch_size, train_idx)
    finally:
        caller_rng.restore()
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
        probe_batch=step_sized,
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
        source=source,
    )
