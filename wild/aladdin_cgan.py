"""aladdinpersson's conditional GAN (a conditional WGAN-GP) on MNIST, re-told at 16x16.

Source: aladdinpersson/Machine-Learning-Collection: the "Conditional GAN" tutorial's
code, the WGAN-GP of ML/Pytorch/GANs/4. WGAN-GP (model.py, train.py, utils.py) with label
embeddings. The index holds no upstream copy of the conditional files; their layout
(``Generator(channels_noise, channels_img, features_g, num_classes, img_size,
embed_size)``, ``Discriminator(channels_img, features_d, num_classes, img_size)``,
``gradient_penalty(critic, labels, real, fake)``, NUM_CLASSES 10, GEN_EMBEDDING 100) was
read from several public re-uses of it, all agreeing, and everything else from the
upstream WGAN-GP files it extends.

Reproduced as in the original:

- G: the WGAN-GP generator whose input is the noise ``(z, 1, 1)`` concatenated along the
  channels with ``nn.Embedding(num_classes, embed_size)(labels)`` reshaped to
  ``(embed_size, 1, 1)``; ``ConvTranspose2d(k4)`` blocks (bias-free, ``BatchNorm2d``,
  ``ReLU``), a last ``ConvTranspose2d`` and ``Tanh``.
- Critic: ``nn.Embedding(num_classes, img_size * img_size)(labels)`` reshaped to one
  extra image channel and concatenated to the image; then ``Conv2d(k4, s2, p1)`` with
  ``LeakyReLU(0.2)``, bias-free ``Conv2d`` / ``InstanceNorm2d(affine=True)`` /
  ``LeakyReLU(0.2)`` blocks, a last ``Conv2d(k4, s2, p0)`` to one unbounded score.
- ``initialize_weights``: weights of Conv2d, ConvTranspose2d and BatchNorm2d ~ N(0, 0.02)
  (the embeddings keep PyTorch's N(0, 1)).
- Z_DIM 100, GEN_EMBEDDING 100, NUM_CLASSES 10, BATCH_SIZE 64, Adam with LEARNING_RATE
  1e-4 and betas (0.0, 0.9) for both networks, CRITIC_ITERATIONS 5, LAMBDA_GP 10.
- The gradient penalty of WGAN-GP with the critic scoring the interpolates under the
  batch's labels (``create_graph=True``, ``retain_graph=True``).
- The loop body: the real batch's labels condition the fakes too (``gen(noise, labels)``);
  five critic iterations of ``-(mean(critic(real, labels)) - mean(critic(fake, labels)))
  + LAMBDA_GP * gp`` on undetached fakes, ``critic.zero_grad()``,
  ``backward(retain_graph=True)``, ``opt_critic.step()``; then G's loss
  ``-mean(critic(fake, labels))`` on the last fakes, ``gen.zero_grad()`` right before its
  ``backward()``, ``opt_gen.step()``. The missing ``.detach()`` is the original's own, so
  there is no separate ``detach-missing-wasteful`` mutation here.
- Data: ``ToTensor()`` then ``Normalize((0.5,), (0.5,))``, with MNIST's labels.
- Checkpoints: WGAN-GP's utils.py (``torch.save`` of a dict; ``load_state_dict`` of its
  ``'gen'`` entry); only the generator reaches the spec's hook, so only ``'gen'`` is
  saved here.

Scaled down: 64x64 images to 16x16 labelled synthetic digits (``wild.data.digits``, 2048
images instead of MNIST's 60000), so two resolution-doubling layers fewer on each side
(G: 4x4 -> 8x8 -> 16x16; critic: 8x8 -> 4x4 -> 1x1) and the critic's label embedding
16 * 16 wide. Width FEATURES_GEN / FEATURES_CRITIC 16 -> 8 (as ``wild.aladdin_wgan_gp``).
The embedding sizes (GEN_EMBEDDING 100) and the batch size are the original's.
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

Z_DIM = 100
GEN_EMBEDDING = 100
NUM_CLASSES = 10
CHANNELS_IMG = 1
IMAGE_SIZE = 16
FEATURES_GEN = 8
FEATURES_CRITIC = 8
LEARNING_RATE = 1e-4
BETAS = (0.0, 0.9)
BATCH_SIZE = 64
CRITIC_ITERATIONS = 5
LAMBDA_GP = 10
N_IMAGES = 2048


class Discriminator(nn.Module):
    """The conditional critic: the label enters as one extra image channel."""

    def __init__(
        self,
        channels_img: int = CHANNELS_IMG,
        features_d: int = FEATURES_CRITIC,
        num_classes: int = NUM_CLASSES,
        img_size: int = IMAGE_SIZE,
        *,
        sigmoid: bool = False,
    ) -> None:
        super().__init__()
        self.img_size = img_size
        layers: list[nn.Module] = [
            nn.Conv2d(channels_img + 1, features_d, kernel_size=4, stride=2, padding=1),  # 8x8
            nn.LeakyReLU(0.2),
            self._block(features_d, features_d * 2, 4, 2, 1),  # 4x4
            nn.Conv2d(features_d * 2, 1, kernel_size=4, stride=2, padding=0),  # 1x1
        ]
        if sigmoid:
            layers.append(nn.Sigmoid())
        self.disc = nn.Sequential(*layers)
        self.embed = nn.Embedding(num_classes, img_size * img_size)

    @staticmethod
    def _block(c_in: int, c_out: int, k: int, s: int, p: int) -> nn.Module:
        return nn.Sequential(
            nn.Conv2d(c_in, c_out, k, s, p, bias=False),
            nn.InstanceNorm2d(c_out, affine=True),
            nn.LeakyReLU(0.2),
        )

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        label_plane = self.embed(labels).view(labels.shape[0], 1, self.img_size, self.img_size)
        return self.disc(torch.cat([x, label_plane], dim=1))


class Generator(nn.Module):
    def __init__(
        self,
        channels_noise: int = Z_DIM,
        channels_img: int = CHANNELS_IMG,
        features_g: int = FEATURES_GEN,
        num_classes: int = NUM_CLASSES,
        img_size: int = IMAGE_SIZE,
        embed_size: int = GEN_EMBEDDING,
        *,
        final: str = "tanh",
        use_labels: bool = True,
    ) -> None:
        super().__init__()
        self.img_size = img_size
        self.use_labels = use_labels
        # The mistake behind use_labels=False: the concatenation was dropped from forward
        # and the first block's input cut back to the noise channels to make it run.
        c_in = channels_noise + embed_size if use_labels else channels_noise
        self.net = nn.Sequential(
            self._block(c_in, features_g * 4, 4, 1, 0),  # 4x4
            self._block(features_g * 4, features_g * 2, 4, 2, 1),  # 8x8
            nn.ConvTranspose2d(features_g * 2, channels_img, kernel_size=4, stride=2, padding=1),
            nn.Sigmoid() if final == "sigmoid" else nn.Tanh(),
        )
        self.embed = nn.Embedding(num_classes, embed_size)

    @staticmethod
    def _block(c_in: int, c_out: int, k: int, s: int, p: int) -> nn.Module:
        return nn.Sequential(
            nn.ConvTranspose2d(c_in, c_out, k, s, p, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(),
        )

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        label_vec = self.embed(labels).unsqueeze(2).unsqueeze(3)  # N x embed x 1 x 1
        if self.use_labels:
            x = torch.cat([x, label_vec], dim=1)
        return self.net(x)


def initialize_weights(model: nn.Module) -> nn.Module:
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.BatchNorm2d)):
            nn.init.normal_(m.weight.data, 0.0, 0.02)
    return model


def make_generator(final: str = "tanh", use_labels: bool = True) -> Generator:
    gen = Generator(
        Z_DIM,
        CHANNELS_IMG,
        FEATURES_GEN,
        NUM_CLASSES,
        IMAGE_SIZE,
        GEN_EMBEDDING,
        final=final,
        use_labels=use_labels,
    )
    return initialize_weights(gen)  # type: ignore[return-value]


def make_critic(sigmoid: bool = False) -> Discriminator:
    critic = Discriminator(CHANNELS_IMG, FEATURES_CRITIC, NUM_CLASSES, IMAGE_SIZE, sigmoid=sigmoid)
    return initialize_weights(critic)  # type: ignore[return-value]


def gradient_penalty(
    critic: nn.Module,
    labels: torch.Tensor,
    real: torch.Tensor,
    fake: torch.Tensor,
    *,
    create_graph: bool = True,
) -> torch.Tensor:
    n, c, h, w = real.shape
    alpha = torch.rand((n, 1, 1, 1), device=real.device).repeat(1, c, h, w)
    interpolated = real * alpha + fake * (1 - alpha)
    scores = critic(interpolated, labels)
    (grad,) = torch.autograd.grad(
        inputs=interpolated,
        outputs=scores,
        grad_outputs=torch.ones_like(scores),
        create_graph=create_graph,
        retain_graph=True,
    )
    grad_norm = grad.view(grad.shape[0], -1).norm(2, dim=1)
    return torch.mean((grad_norm - 1) ** 2)


@dataclass(frozen=True)
class CGANStep:
    """One batch of the original's loop (one G update), with each mistake a switch."""

    gen_zero_grad_at_top: bool = False
    critic_zero_grad: bool = True
    gp_create_graph: bool = True
    # True: the critic-iterations loop wraps G's step instead of the critic's.
    loop_around_gen: bool = False
    g_loss_on_detached: bool = False

    def __call__(self, ctx: Any, batch: tuple[torch.Tensor, torch.Tensor]) -> Mapping[str, Any]:
        gen, critic = ctx.generator, ctx.discriminator
        opt_gen, opt_critic = ctx.opt_g, ctx.opt_d
        real, labels = batch
        cur_batch_size = real.shape[0]
        critic_steps = 1 if self.loop_around_gen else CRITIC_ITERATIONS
        gen_steps = CRITIC_ITERATIONS if self.loop_around_gen else 1

        if self.gen_zero_grad_at_top:
            gen.zero_grad()
        # Critic: minimise -(E[critic(x, y)] - E[critic(G(z, y), y)]) + lambda * gp.
        for _ in range(critic_steps):
            fake = gen(ctx.latent(cur_batch_size), labels)
            critic_real = critic(real, labels).reshape(-1)
            critic_fake = critic(fake, labels).reshape(-1)
            gp = gradient_penalty(critic, labels, real, fake, create_graph=self.gp_create_graph)
            loss_critic = -(torch.mean(critic_real) - torch.mean(critic_fake)) + LAMBDA_GP * gp
            if self.critic_zero_grad:
                critic.zero_grad()
            loss_critic.backward(retain_graph=True)
            opt_critic.step()

        # Generator: minimise -E[critic(G(z, y), y)].
        for i in range(gen_steps):
            if i > 0:
                fake = gen(ctx.latent(cur_batch_size), labels)
            scored = fake.detach() if self.g_loss_on_detached else fake
            gen_fake = critic(scored, labels).reshape(-1)
            loss_gen = -torch.mean(gen_fake)
            if not self.gen_zero_grad_at_top:
                gen.zero_grad()
            loss_gen.backward()
            opt_gen.step()
        return {"d_loss": loss_critic.detach(), "g_loss": loss_gen.detach(), "gp": gp.detach()}


