"""A discriminator that returns more than its score: an AC-GAN's ``(validity, class_logits)``.

Every check reads D's score as the first element of what D returns (``losses.d_score``);
the forced-layer probes force the last layer on the score's path, not the class head
that is declared and run after it.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import pytest_gan as pg
from pytest_gan.checks import ALL
from pytest_gan.losses import takes_labels
from pytest_gan.probing import final_layer, forced_span
from tests.tiny import LATENT, CondG, two_clusters
from tests.tiny import verdicts as all_verdicts

CLASSES = 2


class ACD(nn.Module):
    """A D with two heads on one body, the class head declared and run last (as in the
    AC-GAN of Odena et al. 2017); ``squash`` puts a Sigmoid on the score."""

    def __init__(self, squash: bool = False) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(2, 32), nn.LeakyReLU(0.2))
        self.adv = nn.Linear(32, 1)
        self.aux = nn.Linear(32, CLASSES)
        self.squash = squash

    def forward(self, x: torch.Tensor) -> tuple[Any, Any]:
        # The image alone: D predicts the label rather than being told it.
        h = self.body(x)
        score = self.adv(h)
        return (torch.sigmoid(score) if self.squash else score), self.aux(h)


class LabelledACD(ACD):
    """The same heads on a D that is also told the label, ``D(x, y)``."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(2 + CLASSES, 32), nn.LeakyReLU(0.2))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[Any, Any]:  # type: ignore[override]
        return super().forward(torch.cat([x, F.one_hot(y, CLASSES).float()], dim=1))


def _bce(score: torch.Tensor, real: bool) -> torch.Tensor:
    target = torch.ones_like(score) if real else torch.zeros_like(score)
    return F.binary_cross_entropy_with_logits(score, target)


def ac_step(ctx: Any, batch: Any, *, detach: bool = True, fragile: bool = False) -> Any:
    """The AC-GAN step: the adversarial loss on D's score plus cross-entropy on its class
    logits, for both networks. ``detach=False`` leaves the D step's gradient in G's
    (G not zeroed before its step); ``fragile`` writes ``log(sigmoid(score))`` out."""
    x, y = batch
    fake = ctx.generator(ctx.latent(x.shape[0]), y)
    ctx.opt_d.zero_grad()
    real_score, real_class = ctx.discriminator(x)
    fake_score, fake_class = ctx.discriminator(fake.detach() if detach else fake)
    if fragile:
        adversarial = -(
            torch.log(torch.sigmoid(real_score)).mean()
            + torch.log(1 - torch.sigmoid(fake_score)).mean()
        )
    else:
        adversarial = _bce(real_score, True) + _bce(fake_score, False)
    d_loss = adversarial / 2 + (F.cross_entropy(real_class, y) + F.cross_entropy(fake_class, y)) / 2
    d_loss.backward(retain_graph=not detach)
    ctx.opt_d.step()
    if detach:
        ctx.opt_g.zero_grad()
    score, klass = ctx.discriminator(fake)
    g_adv = -torch.log(torch.sigmoid(score)).mean() if fragile else _bce(score, True)
    g_loss = g_adv + F.cross_entropy(klass, y)
    g_loss.backward()
    ctx.opt_g.step()
    return {"d_loss": d_loss, "g_loss": g_loss}


def ac_spec(step: Any = ac_step, squash: bool = False, **overrides: Any) -> pg.GANSpec:
    kwargs: dict[str, Any] = dict(
        generator=CondG,
        discriminator=lambda: ACD(squash),
        data=two_clusters(),
        latent_dim=LATENT,
        num_classes=CLASSES,
        train_step=step,
        batch_size=32,
        name="acgan",
    )
    kwargs.update(overrides)
    return pg.GANSpec(**kwargs)


