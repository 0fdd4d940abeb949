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
* Probes (``probing.Prober``) run after G's update every ``every`` steps, starting at
  ``WATCH_FIRST_EVERY``; when more than ``WATCH_MAX_PROBES`` have been kept, every other
  one is dropped and ``every`` doubles. A loop of any length keeps between half that many
  and that many evenly spaced probes, without knowing its length in advance. One more
  probe is taken when the block exits, of the final networks.
* The loss is read from the loop's first G update: the functions applied to D's outputs
  (``probing.LossOps``, a ``TorchFunctionMode`` active until that update ends), and
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
import time
from dataclasses import replace
from typing import Any

import torch
from torch import nn

from pytest_gan import _defaults
from pytest_gan._args import check_seed
from pytest_gan.data import DataSource, check_varies
from pytest_gan.history import History, Saturation
from pytest_gan.instrument import Instrument
from pytest_gan.probing import (
    SATURATED_LOGIT,
    data_dtype,
    forced_outputs,
    forced_span,
    preserved_state,
)
from pytest_gan.rng import RNGState, local_generator
from pytest_gan.run import STREAM_PROBE
from pytest_gan.spec import (
    GANSpec,
    has_lazy,
    refuse_scripted,
    validate_networks,
)
from pytest_gan.training import make_prober
from pytest_gan.watched_run import (
    WATCH_FIRST_EVERY,
    Recorder,
    WatchedRun,
    no_autocast,
    watched_step,
)


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
    refuse_scripted(module, argument)
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
    """D's largest output on ``batch`` with its final layer forced to ``SATURATED_LOGIT``:
    the logit itself through a linear head, 1 through a Sigmoid (NaN if D cannot be
    run so)."""
    with no_autocast(batch[0].device):
        out = forced_outputs(discriminator, batch, SATURATED_LOGIT)
    return math.nan if out is None else float(out.max())


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
        for argument, module in (
            ("generator", self.generator),
            ("discriminator", self.discriminator),
        ):
            if has_lazy(module):
                raise ValueError(
                    f"{argument} has lazy layers not initialised yet: pass one batch through it "
                    "(a dry run) before its optimizer is built and the loop is watched"
                )
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
        check_seed(seed)
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
                train_step=watched_step,
                num_classes=num_classes,
                name=name,
            )
            self.device = _device_of(self.generator)
            # This watch's own spec: its data in D's dtype where D takes no other.
            dtype = data_dtype(self.spec, self.discriminator, self.device)
            self.spec.source = self.spec.source.in_dtype(dtype)
            self.holdout_source = None
            if holdout is not None:
                self.holdout_source = DataSource(
                    holdout, conditional=num_classes is not None
                ).in_dtype(dtype)
                check_varies(self.holdout_source)
            with preserved_state(self.generator, self.discriminator):
                validate_networks(self.spec, self.generator, self.discriminator, self.device)
        finally:
            caller_rng.restore()
        self.initial_state = g_state
        self.run: WatchedRun | None = None
        self._recorder: Recorder | None = None
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
        with no_autocast(device):
            prober.probe(0)
        instrument = Instrument(self.generator, self.discriminator, self.opt_g, self.opt_d, history)
        try:
            recorder = Recorder(run, instrument, prober, self.opt_g, self.opt_d)
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
                    with no_autocast(self.device):
                        recorder.prober.probe(run.steps)
                saturation = run.history.saturation
                if saturation is None:
                    saturation = Saturation(logit=SATURATED_LOGIT)
                if saturation.d_output_at_saturation is None:
                    saturation = replace(
                        saturation,
                        d_output_at_saturation=_saturated_output(
                            self.discriminator, recorder.prober.holdout
                        ),
                    )
                with no_autocast(self.device):
                    span = forced_span(self.discriminator, recorder.prober.holdout)
                run.history.saturation = replace(saturation, d_output_span_forced=span)
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
