"""``GANSpec``: the declaration of a GAN under test, validated at the boundary.

Cheap checks (types, values, the data's shape and finiteness) run when the spec is built;
the checks that need the networks (does G's output fit D? does the latent shape work?)
run in :func:`validate_networks`, which ``train`` calls before the first step.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import itertools
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pytest_gan import _defaults
from pytest_gan._args import check_int
from pytest_gan.data import DataSource, check_varies, describe_shape
from pytest_gan.losses import (
    averages_batch,
    call_d,
    call_d_rows,
    d_score,
    g_samples,
    mark_batch_mean,
    mark_packed,
    pack_of,
    rows_inside,
    takes_labels,
)
from pytest_gan.rng import RNGState

ModuleFactory = Callable[[], nn.Module]
OptimizerFactory = Callable[
    [nn.Module, nn.Module], tuple[torch.optim.Optimizer, torch.optim.Optimizer]
]
TrainStep = Callable[[Any, Any], Mapping[str, Any]]
#: A team's own checkpoint code: ``save(generator, path)`` and ``load(path) -> generator``.
SaveCheckpoint = Callable[[nn.Module, Path], object]
LoadCheckpoint = Callable[[Path], nn.Module]


def refuse_scripted(module: nn.Module, argument: str) -> None:
    """A TypeError naming ``argument`` (and the submodule) for a TorchScript module, or one
    that holds one: torch takes no hooks on it (``register_forward_pre_hook is not
    supported on ScriptModules``), and the instrumentation and the checks' looks are
    hooks."""
    for name, sub in module.named_modules():
        if isinstance(sub, torch.jit.ScriptModule):
            where = f"{argument} is" if not name else f"{argument}'s submodule {name!r} is"
            raise TypeError(
                f"{where} a TorchScript module ({type(sub).__name__}); torch attaches no "
                "hooks to one, and the checks need them: give the eager nn.Module (script or "
                "export it after training, for deployment)"
            )


def _class_name(cls: type, fallback: str | None) -> str:
    """``cls``'s name; ``fallback`` instead, where given, when ``cls`` is one of torch's own
    modules (``nn.Sequential``), a name that tells one GAN from no other."""
    if fallback and cls.__module__.startswith("torch."):
        return fallback
    return cls.__name__


def _check_factory(value: object, argument: str) -> None:
    if isinstance(value, nn.Module):
        refuse_scripted(value, argument)
        return
    if not callable(value):
        raise TypeError(
            f"{argument} must be a zero-argument factory returning an nn.Module, or an "
            f"nn.Module; got {type(value).__name__}"
        )


def checked_range(value: object, argument: str) -> tuple[float, float]:
    """A finite pair ``(lo, hi)`` with ``lo < hi``, or an error naming ``argument``."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise TypeError(f"{argument} must be a pair (lo, hi); got {value!r}")
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise TypeError(f"{argument} must be a pair of numbers (lo, hi); got {value!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"{argument} must be finite with lo < hi; got {value!r}")
    return (lo, hi)


def _latent_shape(latent_dim: object) -> tuple[int, ...]:
    if isinstance(latent_dim, bool) or not isinstance(latent_dim, (int, tuple, list)):
        raise TypeError(
            f"latent_dim must be a positive int or a tuple of positive ints (the shape of one "
            f"z, e.g. (100, 1, 1)); got {type(latent_dim).__name__}"
        )
    shape = (latent_dim,) if isinstance(latent_dim, int) else tuple(latent_dim)
    if not shape or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in shape):
        raise ValueError(
            f"latent_dim must be a positive int or a non-empty tuple of positive ints; "
            f"got {latent_dim!r}"
        )
    return shape