@pytest.mark.parametrize("seed", [0, 1])
def test_an_acgan_gets_a_verdict_from_every_check_and_passes_the_exact_ones(seed: int) -> None:
    run = pg.train(ac_spec(), steps=200, seed=seed)
    verdicts = all_verdicts(run)
    exact = {"losses-finite", "d-step-isolated", "d-output-fits-loss", "gradients-zeroed"}
    assert exact | {"optimizers-cover"} <= verdicts.keys()
    for check in ALL:
        if check.exact and check.id in verdicts:
            assert verdicts[check.id] == "pass", (check.id, verdicts)
    # The probes read one score per sample from the tuple: every AUC is a number.
    assert run.history.probes and all(p.d_auc == p.d_auc for p in run.history.probes)


def test_the_forced_layer_is_the_score_head_not_the_class_head_run_after_it() -> None:
    x, y = two_clusters(64)
    for d in (ACD(), LabelledACD()):
        assert final_layer(d, (x, y)) == "adv"
        span = forced_span(d, (x, y))
        assert span is not None and span[0] <= -200 and span[1] >= 200


def test_the_score_head_is_found_when_it_is_declared_last_and_runs_first() -> None:
    class Swapped(ACD):
        def __init__(self) -> None:
            super().__init__()
            self.aux2 = self.aux
            del self.aux
            self.adv2 = self.adv
            del self.adv

        def forward(self, x: torch.Tensor) -> Any:
            h = self.body(x)
            score = self.adv2(h)
            return score, self.aux2(h)

    x, y = two_clusters(64)
    assert final_layer(Swapped(), (x, y)) == "adv2"


def test_a_sigmoid_on_the_score_under_a_logits_loss_is_caught() -> None:
    run = pg.train(ac_spec(squash=True), steps=4, seed=0)
    with pytest.raises(pg.GANAssertionError) as info:
        pg.assert_d_output_fits_loss(run)
    assert info.value.pitfall == "discriminator-wrong-activation"
    pg.assert_d_output_fits_loss(pg.train(ac_spec(), steps=4, seed=0))


@pytest.mark.parametrize(
    ("mistake", "check", "pitfall"),
    [
        # A missing .detach() whose gradient reaches G's step (G not zeroed before it).
        ({"detach": False}, pg.assert_d_step_isolated, "d-step-leaks-into-generator"),
        # log(sigmoid(score)) written out: infinite once D saturates.
        ({"fragile": True}, pg.assert_losses_finite, "non-finite-loss"),
    ],
)
def test_a_planted_mistake_in_an_acgan_step_is_caught(
    mistake: dict[str, bool], check: Any, pitfall: str
) -> None:
    def step(ctx: Any, batch: Any) -> Any:
        return ac_step(ctx, batch, **mistake)

    with pytest.raises(pg.GANAssertionError) as info:
        check(pg.train(ac_spec(step=step), steps=4, seed=0))
    assert info.value.pitfall == pitfall
    check(pg.train(ac_spec(), steps=4, seed=0))


def _watched(squash: bool, steps: int = 6) -> pg.GANRun:
    torch.manual_seed(0)
    g, d = CondG(), ACD(squash)
    opt_g = torch.optim.Adam(g.parameters(), 2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), 2e-4, betas=(0.5, 0.999))
    x_all, y_all = two_clusters()
    with pg.watch(
        g, d, opt_g, opt_d, data=(x_all, y_all), latent_dim=LATENT, num_classes=CLASSES
    ) as run:
        for i in range(steps):
            x, y = x_all[32 * i : 32 * (i + 1)], y_all[32 * i : 32 * (i + 1)]
            fake = g(torch.randn(32, LATENT), y)
            opt_d.zero_grad()
            real_score, real_class = d(x)
            fake_score, fake_class = d(fake.detach())
            d_loss = _bce(real_score, True) + _bce(fake_score, False)
            d_loss = d_loss + F.cross_entropy(real_class, y) + F.cross_entropy(fake_class, y)
            d_loss.backward()
            opt_d.step()
            opt_g.zero_grad()
            score, klass = d(fake)
            g_loss = _bce(score, True) + F.cross_entropy(klass, y)
            g_loss.backward()
            opt_g.step()
            run.log(d_loss=d_loss, g_loss=g_loss)
    return run


