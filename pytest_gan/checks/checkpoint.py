"""The checkpoint check: does a saved and reloaded generator reproduce the trained one?

The round trip runs the way inference code would: ``save(generator, path)`` into a
temporary folder, ``load(path)`` back, then the trained and the reloaded generator, both in
eval mode, get the same fixed z. Their state dicts are compared too, buffers included
(BatchNorm running statistics, spectral-norm u and v vectors), since a buffer can be lost
without changing the outputs of every z.

When the round trip fails, the check reads the checkpoint file itself, always with
``torch.load(weights_only=True)``, to tell a save that wrote the wrong thing from a load
that read it wrongly: keys missing from the file, ``module.`` prefixes, a non-strict load
that hid them, a module left on another device, or a file that holds an initialisation
rather than the trained weights (pitfall ``checkpoint-not-trained``). A file that only an
unsafe unpickling could read is refused before any load runs.
"""

from __future__ import annotations

import copy
import inspect
import itertools
import math
import pickle
import re
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pytest_gan import _defaults
from pytest_gan.checks._check import Check
from pytest_gan.errors import GANAssertionError, fail
from pytest_gan.instrument import preserved_state
from pytest_gan.rng import RNGState, derive_seed, local_generator
from pytest_gan.run import GANRun
from pytest_gan.spec import _latent_shape

ModuleFactory = Callable[[], nn.Module]
SaveFn = Callable[[nn.Module, Path], object]
LoadFn = Callable[[Path], nn.Module]

#: Latent vectors each generator is given. Any single z whose output changes shows a
#: broken round trip, and every lost buffer of the zoo's generators changes all of them;
#: 16 keep the comparison cheap for large generators.
SAMPLES = 16

#: Largest relative output difference, max |G_reloaded(z) - G_trained(z)| / max |G_trained(z)|,
#: of a faithful round trip.
#: Why here: 28x above the widest faithful gap (3.6e-4, a CUDA copy reloaded on the CPU)
#: and 94x below the closest broken one (0.94); calibration: docs/benchmarks.md
#: "Calibration notes".
OUTPUT_RTOL = 1e-2

#: The name of the file handed to ``save`` and ``load`` in the temporary folder.
CHECKPOINT_NAME = "generator.pt"

#: The prefix nn.DataParallel and DistributedDataParallel give every key of the wrapped
#: module.
WRAPPER_PREFIX = "module."

# Random streams of this check (disjoint from training's), derived from ``seed``.
_STREAM_LATENT = 11
_STREAM_FORWARD = 12
_SAME_MODULE = (
    "factory must build a fresh generator; it is the trained generator itself, into which "
    "a reload would prove nothing"
)
# Names shown in a message before "... (N in all)".
_SHOWN = 6


# -- validation ----------------------------------------------------------------------------


@dataclass
class _Subject:
    """What to check, resolved from the arguments."""

    generator: nn.Module
    factory: ModuleFactory | None
    latent_shape: tuple[int, ...]
    num_classes: int | None
    device: torch.device | None
    initial_state: dict[str, torch.Tensor] | None


def _as_factory(value: object, argument: str) -> ModuleFactory | None:
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
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"num_classes must be None or an int; got {type(value).__name__}")
    if value < 2:
        raise ValueError(f"num_classes must be at least 2 for G(z, y); got {value}")
    return value


#: Attribute names under which generators commonly keep the size of z.
_LATENT_ATTRIBUTES = ("latent_dim", "z_dim", "nz", "latent_size", "noise_dim")


def _first_layer(module: nn.Module) -> nn.Module | None:
    """The first submodule, in registration order, holding parameters of its own."""
    sub: nn.Module
    for name, sub in module.named_modules():
        if "parametrizations" in name.split("."):
            continue
        if any(True for _ in sub.parameters(recurse=False)):
            return sub
    return None


def _latent_candidates(module: nn.Module) -> tuple[list[tuple[int, ...]], str]:
    """Latent shapes to try, most likely first, and where they came from."""
    inner = _unwrapped(module)
    for attribute in _LATENT_ATTRIBUTES:
        value = getattr(inner, attribute, None)
        if value is not None and not isinstance(value, bool) and isinstance(value, (int, tuple)):
            try:
                return [_latent_shape(value)], f"its attribute {attribute}={value!r}"
            except ValueError:
                continue
    first = _first_layer(inner)
    if isinstance(first, nn.Linear):
        return [(first.in_features,)], f"its first layer, Linear(in_features={first.in_features})"
    if isinstance(first, (nn.ConvTranspose2d, nn.Conv2d)):
        c = first.in_channels
        kind = type(first).__name__
        return [(c, 1, 1), (c,)], f"its first layer, {kind}(in_channels={c})"
    if isinstance(first, (nn.ConvTranspose1d, nn.Conv1d)):
        c = first.in_channels
        return [(c, 1), (c,)], f"its first layer, {type(first).__name__}(in_channels={c})"
    what = "no layer with parameters" if first is None else f"a {type(first).__name__}"
    return [], f"its first layer is {what}, which does not tell the size of z"


