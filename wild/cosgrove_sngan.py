"""SN-GAN of christiancosgrove/pytorch-spectral-normalization-gan, DCGAN-like model.

Source read: ``christiancosgrove/pytorch-spectral-normalization-gan``: ``main.py`` (flags,
optimizers, loop, checkpoint), ``model.py`` (the "DCGAN-like" ``Generator`` /
``Discriminator``, used with ``--model dcgan``; the default ``--model resnet`` is
``model_resnet.py``), ``spectral_normalization.py`` (its own ``SpectralNorm`` wrapper).

Reproduced as in the original:

- G: ``z`` viewed as ``[B, z_dim, 1, 1]``; a 4x4 transposed conv (stride 1) to 512
  channels, three 4x4 stride-2 transposed convs (256, 128, 64), each followed by
  BatchNorm + ReLU, then a 3x3 stride-1 transposed conv to 3 channels and Tanh. D: seven
  convs (3x3 stride 1 and 4x4 stride 2 in turn: 64-64-128-128-256-256-512), each with
  LeakyReLU(0.1), then a Linear on the flattened ``w_g * w_g * 512`` features. PyTorch's
  default initialisation. Every D layer is wrapped in the repository's own
  ``SpectralNorm``: the weight lives on as ``weight_bar``, ``weight_u`` / ``weight_v``
  are ``Parameter``s with ``requires_grad=False`` (so they show in ``parameters()``), one
  power iteration on *every* forward (train or eval), and the normalised weight set back
  on the layer as a plain attribute.
- Loss: hinge (the ``--loss`` default): ``ReLU()(1 - D(x)).mean() + ReLU()(1 + D(G(z))).mean()``
  for D, ``-D(G(z)).mean()`` for G.
- Adam, lr 2e-4 for both (``--lr``), betas (0.0, 0.9); D's optimizer over
  ``filter(lambda p: p.requires_grad, D.parameters())``. Batch 64, ``Z_dim`` 128,
  ``disc_iters`` 5.
- Loop per batch: ``disc_iters`` D updates on the *same* real batch, each with a fresh z,
  ``optim_disc.zero_grad(); optim_gen.zero_grad()``, the D loss on ``generator(z)`` *not
  detached* (the backward runs through G too; G's gradient is cleared again before G's
  own update, so it is wasted work, not a bug), ``backward(); optim_disc.step()``. Then a
  fresh z, ``optim_disc.zero_grad(); optim_gen.zero_grad()``, G's loss, ``backward();
  optim_gen.step()``. The healthy GAN is therefore also this corpus's case of a missing
  ``.detach()`` that only wastes work; there is no separate "detach-missing-wasteful"
  mutation.
- Checkpoint: ``torch.save(generator.state_dict(), 'checkpoints/gen_{epoch}')``. The
  repository has no loading code; loading is the plain route, a fresh ``Generator(Z_dim)``
  and ``load_state_dict(torch.load(path, weights_only=True))``.
- Data: CIFAR-10 through ``ToTensor()`` and ``Normalize((0.5,) * 3, (0.5,) * 3)``.

Scaled down / left out:

- Widths divided by 16: G 512/256/128/64 -> 32/16/8/4; D 64/64/128/128/256/256/512 ->
  4/4/8/8/16/16/32.
- Image size 32 -> 16: G's first transposed conv 4x4 -> 2x2 (so three doublings give 16)
  and ``w_g`` 4 -> 2; the layer sequence is the 32x32 one. Five D updates per step, each
  with a backward through G, made a 32x32 run far too slow for one CPU thread.
- Batch size kept at 64 although a 200-step run takes well over 10 s on one CPU thread
  (22-38 s measured on a loaded 2-core machine): the time goes to the number of small ops
  (5 D updates, each a forward and backward through G and two through D, 8 power
  iterations per D forward), so halving the batch or the widths again saved under 15%.
- Data: ``wild.data.faces(2048, size=16)`` for CIFAR-10.
- Left out: the ``ExponentialLR(gamma=0.99)`` stepped once per epoch (782 batches of
  CIFAR-10; a 200-step run ends inside the first epoch, so it never fires).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
from torch import nn

from pytest_gan import GANSpec
from wild import data as wdata
from wild._base import Mutation, WildGAN

Z_DIM = 128
BATCH_SIZE = 64
DISC_ITERS = 5
LR = 2e-4
BETAS = (0.0, 0.9)
LEAK = 0.1
N_IMAGES = 2048
SIZE = 16
CHANNELS = 3
# D's last feature map is w_g x w_g (4 at 32x32).
W_G = SIZE // 8
# Original widths divided by 16.
G_CHANNELS = (32, 16, 8, 4)
D_CHANNELS = (4, 4, 8, 8, 16, 16, 32)


def _unit(v: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    return v / (v.norm() + eps)


class SpectralNorm(nn.Module):
    """The repository's spectral normalisation wrapper, in its mechanics.

    The wrapped layer's weight is re-registered as ``<name>_bar``; ``<name>_u`` and
    ``<name>_v`` hold the power-iteration vectors as ``Parameter``s that do not require
    grad. Each forward does ``power_iterations`` steps on them and sets ``<name>`` on the
    layer to ``weight_bar / sigma``.
    """

    def __init__(self, module: nn.Module, name: str = "weight", power_iterations: int = 1):
        super().__init__()
        self.module = module
        self.name = name
        self.power_iterations = power_iterations
        w = getattr(module, name)
        rows = w.shape[0]
        cols = w.view(rows, -1).shape[1]
        u = nn.Parameter(_unit(w.data.new(rows).normal_(0, 1)), requires_grad=False)
        v = nn.Parameter(_unit(w.data.new(cols).normal_(0, 1)), requires_grad=False)
        del module._parameters[name]
        module.register_parameter(name + "_u", u)
        module.register_parameter(name + "_v", v)
        module.register_parameter(name + "_bar", nn.Parameter(w.data))

    def forward(self, *args: Any) -> Any:
        u = getattr(self.module, self.name + "_u")
        v = getattr(self.module, self.name + "_v")
        w = getattr(self.module, self.name + "_bar")
        rows = w.shape[0]
        for _ in range(self.power_iterations):
            v.data = _unit(w.view(rows, -1).data.t().mv(u.data))
            u.data = _unit(w.view(rows, -1).data.mv(v.data))
        sigma = u.dot(w.view(rows, -1).mv(v))
        setattr(self.module, self.name, w / sigma.expand_as(w))
        return self.module(*args)


class Generator(nn.Module):
    def __init__(self, z_dim: int = Z_DIM, final: str = "tanh") -> None:
        super().__init__()
        self.z_dim = z_dim
        c1, c2, c3, c4 = G_CHANNELS
        self.model = nn.Sequential(
            nn.ConvTranspose2d(z_dim, c1, SIZE // 8, stride=1),
            nn.BatchNorm2d(c1),
            nn.ReLU(),
            nn.ConvTranspose2d(c1, c2, 4, stride=2, padding=(1, 1)),
            nn.BatchNorm2d(c2),
            nn.ReLU(),
            nn.ConvTranspose2d(c2, c3, 4, stride=2, padding=(1, 1)),
            nn.BatchNorm2d(c3),
            nn.ReLU(),
            nn.ConvTranspose2d(c3, c4, 4, stride=2, padding=(1, 1)),
            nn.BatchNorm2d(c4),
            nn.ReLU(),
            nn.ConvTranspose2d(c4, CHANNELS, 3, stride=1, padding=(1, 1)),
            nn.Sigmoid() if final == "sigmoid" else nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.model(z.view(-1, self.z_dim, 1, 1))


class Discriminator(nn.Module):
    def __init__(self, sn: bool = True, sigmoid: bool = False) -> None:
        super().__init__()

        def wrap(layer: nn.Module) -> nn.Module:
            return SpectralNorm(layer) if sn else layer

        c1, c2, c3, c4, c5, c6, c7 = D_CHANNELS
        self.conv1 = wrap(nn.Conv2d(CHANNELS, c1, 3, stride=1, padding=(1, 1)))
        self.conv2 = wrap(nn.Conv2d(c1, c2, 4, stride=2, padding=(1, 1)))
        self.conv3 = wrap(nn.Conv2d(c2, c3, 3, stride=1, padding=(1, 1)))
        self.conv4 = wrap(nn.Conv2d(c3, c4, 4, stride=2, padding=(1, 1)))
        self.conv5 = wrap(nn.Conv2d(c4, c5, 3, stride=1, padding=(1, 1)))
        self.conv6 = wrap(nn.Conv2d(c5, c6, 4, stride=2, padding=(1, 1)))
        self.conv7 = wrap(nn.Conv2d(c6, c7, 3, stride=1, padding=(1, 1)))
        self.fc = wrap(nn.Linear(W_G * W_G * c7, 1))
        self.sigmoid = sigmoid

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = x
        for conv in (
            self.conv1,
            self.conv2,
            self.conv3,
            self.conv4,
            self.conv5,
            self.conv6,
            self.conv7,
        ):
            m = nn.LeakyReLU(LEAK)(conv(m))
        out = self.fc(m.view(-1, W_G * W_G * D_CHANNELS[-1]))
        return torch.sigmoid(out) if self.sigmoid else out


@dataclass(frozen=True)
class CosgroveStep:
    """The body of ``main.py``'s ``train(epoch)`` for one batch (one G update)."""

    disc_iters: int = DISC_ITERS
    # Mistake: optim_disc.zero_grad() deleted from the D loop.
    d_zero_grad: bool = True
    # Mistake: optim_gen.zero_grad() deleted before G's update.
    g_zero_grad: bool = True
    # Mistake: G's loss on detached fakes.
    g_detached: bool = False
    # Mistake: the disc_iters loop around G's update instead of D's.
    loop_around_g: bool = False

    def __call__(self, ctx: Any, batch: torch.Tensor) -> Mapping[str, Any]:
        generator, discriminator = ctx.generator, ctx.discriminator
        optim_gen, optim_disc = ctx.opt_g, ctx.opt_d
        data = batch
        n = data.shape[0]
        relu = nn.ReLU()
        d_iters, g_iters = (1, self.disc_iters) if self.loop_around_g else (self.disc_iters, 1)

        for _ in range(d_iters):
            z = ctx.latent(n)
            if self.d_zero_grad:
                optim_disc.zero_grad()
            optim_gen.zero_grad()
            disc_loss = (
                relu(1.0 - discriminator(data)).mean()
                + relu(1.0 + discriminator(generator(z))).mean()
            )
            disc_loss.backward()
            optim_disc.step()

        for _ in range(g_iters):
            z = ctx.latent(n)
            optim_disc.zero_grad()
            if self.g_zero_grad:
                optim_gen.zero_grad()
            fake = generator(z)
            gen_loss = -discriminator(fake.detach() if self.g_detached else fake).mean()
            gen_loss.backward()
            optim_gen.step()
        return {"d_loss": disc_loss.detach(), "g_loss": gen_loss.detach()}


