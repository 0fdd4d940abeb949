"""cGAN-PD (conditional GAN with a projection discriminator) of kwotsin/mimicry, 32x32.

Source read: ``kwotsin/mimicry``: ``torch_mimicry/nets/cgan_pd/cgan_pd_32.py`` (the 32x32
networks), ``nets/cgan_pd/cgan_pd_base.py`` (hinge loss default), ``nets/gan/cgan.py`` and
``nets/gan/gan.py`` (the G and D ``train_step``s, loss dispatch),
``modules/resblocks.py`` (``GBlock``, ``DBlock``, ``DBlockOptimized``), ``modules/layers.py``
(``SNConv2d`` / ``SNLinear`` / ``SNEmbedding`` = ``torch.nn.utils.spectral_norm`` around the
plain layer; ``ConditionalBatchNorm2d``), ``modules/losses.py`` (hinge),
``training/trainer.py`` (the loop), ``nets/basemodel/basemodel.py`` (checkpoints),
``datasets/data_utils.py`` (``ToTensor()`` + ``Normalize((0.5,), (0.5,))``) and the
README's CIFAR-10 training parameters.

Reproduced as in the original:

- G: ``Linear(nz, bottom_width**2 * ngf)`` (xavier 1.0), three up-sampling ``GBlock``s
  (conditional BatchNorm (BatchNorm without affine + an embedding of 2C per class, scale
  from N(1, 0.02), shift 0) -> ReLU -> bilinear x2 -> 3x3 conv -> conditional BatchNorm ->
  ReLU -> 3x3 conv, plus a bilinear x2 -> 1x1 conv shortcut; convs xavier sqrt(2), the
  shortcut xavier 1.0), BatchNorm, ReLU, a 3x3 conv (xavier 1.0), tanh.
- D: ``DBlockOptimized`` (conv-ReLU-conv-avgpool plus avgpool-1x1 conv), a down-sampling
  ``DBlock`` (ReLU-conv-ReLU-conv-avgpool plus 1x1 conv-avgpool), two plain ``DBlock``s
  (identity shortcut), ReLU, global sum pooling, ``SNLinear(ndf, 1)`` plus the projection
  ``sum(SNEmbedding(y) * h)``; every conv spectrally normalised; the same xavier gains.
- Loss: hinge, ``relu(1 - D(x, y)).mean() + relu(1 + D(G(z, y'), y')).mean()`` for D and
  ``-D(G(z, y'), y').mean()`` for G.
- Adam(2e-4, betas (0.0, 0.9)) for both, batch 64, n_dis 5, nz 128.
- Loop (``Trainer.train``): for i in range(n_dis): fetch a fresh real batch; D's step
  (``netD.zero_grad()``, D on the real images and labels, fake labels and noise drawn in
  ``generate_images_with_labels``, fakes ``.detach()``-ed, D on them, ``backward()``,
  ``optD.step()``); after the last one, G's step (``netG.zero_grad()``, a fresh batch of
  fakes with fresh labels, ``backward()``, ``optG.step()``).
- Checkpoint: ``BaseModel.save_checkpoint`` writes ``{'model_state_dict': state_dict,
  'optimizer_state_dict': ..., 'global_step': step}``; ``restore_checkpoint`` loads
  ``ckpt['model_state_dict']``. Here the optimizer entry is ``None`` (what the original
  writes when it is given no optimizer) and the step is 0 (the save hook does not know
  it); read back with ``weights_only=True``.

Scaled down / changed:

- Widths divided by 16: ngf 256 -> 16, ndf 128 -> 8.
- Data: ``wild.data.digits(2048, size=16, labels=True)``, normalised to [-1, 1], for
  CIFAR-10: one channel (G's last conv and D's first block take 1 channel instead of 3),
  10 classes. Image size 32 -> 16 through the network's own ``bottom_width`` (4 -> 2); the
  block sequence is the 32x32 one.
- Each of the n_dis D updates draws a fresh real batch of 64 in the original. A
  ``train_step`` receives one batch, so the spec's batch is 5 x 64 = 320 and the step
  splits it into the five D batches (G's step, as in the original, only takes its size
  from the real batch).
- Left out: the linear learning-rate decay to 0 over 100 000 steps (0.2% after 200).
- Batch size kept at 64 although a 200-step run takes far over 10 s on one CPU thread
  (34-53 s measured on a loaded 2-core machine): five D updates per step over many small ops;
  halving the batch or the widths again each saved about a third at most.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm

from pytest_gan import GANSpec
from wild import data as wdata
from wild._base import Mutation, WildGAN

NZ = 128
NUM_CLASSES = 10
BATCH_SIZE = 64
N_DIS = 5
LR = 2e-4
BETAS = (0.0, 0.9)
N_IMAGES = 2048
SIZE = 16
CHANNELS = 1
BOTTOM_WIDTH = SIZE // 8
# Original widths divided by 16.
NGF = 16
NDF = 8


def _conv(cin: int, cout: int, k: int, s: int, p: int, sn: bool) -> nn.Conv2d:
    conv = nn.Conv2d(cin, cout, k, s, padding=p)
    return spectral_norm(conv) if sn else conv


def _xavier(layer: nn.Module, gain: float) -> None:
    # With the legacy spectral_norm, layer.weight is a view of weight_orig's storage, so
    # the original's ``nn.init.xavier_uniform_(layer.weight.data, gain)`` initialises
    # weight_orig; the same here.
    weight = getattr(layer, "weight_orig", None)
    nn.init.xavier_uniform_((weight if weight is not None else layer.weight).data, gain)


class ConditionalBatchNorm2d(nn.Module):
    def __init__(self, num_features: int, num_classes: int) -> None:
        super().__init__()
        self.num_features = num_features
        self.bn = nn.BatchNorm2d(num_features, affine=False)
        self.embed = nn.Embedding(num_classes, num_features * 2)
        self.embed.weight.data[:, :num_features].normal_(1, 0.02)
        self.embed.weight.data[:, num_features:].zero_()

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.embed(y).chunk(2, 1)
        c = self.num_features
        return gamma.view(-1, c, 1, 1) * self.bn(x) + beta.view(-1, c, 1, 1)


class GBlock(nn.Module):
    """Up-sampling residual block of G with conditional BatchNorm."""

    def __init__(self, cin: int, cout: int, num_classes: int) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, 1, padding=1)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, padding=1)
        self.b1 = ConditionalBatchNorm2d(cin, num_classes)
        self.b2 = ConditionalBatchNorm2d(cout, num_classes)
        self.activation = nn.ReLU(True)
        _xavier(self.c1, math.sqrt(2.0))
        _xavier(self.c2, math.sqrt(2.0))
        self.c_sc = nn.Conv2d(cin, cout, 1, 1, padding=0)
        _xavier(self.c_sc, 1.0)

    @staticmethod
    def _up(x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.activation(self.b1(x, y))
        h = self.c1(self._up(h))
        h = self.activation(self.b2(h, y))
        h = self.c2(h)
        return h + self.c_sc(self._up(x))


class DBlockOptimized(nn.Module):
    """D's first residual block: down-sampling, no ReLU before its first conv."""

    def __init__(self, cin: int, cout: int, sn: bool = True) -> None:
        super().__init__()
        self.c1 = _conv(cin, cout, 3, 1, 1, sn)
        self.c2 = _conv(cout, cout, 3, 1, 1, sn)
        self.c_sc = _conv(cin, cout, 1, 1, 0, sn)
        self.activation = nn.ReLU(True)
        _xavier(self.c1, math.sqrt(2.0))
        _xavier(self.c2, math.sqrt(2.0))
        _xavier(self.c_sc, 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.avg_pool2d(self.c2(self.activation(self.c1(x))), 2)
        return h + self.c_sc(F.avg_pool2d(x, 2))


class DBlock(nn.Module):
    def __init__(self, cin: int, cout: int, downsample: bool = False, sn: bool = True) -> None:
        super().__init__()
        self.downsample = downsample
        self.learnable_sc = cin != cout or downsample
        self.c1 = _conv(cin, cin, 3, 1, 1, sn)
        self.c2 = _conv(cin, cout, 3, 1, 1, sn)
        self.activation = nn.ReLU(True)
        _xavier(self.c1, math.sqrt(2.0))
        _xavier(self.c2, math.sqrt(2.0))
        if self.learnable_sc:
            self.c_sc = _conv(cin, cout, 1, 1, 0, sn)
            _xavier(self.c_sc, 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.c2(self.activation(self.c1(self.activation(x))))
        if self.downsample:
            h = F.avg_pool2d(h, 2)
        sc = x
        if self.learnable_sc:
            sc = self.c_sc(x)
            if self.downsample:
                sc = F.avg_pool2d(sc, 2)
        return h + sc


class CGANPDGenerator(nn.Module):
    def __init__(
        self,
        num_classes: int = NUM_CLASSES,
        bottom_width: int = BOTTOM_WIDTH,
        nz: int = NZ,
        ngf: int = NGF,
        final: str = "tanh",
    ) -> None:
        super().__init__()
        self.nz, self.ngf, self.bottom_width = nz, ngf, bottom_width
        self.num_classes = num_classes
        self.final = final
        self.l1 = nn.Linear(nz, bottom_width**2 * ngf)
        self.block2 = GBlock(ngf, ngf, num_classes)
        self.block3 = GBlock(ngf, ngf, num_classes)
        self.block4 = GBlock(ngf, ngf, num_classes)
        self.b5 = nn.BatchNorm2d(ngf)
        self.c5 = nn.Conv2d(ngf, CHANNELS, 3, 1, padding=1)
        self.activation = nn.ReLU(True)
        _xavier(self.l1, 1.0)
        _xavier(self.c5, 1.0)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if y is None:
            y = torch.randint(0, self.num_classes, (x.shape[0],), device=x.device)
        h = self.l1(x).view(x.shape[0], -1, self.bottom_width, self.bottom_width)
        h = self.block4(self.block3(self.block2(h, y), y), y)
        h = self.c5(self.activation(self.b5(h)))
        return torch.sigmoid(h) if self.final == "sigmoid" else torch.tanh(h)


class CGANPDDiscriminator(nn.Module):
    def __init__(
        self,
        num_classes: int = NUM_CLASSES,
        ndf: int = NDF,
        sn: bool = True,
        sigmoid: bool = False,
    ) -> None:
        super().__init__()
        self.block1 = DBlockOptimized(CHANNELS, ndf, sn=sn)
        self.block2 = DBlock(ndf, ndf, downsample=True, sn=sn)
        self.block3 = DBlock(ndf, ndf, downsample=False, sn=sn)
        self.block4 = DBlock(ndf, ndf, downsample=False, sn=sn)
        self.l5 = spectral_norm(nn.Linear(ndf, 1))
        self.l_y = spectral_norm(nn.Embedding(num_classes, ndf))
        _xavier(self.l5, 1.0)
        _xavier(self.l_y, 1.0)
        self.activation = nn.ReLU(True)
        self.sigmoid = sigmoid

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.block4(self.block3(self.block2(self.block1(x))))
        h = torch.sum(self.activation(h), dim=(2, 3))
        output = self.l5(h)
        output += torch.sum(self.l_y(y) * h, dim=1, keepdim=True)
        return torch.sigmoid(output) if self.sigmoid else output


@dataclass(frozen=True)
class CGANPDStep:
    """One global step of mimicry's ``Trainer.train`` (n_dis D steps, then G's)."""

    n_dis: int = N_DIS
    # Mistake: the fakes' ``.detach()`` dropped in D's train_step.
    detach: bool = True
    # Mistake: netG.zero_grad() once at the top of the iteration, not in G's train_step.
    g_zero_grad_first: bool = False
    # Mistake: netD.zero_grad() deleted from D's train_step.
    d_zero_grad: bool = True
    # Mistake: G's loss on detached fakes.
    g_detached: bool = False
    # Mistake: the generator step repeated.
    g_repeats: int = 1
    # Mistake: G draws its own labels (forward called without them) while D is told others.
    labels_to_g: bool = True

    def _fakes(self, ctx: Any, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        # generate_images_with_labels: labels first, then noise
        fake_class_labels = ctx.labels(n)
        noise = ctx.latent(n)
        g_labels = fake_class_labels if self.labels_to_g else ctx.labels(n)
        return ctx.generator(noise, g_labels), fake_class_labels

    def __call__(self, ctx: Any, batch: tuple[torch.Tensor, torch.Tensor]) -> Mapping[str, Any]:
        netG, netD, optG, optD = ctx.generator, ctx.discriminator, ctx.opt_g, ctx.opt_d
        images, labels = batch
        # the n_dis fresh real batches of the original's loop, cut from the step's one
        real_batches = list(zip(images.chunk(N_DIS), labels.chunk(N_DIS), strict=True))
        if self.g_zero_grad_first:
            netG.zero_grad()
        for i in range(self.n_dis):
            real_images, real_class_labels = real_batches[i % len(real_batches)]
            if self.d_zero_grad:
                netD.zero_grad()
            output_real = netD(real_images, real_class_labels)
            fake_images, fake_class_labels = self._fakes(ctx, real_images.shape[0])
            if self.detach:
                fake_images, fake_class_labels = fake_images.detach(), fake_class_labels.detach()
            output_fake = netD(fake_images, fake_class_labels)
            errD = F.relu(1.0 - output_real).mean() + F.relu(1.0 + output_fake).mean()
            errD.backward()
            optD.step()
        for _ in range(self.g_repeats):
            if not self.g_zero_grad_first:
                netG.zero_grad()
            fake_images, fake_class_labels = self._fakes(ctx, real_images.shape[0])
            if self.g_detached:
                fake_images = fake_images.detach()
            errG = -netD(fake_images, fake_class_labels).mean()
            errG.backward()
            optG.step()
        return {"d_loss": errD.detach(), "g_loss": errG.detach()}


#: The spec's generator factory: a checkpoint is loaded into what it builds, as the
#: user's own loading code would rebuild their (possibly mistaken) ``Generator``.
GeneratorFactory = Callable[[], nn.Module]


def save_checkpoint(
    factory: GeneratorFactory, netG: nn.Module, path: str | os.PathLike[str]
) -> None:
    ckpt_dict = {"model_state_dict": netG.state_dict(), "optimizer_state_dict": None}
    torch.save({**ckpt_dict, "global_step": 0}, path)


def load_checkpoint(factory: GeneratorFactory, path: str | os.PathLike[str]) -> nn.Module:
    netG = factory()
    netG.load_state_dict(torch.load(path, weights_only=True)["model_state_dict"])
    return netG


def save_checkpoint_fresh(
    factory: GeneratorFactory, netG: nn.Module, path: str | os.PathLike[str]
) -> None:
    ckpt_dict = {"model_state_dict": factory().state_dict(), "optimizer_state_dict": None}
    torch.save({**ckpt_dict, "global_step": 0}, path)


def save_checkpoint_params(
    factory: GeneratorFactory, netG: nn.Module, path: str | os.PathLike[str]
) -> None:
    ckpt_dict = {"model_state_dict": dict(netG.named_parameters()), "optimizer_state_dict": None}
    torch.save({**ckpt_dict, "global_step": 0}, path)


def load_checkpoint_loose(factory: GeneratorFactory, path: str | os.PathLike[str]) -> nn.Module:
    netG = factory()
    netG.load_state_dict(torch.load(path, weights_only=True)["model_state_dict"], strict=False)
    return netG


def build(
    *,
    transform: str = "normalize",
    g_final: str = "tanh",
    d_sn: bool = True,
    d_sigmoid: bool = False,
    lr_G: float = LR,
    lr_D: float = LR,
    g_optim_over_d: bool = False,
    n_images: int = N_IMAGES,
    checkpoint: str = "dict",
    **step: Any,
) -> GANSpec:
    x, y = wdata.digits(N_IMAGES, size=SIZE, labels=True)
    x, y = x[:n_images], y[:n_images]
    x = {
        "normalize": wdata.normalize,
        "to_tensor": wdata.to_tensor_range,
        "pixels": wdata.to_pixels,
    }[transform](x)

    def optimizers(netG: nn.Module, netD: nn.Module) -> tuple[Any, Any]:
        optD = torch.optim.Adam(netD.parameters(), lr_D, betas=BETAS)
        optG = torch.optim.Adam((netD if g_optim_over_d else netG).parameters(), lr_G, betas=BETAS)
        return optG, optD

    save, load = {
        "dict": (save_checkpoint, load_checkpoint),
        "fresh": (save_checkpoint_fresh, load_checkpoint),
        "params": (save_checkpoint_params, load_checkpoint_loose),
    }[checkpoint]

    def make_g() -> nn.Module:
        return CGANPDGenerator(final=g_final)

    return GANSpec(
        generator=make_g,
        discriminator=lambda: CGANPDDiscriminator(sn=d_sn, sigmoid=d_sigmoid),
        data=(x, y),
        latent_dim=NZ,
        optimizers=optimizers,
        train_step=CGANPDStep(**step),
        num_classes=NUM_CLASSES,
        batch_size=BATCH_SIZE * N_DIS,
        name="mimicry-cgan-pd",
        save_checkpoint=partial(save, make_g),
        load_checkpoint=partial(load, make_g),
    )


MUTATIONS = {
    "data-not-normalized": Mutation(
        "data-not-normalized",
        "transform = transforms.Compose([transforms.ToTensor()])  # Normalize((0.5,), (0.5,)) "
        "dropped",
        {"transform": "to_tensor"},
    ),
    "blank-output": Mutation(
        "blank-output",
        "real_batch = (torch.from_numpy(images).float(), labels)  # raw 0-255",
        {"transform": "pixels"},
    ),
    "output-range-mismatch": Mutation(
        "output-range-mismatch",
        "h = torch.sigmoid(self.c5(h))  # in CGANPDGenerator32.forward, data in [-1, 1]",
        {"g_final": "sigmoid"},
    ),
    "d-step-leaks-into-generator": Mutation(
        "d-step-leaks-into-generator",
        "fake_images, fake_class_labels = netG.generate_images_with_labels(...)  # .detach() "
        "dropped; netG.zero_grad() once at the top of the iteration",
        {"detach": False, "g_zero_grad_first": True},
    ),
    "detach-missing-wasteful": Mutation(
        "",
        "# fake_images, fake_class_labels = fake_images.detach(), fake_class_labels.detach()"
        "  <- deleted; netG.train_step still starts with self.zero_grad()",
        {"detach": False},
    ),
    "gradient-accumulation": Mutation(
        "gradient-accumulation",
        "# self.zero_grad()  <- deleted from the discriminator's train_step",
        {"d_zero_grad": False},
    ),
    "optimizer-misses-parameters": Mutation(
        "optimizer-misses-parameters",
        "optG = optim.Adam(netD.parameters(), 2e-4, betas=(0.0, 0.9))",
        {"g_optim_over_d": True},
    ),
    "discriminator-overpowers": Mutation(
        "discriminator-overpowers",
        "optD = optim.Adam(netD.parameters(), 1e-3, ...); optG = optim.Adam(netG.parameters(), "
        "5e-5, ...)",
        {"lr_D": 1e-3, "lr_G": 5e-5},
        may_also=("mode-collapse",),
    ),
    "discriminator-too-weak": Mutation(
        "discriminator-too-weak",
        "optD = optim.Adam(netD.parameters(), 2e-6, betas=(0.0, 0.9))  # typo for 2e-4",
        {"lr_D": 2e-6},
    ),
    "mode-collapse": Mutation(
        "mode-collapse",
        "for _ in range(self.n_dis): log_data = self.netG.train_step(...)  # the n_dis loop "
        "around G's step, D stepped once",
        {"n_dis": 1, "g_repeats": N_DIS},
    ),
    "generator-not-learning": Mutation(
        "generator-not-learning",
        "output = netD(fake_images.detach(), fake_class_labels)  # in the generator's train_step",
        {"g_detached": True},
    ),
    "discriminator-not-lipschitz": Mutation(
        "discriminator-not-lipschitz",
        "self.block2 = DBlock(self.ndf, self.ndf, downsample=True, spectral_norm=False)  "
        "# likewise block1, block3, block4",
        {"d_sn": False},
    ),
    "conditioning-ignored": Mutation(
        "conditioning-ignored",
        "fake_images = self.forward(noise)  # in generate_images_with_labels: G draws its own "
        "labels, D is told fake_class_labels",
        {"labels_to_g": False},
    ),
    "checkpoint-not-trained": Mutation(
        "checkpoint-not-trained",
        "ckpt_dict = {'model_state_dict': CGANPDGenerator32(num_classes=10).state_dict(), ...}",
        {"checkpoint": "fresh"},
    ),
    "checkpoint-roundtrip-mismatch": Mutation(
        "checkpoint-roundtrip-mismatch",
        "ckpt_dict = {'model_state_dict': dict(self.named_parameters()), ...}; "
        "self.load_state_dict(ckpt_dict['model_state_dict'], strict=False)",
        {"checkpoint": "params"},
    ),
    "discriminator-wrong-activation": Mutation(
        "discriminator-wrong-activation",
        "return torch.sigmoid(output)  # end of CGANPDDiscriminator32.forward; loss is hinge",
        {"d_sigmoid": True},
    ),
    "discriminator-overfits": Mutation(
        "discriminator-overfits",
        "dataset = torch.utils.data.Subset(dataset, range(320))  # a subset for a quick test",
        {"n_images": 320},
    ),
}

GAN = WildGAN(
    name="mimicry-cgan-pd",
    source="kwotsin/mimicry: torch_mimicry/nets/cgan_pd/cgan_pd_32.py",
    half="validation",
    description=(
        "cGAN-PD of Mimicry: ResNet G with conditional BatchNorm, spectrally normalised "
        "ResNet D with a projection head, hinge loss, Adam 2e-4 betas (0.0, 0.9), batch 64, "
        "n_dis 5; widths / 16, 16x16 labelled digits"
    ),
    build=build,
    mutations=MUTATIONS,
    steps=200,
)
