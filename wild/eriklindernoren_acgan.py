"""eriklindernoren's AC-GAN (a conditional DCGAN whose D predicts the label), at 16x16.

Source: eriklindernoren/PyTorch-GAN: implementations/acgan/acgan.py.

Reproduced as in the original:

- G: the label through ``nn.Embedding(n_classes, latent_dim)``, multiplied element-wise
  with the noise; a ``Linear`` to 128 channels at a quarter of the image size; then
  ``BatchNorm2d(128)``, ``Upsample(2)``, a 3x3 convolution 128 -> 128,
  ``BatchNorm2d(128, 0.8)`` (0.8 as BatchNorm's eps, the second positional argument),
  ``LeakyReLU(0.2)``, ``Upsample(2)``, a 3x3 convolution 128 -> 64,
  ``BatchNorm2d(64, 0.8)``, ``LeakyReLU(0.2)``, a 3x3 convolution to the image's channels
  and ``Tanh``.
- D: four blocks of a 3x3 stride-2 convolution, ``LeakyReLU(0.2)`` and ``Dropout2d(0.25)``,
  with ``BatchNorm2d(out, 0.8)`` after the second and the third (filters 16, 32, 64, 128);
  D is shown the image alone. Two heads on the flattened features: ``adv_layer``, a
  ``Linear`` to one output and ``Sigmoid`` (the probability the image is real), and
  ``aux_layer``, a ``Linear`` to the classes and ``Softmax`` (the label D predicts).
  ``forward`` returns ``(validity, label)``.
- ``weights_init_normal``: convolutions N(0, 0.02), BatchNorm weights N(1, 0.02) and
  biases 0; the Linear layers keep torch's initialisation.
- The losses: ``nn.BCELoss`` on ``validity`` against 1 (valid) and 0 (fake), and
  ``nn.CrossEntropyLoss`` on ``label`` (the original applies it to the Softmax's output,
  a second softmax: its class term's gradients are small, but it is the original's code).
- The loop body, G's step first: ``optimizer_G.zero_grad()``, noise and ``gen_labels``
  drawn uniformly, ``gen_imgs = generator(z, gen_labels)``, G's loss
  ``0.5 * (BCE(validity, valid) + CE(pred_label, gen_labels))`` on D's two heads, backward,
  step; then D's step: ``optimizer_D.zero_grad()``, on the real batch
  ``(BCE(real_pred, valid) + CE(real_aux, labels)) / 2``, on ``gen_imgs.detach()``
  ``(BCE(fake_pred, fake) + CE(fake_aux, gen_labels)) / 2``, their mean, backward, step.
- Adam with lr 2e-4 and betas (0.5, 0.999) for both networks, batch size 64, latent 100,
  10 classes.
- Data: ``Resize``, ``ToTensor()``, ``Normalize`` with mean and std 0.5, with MNIST's labels.
- Checkpoints: the original saves sample grids only; the generator's ``state_dict`` is
  saved with ``torch.save`` and read back with ``load_state_dict``, as most users add.

As in the same collection's cGAN, G steps before D: a ``.detach()`` missing in D's step
raises "Trying to backward through the graph a second time" at the first batch, so this
GAN has no ``d-step-leaks-into-generator`` mutation.

Scaled down: 32x32 MNIST to 16x16 labelled synthetic digits (``wild.data.digits``, 2048
images), every channel count divided by 4 (G: 32 and 16; D: 4, 8, 16, 32 filters, so D's
four stride-2 blocks end at 1x1 as the original's end at 2x2). The latent size, the
label embedding, the batch size and the optimizer settings are the original's.

Added after both halves were measured (``half="later"``): its verdicts were first seen
with every threshold already fixed, and are reported apart from both halves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from pytest_gan import GANSpec
from wild import _checkpoints as checkpoints
from wild import eriklindernoren_cgan as cgan
from wild._base import Mutation, WildGAN

LATENT_DIM = 100
N_CLASSES = 10
CHANNELS = 1
IMG_SIZE = 16
G_CHANNELS = (32, 16)
D_FILTERS = (4, 8, 16, 32)
LR = 2e-4
BETAS = (0.5, 0.999)
BATCH_SIZE = 64
N_IMAGES = 2048


def weights_init_normal(m: nn.Module) -> None:
    classname = m.__class__.__name__
    if classname.find("Conv") != -1:
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif classname.find("BatchNorm") != -1:
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


class Generator(nn.Module):
    def __init__(self, *, final: str = "tanh", use_labels: bool = True) -> None:
        super().__init__()
        self.use_labels = use_labels
        self.label_emb = nn.Embedding(N_CLASSES, LATENT_DIM)
        self.init_size = IMG_SIZE // 4
        wide, narrow = G_CHANNELS
        self.wide = wide
        self.l1 = nn.Sequential(nn.Linear(LATENT_DIM, wide * self.init_size**2))
        self.conv_blocks = nn.Sequential(
            nn.BatchNorm2d(wide),
            nn.Upsample(scale_factor=2),
            nn.Conv2d(wide, wide, 3, stride=1, padding=1),
            nn.BatchNorm2d(wide, 0.8),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Upsample(scale_factor=2),
            nn.Conv2d(wide, narrow, 3, stride=1, padding=1),
            nn.BatchNorm2d(narrow, 0.8),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(narrow, CHANNELS, 3, stride=1, padding=1),
            nn.Sigmoid() if final == "sigmoid" else nn.Tanh(),
        )

    def forward(self, noise: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        # use_labels=False is the mistake: the label embedding's product dropped.
        gen_input = torch.mul(self.label_emb(labels), noise) if self.use_labels else noise
        out = self.l1(gen_input)
        out = out.view(out.shape[0], self.wide, self.init_size, self.init_size)
        img: torch.Tensor = self.conv_blocks(out)
        return img


class Discriminator(nn.Module):
    def __init__(self) -> None:
        super().__init__()

        def discriminator_block(in_filters: int, out_filters: int, bn: bool) -> list[nn.Module]:
            block: list[nn.Module] = [
                nn.Conv2d(in_filters, out_filters, 3, 2, 1),
                nn.LeakyReLU(0.2, inplace=True),
                nn.Dropout2d(0.25),
            ]
            if bn:
                block.append(nn.BatchNorm2d(out_filters, 0.8))
            return block

        layers: list[nn.Module] = []
        in_filters = CHANNELS
        for out_filters, bn in zip(D_FILTERS, (False, True, True, False), strict=True):
            layers.extend(discriminator_block(in_filters, out_filters, bn))
            in_filters = out_filters
        self.conv_blocks = nn.Sequential(*layers)
        ds_size = IMG_SIZE // 2**4
        self.adv_layer = nn.Sequential(nn.Linear(in_filters * ds_size**2, 1), nn.Sigmoid())
        self.aux_layer = nn.Sequential(
            nn.Linear(in_filters * ds_size**2, N_CLASSES), nn.Softmax(dim=1)
        )

    def forward(self, img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.conv_blocks(img)
        out = out.view(out.shape[0], -1)
        validity = self.adv_layer(out)
        label = self.aux_layer(out)
        return validity, label


@dataclass(frozen=True)
class ACGANStep:
    """One batch of the original's loop (one G update), with each mistake a switch."""

    d_zero_grad: bool = True
    g_loss_on_detached: bool = False
    # G steps per D step (5: the loop wrapped around G's step).
    g_steps: int = 1
    # True: nn.BCEWithLogitsLoss for the adversarial loss, D's Sigmoid kept.
    logits_loss: bool = False

    def __call__(self, ctx: Any, batch: tuple[torch.Tensor, torch.Tensor]) -> Mapping[str, Any]:
        generator, discriminator = ctx.generator, ctx.discriminator
        optimizer_g, optimizer_d = ctx.opt_g, ctx.opt_d
        imgs, labels = batch
        n = imgs.shape[0]
        valid = torch.ones(n, 1, device=imgs.device)
        fake = torch.zeros(n, 1, device=imgs.device)
        adversarial_loss: nn.Module = nn.BCEWithLogitsLoss() if self.logits_loss else nn.BCELoss()
        auxiliary_loss = nn.CrossEntropyLoss()

        for _ in range(self.g_steps):
            optimizer_g.zero_grad()
            z = ctx.latent(n)
            gen_labels = torch.randint(0, N_CLASSES, (n,), device=imgs.device)
            gen_imgs = generator(z, gen_labels)
            scored = gen_imgs.detach() if self.g_loss_on_detached else gen_imgs
            validity, pred_label = discriminator(scored)
            g_loss = 0.5 * (
                adversarial_loss(validity, valid) + auxiliary_loss(pred_label, gen_labels)
            )
            g_loss.backward()
            optimizer_g.step()

        if self.d_zero_grad:
            optimizer_d.zero_grad()
        real_pred, real_aux = discriminator(imgs)
        d_real_loss = (adversarial_loss(real_pred, valid) + auxiliary_loss(real_aux, labels)) / 2
        fake_pred, fake_aux = discriminator(gen_imgs.detach())
        d_fake_loss = (adversarial_loss(fake_pred, fake) + auxiliary_loss(fake_aux, gen_labels)) / 2
        d_loss = (d_real_loss + d_fake_loss) / 2
        d_loss.backward()
        optimizer_d.step()
        return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach()}


