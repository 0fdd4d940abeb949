"""aladdinpersson's fully connected GAN on MNIST, re-told at 16x16.

Source: aladdinpersson/Machine-Learning-Collection: ML/Pytorch/GANs/1. SimpleGAN/fc_gan.py

Reproduced as in the original:

- G: Linear(z, 256) -> LeakyReLU(0.01) -> Linear(256, image) -> Tanh; D: Linear(image,
  128) -> LeakyReLU(0.01) -> Linear(128, 1) -> Sigmoid; PyTorch's default initialisation
  (the script has no init function).
- ``nn.BCELoss`` on D's probabilities, D's loss the mean of its real and fake halves, G's
  loss the non-saturating ``BCE(D(G(z)), 1)``.
- z_dim 64, batch size 32, Adam with lr 3e-4 and PyTorch's default betas (0.9, 0.999)
  for both networks.
- The loop body: one ``fake = gen(noise)``; D's step sees ``disc(fake)`` with *no*
  ``.detach()``, then ``disc.zero_grad()``, ``lossD.backward(retain_graph=True)``,
  ``opt_disc.step()``; G's step reuses ``fake`` (``disc(fake)``), then ``gen.zero_grad()``
  right before ``lossG.backward()`` and ``opt_gen.step()``. The missing ``.detach()`` is
  the original's own: it costs a backward pass through G, and ``gen.zero_grad()`` clears
  the stray gradient before G's update, so the healthy GAN already is the "wasteful but
  harmless" case (there is no separate ``detach-missing-wasteful`` mutation here).
- Data: ``ToTensor()`` then ``Normalize((0.5,), (0.5,))``, images flattened.
- Checkpoints: the script saves nothing; the plain ``state_dict`` route stands in.

Scaled down: images 28x28 (784 inputs) to 16x16 (256) synthetic digits
(``wild.data.digits``), 2048 of them instead of MNIST's 60000. The hidden widths (256 in
G, 128 in D) are the original's: they are small enough already.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import nn, optim

from pytest_gan import GANSpec
from wild._base import Mutation, WildGAN
from wild.data import digits, normalize, to_pixels, to_tensor_range

Z_DIM = 64
IMAGE_SIZE = 16
IMAGE_DIM = IMAGE_SIZE * IMAGE_SIZE
LR = 3e-4
BATCH_SIZE = 32
N_IMAGES = 2048

GeneratorFactory = Callable[[], nn.Module]


class Discriminator(nn.Module):
    def __init__(self, in_features: int = IMAGE_DIM, *, sigmoid: bool = True) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Linear(in_features, 128), nn.LeakyReLU(0.01)]
        layers.append(nn.Linear(128, 1))
        if sigmoid:
            layers.append(nn.Sigmoid())
        self.disc = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.disc(x)


class Generator(nn.Module):
    def __init__(
        self, z_dim: int = Z_DIM, img_dim: int = IMAGE_DIM, *, final: str = "tanh"
    ) -> None:
        super().__init__()
        self.gen = nn.Sequential(
            nn.Linear(z_dim, 256),
            nn.LeakyReLU(0.01),
            nn.Linear(256, img_dim),
            nn.Sigmoid() if final == "sigmoid" else nn.Tanh(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gen(x)


@dataclass(frozen=True)
class SimpleGANStep:
    """One batch of the original's loop, with each planted mistake a switch."""

    # "bce": nn.BCELoss (the original); "bce-logits": nn.BCEWithLogitsLoss on the
    # Sigmoid output; "log": the log loss typed out with no epsilon.
    loss: str = "bce"
    # gen.zero_grad() at the top of the iteration instead of right before G's backward.
    gen_zero_grad_at_top: bool = False
    disc_zero_grad: bool = True
    g_repeats: int = 1
    g_loss_on_detached: bool = False

    def __call__(self, ctx: Any, batch: torch.Tensor) -> Mapping[str, Any]:
        gen, disc = ctx.generator, ctx.discriminator
        opt_gen, opt_disc = ctx.opt_g, ctx.opt_d
        real = batch.view(-1, IMAGE_DIM)
        n = real.shape[0]
        if self.loss == "bce-logits":
            criterion: nn.Module = nn.BCEWithLogitsLoss()
        else:
            criterion = nn.BCELoss()

        if self.gen_zero_grad_at_top:
            gen.zero_grad()

        # Discriminator: push D(x) up and D(G(z)) down. The fakes go in undetached, as
        # in the original.
        noise = ctx.latent(n)
        fake = gen(noise)
        disc_real = disc(real).view(-1)
        disc_fake = disc(fake).view(-1)
        if self.loss == "log":
            loss_d = -torch.mean(torch.log(disc_real) + torch.log(1 - disc_fake))
        else:
            loss_real = criterion(disc_real, torch.ones_like(disc_real))
            loss_fake = criterion(disc_fake, torch.zeros_like(disc_fake))
            loss_d = (loss_real + loss_fake) / 2
        if self.disc_zero_grad:
            disc.zero_grad()
        loss_d.backward(retain_graph=True)
        opt_disc.step()

        # Generator: the non-saturating form, maximise log D(G(z)).
        for i in range(self.g_repeats):
            if i > 0:
                fake = gen(ctx.latent(n))
            output = disc(fake.detach() if self.g_loss_on_detached else fake).view(-1)
            if self.loss == "log":
                loss_g = -torch.mean(torch.log(output))
            else:
                loss_g = criterion(output, torch.ones_like(output))
            if not self.gen_zero_grad_at_top:
                gen.zero_grad()
            loss_g.backward()
            opt_gen.step()
        return {"d_loss": loss_d.detach(), "g_loss": loss_g.detach()}


