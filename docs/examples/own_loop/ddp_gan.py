"""A DistributedDataParallel loop on CPU (gloo, 2 processes), watched on rank 0.

python ddp_gan.py             # healthy; also the DDP wrapper's state dict saved
python ddp_gan.py --mistake   # fakes not detached, G's zero_grad at the loop's top
"""

import os
import sys

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from my_gan import LATENT, Discriminator, Generator, ring_data
from torch.nn.parallel import DistributedDataParallel as DDP
from verdicts import report

import pytest_gan as pg


def worker(rank, mistake):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT="29533")
    dist.init_process_group("gloo", rank=rank, world_size=2)
    torch.manual_seed(0)
    netG, netD = DDP(Generator()), DDP(Discriminator())
    opt_g = torch.optim.Adam(netG.parameters(), lr=1e-3, betas=(0.0, 0.9))
    opt_d = torch.optim.Adam(netD.parameters(), lr=1e-3, betas=(0.0, 0.9))
    data = ring_data()
    shard = data[rank::2]
    labels = torch.cat([torch.ones(128, 1), torch.zeros(128, 1)])
    watch = pg.watch(netG, netD, opt_g, opt_d, data=data, latent_dim=LATENT, name=f"ddp-rank{rank}")
    run = watch.start() if rank == 0 else None
    for _ in range(200):
        real = shard[torch.randint(0, len(shard), (128,))]
        if mistake:
            opt_g.zero_grad()
        fake = netG(torch.randn(128, LATENT))
        d_loss = F.binary_cross_entropy_with_logits(
            netD(torch.cat([real, fake if mistake else fake.detach()])), labels
        )
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        g_loss = F.binary_cross_entropy_with_logits(
            netD(netG(torch.randn(128, LATENT))), labels[:128]
        )
        if not mistake:
            opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        if run is not None:
            run.log(d_loss=d_loss, g_loss=g_loss)
    if rank == 0:
        watch.stop()
        report(run)
        # The DDP wrapper's state dict, loaded into a bare generator: keys "module.*".
        try:
            pg.assert_checkpoint_roundtrip(
                run, save=lambda module, path: torch.save(netG.state_dict(), path)
            )
        except pg.GANAssertionError as exc:
            print("saving netG.state_dict():", exc.pitfall)
            print(next(line for line in str(exc).splitlines() if "module." in line))
    dist.destroy_process_group()


if __name__ == "__main__":
    mp.spawn(worker, args=("--mistake" in sys.argv,), nprocs=2, join=True)
