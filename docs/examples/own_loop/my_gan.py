"""A team's GAN, as it stands: models, data and a training loop (the DCGAN tutorial's
structure, on 2-D points so that it trains in seconds on a CPU)."""

import math

import torch
import torch.nn.functional as F
from torch import nn

LATENT = 8


def ring_data(n=4096, modes=8, seed=0):
    """Eight Gaussians on a circle, the usual mode-collapse benchmark."""
    gen = torch.Generator().manual_seed(seed)
    k = torch.randint(0, modes, (n,), generator=gen)
    angle = 2 * math.pi * k / modes
    centres = torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)
    return centres + 0.05 * torch.randn(n, 2, generator=gen)


class Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(LATENT, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 2)
        )

    def forward(self, z):
        return self.net(z)


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(2, 128),
            nn.LeakyReLU(0.2),
            nn.Linear(128, 128),
            nn.LeakyReLU(0.2),
            nn.Linear(128, 1),
        )

    def forward(self, x):
        return self.net(x)


def build():
    netG, netD = Generator(), Discriminator()
    opt_g = torch.optim.Adam(netG.parameters(), lr=1e-3, betas=(0.0, 0.9))
    opt_d = torch.optim.Adam(netD.parameters(), lr=1e-3, betas=(0.0, 0.9))
    return netG, netD, opt_g, opt_d


def train(netG, netD, opt_g, opt_d, loader, steps):
    """The team's loop: D step on detached fakes, then G step; BCE on logits."""
    step = 0
    while step < steps:
        for (real,) in loader:
            b = real.shape[0]
            fake = netG(torch.randn(b, LATENT))
            errD = F.binary_cross_entropy_with_logits(netD(real), torch.ones(b, 1))
            errD = errD + F.binary_cross_entropy_with_logits(netD(fake.detach()), torch.zeros(b, 1))
            opt_d.zero_grad()
            errD.backward()
            opt_d.step()
            errG = F.binary_cross_entropy_with_logits(netD(fake), torch.ones(b, 1))
            opt_g.zero_grad()
            errG.backward()
            opt_g.step()
            step += 1
            if step == steps:
                return


if __name__ == "__main__":
    torch.manual_seed(0)
    data = ring_data()
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(data), batch_size=256, shuffle=True, drop_last=True
    )
    train(*build(), loader, steps=2000)
