"""eriklindernoren's conditional GAN (an MLP cGAN with a least-squares loss), at 16x16.

Source: eriklindernoren/PyTorch-GAN: implementations/cgan/cgan.py.

Reproduced as in the original:

- G: the label through ``nn.Embedding(n_classes, n_classes)``, concatenated in front of
  the noise; ``Linear`` blocks of widths 128, 256, 512 and 1024, each followed by
  ``LeakyReLU(0.2)`` and, on all but the first, ``BatchNorm1d(out, 0.8)`` (0.8 is the
  second positional argument, BatchNorm's eps, as the original writes it); a last
  ``Linear`` to the image's pixels and ``Tanh``, reshaped to the image.
- D: the flattened image concatenated with D's own ``nn.Embedding(n_classes, n_classes)``
  of the label; ``Linear`` 512, then two ``Linear`` 512 with ``Dropout(0.4)``, each
  followed by ``LeakyReLU(0.2)``; a last ``Linear`` to one score with no final activation.
- The loss: ``nn.MSELoss`` (least squares) on D's raw score against targets 1 (valid) and
  0 (fake); D's loss the mean of the real and the fake term.
- The loop body, G's step first: ``optimizer_G.zero_grad()``, noise and ``gen_labels``
  drawn uniformly, ``gen_imgs = generator(z, gen_labels)``, G's loss
  ``MSE(discriminator(gen_imgs, gen_labels), valid)``, backward, step; then D's step:
  ``optimizer_D.zero_grad()``, the real batch under its own labels and
  ``gen_imgs.detach()`` under the same ``gen_labels``, backward, step. One D update per G
  update.
- Adam with lr 2e-4 and betas (0.5, 0.999) for both networks, batch size 64, latent 100,
  10 classes; no weight initialisation of its own.
- Data: ``Resize``, ``ToTensor()``, ``Normalize([0.5], [0.5])``, with MNIST's labels.
- Checkpoints: the original saves sample grids only; the generator's ``state_dict`` is
  saved with ``torch.save`` and read back with ``load_state_dict``, as most users add.

Because G steps before D in each iteration, G's backward has already freed the graph
behind ``gen_imgs`` when D's step runs: a ``.detach()`` missing there raises "Trying to
backward through the graph a second time" at the first batch, a mistake no one can miss.
A leak of D's gradient into G's update needs the two steps reordered, more than one line,
so this GAN has neither a ``d-step-leaks-into-generator`` nor a
``detach-missing-wasteful`` mutation.

Scaled down: 32x32 MNIST to 16x16 labelled synthetic digits (``wild.data.digits``, 2048
images), and every width divided by 4 (G: 32, 64, 128, 256; D: 128). The latent size, the
embeddings, the batch size and the optimizer settings are the original's.
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

LATENT_DIM = 100
N_CLASSES = 10
CHANNELS = 1
IMG_SIZE = 16
G_WIDTHS = (32, 64, 128, 256)
D_WIDTH = 128
LR = 2e-4
BETAS = (0.5, 0.999)
BATCH_SIZE = 64
N_IMAGES = 2048

IMG_SHAPE = (CHANNELS, IMG_SIZE, IMG_SIZE)
N_PIXELS = CHANNELS * IMG_SIZE * IMG_SIZE


class Generator(nn.Module):
    def __init__(self, *, final: str = "tanh", use_labels: bool = True) -> None:
        super().__init__()
        self.use_labels = use_labels
        self.label_emb = nn.Embedding(N_CLASSES, N_CLASSES)

        def block(in_feat: int, out_feat: int, normalize: bool = True) -> list[nn.Module]:
            layers: list[nn.Module] = [nn.Linear(in_feat, out_feat)]
            if normalize:
                layers.append(nn.BatchNorm1d(out_feat, 0.8))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            return layers

        # The mistake behind use_labels=False: the concatenation dropped from forward and
        # the first layer cut back to the noise to make it run.
        in_feat = LATENT_DIM + N_CLASSES if use_labels else LATENT_DIM
        w1, w2, w3, w4 = G_WIDTHS
        self.model = nn.Sequential(
            *block(in_feat, w1, normalize=False),
            *block(w1, w2),
            *block(w2, w3),
            *block(w3, w4),
            nn.Linear(w4, N_PIXELS),
            nn.Sigmoid() if final == "sigmoid" else nn.Tanh(),
        )

    def forward(self, noise: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        gen_input = torch.cat((self.label_emb(labels), noise), -1) if self.use_labels else noise
        img = self.model(gen_input)
        return img.view(img.size(0), *IMG_SHAPE)


class Discriminator(nn.Module):
    def __init__(self, *, head: str = "none") -> None:
        super().__init__()
        self.label_embedding = nn.Embedding(N_CLASSES, N_CLASSES)
        layers: list[nn.Module] = [
            nn.Linear(N_CLASSES + N_PIXELS, D_WIDTH),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(D_WIDTH, D_WIDTH),
            nn.Dropout(0.4),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(D_WIDTH, D_WIDTH),
            nn.Dropout(0.4),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(D_WIDTH, 1),
        ]
        if head == "softmax":
            # The mistake: a softmax over D's one output, which is then always 1.
            layers.append(nn.Softmax(dim=1))
        self.model = nn.Sequential(*layers)

    def forward(self, img: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        d_in = torch.cat((img.view(img.size(0), -1), self.label_embedding(labels)), -1)
        return self.model(d_in)


@dataclass(frozen=True)
class CGANStep:
    """One batch of the original's loop (one G update), with each mistake a switch."""

    d_zero_grad: bool = True
    g_loss_on_detached: bool = False
    # G steps per D step (5: the loop wrapped around G's step).
    g_steps: int = 1
    # True: G is given labels drawn apart from gen_labels, which D is told in both steps.
    g_own_labels: bool = False

    def __call__(self, ctx: Any, batch: tuple[torch.Tensor, torch.Tensor]) -> Mapping[str, Any]:
        generator, discriminator = ctx.generator, ctx.discriminator
        optimizer_g, optimizer_d = ctx.opt_g, ctx.opt_d
        real_imgs, labels = batch
        n = real_imgs.shape[0]
        valid = torch.ones(n, 1, device=real_imgs.device)
        fake = torch.zeros(n, 1, device=real_imgs.device)
        adversarial_loss = nn.MSELoss()

        for _ in range(self.g_steps):
            optimizer_g.zero_grad()
            z = ctx.latent(n)
            gen_labels = torch.randint(0, N_CLASSES, (n,), device=real_imgs.device)
            g_labels = (
                torch.randint(0, N_CLASSES, (n,), device=real_imgs.device)
                if self.g_own_labels
                else gen_labels
            )
            gen_imgs = generator(z, g_labels)
            scored = gen_imgs.detach() if self.g_loss_on_detached else gen_imgs
            g_loss = adversarial_loss(discriminator(scored, gen_labels), valid)
            g_loss.backward()
            optimizer_g.step()

        if self.d_zero_grad:
            optimizer_d.zero_grad()
        d_real_loss = adversarial_loss(discriminator(real_imgs, labels), valid)
        d_fake_loss = adversarial_loss(discriminator(gen_imgs.detach(), gen_labels), fake)
        d_loss = (d_real_loss + d_fake_loss) / 2
        d_loss.backward()
        optimizer_d.step()
        return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach()}


