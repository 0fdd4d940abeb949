"""A team's DCGAN, fuzzed over the settings the team really varies (docs/fuzzing.md).

Run: pytest docs/examples/test_fuzz_dcgan.py --hypothesis-profile=pytest-gan
"""

import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn
from torch.nn import functional as F

from pytest_gan import GANSpec, assert_losses_finite, assert_not_blank, train
from pytest_gan import strategies as gst


def blobs(n: int = 1024, size: int = 16) -> torch.Tensor:
    """Grey discs of random centre and radius on black, in [-1, 1]: data made in code."""
    gen = torch.Generator().manual_seed(0)
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    centre = 3 + torch.rand(n, 2, generator=gen) * (size - 6)
    radius = 2 + torch.rand(n, generator=gen) * 3
    dist = ((yy - centre[:, :1, None]) ** 2 + (xx - centre[:, 1:, None]) ** 2).sqrt()
    return torch.where(dist < radius[:, None, None], 1.0, -1.0).unsqueeze(1)


class Generator(nn.Module):
    def __init__(self, latent_dim: int, width: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.ConvTranspose2d(latent_dim, width * 2, 4, 1, 0),
            nn.BatchNorm2d(width * 2),
            nn.ReLU(),
            nn.ConvTranspose2d(width * 2, width, 4, 2, 1),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.ConvTranspose2d(width, 1, 4, 2, 1),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.view(z.shape[0], -1, 1, 1))


def discriminator(width: int) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, width, 4, 2, 1),
        nn.LeakyReLU(0.2),
        nn.Conv2d(width, width * 2, 4, 2, 1),
        nn.BatchNorm2d(width * 2),
        nn.LeakyReLU(0.2),
        nn.Conv2d(width * 2, 1, 4, 1, 0),
        nn.Flatten(),
    )


def make_train_step(cfg):
    """The team's own step, written for WGAN-style critic loops."""

    def step(ctx, real):
        G, D = ctx.generator, ctx.discriminator
        fake = G(ctx.latent(real.shape[0]))
        for _ in range(cfg.n_critic):
            d_real, d_fake = D(real), D(fake)
            d_loss = F.softplus(-d_real).mean() + F.softplus(d_fake).mean()
            ctx.opt_d.zero_grad()
            d_loss.backward()
            ctx.opt_d.step()
        g_loss = F.softplus(-D(G(ctx.latent(real.shape[0])))).mean()
        ctx.opt_g.zero_grad()
        g_loss.backward()
        ctx.opt_g.step()
        return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach()}

    return step


DATA = blobs()

# What this team varies: the two learning rates, Adam's betas, the batch size, up to 5
# critic steps, the width and the seed. Its step is written for BCE: the loss is pinned.
CONFIGS = gst.gan_configs(
    loss="bce",
    latent_dim=64,
    width=st.sampled_from([32, 16]),  # the usual value first: sampled_from shrinks to it
    batch_size=st.sampled_from([64, 32, 128]),
    n_critic=st.integers(1, 5),
    lr_g=gst.log_uniform(5e-5, 1e-3, shrink_towards=2e-4),
    lr_d=gst.log_uniform(5e-5, 1e-3, shrink_towards=2e-4),
)


@given(cfg=CONFIGS)
def test_any_supported_config_trains_and_draws_something(cfg):
    spec = GANSpec(
        generator=lambda: Generator(cfg.latent_dim, cfg.width),
        discriminator=lambda: discriminator(cfg.width),
        data=DATA,
        train_step=make_train_step(cfg),
        **cfg.spec_kwargs(),
    )
    run = train(spec, steps=20, seed=cfg.seed)
    assert_losses_finite(run)
    assert_not_blank(run)