def infer_latent_shape(module: nn.Module, num_classes: int | None = None) -> tuple[int, ...]:
    """The shape of one z for a bare generator: its ``latent_dim`` (or ``z_dim``, ``nz``)
    attribute, else its first layer (``Linear.in_features``; ``ConvTranspose2d.in_channels``
    as ``(C, 1, 1)``, then ``(C,)``), each tried on a batch of two zero latents, in eval
    mode, without gradients, with buffers and RNG states left as they were. Raises
    ``ValueError`` asking for ``latent_dim=`` when no candidate runs, saying why."""
    candidates, origin = _latent_candidates(module)
    modes = [(m, m.training) for m in module.modules()]
    failures: list[str] = []
    try:
        with preserved_state(module):
            module.eval()
            device = _device_of(module) or torch.device("cpu")
            for shape in candidates:
                z = torch.zeros(2, *shape, device=device)
                inputs = (z,) if num_classes is None else (z, torch.zeros(2, dtype=torch.long))
                try:
                    out = module(*inputs)
                except Exception as exc:  # a wrong guess; the next one may fit
                    failures.append(f"{shape}: {type(exc).__name__}: {exc}")
                    continue
                if isinstance(out, torch.Tensor) and out.ndim >= 1 and out.shape[0] == 2:
                    return shape
                failures.append(f"{shape}: returned no batch of 2 samples")
    finally:
        for m, mode in modes:
            m.training = mode
    tried = f"; tried {'; '.join(failures)}" if failures else ""
    raise ValueError(
        "latent_dim is needed: it could not be inferred from the generator "
        f"({origin}{tried}); pass latent_dim= (the shape of one z, e.g. 100 or (100, 1, 1)), "
        "or a GANRun as generator"
    )


