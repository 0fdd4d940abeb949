"""aladdinpersson's DCGAN on MNIST, re-told at 16x16.

Source: aladdinpersson/Machine-Learning-Collection: ML/Pytorch/GANs/2. DCGAN/model.py and
ML/Pytorch/GANs/2. DCGAN/train.py (the "2022-12-20" revision)

Reproduced as in the original:

- G: ``ConvTranspose2d(k4)`` blocks (bias-free, ``BatchNorm2d``, ``ReLU``), the first
  from the ``(z, 1, 1)`` noise to 4x4 with stride 1 / padding 0, the others doubling the
  size with stride 2 / padding 1; a last bias-free ``ConvTranspose2d`` to the image and
  ``Tanh``.
- D: a bias-free ``Conv2d(k4, s2, p1)`` with ``LeakyReLU(0.2)`` and no norm, then
  ``Conv2d`` / ``BatchNorm2d`` / ``LeakyReLU(0.2)`` blocks, a last ``Conv2d(k4, s2, p0)``
  from 4x4 to 1x1 and ``Sigmoid``, trained with ``nn.BCELoss``.
- ``initialize_weights``: conv weights ~ N(0, 0.02), BatchNorm weights ~ N(1, 0.02) and
  biases 0.
- NOISE_DIM 100 (latent shape (100, 1, 1)), BATCH_SIZE 128, one LEARNING_RATE 2e-4 with
  Adam betas (0.5, 0.999) for both networks.
- The loop body: ``fake = gen(noise)``; D's loss the mean of ``BCE(D(x), 1)`` and
  ``BCE(D(fake.detach()), 0)``, then ``disc.zero_grad()``, ``backward``, ``step``; G's
  loss ``BCE(D(fake), 1)`` on the same fakes, then ``gen.zero_grad()``, ``backward``,
  ``step``.
- Data: ``ToTensor()`` then ``Normalize((0.5,), (0.5,))``.
- Checkpoints: the script saves nothing; the plain ``state_dict`` route stands in.

Scaled down: 64x64 images to 16x16 synthetic digits (``wild.data.digits``, 2048 images
instead of MNIST's 60000), so two resolution-doubling layers fewer on each side: G goes
(100,1,1) -> 4x4 -> 8x8 -> 16x16, D 16x16 -> 8x8 -> 4x4 -> 1x1. Width FEATURES_GEN /
FEATURES_DISC 64 -> 16 (G's channels 64, 32; D's 16, 32).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn, optim

from pytest_gan import GANSpec
from wild import _checkpoints as checkpoints
from wild._base import Mutation, WildGAN
from wild.data import digits, normalize, to_pixels, to_tensor_range

NOISE_DIM = 100
CHANNELS_IMG = 1
IMAGE_SIZE = 16
FEATURES_GEN = 16
FEATURES_DISC = 16
LEARNING_RATE = 2e-4
BETAS = (0.5, 0.999)
BATCH_SIZE = 128
N_IMAGES = 2048


class Discriminator(nn.Module):
    def __init__(self, channels_img: int = CHANNELS_IMG, features_d: int = FEATURES_DISC) -> None:
        super().__init__()
        self.disc = nn.Sequential(
            # 16x16 -> 8x8, no norm on the first layer
            nn.Conv2d(channels_img, features_d, kernel_size=4, stride=2, padding=1, bias=False),
            nn.LeakyReLU(0.2),
            self._block(features_d, features_d * 2, 4, 2, 1),  # 4x4
            nn.Conv2d(features_d * 2, 1, kernel_size=4, stride=2, padding=0),  # 1x1
            nn.Sigmoid(),
        )

    @staticmethod
    def _block(c_in: int, c_out: int, k: int, s: int, p: int) -> nn.Module:
        return nn.Sequential(
            nn.Conv2d(c_in, c_out, k, s, p, bias=False),
            nn.BatchNorm2d(c_out),
            nn.LeakyReLU(0.2, True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.disc(x)


class Generator(nn.Module):
    def __init__(
        self,
        channels_noise: int = NOISE_DIM,
        channels_img: int = CHANNELS_IMG,
        features_g: int = FEATURES_GEN,
        *,
        final: str = "tanh",
    ) -> None:
        super().__init__()
        self.net = nn.Sequential(
            self._block(channels_noise, features_g * 4, 4, 1, 0),  # 4x4
            self._block(features_g * 4, features_g * 2, 4, 2, 1),  # 8x8
            nn.ConvTranspose2d(
                features_g * 2, channels_img, kernel_size=4, stride=2, padding=1, bias=False
            ),  # 16x16
            nn.Sigmoid() if final == "sigmoid" else nn.Tanh(),
        )

    @staticmethod
    def _block(c_in: int, c_out: int, k: int, s: int, p: int) -> nn.Module:
        return nn.Sequential(
            nn.ConvTranspose2d(c_in, c_out, k, s, p, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def initialize_weights(model: nn.Module) -> nn.Module:
    """DCGAN's init, by class name as in the original."""
    for m in model.modules():
        kind = type(m).__name__
        if "Conv" in kind:
            nn.init.normal_(m.weight.data, 0.0, 0.02)
        elif "BatchNorm" in kind:
            nn.init.normal_(m.weight.data, 1.0, 0.02)
            nn.init.constant_(m.bias.data, 0)
    return model


