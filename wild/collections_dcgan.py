"""DCGAN of w86763777/pytorch-gan-collections, CIFAR-10 configuration.

Source read: ``w86763777/pytorch-gan-collections``: ``dcgan.py`` (training loop, flags,
checkpoint), ``configs/DCGAN_CIFAR10.txt`` (the flagfile the README trains with),
``source/models/dcgan.py`` (``Generator32`` / ``Discriminator32``), ``source/losses.py``
(``BCEWithLogits``).

Reproduced as in the original:

- G: ``z`` viewed as ``[B, z_dim, 1, 1]``; a 2x2 transposed conv (stride 1, no bias), then
  four 4x4 stride-2 transposed convs (no bias) to 32x32; BatchNorm + ReLU after each but
  the last; Tanh. D: four 5x5 stride-2 convs (no bias) with LeakyReLU(0.2), BatchNorm
  *after* the activation on all but the first; flatten; one Linear to a logit. PyTorch's
  default initialisation (the repository sets none).
- Loss: ``BCEWithLogits`` (real -> 1, fake -> 0 for D; fake -> 1 for G).
- Adam, lr_G = lr_D = 2e-4, betas (0.5, 0.9) (the flag default; the flagfile sets none),
  batch 128, n_dis 1, z_dim 100.
- Loop per step: for each of n_dis D steps the fakes are made under ``torch.no_grad()``
  and detached, a fresh real batch is drawn, ``optim_D.zero_grad(); loss.backward();
  optim_D.step()``; then G's step on ``2 * batch_size`` fresh latents with
  ``optim_G.zero_grad(); loss.backward(); optim_G.step()``.
- Checkpoint: ``torch.save({'net_G': ..., 'net_D': ..., 'optim_G': ..., ...})``; the
  ``generate()`` path loads ``torch.load(path)['net_G']`` into a fresh ``Generator32``.
  Here only the generator part of that dict is written (``{'net_G': state_dict}``) and
  read back with ``weights_only=True``.
- Data: CIFAR-10 through ``ToTensor()`` and ``Normalize((0.5,) * 3, (0.5,) * 3)``.

Scaled down / left out:

- Widths divided by 16: G 1024/512/256/128 -> 64/32/16/8; D 64/128/256/512 -> 4/8/16/32.
- Image size kept at 32x32 (``Generator(z_dim, M=2)``, ``Discriminator(M=32)``): the
  Discriminator's last BatchNorm then normalises a 2x2 map per channel. At 16x16 that map
  is 1x1, so each batch's mean logit is fixed by the BatchNorm and D, which sees real and
  fake batches apart, could not tell them apart at all (its loss stayed at log 4 over 800
  steps): a scale-down that changed what the network can do.
- Data: ``wild.data.faces(2048, size=32)`` (colour) for CIFAR-10's 50 000 images.
- Left out: ``RandomHorizontalFlip`` in the data pipeline, and the ``LambdaLR`` linear
  decay over 100 000 steps (after 200 steps it would have moved the learning rates by
  0.2%).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from pytest_gan import GANSpec
from wild import data as wdata
from wild._base import Mutation, WildGAN

Z_DIM = 100
BATCH_SIZE = 128
N_DIS = 1
LR_G = 2e-4
LR_D = 2e-4
BETAS = (0.5, 0.9)
N_IMAGES = 2048
SIZE = 32
# Original widths divided by 16.
G_CHANNELS = (64, 32, 16, 8)
D_CHANNELS = (4, 8, 16, 32)


class Generator(nn.Module):
    """``Generator(z_dim, M)``: M = 2 is the repository's ``Generator32`` (32x32)."""

    def __init__(self, z_dim: int = Z_DIM, M: int = SIZE // 16, final: str = "tanh") -> None:
        super().__init__()
        self.z_dim = z_dim
        c1, c2, c3, c4 = G_CHANNELS
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(z_dim, c1, M, 1, 0, bias=False),  # M x M
            nn.BatchNorm2d(c1),
            nn.ReLU(True),
        ]
        for cin, cout in ((c1, c2), (c2, c3), (c3, c4)):
            layers += [
                nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(cout),
                nn.ReLU(True),
            ]
        layers.append(nn.ConvTranspose2d(c4, 3, 4, stride=2, padding=1, bias=False))
        layers.append(nn.Sigmoid() if final == "sigmoid" else nn.Tanh())
        self.main = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.main(z.view(-1, self.z_dim, 1, 1))