def _subject(
    generator: object,
    factory: object,
    load: object,
    latent_dim: object,
    num_classes: object,
    device: object,
) -> _Subject:
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
        made = _as_factory(factory, "factory") or spec.make_generator
        shape, classes = spec.latent_shape, spec.num_classes
        initial: dict[str, torch.Tensor] | None = {
            _canonical(k): v for k, v in generator.initial_generator_state.items()
        }
    elif isinstance(generator, nn.Module):
        module = generator
        if factory is generator:
            raise ValueError(_SAME_MODULE)
        made = _as_factory(factory, "factory")
        if made is None and load is None:
            raise ValueError(
                "factory is needed to rebuild the generator for the default load: pass a "
                "zero-argument callable returning a fresh generator (or your own load)"
            )
        classes = given_classes
        if classes is None and _needs_labels(module):
            classes = _num_classes(getattr(_unwrapped(module), "num_classes", None))
            if classes is None:
                raise ValueError(
                    "num_classes is needed: the generator's forward takes (z, y); pass "
                    "num_classes= (the number of classes y ranges over)"
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
        expected = _device_of(module)
    elif isinstance(device, (str, torch.device)):
        try:
            expected = torch.device(device)
        except RuntimeError as exc:
            raise ValueError(f"device {device!r} is not a device torch knows: {exc}") from None
    else:
        raise TypeError(
            f"device must be None, a str or a torch.device; got {type(device).__name__}"
        )
    return _Subject(module, made, shape, classes, expected, initial)


# -- state and outputs ---------------------------------------------------------------------


def _canonical(key: str) -> str:
    """A state-dict key without the wrappers' ``module.`` prefixes."""
    while key.startswith(WRAPPER_PREFIX):
        key = key[len(WRAPPER_PREFIX) :]
    return key


def _state(module: nn.Module) -> dict[str, torch.Tensor]:
    """CPU copies of a module's state dict, by canonical key."""
    return {
        _canonical(k): v.detach().to("cpu", copy=True)
        for k, v in module.state_dict().items()
        if isinstance(v, torch.Tensor)
    }


def _parameter_keys(module: nn.Module) -> set[str]:
    return {_canonical(k) for k, _ in module.named_parameters()}


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if torch.equal(a, b):
        return True
    return a.is_floating_point() and bool(torch.allclose(a, b, rtol=0, atol=0, equal_nan=True))


def _device_of(module: nn.Module) -> torch.device | None:
    first = next(itertools.chain(module.parameters(), module.buffers()), None)
    return None if first is None else first.device


def _latents(subject: _Subject, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    gen = local_generator(seed, _STREAM_LATENT)
    z = torch.randn(n, *subject.latent_shape, generator=gen)
    y = None if subject.num_classes is None else torch.arange(n) % subject.num_classes
    return z, y


def _seed_forward(device: torch.device, seed: int) -> None:
    # torch.manual_seed would also queue a seed for CUDA devices not yet initialised,
    # which would replace the caller's own queued seed once CUDA starts.
    torch.default_generator.manual_seed(seed)
    if device.type == "cuda":
        with torch.cuda.device(device):
            torch.cuda.manual_seed(seed)


def _forward(module: nn.Module, z: torch.Tensor, y: torch.Tensor | None, seed: int) -> torch.Tensor:
    """``module``'s eval-mode output for (z, y) on the CPU; buffers, RNG and modes untouched.

    Torch's generator is seeded the same way before each forward, so a generator that
    draws noise of its own (noise injection) draws the same noise for both models.
    """
    device = _device_of(module) or torch.device("cpu")
    inputs = (z.to(device),) if y is None else (z.to(device), y.to(device))
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        with preserved_state(module):
            _seed_forward(device, derive_seed(seed, _STREAM_FORWARD))
            out = module(*inputs)
    finally:
        for m, mode in modes:
            m.training = mode
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"the generator must return a Tensor; it returned {type(out).__name__}")
    return out.detach().to("cpu", torch.float64)


def _trained_outputs(
    subject: _Subject, z: torch.Tensor, y: torch.Tensor | None, seed: int
) -> torch.Tensor:
    try:
        return _forward(subject.generator, z, y, seed)
    except Exception as exc:
        shown = f"z of shape {list(z.shape)}" + ("" if y is None else f" and y of {list(y.shape)}")
        raise ValueError(
            f"the generator failed on {shown} (latent_dim={subject.latent_shape!r}, "
            f"num_classes={subject.num_classes!r}): {type(exc).__name__}: {exc}; pass the "
            "latent_dim (and num_classes for G(z, y)) it expects"
        ) from exc


def _output_gap(a: torch.Tensor, b: torch.Tensor) -> tuple[float, float, float]:
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


# -- the checkpoint file -------------------------------------------------------------------


@dataclass
class _Checkpoint:
    """What the file holds, read without executing anything from it."""

    state: dict[str, torch.Tensor] | None = None  # raw keys
    locations: set[str] = field(default_factory=set)
    unsafe: str | None = None  # the globals an unsafe unpickling would need

    @property
    def canonical(self) -> dict[str, torch.Tensor]:
        return {_canonical(k): v for k, v in (self.state or {}).items()}


def _unsafe_globals(exc: Exception) -> str | None:
    """The Python objects a weights-only load refused to import, or None when it failed
    for another reason (a file in another format is no safety matter)."""
    names = re.findall(r"GLOBAL ([\w.]+)", str(exc))
    if not isinstance(exc, pickle.UnpicklingError) or not names:
        return None
    return ", ".join(dict.fromkeys(names))


def _tensor_mapping(value: object) -> dict[str, torch.Tensor] | None:
    if (
        isinstance(value, Mapping)
        and value
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in value.items())
    ):
        return dict(value)
    return None


def _read(path: Path, trained_keys: set[str]) -> _Checkpoint:
    """The file's state dict: the object itself, or the mapping inside it (one level
    down, as in ``{"generator": sd, "epoch": 3}``) sharing most keys with the generator."""
    found = _Checkpoint()
    if not path.is_file():
        return found

    def record(storage: Any, location: str) -> Any:
        found.locations.add(location)
        return storage

    try:
        obj = torch.load(path, weights_only=True, map_location=record)
    except pickle.UnpicklingError as exc:
        found.unsafe = _unsafe_globals(exc)
        return found
    except Exception:
        # Not a torch checkpoint (another format): nothing to read, and nothing wrong.
        return found
    state = _tensor_mapping(obj)
    if state is None and isinstance(obj, Mapping):
        nested = [m for m in map(_tensor_mapping, obj.values()) if m is not None]
        overlap = [(len({_canonical(k) for k in m} & trained_keys), m) for m in nested]
        overlap = [(n, m) for n, m in overlap if n]
        if overlap:
            state = max(overlap, key=lambda pair: pair[0])[1]
    found.state = state
    return found


def _default_save(module: nn.Module, path: Path) -> None:
    torch.save(module.state_dict(), path)


def _default_load(factory: ModuleFactory, device: torch.device | None) -> LoadFn:
    def load(path: Path) -> nn.Module:
        module = factory()
        if device is not None:
            module = module.to(device)
        state = torch.load(path, weights_only=True, map_location=device)
        module.load_state_dict(state, strict=True)
        return module

    return load


# -- diagnosis -----------------------------------------------------------------------------