def make_generator(final: str = "tanh") -> Generator:
    return initialize_weights(Generator(NOISE_DIM, CHANNELS_IMG, FEATURES_GEN, final=final))  # type: ignore[return-value]


def make_discriminator() -> Discriminator:
    return initialize_weights(Discriminator(CHANNELS_IMG, FEATURES_DISC))  # type: ignore[return-value]


@dataclass(frozen=True)
class DCGANStep:
    """One batch of the original's loop, with each planted mistake a switch."""

    # "bce": nn.BCELoss (the original); "bce-logits": nn.BCEWithLogitsLoss on the
    # Sigmoid output; "log": the log loss typed out with no epsilon.
    loss: str = "bce"
    # False: disc(fake) in D's step, with backward(retain_graph=True) so that G's step
    # can still go back through the fakes' graph.
    detach: bool = True
    gen_zero_grad_at_top: bool = False
    disc_zero_grad: bool = True
    g_repeats: int = 1
    g_loss_on_detached: bool = False

    def __call__(self, ctx: Any, batch: torch.Tensor) -> Mapping[str, Any]:
        gen, disc = ctx.generator, ctx.discriminator
        opt_gen, opt_disc = ctx.opt_g, ctx.opt_d
        real = batch
        criterion: nn.Module = nn.BCEWithLogitsLoss() if self.loss == "bce-logits" else nn.BCELoss()

        if self.gen_zero_grad_at_top:
            gen.zero_grad()
        noise = ctx.latent(real.shape[0])
        fake = gen(noise)

        # Discriminator: maximise log D(x) + log(1 - D(G(z))).
        disc_real = disc(real).reshape(-1)
        disc_fake = disc(fake.detach() if self.detach else fake).reshape(-1)
        if self.loss == "log":
            loss_disc = -torch.mean(torch.log(disc_real) + torch.log(1 - disc_fake))
        else:
            loss_real = criterion(disc_real, torch.ones_like(disc_real))
            loss_fake = criterion(disc_fake, torch.zeros_like(disc_fake))
            loss_disc = (loss_real + loss_fake) / 2
        if self.disc_zero_grad:
            disc.zero_grad()
        loss_disc.backward(retain_graph=not self.detach)
        opt_disc.step()

        # Generator: maximise log D(G(z)) on the same fakes.
        for i in range(self.g_repeats):
            if i > 0:
                fake = gen(ctx.latent(real.shape[0]))
            output = disc(fake.detach() if self.g_loss_on_detached else fake).reshape(-1)
            if self.loss == "log":
                loss_gen = -torch.mean(torch.log(output))
            else:
                loss_gen = criterion(output, torch.ones_like(output))
            if not self.gen_zero_grad_at_top:
                gen.zero_grad()
            loss_gen.backward()
            opt_gen.step()
        return {"d_loss": loss_disc.detach(), "g_loss": loss_gen.detach()}


def build(
    *,
    normalized: bool = True,
    pixels: bool = False,
    n_images: int = N_IMAGES,
    g_final: str = "tanh",
    lr_disc: float = LEARNING_RATE,
    lr_gen: float = LEARNING_RATE,
    gen_opt_over_disc: bool = False,
    checkpoint: str = "original",
    step: DCGANStep | None = None,
) -> GANSpec:
    x = digits(N_IMAGES, size=IMAGE_SIZE, seed=0)
    if pixels:
        x = to_pixels(x)
    elif normalized:
        x = normalize(x)
    else:
        x = to_tensor_range(x)
    x = x[:n_images]

    def optimizers(gen: nn.Module, disc: nn.Module) -> tuple[optim.Optimizer, optim.Optimizer]:
        g_params = (disc if gen_opt_over_disc else gen).parameters()
        opt_gen = optim.Adam(g_params, lr=lr_gen, betas=BETAS)
        opt_disc = optim.Adam(disc.parameters(), lr=lr_disc, betas=BETAS)
        return opt_gen, opt_disc

    def make_g() -> nn.Module:
        return make_generator(g_final)

    save_checkpoint, load_checkpoint = checkpoints.hooks(checkpoint, make_g)
    return GANSpec(
        generator=make_g,
        discriminator=make_discriminator,
        data=x,
        latent_dim=(NOISE_DIM, 1, 1),
        optimizers=optimizers,
        train_step=step or DCGANStep(),
        batch_size=BATCH_SIZE,
        name="aladdin-dcgan",
        save_checkpoint=save_checkpoint,
        load_checkpoint=load_checkpoint,
    )