#: The spec's generator factory: a checkpoint is loaded into what it builds, as the
#: user's own loading code would rebuild their (possibly mistaken) ``Generator``.
GeneratorFactory = Callable[[], nn.Module]


def save_checkpoint(
    factory: GeneratorFactory, generator: nn.Module, path: str | os.PathLike[str]
) -> None:
    torch.save(generator.state_dict(), path)


def load_checkpoint(factory: GeneratorFactory, path: str | os.PathLike[str]) -> nn.Module:
    generator = factory()
    generator.load_state_dict(torch.load(path, weights_only=True))
    return generator


def save_checkpoint_fresh(
    factory: GeneratorFactory, generator: nn.Module, path: str | os.PathLike[str]
) -> None:
    torch.save(factory().state_dict(), path)


def save_checkpoint_params(
    factory: GeneratorFactory, generator: nn.Module, path: str | os.PathLike[str]
) -> None:
    torch.save(dict(generator.named_parameters()), path)


def load_checkpoint_loose(factory: GeneratorFactory, path: str | os.PathLike[str]) -> nn.Module:
    generator = factory()
    generator.load_state_dict(torch.load(path, weights_only=True), strict=False)
    return generator


def build(
    *,
    transform: str = "normalize",
    g_final: str = "tanh",
    d_sn: bool = True,
    d_sigmoid: bool = False,
    lr_gen: float = LR,
    lr_disc: float = LR,
    gen_optim_over_disc: bool = False,
    n_images: int = N_IMAGES,
    checkpoint: str = "state_dict",
    **step: Any,
) -> GANSpec:
    images = wdata.faces(N_IMAGES, size=SIZE)[:n_images]
    images = {
        "normalize": wdata.normalize,
        "to_tensor": wdata.to_tensor_range,
        "pixels": wdata.to_pixels,
    }[transform](images)

    def optimizers(generator: nn.Module, discriminator: nn.Module) -> tuple[Any, Any]:
        optim_disc = torch.optim.Adam(
            filter(lambda p: p.requires_grad, discriminator.parameters()),
            lr=lr_disc,
            betas=BETAS,
        )
        gen_params = (
            filter(lambda p: p.requires_grad, discriminator.parameters())
            if gen_optim_over_disc
            else generator.parameters()
        )
        optim_gen = torch.optim.Adam(gen_params, lr=lr_gen, betas=BETAS)
        return optim_gen, optim_disc

    save, load = {
        "state_dict": (save_checkpoint, load_checkpoint),
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
        train_step=CosgroveStep(**step),
        batch_size=BATCH_SIZE,
        name="cosgrove-sngan",
        save_checkpoint=partial(save, make_g),
        load_checkpoint=partial(load, make_g),
    )


