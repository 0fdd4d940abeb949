"""The Lipschitz check: does a critic meant to be Lipschitz-constrained stay constrained.

The figure is WGAN-GP's own measure (Gulrajani et al. 2017): the norm of D's gradient with
respect to its input, ``||grad_x D(x_hat)||``, at random interpolates ``x_hat`` between real
and generated samples. A working gradient penalty holds these norms near 1. Spectral
normalisation (Miyato et al. 2018) holds each layer's weight, reshaped to a matrix, at norm
1; a plain stack of linear layers then has gradient norms at most 1, a convolutional or
residual critic more. Where D's layers are spectrally normalised, the product of their
largest singular values is reported as evidence too, and a critic normalised on every
layer is constrained by construction.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.spectral_norm import SpectralNorm

from pytest_gan import instrument
from pytest_gan._args import check_int
from pytest_gan.checks._check import Check
from pytest_gan.checks._common import CRITIC, score_kind
from pytest_gan.checks._nonfinite import diverged_verdict
from pytest_gan.errors import GANNotApplicableWarning, fail
from pytest_gan.instrument import PENALTY_GRADIENT, PENALTY_IN_D_LOSS
from pytest_gan.losses import LOSSES, gradient_norms
from pytest_gan.probing import preserved_state
from pytest_gan.rng import local_generator
from pytest_gan.run import GANRun, require_run

#: Interpolates at which D's gradient norm is measured (fewer when the data holds fewer
#: samples). At 1,024, redrawing the real samples, fakes and weights 20 times moved the
#: 90th percentile of one trained critic by a standard deviation of 0.006 (ring-wgan-gp,
#: 1.34-1.36) and 0.012 (shapes-hinge-sn when it trained at batch 64, 0.47-0.52), small
#: beside the 0.66 between the zoo's healthy critics' largest figure and MAX_LIPSCHITZ.
LIPSCHITZ_SAMPLES = 1024

#: The quantile of the gradient norms that is judged. A high quantile rather than the
#: maximum: a penalty keeps most interpolates near 1, and the largest of 1,024 norms rests
#: on one or two points; rather than the median: a critic unconstrained on a tenth of the
#: space between the data and the fakes is not constrained.
LIPSCHITZ_QUANTILE = 0.9

#: Largest 90th percentile of the gradient norms a constrained critic whose run shows no
#: gradient penalty may show (the default ``max_constant``: weight clipping, a penalty
#: folded into ``d_loss``, spectral normalisation on some layers); twice a penalty's aim.
#: Why here: 1.5x above the zoo's healthy critics (1.34), under an outside critic whose
#: clipping was deleted (2.15); calibration: docs/benchmarks.md "Calibration notes".
MAX_LIPSCHITZ = 2.0

#: ... and for a critic whose run shows its gradient penalty (``has_gradient_penalty``).
#: Why here: the geometric mean of the healthy penalised most (2.13, a WaveGAN) and a
#: penalty that never reaches D's least at 100 steps (6.42; 14.7 at 200), 1.7x from each;
#: calibration: docs/benchmarks.md "Calibration notes".
MAX_LIPSCHITZ_PENALISED = 3.7

# An independent random stream for the interpolation weights, seeded from the run's seed,
# so that the verdict is the same on every call and leaves the caller's RNG alone.
_STREAM_INTERPOLATES = 101

# Interpolates per forward and backward pass: bounds the memory a large critic needs.
_CHUNK = 256

# Layers whose weight is a linear map of D's input path (the ones spectral normalisation
# wraps), and those of them whose weight has its output channels second.
_WEIGHT_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
_WEIGHT_LAYERS_T = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)


def interpolate_gradient_norms(
    discriminator: nn.Module,
    real: torch.Tensor,
    fake: torch.Tensor,
    labels: torch.Tensor | None = None,
    *,
    alpha: torch.Tensor | None = None,
) -> torch.Tensor:
    """``||grad_x D(x_hat)||`` at ``x_hat = alpha * real + (1 - alpha) * fake``, one per pair.

    ``alpha`` holds one weight in [0, 1] per pair (uniform draws with torch's global
    generator when None). D runs in eval mode, as a function of each sample alone (no
    batch statistics); its mode, buffers and torch's RNG come out as they went in, and no
    gradient is written to its parameters. For a conditional D, ``labels`` are passed with
    every interpolate. A D that scores packs of samples (PacGAN's) gives each pair its
    pack's norm. Returns a float64 Tensor ``[N]`` on ``real``'s device.
    """
    if not isinstance(discriminator, nn.Module):
        raise TypeError(f"discriminator must be an nn.Module; got {type(discriminator).__name__}")
    for name, t in (("real", real), ("fake", fake)):
        if not isinstance(t, torch.Tensor) or t.ndim < 2:
            raise ValueError(f"{name} must be a Tensor batch [N, ...]")
    if real.shape != fake.shape:
        raise ValueError(
            f"real and fake must have the same shape; got {list(real.shape)} and {list(fake.shape)}"
        )
    n = real.shape[0]
    if labels is not None and labels.shape[0] != n:
        raise ValueError(f"labels must hold one label per pair ({n}); got {labels.shape[0]}")
    if alpha is None:
        alpha = torch.rand(n)
    if alpha.shape != (n,):
        raise ValueError(f"alpha must have shape [{n}]; got {list(alpha.shape)}")
    weights = alpha.to(real.device, real.dtype).reshape(n, *([1] * (real.ndim - 1)))
    mixed = weights * real.detach() + (1 - weights) * fake.detach()
    norms = []
    was_training = discriminator.training
    discriminator.eval()
    try:
        with preserved_state(discriminator), torch.enable_grad():
            for i in range(0, n, _CHUNK):
                x = mixed[i : i + _CHUNK].clone().requires_grad_(True)
                y = None if labels is None else labels[i : i + _CHUNK]
                norms.append(gradient_norms(discriminator, x, y, dtype=torch.float64))
    finally:
        discriminator.train(was_training)
    return torch.cat(norms)


def _is_spectrally_normalised(layer: nn.Module) -> bool:
    if parametrize.is_parametrized(layer, "weight"):
        chains = layer.parametrizations
        assert isinstance(chains, nn.ModuleDict)
        if any(type(p).__name__ == "_SpectralNorm" for p in chains["weight"].children()):
            return True
    return any(isinstance(hook, SpectralNorm) for hook in layer._forward_pre_hooks.values())


def spectral_norms(discriminator: nn.Module) -> dict[str, tuple[float, bool]]:
    """Per linear or convolutional layer of D: the largest singular value of its weight
    (reshaped to ``[out, -1]``, the matrix spectral normalisation divides by), and whether
    the layer is spectrally normalised.

    Weights are read in eval mode, so a spectral-norm parametrisation divides by its stored
    estimate without running a power iteration; buffers come out untouched.
    """
    layers = [
        (name, m)
        for name, m in discriminator.named_modules()
        if isinstance(m, (*_WEIGHT_LAYERS, *_WEIGHT_LAYERS_T))
    ]
    result: dict[str, tuple[float, bool]] = {}
    was_training = discriminator.training
    discriminator.eval()
    try:
        with preserved_state(discriminator):
            for name, layer in layers:
                weight = layer.weight
                if not isinstance(weight, torch.Tensor):
                    continue
                if isinstance(layer, _WEIGHT_LAYERS_T):
                    weight = weight.transpose(0, 1)
                matrix = weight.detach().reshape(weight.shape[0], -1).double()
                if bool(torch.isfinite(matrix).all()):
                    sigma = float(torch.linalg.matrix_norm(matrix, ord=2))
                else:
                    # The SVD refuses non-finite input; a diverged layer has no finite norm.
                    sigma = math.nan if bool(matrix.isnan().any()) else math.inf
                result[name or type(layer).__name__] = (sigma, _is_spectrally_normalised(layer))
    finally:
        discriminator.train(was_training)
    return result


def has_gradient_penalty(run: GANRun) -> bool:
    """Whether D is trained with a gradient penalty (:func:`gradient_penalty`). The
    penalty holds a trained critic's gradient norms between the data and the fakes near 1."""
    return gradient_penalty(run) is not None


def gradient_penalty(run: GANRun) -> str | None:
    """Where ``run`` shows D's gradient penalty, in words: the ``wgan-gp`` loss, a training
    step that returns a ``gp`` loss, or a critic whose ``d_loss`` holds one
    (:func:`folded_penalty`); None where it shows none."""
    if LOSSES[run.spec.loss].gradient_penalty:
        return "a gradient penalty (loss 'wgan-gp')"
    if "gp" in run.history:
        return "a gradient penalty (the step's 'gp' loss)"
    if folded_penalty(run):
        return FOLDED if PENALTY_IN_D_LOSS in run.history.events else TAKEN
    return None


# How lipschitz_constraints names a critic that nothing it saw constrains.
_CRITIC_WORDS = "a Wasserstein critic"

#: :func:`gradient_penalty`'s words for a penalty found folded into the critic's loss.
FOLDED = "a gradient penalty (folded into d_loss)"
#: ... and for one seen by its gradient (a loss handed back without its graph, or another).
TAKEN = "a gradient penalty (a gradient through D taken with create_graph=True in its step)"


def folded_penalty(run: GANRun) -> bool:
    """Whether ``run``'s D is a critic whose ``d_loss`` holds a working gradient penalty,
    folded into it rather than returned as ``gp``: the instrumentation found, in the graph
    of a ``d_loss`` the step returned (or a watched loop logged) as a tensor, a gradient
    taken with ``create_graph=True`` (``instrument.holds_penalty``); or the step took
    such a gradient through D with ``torch.autograd.grad`` and a backward pass ran
    through it, whatever ``d_loss`` came back (``instrument.PENALTY_GRADIENT``). Critics
    only: a classifier's input-gradient penalty (R1 on real samples) bounds nothing
    between the data and the fakes, and does not make its D one this check judges."""
    events = run.history.events
    shown = PENALTY_IN_D_LOSS in events or PENALTY_GRADIENT in events
    return shown and score_kind(run) == CRITIC


def lipschitz_constraints(run: GANRun) -> list[str]:
    """What in ``run`` is meant to keep D Lipschitz: a gradient penalty (the ``wgan-gp``
    loss, or a training step that returns a ``gp`` loss) and spectral normalisation. Empty
    for a GAN with no such constraint (a plain BCE DCGAN)."""
    run = require_run(run, "lipschitz_constraints")
    found = []
    penalty = gradient_penalty(run)
    if penalty is not None:
        found.append(penalty)
    elif score_kind(run) == CRITIC:
        # A Wasserstein critic is only meaningful when Lipschitz, whatever keeps it so (a
        # penalty folded into d_loss, weight clipping).
        found.append(f"{_CRITIC_WORDS} (its loss only averages and subtracts D's scores)")
    norms = spectral_norms(run.discriminator)
    normalised = sum(sn for _, sn in norms.values())
    if normalised:
        found.append(f"spectral normalisation ({normalised} of {len(norms)} layers)")
    return found


def run_gradient_norms(run: GANRun, samples: int = LIPSCHITZ_SAMPLES) -> torch.Tensor:
    """The gradient norms ``assert_lipschitz`` judges: :func:`interpolate_gradient_norms`
    at ``samples`` pairs (at most the data's size) of real samples and fakes of the final
    generator, in eval mode, for a conditional spec with the real sample's label for both;
    interpolation weights from a stream seeded by the run's seed, so the same run always
    gives the same norms."""
    run = require_run(run, "run_gradient_norms")
    n = run.sample_count(samples)
    real, labels = run.real_with_labels(n)
    labels = labels if run.conditional else None
    fake = run.samples(n, labels=labels)
    alpha = torch.rand(n, generator=local_generator(run.seed, _STREAM_INTERPOLATES))
    return interpolate_gradient_norms(run.discriminator, real, fake, labels, alpha=alpha)


def _check_bound(max_constant: Any) -> float:
    if isinstance(max_constant, bool) or not isinstance(max_constant, (int, float)):
        raise TypeError(f"max_constant must be a number; got {type(max_constant).__name__}")
    if not math.isfinite(max_constant) or max_constant <= 0:
        raise ValueError(f"max_constant must be a finite number > 0; got {max_constant!r}")
    return float(max_constant)


def assert_lipschitz(
    run: GANRun, *, max_constant: float | None = None, samples: int = LIPSCHITZ_SAMPLES
) -> None:
    """D's gradient norms between real and generated samples stay within ``max_constant``.

    Measures ``||grad_x D(x_hat)||`` at ``samples`` interpolates between real samples and
    fakes of the final generator (for a conditional spec, each pair shares a label, which
    D is given), with interpolation weights from a stream seeded by the run's seed: the
    same run always gets the same verdict. Fails when their 90th percentile
    (``LIPSCHITZ_QUANTILE``) exceeds ``max_constant``, raising ``GANAssertionError`` with
    pitfall ``discriminator-not-lipschitz``. By default ``max_constant`` is
    ``MAX_LIPSCHITZ_PENALISED`` for a critic whose run shows its gradient penalty (healthy
    critics held by one reach 2.13; a penalty that never reaches D reads 6.4 at 100 steps
    and more later) and ``MAX_LIPSCHITZ`` otherwise.

    The check is for critics meant to be constrained: a gradient penalty (loss
    ``"wgan-gp"``, or a step returning a ``gp`` loss) or spectral normalisation. A run with
    neither, such as a plain BCE DCGAN whose D nothing bounds, passes with a
    ``GANNotApplicableWarning`` saying that nothing was checked, unless ``max_constant`` is
    given: passing a bound asks for the check anyway.

    A critic constrained by spectral normalisation alone, on every linear and
    convolutional layer, passes without a ``max_constant``: the constraint is in force by
    construction, and the gradient norm of a healthy SN convolutional or residual critic
    exceeds the bound (the normalisation divides each kernel reshaped to a matrix, not the
    convolution's operator norm). It fails when layers are left unnormalised and the
    gradient norms exceed the bound.

    A run whose losses went NaN or infinite and that ended with non-finite weights or
    samples fails with ``non-finite-loss`` instead (``_nonfinite.diverged_verdict``).
    """
    __tracebackhide__ = True
    run = require_run(run, "assert_lipschitz")
    if max_constant is None:
        bound = MAX_LIPSCHITZ_PENALISED if has_gradient_penalty(run) else MAX_LIPSCHITZ
    else:
        bound = _check_bound(max_constant)
    check_int(samples, "samples", least=2)
    diverged_verdict(run, "assert_lipschitz")
    constraints = lipschitz_constraints(run)
    if not constraints and max_constant is None:
        saturation = run.history.saturation
        reads = None if saturation is None else saturation.d_loss_reads
        own = run.spec.train_step is not None and reads
        loss = f"its step's loss read as {reads!r}" if own else f"loss {run.spec.loss!r}"
        warnings.warn(
            GANNotApplicableWarning(
                f"assert_lipschitz: run {run.name!r} has no Lipschitz constraint to check "
                f"({loss}, no spectral normalisation, no 'gp' loss recorded): nothing was "
                "checked. Its discriminator needs no bound; pass max_constant=... to check it "
                "against one anyway"
            ),
            stacklevel=2,
        )
        return
    norms = run_gradient_norms(run, samples)
    n = norms.shape[0]
    nonfinite = int((~torch.isfinite(norms)).sum())
    norms = torch.nan_to_num(norms, nan=math.inf)
    high = float(torch.quantile(norms, LIPSCHITZ_QUANTILE))
    if high <= bound:
        return
    median, largest = float(norms.median()), float(norms.max())
    layers = spectral_norms(run.discriminator)
    penalised = any("penalty" in c for c in constraints)
    normalised = [name for name, (_, sn) in layers.items() if sn]
    missing = [name for name, (_, sn) in layers.items() if not sn]
    if max_constant is None and not penalised and normalised and not missing and not nonfinite:
        # Spectral normalisation on every layer is the constraint, and it is in force. It
        # divides each weight reshaped to [out, in*k*k], whose norm is not a convolution's
        # operator norm (Miyato et al. 2018, appendix), and residual sums add branches: a
        # healthy SN critic's gradient norms exceed 1, and the bound holds only a plain
        # stack of linear layers. Measured at 200 steps: the wild SN-ResNet
        # (mimicry-cgan-pd) 2.24 and the wild SN-CNN (collections-sngan) 1.99, both healthy
        # with every layer normalised (docs/pitfalls/discriminator-not-lipschitz.md).
        return
    target = "near 1" if penalised else ("<= 1" if constraints else f"<= {bound:g}")
    rows: list[tuple[str, Any, str]] = [
        (f"gradient norm, {LIPSCHITZ_QUANTILE:.0%} quantile", high, f"<= {bound:g}"),
        ("gradient norm, median", median, target),
        ("gradient norm, largest", largest, "-"),
        ("interpolates", n, "-"),
    ]
    if nonfinite:
        rows.append(("non-finite gradient norms", nonfinite, "0"))
    evidence: dict[str, Any] = {
        "quantile": high,
        "median": median,
        "max": largest,
        "max_constant": bound,
        "samples": n,
        "nonfinite": nonfinite,
        "constraints": constraints,
        "spectral_norms": {k: s for k, (s, _) in layers.items()},
    }
    details = []
    if penalised:
        details.append(
            "A working gradient penalty holds these norms near 1. Computed without "
            "create_graph=True, the penalty's gradient is a constant: it adds to the "
            "loss but never reaches D's weights. A penalty weight far below 10 has the "
            "same effect."
        )
    elif max_constant is None and any(c.startswith(_CRITIC_WORDS) for c in constraints):
        details.append(
            "No gradient penalty showed in this run, so the critic is held to the bound "
            "for critics without one. A penalty works only with its gradient taken with "
            "create_graph=True. If the step does penalise D's gradient that way, hand the "
            "penalty back as 'gp' (or log it), or pass max_constant="
            f"{MAX_LIPSCHITZ_PENALISED:g}: a penalty is not seen when the loss comes "
            "back without its graph and its gradient was taken through torch.func or "
            "with is_grads_batched=True"
            + (
                ", or through a grad imported by name (from torch.autograd import grad) "
                "on this torch"
                if instrument._TAP_NAME != instrument._ENGINE
                else ""
            )
            + f", or after the first {instrument.PENALTY_LOOKS} gradients taken with "
            "create_graph=True."
        )
    if normalised:
        product = math.prod(s for s, _ in layers.values())
        rows += [
            ("layers spectrally normalised", f"{len(normalised)} of {len(layers)}", "all"),
            ("product of per-layer spectral norms", product, "<= 1"),
        ]
        evidence["spectral_norm_product"] = product
        if missing:
            details.append(
                "Spectral normalisation leaves these layers unnormalised: "
                + ", ".join(missing)
                + "."
            )
    summary = (
        f"D's gradient norm between real and generated samples reaches {high:.3g} "
        f"({LIPSCHITZ_QUANTILE:.0%} quantile of {n} interpolates), above the bound "
        f"{bound:g}"
    )
    summary += f" for a critic constrained by {' and '.join(constraints)}." if constraints else "."
    raise fail("discriminator-not-lipschitz", summary, rows, evidence, detail=" ".join(details))


def judges_constrained(run: GANRun) -> str | None:
    """None when something in ``run`` is meant to keep D Lipschitz, else why not."""
    if lipschitz_constraints(run):
        return None
    return "D has no Lipschitz constraint (no gradient penalty, no spectral normalisation)"


#: The check of this module (``pytest_gan.checks.ALL``).
LIPSCHITZ = Check(
    "lipschitz", assert_lipschitz, ("discriminator-not-lipschitz",), applies=judges_constrained
)
