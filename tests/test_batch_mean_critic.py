"""A critic that averages its scores over the batch itself, as the original WGAN code's
does (``output.mean(0).view(1)``, Arjovsky et al. 2017): one number for the batch. The
probes and the gradient checks read each sample's score inside it, and every check
gives a verdict, not an input error."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

import pytest_gan as pg
from pytest_gan.checks import ALL
from pytest_gan.checks.lipschitz import interpolate_gradient_norms
from pytest_gan.losses import per_sample_scores
from tests.tiny import LATENT, gaussian, make_d, make_g
from tests.tiny import verdicts as all_verdicts


class BatchMeanCritic(nn.Module):
    """The original WGAN critic's ending: its trunk's scores averaged over the batch."""

    def __init__(self) -> None:
        super().__init__()
        self.main = make_d()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x).mean(0).view(1)


class PerSampleCritic(BatchMeanCritic):
    """The same critic, one score per sample."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x)


def wgan_step(ctx: Any, batch: torch.Tensor) -> dict[str, torch.Tensor]:
    """The original WGAN step: gradients by backward(one) and backward(mone), critic
    weights clipped to [-0.01, 0.01] after its step, five critic steps per G step."""
    g, d = ctx.generator, ctx.discriminator
    one = torch.ones(1)
    for _ in range(5):
        for p in d.parameters():
            p.data.clamp_(-0.01, 0.01)
        d.zero_grad()
        err_real = d(batch)
        err_real.backward(one)
        err_fake = d(g(ctx.latent(batch.shape[0])).detach())
        err_fake.backward(-one)
        ctx.opt_d.step()
    g.zero_grad()
    err_g = d(g(ctx.latent(batch.shape[0])))
    err_g.backward(one)
    ctx.opt_g.step()
    return {"d_loss": (err_real - err_fake).detach(), "g_loss": err_g.detach()}


def _rmsprop(g: nn.Module, d: nn.Module) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
    return torch.optim.RMSprop(g.parameters(), lr=5e-4), torch.optim.RMSprop(
        d.parameters(), lr=5e-4
    )


def _spec(critic: type[nn.Module], **overrides: Any) -> pg.GANSpec:
    kwargs: dict[str, Any] = dict(
        generator=make_g, discriminator=critic, data=gaussian(), latent_dim=LATENT
    )
    kwargs.update(overrides)
    return pg.GANSpec(**kwargs)


@pytest.mark.parametrize("seed", [0, 1])
def test_a_batch_mean_critic_trains_as_the_same_critic_scoring_each_sample(seed: int) -> None:
    # Built-in WGAN-GP: its losses average D's scores, which a batch-mean critic has done
    # already, and its penalty reads each sample's gradient from the scores inside D. So
    # both critics train alike, the probes see alike, and every verdict is the same.
    mean_run = pg.train(_spec(BatchMeanCritic, loss="wgan-gp"), steps=60, seed=seed)
    each_run = pg.train(_spec(PerSampleCritic, loss="wgan-gp"), steps=60, seed=seed)
    for column in ("d_loss", "g_loss", "gp_grad_norm"):
        assert mean_run.history[column] == pytest.approx(
            each_run.history[column], rel=1e-4, abs=1e-5
        ), column
    mean_auc = [p.d_auc for p in mean_run.history.probes]
    assert mean_auc == pytest.approx([p.d_auc for p in each_run.history.probes], abs=1e-3)
    assert all_verdicts(mean_run) == all_verdicts(each_run)


@pytest.mark.parametrize("seed", [0, 1])
def test_the_original_wgan_step_gets_a_verdict_from_every_check(seed: int) -> None:
    run = pg.train(
        _spec(BatchMeanCritic, train_step=wgan_step, optimizers=_rmsprop), steps=150, seed=seed
    )
    verdicts = all_verdicts(run)
    assert {"losses-finite", "d-step-isolated", "gradients-zeroed", "lipschitz"} <= set(verdicts)
    for check in ALL:
        if check.exact and check.id in verdicts:
            assert verdicts[check.id] == "pass", (check.id, verdicts)
    # A score per sample reached the probes: one number per batch would rank one real
    # against one fake, an AUC of exactly 0, 1/2 or 1.
    assert all(p.d_auc == p.d_auc for p in run.history.probes)
    assert any(p.d_auc not in (0.0, 0.5, 1.0) for p in run.history.probes)