MUTATIONS = {
    "data-not-normalized": Mutation(
        "data-not-normalized",
        "transform=transforms.Compose([transforms.ToTensor()])  # Normalize((0.5, 0.5, 0.5), "
        "(0.5, 0.5, 0.5)) dropped",
        {"transform": "to_tensor"},
    ),
    "blank-output": Mutation(
        "blank-output",
        "data = torch.from_numpy(cifar.data).permute(0, 3, 1, 2).float()  # raw 0-255",
        {"transform": "pixels"},
    ),
    "output-range-mismatch": Mutation(
        "output-range-mismatch",
        "nn.Sigmoid())  # last layer of Generator.model, where the data lives in [-1, 1]",
        {"g_final": "sigmoid"},
    ),
    "d-step-leaks-into-generator": Mutation(
        "d-step-leaks-into-generator",
        "# optim_gen.zero_grad()  <- deleted before the generator update; D's loss on "
        "generator(z) is not detached",
        {"g_zero_grad": False},
    ),
    "gradient-accumulation": Mutation(
        "gradient-accumulation",
        "# optim_disc.zero_grad()  <- deleted from the disc_iters loop",
        {"d_zero_grad": False},
    ),
    "optimizer-misses-parameters": Mutation(
        "optimizer-misses-parameters",
        "optim_gen = optim.Adam(filter(lambda p: p.requires_grad, discriminator.parameters()), "
        "lr=args.lr, betas=(0.0,0.9))",
        {"gen_optim_over_disc": True},
    ),
    "discriminator-overpowers": Mutation(
        "discriminator-overpowers",
        "optim_disc = optim.Adam(..., lr=1e-3, ...); optim_gen = optim.Adam(..., lr=5e-5, ...)",
        {"lr_disc": 1e-3, "lr_gen": 5e-5},
        may_also=("mode-collapse",),
    ),
    "discriminator-too-weak": Mutation(
        "discriminator-too-weak",
        "optim_disc = optim.Adam(filter(...), lr=2e-6, betas=(0.0,0.9))  # typo for 2e-4",
        {"lr_disc": 2e-6},
    ),
    "mode-collapse": Mutation(
        "mode-collapse",
        "for _ in range(disc_iters):  # around the generator update instead of D's",
        {"loop_around_g": True},
    ),
    "generator-not-learning": Mutation(
        "generator-not-learning",
        "gen_loss = -discriminator(generator(z).detach()).mean()",
        {"g_detached": True},
    ),
    "discriminator-not-lipschitz": Mutation(
        "discriminator-not-lipschitz",
        "self.conv1 = nn.Conv2d(channels, 64, 3, stride=1, padding=(1,1))  # SpectralNorm(...) "
        "dropped, likewise conv2-conv7 and fc",
        {"d_sn": False},
    ),
    "checkpoint-not-trained": Mutation(
        "checkpoint-not-trained",
        "torch.save(model.Generator(Z_dim).state_dict(), os.path.join(args.checkpoint_dir, "
        "'gen_{}'.format(epoch)))",
        {"checkpoint": "fresh"},
    ),
    "checkpoint-roundtrip-mismatch": Mutation(
        "checkpoint-roundtrip-mismatch",
        "torch.save(dict(generator.named_parameters()), path); "
        "generator.load_state_dict(torch.load(path), strict=False)",
        {"checkpoint": "params"},
    ),
    "discriminator-wrong-activation": Mutation(
        "discriminator-wrong-activation",
        "return torch.sigmoid(self.fc(m.view(-1, w_g * w_g * 512)))  # loss is hinge",
        {"d_sigmoid": True},
    ),
    "discriminator-overfits": Mutation(
        "discriminator-overfits",
        "torch.utils.data.Subset(datasets.CIFAR10(...), range(128))  # a subset for a quick test",
        {"n_images": 128},
    ),
}

GAN = WildGAN(
    name="cosgrove-sngan",
    source="christiancosgrove/pytorch-spectral-normalization-gan: main.py",
    half="validation",
    description=(
        "SN-GAN, DCGAN-like model.py with the repository's own SpectralNorm: hinge loss, "
        "Adam 2e-4 betas (0.0, 0.9), batch 64, 5 D updates per G update on one real batch, "
        "D's fakes not detached; widths / 16, 16x16 faces"
    ),
    build=build,
    mutations=MUTATIONS,
    steps=200,
)
