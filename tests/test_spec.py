"""GANSpec and train() refuse bad input up front, naming the argument."""

from __future__ import annotations

import functools
import math
from typing import Any

import pytest
import torch
from torch import nn

from pytest_gan import GANSpec, GANTrainingError, train
from tests.tiny import LATENT, gaussian, make_d, make_g, scripted, tiny_spec

NAN_DATA = gaussian()
NAN_DATA[3, 1] = math.nan


@pytest.mark.parametrize(
    ("overrides", "error", "names"),
    [
        ({"generator": 5}, TypeError, "generator"),
        ({"discriminator": "D"}, TypeError, "discriminator"),
        ({"latent_dim": 0}, ValueError, "latent_dim"),
        ({"latent_dim": (8, 0)}, ValueError, "latent_dim"),
        ({"latent_dim": "8"}, TypeError, "latent_dim"),
        ({"latent_dim": True}, TypeError, "latent_dim"),
        ({"loss": "wgan"}, ValueError, "loss"),
        ({"loss": None}, TypeError, "loss"),
        ({"optimizers": 3}, TypeError, "optimizers"),
        ({"train_step": "step"}, TypeError, "train_step"),
        ({"num_classes": 1}, ValueError, "num_classes"),
        ({"num_classes": "3"}, TypeError, "num_classes"),
        ({"batch_size": 1}, ValueError, "batch_size"),
        ({"batch_size": 64.0}, TypeError, "batch_size"),
        ({"n_critic": 0}, ValueError, "n_critic"),
        ({"name": 7}, TypeError, "name"),
        ({"generator": scripted(make_g())}, TypeError, "generator is a TorchScript"),
        ({"save_checkpoint": "generator.pt"}, TypeError, "save_checkpoint"),
        ({"load_checkpoint": 1}, TypeError, "load_checkpoint"),
        ({"data_range": (1, -1)}, ValueError, "data_range"),
        ({"data_range": 1.0}, TypeError, "data_range"),
        ({"data": "images/"}, TypeError, "data"),
        ({"data": [1, 2, 3]}, TypeError, "data"),
        ({"data": torch.empty(0, 2)}, ValueError, "data"),
        ({"data": torch.randn(1, 2)}, ValueError, "at least 2"),
        ({"data": torch.randn(64)}, ValueError, "data"),
        ({"data": torch.randint(0, 255, (64, 2))}, ValueError, "floating-point"),
        ({"data": NAN_DATA}, ValueError, "NaN"),
        ({"data": torch.full((64, 2), 0.5)}, ValueError, "64 copies of one sample"),
        ({"data": (torch.zeros(8, 3), torch.arange(8))}, ValueError, "holds 8 copies"),
        ({"data": (gaussian(), torch.zeros(5, dtype=torch.long))}, ValueError, "data[1]"),
        ({"data": (gaussian(), torch.zeros(1024))}, ValueError, "integer class labels"),
        ({"data": torch.utils.data.TensorDataset(torch.empty(0, 2))}, ValueError, "empty"),
        ({"num_classes": 2}, ValueError, "labels"),
        (
            {"num_classes": 2, "data": (gaussian(), torch.full((1024,), 5))},
            ValueError,
            "num_classes=2",
        ),
    ],
)
def test_spec_rejects_bad_arguments(
    overrides: dict[str, Any], error: type[Exception], names: str
) -> None:
    with pytest.raises(error, match=names.replace("[", r"\[").replace("]", r"\]")):
        tiny_spec(**overrides)


def test_spec_defaults_and_name() -> None:
    spec = tiny_spec()
    assert spec.loss == "bce"
    assert spec.batch_size == 64
    assert spec.latent_shape == (LATENT,)
    assert spec.name == "make_g"  # builds torch's own nn.Sequential: the factory's name
    assert (
        GANSpec(generator=make_g(), discriminator=make_d(), data=gaussian(), latent_dim=4).name
        == "Sequential"
    )
    assert tiny_spec(latent_dim=(4, 1, 1)).latent_shape == (4, 1, 1)


class Generator(nn.Module):
    def __init__(self, width: int = 32) -> None:
        super().__init__()
        self.net = make_g() if width == 32 else nn.Linear(LATENT, 2)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


def build_generator(width: int = 32) -> nn.Module:
    return Generator(width)


def broken_factory() -> nn.Module:
    raise RuntimeError("the factory fails")