def build(
    *,
    normalized: bool = True,
    pixels: bool = False,
    n_images: int = N_IMAGES,
    g_final: str = "tanh",
    g_uses_labels: bool = True,
    critic_sigmoid: bool = False,
    lr_critic: float = LEARNING_RATE,
    lr_gen: float = LEARNING_RATE,
    gen_opt_over_critic: bool = False,
    checkpoint: str = "original",
    step: CGANStep | None = None,
) -> GANSpec:
    x, y = digits(N_IMAGES, size=IMAGE_SIZE, seed=0, labels=True)
    if pixels:
        x = to_pixels(x)
    elif normalized:
        x = normalize(x)
    else:
        x = to_tensor_range(x)
    x, y = x[:n_images], y[:n_images]

    def optimizers(gen: nn.Module, critic: nn.Module) -> tuple[optim.Optimizer, optim.Optimizer]:
        g_params = (critic if gen_opt_over_critic else gen).parameters()
        opt_gen = optim.Adam(g_params, lr=lr_gen, betas=BETAS)
        opt_critic = optim.Adam(critic.parameters(), lr=lr_critic, betas=BETAS)
        return opt_gen, opt_critic

    def make_g() -> nn.Module:
        return make_generator(g_final, g_uses_labels)

    save_checkpoint, load_checkpoint = checkpoints.hooks(checkpoint, make_g, key="gen")
    return GANSpec(
        generator=make_g,
        discriminator=lambda: make_critic(critic_sigmoid),
        data=(x, y),
        latent_dim=(Z_DIM, 1, 1),
        optimizers=optimizers,
        train_step=step or CGANStep(),
        num_classes=NUM_CLASSES,
        batch_size=BATCH_SIZE,
        name="aladdin-cgan",
        save_checkpoint=save_checkpoint,
        load_checkpoint=load_checkpoint,
    )