def _names(keys: list[str]) -> str:
    shown = ", ".join(keys[:_SHOWN])
    return shown + (f", ... ({len(keys)} in all)" if len(keys) > _SHOWN else "")


def _prefixed(keys: list[str]) -> bool:
    return bool(keys) and all(k.startswith(WRAPPER_PREFIX) for k in keys)


@dataclass
class _Context:
    """Everything measured, shared by the diagnoses."""

    subject: _Subject
    trained: dict[str, torch.Tensor]
    params: set[str]
    checkpoint: _Checkpoint
    fresh: list[dict[str, torch.Tensor]]
    target_keys: list[str] | None  # raw keys of the module the load fills

    def key_causes(self, differ: list[str] | None) -> tuple[list[str], dict[str, Any]]:
        """Causes the checkpoint's keys reveal: prefixes, missing tensors, a silent load.

        ``differ`` lists the reloaded tensors that differ from the trained ones, or is None
        when the load raised; after a load, only causes that explain a difference count.
        """
        causes: list[str] = []
        evidence: dict[str, Any] = {}
        if self.checkpoint.state is None or differ == []:
            return causes, evidence
        raw = list(self.checkpoint.state)
        in_file = self.checkpoint.canonical
        if self.target_keys is not None and _prefixed(raw) != _prefixed(self.target_keys):
            evidence["prefix_mismatch"] = True
            if _prefixed(raw):
                causes.append(
                    f"The checkpoint's keys start with {WRAPPER_PREFIX!r} (as nn.DataParallel "
                    "and DistributedDataParallel name them) but the model it is loaded into "
                    f"has no such prefix (e.g. {raw[0]!r} against {self.target_keys[0]!r}): "
                    "save the wrapped model's .module.state_dict(), or strip the prefix "
                    "before load_state_dict."
                )
            else:
                causes.append(
                    f"The model it is loaded into names its keys with {WRAPPER_PREFIX!r} "
                    "(wrapped in nn.DataParallel or DistributedDataParallel) but the "
                    "checkpoint's keys have no such prefix: load into the wrapped model's "
                    ".module."
                )
        missing = [k for k in self.trained if k not in in_file]
        if differ is not None and not set(missing) & set(differ):
            missing = []
        if missing:
            buffers = [k for k in missing if k not in self.params]
            params = [k for k in missing if k in self.params]
            evidence["missing_from_checkpoint"] = missing
            parts = []
            if buffers:
                parts.append(
                    f"{len(buffers)} buffers ({_names(buffers)}): BatchNorm running "
                    "statistics and spectral-norm u/v vectors live in buffers, which "
                    "named_parameters() leaves out"
                )
            if params:
                parts.append(f"{len(params)} parameters ({_names(params)})")
            causes.append(
                "The checkpoint lacks tensors of the trained generator's state dict: "
                + "; ".join(parts)
                + ". Save module.state_dict(), which holds parameters and buffers."
            )
        if differ is not None and (missing or evidence.get("prefix_mismatch")):
            evidence["silent_load"] = True
            causes.append(
                "The load did not complain about the missing keys: load_state_dict(..., "
                "strict=False) skips them silently, and the model keeps its fresh initial "
                "values there. Load with strict=True (the default)."
            )
        return causes, evidence

    def deterministic_buffers(self) -> list[str]:
        """Buffers two fresh instances initialise alike (BatchNorm statistics; not the
        random spectral-norm vectors) and that training changed."""
        if len(self.fresh) < 2:
            return []
        a, b = self.fresh
        return [
            k
            for k in self.trained
            if k not in self.params
            and k in a
            and k in b
            and _same(a[k], b[k])
            and not _same(a[k], self.trained[k])
        ]


def _trained_parameters(ctx: _Context, inits: list[_Init]) -> list[str]:
    """Parameter keys training changed: judged against the run's initial state, else the
    reference, else a fresh instance (where parameters training left alone, such as a
    bias cancelled by the BatchNorm after it, count as changed); all of them when none is
    known."""
    known = [i.state for i in inits] + ctx.fresh[:1]
    base = known[0] if known else None
    keys = [k for k in ctx.trained if k in ctx.params]
    if base is None:
        return keys
    return [k for k in keys if k not in base or not _same(base[k], ctx.trained[k])]


@dataclass
class _Init:
    """An initialisation the reloaded generator may be: its label, state and outputs."""

    label: str
    state: dict[str, torch.Tensor]
    outputs: torch.Tensor | None