def labelled_digits(
    *, normalized: bool, pixels: bool, n_images: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The collection's MNIST loading (``ToTensor()``, ``Normalize``) on the stand-in
    digits; ``pixels``: raw 8-bit values; ``normalized=False``: ``Normalize`` left out."""
    x, y = digits(N_IMAGES, size=IMG_SIZE, seed=0, labels=True)
    if pixels:
        x = to_pixels(x)
    elif normalized:
        x = normalize(x)
    else:
        x = to_tensor_range(x)
    return x[:n_images], y[:n_images]


def adam_pair(*, lr_g: float, lr_d: float, g_opt_over_d: bool) -> Any:
    """The collection's optimizers: Adam with betas (0.5, 0.999) for each network;
    ``g_opt_over_d``: G's optimizer built over D's parameters."""

    def optimizers(
        generator: nn.Module, discriminator: nn.Module
    ) -> tuple[optim.Optimizer, optim.Optimizer]:
        g_params = (discriminator if g_opt_over_d else generator).parameters()
        optimizer_g = optim.Adam(g_params, lr=lr_g, betas=BETAS)
        optimizer_d = optim.Adam(discriminator.parameters(), lr=lr_d, betas=BETAS)
        return optimizer_g, optimizer_d

    return optimizers


def build(
    *,
    normalized: bool = True,
    pixels: bool = False,
    n_images: int = N_IMAGES,
    g_final: str = "tanh",
    g_uses_labels: bool = True,
    d_head: str = "none",
    lr_d: float = LR,
    lr_g: float = LR,
    g_opt_over_d: bool = False,
    checkpoint: str = "original",
    step: CGANStep | None = None,
) -> GANSpec:
    x, y = labelled_digits(normalized=normalized, pixels=pixels, n_images=n_images)
    optimizers = adam_pair(lr_g=lr_g, lr_d=lr_d, g_opt_over_d=g_opt_over_d)

    def make_g() -> nn.Module:
        return Generator(final=g_final, use_labels=g_uses_labels)

    save_checkpoint, load_checkpoint = checkpoints.hooks(checkpoint, make_g)
    return GANSpec(
        generator=make_g,
        discriminator=lambda: Discriminator(head=d_head),
        data=(x, y),
        latent_dim=LATENT_DIM,
        optimizers=optimizers,
        train_step=step or CGANStep(),
        num_classes=N_CLASSES,
        batch_size=BATCH_SIZE,
        name="eriklindernoren-cgan",
        save_checkpoint=save_checkpoint,
        load_checkpoint=load_checkpoint,
    )


GAN = WildGAN(
    name="eriklindernoren-cgan",
    source="eriklindernoren/PyTorch-GAN: implementations/cgan/cgan.py",
    half="calibration",
    description="MLP conditional GAN, least-squares loss, G's step first, on labelled digits",
    build=build,
    mutations={
        "data-not-normalized": Mutation(
            "data-not-normalized",
            "transforms.Compose([transforms.Resize(opt.img_size), transforms.ToTensor()])",
            {"normalized": False},
        ),
        "blank-output": Mutation(
            "blank-output",
            "real_imgs = torch.from_numpy(images).float()  # raw 0-255 pixels for a Tanh G",
            {"pixels": True},
            may_also=("data-not-normalized", "output-range-mismatch"),
        ),
        "output-range-mismatch": Mutation(
            "output-range-mismatch",
            "nn.Sigmoid()  # G's last layer, where the data is in [-1, 1]",
            {"g_final": "sigmoid"},
        ),
        "gradient-accumulation": Mutation(
            "gradient-accumulation",
            "# optimizer_D.zero_grad()  <- deleted at the top of D's step",
            {"step": CGANStep(d_zero_grad=False)},
        ),
        "optimizer-misses-parameters": Mutation(
            "optimizer-misses-parameters",
            "optimizer_G = torch.optim.Adam(discriminator.parameters(), lr=opt.lr, ...)",
            {"g_opt_over_d": True},
            may_also=("generator-not-learning",),
        ),
        "discriminator-overpowers": Mutation(
            "discriminator-overpowers",
            "optimizer_D = torch.optim.Adam(..., lr=opt.lr * 20)  # D's lr 20x G's",
            {"lr_d": LR * 20},
            may_also=("mode-collapse",),
        ),
        "discriminator-too-weak": Mutation(
            "discriminator-too-weak",
            "optimizer_D = torch.optim.Adam(..., lr=opt.lr / 100)",
            {"lr_d": LR / 100},
            may_also=("mode-collapse",),
        ),
        "mode-collapse": Mutation(
            "mode-collapse",
            "for _ in range(5):  # wrapped around G's step, one D step per five",
            {"step": CGANStep(g_steps=5)},
        ),
        "generator-not-learning": Mutation(
            "generator-not-learning",
            "validity = discriminator(gen_imgs.detach(), gen_labels)  # in G's step",
            {"step": CGANStep(g_loss_on_detached=True)},
        ),
        "conditioning-ignored": Mutation(
            "conditioning-ignored",
            "gen_input = noise  # in Generator.forward: torch.cat((self.label_emb(labels), "
            "noise), -1) dropped (first layer cut back to latent_dim)",
            {"g_uses_labels": False},
        ),
        "labels-decoupled": Mutation(
            "conditioning-ignored",
            "gen_imgs = generator(z, Variable(LongTensor(np.random.randint(0, opt.n_classes, "
            "batch_size))))  # not gen_labels, which D is told",
            {"step": CGANStep(g_own_labels=True)},
        ),
        "checkpoint-not-trained": Mutation(
            "checkpoint-not-trained",
            "torch.save(Generator().state_dict(), 'generator.pth')",
            {"checkpoint": "fresh"},
        ),
        "checkpoint-roundtrip-mismatch": Mutation(
            "checkpoint-roundtrip-mismatch",
            "torch.save(dict(generator.named_parameters()), path); "
            "generator.load_state_dict(torch.load(path), strict=False)",
            {"checkpoint": "params-only"},
        ),
        "discriminator-wrong-activation": Mutation(
            "discriminator-wrong-activation",
            "nn.Softmax(dim=1),  # after D's last Linear(512, 1): its one output is always 1",
            {"d_head": "softmax"},
        ),
        "discriminator-overfits": Mutation(
            "discriminator-overfits",
            "dataset = Subset(dataset, range(64))  # a small subset for a quick test",
            {"n_images": 64},
            may_also=("mode-collapse",),
        ),
    },
)