def _save(factory: GeneratorFactory, generator: nn.Module, path: Path) -> None:
    torch.save(generator.state_dict(), path)


def _save_fresh(factory: GeneratorFactory, generator: nn.Module, path: Path) -> None:
    # The mistake: a newly built generator is saved, not the trained one.
    torch.save(factory().state_dict(), path)


def _load(factory: GeneratorFactory, path: Path) -> nn.Module:
    gen = factory()
    gen.load_state_dict(torch.load(path, weights_only=True))
    return gen


def build(
    *,
    normalized: bool = True,
    pixels: bool = False,
    n_images: int = N_IMAGES,
    g_final: str = "tanh",
    lr_disc: float = LR,
    lr_gen: float = LR,
    gen_opt_over_disc: bool = False,
    save_fresh: bool = False,
    step: SimpleGANStep | None = None,
) -> GANSpec:
    x = digits(N_IMAGES, size=IMAGE_SIZE, seed=0)
    if pixels:
        x = to_pixels(x)
    elif normalized:
        x = normalize(x)
    else:
        x = to_tensor_range(x)
    x = x[:n_images].reshape(-1, IMAGE_DIM)

    def optimizers(gen: nn.Module, disc: nn.Module) -> tuple[optim.Optimizer, optim.Optimizer]:
        opt_disc = optim.Adam(disc.parameters(), lr=lr_disc)
        opt_gen = optim.Adam((disc if gen_opt_over_disc else gen).parameters(), lr=lr_gen)
        return opt_gen, opt_disc

    def make_g() -> nn.Module:
        return Generator(Z_DIM, IMAGE_DIM, final=g_final)

    return GANSpec(
        generator=make_g,
        discriminator=lambda: Discriminator(IMAGE_DIM),
        data=x,
        latent_dim=Z_DIM,
        optimizers=optimizers,
        train_step=step or SimpleGANStep(),
        batch_size=BATCH_SIZE,
        name="aladdin-simple-gan",
        save_checkpoint=partial(_save_fresh if save_fresh else _save, make_g),
        load_checkpoint=partial(_load, make_g),
    )


