"""Hypothesis strategies for GAN configurations and image batches.

``gan_configs(**overrides)`` draws a :class:`GANConfig` from the space practitioners use and
shrinks a failure towards the standard DCGAN setup (Radford et al. 2016: Adam at 2e-4,
betas (0.5, 0.999), batch 64, z of 100, width 64), so the falsifying example hypothesis
reports is the smallest change from a setup everybody knows: ``GANConfig(n_critic=2)``.

``image_batches(shape, kinds=...)`` draws batches that a GAN's code meets at its edges:
blank, constant, saturated, duplicated, out of range, non-finite.

``log_uniform(lo, hi)`` draws a scale parameter such as a learning rate.

Importing this module registers the ``pytest-gan`` settings profile (no deadline, few
examples, the ``too_slow`` health check off) without loading it: load it with
``settings.load_profile("pytest-gan")`` or ``pytest --hypothesis-profile=pytest-gan``.

Every argument is checked when the strategy is built; a bad one raises hypothesis's
``InvalidArgument`` (as a ``TypeError`` or ``ValueError`` too) naming the argument.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any

import torch
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from torch import nn

from pytest_gan import _defaults, _profile
from pytest_gan._args import check_int, check_seed

__all__ = [
    "IMAGE_KINDS",
    "OPTIMIZERS",
    "PROFILE",
    "RANGES",
    "GANConfig",
    "InvalidArgumentType",
    "InvalidArgumentValue",
    "gan_configs",
    "image_batches",
    "log_uniform",
]

PROFILE = _profile.PROFILE
_profile.register()


class InvalidArgumentType(InvalidArgument, TypeError):
    """A strategy's argument has the wrong type."""


class InvalidArgumentValue(InvalidArgument, ValueError):
    """A strategy's argument has a value outside what it accepts."""


# -- the configuration -------------------------------------------------------------------

#: Optimizers ``GANConfig.optimizers()`` can build: Adam (DCGAN, WGAN-GP, BigGAN, StyleGAN)
#: and RMSprop (the original WGAN, Arjovsky et al. 2017). ``betas`` apply to Adam only.
OPTIMIZERS = ("adam", "rmsprop")

#: The ranges ``gan_configs`` draws from by default: what published GANs and widely copied
#: scripts use, with each range's edge cases. Learning rates from 1e-5 to 1e-2 span
#: WGAN-GP's 1e-4, DCGAN's 2e-4, TTUR's and SAGAN's 4e-4 and StyleGAN's 2e-3. Batches from
#: 2 to 256: 2 is the least ``GANSpec`` accepts (BatchNorm1d refuses to train on one sample,
#: and any batch statistic needs two), so every drawn config builds a spec; z from 1 to
#: 512; widths (DCGAN's ngf/ndf) from 8 to 128; 1 to 10 critic steps per generator step
#: (WGAN uses 5).
RANGES: Mapping[str, tuple[float, float]] = {
    "lr_g": (1e-5, 1e-2),
    "lr_d": (1e-5, 1e-2),
    "batch_size": (2, 256),
    "latent_dim": (1, 512),
    "n_critic": (1, 10),
    "width": (8, 128),
    "seed": (0, 2**32 - 1),
}

#: Adam betas of published setups, tried before arbitrary pairs: DCGAN, WGAN-GP and
#: SAGAN/BigGAN, StyleGAN2, WGAN-GP's toy experiments, and torch's default.
COMMON_BETAS = ((0.5, 0.999), (0.0, 0.9), (0.0, 0.99), (0.5, 0.9), (0.9, 0.999))
_BETA1 = (0.0, 0.95)
_BETA2 = (0.9, 0.9999)


def _type_error(message: str) -> InvalidArgumentType:
    return InvalidArgumentType(message)


def _value_error(message: str) -> InvalidArgumentValue:
    return InvalidArgumentValue(message)


