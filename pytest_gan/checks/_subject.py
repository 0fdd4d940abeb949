"""The generator the checkpoint check is handed, resolved from its arguments: a
``GANRun``'s generator and spec, or a bare module whose latent shape is inferred; and its
outputs on fixed z, run the same way for the trained and the reloaded generator.
"""

from __future__ import annotations

import copy
import inspect
import itertools
import math
from dataclasses import dataclass

import torch
from torch import nn

from pytest_gan._args import check_int
from pytest_gan.checks._checkpoint_file import canonical_key
from pytest_gan.losses import g_samples, samples_of
from pytest_gan.probing import preserved_state
from pytest_gan.rng import derive_seed, local_generator
from pytest_gan.run import GANRun
from pytest_gan.spec import (
    ModuleFactory,
    _latent_shape,
    eval_modes,
    has_lazy,
    latent_dtype,
)

# Random streams of this check (disjoint from training's), derived from ``seed``.
_STREAM_LATENT = 11


_STREAM_FORWARD = 12
#: ... and of the step a fresh instance takes to tell which tensors training moves.
STREAM_MOVED = 13


_SAME_MODULE = (
    "factory must build a fresh generator; it is the trained generator itself, into which "
    "a reload would prove nothing"
)


@dataclass
class Subject:
    """What to check, resolved from the arguments."""

    generator: nn.Module
    factory: ModuleFactory | None
    latent_shape: tuple[int, ...]
    num_classes: int | None
    device: torch.device | None
    initial_state: dict[str, torch.Tensor] | None


def as_factory(value: object, argument: str) -> ModuleFactory | None:
    """A zero-argument factory; a module instance is deep-copied on each call."""
    if value is None:
        return None
    if isinstance(value, nn.Module):
        module = value
        return lambda: copy.deepcopy(module)
    if not callable(value):
        raise TypeError(
            f"{argument} must be a zero-argument callable returning an nn.Module, or an "
            f"nn.Module; got {type(value).__name__}"
        )

    def make() -> nn.Module:
        module = value()
        if not isinstance(module, nn.Module):
            raise TypeError(
                f"{argument} must return an nn.Module; it returned {type(module).__name__}"
            )
        return module

    return make


def materializing(
    factory: ModuleFactory | None, shape: tuple[int, ...], num_classes: int | None
) -> ModuleFactory | None:
    """``factory``, whose modules' lazy layers (``nn.LazyLinear``, ``nn.LazyConv2d``, ...)
    are initialised by a dry run on two zero latents, as a loop's first batch initialises
    them (a lazy parameter has no values to read or compare until then). The dry run
    draws the initial values from torch's RNG, as a loop's would; it runs in eval mode,
    without gradients. Modules with no lazy layer are returned as the factory made them."""
    if factory is None:
        return None
    made = factory

    def make() -> nn.Module:
        module = made()
        if not has_lazy(module):
            return module
        device = device_of(module) or torch.device("cpu")
        z = torch.zeros(2, *shape, device=device, dtype=latent_dtype(module))
        inputs = (
            (z,) if num_classes is None else (z, torch.zeros(2, dtype=torch.long, device=device))
        )
        with eval_modes(module), torch.no_grad():
            module(*inputs)
        return module

    return make


def _unwrapped(module: nn.Module) -> nn.Module:
    inner = getattr(module, "module", None)
    return inner if isinstance(inner, nn.Module) else module


def _needs_labels(module: nn.Module) -> bool:
    try:
        params = inspect.signature(_unwrapped(module).forward).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    required = [p for p in params if p.kind in positional and p.default is p.empty]
    return len(required) >= 2


def _num_classes(value: object) -> int | None:
    if value is None:
        return None
    return check_int(value, "num_classes", least=2, why=" for G(z, y)")


#: Attribute names under which conditional generators commonly keep their class count.
_CLASS_ATTRIBUTES = ("num_classes", "n_classes", "n_class", "nclasses", "num_labels", "n_labels")


def infer_num_classes(module: nn.Module) -> tuple[int | None, str]:
    """The class count of a bare conditional generator ``G(z, y)``, and where it came from:
    its ``num_classes`` (or ``n_classes``, ...) attribute, else the fewest rows of its label
    embeddings (every ``nn.Embedding``: a cGAN's ``label_emb``, BigGAN's shared embedding;
    labels below it are valid for all of them, which is what a round trip needs). None,
    saying why, when neither is there (a one-hot label built in ``forward``)."""
    inner = _unwrapped(module)
    for attribute in _CLASS_ATTRIBUTES:
        value = getattr(inner, attribute, None)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 2:
            return value, f"its attribute {attribute}={value}"
    rows = [m.num_embeddings for m in inner.modules() if isinstance(m, nn.Embedding)]
    if rows and min(rows) >= 2:
        return min(rows), f"its label embedding, Embedding(num_embeddings={min(rows)})"
    return None, "it has no num_classes attribute and no nn.Embedding to read it from"


#: Attribute names under which generators commonly keep the size of z.
_LATENT_ATTRIBUTES = ("latent_dim", "z_dim", "nz", "latent_size", "noise_dim")


