"""A LightningModule in the official manual-optimisation GAN pattern, watched by GANWatch.

python lightning_gan.py             # healthy
python lightning_gan.py --mistake   # D's step first, fakes not detached, no toggles
"""

import sys

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from my_gan import LATENT, Discriminator, Generator, ring_data
from verdicts import report

from pytest_gan.lightning import GANWatch


class GAN(pl.LightningModule):
    def __init__(self, mistake=False):
        super().__init__()
        self.automatic_optimization = False
        self.generator, self.discriminator = Generator(), Discriminator()
        self.mistake = mistake

    def training_step(self, batch, batch_idx):
        (real,) = batch
        opt_g, opt_d = self.optimizers()
        z = torch.randn(real.shape[0], LATENT)
        ones, zeros = torch.ones(real.shape[0], 1), torch.zeros(real.shape[0], 1)
        if self.mistake:  # D first, on G's samples not detached, without the toggles
            self.d_step(opt_d, real, self.generator(z), ones, zeros)
            self.g_step(opt_g, z, ones)
            return
        self.toggle_optimizer(opt_g)
        self.g_step(opt_g, z, ones)
        self.untoggle_optimizer(opt_g)
        self.toggle_optimizer(opt_d)
        self.d_step(opt_d, real, self.generator(z).detach(), ones, zeros)
        self.untoggle_optimizer(opt_d)

    def g_step(self, opt_g, z, ones):
        g_loss = F.binary_cross_entropy_with_logits(self.discriminator(self.generator(z)), ones)
        self.log("g_loss", g_loss)
        self.manual_backward(g_loss)
        opt_g.step()
        opt_g.zero_grad()

    def d_step(self, opt_d, real, fake, ones, zeros):
        d_loss = F.binary_cross_entropy_with_logits(self.discriminator(real), ones)
        d_loss = d_loss + F.binary_cross_entropy_with_logits(self.discriminator(fake), zeros)
        self.log("d_loss", d_loss)
        self.manual_backward(d_loss)
        opt_d.step()
        opt_d.zero_grad()

    def configure_optimizers(self):
        return [
            torch.optim.Adam(self.generator.parameters(), lr=1e-3, betas=(0.0, 0.9)),
            torch.optim.Adam(self.discriminator.parameters(), lr=1e-3, betas=(0.0, 0.9)),
        ]


if __name__ == "__main__":
    pl.seed_everything(0, verbose=False)
    data = ring_data()
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(data), batch_size=256, shuffle=True, drop_last=True
    )
    watch = GANWatch(data=data, latent_dim=LATENT)
    trainer = pl.Trainer(
        callbacks=[watch],
        max_epochs=13,
        limit_train_batches=16,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(GAN(mistake="--mistake" in sys.argv), loader)
    print(f"trainer.global_step = {trainer.global_step} (both optimizers' steps)")
    report(watch.run)