def _real(value: object, argument: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _type_error(f"{argument} must be a number; got {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number):
        raise _value_error(f"{argument} must be finite; got {value!r}")
    return number


def _positive_int(value: object, argument: str, minimum: int = 1) -> int:
    return _as_invalid(check_int, value, argument, least=minimum)


def _as_invalid(check: Callable[..., int], *args: Any, **kwargs: Any) -> int:
    """``check(*args, **kwargs)``, its TypeError or ValueError raised as hypothesis's
    InvalidArgument kinds (``_type_error``, ``_value_error``)."""
    try:
        return check(*args, **kwargs)
    except TypeError as exc:
        raise _type_error(str(exc)) from None
    except ValueError as exc:
        raise _value_error(str(exc)) from None


def _betas(value: object, argument: str) -> tuple[float, float]:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise _type_error(f"{argument} must be a pair (beta1, beta2); got {value!r}")
    b1, b2 = (_real(v, argument) for v in value)
    if not (0.0 <= b1 < 1.0 and 0.0 <= b2 < 1.0):
        raise _value_error(f"{argument} must lie in [0, 1) each (Adam's betas); got {value!r}")
    return (b1, b2)


@dataclass(frozen=True, repr=False)
class GANConfig:
    """One GAN training configuration, as ``gan_configs`` draws it.

    ``GANConfig()`` is the standard DCGAN setup, the point a failure shrinks towards; its
    ``repr`` names only the fields that differ from it (``GANConfig(lr_d=0.002)``).
    ``optimizers()`` builds the ``(G, D) -> (opt_g, opt_d)`` callable of a ``GANSpec``;
    ``spec_kwargs()`` gives every ``GANSpec`` argument the config decides. ``width`` and
    ``seed`` are for the user's own code: the networks' base channel count, and the seed
    to pass to ``train`` (drawn, so that hypothesis controls and replays it).
    """

    lr_g: float = _defaults.LR
    lr_d: float = _defaults.LR
    betas: tuple[float, float] = _defaults.BETAS
    batch_size: int = _defaults.BATCH_SIZE
    latent_dim: int = 100
    loss: str = "bce"
    n_critic: int = 1
    width: int = 64
    optimizer: str = "adam"
    seed: int = _defaults.SEED

    def __post_init__(self) -> None:
        for name in ("lr_g", "lr_d"):
            value = _real(getattr(self, name), name)
            if value <= 0:
                raise _value_error(f"{name} must be positive; got {value!r}")
            object.__setattr__(self, name, value)
        object.__setattr__(self, "betas", _betas(self.betas, "betas"))
        for name in ("latent_dim", "n_critic", "width"):
            _positive_int(getattr(self, name), name)
        # As GANSpec: a config that cannot build a spec is no configuration to fuzz.
        _positive_int(self.batch_size, "batch_size", minimum=2)
        _as_invalid(check_seed, self.seed)
        if not isinstance(self.loss, str):
            raise _type_error(f"loss must be a str; got {type(self.loss).__name__}")
        if self.loss not in _defaults.LOSSES:
            raise _value_error(f"loss must be one of {_defaults.LOSSES}; got {self.loss!r}")
        if not isinstance(self.optimizer, str):
            raise _type_error(f"optimizer must be a str; got {type(self.optimizer).__name__}")
        if self.optimizer not in OPTIMIZERS:
            raise _value_error(f"optimizer must be one of {OPTIMIZERS}; got {self.optimizer!r}")

    def changes(self) -> dict[str, Any]:
        """The fields that differ from the standard setup, in field order."""
        standard = _STANDARD
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if getattr(self, f.name) != getattr(standard, f.name)
        }

    def __repr__(self) -> str:
        inner = ", ".join(f"{name}={value!r}" for name, value in self.changes().items())
        return f"GANConfig({inner})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        # hypothesis prints falsifying examples with IPython's protocol; keep it short too.
        printer.text(repr(self))

    def optimizers(
        self,
    ) -> Callable[[nn.Module, nn.Module], tuple[torch.optim.Optimizer, torch.optim.Optimizer]]:
        """``(G, D) -> (opt_g, opt_d)`` for ``GANSpec(optimizers=...)``."""
        lr_g, lr_d, betas, kind = self.lr_g, self.lr_d, self.betas, self.optimizer

        def make(g: nn.Module, d: nn.Module) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
            if kind == "rmsprop":
                return (
                    torch.optim.RMSprop(g.parameters(), lr=lr_g),
                    torch.optim.RMSprop(d.parameters(), lr=lr_d),
                )
            return (
                torch.optim.Adam(g.parameters(), lr=lr_g, betas=betas),
                torch.optim.Adam(d.parameters(), lr=lr_d, betas=betas),
            )

        return make

    def spec_kwargs(self) -> dict[str, Any]:
        """The ``GANSpec`` arguments this config decides: ``GANSpec(generator=...,
        discriminator=..., data=..., **cfg.spec_kwargs())``. (A spec with a ``train_step``
        of its own ignores ``loss`` and ``n_critic``: that step reads them from ``cfg``.)"""
        return {
            "latent_dim": self.latent_dim,
            "loss": self.loss,
            "n_critic": self.n_critic,
            "batch_size": self.batch_size,
            "optimizers": self.optimizers(),
        }


_STANDARD = GANConfig()
_FIELDS = tuple(f.name for f in fields(GANConfig))


# -- scalar strategies -------------------------------------------------------------------


def _range(lo: object, hi: object, argument: str = "lo, hi") -> tuple[float, float]:
    lo_f, hi_f = _real(lo, "lo"), _real(hi, "hi")
    if not 0 < lo_f < hi_f:
        raise _value_error(f"{argument}: need 0 < lo < hi; got lo={lo!r}, hi={hi!r}")
    return lo_f, hi_f


def _around_log(lo: float, hi: float, centre: float) -> st.SearchStrategy[float]:
    # The exponent's distance from the centre is drawn, so hypothesis, which shrinks a
    # float towards 0, shrinks the value towards the centre: by whole and then simple
    # fractional powers of ten (x10, x0.1, x3.16...).
    down, up = math.log10(lo / centre), math.log10(hi / centre)

    def scale(delta: float) -> float:
        value: float = centre * math.pow(10.0, delta)
        return min(hi, max(lo, value))

    return st.floats(down, up, allow_nan=False, allow_infinity=False).map(scale)


def log_uniform(
    lo: float, hi: float, *, shrink_towards: float | None = None
) -> st.SearchStrategy[float]:
    """Floats between ``lo`` and ``hi`` (``0 < lo < hi``) spread over their orders of
    magnitude, as a learning rate or a penalty weight is searched: as many draws fall in
    [1e-5, 1e-4] as in [1e-3, 1e-2]. Hypothesis chooses the exponent, so its usual bias
    towards edge cases applies to it; a failure shrinks towards ``shrink_towards`` (default
    ``lo``).
    """
    lo_f, hi_f = _range(lo, hi)
    centre = lo_f
    if shrink_towards is not None:
        centre = _real(shrink_towards, "shrink_towards")
        if not lo_f <= centre <= hi_f:
            raise _value_error(
                f"shrink_towards must lie in [lo, hi] = [{lo_f!r}, {hi_f!r}]; "
                f"got {shrink_towards!r}"
            )
    return _around_log(lo_f, hi_f, centre)


def _around_int(lo: int, hi: int, centre: int) -> st.SearchStrategy[int]:
    # As _around_log: hypothesis shrinks the offset towards 0, the value towards the centre.
    return st.integers(lo - centre, hi - centre).map(lambda offset: centre + offset)


def _default_betas() -> st.SearchStrategy[tuple[float, float]]:
    anywhere = st.tuples(st.floats(*_BETA1, allow_nan=False), st.floats(*_BETA2, allow_nan=False))
    return st.one_of(st.sampled_from(COMMON_BETAS), anywhere)


def _default_strategy(name: str) -> st.SearchStrategy[Any]:
    standard = getattr(_STANDARD, name)
    if name in ("lr_g", "lr_d"):
        lo, hi = RANGES[name]
        return _around_log(lo, hi, standard)
    if name == "betas":
        return _default_betas()
    if name == "loss":
        return st.sampled_from(_defaults.LOSSES)  # "bce" first: shrinks to it
    if name == "optimizer":
        return st.sampled_from(OPTIMIZERS)
    lo_i, hi_i = (int(v) for v in RANGES[name])
    return _around_int(lo_i, hi_i, standard)


def _override(name: str, value: object) -> st.SearchStrategy[Any]:
    if isinstance(value, st.SearchStrategy):
        return value
    # A plain value pins the field; it is checked now, with the field's own rules.
    try:
        GANConfig(**{name: value})  # type: ignore[arg-type]
    except InvalidArgument as exc:
        raise type(exc)(f"gan_configs({name}=...): {exc}") from None
    return st.just(value)


def gan_configs(**overrides: Any) -> st.SearchStrategy[GANConfig]:
    """A strategy of :class:`GANConfig`: the fields drawn from :data:`RANGES`, a keyword
    replacing a field's strategy (a plain value pins the field). A failure shrinks towards
    ``GANConfig()``, the standard DCGAN setup, one field at a time.

    >>> gan_configs(loss="bce", lr_d=log_uniform(1e-5, 1e-2))  # doctest: +SKIP
    """
    unknown = sorted(set(overrides) - set(_FIELDS))
    if unknown:
        raise _type_error(
            f"gan_configs() got unknown field(s) {', '.join(unknown)}; "
            f"GANConfig's fields are {', '.join(_FIELDS)}"
        )
    strategies = {
        name: _override(name, overrides[name]) if name in overrides else _default_strategy(name)
        for name in _FIELDS
    }

    @st.composite
    def draw_config(draw: st.DrawFn) -> GANConfig:
        return GANConfig(**{name: draw(strategy) for name, strategy in strategies.items()})

    return draw_config()


# -- image batches -------------------------------------------------------------------------

#: What ``image_batches`` can draw, simplest first (hypothesis shrinks towards the first):
#:
#: - ``typical``: independent values spread over the range
#: - ``blank``: all zeros (a dead or zero-initialised last layer)
#: - ``constant``: one value of the range everywhere
#: - ``saturated-low`` / ``saturated-high``: every value at the range's low / high end
#:   (tanh or sigmoid pinned)
#: - ``saturated``: each value at one end or the other (varied, but saturated)
#: - ``near-constant``: one value plus noise a millionth of the range wide (or the least
#:   spread the dtype holds)
#: - ``duplicates``: one typical image repeated over the batch (total mode collapse)
#: - ``out-of-range``: data of another convention: [0, 255], [0, 1] when the range is not,
#:   or the range's values scaled tenfold
#: - ``extreme``: finite values near the dtype's largest (squares and sums overflow)
#: - ``nan`` / ``inf``: a typical batch with some values NaN / +-inf (at least one)
IMAGE_KINDS = (
    "typical",
    "blank",
    "constant",
    "saturated-low",
    "saturated-high",
    "saturated",
    "near-constant",
    "duplicates",
    "out-of-range",
    "extreme",
    "nan",
    "inf",
)

#: Spread of a ``near-constant`` batch, as a fraction of the value range.
NEAR_CONSTANT_SPREAD = 1e-6

_FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def _shape(shape: object) -> tuple[int, ...]:
    if not isinstance(shape, (tuple, list, torch.Size)):
        raise _type_error(
            f"shape must be a tuple of ints (N, C, H, W) or (N, features); got "
            f"{type(shape).__name__}"
        )
    if len(shape) < 2:
        raise _value_error(
            f"shape must have a batch dimension and at least one more, e.g. (16, 1, 28, 28); "
            f"got {tuple(shape)!r}"
        )
    for dim in shape:
        if isinstance(dim, bool) or not isinstance(dim, int):
            raise _type_error(f"shape must hold ints; got {tuple(shape)!r}")
        if dim < 1:
            raise _value_error(f"shape must hold positive ints; got {tuple(shape)!r}")
    return tuple(shape)


def _kinds(kinds: object) -> tuple[str, ...]:
    if isinstance(kinds, str) or not isinstance(kinds, Iterable):
        raise _type_error(
            f"kinds must be a collection of kind names, e.g. ('blank', 'nan'); got {kinds!r}"
        )
    chosen = tuple(kinds)
    if not chosen:
        raise _value_error(f"kinds must name at least one of {', '.join(IMAGE_KINDS)}")
    for kind in chosen:
        if kind not in IMAGE_KINDS:
            raise _value_error(f"kinds: unknown kind {kind!r}; known: {', '.join(IMAGE_KINDS)}")
    # The order of IMAGE_KINDS, whatever the caller's, so that shrinking is towards simple.
    return tuple(k for k in IMAGE_KINDS if k in chosen)


def _uniform(shape: tuple[int, ...], lo: float, hi: float, gen: torch.Generator) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(shape, generator=gen, dtype=torch.float64)


def _mask(shape: tuple[int, ...], fraction: float, gen: torch.Generator) -> torch.Tensor:
    mask = torch.rand(shape, generator=gen) < fraction
    flat = mask.view(-1)
    flat[int(torch.randint(flat.numel(), (1,), generator=gen))] = True  # at least one
    return mask


def _batch(
    kind: str,
    shape: tuple[int, ...],
    lo: float,
    hi: float,
    dtype: torch.dtype,
    seed: int,
    fraction: float,
) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    if kind == "typical":
        x = _uniform(shape, lo, hi, gen)
    elif kind == "blank":
        x = torch.zeros(shape, dtype=torch.float64)
    elif kind == "constant":
        x = torch.full(shape, float(_uniform((1,), lo, hi, gen)), dtype=torch.float64)
    elif kind == "saturated-low":
        x = torch.full(shape, lo, dtype=torch.float64)
    elif kind == "saturated-high":
        x = torch.full(shape, hi, dtype=torch.float64)
    elif kind == "saturated":
        x = torch.where(torch.rand(shape, generator=gen) < 0.5, lo, hi).to(torch.float64)
    elif kind == "near-constant":
        # A millionth of the range, or the least spread the dtype can still hold.
        spread = max(NEAR_CONSTANT_SPREAD, 8 * torch.finfo(dtype).eps) * (hi - lo)
        centre = float(_uniform((1,), lo + spread, hi - spread, gen))
        x = centre + spread * (torch.rand(shape, generator=gen, dtype=torch.float64) - 0.5)
    elif kind == "duplicates":
        x = _uniform((1, *shape[1:]), lo, hi, gen).expand(shape).clone()
    elif kind == "out-of-range":
        variant = int(torch.randint(3, (1,), generator=gen))
        if variant == 0 or (lo, hi) == (0.0, 1.0):
            x = _uniform(shape, 0.0, 255.0, gen)
        elif variant == 1:
            x = _uniform(shape, 0.0, 1.0, gen)
        else:
            x = 10.0 * _uniform(shape, lo, hi, gen)
    elif kind == "extreme":
        big = torch.finfo(dtype).max / 2
        x = _uniform(shape, -big, big, gen)
    else:  # nan, inf
        x = _uniform(shape, lo, hi, gen)
        mask = _mask(shape, fraction, gen)
        if kind == "nan":
            x[mask] = math.nan
        else:
            signs = torch.where(torch.rand(shape, generator=gen) < 0.5, -math.inf, math.inf)
            x[mask] = signs.to(torch.float64)[mask]
    return x.to(dtype)


def image_batches(
    shape: tuple[int, ...],
    *,
    kinds: Iterable[str] = IMAGE_KINDS,
    value_range: tuple[float, float] = (-1.0, 1.0),
    dtype: torch.dtype = torch.float32,
) -> st.SearchStrategy[torch.Tensor]:
    """A strategy of float Tensors of ``shape`` (batch first), each of one of ``kinds``
    (:data:`IMAGE_KINDS`, all by default) relative to ``value_range``, the range the
    images are meant to have. The values come from a seeded generator whose seed
    hypothesis draws: a batch is replayed exactly and shrinks by kind (towards
    ``typical``), NaN/inf fraction and seed.
    """
    batch_shape = _shape(shape)
    chosen = _kinds(kinds)
    if not isinstance(value_range, (tuple, list)) or len(value_range) != 2:
        raise _type_error(f"value_range must be a pair (lo, hi); got {value_range!r}")
    lo, hi = (_real(v, "value_range") for v in value_range)
    if not lo < hi:
        raise _value_error(f"value_range must have lo < hi; got {value_range!r}")
    if not isinstance(dtype, torch.dtype):
        raise _type_error(f"dtype must be a torch.dtype; got {type(dtype).__name__}")
    if dtype not in _FLOAT_DTYPES:
        raise _value_error(f"dtype must be a floating dtype, one of {_FLOAT_DTYPES}; got {dtype}")

    @st.composite
    def draw_batch(draw: st.DrawFn) -> torch.Tensor:
        kind = draw(st.sampled_from(chosen))
        fraction = draw(st.sampled_from((0.0, 0.01, 0.5, 1.0))) if kind in ("nan", "inf") else 0.0
        seed = draw(st.integers(0, 2**32 - 1))
        return _batch(kind, batch_shape, lo, hi, dtype, seed, fraction)

    return draw_batch()