GAN = WildGAN(
    name="aladdin-cgan",
    source=(
        "aladdinpersson/Machine-Learning-Collection: ML/Pytorch/GANs/4. WGAN-GP "
        "(its conditional version, from the 'Pytorch Conditional GAN Tutorial')"
    ),
    half="validation",
    description="conditional WGAN-GP on labelled 16x16 digits, label embeddings in G and critic",
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
            "gen.zero_grad()  # moved above the critic loop, whose fakes are not detached",
            {"step": CGANStep(gen_zero_grad_at_top=True)},
        ),
        "gradient-accumulation": Mutation(
            "gradient-accumulation",
            "# critic.zero_grad()  <- deleted before loss_critic.backward(retain_graph=True)",
            {"step": CGANStep(critic_zero_grad=False)},
        ),
        "optimizer-misses-parameters": Mutation(
            "optimizer-misses-parameters",
            "opt_gen = optim.Adam(critic.parameters(), lr=LEARNING_RATE, betas=(0.0, 0.9))",
            {"gen_opt_over_critic": True},
            may_also=("generator-not-learning",),
        ),
        "discriminator-overpowers": Mutation(
            "discriminator-overpowers",
            "LR_CRITIC, LR_GEN = 1e-3, 5e-5  # critic's lr 10x the original, G's halved",
            {"lr_critic": 1e-3, "lr_gen": 5e-5},
            may_also=("mode-collapse",),
        ),
        "discriminator-too-weak": Mutation(
            "discriminator-too-weak",
            "opt_critic = optim.Adam(critic.parameters(), lr=1e-6, betas=(0.0, 0.9))  # 1e-4",
            {"lr_critic": 1e-6},
            may_also=("mode-collapse",),
        ),
        "mode-collapse": Mutation(
            "mode-collapse",
            "for _ in range(CRITIC_ITERATIONS):  # wrapped around G's step instead of the critic's",
            {"step": CGANStep(loop_around_gen=True)},
        ),
        "generator-not-learning": Mutation(
            "generator-not-learning",
            "gen_fake = critic(fake.detach(), labels).reshape(-1)  # G's loss on detached fakes",
            {"step": CGANStep(g_loss_on_detached=True)},
        ),
        "discriminator-not-lipschitz": Mutation(
            "discriminator-not-lipschitz",
            "gradient = torch.autograd.grad(inputs=..., outputs=..., grad_outputs=..., "
            "retain_graph=True)[0]  # create_graph=True missing",
            {"step": CGANStep(gp_create_graph=False)},
        ),
        "conditioning-ignored": Mutation(
            "conditioning-ignored",
            "return self.net(x)  # in Generator.forward: torch.cat([x, embedding], dim=1) "
            "dropped (first block cut back to channels_noise)",
            {"g_uses_labels": False},
        ),
        "checkpoint-not-trained": Mutation(
            "checkpoint-not-trained",
            "save_checkpoint({'gen': Generator(Z_DIM, ..., GEN_EMBEDDING).state_dict()})",
            {"checkpoint": "fresh"},
        ),
        "checkpoint-roundtrip-mismatch": Mutation(
            "checkpoint-roundtrip-mismatch",
            "save_checkpoint({'gen': dict(gen.named_parameters())}); "
            "gen.load_state_dict(checkpoint['gen'], strict=False)",
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
