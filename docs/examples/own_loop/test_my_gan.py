"""The team's test: its own loop, unchanged, under pg.watch, then every check."""

import pytest
import torch
from my_gan import LATENT, build, ring_data, train

import pytest_gan as pg


@pytest.fixture(scope="module")
def run():
    torch.manual_seed(0)
    data = ring_data()
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(data), batch_size=256, shuffle=True, drop_last=True
    )
    netG, netD, opt_g, opt_d = build()
    with pg.watch(netG, netD, opt_g, opt_d, data=data, latent_dim=LATENT) as run:
        train(netG, netD, opt_g, opt_d, loader, steps=200)  # the loop as it is
    return run


@pytest.mark.parametrize(
    "check",
    [
        pg.assert_d_step_isolated,  # the missing .detach()
        pg.assert_gradients_zeroed,  # the missing zero_grad()
        pg.assert_optimizers_cover,  # an optimizer over the wrong module
        pg.assert_losses_finite,  # a loss that turns NaN once D saturates
        pg.assert_d_output_fits_loss,  # a Sigmoid head under a logits loss
        pg.assert_output_range_matches_data,
        pg.assert_generator_learns,
        pg.assert_not_blank,
        pg.assert_diverse,  # mode collapse
        pg.assert_losses_balanced,  # D overpowering G, or too weak
        pg.assert_checkpoint_roundtrip,
    ],
    ids=lambda check: check.__name__,
)
def test_my_gan(run, check):
    check(run)