def build(
    *,
    normalized: bool = True,
    pixels: bool = False,
    n_images: int = N_IMAGES,
    g_final: str = "tanh",
    g_uses_labels: bool = True,
    lr_d: float = LR,
    lr_g: float = LR,
    g_opt_over_d: bool = False,
    checkpoint: str = "original",
    step: ACGANStep | None = None,
) -> GANSpec:
    x, y = cgan.labelled_digits(normalized=normalized, pixels=pixels, n_images=n_images)
    optimizers = cgan.adam_pair(lr_g=lr_g, lr_d=lr_d, g_opt_over_d=g_opt_over_d)

    def make_g() -> nn.Module:
        generator = Generator(final=g_final, use_labels=g_uses_labels)
        generator.apply(weights_init_normal)
        return generator

    def make_d() -> nn.Module:
        discriminator = Discriminator()
        discriminator.apply(weights_init_normal)
        return discriminator

    save_checkpoint, load_checkpoint = checkpoints.hooks(checkpoint, make_g)
    return GANSpec(
        generator=make_g,
        discriminator=make_d,
        data=(x, y),
        latent_dim=LATENT_DIM,
        optimizers=optimizers,
        train_step=step or ACGANStep(),
        num_classes=N_CLASSES,
        batch_size=BATCH_SIZE,
        name="eriklindernoren-acgan",
        save_checkpoint=save_checkpoint,
        load_checkpoint=load_checkpoint,
    )


