"""``pytest_gan.strategies``: configurations, scale parameters, image batches, the profile."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from pytest_gan import GANSpec, _defaults
from pytest_gan import strategies as gst
from tests.tiny import gaussian, make_d, make_g

#: Deterministic and quick: these properties test the strategies, not a GAN.
QUICK = settings(max_examples=100, deadline=None, database=None, derandomize=True)


def _minimal(strategy: st.SearchStrategy[Any], condition: Any) -> Any:
    return find(strategy, condition, settings=settings(database=None, derandomize=True))


# -- GANConfig ------------------------------------------------------------------------------


def test_the_default_config_is_the_standard_dcgan_setup() -> None:
    cfg = gst.GANConfig()

    assert (cfg.lr_g, cfg.lr_d, cfg.betas) == (2e-4, 2e-4, (0.5, 0.999))
    assert (cfg.batch_size, cfg.latent_dim, cfg.width) == (64, 100, 64)
    assert (cfg.loss, cfg.n_critic, cfg.optimizer, cfg.seed) == ("bce", 1, "adam", 0)
    assert repr(cfg) == "GANConfig()"
    assert cfg.changes() == {}


def test_a_configs_repr_names_only_what_differs_from_the_standard() -> None:
    cfg = gst.GANConfig(n_critic=5, lr_d=4e-4, loss="wgan-gp")

    assert repr(cfg) == "GANConfig(lr_d=0.0004, loss='wgan-gp', n_critic=5)"
    assert cfg.changes() == {"lr_d": 4e-4, "loss": "wgan-gp", "n_critic": 5}


def test_a_config_is_frozen() -> None:
    with pytest.raises(AttributeError):
        gst.GANConfig().lr_g = 1.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "error", "names"),
    [
        ({"lr_g": 0.0}, ValueError, "lr_g"),
        ({"lr_d": math.nan}, ValueError, "lr_d"),
        ({"lr_g": "2e-4"}, TypeError, "lr_g"),
        ({"betas": (0.5,)}, TypeError, "betas"),
        ({"betas": (0.5, 1.0)}, ValueError, "betas"),
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"batch_size": 1}, ValueError, "batch_size must be at least 2"),
        ({"latent_dim": 2.0}, TypeError, "latent_dim"),
        ({"n_critic": True}, TypeError, "n_critic"),
        ({"width": -1}, ValueError, "width"),
        ({"seed": -1}, ValueError, "seed"),
        ({"seed": 2**64}, ValueError, "seed must be at most"),
        ({"loss": "wgan"}, ValueError, "loss"),
        ({"optimizer": "sgd"}, ValueError, "optimizer"),
    ],
)
def test_a_bad_config_field_is_named(kwargs: dict[str, Any], error: type, names: str) -> None:
    with pytest.raises(error, match=names) as info:
        gst.GANConfig(**kwargs)
    assert isinstance(info.value, InvalidArgument)


def test_optimizers_builds_adam_with_the_configs_rates_and_betas() -> None:
    cfg = gst.GANConfig(lr_g=1e-4, lr_d=4e-4, betas=(0.0, 0.9))
    g, d = make_g(), make_d()

    opt_g, opt_d = cfg.optimizers()(g, d)

    assert isinstance(opt_g, torch.optim.Adam) and isinstance(opt_d, torch.optim.Adam)
    assert opt_g.param_groups[0]["lr"] == 1e-4 and opt_d.param_groups[0]["lr"] == 4e-4
    assert opt_g.param_groups[0]["betas"] == (0.0, 0.9)
    assert {id(p) for p in opt_g.param_groups[0]["params"]} == {id(p) for p in g.parameters()}
    assert {id(p) for p in opt_d.param_groups[0]["params"]} == {id(p) for p in d.parameters()}


def test_optimizers_builds_rmsprop_when_asked() -> None:
    opt_g, opt_d = gst.GANConfig(optimizer="rmsprop", lr_d=5e-5).optimizers()(make_g(), make_d())

    assert isinstance(opt_g, torch.optim.RMSprop) and isinstance(opt_d, torch.optim.RMSprop)
    assert opt_d.param_groups[0]["lr"] == 5e-5


def test_spec_kwargs_build_a_spec_that_carries_the_config() -> None:
    cfg = gst.GANConfig(latent_dim=4, batch_size=32, n_critic=2, loss="hinge")

    spec = GANSpec(generator=make_g, discriminator=make_d, data=gaussian(), **cfg.spec_kwargs())

    assert (spec.latent_dim, spec.batch_size, spec.n_critic, spec.loss) == (4, 32, 2, "hinge")
    assert spec.optimizers is not None


# -- gan_configs ----------------------------------------------------------------------------


@QUICK
@given(cfg=gst.gan_configs())
def test_drawn_configs_stay_within_the_documented_ranges(cfg: gst.GANConfig) -> None:
    for name, (lo, hi) in gst.RANGES.items():
        assert lo <= getattr(cfg, name) <= hi, name
    assert 0 <= cfg.betas[0] < 1 and 0 <= cfg.betas[1] < 1
    assert cfg.loss in _defaults.LOSSES and cfg.optimizer in gst.OPTIMIZERS


@settings(max_examples=300, deadline=None, database=None, derandomize=True)
@given(cfg=gst.gan_configs())
def test_every_drawn_config_builds_a_spec(cfg: gst.GANConfig) -> None:
    # A property over a correct GAN must never fail on a config GANSpec refuses.
    spec = GANSpec(
        generator=make_g,
        discriminator=make_d,
        data=gaussian(),
        **cfg.spec_kwargs(),
    )

    assert spec.batch_size == cfg.batch_size >= 2


def test_the_least_batch_in_range_is_the_least_a_spec_takes() -> None:
    least = int(gst.RANGES["batch_size"][0])

    GANSpec(generator=make_g, discriminator=make_d, data=gaussian(), latent_dim=4, batch_size=least)
    with pytest.raises(ValueError, match="batch_size must be at least"):
        GANSpec(
            generator=make_g,
            discriminator=make_d,
            data=gaussian(),
            latent_dim=4,
            batch_size=least - 1,
        )


def test_drawn_configs_span_the_space() -> None:
    seen: list[gst.GANConfig] = []

    @QUICK
    @given(cfg=gst.gan_configs())
    def draw(cfg: gst.GANConfig) -> None:
        seen.append(cfg)

    draw()
    assert {c.loss for c in seen} == set(_defaults.LOSSES)
    assert {c.optimizer for c in seen} == set(gst.OPTIMIZERS)
    assert min(c.lr_d for c in seen) < 1e-4 < 1e-3 < max(c.lr_d for c in seen)
    assert min(c.batch_size for c in seen) < 64 < max(c.batch_size for c in seen)
    assert len({c.n_critic for c in seen}) >= 3
    assert sum(c == gst.GANConfig() for c in seen) < len(seen) / 2


@pytest.mark.parametrize(
    ("condition", "minimal"),
    [
        (lambda c: c.n_critic > 1, gst.GANConfig(n_critic=2)),
        (lambda c: c.lr_d > 1e-3, gst.GANConfig(lr_d=2e-3)),
        (lambda c: c.lr_g < 1e-4, gst.GANConfig(lr_g=2e-5)),
        (lambda c: c.loss == "wgan-gp", gst.GANConfig(loss="wgan-gp")),
        (lambda c: c.batch_size % 2 == 1, gst.GANConfig(batch_size=65)),
        (lambda c: c.betas[0] == 0.0, gst.GANConfig(betas=(0.0, 0.9))),
        (lambda c: c.n_critic > 1 and c.lr_d > 1e-3, gst.GANConfig(lr_d=2e-3, n_critic=2)),
    ],
)
def test_a_failure_shrinks_to_the_smallest_change_from_the_standard_setup(
    condition: Any, minimal: gst.GANConfig
) -> None:
    found = _minimal(gst.gan_configs(), condition)

    assert found == minimal, found


def test_a_latent_size_failure_shrinks_to_one_away_from_the_standard() -> None:
    found = _minimal(gst.gan_configs(), lambda c: c.latent_dim != 100)

    assert found.changes().keys() == {"latent_dim"}
    assert abs(found.latent_dim - 100) == 1


@QUICK
@given(
    cfg=gst.gan_configs(loss="hinge", n_critic=st.integers(3, 4), lr_d=gst.log_uniform(1e-3, 2e-3))
)
def test_overrides_pin_a_value_or_replace_a_strategy(cfg: gst.GANConfig) -> None:
    assert cfg.loss == "hinge"
    assert cfg.n_critic in (3, 4)
    assert 1e-3 <= cfg.lr_d <= 2e-3


def test_an_unknown_override_is_named_with_the_fields_that_exist() -> None:
    with pytest.raises(InvalidArgument, match=r"unknown field.*lr\b.*lr_g, lr_d") as info:
        gst.gan_configs(lr=1e-3)
    assert isinstance(info.value, TypeError)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"lr_g": -1e-4}, ValueError, r"gan_configs\(lr_g=...\): lr_g must be positive"),
        ({"batch_size": "64"}, TypeError, r"gan_configs\(batch_size=...\): batch_size must be"),
        ({"loss": "wasserstein"}, ValueError, r"gan_configs\(loss=...\): loss must be one of"),
    ],
)
def test_a_bad_pinned_value_fails_when_the_strategy_is_built(
    kwargs: dict[str, Any], error: type, message: str
) -> None:
    with pytest.raises(error, match=message) as info:
        gst.gan_configs(**kwargs)
    assert isinstance(info.value, InvalidArgument)


def test_a_strategy_override_drawing_a_bad_value_names_the_field() -> None:
    @QUICK
    @given(cfg=gst.gan_configs(batch_size=st.just(0)))
    def draw(cfg: gst.GANConfig) -> None:
        pass

    with pytest.raises(ValueError, match="batch_size must be at least 2"):
        draw()


# -- log_uniform ----------------------------------------------------------------------------


@QUICK
@given(x=gst.log_uniform(1e-5, 1e-2))
def test_log_uniform_stays_within_its_bounds(x: float) -> None:
    assert 1e-5 <= x <= 1e-2


def test_log_uniform_spreads_over_the_orders_of_magnitude() -> None:
    seen: list[float] = []

    @QUICK
    @given(x=gst.log_uniform(1e-5, 1e-1))
    def draw(x: float) -> None:
        seen.append(x)

    draw()
    decades = {math.floor(math.log10(x)) for x in seen if x < 1e-1}
    assert decades == {-5, -4, -3, -2}


def test_log_uniform_shrinks_towards_lo_or_the_given_point() -> None:
    assert _minimal(gst.log_uniform(1e-5, 1e-2), lambda x: True) == 1e-5
    assert _minimal(gst.log_uniform(1e-5, 1e-2, shrink_towards=2e-4), lambda x: True) == 2e-4
    assert _minimal(gst.log_uniform(1e-5, 1e-2, shrink_towards=2e-4), lambda x: x > 1e-3) == 2e-3


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "names"),
    [
        ((0.0, 1.0), {}, ValueError, "lo < hi"),
        ((1e-2, 1e-3), {}, ValueError, "lo < hi"),
        ((1e-5, math.inf), {}, ValueError, "hi must be finite"),
        (("1e-5", 1e-2), {}, TypeError, "lo must be a number"),
        ((1e-5, 1e-2), {"shrink_towards": 1.0}, ValueError, "shrink_towards must lie in"),
    ],
)
def test_log_uniform_rejects_bad_bounds(
    args: tuple[Any, ...], kwargs: dict[str, Any], error: type, names: str
) -> None:
    with pytest.raises(error, match=names) as info:
        gst.log_uniform(*args, **kwargs)
    assert isinstance(info.value, InvalidArgument)


# -- image_batches --------------------------------------------------------------------------

SHAPE = (6, 3, 5, 4)


def _batches_of(kind: str, **kwargs: Any) -> st.SearchStrategy[torch.Tensor]:
    return gst.image_batches(SHAPE, kinds=[kind], **kwargs)


def _rows_equal(x: torch.Tensor) -> bool:
    return bool((x == x[:1]).all())


#: What each kind promises, for a batch meant to lie in [-1, 1].
KIND_PROMISES: dict[str, Any] = {
    "typical": lambda x: bool(x.isfinite().all()) and -1 <= x.min() < x.max() <= 1,
    "blank": lambda x: bool((x == 0).all()),
    "constant": lambda x: bool((x == x.flatten()[0]).all()) and -1 <= x.flatten()[0] <= 1,
    "saturated-low": lambda x: bool((x == -1).all()),
    "saturated-high": lambda x: bool((x == 1).all()),
    "saturated": lambda x: bool(((x == -1) | (x == 1)).all()),
    "near-constant": lambda x: float(x.max() - x.min()) <= 4e-6 and -1 <= x.min() <= x.max() <= 1,
    "duplicates": lambda x: _rows_equal(x) and float(x.std()) > 0.1,
    "out-of-range": lambda x: bool(x.isfinite().all()) and (x.max() > 1 or x.min() > -0.1),
    "extreme": lambda x: bool(x.isfinite().all()) and float(x.abs().max()) > 1e30,
    "nan": lambda x: bool(x.isnan().any()) and not bool(x.isinf().any()),
    "inf": lambda x: bool(x.isinf().any()) and not bool(x.isnan().any()),
}


def test_every_kind_has_a_promise() -> None:
    assert set(KIND_PROMISES) == set(gst.IMAGE_KINDS)


@pytest.mark.parametrize("kind", gst.IMAGE_KINDS)
def test_each_kind_draws_what_it_promises(kind: str) -> None:
    @settings(max_examples=25, deadline=None, database=None, derandomize=True)
    @given(x=_batches_of(kind))
    def check(x: torch.Tensor) -> None:
        assert x.shape == SHAPE and x.dtype == torch.float32
        assert KIND_PROMISES[kind](x), x

    check()


def test_kinds_respect_the_value_range() -> None:
    @QUICK
    @given(x=gst.image_batches(SHAPE, kinds=["typical", "saturated"], value_range=(0, 1)))
    def check(x: torch.Tensor) -> None:
        assert 0 <= x.min() and x.max() <= 1

    check()
    high = _minimal(_batches_of("saturated-high", value_range=(0, 255)), lambda b: True)
    assert bool((high == 255).all())


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_batches_come_in_the_dtype_asked_for(dtype: torch.dtype) -> None:
    @settings(max_examples=30, deadline=None, database=None, derandomize=True)
    @given(x=gst.image_batches((2, 1, 3, 3), dtype=dtype))
    def check(x: torch.Tensor) -> None:
        assert x.dtype == dtype

    check()


def test_a_nan_batch_shrinks_to_a_single_nan() -> None:
    x = _minimal(gst.image_batches((4, 1, 3, 3)), lambda b: bool(b.isnan().any()))

    assert int(x.isnan().sum()) == 1


def test_a_drawn_batch_is_replayed_exactly() -> None:
    seen: list[torch.Tensor] = []

    @settings(max_examples=5, deadline=None, database=None, derandomize=True)
    @given(x=gst.image_batches(SHAPE))
    def draw(x: torch.Tensor) -> None:
        seen.append(x)

    draw()
    first = list(seen)
    seen.clear()
    draw()
    assert len(first) == len(seen)
    assert all(
        torch.equal(a.nan_to_num(), b.nan_to_num()) for a, b in zip(first, seen, strict=True)
    )


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "names"),
    [
        (([16, 1, 8],), {"kinds": "nan"}, TypeError, "kinds must be a collection"),
        (((16, 1, 8),), {"kinds": []}, ValueError, "kinds must name at least one"),
        (((16, 1, 8),), {"kinds": ["noise"]}, ValueError, "unknown kind 'noise'"),
        ((16,), {}, TypeError, "shape must be a tuple"),
        (((16,),), {}, ValueError, "batch dimension and at least one more"),
        (((16, 0, 8),), {}, ValueError, "positive ints"),
        (((16, 1.0, 8),), {}, TypeError, "shape must hold ints"),
        (((16, 1, 8),), {"value_range": (1, -1)}, ValueError, "value_range must have lo < hi"),
        (((16, 1, 8),), {"dtype": torch.int64}, ValueError, "dtype must be a floating dtype"),
        (((16, 1, 8),), {"dtype": "float32"}, TypeError, "dtype must be a torch.dtype"),
    ],
)
def test_image_batches_rejects_bad_arguments(
    args: tuple[Any, ...], kwargs: dict[str, Any], error: type, names: str
) -> None:
    with pytest.raises(error, match=names) as info:
        gst.image_batches(*args, **kwargs)
    assert isinstance(info.value, InvalidArgument)


# -- the settings profile --------------------------------------------------------------------


def test_the_profile_is_registered_but_not_loaded() -> None:
    profile = settings.get_profile(gst.PROFILE)

    assert profile.deadline is None
    assert profile.max_examples == 20
    assert HealthCheck.too_slow in profile.suppress_health_check
    assert settings.get_current_profile_name() != gst.PROFILE


def test_the_profile_loads_from_the_command_line(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from hypothesis import settings

        def test_profile():
            assert settings.get_current_profile_name() == "pytest-gan"
            assert settings.default.deadline is None
        """
    )

    assert pytester.runpytest_subprocess("--hypothesis-profile=pytest-gan").ret == 0
    assert pytester.runpytest_subprocess().ret == pytest.ExitCode.TESTS_FAILED