@pytest.mark.parametrize(
    ("generator", "name"),
    [
        (Generator, "Generator"),
        (Generator(), "Generator"),
        (lambda: Generator(), "Generator"),
        (functools.partial(Generator, width=8), "Generator"),
        (functools.partial(build_generator, width=8), "Generator"),
        (build_generator, "Generator"),
        (lambda: make_g(), "Sequential"),
        (broken_factory, "broken_factory"),
        (lambda: 3, "GAN"),
    ],
)
def test_the_default_name_is_the_generators_class(generator: Any, name: str) -> None:
    before = torch.get_rng_state()
    spec = GANSpec(generator=generator, discriminator=make_d, data=gaussian(), latent_dim=LATENT)
    assert spec.name == name
    assert torch.equal(torch.get_rng_state(), before)  # building it drew nothing of the caller's


@pytest.mark.parametrize(
    ("overrides", "names"),
    [
        # G's first layer expects 4 inputs: a latent_dim of 7 cannot feed it.
        ({"latent_dim": 7}, "generator .*latent_dim=7"),
        (
            {"generator": lambda: nn.Sequential(nn.Linear(LATENT, 3))},
            r"generator output \[2, 3\] does not match",
        ),
        ({"discriminator": lambda: nn.Sequential(nn.Linear(3, 1))}, "discriminator .*on real"),
        ({"discriminator": lambda: nn.Sequential(nn.Linear(2, 3), nn.Flatten(0))}, "one score"),
        ({"discriminator": lambda: _Sum()}, "one score"),
        ({"generator": lambda: _NotATensor()}, "generator .*must return a Tensor"),
        ({"generator": lambda: 3}, "generator factory must return an nn.Module"),
        (
            {"discriminator": lambda: scripted(make_d())},
            "discriminator factory's module is a TorchScript module",
        ),
        (
            {"discriminator": lambda: nn.Sequential(scripted(make_d()))},
            "discriminator factory's module's submodule '0' is a TorchScript module",
        ),
        (
            {"generator": lambda: _Float64G()},
            r"discriminator \(on generated samples\).*the generator returns torch.float64",
        ),
        # z is made in G's own dtype: a float64 G trains, and a D left in float32 meets
        # its float64 samples, as it would in a loop.
        (
            {"generator": lambda: make_g().double()},
            r"discriminator \(on generated samples\).*the generator returns torch.float64",
        ),
        # A generator whose parameters mix dtypes: named, with the ways out.
        (
            {"generator": lambda: nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 2).double())},
            r"generator .*its parameters are torch.float32, torch.float64, its input "
            r"torch.float32.*build the network in one dtype",
        ),
        (
            {"optimizers": lambda g, d: torch.optim.Adam(g.parameters())},
            "optimizers must return a pair",
        ),
    ],
)
def test_train_rejects_networks_that_do_not_fit(overrides: dict[str, Any], names: str) -> None:
    with pytest.raises((TypeError, ValueError), match=names):
        train(tiny_spec(**overrides), steps=1)


class _Float64G(nn.Module):
    """A float64 G that converts z itself: its samples are float64, D's layers float32."""

    def __init__(self) -> None:
        super().__init__()
        self.net = make_g().double()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(z.double())
        return out