def _inits(
    subject: _Subject,
    reference: ModuleFactory | None,
    z: torch.Tensor,
    y: torch.Tensor | None,
    seed: int,
) -> list[_Init]:
    found: list[_Init] = []
    if subject.initial_state is not None and subject.factory is not None:
        module = subject.factory()
        module.load_state_dict(subject.initial_state)
        if subject.device is not None:
            module = module.to(subject.device)
        label = "the run's initial generator"
        found.append(_Init(label, subject.initial_state, _forward(module, z, y, seed)))
    if reference is not None:
        module = reference()
        if subject.device is not None:
            module = module.to(subject.device)
        found.append(_Init("the reference", _state(module), _forward(module, z, y, seed)))
    return found


def _equal_states(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)


def _untrained_verdict(
    ctx: _Context,
    reloaded: dict[str, torch.Tensor],
    reloaded_out: torch.Tensor,
    trained_out: torch.Tensor,
    inits: list[_Init],
) -> tuple[str, list[tuple[str, Any, str]], dict[str, Any]] | None:
    """Why the reloaded generator is an initialisation, or None when it does not look like
    one (then the round trip merely failed).

    It must hold none of the parameters training changed, in the model or in the file, and
    look like an initialisation: equal to one, nearer to one's outputs than to the trained
    generator's, or with the buffers training changed at their initial values.
    """
    changed = _trained_parameters(ctx, inits)
    if not changed:
        return None
    kept = [k for k in changed if k in reloaded and _same(reloaded[k], ctx.trained[k])]
    in_file = ctx.checkpoint.canonical
    kept_in_file = [k for k in changed if k in in_file and _same(in_file[k], ctx.trained[k])]
    if kept or kept_in_file:
        return None
    rows: list[tuple[str, Any, str]] = [
        ("trained parameter tensors in the reloaded model", f"0 of {len(changed)}", "all")
    ]
    evidence: dict[str, Any] = {"trained_parameters_kept": 0, "trained_parameters": len(changed)}
    reasons: list[str] = []
    for init in inits + [_Init("a fresh instance from factory", s, None) for s in ctx.fresh[:1]]:
        if _equal_states(reloaded, init.state):
            reasons.append(f"its state equals {init.label}'s")
            evidence["equals"] = init.label
            break
    d_trained = _output_gap(trained_out, reloaded_out)[1]
    # (distance of the reloaded outputs to the init's, of the trained ones to the init's)
    near = [
        (_output_gap(i.outputs, reloaded_out)[1], _output_gap(i.outputs, trained_out)[1], i.label)
        for i in inits
        if i.outputs is not None
    ]
    if near:
        d_init, d_moved, label = min(near)
        rows += [
            ("mean output distance to the trained generator", d_trained, "0"),
            (f"mean output distance to {label}", d_init, "-"),
            (f"mean output distance, trained generator to {label}", d_moved, "-"),
        ]
        evidence.update(
            distance_to_trained=d_trained, distance_to_init=d_init, trained_to_init=d_moved
        )
        # Nearer to the initialisation than to the trained generator is not enough: two
        # independent initialisations of a generator without BatchNorm lie about as far
        # apart as a briefly trained one from either (seeds 0-4 of the tiny MLP GAN, 20
        # steps, fell on both sides). Nearer to it than training took the generator is.
        if d_init < min(d_trained, d_moved):
            reasons.append(
                f"its outputs lie nearer to {label}'s than to the trained generator's, and "
                "nearer than training moved the generator from it"
            )
    buffers = ctx.deterministic_buffers()
    if buffers:
        fresh = ctx.fresh[0]
        at_init = [k for k in buffers if k in reloaded and _same(reloaded[k], fresh[k])]
        rows.append(
            (
                "buffers training changed, at their initial values",
                f"{len(at_init)} of {len(buffers)}",
                "0",
            )
        )
        evidence["buffers_at_init"] = at_init
        if len(at_init) == len(buffers):
            reasons.append(
                f"the buffers training changed ({_names(buffers)}) are at their initial values"
            )
    if not reasons:
        return None
    return "; ".join(reasons), rows, evidence


# -- the check -----------------------------------------------------------------------------