@dataclass(eq=False)
class GANSpec:
    """Everything pytest-gan needs to train and judge a GAN.

    ``generator`` and ``discriminator`` are zero-argument factories returning modules (a
    module instance is accepted too: each run trains a fresh deep copy of it, so the same
    spec always gives the same run). ``data`` is a Tensor or numpy array ``[N, ...]``, a
    pair ``(x, y)`` of them, a ``Dataset`` (of Tensors, numpy arrays, ``(sample, label)``
    items or dicts), an ``IterableDataset`` or a ``DataLoader``. With ``num_classes`` set the GAN is
    conditional: ``G(z, y)`` and ``D(x, y)`` (or ``D(x)`` when D's forward takes one input, as an
    AC-GAN's), and the data must carry integer labels.
    ``train_step(ctx, batch)`` replaces the built-in loss with the user's own step; it
    returns its losses (``d_loss`` and ``g_loss`` are read by the checks).
    ``n_critic`` is the number of discriminator updates per generator update of the
    built-in step. ``save_checkpoint(generator, path)`` and ``load_checkpoint(path) ->
    generator`` are the team's own checkpoint code, which ``assert_checkpoint_roundtrip``
    (and the smoke suite's ``checkpoint-roundtrip``) tests instead of the ``state_dict``
    route when given a run of this spec.
    """

    generator: ModuleFactory | nn.Module
    discriminator: ModuleFactory | nn.Module
    data: Any
    latent_dim: int | tuple[int, ...]
    loss: str = "bce"
    optimizers: OptimizerFactory | None = None
    train_step: TrainStep | None = None
    num_classes: int | None = None
    data_range: tuple[float, float] | None = None
    batch_size: int = _defaults.BATCH_SIZE
    name: str | None = None
    n_critic: int = 1
    save_checkpoint: SaveCheckpoint | None = None
    load_checkpoint: LoadCheckpoint | None = None
    source: DataSource = field(init=False, repr=False)

    def __post_init__(self) -> None:
        _check_factory(self.generator, "generator")
        _check_factory(self.discriminator, "discriminator")
        self.latent_shape = _latent_shape(self.latent_dim)
        if not isinstance(self.loss, str):
            raise TypeError(
                f"loss must be a str, one of {_defaults.LOSSES}; got {type(self.loss).__name__}"
            )
        if self.loss not in _defaults.LOSSES:
            raise ValueError(f"loss must be one of {_defaults.LOSSES}; got {self.loss!r}")
        if self.optimizers is not None and not callable(self.optimizers):
            raise TypeError(
                "optimizers must be None or a callable (G, D) -> (opt_g, opt_d); got "
                f"{type(self.optimizers).__name__}"
            )
        if self.train_step is not None and not callable(self.train_step):
            raise TypeError(
                "train_step must be None or a callable (ctx, batch) -> mapping of losses; got "
                f"{type(self.train_step).__name__}"
            )
        if self.num_classes is not None:
            check_int(self.num_classes, "num_classes", least=2, why=" for a conditional GAN")
        # BatchNorm layers, and any batch statistic, need at least two samples.
        check_int(self.batch_size, "batch_size", least=2)
        check_int(self.n_critic, "n_critic")
        for argument, fn in (
            ("save_checkpoint", self.save_checkpoint),
            ("load_checkpoint", self.load_checkpoint),
        ):
            if fn is not None and not callable(fn):
                raise TypeError(f"{argument} must be None or a callable; got {type(fn).__name__}")
        if self.name is not None and not isinstance(self.name, str):
            raise TypeError(f"name must be None or a str; got {type(self.name).__name__}")
        if self.data_range is not None:
            self.data_range = checked_range(self.data_range, "data_range")
        self.source = DataSource(
            self.data,
            conditional=self.num_classes is not None,
            batch_size=self.batch_size,
        )
        check_varies(self.source)
        if self.num_classes is not None:
            self.source.check_labels(self.num_classes)
        if self.name is None:
            self.name = self._default_name()

    def _default_name(self) -> str:
        """The generator's class name, as the contract has it.

        A module instance or a class gives it directly; a ``functools.partial`` is
        unwrapped to what it calls; any other factory (a function, a lambda) is called
        once, with every global RNG put back after, for the class of what it builds.
        Where that class is one of torch's own (``nn.Sequential``), which says nothing of
        the GAN, a named factory's own name is kept instead. A factory that fails to build
        gives its own name ("GAN" for a lambda); the failure itself is train()'s to report."""
        target: Any = self.generator
        while isinstance(target, functools.partial):
            target = target.func
        if isinstance(target, nn.Module):
            return type(target).__name__
        if isinstance(target, type):
            return target.__name__
        own = getattr(target, "__name__", None)
        own = None if own in (None, "<lambda>") else str(own)
        state = RNGState.capture()
        try:
            built = self.generator()
        except Exception:
            built = None
        finally:
            state.restore()
        if not isinstance(built, nn.Module):
            return own or "GAN"
        return _class_name(type(built), own)

    @property
    def conditional(self) -> bool:
        return self.num_classes is not None

    def make_generator(self) -> nn.Module:
        """A fresh generator: the factory's result, or a deep copy of the given module."""
        return self._make(self.generator, "generator")

    def make_discriminator(self) -> nn.Module:
        """A fresh discriminator: the factory's result, or a deep copy of the given module."""
        return self._make(self.discriminator, "discriminator")

    @staticmethod
    def _make(target: ModuleFactory | nn.Module, argument: str) -> nn.Module:
        if isinstance(target, nn.Module):
            return copy.deepcopy(target)
        module = target()
        if not isinstance(module, nn.Module):
            raise TypeError(
                f"{argument} factory must return an nn.Module; it returned {type(module).__name__}"
            )
        refuse_scripted(module, f"{argument} factory's module")
        return module