class _Sum(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.sum()


class _NotATensor(nn.Module):
    def forward(self, z: torch.Tensor) -> Any:
        # A dict: no tensor in front (a tuple or list whose first element is the samples
        # is read as StyleGAN2's (image, latents)).
        return {"z": z}


@pytest.mark.parametrize(
    ("kwargs", "error", "names"),
    [
        ({"steps": 0}, ValueError, "steps"),
        ({"steps": 2.5}, TypeError, "steps"),
        ({"seed": -1}, ValueError, "seed"),
        ({"seed": 2**64}, ValueError, "seed must be at most"),
        ({"seed": "0"}, TypeError, "seed"),
        ({"device": "tpu"}, ValueError, "device"),
        ({"device": 0.5}, TypeError, "device"),
        ({"progress": 3}, TypeError, "progress"),
    ],
)
def test_train_rejects_bad_arguments(
    kwargs: dict[str, Any], error: type[Exception], names: str
) -> None:
    with pytest.raises(error, match=names):
        train(tiny_spec(), **kwargs)


def test_train_rejects_a_non_spec() -> None:
    with pytest.raises(TypeError, match="spec must be a GANSpec"):
        train({"generator": make_g}, steps=1)  # type: ignore[arg-type]


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_train_refuses_cuda_when_there_is_none() -> None:
    with pytest.raises(ValueError, match="CUDA is not available"):
        train(tiny_spec(), steps=1, device="cuda")


def test_a_raising_step_names_the_spec_and_the_step() -> None:
    def step(ctx: Any, batch: torch.Tensor) -> dict[str, float]:
        if ctx.step == 2:
            raise RuntimeError("boom")
        return {"d_loss": 0.0, "g_loss": 0.0}

    with pytest.raises(
        GANTrainingError,
        match=r"my-gan: the training step raised at step 2 of 5: RuntimeError: boom",
    ):
        train(tiny_spec(train_step=step, name="my-gan"), steps=5)


@pytest.mark.parametrize(
    ("result", "names"),
    [
        (None, "mapping of losses"),
        ({"d_loss": "high"}, "'d_loss' is str"),
        ({"d_loss": torch.ones(3)}, "scalar losses"),
    ],
)
def test_a_step_must_return_scalar_losses(result: Any, names: str) -> None:
    with pytest.raises(TypeError, match=names):
        train(tiny_spec(train_step=lambda ctx, batch: result), steps=1)


def test_a_range_of_non_numbers_is_refused_by_name() -> None:
    with pytest.raises(TypeError, match="data_range must be a pair of numbers"):
        tiny_spec(data_range=("low", 1))


def test_integer_arguments_are_checked_by_one_helper_naming_the_argument() -> None:
    from pytest_gan._args import check_int

    assert check_int(3, "n") == 3
    assert check_int(0, "seed", least=0) == 0
    # A bool is an int to Python, but train(spec, True) is a mistake, not one step.
    for wrong in (True, 2.0, "3", None):
        with pytest.raises(TypeError, match=rf"^n must be an int; got {type(wrong).__name__}$"):
            check_int(wrong, "n")
    with pytest.raises(ValueError, match=r"^n must be at least 1; got 0$"):
        check_int(0, "n")
    with pytest.raises(ValueError, match=r"^k must be at least 4 \(2 \* c\); got 3$"):
        check_int(3, "k", least=4, why=" (2 * c)")


def test_data_as_a_list_of_single_samples_is_refused_with_the_way_out() -> None:
    samples = list(gaussian(10))
    with pytest.raises(TypeError, match=r"data given as a list .*a list of 10 items.*torch\.stack"):
        tiny_spec(data=samples)
    x = gaussian(10)
    with pytest.raises(TypeError, match=r"data given as a tuple .*\(Tensor, Tensor, Tensor\)"):
        tiny_spec(data=(x, x, x))
    # Two samples read as a pair (x, y): the message says so, and the way out.
    with pytest.raises(ValueError, match=r"data given as a list of two Tensors .*torch\.stack"):
        tiny_spec(data=list(gaussian(2)))
    # A real pair with float labels is still told about its labels.
    with pytest.raises(ValueError, match=r"data\[1\] \(y\) must hold integer class labels"):
        tiny_spec(data=(x, torch.zeros(10)))


def test_nan_beyond_the_inspected_items_is_refused_when_drawn() -> None:
    from torch.utils.data import DataLoader, TensorDataset

    # GANSpec inspects a Dataset's first 256 items and a DataLoader's first batch; a NaN
    # further in is refused, naming data, when training draws it (not a NaN loss later).
    x = gaussian(512)
    x[500, 0] = math.nan
    spec = tiny_spec(data=TensorDataset(x), batch_size=32)
    with pytest.raises(ValueError, match=r"^data \(Dataset\) contains 1 NaN .* items \[500\]"):
        train(spec, steps=40, seed=0)
    loader = DataLoader(TensorDataset(x), batch_size=32)  # the NaN in its 16th batch
    with pytest.raises(ValueError, match=r"^data \(DataLoader\) contains 1 NaN .* a batch it"):
        train(tiny_spec(data=loader), steps=40, seed=0)
    # Finite data of the same forms trains.
    x[500, 0] = 0.0
    train(tiny_spec(data=TensorDataset(x), batch_size=32), steps=40, seed=0)
    train(tiny_spec(data=DataLoader(TensorDataset(x), batch_size=32)), steps=40, seed=0)