def assert_checkpoint_roundtrip(
    generator: nn.Module | GANRun,
    factory: ModuleFactory | nn.Module | None = None,
    *,
    save: SaveFn | None = None,
    load: LoadFn | None = None,
    reference: ModuleFactory | nn.Module | None = None,
    latent_dim: int | tuple[int, ...] | None = None,
    num_classes: int | None = None,
    device: str | torch.device | None = None,
    samples: int = SAMPLES,
    seed: int = _defaults.SEED,
) -> None:
    """Saving ``generator`` and loading it back gives the same generator: the same state
    dict (buffers included) and, in eval mode, the same output for the same z.

    ``generator`` is the trained module, or a ``GANRun`` (its generator, its spec's latent
    shape and classes, its spec's generator factory as ``factory``, and its generator's
    initial state as an implicit ``reference``). ``factory`` builds a fresh generator
    (a zero-argument callable, or a module that is deep-copied); it is needed by the
    default load, and its fresh instances tell initial values from trained ones.
    ``save(module, path)`` defaults to the spec's ``save_checkpoint`` for a run, else
    ``torch.save(module.state_dict(), path)``; ``load(path) -> module`` to the spec's
    ``load_checkpoint``, else ``factory()`` on ``device`` filled by
    ``load_state_dict(torch.load(path, weights_only=True, map_location=device),
    strict=True)``. ``reference`` is a freshly initialised generator (or its factory): a
    checkpoint equal to it, or nearer to its outputs than to the trained generator's, holds
    an initialisation. ``latent_dim`` (the shape of one z) and ``num_classes`` (for
    ``G(z, y)``) default to the run's spec, else to the generator's attributes of those
    names; a bare generator's latent shape is otherwise inferred from its first layer
    (``infer_latent_shape``), and ``latent_dim=`` is asked for only when that fails.
    ``device`` is where the reloaded generator is expected (default: the trained
    generator's device). ``samples`` z are drawn from ``seed``.

    A checkpoint that ``torch.load(weights_only=True)`` refuses (a whole pickled module,
    custom classes) is never loaded: the check fails saying so. Global RNG states and the
    generator's train/eval modes and buffers are left as they were. Raises
    ``GANAssertionError`` with pitfall ``checkpoint-not-trained`` when the checkpoint holds
    an initialisation, else ``checkpoint-roundtrip-mismatch`` naming what it found.
    """
    __tracebackhide__ = True
    if isinstance(generator, GANRun):
        # The spec's own checkpoint code, unless this call names other code.
        save = generator.spec.save_checkpoint if save is None else save
        load = generator.spec.load_checkpoint if load is None else load
    subject = _subject(generator, factory, load, latent_dim, num_classes, device)
    if save is not None and not callable(save):
        raise TypeError(f"save must be a callable (module, path); got {type(save).__name__}")
    if load is not None and not callable(load):
        raise TypeError(f"load must be a callable path -> module; got {type(load).__name__}")
    reference_factory = _as_factory(reference, "reference")
    if isinstance(samples, bool) or not isinstance(samples, int):
        raise TypeError(f"samples must be an int; got {type(samples).__name__}")
    if samples < 1:
        raise ValueError(f"samples must be at least 1; got {samples}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int; got {seed!r}")
    if load is None:
        assert subject.factory is not None
        load = _default_load(subject.factory, subject.device)
    modes = [(m, m.training) for m in subject.generator.modules()]
    caller_rng = RNGState.capture()
    try:
        _roundtrip(subject, save or _default_save, load, reference_factory, samples, seed)
    finally:
        for m, mode in modes:
            m.training = mode
        caller_rng.restore()


def _roundtrip(
    subject: _Subject,
    save: SaveFn,
    load: LoadFn,
    reference: ModuleFactory | None,
    samples: int,
    seed: int,
) -> None:
    z, y = _latents(subject, samples, seed)
    # Measured before save runs: a save may move or change the module it is given.
    trained_out = _trained_outputs(subject, z, y, seed)
    trained = _state(subject.generator)
    params = _parameter_keys(subject.generator)
    with tempfile.TemporaryDirectory(prefix="pytest-gan-checkpoint-") as folder:
        path = Path(folder) / CHECKPOINT_NAME
        try:
            save(subject.generator, path)
        except Exception as exc:
            raise _raised("save", exc) from exc
        checkpoint = _read(path, set(trained))
        if checkpoint.unsafe is not None:
            raise _unsafe(checkpoint.unsafe)
        # Two fresh instances: what a load fills, and which initial values are random.
        fresh = [subject.factory() for _ in range(2)] if subject.factory else []
        ctx = _Context(
            subject,
            trained,
            params,
            checkpoint,
            [_state(m) for m in fresh],
            list(fresh[0].state_dict()) if fresh else None,
        )
        try:
            module = load(path)
        except Exception as exc:
            raise _load_failed(ctx, exc) from exc
    if not isinstance(module, nn.Module):
        raise TypeError(f"load must return an nn.Module; it returned {type(module).__name__}")
    ctx.target_keys = list(module.state_dict())
    reloaded = _state(module)
    try:
        reloaded_out = _forward(module, z, y, seed)
    except Exception as exc:
        raise fail(
            "checkpoint-roundtrip-mismatch",
            "The reloaded generator raised on the z the trained one accepts: "
            f"{type(exc).__name__}: {exc}",
            [("forward on the same z", "raised", "ran")],
            {"error": f"{type(exc).__name__}: {exc}"},
            detail="The load built a model of another architecture or configuration "
            "than the trained generator's.",
        ) from exc
    inits = _inits(subject, reference, z, y, seed)
    _judge(ctx, module, reloaded, trained_out, reloaded_out, inits)