def _forward(
    module: nn.Module, argument: str, *inputs: torch.Tensor, scores: bool = False
) -> torch.Tensor:
    """``module``'s output on ``inputs``; with ``scores``, D's score (``losses.d_score``:
    the tensor, or a tuple's first element); without, G's samples (``losses.g_samples``:
    the same, with no rule on what the first element holds)."""
    try:
        out = module(*inputs)
    except Exception as exc:
        shapes = ", ".join(describe_shape(t) for t in inputs)
        raise ValueError(
            f"{argument} failed on inputs of shape {shapes}: {type(exc).__name__}: {exc}"
            + _dtype_hint(argument, module, inputs[0])
        ) from exc
    tensor = d_score(out) if scores else g_samples(out)
    if (
        scores
        and isinstance(tensor, torch.Tensor)
        and tensor is not out
        and tensor.ndim == 2
        and tensor.shape[1] > 1
    ):
        # A vector per sample in front: features or class logits, not the score.
        raise TypeError(
            f"{argument} returned a {type(out).__name__} whose first element, "
            f"{describe_shape(tensor)}, holds {tensor.shape[1]} values per sample; the "
            "first element must be D's score (one per sample, or one map per sample): "
            "put it first, as an AC-GAN's D returns (validity, class_logits)"
        )
    if not isinstance(tensor, torch.Tensor):
        wanted = (
            "a Tensor of scores, or a tuple whose first element is one (as an AC-GAN's D "
            "returns (validity, class_logits))"
            if scores
            else "a Tensor of samples, or a tuple whose first element is one (as StyleGAN2's "
            "G returns (image, latents))"
        )
        raise TypeError(f"{argument} must return {wanted}; it returned {type(out).__name__}")
    return tensor


