"""aladdinpersson's WGAN (weight clipping) on MNIST, re-told at 16x16.

Source: aladdinpersson/Machine-Learning-Collection: ML/Pytorch/GANs/3. WGAN/model.py and
ML/Pytorch/GANs/3. WGAN/train.py (the "2022-12-20" revision)

Reproduced as in the original:

- G: DCGAN's generator: ``ConvTranspose2d(k4)`` blocks (bias-free, ``BatchNorm2d``,
  ``ReLU``) from the ``(z, 1, 1)`` noise to 4x4 (stride 1, padding 0) and then doubling
  (stride 2, padding 1); a last ``ConvTranspose2d`` (with bias) to the image and ``Tanh``.
- Critic: DCGAN's discriminator without the ``Sigmoid``: a ``Conv2d(k4, s2, p1)`` with
  ``LeakyReLU(0.2)``, then bias-free ``Conv2d`` / ``InstanceNorm2d(affine=True)`` /
  ``LeakyReLU(0.2)`` blocks, a last ``Conv2d(k4, s2, p0)`` to one score.
- ``initialize_weights``: weights of Conv2d, ConvTranspose2d and BatchNorm2d ~ N(0, 0.02)
  (InstanceNorm's affine weights keep their default of 1).
- Z_DIM 128 (latent shape (128, 1, 1)), BATCH_SIZE 64, RMSprop with LEARNING_RATE 5e-5
  for both networks, CRITIC_ITERATIONS 5, WEIGHT_CLIP 0.01.
- The loop body: five critic iterations, each drawing new noise and ``fake = gen(noise)``,
  ``loss_critic = -(mean(critic(real)) - mean(critic(fake)))`` with the fakes *not*
  detached, ``critic.zero_grad()``, ``backward(retain_graph=True)``, ``opt_critic.step()``
  and every critic parameter clamped to [-0.01, 0.01]; then G's loss
  ``-mean(critic(fake))`` on the last iteration's fakes, ``gen.zero_grad()`` right before
  its ``backward()``, ``opt_gen.step()``. The missing ``.detach()`` is the original's own
  (wasteful, harmless: G's gradients are cleared before its update), so there is no
  separate ``detach-missing-wasteful`` mutation here.
- Data: ``ToTensor()`` then ``Normalize((0.5,), (0.5,))``.
- Checkpoints: the script saves nothing; the plain ``state_dict`` route stands in.

Scaled down: 64x64 images to 16x16 synthetic digits (``wild.data.digits``, 2048 images
instead of MNIST's 60000), so two resolution-doubling layers fewer on each side: G goes
(128,1,1) -> 4x4 -> 8x8 -> 16x16, the critic 16x16 -> 8x8 -> 4x4 -> 1x1. Width
FEATURES_GEN / FEATURES_CRITIC 64 -> 8 (G's channels 32, 16; the critic's 8, 16): the
bare loop (five critic passes and one G pass a step, batch 64) took about 13 s of CPU for
200 steps on one thread at 16, 9-10 s at 8, 6-7 s at 4 (per-layer overhead dominates at
this size). The batch size is the original's.
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

Z_DIM = 128
CHANNELS_IMG = 1
IMAGE_SIZE = 16
FEATURES_GEN = 8
FEATURES_CRITIC = 8
LEARNING_RATE = 5e-5
BATCH_SIZE = 64
CRITIC_ITERATIONS = 5
WEIGHT_CLIP = 0.01
N_IMAGES = 2048


class Discriminator(nn.Module):
    """The critic (no Sigmoid: it outputs an unbounded score)."""

    def __init__(
        self,
        channels_img: int = CHANNELS_IMG,
        features_d: int = FEATURES_CRITIC,
        *,
        sigmoid: bool = False,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.Conv2d(channels_img, features_d, kernel_size=4, stride=2, padding=1),  # 8x8
            nn.LeakyReLU(0.2),
            self._block(features_d, features_d * 2, 4, 2, 1),  # 4x4
            nn.Conv2d(features_d * 2, 1, kernel_size=4, stride=2, padding=0),  # 1x1
        ]
        if sigmoid:
            layers.append(nn.Sigmoid())
        self.disc = nn.Sequential(*layers)

    @staticmethod
    def _block(c_in: int, c_out: int, k: int, s: int, p: int) -> nn.Module:
        return nn.Sequential(
            nn.Conv2d(c_in, c_out, k, s, p, bias=False),
            nn.InstanceNorm2d(c_out, affine=True),
            nn.LeakyReLU(0.2),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.disc(x)


class Generator(nn.Module):
    def __init__(
        self,
        channels_noise: int = Z_DIM,
        channels_img: int = CHANNELS_IMG,
        features_g: int = FEATURES_GEN,
        *,
        final: str = "tanh",
    ) -> None:
        super().__init__()
        self.net = nn.Sequential(
            self._block(channels_noise, features_g * 4, 4, 1, 0),  # 4x4
            self._block(features_g * 4, features_g * 2, 4, 2, 1),  # 8x8
            nn.ConvTranspose2d(features_g * 2, channels_img, kernel_size=4, stride=2, padding=1),
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
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.BatchNorm2d)):
            nn.init.normal_(m.weight.data, 0.0, 0.02)
    return model


def make_generator(final: str = "tanh") -> Generator:
    return initialize_weights(Generator(Z_DIM, CHANNELS_IMG, FEATURES_GEN, final=final))  # type: ignore[return-value]


def make_critic(sigmoid: bool = False) -> Discriminator:
    return initialize_weights(Discriminator(CHANNELS_IMG, FEATURES_CRITIC, sigmoid=sigmoid))  # type: ignore[return-value]


@dataclass(frozen=True)
class WGANStep:
    """One batch of the original's loop (one G update), with each mistake a switch."""

    gen_zero_grad_at_top: bool = False
    critic_zero_grad: bool = True
    clip: bool = True
    # True: the critic-iterations loop wraps G's step instead of the critic's.
    loop_around_gen: bool = False
    g_loss_on_detached: bool = False

    def __call__(self, ctx: Any, batch: torch.Tensor) -> Mapping[str, Any]:
        gen, critic = ctx.generator, ctx.discriminator
        opt_gen, opt_critic = ctx.opt_g, ctx.opt_d
        data = batch
        cur_batch_size = data.shape[0]
        critic_steps = 1 if self.loop_around_gen else CRITIC_ITERATIONS
        gen_steps = CRITIC_ITERATIONS if self.loop_around_gen else 1

        if self.gen_zero_grad_at_top:
            gen.zero_grad()
        # Critic: maximise E[critic(real)] - E[critic(fake)].
        for _ in range(critic_steps):
            fake = gen(ctx.latent(cur_batch_size))
            critic_real = critic(data).reshape(-1)
            critic_fake = critic(fake).reshape(-1)
            loss_critic = -(torch.mean(critic_real) - torch.mean(critic_fake))
            if self.critic_zero_grad:
                critic.zero_grad()
            loss_critic.backward(retain_graph=True)
            opt_critic.step()
            if self.clip:
                for p in critic.parameters():
                    p.data.clamp_(-WEIGHT_CLIP, WEIGHT_CLIP)

        # Generator: minimise -E[critic(G(z))].
        for i in range(gen_steps):
            if i > 0:
                fake = gen(ctx.latent(cur_batch_size))
            gen_fake = critic(fake.detach() if self.g_loss_on_detached else fake).reshape(-1)
            loss_gen = -torch.mean(gen_fake)
            if not self.gen_zero_grad_at_top:
                gen.zero_grad()
            loss_gen.backward()
            opt_gen.step()
        return {"d_loss": loss_critic.detach(), "g_loss": loss_gen.detach()}