GAN = WildGAN(
    name="aladdin-simple-gan",
    source="aladdinpersson/Machine-Learning-Collection: ML/Pytorch/GANs/1. SimpleGAN/fc_gan.py",
    half="calibration",
    description="MLP GAN on flattened 16x16 digits, Sigmoid D with BCELoss, Tanh G",
    build=build,
    mutations={
        "data-not-normalized": Mutation(
            "data-not-normalized",
            "transforms = transforms.Compose([transforms.ToTensor()])  # Normalize dropped",
            {"normalized": False},
        ),
        "blank-output": Mutation(
            "blank-output",
            "real = torch.from_numpy(images).float().view(-1, 784)  # raw 0-255 pixels",
            {"pixels": True},
            may_also=("data-not-normalized", "output-range-mismatch"),
        ),
        "output-range-mismatch": Mutation(
            "output-range-mismatch",
            "nn.Sigmoid(),  # last layer of self.gen, where the data is in [-1, 1]",
            {"g_final": "sigmoid"},
        ),
        "d-step-leaks-into-generator": Mutation(
            "d-step-leaks-into-generator",
            "gen.zero_grad()  # moved to the top of the batch loop, before D's step",
            {"step": SimpleGANStep(gen_zero_grad_at_top=True)},
        ),
        "gradient-accumulation": Mutation(
            "gradient-accumulation",
            "# disc.zero_grad()  <- deleted before lossD.backward(retain_graph=True)",
            {"step": SimpleGANStep(disc_zero_grad=False)},
        ),
        "optimizer-misses-parameters": Mutation(
            "optimizer-misses-parameters",
            "opt_gen = optim.Adam(disc.parameters(), lr=lr)  # copy-paste of opt_disc",
            {"gen_opt_over_disc": True},
            may_also=("generator-not-learning",),
        ),
        "discriminator-overpowers": Mutation(
            "discriminator-overpowers",
            "lr_disc, lr_gen = 3e-3, 1.5e-4  # D's lr 10x the original, G's halved",
            {"lr_disc": 3e-3, "lr_gen": 1.5e-4},
            may_also=("mode-collapse",),
        ),
        "discriminator-too-weak": Mutation(
            "discriminator-too-weak",
            "opt_disc = optim.Adam(disc.parameters(), lr=3e-6)  # typo for 3e-4",
            {"lr_disc": 3e-6},
            may_also=("mode-collapse",),
        ),
        "mode-collapse": Mutation(
            "mode-collapse",
            "for _ in range(5):  # G trained five times per D step, fresh noise each time",
            {"step": SimpleGANStep(g_repeats=5)},
        ),
        "non-finite-loss": Mutation(
            "non-finite-loss",
            "lossD = -torch.mean(torch.log(disc_real) + torch.log(1 - disc_fake))  # no eps",
            {"step": SimpleGANStep(loss="log")},
        ),
        "generator-not-learning": Mutation(
            "generator-not-learning",
            "output = disc(fake.detach()).view(-1)  # G's loss on the detached fakes",
            {"step": SimpleGANStep(g_loss_on_detached=True)},
        ),
        "checkpoint-not-trained": Mutation(
            "checkpoint-not-trained",
            "torch.save(Generator(z_dim, image_dim).state_dict(), path)  # a fresh G",
            {"save_fresh": True},
        ),
        "discriminator-wrong-activation": Mutation(
            "discriminator-wrong-activation",
            "criterion = nn.BCEWithLogitsLoss()  # while disc still ends in nn.Sigmoid()",
            {"step": SimpleGANStep(loss="bce-logits")},
        ),
        "discriminator-overfits": Mutation(
            "discriminator-overfits",
            "dataset = Subset(dataset, range(64))  # a small subset for a quick test",
            {"n_images": 64},
            may_also=("mode-collapse",),
        ),
    },
)