class Discriminator(nn.Module):
    """``Discriminator(M)``: M = 32 is the repository's ``Discriminator32``."""

    def __init__(self, M: int = SIZE, sigmoid: bool = False) -> None:
        super().__init__()
        c1, c2, c3, c4 = D_CHANNELS
        self.main = nn.Sequential(
            nn.Conv2d(3, c1, 5, 2, 2, bias=False),  # M / 2
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(c1, c2, 5, 2, 2, bias=False),  # M / 4
            nn.LeakyReLU(0.2, inplace=True),
            nn.BatchNorm2d(c2),
            nn.Conv2d(c2, c3, 5, 2, 2, bias=False),  # M / 8
            nn.LeakyReLU(0.2, inplace=True),
            nn.BatchNorm2d(c3),
            nn.Conv2d(c3, c4, 5, 2, 2, bias=False),  # M / 16
            nn.LeakyReLU(0.2, inplace=True),
            nn.BatchNorm2d(c4),
        )
        self.linear = nn.Linear(M // 16 * M // 16 * c4, 1)
        self.sigmoid = sigmoid

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.flatten(self.main(x), start_dim=1)
        out = self.linear(h)
        return torch.sigmoid(out) if self.sigmoid else out


def bce_with_logits(pred_real: torch.Tensor, pred_fake: torch.Tensor | None = None) -> torch.Tensor:
    """The repository's ``BCEWithLogits``: D's loss with two arguments, G's with one."""
    if pred_fake is None:
        return F.binary_cross_entropy_with_logits(pred_real, torch.ones_like(pred_real))
    return F.binary_cross_entropy_with_logits(
        pred_real, torch.ones_like(pred_real)
    ) + F.binary_cross_entropy_with_logits(pred_fake, torch.zeros_like(pred_fake))


def bce_hand_written(
    pred_real: torch.Tensor, pred_fake: torch.Tensor | None = None
) -> torch.Tensor:
    """A loss class a user adds to ``losses.py``: the log of a sigmoid, no epsilon."""
    if pred_fake is None:
        return -torch.log(torch.sigmoid(pred_real)).mean()
    return -(torch.log(torch.sigmoid(pred_real)) + torch.log(1 - torch.sigmoid(pred_fake))).mean()


@dataclass(frozen=True)
class DCGANStep:
    """One iteration of ``dcgan.py``'s ``train()`` loop (one G update)."""

    n_dis: int = N_DIS
    hand_written_loss: bool = False
    # Mistake: fakes for D made with grad (no torch.no_grad(), no .detach()).
    detach: bool = True
    # Mistake: optim_G.zero_grad() at the top of the iteration, before D's steps.
    g_zero_grad_first: bool = False
    # Mistake: optim_D.zero_grad() deleted.
    d_zero_grad: bool = True
    # Mistake: G's loss on detached fakes.
    g_detached: bool = False
    # Mistake: the generator step repeated.
    g_repeats: int = 1

    def __call__(self, ctx: Any, batch: torch.Tensor) -> Mapping[str, Any]:
        net_G, net_D = ctx.generator, ctx.discriminator
        optim_G, optim_D = ctx.opt_g, ctx.opt_d
        loss_fn = bce_hand_written if self.hand_written_loss else bce_with_logits
        n = batch.shape[0]
        if self.g_zero_grad_first:
            optim_G.zero_grad()
        for _ in range(self.n_dis):
            real = batch  # next(looper): with n_dis = 1 the step's one real batch
            if self.detach:
                with torch.no_grad():
                    fake = net_G(ctx.latent(n)).detach()
            else:
                fake = net_G(ctx.latent(n))
            loss_d = loss_fn(net_D(real), net_D(fake))
            if self.d_zero_grad:
                optim_D.zero_grad()
            loss_d.backward()
            optim_D.step()
        for _ in range(self.g_repeats):
            z = ctx.latent(n * 2)
            fake = net_G(z)
            loss_g = loss_fn(net_D(fake.detach() if self.g_detached else fake))
            if not self.g_zero_grad_first:
                optim_G.zero_grad()
            loss_g.backward()
            optim_G.step()
        return {"d_loss": loss_d.detach(), "g_loss": loss_g.detach()}


#: The spec's generator factory: a checkpoint is loaded into what it builds, as the
#: user's own loading code would rebuild their (possibly mistaken) ``Generator``.
GeneratorFactory = Callable[[], nn.Module]


def save_checkpoint(
    factory: GeneratorFactory, net_G: nn.Module, path: str | os.PathLike[str]
) -> None:
    torch.save({"net_G": net_G.state_dict()}, path)


def load_checkpoint(factory: GeneratorFactory, path: str | os.PathLike[str]) -> nn.Module:
    net_G = factory()
    net_G.load_state_dict(torch.load(path, weights_only=True)["net_G"])
    return net_G


def save_checkpoint_fresh(
    factory: GeneratorFactory, net_G: nn.Module, path: str | os.PathLike[str]
) -> None:
    torch.save({"net_G": factory().state_dict()}, path)


def save_checkpoint_params(
    factory: GeneratorFactory, net_G: nn.Module, path: str | os.PathLike[str]
) -> None:
    torch.save({"net_G": dict(net_G.named_parameters())}, path)


def load_checkpoint_loose(factory: GeneratorFactory, path: str | os.PathLike[str]) -> nn.Module:
    net_G = factory()
    net_G.load_state_dict(torch.load(path, weights_only=True)["net_G"], strict=False)
    return net_G


def build(
    *,
    transform: str = "normalize",
    g_final: str = "tanh",
    d_sigmoid: bool = False,
    lr_G: float = LR_G,
    lr_D: float = LR_D,
    g_optim_over_d: bool = False,
    n_images: int = N_IMAGES,
    checkpoint: str = "dict",
    **step: Any,
) -> GANSpec:
    images = wdata.faces(N_IMAGES, size=SIZE)[:n_images]
    images = {
        "normalize": wdata.normalize,
        "to_tensor": wdata.to_tensor_range,
        "pixels": wdata.to_pixels,
    }[transform](images)

    def optimizers(net_G: nn.Module, net_D: nn.Module) -> tuple[Any, Any]:
        optim_G = torch.optim.Adam(
            (net_D if g_optim_over_d else net_G).parameters(), lr=lr_G, betas=BETAS
        )
        optim_D = torch.optim.Adam(net_D.parameters(), lr=lr_D, betas=BETAS)
        return optim_G, optim_D

    save, load = {
        "dict": (save_checkpoint, load_checkpoint),
        "fresh": (save_checkpoint_fresh, load_checkpoint),
        "params": (save_checkpoint_params, load_checkpoint_loose),
    }[checkpoint]

    def make_g() -> nn.Module:
        return Generator(Z_DIM, final=g_final)

    return GANSpec(
        generator=make_g,
        discriminator=lambda: Discriminator(sigmoid=d_sigmoid),
        data=images,
        latent_dim=Z_DIM,
        optimizers=optimizers,
        train_step=DCGANStep(**step),
        batch_size=BATCH_SIZE,
        name="collections-dcgan",
        save_checkpoint=partial(save, make_g),
        load_checkpoint=partial(load, make_g),
    )


MUTATIONS = {
    "data-not-normalized": Mutation(
        "data-not-normalized",
        "transforms.Compose([transforms.RandomHorizontalFlip(), transforms.ToTensor()])",
        {"transform": "to_tensor"},
    ),
    "blank-output": Mutation(
        "blank-output",
        "real = torch.from_numpy(dataset.data).permute(0, 3, 1, 2).float()  # raw 0-255",
        {"transform": "pixels"},
    ),
    "output-range-mismatch": Mutation(
        "output-range-mismatch",
        "nn.Sigmoid()  # last layer of Generator.main, where the data lives in [-1, 1]",
        {"g_final": "sigmoid"},
    ),
    "d-step-leaks-into-generator": Mutation(
        "d-step-leaks-into-generator",
        "fake = net_G(z)  # no torch.no_grad()/.detach(); optim_G.zero_grad() at the loop's top",
        {"detach": False, "g_zero_grad_first": True},
    ),
    "detach-missing-wasteful": Mutation(
        "",
        "fake = net_G(z)  # no torch.no_grad()/.detach(); optim_G.zero_grad() left in place",
        {"detach": False},
    ),
    "gradient-accumulation": Mutation(
        "gradient-accumulation",
        "# optim_D.zero_grad()  <- deleted",
        {"d_zero_grad": False},
    ),
    "optimizer-misses-parameters": Mutation(
        "optimizer-misses-parameters",
        "optim_G = optim.Adam(net_D.parameters(), lr=FLAGS.lr_G, betas=FLAGS.betas)",
        {"g_optim_over_d": True},
    ),
    "discriminator-overpowers": Mutation(
        "discriminator-overpowers",
        "--lr_D=0.001  --lr_G=0.00005  # flagfile: D's rate 20x G's",
        {"lr_D": 1e-3, "lr_G": 5e-5},
        may_also=("mode-collapse",),
    ),
    "discriminator-too-weak": Mutation(
        "discriminator-too-weak",
        "--lr_D=0.000002  # flagfile: typo for 0.0002",
        {"lr_D": 2e-6},
    ),
    "mode-collapse": Mutation(
        "mode-collapse",
        "for _ in range(5):  # wrapped around the generator step",
        {"g_repeats": 5},
    ),
    "non-finite-loss": Mutation(
        "non-finite-loss",
        "loss = -(torch.log(torch.sigmoid(pred_real)) + torch.log(1 - torch.sigmoid(pred_fake)))"
        ".mean()  # hand-written BCE in losses.py, no eps",
        {"hand_written_loss": True},
    ),
    "generator-not-learning": Mutation(
        "generator-not-learning",
        "loss = loss_fn(net_D(net_G(z).detach()))",
        {"g_detached": True},
    ),
    "checkpoint-not-trained": Mutation(
        "checkpoint-not-trained",
        "torch.save({'net_G': net_G_models[FLAGS.arch](FLAGS.z_dim).state_dict(), ...}, path)",
        {"checkpoint": "fresh"},
    ),
    "checkpoint-roundtrip-mismatch": Mutation(
        "checkpoint-roundtrip-mismatch",
        "torch.save({'net_G': dict(net_G.named_parameters())}, path); "
        "net_G.load_state_dict(ckpt['net_G'], strict=False)",
        {"checkpoint": "params"},
    ),
    "discriminator-wrong-activation": Mutation(
        "discriminator-wrong-activation",
        "x = torch.sigmoid(self.linear(x))  # in Discriminator.forward; loss is BCEWithLogits",
        {"d_sigmoid": True},
    ),
    "discriminator-overfits": Mutation(
        "discriminator-overfits",
        "dataset = torch.utils.data.Subset(dataset, range(256))  # a subset for a quick test",
        {"n_images": 256},
    ),
}

GAN = WildGAN(
    name="collections-dcgan",
    source="w86763777/pytorch-gan-collections: dcgan.py",
    half="calibration",
    description=(
        "DCGAN of pytorch-gan-collections (CIFAR-10 flagfile): BCEWithLogits, Adam 2e-4 "
        "betas (0.5, 0.9), batch 128, G step on 2x batch latents; widths / 16, 32x32 faces"
    ),
    build=build,
    mutations=MUTATIONS,
    steps=200,
)
