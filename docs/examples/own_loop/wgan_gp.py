"""An n_critic loop: WGAN-GP, five critic updates per generator update, watched.

python wgan_gp.py             # healthy
python wgan_gp.py --mistake   # autograd.grad without create_graph=True
"""

import sys

import torch
from my_gan import LATENT, Generator, ring_data
from torch import nn
from verdicts import report

import pytest_gan as pg

mistake = "--mistake" in sys.argv
torch.manual_seed(0)
data = ring_data()
netG = Generator()
critic = nn.Sequential(
    nn.Linear(2, 128), nn.LeakyReLU(0.2), nn.Linear(128, 128), nn.LeakyReLU(0.2), nn.Linear(128, 1)
)
opt_g = torch.optim.Adam(netG.parameters(), lr=1e-3, betas=(0.5, 0.9))
opt_c = torch.optim.Adam(critic.parameters(), lr=1e-3, betas=(0.5, 0.9))


def penalty(real, fake):
    alpha = torch.rand(real.shape[0], 1)
    mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    out = critic(mixed)
    # The mistake: create_graph=False, so the penalty's gradient never reaches the critic.
    (grad,) = torch.autograd.grad(out, mixed, torch.ones_like(out), create_graph=not mistake)
    return ((grad.norm(2, dim=1) - 1) ** 2).mean()


with pg.watch(netG, critic, opt_g, opt_c, data=data, latent_dim=LATENT, name="wgan-gp") as run:
    for _ in range(200):
        for _ in range(5):
            real = data[torch.randint(0, len(data), (256,))]
            fake = netG(torch.randn(256, LATENT)).detach()
            loss_c = critic(fake).mean() - critic(real).mean() + 10 * penalty(real, fake)
            opt_c.zero_grad()
            loss_c.backward()
            opt_c.step()
        loss_g = -critic(netG(torch.randn(256, LATENT))).mean()
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        run.log(d_loss=loss_c, g_loss=loss_g)

report(run, extra=["assert_lipschitz"])