def _raised(what: str, exc: Exception) -> GANAssertionError:
    return fail(
        "checkpoint-roundtrip-mismatch",
        f"The {what} raised {type(exc).__name__}: {exc}",
        [(what, "raised", "ran")],
        {"stage": what, "error": f"{type(exc).__name__}: {exc}"},
    )


def _unsafe(globals_needed: str) -> GANAssertionError:
    return fail(
        "checkpoint-roundtrip-mismatch",
        "The checkpoint cannot be read by torch.load(weights_only=True), the default since "
        "torch 2.6: it pickles Python objects, and reading it would run code from the file. "
        "It was not loaded.",
        [
            ("loads with weights_only=True", "no", "yes"),
            ("Python objects it needs", globals_needed, "none (tensors only)"),
        ],
        {"unsafe": True, "globals": globals_needed},
        detail="A whole module saved with torch.save(model, path), or custom classes in "
        "the saved object, need an unpickling that executes what the file names; anyone "
        "loading it must trust the file, and it breaks when the class moves. Save "
        "model.state_dict() (plain tensors), and keep other values to str, int, float, "
        "lists and dicts; classes that must stay can be allowed with "
        "torch.serialization.add_safe_globals.",
    )


def _load_failed(ctx: _Context, exc: Exception) -> GANAssertionError:
    unsafe = _unsafe_globals(exc)
    if unsafe is not None:
        return _unsafe(unsafe)
    text = f"{type(exc).__name__}: {exc}"
    causes, evidence = ctx.key_causes(None)
    if "deserialize object on a CUDA device" in str(exc) or (
        ctx.checkpoint.locations and "map_location" in str(exc)
    ):
        saved_on = ", ".join(sorted(ctx.checkpoint.locations)) or "a CUDA device"
        causes.insert(
            0,
            f"The checkpoint was saved from {saved_on}; loading it where that device is "
            "missing needs torch.load(..., map_location=device).",
        )
        evidence["saved_on"] = sorted(ctx.checkpoint.locations)
    rows: list[tuple[str, Any, str]] = [("load", "raised", "ran"), *_key_rows(evidence, ctx)]
    first, _, rest = text.partition("\n")
    parts = ["Causes found:\n" + "\n".join(f"- {c}" for c in causes)] if causes else []
    if rest.strip():
        parts.append("The load's error in full:\n" + text)
    detail = "\n\n".join(parts)
    return fail(
        "checkpoint-roundtrip-mismatch",
        f"The checkpoint could not be loaded back: {first.strip().rstrip(':')}.",
        rows,
        {"stage": "load", "error": text, **evidence},
        detail=detail,
    )


def _key_rows(evidence: Mapping[str, Any], ctx: _Context) -> list[tuple[str, Any, str]]:
    """Evidence rows for the key-naming causes: tensors missing from the file, prefixes."""
    rows: list[tuple[str, Any, str]] = []
    if "missing_from_checkpoint" in evidence:
        missing = len(evidence["missing_from_checkpoint"])
        rows.append(("trained tensors missing from the checkpoint", missing, "0"))
    if evidence.get("prefix_mismatch"):
        rows.append(_prefix_row(ctx))
    return rows


def _prefix_row(ctx: _Context) -> tuple[str, Any, str]:
    def where(keys: list[str]) -> str:
        return "prefixed" if _prefixed(keys) else "plain"

    in_file, in_model = where(list(ctx.checkpoint.state or {})), where(ctx.target_keys or [])
    return ("keys in the file / in the model", f"{in_file} / {in_model}", "alike")


