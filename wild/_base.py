"""What one wild GAN is: a public implementation, re-told, with its one-line mutations.

Each module of :mod:`wild` models one public GAN implementation: its architecture (scaled
down in width and image size only), its loss code and loop structure (as the
``train_step`` of a ``GANSpec``), its hyperparameter defaults and its checkpoint code (as
``save_checkpoint``/``load_checkpoint``). ``WildGAN.spec()`` is the healthy GAN;
``WildGAN.spec(mutation)`` plants one of its mutations, each a one-line change a user
could have made, carrying the pitfall id it must be caught with.

The corpus is split in two halves (``half``): thresholds are calibrated on the zoo plus
the ``"calibration"`` half; the ``"validation"`` half is measured once, after the
thresholds are fixed, and reported apart (docs/benchmarks.md). GANs added after both
halves were measured (``"later"``) are measured the same way, with every threshold fixed,
and reported apart from both.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pytest_gan import GANSpec

Half = Literal["calibration", "validation", "later"]


@dataclass(frozen=True)
class Mutation:
    """One planted mistake: ``switches`` passed to the GAN's builder, the pitfall id that
    must catch it, and the mistaken line as a user would have written it."""

    pitfall: str
    line: str
    switches: Mapping[str, Any]
    #: Pitfalls the mistake may show besides its own (a wrong learning rate can also
    #: collapse the samples); they are not misses, but are reported.
    may_also: tuple[str, ...] = ()


@dataclass(frozen=True)
class WildGAN:
    name: str
    #: The public implementation, "owner/repo: path" (read with search and fetch).
    source: str
    half: Half
    description: str
    #: ``build(**switches) -> GANSpec``; no switches give the healthy GAN.
    build: Callable[..., GANSpec]
    mutations: Mapping[str, Mutation] = field(default_factory=dict)
    #: Generator steps of a check run (the API's default is 200).
    steps: int = 200

    def spec(self, mutation: str | None = None) -> GANSpec:
        if mutation is None:
            return self.build()
        if mutation not in self.mutations:
            known = ", ".join(sorted(self.mutations))
            raise KeyError(f"{self.name} has no mutation {mutation!r}; it has {known}")
        m = self.mutations[mutation]
        return self.build(**dict(m.switches))
