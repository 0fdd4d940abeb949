"""A discriminator that scores packs of samples, as PacGAN's (Lin et al. 2018) and CTGAN's
(Xu et al. 2019) do: ``forward`` views a batch of ``N`` as ``N / pack`` rows of ``pack``
samples and gives one score per row, and refuses a batch that is not a whole number of
packs. The checks' own batches are made whole packs, each sample is given its pack's
score, and the gradient checks read the norm over a pack's input, as PacGAN's penalty
does; every check gives a verdict, not an input error."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
import torch
from torch import nn

import pytest_gan as pg
from pytest_gan.checks.lipschitz import interpolate_gradient_norms
from pytest_gan.losses import gradient_norms, pack_of, per_sample_scores
from pytest_gan.spec import validate_networks
from pytest_gan.training import _gradient_penalty
from tests.tiny import LATENT, gaussian, make_g, verdicts

PACK = 4


class PackedD(nn.Module):
    """CTGAN's discriminator, small: the batch viewed as rows of ``pack`` samples."""

    def __init__(self, pack: int = PACK) -> None:
        super().__init__()
        self.pack = pack
        self.main = nn.Sequential(nn.Linear(2 * pack, 32), nn.LeakyReLU(0.2), nn.Linear(32, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] % self.pack:
            raise ValueError(f"a batch of {x.shape[0]} is not a whole number of packs")
        return self.main(x.reshape(-1, self.pack * x.shape[1]))

    def penalty(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """CTGAN's gradient penalty: one mixing weight per pack, the norm over a pack."""
        alpha = torch.rand(real.shape[0] // self.pack, 1, 1).expand(-1, self.pack, 1)
        mixed = (alpha.reshape(-1, 1) * real + (1 - alpha.reshape(-1, 1)) * fake).requires_grad_()
        (grad,) = torch.autograd.grad(self(mixed).sum(), mixed, create_graph=True)
        return ((grad.reshape(-1, self.pack * real.shape[1]).norm(dim=1) - 1) ** 2).mean()


def packed_step(detach: bool = True) -> Any:
    """CTGAN's step: a WGAN-GP critic with the packed penalty, then G."""

    def step(ctx: Any, real: torch.Tensor) -> dict[str, torch.Tensor]:
        g, d = ctx.generator, ctx.discriminator
        fake = g(ctx.latent(real.shape[0]))
        shown = fake.detach() if detach else fake
        ctx.opt_d.zero_grad()
        d_loss = d(shown).mean() - d(real).mean()
        gp = 10 * d.penalty(real, fake.detach())
        (d_loss + gp).backward()
        ctx.opt_d.step()
        if detach:
            ctx.opt_g.zero_grad()
        g_loss = -d(g(ctx.latent(real.shape[0]))).mean()
        g_loss.backward()
        ctx.opt_g.step()
        return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach(), "gp": gp.detach()}

    return step


def packed_spec(detach: bool = True, **overrides: Any) -> pg.GANSpec:
    kwargs: dict[str, Any] = dict(
        generator=make_g,
        discriminator=PackedD,
        data=gaussian(),
        latent_dim=LATENT,
        train_step=packed_step(detach),
        optimizers=lambda g, d: (
            torch.optim.Adam(g.parameters(), 2e-4, betas=(0.5, 0.9)),
            torch.optim.Adam(d.parameters(), 2e-4, betas=(0.5, 0.9)),
        ),
        batch_size=64,
    )
    kwargs.update(overrides)
    return pg.GANSpec(**kwargs)


@pytest.mark.parametrize("seed", [0, 1])
def test_a_packing_d_gets_a_verdict_from_every_check(seed: int) -> None:
    run = pg.train(packed_spec(), steps=200, seed=seed)
    assert pack_of(run.discriminator) == PACK
    found = verdicts(run)
    assert "lipschitz" in found  # its penalty is recognised, so the bound applies
    assert set(found.values()) == {"pass"}, found


class LazyPackedD(PackedD):
    """The same D with its first layer lazy (``nn.LazyLinear``), sized by the first batch."""

    def __init__(self) -> None:
        super().__init__()
        self.main = nn.Sequential(nn.LazyLinear(32), nn.LeakyReLU(0.2), nn.Linear(32, 1))


def test_a_lazy_packing_d_is_initialised_on_a_whole_batch_and_gets_verdicts() -> None:
    # Two samples, the dry run's usual batch, are no whole pack: the lazy layer is sized
    # on the loop's first batch instead (the spec's batch size), as training sizes it.
    run = pg.train(packed_spec(discriminator=LazyPackedD), steps=40, seed=0)
    assert pack_of(run.discriminator) == PACK
    assert run.discriminator.main[0].in_features == 2 * PACK
    found = verdicts(run)  # an input error from any check fails here
    assert {"lipschitz", "diverse", "losses-balanced"} <= set(found), found


def test_a_missing_detach_beside_a_packing_d_is_caught() -> None:
    run = pg.train(packed_spec(detach=False), steps=40, seed=0)
    with pytest.raises(pg.GANAssertionError) as caught:
        pg.assert_d_step_isolated(run)
    assert caught.value.pitfall == "d-step-leaks-into-generator"


def test_the_builtin_penalty_reads_a_pack_norm() -> None:
    """``loss="wgan-gp"`` with no step of the team's own: the built-in penalty takes each
    pack's gradient norm, as the packed D's own penalty does, and the run gets verdicts."""
    run = pg.train(packed_spec(train_step=None, loss="wgan-gp"), steps=40, seed=0)
    d = run.discriminator
    assert pack_of(d) == PACK
    pg.assert_lipschitz(run)
    real, fake = torch.randn(8, 2), torch.randn(8, 2)
    torch.manual_seed(1)
    _, mean_norm = _gradient_penalty(SimpleNamespace(discriminator=d), real, fake, None)
    torch.manual_seed(1)
    alpha = torch.rand(8, 1)
    mixed = (alpha * real + (1 - alpha) * fake).requires_grad_()
    (grad,) = torch.autograd.grad(d(mixed).sum(), mixed)
    by_pack = grad.reshape(-1, PACK * 2).norm(dim=1)
    assert float(mean_norm) == pytest.approx(float(by_pack.mean()), rel=1e-5)


def test_each_sample_gets_its_packs_score_and_norm() -> None:
    torch.manual_seed(0)
    d = PackedD()
    validate_networks(packed_spec(discriminator=d), make_g(), d, torch.device("cpu"))
    assert pack_of(d) == PACK
    x = torch.randn(10, 2)  # two whole packs and half of a third
    scores = per_sample_scores(d, x, None)
    assert scores.shape == (10, 1)
    whole = d(torch.cat([x, x[:2]]))
    assert torch.equal(scores[:, 0], whole[:, 0].repeat_interleave(PACK)[:10])

    x = x.requires_grad_()
    norms = gradient_norms(d, x, None)
    padded = torch.cat([x.detach(), x.detach()[:2]]).requires_grad_()
    (grad,) = torch.autograd.grad(d(padded).sum(), padded)
    by_pack = grad.reshape(-1, PACK * 2).norm(dim=1)
    assert torch.allclose(norms, by_pack.repeat_interleave(PACK)[:10])

    real, fake = torch.randn(8, 2), torch.randn(8, 2)
    pairs = interpolate_gradient_norms(d, real, fake, alpha=torch.full((8,), 0.5))
    assert pairs.shape == (8,)
    assert torch.equal(pairs[:4], pairs[:1].expand(4))  # one norm per pack


def test_a_d_that_refuses_every_batch_still_names_itself() -> None:
    class Broken(PackedD):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise RuntimeError("no")

    with pytest.raises(ValueError, match=r"discriminator \(on real samples\) failed"):
        pg.train(packed_spec(discriminator=Broken), steps=1, seed=0)


def test_a_watched_loop_with_a_pack_of_ten_gets_verdicts() -> None:
    """CTGAN's pack of ten under ``pg.watch``, whose batch (50) is the loop's own and not the
    default 64 a spec would use: the pack is found from D itself."""
    torch.manual_seed(0)
    data = gaussian()
    g, d = make_g(), PackedD(pack=10)
    opt_g = torch.optim.Adam(g.parameters(), 2e-4, betas=(0.5, 0.9))
    opt_d = torch.optim.Adam(d.parameters(), 2e-4, betas=(0.5, 0.9))
    with pg.watch(g, d, opt_g, opt_d, data=data, latent_dim=LATENT) as run:
        for i in range(60):
            real = data[(i * 50) % 1000 : (i * 50) % 1000 + 50]
            fake = g(torch.randn(50, LATENT))
            opt_d.zero_grad()
            gp = 10 * d.penalty(real, fake.detach())
            d_loss = d(fake.detach()).mean() - d(real).mean()
            (d_loss + gp).backward()
            opt_d.step()
            opt_g.zero_grad()
            g_loss = -d(fake).mean()
            g_loss.backward()
            opt_g.step()
            run.log(d_loss=d_loss, g_loss=g_loss, gp=gp)
    assert pack_of(d) == 10
    pg.assert_d_step_isolated(run)
    pg.assert_gradients_zeroed(run)
    pg.assert_losses_finite(run)
    pg.assert_lipschitz(run)