def _first_layer(module: nn.Module, conditional: bool) -> nn.Module | None:
    """The first submodule, in registration order, holding parameters of its own; in a
    conditional generator, not a label embedding (registered first in most of them: it is
    no layer z enters)."""
    sub: nn.Module
    for name, sub in module.named_modules():
        if "parametrizations" in name.split(".") or (conditional and isinstance(sub, nn.Embedding)):
            continue
        if any(True for _ in sub.parameters(recurse=False)):
            return sub
    return None


def _label_widths(module: nn.Module, num_classes: int | None) -> list[int]:
    """What a conditional generator may join to z before its first layer: a one-hot label
    (``num_classes`` wide) or a label embedding (each ``nn.Embedding``'s width), most
    likely first; none for an unconditional one."""
    if num_classes is None:
        return []
    widths = [num_classes]
    widths += [m.embedding_dim for m in module.modules() if isinstance(m, nn.Embedding)]
    return list(dict.fromkeys(w for w in widths if w > 0))


def _latent_candidates(
    module: nn.Module, num_classes: int | None = None
) -> tuple[list[tuple[int, ...]], str]:
    """Latent shapes to try, most likely first, and where they came from. A conditional
    generator's first layer may take z joined with its label (one-hot, or embedded, as
    most public cGANs do): its width less the label's is tried after the whole."""
    inner = _unwrapped(module)
    labels = _label_widths(inner, num_classes)
    for attribute in _LATENT_ATTRIBUTES:
        value = getattr(inner, attribute, None)
        if value is not None and not isinstance(value, bool) and isinstance(value, (int, tuple)):
            try:
                return [_latent_shape(value)], f"its attribute {attribute}={value!r}"
            except ValueError:
                continue
    first = _first_layer(inner, num_classes is not None)
    if isinstance(first, nn.Linear):
        f = first.in_features
        widths = [f] + [f - w for w in labels if f - w > 0]
        return [(w,) for w in widths], f"its first layer, Linear(in_features={f})"
    if isinstance(first, (nn.ConvTranspose2d, nn.Conv2d)):
        c = first.in_channels
        kind = type(first).__name__
        widths = [c] + [c - w for w in labels if c - w > 0]
        shapes: list[tuple[int, ...]] = [(w, 1, 1) for w in widths] + [(w,) for w in widths]
        return shapes, f"its first layer, {kind}(in_channels={c})"
    if isinstance(first, (nn.ConvTranspose1d, nn.Conv1d)):
        c = first.in_channels
        widths = [c] + [c - w for w in labels if c - w > 0]
        flat: list[tuple[int, ...]] = [(w, 1) for w in widths] + [(w,) for w in widths]
        return flat, f"its first layer, {type(first).__name__}(in_channels={c})"
    kind = "" if first is None else type(first).__name__
    article = "an" if kind[:1] in tuple("AEIOU") else "a"
    what = "no layer with parameters" if first is None else f"{article} {kind}"
    return [], f"its first layer is {what}, which does not tell the size of z"


def infer_latent_shape(module: nn.Module, num_classes: int | None = None) -> tuple[int, ...]:
    """The shape of one z for a bare generator: its ``latent_dim`` (or ``z_dim``, ``nz``)
    attribute, else its first layer (``Linear.in_features``; ``ConvTranspose2d.in_channels``
    as ``(C, 1, 1)``, then ``(C,)``; for a conditional generator also that width less a
    one-hot label's or a label embedding's), each tried on a batch of two zero latents, in eval
    mode, without gradients, with buffers and RNG states left as they were. Raises
    ``ValueError`` asking for ``latent_dim=`` when no candidate runs, saying why."""
    candidates, origin = _latent_candidates(module, num_classes)
    failures: list[str] = []
    with eval_modes(module), preserved_state(module):
        device = device_of(module) or torch.device("cpu")
        for shape in candidates:
            z = torch.zeros(2, *shape, device=device, dtype=latent_dtype(module))
            labels = torch.zeros(2, dtype=torch.long, device=device)
            inputs = (z,) if num_classes is None else (z, labels)
            try:
                out = g_samples(module(*inputs))
            except Exception as exc:  # a wrong guess; the next one may fit
                failures.append(f"{shape}: {type(exc).__name__}: {exc}")
                continue
            if isinstance(out, torch.Tensor) and out.ndim >= 1 and out.shape[0] == 2:
                return shape
            failures.append(f"{shape}: returned no batch of 2 samples")
    tried = f"; tried {'; '.join(failures)}" if failures else ""
    raise ValueError(
        "latent_dim is needed: it could not be inferred from the generator "
        f"({origin}{tried}); pass latent_dim= (the shape of one z, e.g. 100 or (100, 1, 1)), "
        "or a GANRun as generator"
    )


