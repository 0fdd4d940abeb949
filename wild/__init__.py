"""The wild corpus: GANs modelled on public implementations, with one-line mutations.

Independent of the reference zoo (``fixtures``) and of the tuning done on it: other
architectures, other data (``wild.data``), their authors' loops, losses, hyperparameter
defaults and checkpoint code, re-told in our words and scaled down only in width, image
size and data. Each module exports ``GAN`` (a :class:`wild._base.WildGAN`).

``CALIBRATION`` and ``VALIDATION`` are the two halves: thresholds are calibrated on the zoo
plus the calibration half; the validation half is measured once the thresholds are fixed,
and reported apart (``benchmarks/wild_matrix.py``, docs/benchmarks.md). ``LATER`` holds
GANs added after both halves were measured, reported apart from both.
"""

from __future__ import annotations

import importlib

from wild._base import Mutation, WildGAN

__all__ = ["CALIBRATION", "CORPUS", "HALVES", "LATER", "VALIDATION", "Mutation", "WildGAN", "gan"]

_MODULES = (
    "aladdin_simple_gan",
    "aladdin_dcgan",
    "aladdin_wgan",
    "aladdin_wgan_gp",
    "aladdin_cgan",
    "collections_dcgan",
    "collections_sngan",
    "cosgrove_sngan",
    "mimicry_cgan_pd",
    "lightning_gan",
    "eriklindernoren_cgan",
    "eriklindernoren_acgan",
)

#: Every wild GAN by name.
CORPUS: dict[str, WildGAN] = {}
for _module in _MODULES:
    _gan: WildGAN = importlib.import_module(f"wild.{_module}").GAN
    CORPUS[_gan.name] = _gan

CALIBRATION = tuple(g for g in CORPUS.values() if g.half == "calibration")
VALIDATION = tuple(g for g in CORPUS.values() if g.half == "validation")
#: Added after both halves were measured; measured once, with every threshold fixed.
LATER = tuple(g for g in CORPUS.values() if g.half == "later")
#: Each group by its name (the benchmarks' ``--half``).
HALVES = {"calibration": CALIBRATION, "validation": VALIDATION, "later": LATER}


def gan(name: str) -> WildGAN:
    """A wild GAN by name."""
    if name not in CORPUS:
        raise KeyError(f"no wild GAN {name!r}; known: {', '.join(sorted(CORPUS))}")
    return CORPUS[name]