#: Mutations of lines this file shares with the same collection's cGAN.
SHARED_MUTATIONS = (
    "data-not-normalized",
    "blank-output",
    "output-range-mismatch",
    "optimizer-misses-parameters",
    "discriminator-overpowers",
    "discriminator-too-weak",
    "checkpoint-not-trained",
    "checkpoint-roundtrip-mismatch",
    "discriminator-overfits",
)

GAN = WildGAN(
    name="eriklindernoren-acgan",
    source="eriklindernoren/PyTorch-GAN: implementations/acgan/acgan.py",
    half="later",
    description="conv AC-GAN: D sees the image alone and returns (validity, class), on digits",
    build=build,
    mutations={
        # The lines this file shares with the same collection's cGAN (data loading,
        # optimizers, checkpoints, a subset): the same mutations.
        **{k: cgan.GAN.mutations[k] for k in SHARED_MUTATIONS},
        "gradient-accumulation": Mutation(
            "gradient-accumulation",
            "# optimizer_D.zero_grad()  <- deleted at the top of D's step",
            {"step": ACGANStep(d_zero_grad=False)},
        ),
        "mode-collapse": Mutation(
            "mode-collapse",
            "for _ in range(5):  # wrapped around G's step, one D step per five",
            {"step": ACGANStep(g_steps=5)},
        ),
        "generator-not-learning": Mutation(
            "generator-not-learning",
            "validity, pred_label = discriminator(gen_imgs.detach())  # in G's step",
            {"step": ACGANStep(g_loss_on_detached=True)},
        ),
        "conditioning-ignored": Mutation(
            "conditioning-ignored",
            "gen_input = noise  # in Generator.forward: torch.mul(self.label_emb(labels), "
            "noise) dropped",
            {"g_uses_labels": False},
        ),
        "discriminator-wrong-activation": Mutation(
            "discriminator-wrong-activation",
            "adversarial_loss = torch.nn.BCEWithLogitsLoss()  # adv_layer's Sigmoid kept",
            {"step": ACGANStep(logits_loss=True)},
        ),
    },
)