GAN = WildGAN(
    name="aladdin-dcgan",
    source=(
        "aladdinpersson/Machine-Learning-Collection: ML/Pytorch/GANs/2. DCGAN/train.py (+ model.py)"
    ),
    half="calibration",
    description="DCGAN on 16x16 digits, BatchNorm, Sigmoid D with BCELoss, Adam 2e-4",
    build=build,
    mutations={
        "data-not-normalized": Mutation(
            "data-not-normalized",
            "transforms.Compose([transforms.Resize(IMAGE_SIZE), transforms.ToTensor()])",
            {"normalized": False},
        ),
        "blank-output": Mutation(
            "blank-output",
            "real = torch.from_numpy(images).float()  # raw 0-255 pixels for a Tanh G",
            {"pixels": True},
            may_also=("data-not-normalized", "output-range-mismatch"),
        ),
        "output-range-mismatch": Mutation(
            "output-range-mismatch",
            "nn.Sigmoid(),  # G's last layer, where the data is in [-1, 1]",
            {"g_final": "sigmoid"},
        ),
        "d-step-leaks-into-generator": Mutation(
            "d-step-leaks-into-generator",
            "disc_fake = disc(fake).reshape(-1)  # .detach() dropped, gen.zero_grad() at the top",
            {"step": DCGANStep(detach=False, gen_zero_grad_at_top=True)},
        ),
        "detach-missing-wasteful": Mutation(
            "",
            "disc_fake = disc(fake).reshape(-1)  # no .detach(); backward(retain_graph=True)",
            {"step": DCGANStep(detach=False)},
        ),
        "gradient-accumulation": Mutation(
            "gradient-accumulation",
            "# disc.zero_grad()  <- deleted before loss_disc.backward()",
            {"step": DCGANStep(disc_zero_grad=False)},
        ),
        "optimizer-misses-parameters": Mutation(
            "optimizer-misses-parameters",
            "opt_gen = optim.Adam(disc.parameters(), lr=LEARNING_RATE, betas=(0.5, 0.999))",
            {"gen_opt_over_disc": True},
            may_also=("generator-not-learning",),
        ),
        "discriminator-overpowers": Mutation(
            "discriminator-overpowers",
            "LR_DISC, LR_GEN = 2e-3, 1e-4  # D's lr 10x the original, G's halved",
            {"lr_disc": 2e-3, "lr_gen": 1e-4},
            may_also=("mode-collapse",),
        ),
        "discriminator-too-weak": Mutation(
            "discriminator-too-weak",
            "opt_disc = optim.Adam(disc.parameters(), lr=2e-6, betas=(0.5, 0.999))  # for 2e-4",
            {"lr_disc": 2e-6},
            may_also=("mode-collapse",),
        ),
        "mode-collapse": Mutation(
            "mode-collapse",
            "for _ in range(5):  # G trained five times per D step, fresh fakes each time",
            {"step": DCGANStep(g_repeats=5)},
        ),
        "non-finite-loss": Mutation(
            "non-finite-loss",
            "loss_disc = -torch.mean(torch.log(disc_real) + torch.log(1 - disc_fake))  # no eps",
            {"step": DCGANStep(loss="log")},
        ),
        "generator-not-learning": Mutation(
            "generator-not-learning",
            "output = disc(fake.detach()).reshape(-1)  # G's loss on the detached fakes",
            {"step": DCGANStep(g_loss_on_detached=True)},
        ),
        "checkpoint-not-trained": Mutation(
            "checkpoint-not-trained",
            "torch.save(Generator(NOISE_DIM, CHANNELS_IMG, FEATURES_GEN).state_dict(), path)",
            {"checkpoint": "fresh"},
        ),
        "checkpoint-roundtrip-mismatch": Mutation(
            "checkpoint-roundtrip-mismatch",
            "torch.save(dict(gen.named_parameters()), path); gen.load_state_dict(sd, strict=False)",
            {"checkpoint": "params-only"},
        ),
        "discriminator-wrong-activation": Mutation(
            "discriminator-wrong-activation",
            "criterion = nn.BCEWithLogitsLoss()  # while D still ends in nn.Sigmoid()",
            {"step": DCGANStep(loss="bce-logits")},
        ),
        "discriminator-overfits": Mutation(
            "discriminator-overfits",
            "dataset = Subset(dataset, range(64))  # a small subset for a quick test",
            {"n_images": 64},
            may_also=("mode-collapse",),
        ),
    },
)