def build(
    *,
    normalized: bool = True,
    pixels: bool = False,
    n_images: int = N_IMAGES,
    g_final: str = "tanh",
    critic_sigmoid: bool = False,
    lr_critic: float = LEARNING_RATE,
    lr_gen: float = LEARNING_RATE,
    gen_opt_over_critic: bool = False,
    checkpoint: str = "original",
    step: WGANStep | None = None,
) -> GANSpec:
    x = digits(N_IMAGES, size=IMAGE_SIZE, seed=0)
    if pixels:
        x = to_pixels(x)
    elif normalized:
        x = normalize(x)
    else:
        x = to_tensor_range(x)
    x = x[:n_images]

    def optimizers(gen: nn.Module, critic: nn.Module) -> tuple[optim.Optimizer, optim.Optimizer]:
        opt_gen = optim.RMSprop((critic if gen_opt_over_critic else gen).parameters(), lr=lr_gen)
        opt_critic = optim.RMSprop(critic.parameters(), lr=lr_critic)
        return opt_gen, opt_critic

    def make_g() -> nn.Module:
        return make_generator(g_final)

    save_checkpoint, load_checkpoint = checkpoints.hooks(checkpoint, make_g)
    return GANSpec(
        generator=make_g,
        discriminator=lambda: make_critic(critic_sigmoid),
        data=x,
        latent_dim=(Z_DIM, 1, 1),
        optimizers=optimizers,
        train_step=step or WGANStep(),
        batch_size=BATCH_SIZE,
        name="aladdin-wgan",
        save_checkpoint=save_checkpoint,
        load_checkpoint=load_checkpoint,
    )