def test_a_watched_acgan_loop_is_replayed_on_its_score() -> None:
    run = _watched(squash=False)
    saturation = run.history.saturation
    assert saturation.replay_error is None
    # The loss code ran again with the score forced to +200: D's loss on "real" is then
    # the fake term's softplus(200) / 1, finite and large; the class term is unchanged.
    assert saturation.real["d_loss"] > 100
    assert saturation.d_loss_reads == "logit"
    pg.assert_d_output_fits_loss(run)
    with pytest.raises(pg.GANAssertionError) as info:
        pg.assert_d_output_fits_loss(_watched(squash=True))
    assert info.value.pitfall == "discriminator-wrong-activation"


def test_a_built_in_loss_trains_an_acgan_d_on_its_score() -> None:
    run = pg.train(ac_spec(step=None, loss="hinge"), steps=4, seed=0)
    assert run.history.saturation.d_loss_reads is not None
    pg.assert_d_output_fits_loss(run)


def test_the_lipschitz_bound_is_measured_on_the_score() -> None:
    run = pg.train(ac_spec(), steps=4, seed=0)
    pg.assert_lipschitz(run, max_constant=1e6)
    with pytest.raises(pg.GANAssertionError) as info:
        pg.assert_lipschitz(run, max_constant=1e-6)
    assert info.value.pitfall == "discriminator-not-lipschitz"


class _FeaturesFirst(nn.Module):
    """A feature-matching D that returns its features before its score."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Linear(2, 8)
        self.head = nn.Linear(8, 1)

    def forward(self, x: torch.Tensor) -> Any:
        features = self.body(x)
        return features, self.head(features)


def test_a_vector_per_sample_in_front_is_refused_rather_than_read_as_the_score() -> None:
    with pytest.raises(TypeError, match=r"first element, \[2, 8\], holds 8 values per sample"):
        pg.train(ac_spec(discriminator=_FeaturesFirst), steps=1, seed=0)


class _NoScore(nn.Module):
    def __init__(self, out: str) -> None:
        super().__init__()
        self.lin = nn.Linear(2, 1)
        self.out = out

    def forward(self, x: torch.Tensor) -> Any:
        score = self.lin(x)
        return {"score": score} if self.out == "dict" else (None, score)


@pytest.mark.parametrize("out", ["dict", "tuple"])
def test_a_d_with_no_score_in_front_is_refused_naming_the_discriminator(out: str) -> None:
    refused = r"discriminator .*must return a Tensor of scores, or a tuple"
    with pytest.raises(TypeError, match=refused):
        pg.train(ac_spec(discriminator=lambda: _NoScore(out)), steps=1, seed=0)


def test_a_d_told_the_label_is_given_it_and_one_that_predicts_it_is_not() -> None:
    assert takes_labels(LabelledACD()) and not takes_labels(ACD())
    assert not takes_labels(nn.Sequential(nn.Linear(2, 1)))

    class Wrapper(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.module = LabelledACD()

        def forward(self, *inputs: torch.Tensor) -> Any:
            return self.module(*inputs)

    assert takes_labels(Wrapper())

    def labelled_step(ctx: Any, batch: Any) -> Any:
        x, y = batch
        fake = ctx.generator(ctx.latent(x.shape[0]), y)
        ctx.opt_d.zero_grad()
        real_score, _ = ctx.discriminator(x, y)
        fake_score, _ = ctx.discriminator(fake.detach(), y)
        d_loss = _bce(real_score, True) + _bce(fake_score, False)
        d_loss.backward()
        ctx.opt_d.step()
        ctx.opt_g.zero_grad()
        g_loss = _bce(ctx.discriminator(fake, y)[0], True)
        g_loss.backward()
        ctx.opt_g.step()
        return {"d_loss": d_loss, "g_loss": g_loss}

    for d, step in ((ACD, ac_step), (LabelledACD, labelled_step), (Wrapper, labelled_step)):
        run = pg.train(ac_spec(step=step, discriminator=d), steps=4, seed=0)
        pg.assert_d_output_fits_loss(run)
        probes = run.history.probes
        assert probes and all(p.d_auc == p.d_auc for p in probes)
