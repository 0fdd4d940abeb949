"""SNGAN (CNN) of w86763777/pytorch-gan-collections, hinge loss.

Source read: ``w86763777/pytorch-gan-collections``: ``sngan.py`` (training loop, flags,
checkpoint), ``configs/SNGAN_CIFAR10_CNN.txt`` (the flagfile the README trains the CNN
SNGAN with), ``source/models/sngan.py`` (``Generator32`` / ``Discriminator32``),
``source/losses.py`` (``Hinge``).

Reproduced as in the original:

- G: ``Linear(z_dim, M * M * 512)`` viewed as ``[B, 512, M, M]``; BatchNorm + ReLU before
  each of three 4x4 stride-2 transposed convs (512 -> 256 -> 128 -> 64), BatchNorm + ReLU,
  a 3x3 conv to 3 channels, Tanh. D: seven convs (3x3 stride 1 and 4x4 stride 2 in turn,
  64-128-128-256-256-512-512) each with LeakyReLU(0.1), flatten, Linear to one score.
  Every Conv / ConvTranspose / Linear weight from N(0, 0.02), biases 0; every conv and the
  linear of D wrapped in ``torch.nn.utils.spectral_norm`` (the legacy hook version the
  repository uses) inside ``initialize()``.
- Loss: hinge, ``relu(1 - D(x)).mean() + relu(1 + D(G(z))).mean()`` for D and
  ``-D(G(z)).mean()`` for G.
- Adam, lr_G = lr_D = 2e-4, betas (0.0, 0.9) (the flag default), and from the CNN flagfile:
  batch 128, n_dis 1, z_dim 100 (the script's own defaults, 64 / 5 / 128, are for the
  ResNet flagfile).
- Loop per step: n_dis D steps (fakes made under ``torch.no_grad()`` and detached, a fresh
  real batch, ``optim_D.zero_grad(); loss.backward(); optim_D.step()``), then G's step on
  ``2 * batch_size`` latents with ``optim_G.zero_grad(); loss.backward(); optim_G.step()``.
- Checkpoint: the dict ``{'net_G', 'net_D', 'optim_G', 'optim_D', 'sched_G', 'sched_D'}``;
  ``generate()`` loads ``torch.load(path)['net_G']`` into a fresh ``Generator32``. Here
  the generator part, ``{'net_G': state_dict}``, read back with ``weights_only=True``.
- Data: CIFAR-10 through ``ToTensor()`` and ``Normalize((0.5,) * 3, (0.5,) * 3)``.

Scaled down / left out:

- Widths divided by 16: G 512/256/128/64 -> 32/16/8/4; D 64/128/128/256/256/512/512 ->
  4/8/8/16/16/32/32 (at / 8 a 200-step run took 17 s or more on one CPU thread).
- Image size 32 -> 16 through the repository's own size parameters, ``Generator(z_dim,
  M=2)`` (M = 4 for 32x32) and ``Discriminator(M=16)``; the layer sequence is the 32x32
  one.
- Data: ``wild.data.faces(2048, size=16)`` for CIFAR-10.
- Left out: the dequantisation noise ``x + torch.rand_like(x) / 128`` of the data
  pipeline, and the ``LambdaLR`` linear decay over 100 000 steps (0.2% after 200 steps).
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
from torch.nn import init
from torch.nn.utils import spectral_norm

from pytest_gan import GANSpec
from wild import data as wdata
from wild._base import Mutation, WildGAN

Z_DIM = 100
BATCH_SIZE = 128
N_DIS = 1
LR_G = 2e-4
LR_D = 2e-4
BETAS = (0.0, 0.9)
N_IMAGES = 2048
SIZE = 16
# Original widths divided by 16.
G_CHANNELS = (32, 16, 8, 4)
D_CHANNELS = (4, 8, 8, 16, 16, 32, 32)


class Generator(nn.Module):
    """``Generator(z_dim, M)``: M = 4 is the repository's ``Generator32``."""

    def __init__(self, z_dim: int = Z_DIM, M: int = SIZE // 8, final: str = "tanh") -> None:
        super().__init__()
        self.M = M
        c1, c2, c3, c4 = G_CHANNELS
        self.linear = nn.Linear(z_dim, M * M * c1)
        self.main = nn.Sequential(
            nn.BatchNorm2d(c1),
            nn.ReLU(True),
            nn.ConvTranspose2d(c1, c2, kernel_size=4, stride=2, padding=1),
            nn.BatchNorm2d(c2),
            nn.ReLU(True),
            nn.ConvTranspose2d(c2, c3, kernel_size=4, stride=2, padding=1),
            nn.BatchNorm2d(c3),
            nn.ReLU(True),
            nn.ConvTranspose2d(c3, c4, kernel_size=4, stride=2, padding=1),
            nn.BatchNorm2d(c4),
            nn.ReLU(True),
            nn.Conv2d(c4, 3, kernel_size=3, stride=1, padding=1),
            nn.Sigmoid() if final == "sigmoid" else nn.Tanh(),
        )
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                init.normal_(m.weight, std=0.02)
                init.zeros_(m.bias)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.linear(z)
        return self.main(h.view(h.size(0), -1, self.M, self.M))


class Discriminator(nn.Module):
    """``Discriminator(M)``: M = 32 is the repository's ``Discriminator32``."""

    def __init__(self, M: int = SIZE, sn: bool = True, sigmoid: bool = False) -> None:
        super().__init__()
        c = D_CHANNELS
        layers: list[nn.Module] = []
        cin = 3
        for i, cout in enumerate(c):
            # 3x3 stride 1, then 4x4 stride 2, in turn
            k, s = (3, 1) if i % 2 == 0 else (4, 2)
            layers += [nn.Conv2d(cin, cout, kernel_size=k, stride=s, padding=1)]
            layers += [nn.LeakyReLU(0.1, inplace=True)]
            cin = cout
        self.main = nn.Sequential(*layers)
        self.linear = nn.Linear(M // 8 * M // 8 * c[-1], 1)
        self.sigmoid = sigmoid
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                init.normal_(m.weight, std=0.02)
                init.zeros_(m.bias)
                if sn:
                    spectral_norm(m)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.flatten(self.main(x), start_dim=1)
        out = self.linear(h)
        return torch.sigmoid(out) if self.sigmoid else out


def hinge(pred_real: torch.Tensor, pred_fake: torch.Tensor | None = None) -> torch.Tensor:
    """The repository's ``Hinge``: D's loss with two arguments, G's with one."""
    if pred_fake is None:
        return -pred_real.mean()
    return F.relu(1 - pred_real).mean() + F.relu(1 + pred_fake).mean()


@dataclass(frozen=True)
class SNGANStep:
    """One iteration of ``sngan.py``'s ``train()`` loop (one G update)."""

    n_dis: int = N_DIS
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
            loss_d = hinge(net_D(real), net_D(fake))
            if self.d_zero_grad:
                optim_D.zero_grad()
            loss_d.backward()
            optim_D.step()
        for _ in range(self.g_repeats):
            fake = net_G(ctx.latent(n * 2))
            loss_g = hinge(net_D(fake.detach() if self.g_detached else fake))
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
    d_sn: bool = True,
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
        discriminator=lambda: Discriminator(sn=d_sn, sigmoid=d_sigmoid),
        data=images,
        latent_dim=Z_DIM,
        optimizers=optimizers,
        train_step=SNGANStep(**step),
        batch_size=BATCH_SIZE,
        name="collections-sngan",
        save_checkpoint=partial(save, make_g),
        load_checkpoint=partial(load, make_g),
    )


MUTATIONS = {
    "data-not-normalized": Mutation(
        "data-not-normalized",
        "transforms.Compose([transforms.ToTensor(), transforms.Lambda(lambda x: x + "
        "torch.rand_like(x) / 128)])  # Normalize dropped",
        {"transform": "to_tensor"},
    ),
    "blank-output": Mutation(
        "blank-output",
        "real = torch.from_numpy(dataset.data).permute(0, 3, 1, 2).float()  # raw 0-255",
        {"transform": "pixels"},
    ),
    "output-range-mismatch": Mutation(
        "output-range-mismatch",
        "nn.Sigmoid())  # last layer of Generator.main, where the data lives in [-1, 1]",
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
    "generator-not-learning": Mutation(
        "generator-not-learning",
        "loss = loss_fn(net_D(net_G(z).detach()))",
        {"g_detached": True},
    ),
    "discriminator-not-lipschitz": Mutation(
        "discriminator-not-lipschitz",
        "# spectral_norm(m)  <- deleted from Discriminator.initialize()",
        {"d_sn": False},
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
        "x = torch.sigmoid(self.linear(x))  # in Discriminator.forward; loss is hinge",
        {"d_sigmoid": True},
    ),
    "discriminator-overfits": Mutation(
        "discriminator-overfits",
        "dataset = torch.utils.data.Subset(dataset, range(256))  # a subset for a quick test",
        {"n_images": 256},
    ),
}

GAN = WildGAN(
    name="collections-sngan",
    source="w86763777/pytorch-gan-collections: sngan.py",
    half="validation",
    description=(
        "CNN SNGAN of pytorch-gan-collections (CNN flagfile): hinge loss, spectral norm on "
        "every D layer, Adam 2e-4 betas (0.0, 0.9), batch 128, n_dis 1; widths / 16, 16x16 faces"
    ),
    build=build,
    mutations=MUTATIONS,
    steps=200,
)
