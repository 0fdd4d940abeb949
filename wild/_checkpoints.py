"""The checkpoint code several wild GANs share, and the two mistakes planted in it.

Their originals save the generator's ``state_dict()`` with ``torch.save``, bare or as one
entry of a dict (``key``), and read it back into a fresh generator with
``load_state_dict``. ``hooks(kind, factory, key)`` gives the spec's ``save_checkpoint``
and ``load_checkpoint`` for ``kind``:

- ``"original"``: as the original does;
- ``"fresh"``: a newly built generator is saved, not the trained one
  (``checkpoint-not-trained``);
- ``"params-only"``: parameters only, so BatchNorm's running statistics are left behind,
  read back with ``strict=False`` (``checkpoint-roundtrip-mismatch``).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import nn

GeneratorFactory = Callable[[], nn.Module]
SaveFn = Callable[[nn.Module, Path], None]
LoadFn = Callable[[Path], nn.Module]


def _write(state: dict[str, Any], path: Path, key: str | None) -> None:
    torch.save(state if key is None else {key: state}, path)


def _save(factory: GeneratorFactory, key: str | None, generator: nn.Module, path: Path) -> None:
    _write(generator.state_dict(), path, key)


def _save_fresh(
    factory: GeneratorFactory, key: str | None, generator: nn.Module, path: Path
) -> None:
    # The mistake: a newly built generator is saved, not the trained one.
    _write(factory().state_dict(), path, key)


def _save_params_only(
    factory: GeneratorFactory, key: str | None, generator: nn.Module, path: Path
) -> None:
    # The mistake: parameters only, so BatchNorm's running statistics are left behind.
    _write({k: p.detach().clone() for k, p in generator.named_parameters()}, path, key)


def _load(factory: GeneratorFactory, key: str | None, path: Path, strict: bool = True) -> nn.Module:
    generator = factory()
    checkpoint = torch.load(path, weights_only=True)
    generator.load_state_dict(checkpoint if key is None else checkpoint[key], strict=strict)
    return generator


def hooks(kind: str, factory: GeneratorFactory, key: str | None = None) -> tuple[SaveFn, LoadFn]:
    """``(save_checkpoint, load_checkpoint)`` for ``kind``: ``"original"``, ``"fresh"`` or
    ``"params-only"``."""
    if kind == "original":
        return partial(_save, factory, key), partial(_load, factory, key)
    if kind == "fresh":
        return partial(_save_fresh, factory, key), partial(_load, factory, key)
    if kind == "params-only":
        return partial(_save_params_only, factory, key), partial(_load, factory, key, strict=False)
    raise ValueError(f"kind must be 'original', 'fresh' or 'params-only'; got {kind!r}")