def test_a_missing_detach_in_the_original_wgan_step_is_caught() -> None:
    def leaky(ctx: Any, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        g, d = ctx.generator, ctx.discriminator
        one = torch.ones(1)
        d.zero_grad()
        d(batch).backward(one)
        # No .detach(): D's backward writes into G's gradients, which G's step then applies.
        d(g(ctx.latent(batch.shape[0]))).backward(-one)
        ctx.opt_d.step()
        err_g = d(g(ctx.latent(batch.shape[0])))
        err_g.backward(one)
        ctx.opt_g.step()
        return {"g_loss": err_g.detach()}

    run = pg.train(_spec(BatchMeanCritic, train_step=leaky), steps=5, seed=0)
    with pytest.raises(pg.GANAssertionError) as info:
        pg.assert_d_step_isolated(run)
    assert info.value.pitfall == "d-step-leaks-into-generator"


def test_the_gradient_norms_are_each_samples_not_the_averages() -> None:
    torch.manual_seed(0)
    mean_d, each_d = BatchMeanCritic(), PerSampleCritic()
    each_d.load_state_dict(mean_d.state_dict())
    real, fake = gaussian(32), torch.randn(32, 2)
    alpha = torch.rand(32)
    mean_norms = interpolate_gradient_norms(mean_d, real, fake, alpha=alpha)
    each_norms = interpolate_gradient_norms(each_d, real, fake, alpha=alpha)
    assert torch.allclose(mean_norms, each_norms)
    # Read as the average's gradient, each would be 32 times too small.
    assert float(each_norms.min()) > 0
    scores = per_sample_scores(mean_d, real, None)
    assert torch.allclose(scores, each_d(real))


def test_a_watched_loop_with_a_batch_mean_critic_gets_verdicts() -> None:
    torch.manual_seed(0)
    g, d = make_g(), BatchMeanCritic()
    opt_g, opt_d = _rmsprop(g, d)
    data = gaussian()
    with pg.watch(g, d, opt_g, opt_d, data=data, latent_dim=LATENT, loss="wgan-gp") as run:
        for _ in range(60):
            batch = data[torch.randint(len(data), (32,))]
            one = torch.ones(1)
            for p in d.parameters():
                p.data.clamp_(-0.01, 0.01)
            opt_d.zero_grad()
            d_loss = d(g(torch.randn(32, LATENT)).detach()) - d(batch)
            d_loss.backward(one)
            opt_d.step()
            opt_g.zero_grad()
            g_loss = -d(g(torch.randn(32, LATENT)))
            g_loss.backward(one)
            opt_g.step()
            run.log(d_loss=d_loss, g_loss=g_loss)
    assert run.history.probes and all(p.d_auc == p.d_auc for p in run.history.probes)
    assert any(p.d_auc not in (0.0, 0.5, 1.0) for p in run.history.probes)
    pg.assert_d_step_isolated(run)
    pg.assert_losses_finite(run)
    pg.assert_lipschitz(run, max_constant=1e6)


class _WholeBatch(nn.Module):
    """A D whose one number mixes the whole batch before any per-sample score exists."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.ones(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.sum(0) * self.w).sum().view(1)


def test_one_number_with_no_score_per_sample_inside_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="discriminator must return one score"):
        pg.train(_spec(_WholeBatch), steps=1, seed=0)


def test_looking_for_an_average_adds_nothing_to_the_loss_read_from_the_step() -> None:
    # The built-in penalty asks whether D averaged its batch: from the output's shape,
    # not through a torch function the saturation probe's loss reading would record.
    run = pg.train(_spec(PerSampleCritic, loss="wgan-gp"), steps=2, seed=0)
    assert run.history.saturation.d_ops == ["add", "mean", "neg", "sub", "sum"]
