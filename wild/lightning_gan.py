"""The PyTorch Lightning "Basic GAN" tutorial, as a plain loop without Lightning.

Source read: ``Lightning-AI/tutorials``: ``lightning_examples/basic-gan/gan.py`` (the
``MNISTDataModule``, ``Generator``, ``Discriminator`` and the ``GAN`` LightningModule with
manual optimisation).

Reproduced as in the original:

- G: an MLP on ``z`` [B, latent_dim]: blocks ``Linear -> BatchNorm1d(out, 0.8) ->
  LeakyReLU(0.01)`` (no BatchNorm in the first block; the 0.8 is BatchNorm1d's *eps*, as
  the tutorial passes it positionally), 128-256-512-1024, then ``Linear`` to
  ``prod(img_shape)``, Tanh, and ``view(B, *img_shape)``. D: flatten, ``Linear -> 512 ->
  LeakyReLU(0.2) -> 256 -> LeakyReLU(0.2) -> 1``, Sigmoid. PyTorch's default init.
- Loss: ``adversarial_loss = F.binary_cross_entropy`` on D's probabilities; G's loss
  against ones, D's ``(real_loss + fake_loss) / 2`` with the fakes ``.detach()``-ed.
- Adam, lr 2e-4, betas (b1, b2) = (0.5, 0.999) for both; latent_dim 100; batch 64 (the
  tutorial's ``BATCH_SIZE`` is 256 with CUDA, 64 without; 64 kept here).
- Loop (``training_step``, manual optimisation): one z per batch; G first:
  ``toggle_optimizer(opt_g)``, ``generated_imgs = G(z)``, G's loss, ``manual_backward``,
  ``opt_g.step()``, ``opt_g.zero_grad()``, ``untoggle_optimizer``; then D:
  ``toggle_optimizer(opt_d)``, real and (detached) fake losses, ``manual_backward``,
  ``opt_d.step()``, ``opt_d.zero_grad()``, ``untoggle_optimizer``. Zeroing comes *after*
  each step, so the toggling is what keeps G's backward out of D's gradients; the plain
  loop keeps it, written out as Lightning does it (the parameters of the other optimizer
  stop requiring grad for the duration).
- Checkpoint: the tutorial has no checkpoint code of its own; Lightning's default
  ``ModelCheckpoint`` writes the module's ``state_dict`` (keys prefixed ``generator.`` /
  ``discriminator.``) under ``'state_dict'`` with ``'hyper_parameters'``, ``'epoch'`` and
  ``'global_step'``, and ``GAN.load_from_checkpoint(path).generator`` reads it back. Here the
  generator's entries in that layout, read back with ``weights_only=True``.
- Data: the tutorial normalises MNIST with ``Normalize((0.1307,), (0.3081,))`` (MNIST's mean
  and std), which puts the data in [-0.42, 2.82] against G's Tanh. The healthy GAN here
  uses ``Normalize((0.5,), (0.5,))`` ([-1, 1]); the tutorial's own line is the mutation
  "mnist-mean-std-normalize".

Mutations left out because in this loop they raise at once rather than train wrongly:

- a missing ``.detach()`` in D's step ("d-step-leaks-into-generator",
  "detach-missing-wasteful"): G's ``manual_backward`` has already freed the graph of
  ``generated_imgs``, so D's backward through it raises "Trying to backward through the
  graph a second time";
- G's loss on ``generated_imgs.detach()`` ("generator-not-learning"): under
  ``toggle_optimizer(opt_g)`` D's parameters do not require grad either, so ``g_loss``
  has no ``grad_fn`` and its backward raises.

Scaled down:

- Images 28x28 -> 16x16 (``img_shape = (1, 16, 16)``): ``wild.data.digits(2048, size=16)``
  for MNIST's 55 000 training images. Widths kept as in the tutorial (a 200-step run is
  fast at full width).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from pytest_gan import GANSpec
from wild import data as wdata
from wild._base import Mutation, WildGAN

LATENT_DIM = 100
LR = 2e-4
B1, B2 = 0.5, 0.999
BATCH_SIZE = 64
IMG_SHAPE = (1, 16, 16)
N_IMAGES = 2048
G_WIDTHS = (128, 256, 512, 1024)
D_WIDTHS = (512, 256)
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


class Generator(nn.Module):
    def __init__(
        self,
        latent_dim: int = LATENT_DIM,
        img_shape: tuple[int, ...] = IMG_SHAPE,
        final: str = "tanh",
    ) -> None:
        super().__init__()
        self.img_shape = img_shape

        def block(in_feat: int, out_feat: int, normalize: bool = True) -> list[nn.Module]:
            layers: list[nn.Module] = [nn.Linear(in_feat, out_feat)]
            if normalize:
                layers.append(nn.BatchNorm1d(out_feat, 0.8))
            layers.append(nn.LeakyReLU(0.01, inplace=True))
            return layers

        w1, w2, w3, w4 = G_WIDTHS
        self.model = nn.Sequential(
            *block(latent_dim, w1, normalize=False),
            *block(w1, w2),
            *block(w2, w3),
            *block(w3, w4),
            nn.Linear(w4, math.prod(img_shape)),
            nn.Sigmoid() if final == "sigmoid" else nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        img = self.model(z)
        return img.view(img.size(0), *self.img_shape)


class Discriminator(nn.Module):
    def __init__(self, img_shape: tuple[int, ...] = IMG_SHAPE) -> None:
        super().__init__()
        w1, w2 = D_WIDTHS
        self.model = nn.Sequential(
            nn.Linear(math.prod(img_shape), w1),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(w1, w2),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(w2, 1),
            nn.Sigmoid(),
        )

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return self.model(img.view(img.size(0), -1))


def toggle_optimizer(
    optimizer: torch.optim.Optimizer, optimizers: Iterable[torch.optim.Optimizer]
) -> dict[torch.Tensor, bool]:
    """``LightningModule.toggle_optimizer``: every parameter held by any optimizer stops
    requiring grad, then those of ``optimizer`` get their own state back. Returns the
    saved states for ``untoggle_optimizer``."""
    saved: dict[torch.Tensor, bool] = {}
    for opt in optimizers:
        for group in opt.param_groups:
            for param in group["params"]:
                if param not in saved:
                    saved[param] = param.requires_grad
                    param.requires_grad = False
    for group in optimizer.param_groups:
        for param in group["params"]:
            param.requires_grad = saved[param]
    return saved


def untoggle_optimizer(saved: dict[torch.Tensor, bool]) -> None:
    for param, requires_grad in saved.items():
        param.requires_grad = requires_grad


def bce(y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy(y_hat, y)


def bce_hand_written(y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return -torch.mean(y * torch.log(y_hat) + (1 - y) * torch.log(1 - y_hat))


def bce_logits(y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(y_hat, y)


_LOSSES = {"bce": bce, "hand-written": bce_hand_written, "logits": bce_logits}


@dataclass(frozen=True)
class LightningGANStep:
    """``GAN.training_step`` of the tutorial, outside Lightning."""

    loss: str = "bce"
    # Mistake: opt_d.zero_grad() deleted.
    d_zero_grad: bool = True
    # Mistake: the generator block repeated.
    g_repeats: int = 1

    def __call__(self, ctx: Any, batch: torch.Tensor) -> Mapping[str, Any]:
        generator, discriminator = ctx.generator, ctx.discriminator
        optimizer_g, optimizer_d = ctx.opt_g, ctx.opt_d
        optimizers = (optimizer_g, optimizer_d)
        adversarial_loss = _LOSSES[self.loss]
        imgs = batch

        z = ctx.latent(imgs.shape[0]).type_as(imgs)

        for _ in range(self.g_repeats):
            saved = toggle_optimizer(optimizer_g, optimizers)
            generated_imgs = generator(z)
            valid = torch.ones(imgs.size(0), 1).type_as(imgs)
            g_loss = adversarial_loss(discriminator(generated_imgs), valid)
            g_loss.backward()
            optimizer_g.step()
            optimizer_g.zero_grad()
            untoggle_optimizer(saved)

        saved = toggle_optimizer(optimizer_d, optimizers)
        valid = torch.ones(imgs.size(0), 1).type_as(imgs)
        real_loss = adversarial_loss(discriminator(imgs), valid)
        fake = torch.zeros(imgs.size(0), 1).type_as(imgs)
        fake_loss = adversarial_loss(discriminator(generated_imgs.detach()), fake)
        d_loss = (real_loss + fake_loss) / 2
        d_loss.backward()
        optimizer_d.step()
        if self.d_zero_grad:
            optimizer_d.zero_grad()
        untoggle_optimizer(saved)
        return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach()}


def _hparams() -> dict[str, Any]:
    return {
        "channels": IMG_SHAPE[0],
        "width": IMG_SHAPE[1],
        "height": IMG_SHAPE[2],
        "latent_dim": LATENT_DIM,
        "lr": LR,
        "b1": B1,
        "b2": B2,
        "batch_size": BATCH_SIZE,
    }


def _lightning_checkpoint(entries: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    return {
        "epoch": 0,
        "global_step": 0,
        "state_dict": {f"generator.{k}": v for k, v in entries.items()},
        "hyper_parameters": _hparams(),
    }


#: The spec's generator factory: a checkpoint is loaded into what it builds, as the
#: user's own loading code would rebuild their (possibly mistaken) ``Generator``.
GeneratorFactory = Callable[[], nn.Module]


def save_checkpoint(
    factory: GeneratorFactory, generator: nn.Module, path: str | os.PathLike[str]
) -> None:
    torch.save(_lightning_checkpoint(generator.state_dict()), path)


def _generator_entries(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    state_dict = torch.load(path, weights_only=True)["state_dict"]
    prefix = "generator."
    return {k[len(prefix) :]: v for k, v in state_dict.items() if k.startswith(prefix)}


def load_checkpoint(factory: GeneratorFactory, path: str | os.PathLike[str]) -> nn.Module:
    generator = factory()
    generator.load_state_dict(_generator_entries(path))
    return generator


def save_checkpoint_fresh(
    factory: GeneratorFactory, generator: nn.Module, path: str | os.PathLike[str]
) -> None:
    torch.save(_lightning_checkpoint(factory().state_dict()), path)


def save_checkpoint_params(
    factory: GeneratorFactory, generator: nn.Module, path: str | os.PathLike[str]
) -> None:
    torch.save(_lightning_checkpoint(dict(generator.named_parameters())), path)


def load_checkpoint_loose(factory: GeneratorFactory, path: str | os.PathLike[str]) -> nn.Module:
    generator = factory()
    generator.load_state_dict(_generator_entries(path), strict=False)
    return generator


def build(
    *,
    transform: str = "normalize",
    g_final: str = "tanh",
    lr_g: float = LR,
    lr_d: float = LR,
    g_optim_over_d: bool = False,
    n_images: int = N_IMAGES,
    checkpoint: str = "lightning",
    **step: Any,
) -> GANSpec:
    images = wdata.digits(N_IMAGES, size=IMG_SHAPE[1])[:n_images]
    images = {
        "normalize": wdata.normalize,
        "mnist-mean-std": lambda x: (x - MNIST_MEAN) / MNIST_STD,
        "to_tensor": wdata.to_tensor_range,
        "pixels": wdata.to_pixels,
    }[transform](images)

    def configure_optimizers(generator: nn.Module, discriminator: nn.Module) -> tuple[Any, Any]:
        opt_g = torch.optim.Adam(
            (discriminator if g_optim_over_d else generator).parameters(),
            lr=lr_g,
            betas=(B1, B2),
        )
        opt_d = torch.optim.Adam(discriminator.parameters(), lr=lr_d, betas=(B1, B2))
        return opt_g, opt_d

    save, load = {
        "lightning": (save_checkpoint, load_checkpoint),
        "fresh": (save_checkpoint_fresh, load_checkpoint),
        "params": (save_checkpoint_params, load_checkpoint_loose),
    }[checkpoint]

    def make_g() -> nn.Module:
        return Generator(LATENT_DIM, IMG_SHAPE, final=g_final)

    return GANSpec(
        generator=make_g,
        discriminator=lambda: Discriminator(IMG_SHAPE),
        data=images,
        latent_dim=LATENT_DIM,
        optimizers=configure_optimizers,
        train_step=LightningGANStep(**step),
        batch_size=BATCH_SIZE,
        name="lightning-gan",
        save_checkpoint=partial(save, make_g),
        load_checkpoint=partial(load, make_g),
    )


MUTATIONS = {
    "mnist-mean-std-normalize": Mutation(
        "data-not-normalized",
        "transforms.Normalize((0.1307,), (0.3081,))  # the tutorial's own line: MNIST's mean "
        "and std, data in [-0.42, 2.82] for a Tanh G",
        {"transform": "mnist-mean-std"},
        may_also=("output-range-mismatch",),
    ),
    "data-not-normalized": Mutation(
        "data-not-normalized",
        "self.transform = transforms.Compose([transforms.ToTensor()])",
        {"transform": "to_tensor"},
    ),
    "blank-output": Mutation(
        "blank-output",
        "imgs = torch.from_numpy(mnist.data).float().unsqueeze(1)  # raw 0-255",
        {"transform": "pixels"},
    ),
    "output-range-mismatch": Mutation(
        "output-range-mismatch",
        "nn.Sigmoid(),  # G's last layer instead of nn.Tanh(), where the data is in [-1, 1]",
        {"g_final": "sigmoid"},
    ),
    "gradient-accumulation": Mutation(
        "gradient-accumulation",
        "# optimizer_d.zero_grad()  <- deleted after optimizer_d.step()",
        {"d_zero_grad": False},
    ),
    "optimizer-misses-parameters": Mutation(
        "optimizer-misses-parameters",
        "opt_g = torch.optim.Adam(self.discriminator.parameters(), lr=lr, betas=(b1, b2))",
        {"g_optim_over_d": True},
    ),
    "discriminator-overpowers": Mutation(
        "discriminator-overpowers",
        "opt_g = torch.optim.Adam(..., lr=5e-5, ...); opt_d = torch.optim.Adam(..., lr=1e-3, ...)",
        {"lr_g": 5e-5, "lr_d": 1e-3},
        may_also=("mode-collapse",),
    ),
    "discriminator-too-weak": Mutation(
        "discriminator-too-weak",
        "opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=2e-6, betas=(b1, b2))",
        {"lr_d": 2e-6},
    ),
    "mode-collapse": Mutation(
        "mode-collapse",
        "for _ in range(5):  # around the 'train generator' block",
        {"g_repeats": 5},
    ),
    "non-finite-loss": Mutation(
        "non-finite-loss",
        "return -torch.mean(y * torch.log(y_hat) + (1 - y) * torch.log(1 - y_hat))  "
        "# adversarial_loss by hand, no eps",
        {"loss": "hand-written"},
    ),
    "checkpoint-not-trained": Mutation(
        "checkpoint-not-trained",
        "torch.save({'state_dict': GAN(*dm.dims).state_dict(), ...}, path)  # a new module",
        {"checkpoint": "fresh"},
    ),
    "checkpoint-roundtrip-mismatch": Mutation(
        "checkpoint-roundtrip-mismatch",
        "torch.save({'state_dict': dict(model.named_parameters()), ...}, path); "
        "model.load_state_dict(ckpt['state_dict'], strict=False)",
        {"checkpoint": "params"},
    ),
    "discriminator-wrong-activation": Mutation(
        "discriminator-wrong-activation",
        "return F.binary_cross_entropy_with_logits(y_hat, y)  # adversarial_loss; D ends in "
        "nn.Sigmoid()",
        {"loss": "logits"},
    ),
    "discriminator-overfits": Mutation(
        "discriminator-overfits",
        "self.mnist_train = Subset(self.mnist_train, range(128))  # a subset for a quick test",
        {"n_images": 128},
    ),
}

GAN = WildGAN(
    name="lightning-gan",
    source="Lightning-AI/tutorials: lightning_examples/basic-gan/gan.py",
    half="calibration",
    description=(
        "Lightning's Basic GAN tutorial as a plain loop: MLP G with BatchNorm1d(eps=0.8), "
        "MLP D ending in Sigmoid, F.binary_cross_entropy, Adam 2e-4 betas (0.5, 0.999), "
        "G step before D step, zero_grad after each step, optimizer toggling; 16x16 digits"
    ),
    build=build,
    mutations=MUTATIONS,
    steps=200,
)
