"""Unit tests of the reference zoo's data generators and model architectures."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from fixtures import data, models

IMAGE_SETS: dict[str, tuple[Callable[..., object], tuple[int, ...], int]] = {
    "shapes16": (data.shapes16, (1, 16, 16), len(data.SHAPE_CLASSES)),
    "scenes32": (data.scenes32, (3, 32, 32), 3),
}
ALL_SETS: dict[str, tuple[Callable[..., object], tuple[int, ...], int]] = {
    "ring8": (data.ring8, (2,), 8),
    "grid25": (data.grid25, (2,), 25),
    **IMAGE_SETS,
}


@pytest.fixture(params=sorted(ALL_SETS))
def dataset(request: pytest.FixtureRequest) -> tuple[Callable[..., object], tuple[int, ...], int]:
    return ALL_SETS[request.param]


def test_shape_dtype_and_layout(
    dataset: tuple[Callable[..., object], tuple[int, ...], int],
) -> None:
    make, shape, _ = dataset
    x = make(100)
    assert isinstance(x, torch.Tensor)
    assert x.shape == (100, *shape)
    assert x.dtype == torch.float32
    assert x.is_contiguous()
    assert torch.isfinite(x).all()


def test_labels_are_int64_in_range_and_balanced(
    dataset: tuple[Callable[..., object], tuple[int, ...], int],
) -> None:
    make, shape, k = dataset
    n = 40 * k + 7  # not a multiple of k: balance must still hold to within one
    x, y = make(n, labels=True)
    assert x.shape == (n, *shape)
    assert y.shape == (n,)
    assert y.dtype == torch.int64
    assert int(y.min()) == 0 and int(y.max()) == k - 1
    counts = torch.bincount(y, minlength=k)
    assert int(counts.max() - counts.min()) <= 1


def test_labels_do_not_change_the_data(
    dataset: tuple[Callable[..., object], tuple[int, ...], int],
) -> None:
    make, _, _ = dataset
    x, _ = make(64, seed=3, labels=True)
    assert torch.equal(x, make(64, seed=3))


def test_same_seed_same_data_other_seed_other_data(
    dataset: tuple[Callable[..., object], tuple[int, ...], int],
) -> None:
    make, _, _ = dataset
    assert torch.equal(make(64, seed=1), make(64, seed=1))
    assert not torch.equal(make(64, seed=1), make(64, seed=2))


def test_labels_are_shuffled(dataset: tuple[Callable[..., object], tuple[int, ...], int]) -> None:
    make, _, k = dataset
    _, y = make(200, labels=True)
    assert not torch.equal(y, torch.arange(200) % k)


def test_global_rng_untouched(dataset: tuple[Callable[..., object], tuple[int, ...], int]) -> None:
    make, _, _ = dataset
    torch.manual_seed(1234)
    before = torch.get_rng_state()
    make(64, seed=5, labels=True)
    assert torch.equal(torch.get_rng_state(), before)


@pytest.mark.parametrize("n", [0, -3])
def test_non_positive_n_rejected(
    dataset: tuple[Callable[..., object], tuple[int, ...], int], n: int
) -> None:
    make, _, _ = dataset
    with pytest.raises(ValueError, match="n must be a positive int"):
        make(n)


def test_float_n_rejected() -> None:
    with pytest.raises(TypeError, match="n must be an int"):
        data.ring8(64.0)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", sorted(IMAGE_SETS))
def test_images_lie_in_minus_one_one_and_use_the_range(name: str) -> None:
    make, _, _ = IMAGE_SETS[name]
    x = make(512)
    assert isinstance(x, torch.Tensor)
    assert float(x.min()) >= -1.0 and float(x.max()) <= 1.0
    # Both ends are reached: a generator in [0, 1] or [-1, 0] would not look like this data.
    assert float(x.min()) < -0.9 and float(x.max()) > 0.9


def test_ring8_modes_on_the_circle() -> None:
    modes = data.ring8_modes()
    assert modes.shape == (8, 2)
    assert torch.allclose(modes.norm(dim=1), torch.ones(8))
    angles = torch.atan2(modes[:, 1], modes[:, 0]).remainder(2 * torch.pi).sort().values
    assert torch.allclose(angles.diff(), torch.full((7,), torch.pi / 4), atol=1e-5)
    assert torch.allclose(data.ring8_modes(radius=2.0), 2 * modes)


def test_ring8_points_near_their_mode() -> None:
    x, y = data.ring8(4096, labels=True)
    distance = (x - data.ring8_modes()[y]).norm(dim=1)
    assert float(distance.max()) < 5 * data.RING8_SIGMA
    # The spread matches sigma: a 2-D Gaussian's mean radius is sigma * sqrt(pi / 2).
    assert float(distance.mean()) == pytest.approx(data.RING8_SIGMA * 1.2533, rel=0.05)


def test_ring8_radius_and_sigma_respected() -> None:
    x, y = data.ring8(2048, radius=3.0, sigma=0.1, labels=True)
    distance = (x - data.ring8_modes(radius=3.0)[y]).norm(dim=1)
    assert float(distance.mean()) == pytest.approx(0.1 * 1.2533, rel=0.05)


def test_grid25_modes_and_points() -> None:
    modes = data.grid25_modes()
    assert modes.shape == (25, 2)
    assert set(modes.flatten().tolist()) == {-4.0, -2.0, 0.0, 2.0, 4.0}
    assert len({tuple(m) for m in modes.tolist()}) == 25
    x, y = data.grid25(4096, labels=True)
    assert float((x - modes[y]).norm(dim=1).max()) < 5 * data.GRID25_SIGMA
    # The toy deliberately lives outside [-1, 1]: its generators need a linear output.
    assert float(x.abs().max()) > 3.9


def test_shapes16_background_and_brightness() -> None:
    x = data.shapes16(512)
    lit = x > -1
    per_image = lit.flatten(1).sum(dim=1)
    assert int(per_image.min()) >= 9  # every image shows a shape of several pixels
    assert float((per_image / 256).max()) < 0.6  # ... on a mostly black background
    brightness = torch.stack([img[m].unique()[0] for img, m in zip(x, lit, strict=True)])
    assert all(img[m].unique().numel() == 1 for img, m in zip(x, lit, strict=True))
    assert float(brightness.min()) >= 2 * 0.3 - 1 - 1e-6
    assert float(brightness.max()) <= 1.0


def test_shapes16_classes_differ_in_form() -> None:
    x, y = data.shapes16(2048, labels=True)
    lit = (x > -1).float().squeeze(1)
    # Fill ratio of the bounding box tells the shapes apart: square ~1, disc ~pi/4,
    # triangle and cross ~1/2.
    rows, cols = lit.amax(dim=2), lit.amax(dim=1)
    box = rows.sum(dim=1) * cols.sum(dim=1)
    fill = lit.sum(dim=(1, 2)) / box
    mean_fill = torch.stack([fill[y == k].mean() for k in range(4)])
    disc, square, triangle, cross = mean_fill.tolist()
    assert square > 0.95
    assert 0.65 < disc < 0.9
    assert triangle < 0.65 and cross < 0.65


def test_scenes32_has_shapes_over_a_smooth_background() -> None:
    x, y = data.scenes32(256, labels=True)
    # A gradient changes by little between neighbours; shape edges change abruptly, and
    # more shapes make more edges.
    jumps = (x.diff(dim=3).abs() > 0.05).any(dim=1).flatten(1).sum(dim=1).float()
    assert float(jumps.min()) > 0
    assert float(jumps[y == 0].mean()) < float(jumps[y == 2].mean())
    assert x.std(dim=(2, 3)).mean() > 0.1


def test_unit_and_uint8_ranges() -> None:
    x = torch.tensor([-1.0, 0.0, 1.0])
    assert torch.equal(data.to_unit_range(x), torch.tensor([0.0, 0.5, 1.0]))
    assert torch.equal(data.to_uint8_range(x), torch.tensor([0.0, 127.5, 255.0]))


def test_shape_classes() -> None:
    assert data.SHAPE_CLASSES == ("disc", "square", "triangle", "cross")


# --- models ---------------------------------------------------------------------------------

Factory = Callable[[], nn.Module]

GENERATORS: dict[str, tuple[Factory, tuple[int, ...], tuple[int, ...]]] = {
    # name: (factory, z shape, output shape), batch dimension left out
    "mlp": (models.MLPGenerator, (8,), (2,)),
    "dcgan16": (models.DCGANGenerator, (32,), (1, 16, 16)),
    "dcgan16-z4d": (models.DCGANGenerator, (32, 1, 1), (1, 16, 16)),
    "dcgan32": (
        lambda: models.DCGANGenerator(latent_dim=16, channels=3, image_size=32),
        (16,),
        (3, 32, 32),
    ),
}
DISCRIMINATORS: dict[str, tuple[Factory, tuple[int, ...]]] = {
    "mlp": (models.MLPDiscriminator, (2,)),
    "mlp-sn": (lambda: models.MLPDiscriminator(spectral_norm=True), (2,)),
    "dcgan16": (models.DCGANDiscriminator, (1, 16, 16)),
    "dcgan16-layer": (lambda: models.DCGANDiscriminator(norm="layer"), (1, 16, 16)),
    "dcgan16-sn": (
        lambda: models.DCGANDiscriminator(norm="none", spectral_norm=True),
        (1, 16, 16),
    ),
    "dcgan32": (lambda: models.DCGANDiscriminator(channels=3, image_size=32), (3, 32, 32)),
}


@pytest.mark.parametrize("batch", [2, 64])
@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_generator_output_shape(name: str, batch: int) -> None:
    make, z_shape, out_shape = GENERATORS[name]
    out = make()(torch.randn(batch, *z_shape))
    assert out.shape == (batch, *out_shape)


@pytest.mark.parametrize("batch", [2, 64])
@pytest.mark.parametrize("name", sorted(DISCRIMINATORS))
def test_discriminator_output_shape(name: str, batch: int) -> None:
    make, in_shape = DISCRIMINATORS[name]
    assert make()(torch.randn(batch, *in_shape)).shape == (batch, 1)


@pytest.mark.parametrize("batch", [2, 64])
def test_conditional_dcgan_forward(batch: int) -> None:
    g = models.ConditionalDCGANGenerator(latent_dim=16, num_classes=3, channels=3, image_size=32)
    d = models.ConditionalDCGANDiscriminator(num_classes=3, channels=3, image_size=32)
    y = torch.arange(batch) % 3
    x = g(torch.randn(batch, 16), y)
    assert x.shape == (batch, 3, 32, 32)
    assert d(x, y).shape == (batch, 1)


@pytest.mark.parametrize("batch", [2, 64])
def test_conditional_mlp_forward(batch: int) -> None:
    g, d = models.ConditionalMLPGenerator(), models.ConditionalMLPDiscriminator()
    y = torch.arange(batch) % 8
    x = g(torch.randn(batch, 8), y)
    assert x.shape == (batch, 2)
    assert d(x, y).shape == (batch, 1)


def test_conditional_generators_use_the_label() -> None:
    torch.manual_seed(0)
    z = torch.randn(4, 32)
    g = models.ConditionalDCGANGenerator().eval()
    assert not torch.allclose(
        g(z, torch.zeros(4, dtype=torch.long)), g(z, torch.ones(4, dtype=torch.long))
    )
    mlp = models.ConditionalMLPGenerator()
    z = torch.randn(4, 8)
    assert not torch.allclose(mlp(z, torch.zeros(4, dtype=torch.long)), mlp(z, torch.full((4,), 7)))


def test_projection_discriminators_use_the_label() -> None:
    torch.manual_seed(0)
    d = models.ConditionalDCGANDiscriminator().eval()
    x = torch.randn(4, 1, 16, 16)
    assert not torch.allclose(d(x, torch.zeros(4, dtype=torch.long)), d(x, torch.full((4,), 3)))
    mlp = models.ConditionalMLPDiscriminator()
    x = torch.randn(4, 2)
    assert not torch.allclose(mlp(x, torch.zeros(4, dtype=torch.long)), mlp(x, torch.full((4,), 7)))


def test_projection_is_linear_plus_inner_product() -> None:
    d = models.ConditionalMLPDiscriminator(num_classes=3)
    x, y = torch.randn(5, 2), torch.tensor([0, 1, 2, 1, 0])
    h = d.trunk(x)
    expected = d.head.linear(h) + (d.head.embed(y) * h).sum(dim=1, keepdim=True)
    assert torch.allclose(d(x, y), expected)


def test_float_labels_rejected() -> None:
    g = models.ConditionalMLPGenerator()
    with pytest.raises(TypeError, match="integer class labels"):
        g(torch.randn(2, 8), torch.zeros(2))


@pytest.mark.parametrize(
    "make",
    [
        lambda: models.MLPDiscriminator(spectral_norm=True),
        lambda: models.DCGANDiscriminator(norm="none", spectral_norm=True),
        lambda: models.DCGANDiscriminator(image_size=32, norm="none", spectral_norm=True),
    ],
)
def test_spectral_norm_wraps_every_weight_layer(make: Factory) -> None:
    d = make()
    layers = [m for m in d.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert layers
    assert all(parametrize.is_parametrized(m, "weight") for m in layers)
    d(
        torch.randn(
            8, *((2,) if isinstance(layers[0], nn.Linear) else (1, d.image_size, d.image_size))
        )
    )
    for m in layers:
        # After a forward pass in training mode the power iteration has run: the
        # effective weight's largest singular value is about 1.
        w = m.weight.detach().flatten(1)
        assert float(torch.linalg.matrix_norm(w, ord=2)) < 1.5


def test_plain_discriminators_have_no_parametrizations() -> None:
    for d in (models.MLPDiscriminator(), models.DCGANDiscriminator()):
        assert not any(parametrize.is_parametrized(m) for m in d.modules())


def test_norm_choices() -> None:
    def norms(d: nn.Module) -> set[type[nn.Module]]:
        return {type(m) for m in d.modules() if isinstance(m, (nn.BatchNorm2d, nn.GroupNorm))}

    assert norms(models.DCGANDiscriminator(norm="batch")) == {nn.BatchNorm2d}
    assert norms(models.DCGANDiscriminator(norm="layer")) == {nn.GroupNorm}
    assert norms(models.DCGANDiscriminator(norm="none")) == set()
    with pytest.raises(ValueError, match="norm must be one of"):
        models.DCGANDiscriminator(norm="instance")


@pytest.mark.parametrize(
    ("name", "lo", "hi"),
    [("tanh", -1.0, 1.0), ("sigmoid", 0.0, 1.0), ("relu", 0.0, float("inf"))],
)
@torch.no_grad()
def test_final_activation_ranges(name: str, lo: float, hi: float) -> None:
    torch.manual_seed(0)
    x = models.DCGANGenerator(final_activation=name)(torch.randn(64, 32))
    assert float(x.min()) >= lo and float(x.max()) <= hi
    assert float(x.std()) > 0


@pytest.mark.parametrize(
    ("name", "function"),
    [("tanh", torch.tanh), ("sigmoid", torch.sigmoid), ("relu", torch.relu)],
)
@torch.no_grad()
def test_final_activation_applied_literally(
    name: str, function: Callable[[torch.Tensor], torch.Tensor]
) -> None:
    z = torch.randn(64, 32)
    torch.manual_seed(0)
    raw = models.DCGANGenerator(final_activation="none")(z)
    torch.manual_seed(0)
    squashed = models.DCGANGenerator(final_activation=name)(z)
    assert float(raw.min()) < 0  # "none" is the identity: negative values survive
    assert torch.allclose(squashed, function(raw), atol=1e-6)
    assert not torch.allclose(squashed, raw)


def test_bad_architecture_arguments_rejected() -> None:
    with pytest.raises(ValueError, match="final_activation must be one of"):
        models.DCGANGenerator(final_activation="softmax")
    with pytest.raises(ValueError, match="image_size must be one of"):
        models.DCGANGenerator(image_size=64)
    with pytest.raises(ValueError, match="image_size must be one of"):
        models.DCGANDiscriminator(image_size=28)
    with pytest.raises(ValueError, match="latent_dim must be a positive int"):
        models.MLPGenerator(latent_dim=0)


def test_mlp_generator_output_is_linear() -> None:
    assert isinstance(models.MLPGenerator().net[-1], nn.Linear)
    relus = [m for m in models.MLPGenerator(depth=4).modules() if isinstance(m, nn.ReLU)]
    assert len(relus) == 4


def test_mlp_discriminator_uses_leaky_relu() -> None:
    acts = [m for m in models.MLPDiscriminator().modules() if isinstance(m, nn.LeakyReLU)]
    assert len(acts) == 3 and all(a.negative_slope == 0.2 for a in acts)


@torch.no_grad()
def test_dcgan_init() -> None:
    torch.manual_seed(0)
    g = models.DCGANGenerator(image_size=32, width=64)
    convs = [m for m in g.modules() if isinstance(m, nn.ConvTranspose2d)]
    weights = torch.cat([m.weight.flatten() for m in convs])
    assert float(weights.std()) == pytest.approx(0.02, rel=0.1)
    assert float(weights.mean()) == pytest.approx(0.0, abs=0.002)
    bns = [m for m in g.modules() if isinstance(m, nn.BatchNorm2d)]
    scales = torch.cat([m.weight.flatten() for m in bns])
    assert float(scales.mean()) == pytest.approx(1.0, abs=0.01)
    assert all(float(m.bias.abs().max()) == 0 for m in bns)
    linear = models.dcgan_init(nn.Sequential(nn.Linear(200, 200)))[0]
    assert isinstance(linear, nn.Linear)
    assert float(linear.weight.std()) == pytest.approx(0.02, rel=0.1)
    assert float(linear.bias.abs().max()) == 0


def test_models_are_deterministic_under_a_seed() -> None:
    torch.manual_seed(7)
    a = models.DCGANGenerator()
    torch.manual_seed(7)
    b = models.DCGANGenerator()
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


@pytest.mark.parametrize(
    ("g", "d", "real", "labels"),
    [
        (models.MLPGenerator(), models.MLPDiscriminator(), data.ring8(16), None),
        (models.DCGANGenerator(), models.DCGANDiscriminator(), data.shapes16(16), None),
        (
            models.ConditionalDCGANGenerator(),
            models.ConditionalDCGANDiscriminator(),
            data.shapes16(16),
            torch.arange(16) % 4,
        ),
        (
            models.ConditionalMLPGenerator(),
            models.ConditionalMLPDiscriminator(),
            data.ring8(16),
            torch.arange(16) % 8,
        ),
    ],
    ids=["mlp", "dcgan16", "conditional-dcgan16", "conditional-mlp"],
)
def test_every_parameter_gets_a_gradient(
    g: nn.Module, d: nn.Module, real: torch.Tensor, labels: torch.Tensor | None
) -> None:
    extra = () if labels is None else (labels,)
    latent_dim = g.latent_dim
    assert isinstance(latent_dim, int)
    fake = g(torch.randn(16, latent_dim), *extra)
    # The BCE losses of a D step and a G step, summed: a plain difference of mean logits
    # would cancel D's output bias out of the gradient.
    softplus = nn.functional.softplus
    (softplus(-d(real, *extra)).mean() + softplus(d(fake, *extra)).mean()).backward()
    for name, p in [*g.named_parameters(), *d.named_parameters()]:
        assert p.grad is not None and float(p.grad.abs().sum()) > 0, name