GAN = WildGAN(
    name="aladdin-wgan",
    source=(
        "aladdinpersson/Machine-Learning-Collection: ML/Pytorch/GANs/3. WGAN/train.py (+ model.py)"
    ),
    half="validation",
    description="WGAN with weight clipping on 16x16 digits, RMSprop 5e-5, 5 critic steps",
    build=build,
    mutations={
        "data-not-normalized": Mutation(
            "data-not-normalized",
            "transforms.Compose([transforms.Resize(IMAGE_SIZE), transforms.ToTensor()])",
            {"normalized": False},
        ),
        "blank-output": Mutation(
            "blank-output",
            "data = torch.from_numpy(images).float()  # raw 0-255 pixels for a Tanh G",
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
            "gen.zero_grad()  # moved above the critic loop, whose fakes are not detached",
            {"step": WGANStep(gen_zero_grad_at_top=True)},
        ),
        "gradient-accumulation": Mutation(
            "gradient-accumulation",
            "# critic.zero_grad()  <- deleted before loss_critic.backward(retain_graph=True)",
            {"step": WGANStep(critic_zero_grad=False)},
        ),
        "optimizer-misses-parameters": Mutation(
            "optimizer-misses-parameters",
            "opt_gen = optim.RMSprop(critic.parameters(), lr=LEARNING_RATE)  # copy-paste",
            {"gen_opt_over_critic": True},
            may_also=("generator-not-learning",),
        ),
        "discriminator-overpowers": Mutation(
            "discriminator-overpowers",
            "LR_CRITIC, LR_GEN = 5e-4, 2.5e-5  # critic's lr 10x the original, G's halved",
            {"lr_critic": 5e-4, "lr_gen": 2.5e-5},
            may_also=("mode-collapse",),
        ),
        "discriminator-too-weak": Mutation(
            "discriminator-too-weak",
            "opt_critic = optim.RMSprop(critic.parameters(), lr=5e-7)  # typo for 5e-5",
            {"lr_critic": 5e-7},
            may_also=("mode-collapse",),
        ),
        "mode-collapse": Mutation(
            "mode-collapse",
            "for _ in range(CRITIC_ITERATIONS):  # wrapped around G's step instead of the critic's",
            {"step": WGANStep(loop_around_gen=True)},
        ),
        "generator-not-learning": Mutation(
            "generator-not-learning",
            "gen_fake = critic(fake.detach()).reshape(-1)  # G's loss on detached fakes",
            {"step": WGANStep(g_loss_on_detached=True)},
        ),
        "discriminator-not-lipschitz": Mutation(
            "discriminator-not-lipschitz",
            "# for p in critic.parameters(): p.data.clamp_(-WEIGHT_CLIP, WEIGHT_CLIP)  <- deleted",
            {"step": WGANStep(clip=False)},
        ),
        "checkpoint-not-trained": Mutation(
            "checkpoint-not-trained",
            "torch.save(Generator(Z_DIM, CHANNELS_IMG, FEATURES_GEN).state_dict(), path)",
            {"checkpoint": "fresh"},
        ),
        "checkpoint-roundtrip-mismatch": Mutation(
            "checkpoint-roundtrip-mismatch",
            "torch.save(dict(gen.named_parameters()), path); gen.load_state_dict(sd, strict=False)",
            {"checkpoint": "params-only"},
        ),
        "discriminator-wrong-activation": Mutation(
            "discriminator-wrong-activation",
            "nn.Sigmoid(),  # kept at the end of the critic from the DCGAN discriminator",
            {"critic_sigmoid": True},
        ),
        "discriminator-overfits": Mutation(
            "discriminator-overfits",
            "dataset = Subset(dataset, range(64))  # a small subset for a quick test",
            {"n_images": 64},
            may_also=("mode-collapse",),
        ),
    },
)