def _judge(
    ctx: _Context,
    module: nn.Module,
    reloaded: dict[str, torch.Tensor],
    trained_out: torch.Tensor,
    reloaded_out: torch.Tensor,
    inits: list[_Init],
) -> None:
    __tracebackhide__ = True
    trained = ctx.trained
    missing = [k for k in trained if k not in reloaded]
    extra = [k for k in reloaded if k not in trained]
    differ = [k for k in trained if k in reloaded and not _same(trained[k], reloaded[k])]
    largest, mean, relative = _output_gap(trained_out, reloaded_out)
    expected, actual = ctx.subject.device, _device_of(module)
    moved = expected is not None and actual is not None and actual != expected
    if not (missing or extra or differ or moved or relative > OUTPUT_RTOL):
        _judge_trained(reloaded, inits)
        return
    verdict = _untrained_verdict(ctx, reloaded, reloaded_out, trained_out, inits)
    key_causes, key_evidence = ctx.key_causes(differ)
    rows: list[tuple[str, Any, str]] = [
        ("largest output difference, relative", relative, f"<= {OUTPUT_RTOL:g}"),
        ("largest output difference", largest, "0"),
        ("state tensors that differ after reload", f"{len(differ)} of {len(trained)}", "0"),
    ]
    evidence: dict[str, Any] = {
        "output_max_diff": largest,
        "output_mean_diff": mean,
        "output_relative_diff": relative,
        "differing": differ,
        "missing": missing,
        "extra": extra,
        "device": str(actual),
        "expected_device": str(expected),
    }
    if verdict is not None and not key_causes:
        reasons, init_rows, init_evidence = verdict
        raise fail(
            "checkpoint-not-trained",
            "The checkpoint holds an untrained generator: the reloaded model keeps none of "
            f"the trained parameters, and {reasons}.",
            [*init_rows, rows[0]],
            evidence | init_evidence,
            detail="The round trip itself may work; what was saved is not the trained "
            "generator (a newly built one, or a copy taken before training).",
        )
    causes = list(key_causes)
    if moved:
        causes.append(
            f"The reloaded generator is on {actual}, where {expected} was expected (the "
            "trained generator's device unless device= names another): the load maps the "
            "checkpoint elsewhere (map_location) or builds the model on another device. "
            "Move it with .to(device) after loading, or pass the intended device= to this "
            "check."
        )
    if missing:
        causes.append(
            f"The reloaded model lacks {len(missing)} of the trained generator's tensors "
            f"({_names(missing)}): the load builds another architecture."
        )
    if extra:
        causes.append(
            f"The reloaded model has {len(extra)} tensors the trained generator lacks "
            f"({_names(extra)}): the load builds another architecture."
        )
    in_file = ctx.checkpoint.canonical
    if differ and ctx.checkpoint.state is not None and not key_causes:
        from_file = [k for k in differ if k in in_file and _same(in_file[k], trained[k])]
        other = [k for k in differ if k in in_file and k not in from_file]
        if from_file:
            causes.append(
                f"The checkpoint holds the trained values of {_names(from_file)}, but the "
                "reloaded model does not: the load does not put them into the model it "
                "returns."
            )
        if other:
            causes.append(
                f"The checkpoint itself holds other values than the trained generator for "
                f"{_names(other)}: the save wrote another model, or an earlier state."
            )
            if not ctx.fresh and not inits:
                causes.append(
                    "Pass factory= or reference= (a freshly initialised generator) to tell "
                    "whether the checkpoint holds an initialisation."
                )
    elif differ and not key_causes:
        causes.append(f"Tensors with other values after reload: {_names(differ)}.")
    if not (missing or extra or differ) and relative > OUTPUT_RTOL and not moved:
        causes.append(
            "Every tensor of the state dict came back, yet the outputs differ: the load "
            "builds a model configured differently, or the generator keeps state outside "
            "its state dict (non-persistent buffers, plain attributes)."
        )
    if moved and not (missing or extra or differ) and relative <= OUTPUT_RTOL:
        summary = (
            f"The generator reloaded from its checkpoint is on {actual}, not on {expected} "
            "as expected; its state and outputs match the trained generator's."
        )
    else:
        summary = (
            "The generator reloaded from its checkpoint does not reproduce the trained one: "
            f"the same z gives outputs that differ by up to {largest:.3g} "
            f"({relative:.3g} of their scale), and {len(differ)} of {len(trained)} state "
            "tensors differ."
        )
    rows.extend(_key_rows(key_evidence, ctx))
    if moved:
        rows.append(("device of the reloaded generator", str(actual), str(expected)))
    raise fail(
        "checkpoint-roundtrip-mismatch",
        summary,
        rows,
        evidence | key_evidence,
        detail="Causes found:\n" + "\n".join(f"- {c}" for c in causes) if causes else "",
    )


def _judge_trained(reloaded: dict[str, torch.Tensor], inits: list[_Init]) -> None:
    """An exact round trip of an initialisation: the generator saved was never trained."""
    __tracebackhide__ = True
    for init in inits:
        if _equal_states(reloaded, init.state):
            n = len(init.state)
            raise fail(
                "checkpoint-not-trained",
                f"The round trip is exact, but what it carries equals {init.label}: the "
                "generator that was saved never left its initialisation.",
                [(f"state tensors equal to {init.label}'s", f"{n} of {n}", "fewer")],
                {"equals": init.label},
                detail="Saving and loading work; training did not change the generator "
                "(see assert_generator_learns), or the generator checked is not the "
                "trained one.",
            )


#: The check of this module (``pytest_gan.checks.ALL``).
CHECKPOINT_ROUNDTRIP = Check(
    "checkpoint-roundtrip",
    assert_checkpoint_roundtrip,
    ("checkpoint-roundtrip-mismatch", "checkpoint-not-trained"),
)