def _forward_rows(
    discriminator: nn.Module, argument: str, x: torch.Tensor, labels: torch.Tensor | None
) -> torch.Tensor:
    """:func:`_forward` of D's scores, one row per sample (``losses.call_d_rows``)."""
    try:
        out = d_score(call_d_rows(discriminator, x, labels))
    except Exception as exc:
        raise ValueError(
            f"{argument} failed on inputs of shape {describe_shape(x)}, made a whole number "
            f"of its packs of {pack_of(discriminator)}: {type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"{argument} must return a Tensor of scores")
    return out


#: The largest pack a packing D is looked for with (PacGAN packs 2-10 samples).
_MAX_PACK = 64


def _marks_packs(
    spec: GANSpec, discriminator: nn.Module, device: torch.device, source: DataSource | None
) -> bool:
    """Whether D scores packs of samples, as PacGAN's (Lin et al. 2018) and CTGAN's (Xu et
    al. 2019) view a batch of ``N`` as ``N / pack`` rows of ``pack`` samples and give one
    score per row; if so it is marked (``losses.mark_packed``). The pack is the fewest
    samples D gives one score for, if it gives two for twice as many (at most
    ``_MAX_PACK``): D is tried on real samples, on an error path only."""
    real, labels = (source or spec.source).peek(2 * _MAX_PACK)
    real = real.to(device)
    labels = labels.to(device) if labels is not None and spec.conditional else None
    if labels is not None and not takes_labels(discriminator):
        labels = None
    n = real.shape[0]

    def rows(k: int) -> int | None:
        times = -(-k // n)
        x = torch.cat([real] * times)[:k]
        y = None if labels is None else torch.cat([labels] * times)[:k]
        try:
            out = d_score(call_d(discriminator, x, y))
        except Exception:
            return None
        return None if out is None or out.ndim == 0 else int(out.shape[0])

    for pack in range(2, _MAX_PACK + 1):
        if rows(pack) == 1 and rows(2 * pack) == 2:
            mark_packed(discriminator, pack)
            return True
    return False


def dry_inputs(
    spec: GANSpec,
    discriminator: nn.Module,
    z: torch.Tensor,
    device: torch.device,
    source: DataSource | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None, tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]]:
    """Two real samples (and their labels), from ``source`` (the spec's by default), and
    the inputs G and D take besides."""
    real, labels = (source or spec.source).peek(z.shape[0])
    real = real.to(device)
    if not spec.conditional:
        labels = None
    g_inputs: tuple[torch.Tensor, ...] = (z,)
    d_extra: tuple[torch.Tensor, ...] = ()
    if labels is not None:
        labels = labels.to(device)
        g_inputs = (z, labels)
        # An AC-GAN's D reads the image alone and predicts the label (losses.takes_labels).
        d_extra = (labels,) if takes_labels(discriminator) else ()
    return real, labels, g_inputs, d_extra


def floating_dtype(module: nn.Module) -> torch.dtype | None:
    return next((p.dtype for p in module.parameters() if p.is_floating_point()), None)


def latent_dtype(generator: nn.Module) -> torch.dtype:
    """The dtype z is made in: the generator's own (a network built in float64 gets float64
    z), or torch's default for a generator with no floating parameter. Drawn in torch's
    default dtype and converted, so a float32 generator's z is what it always was."""
    return floating_dtype(generator) or torch.get_default_dtype()


@contextlib.contextmanager
def eval_modes(*modules: nn.Module) -> Iterator[None]:
    """``modules`` in eval mode for the block; every submodule's own train/eval mode is
    put back after it."""
    modes = [(m, m.training) for module in modules for m in module.modules()]
    for module in modules:
        module.eval()
    try:
        yield
    finally:
        for m, mode in modes:
            m.training = mode


def has_lazy(module: nn.Module) -> bool:
    """Whether ``module`` holds lazy parameters or buffers (``nn.LazyLinear``,
    ``nn.LazyBatchNorm2d``, ...): shapes and values still to come from a first batch."""
    return any(
        nn.parameter.is_lazy(t) for t in itertools.chain(module.parameters(), module.buffers())
    )


def materialize_lazy(
    spec: GANSpec,
    generator: nn.Module,
    discriminator: nn.Module,
    device: torch.device,
    source: DataSource | None = None,
) -> None:
    """Initialise the lazy layers of G and D by a dry run on two samples, as a loop's first
    batch would: G on zero latents, D on two real samples, in eval mode (no running
    statistic moves) and without gradients. Their initial values are drawn from torch's
    RNG, as in a loop; nothing else is changed. A network with no lazy layer is not run.
    Raises ``ValueError`` naming the network, as :func:`validate_networks` does, when a
    network fails on its inputs."""
    if not (has_lazy(generator) or has_lazy(discriminator)):
        return
    z = torch.zeros(2, *spec.latent_shape, device=device, dtype=latent_dtype(generator))
    real, _, g_inputs, d_extra = dry_inputs(spec, discriminator, z, device, source)
    with eval_modes(generator, discriminator), torch.no_grad():
        if has_lazy(generator):
            _forward(generator, f"generator (with latent_dim={spec.latent_dim!r})", *g_inputs)
        if has_lazy(discriminator):
            try:
                _forward(
                    discriminator, "discriminator (on real samples)", real, *d_extra, scores=True
                )
            except ValueError:
                # Two samples may be fewer than D scores together (a packing D, PacGAN's
                # or CTGAN's, refuses a batch that is no whole number of packs): a loop's
                # first batch, of the spec's batch size, initialises it as training will.
                if not _materialize_on_a_batch(spec, discriminator, device, source):
                    raise


def _materialize_on_a_batch(
    spec: GANSpec, discriminator: nn.Module, device: torch.device, source: DataSource | None
) -> bool:
    """Whether D's lazy layers were initialised by a dry run on ``spec.batch_size`` real
    samples (the caller's eval mode and no-grad context hold), for a D that failed on two."""
    if spec.batch_size <= 2:
        return False
    z = torch.zeros(spec.batch_size, *spec.latent_shape, device=device)
    real, _, _, d_extra = dry_inputs(spec, discriminator, z, device, source)
    try:
        _forward(discriminator, "discriminator (on real samples)", real, *d_extra, scores=True)
    except ValueError:
        return False
    return True


def _dtype_hint(argument: str, module: nn.Module, x: torch.Tensor) -> str:
    """Why a network may have failed on its input: its parameters in another dtype than the
    input. G's input is z, made in the dtype of G's first floating-point parameter (so
    only a generator whose parameters mix dtypes meets this); D's, the generator's output
    or the data."""
    dtypes = {p.dtype for p in module.parameters() if p.is_floating_point()}
    if not dtypes or not x.is_floating_point() or dtypes == {x.dtype}:
        return ""
    shown = ", ".join(sorted(str(d) for d in dtypes))
    if argument.startswith("generator"):
        return (
            f" (its parameters are {shown}, its input {x.dtype}, the dtype of its first "
            "parameter: build the network in one dtype, or convert z in its forward)"
        )
    made = "the generator returns" if "generated" in argument else "the data holds"
    return (
        f" (its parameters are {shown}, and {made} {x.dtype}: build the networks in one "
        "dtype, or convert D's input in its forward)"
    )


def validate_networks(
    spec: GANSpec,
    generator: nn.Module,
    discriminator: nn.Module,
    device: torch.device,
    source: DataSource | None = None,
) -> None:
    """Run G and D once on two samples and check that the pieces fit together.

    Raises ``ValueError`` naming ``latent_dim``/``generator``/``discriminator``/``data``.
    Runs without gradients; the caller preserves buffers and RNG state around it.
    """
    n = 2
    z = torch.randn(n, *spec.latent_shape, device=device).to(latent_dtype(generator))
    real, labels, g_inputs, d_extra = dry_inputs(spec, discriminator, z, device, source)
    with torch.no_grad():
        argument = f"generator (with latent_dim={spec.latent_dim!r})"
        fake = _forward(generator, argument, *g_inputs)
        if fake.shape != real.shape:
            raise ValueError(
                f"generator output {describe_shape(fake)} does not match the data's samples "
                f"{describe_shape(real)}: the discriminator would see fakes and reals of "
                "different shapes (check the generator's last layer, or data)"
            )
        if not fake.is_floating_point():
            raise ValueError(
                f"generator must return floating-point samples; got dtype {fake.dtype}"
            )
        d_labels = labels if d_extra else None
        for what, x in (("real", real), ("generated", fake)):
            argument = f"discriminator (on {what} samples)"
            out: torch.Tensor | None = None
            if pack_of(discriminator) == 1:
                try:
                    out = _forward(discriminator, argument, x, *d_extra, scores=True)
                except ValueError:
                    # Two samples may be fewer than D scores together: a packing D
                    # (PacGAN's) is looked for (_marks_packs).
                    if not _marks_packs(spec, discriminator, device, source):
                        raise
            if out is not None and averages_batch(out, n):
                if rows_inside(discriminator, x, labels) is not None:
                    # One score for the batch, as the original WGAN critic averages its
                    # own: the probes and gradients read each sample's score inside it.
                    mark_batch_mean(discriminator)
                    continue
            if out is not None and (out.ndim == 0 or out.shape[0] != n):
                _marks_packs(spec, discriminator, device, source)
            if pack_of(discriminator) > 1:
                # Each sample given its pack's score, as the probes read it.
                out = _forward_rows(discriminator, argument, x, d_labels)
            assert out is not None
            if out.ndim == 0 or out.shape[0] != n:
                raise ValueError(
                    f"discriminator must return one score (or one map of scores) per sample, "
                    f"with the batch as its first dimension; for a batch of {n} it returned "
                    f"{describe_shape(out)}"
                )
