"""A checkpoint file as the checkpoint check reads it: state dicts by canonical key (without
the wrappers' ``module.`` prefixes), the default save and load, and what a file holds, read
with ``torch.load(weights_only=True)`` only, so nothing in it is ever executed.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pytest_gan.spec import ModuleFactory

SaveFn = Callable[[nn.Module, Path], object]
LoadFn = Callable[[Path], nn.Module]


#: The name of the file handed to ``save`` and ``load`` in the temporary folder.
CHECKPOINT_NAME = "generator.pt"


#: The prefix nn.DataParallel and DistributedDataParallel give every key of the wrapped
#: module.
WRAPPER_PREFIX = "module."


def canonical_key(key: str) -> str:
    """A state-dict key without the wrappers' ``module.`` prefixes."""
    while key.startswith(WRAPPER_PREFIX):
        key = key[len(WRAPPER_PREFIX) :]
    return key


def cpu_state(module: nn.Module) -> dict[str, torch.Tensor]:
    """CPU copies of a module's state dict, by canonical key."""
    return {
        canonical_key(k): v.detach().to("cpu", copy=True)
        for k, v in module.state_dict().items()
        if isinstance(v, torch.Tensor)
    }


def parameter_keys(module: nn.Module) -> set[str]:
    return {canonical_key(k) for k, _ in module.named_parameters()}


def same_tensor(a: torch.Tensor, b: torch.Tensor) -> bool:
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if torch.equal(a, b):
        return True
    return a.is_floating_point() and bool(torch.allclose(a, b, rtol=0, atol=0, equal_nan=True))


@dataclass
class CheckpointFile:
    """What the file holds, read without executing anything from it."""

    state: dict[str, torch.Tensor] | None = None  # raw keys
    locations: set[str] = field(default_factory=set)
    unsafe: str | None = None  # the globals an unsafe unpickling would need

    @property
    def canonical(self) -> dict[str, torch.Tensor]:
        return {canonical_key(k): v for k, v in (self.state or {}).items()}


def unsafe_globals(exc: Exception) -> str | None:
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


def _overlap(
    state: Mapping[str, torch.Tensor], trained: Mapping[str, torch.Tensor]
) -> tuple[int, int]:
    """(how many of ``state``'s tensors equal the trained generator's, how many of its keys
    the generator has)."""
    keys = [(k, canonical_key(k)) for k in state]
    shared = [(k, c) for k, c in keys if c in trained]
    equal = sum(_equal(state[k], trained[c]) for k, c in shared)
    return equal, len(shared)


def _equal(a: torch.Tensor, b: torch.Tensor) -> bool:
    """:func:`same_tensor`, False where the two cannot be compared (a sparse tensor)."""
    try:
        return same_tensor(a, b)
    except (RuntimeError, NotImplementedError):
        return False


def read_checkpoint(path: Path, trained: Mapping[str, torch.Tensor]) -> CheckpointFile:
    """The file's state dict: the object itself, or the mapping inside it (one level
    down, as in ``{"generator": sd, "epoch": 3}``) holding most of the trained generator's
    tensors (``trained``, by canonical key), else sharing most keys with it: of a snapshot
    ``{"G": ..., "D": ..., "G_ema": ...}``, the one of the generator checked."""
    found = CheckpointFile()
    if not path.is_file():
        return found

    def record(storage: Any, location: str) -> Any:
        found.locations.add(location)
        return storage

    try:
        obj = torch.load(path, weights_only=True, map_location=record)
    except pickle.UnpicklingError as exc:
        found.unsafe = unsafe_globals(exc)
        return found
    except Exception:
        # Not a torch checkpoint (another format): nothing to read, and nothing wrong.
        return found
    state = _tensor_mapping(obj)
    if state is None and isinstance(obj, Mapping):
        nested = [m for m in map(_tensor_mapping, obj.values()) if m is not None]
        ranked = [(_overlap(m, trained), m) for m in nested]
        ranked = [(n, m) for n, m in ranked if n[1]]
        if ranked:
            state = max(ranked, key=lambda pair: pair[0])[1]
    found.state = state
    return found


def default_save(module: nn.Module, path: Path) -> None:
    torch.save(module.state_dict(), path)


def default_load(factory: ModuleFactory, device: torch.device | None) -> LoadFn:
    def load(path: Path) -> nn.Module:
        module = factory()
        if device is not None:
            module = module.to(device)
        state = torch.load(path, weights_only=True, map_location=device)
        module.load_state_dict(state, strict=True)
        return module

    return load
