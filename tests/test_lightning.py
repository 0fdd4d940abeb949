"""``pytest_gan.lightning.GANWatch``: the official Lightning GAN pattern, watched."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
import torch
import torch.nn.functional as F

import pytest_gan as pg
from fixtures import models, zoo

pl = pytest.importorskip("pytorch_lightning")
from pytest_gan.lightning import GANWatch  # noqa: E402

LATENT = zoo.RING_LATENT
DATA = zoo.ring_points()

# Lightning's own notes on a CPU-only machine and a small dataset: not ours to fix.
pytestmark = [
    pytest.mark.filterwarnings("ignore::UserWarning:pytorch_lightning"),
    pytest.mark.filterwarnings("ignore::UserWarning:lightning_fabric"),
    pytest.mark.filterwarnings("ignore:.*does not have many workers"),
    pytest.mark.filterwarnings("ignore:.*GPU available but not used"),
    # Lightning 2.6 on torch 2.14: its own use of a torch API that torch deprecates.
    pytest.mark.filterwarnings(
        "ignore:`isinstance\\(treespec, LeafSpec\\)` is deprecated:FutureWarning"
    ),
]


class RingGAN(pl.LightningModule):
    """The Lightning tutorial's GAN, on the ring: manual optimisation, G's step first, each
    network's step between toggle_optimizer and untoggle_optimizer, each optimizer's
    zero_grad after its step.

    ``detach=False`` is the twin: D's step first, without the toggles, on G's samples not
    detached, so D's backward writes into G's gradients, which G's next step applies."""

    def __init__(self, detach: bool = True) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.generator = models.MLPGenerator(latent_dim=LATENT)
        self.discriminator = models.MLPDiscriminator()
        self.detach = detach
        self.g_losses: list[float] = []

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.generator(z)

    def training_step(self, batch: Any, batch_idx: int) -> None:
        (real,) = batch
        opt_g, opt_d = self.optimizers()
        z = torch.randn(real.shape[0], LATENT).type_as(real)
        ones = torch.ones(real.shape[0], 1).type_as(real)
        if self.detach:
            self._g_step(opt_g, z, ones)
            self._d_step(opt_d, real, z, ones)
        else:
            self._d_step(opt_d, real, z, ones)
            self._g_step(opt_g, z, ones)

    def _g_step(self, opt_g: Any, z: torch.Tensor, ones: torch.Tensor) -> None:
        if self.detach:
            self.toggle_optimizer(opt_g)
        g_loss = F.binary_cross_entropy_with_logits(self.discriminator(self(z)), ones)
        self.log("g_loss", g_loss)
        self.g_losses.append(float(g_loss.detach()))
        self.manual_backward(g_loss)
        opt_g.step()
        opt_g.zero_grad()
        if self.detach:
            self.untoggle_optimizer(opt_g)

    def _d_step(self, opt_d: Any, real: torch.Tensor, z: torch.Tensor, ones: torch.Tensor) -> None:
        if self.detach:
            self.toggle_optimizer(opt_d)
        fake = self(z).detach() if self.detach else self(z)
        d_loss = F.binary_cross_entropy_with_logits(self.discriminator(real), ones)
        d_loss = d_loss + F.binary_cross_entropy_with_logits(
            self.discriminator(fake), torch.zeros_like(ones)
        )
        self.log("d_loss", d_loss)
        self.manual_backward(d_loss)
        opt_d.step()
        opt_d.zero_grad()
        if self.detach:
            self.untoggle_optimizer(opt_d)

    def configure_optimizers(self) -> Any:
        betas = (0.0, 0.9)
        return [
            torch.optim.Adam(self.generator.parameters(), lr=1e-3, betas=betas),
            torch.optim.Adam(self.discriminator.parameters(), lr=1e-3, betas=betas),
        ]


def fit(model: RingGAN, batches: int = 200, seed: int = 0) -> GANWatch:
    pl.seed_everything(seed, verbose=False)
    sampler = torch.utils.data.RandomSampler(DATA, replacement=True, num_samples=256 * batches)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(DATA), batch_size=256, sampler=sampler, drop_last=True
    )
    watch = GANWatch(data=DATA, latent_dim=LATENT)
    trainer = pl.Trainer(
        callbacks=[watch],
        max_epochs=1,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, loader)
    # Lightning counts both optimizers' steps; a watched step is one update of G.
    assert trainer.global_step == 2 * batches
    return watch


def _pitfall(check: Any, run: Any) -> str:
    try:
        check(run)
    except pg.GANAssertionError as exc:
        return str(exc.pitfall)
    return "pass"


def test_a_healthy_lightning_gan_passes() -> None:
    model = RingGAN()
    watch = fit(model)
    run = watch.run
    assert run is not None and run.complete and run.steps == 200
    for check in (
        pg.assert_d_step_isolated,
        pg.assert_gradients_zeroed,
        pg.assert_optimizers_cover,
        pg.assert_losses_finite,
        pg.assert_d_output_fits_loss,
        pg.assert_generator_learns,
        pg.assert_not_blank,
        pg.assert_diverse,
        pg.assert_losses_balanced,
        pg.assert_checkpoint_roundtrip,
    ):
        assert _pitfall(check, run) == "pass", check.__name__
    assert run.history.saturation["d_loss_reads"] == "logit"
    assert {"d_loss", "g_loss"} <= set(run.history.keys())
    # Each batch's losses in the row of its own G update (D's step closed it already).
    assert run.history["g_loss"] == pytest.approx(model.g_losses)
    assert all(v == v for v in run.history["d_loss"])


def test_the_missing_detach_twin_is_caught() -> None:
    watch = fit(RingGAN(detach=False), batches=20)
    assert _pitfall(pg.assert_d_step_isolated, watch.run) == "d-step-leaks-into-generator"


def test_a_module_without_the_networks_is_told_what_to_pass() -> None:
    watch = GANWatch(data=DATA, latent_dim=LATENT, generator="netG")
    with pytest.raises(ValueError, match="generator='netG'"):
        watch.on_train_start(type("T", (), {"optimizers": [1, 2]})(), RingGAN())
    for bad in (2, 1.0, True):
        with pytest.raises(ValueError, match="g_optimizer must be 0 or 1"):
            GANWatch(data=DATA, latent_dim=LATENT, g_optimizer=bad)


def test_pytest_gan_and_the_plugin_import_without_lightning() -> None:
    code = (
        "import sys; sys.modules['pytorch_lightning'] = None; sys.modules['lightning'] = None\n"
        "import pytest_gan, pytest_gan.plugin, pytest_gan.watching\n"
        "assert pytest_gan.watch\n"
        "try:\n    import pytest_gan.lightning\nexcept ImportError as e:\n"
        "    assert 'pytest-gan[lightning]' in str(e); print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"