def resolve_subject(
    generator: object,
    factory: object,
    load: object,
    latent_dim: object,
    num_classes: object,
    device: object,
) -> Subject:
    given_classes = _num_classes(num_classes)
    if isinstance(generator, GANRun):
        spec = generator.spec
        if latent_dim is not None and _latent_shape(latent_dim) != spec.latent_shape:
            raise ValueError(
                f"latent_dim {latent_dim!r} contradicts the run's spec "
                f"({spec.latent_dim!r}); leave it out for a GANRun"
            )
        if given_classes is not None and given_classes != spec.num_classes:
            raise ValueError(
                f"num_classes {given_classes} contradicts the run's spec "
                f"({spec.num_classes}); leave it out for a GANRun"
            )
        made: ModuleFactory | None
        module: nn.Module = generator.generator
        if factory is module:
            raise ValueError(_SAME_MODULE)
        made = as_factory(factory, "factory") or spec.make_generator
        shape, classes = spec.latent_shape, spec.num_classes
        initial: dict[str, torch.Tensor] | None = {
            canonical_key(k): v for k, v in generator.initial_generator_state.items()
        }
    elif isinstance(generator, nn.Module):
        module = generator
        if factory is generator:
            raise ValueError(_SAME_MODULE)
        made = as_factory(factory, "factory")
        if made is None and load is None:
            raise ValueError(
                "factory is needed to rebuild the generator for the default load: pass a "
                "zero-argument callable returning a fresh generator (or your own load)"
            )
        classes = given_classes
        if classes is None and _needs_labels(module):
            classes, why = infer_num_classes(module)
            if classes is None:
                raise ValueError(
                    f"num_classes is needed: the generator's forward takes (z, y), and {why}; "
                    "pass num_classes= (the number of classes y ranges over)"
                )
        shape = (
            _latent_shape(latent_dim)
            if latent_dim is not None
            else infer_latent_shape(module, classes)
        )
        initial = None
    else:
        raise TypeError(
            f"generator must be an nn.Module or a GANRun; got {type(generator).__name__}"
        )
    expected: torch.device | None
    if device is None:
        expected = device_of(module)
    elif isinstance(device, (str, torch.device)):
        try:
            expected = torch.device(device)
        except RuntimeError as exc:
            raise ValueError(f"device {device!r} is not a device torch knows: {exc}") from None
    else:
        raise TypeError(
            f"device must be None, a str or a torch.device; got {type(device).__name__}"
        )
    return Subject(module, materializing(made, shape, classes), shape, classes, expected, initial)


def device_of(module: nn.Module) -> torch.device | None:
    first = next(itertools.chain(module.parameters(), module.buffers()), None)
    return None if first is None else first.device


def latents(subject: Subject, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    gen = local_generator(seed, _STREAM_LATENT)
    z = torch.randn(n, *subject.latent_shape, generator=gen)
    y = None if subject.num_classes is None else torch.arange(n) % subject.num_classes
    return z, y


def seed_forward(device: torch.device, seed: int) -> None:
    # torch.manual_seed would also queue a seed for CUDA devices not yet initialised,
    # which would replace the caller's own queued seed once CUDA starts.
    torch.default_generator.manual_seed(seed)
    if device.type == "cuda":
        with torch.cuda.device(device):
            torch.cuda.manual_seed(seed)


def forward(module: nn.Module, z: torch.Tensor, y: torch.Tensor | None, seed: int) -> torch.Tensor:
    """``module``'s eval-mode output for (z, y) on the CPU; buffers, RNG and modes untouched.

    Torch's generator is seeded the same way before each forward, so a generator that
    draws noise of its own (noise injection) draws the same noise for both models.
    """
    device = device_of(module) or torch.device("cpu")
    z = z.to(device, latent_dtype(module))
    inputs = (z,) if y is None else (z, y.to(device))
    with eval_modes(module), preserved_state(module):
        seed_forward(device, derive_seed(seed, _STREAM_FORWARD))
        out = samples_of(module(*inputs))
    return out.detach().to("cpu", torch.float64)


def trained_outputs(
    subject: Subject, z: torch.Tensor, y: torch.Tensor | None, seed: int
) -> torch.Tensor:
    try:
        return forward(subject.generator, z, y, seed)
    except Exception as exc:
        shown = f"z of shape {list(z.shape)}" + ("" if y is None else f" and y of {list(y.shape)}")
        raise ValueError(
            f"the generator failed on {shown} (latent_dim={subject.latent_shape!r}, "
            f"num_classes={subject.num_classes!r}): {type(exc).__name__}: {exc}; pass the "
            "latent_dim (and num_classes for G(z, y)) it expects"
        ) from exc


def output_gap(a: torch.Tensor, b: torch.Tensor) -> tuple[float, float, float]:
    """(largest, mean, relative) absolute difference; inf when the shapes differ."""
    if a.shape != b.shape:
        return math.inf, math.inf, math.inf
    diff = (a - b).abs()
    # Equal values differ by 0, equal infinities (whose difference is NaN) and NaNs included.
    same = (a == b) | (a.isnan() & b.isnan())
    diff = torch.where(same, torch.zeros_like(diff), diff).nan_to_num(math.inf)
    largest = float(diff.max()) if diff.numel() else 0.0
    scale = float(a.abs().nan_to_num(0.0).max()) if a.numel() else 0.0
    relative = largest / scale if scale > 0 else (0.0 if largest == 0 else math.inf)
    return largest, float(diff.mean()) if diff.numel() else 0.0, relative
