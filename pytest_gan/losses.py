"""The built-in losses, in one registry: each loss's formulas, where D's decision boundary
lies, and what kind of score its D gives (a classifier's, a hinge D's margin, a
Wasserstein critic's).

They follow their papers: ``bce`` is the non-saturating loss of Goodfellow et al. (2014)
on logits, ``hinge`` the one of Lim & Ye (2017) / Miyato et al. (2018), ``wgan-gp`` the
critic loss with gradient penalty of Gulrajani et al. (2017), ``lsgan`` the least-squares
loss of Mao et al. (2017) with targets 1 (real) and 0 (fake).
"""

from __future__ import annotations

import copy
import functools
import inspect
import math
import weakref
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

#: What D's outputs are, by the loss that trains it: a classifier's probabilities or
#: logits; a hinge D's margin scores; a Wasserstein critic's unbounded scores.
CLASSIFIER, MARGIN, CRITIC = "classifier", "margin", "critic"

#: What D's output says about its belief that a sample is real (the probes' reading): a
#: logit, a probability-like target of 0/1, or a score with no such reading.
LOGIT, PROBABILITY, SCORE = "logit", "probability", "score"

#: The probes' reading for a user's own step under a classifier loss: D's outputs are
#: probabilities (a Sigmoid ending, boundary 1/2) if they all lie in [0, 1], else logits
#: (boundary 0), told apart at each probe.
BY_RANGE = "by-range"


def takes_labels(discriminator: nn.Module) -> bool:
    """Whether a conditional spec's D takes the labels beside the image, ``D(x, y)``: not
    when its ``forward`` takes one input, as an AC-GAN's D that predicts the label from the
    image alone (Odena et al. 2017). A forward that cannot be read, or takes ``*args``
    (a wrapper's), is given them."""
    forward = discriminator.forward
    # Read once per forward function (the built-in step calls D two or three times a step).
    return _takes_two(getattr(forward, "__func__", forward), hasattr(forward, "__self__"))


@functools.lru_cache(maxsize=256)
def _takes_two(forward: Callable[..., object], bound: bool) -> bool:
    try:
        parameters = list(inspect.signature(forward).parameters.values())
    except (TypeError, ValueError):
        return True
    kinds = [p.kind for p in parameters[1 if bound else 0 :]]
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return inspect.Parameter.VAR_POSITIONAL in kinds or sum(k in positional for k in kinds) >= 2


def call_d(discriminator: nn.Module, x: torch.Tensor, labels: torch.Tensor | None) -> object:
    """D's output on ``x``: with ``labels`` for a conditional D (:func:`takes_labels`)."""
    if labels is None or not takes_labels(discriminator):
        return discriminator(x)
    return discriminator(x, labels)


#: Discriminators seen to score packs of samples, as PacGAN's (Lin et al. 2018) and CTGAN's
#: (Xu et al. 2019) do: ``forward`` views a batch of ``N`` as ``N / pack`` rows of ``pack``
#: samples each and gives one score per pack. Pack size by D, marked when first seen so
#: (``spec.validate_networks``) and carried to copies (:func:`copy_module`).
_PACKED: weakref.WeakKeyDictionary[nn.Module, int] = weakref.WeakKeyDictionary()


def pack_of(discriminator: nn.Module) -> int:
    """How many samples ``discriminator`` scores together: 1 unless it packs them."""
    return _PACKED.get(discriminator, 1)


def mark_packed(discriminator: nn.Module, pack: int) -> None:
    """Record that D scores packs of ``pack`` samples (``validate_networks`` saw it)."""
    _PACKED[discriminator] = pack


def copy_module(module: nn.Module) -> nn.Module:
    """A deep copy of ``module`` that D's marks (packs, a batch mean) carry to."""
    copied = copy.deepcopy(module)
    if module in _PACKED:
        _PACKED[copied] = _PACKED[module]
    if module in _BATCH_MEAN:
        _BATCH_MEAN.add(copied)
    return copied


def padded_to_packs(
    discriminator: nn.Module, x: torch.Tensor, labels: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``x`` (and ``labels``) for a D that packs samples, made a whole number of packs by
    repeating its first samples at the end; as they are for any other D."""
    pack, n = pack_of(discriminator), x.shape[0]
    short = -n % pack
    if not short:
        return x, labels
    index = torch.arange(short, device=x.device) % n
    return torch.cat([x, x[index]]), None if labels is None else torch.cat([labels, labels[index]])


def call_d_rows(discriminator: nn.Module, x: torch.Tensor, labels: torch.Tensor | None) -> object:
    """D's output on ``x`` with one row per sample: as :func:`call_d`; for a D that packs
    samples, on ``x`` made a whole number of packs (:func:`padded_to_packs`), each sample
    given its pack's row."""
    pack = pack_of(discriminator)
    if pack == 1:
        return call_d(discriminator, x, labels)
    n = x.shape[0]
    out = call_d(discriminator, *padded_to_packs(discriminator, x, labels))

    def rows(t: object) -> object:
        if isinstance(t, torch.Tensor) and t.ndim and t.shape[0] * pack >= n:
            return t.repeat_interleave(pack, 0)[:n]
        return t

    return type(out)(rows(t) for t in out) if isinstance(out, (tuple, list)) else rows(out)


def gradient_norms(
    discriminator: nn.Module,
    x: torch.Tensor,
    labels: torch.Tensor | None,
    *,
    create_graph: bool = False,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """The norm of the gradient of D's score with respect to its input, one per sample of
    ``x`` (a leaf that requires grad), taken in ``dtype`` (None: the gradient's): each
    sample's own score's gradient (also for a D that averages over the batch,
    :func:`per_sample_scores`). For a D that packs samples, its score is a function of the
    whole pack, and each sample gets the norm over its pack's input, as PacGAN's gradient
    penalty (CTGAN's) takes it. Zeros where D's output does not depend on its input."""
    pack, n = pack_of(discriminator), x.shape[0]
    if pack == 1:
        inputs, out = x, per_sample_scores(discriminator, x, labels)
    else:
        inputs, labels = padded_to_packs(discriminator, x, labels)
        out = score_of(call_d(discriminator, inputs, labels))
    zeros = torch.zeros(n, dtype=dtype or x.dtype, device=x.device)
    if not out.requires_grad:
        return zeros
    (grad,) = torch.autograd.grad(out.sum(), inputs, create_graph=create_graph, allow_unused=True)
    if grad is None:
        return zeros
    rows: torch.Tensor = grad.reshape(-1, pack * x[0].numel())
    rows = rows if dtype is None else rows.to(dtype)
    norms: torch.Tensor = rows.norm(dim=1).repeat_interleave(pack)
    return norms[:n]


def d_score(out: object) -> torch.Tensor | None:
    """D's score from what D returned: the tensor itself, or the first element of a tuple
    or list, as an AC-GAN's D returns ``(validity, class_logits)`` (Odena et al. 2017) and
    a feature-matching D ``(score, features)``; None when there is no such tensor."""
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        return out[0]
    return None


def g_samples(out: object) -> object:
    """G's samples from what G returned: the tensor itself, or the first element of a tuple
    or list, as StyleGAN2 implementations return ``(image, latents)`` (``(image, None)``
    unless asked for the latents); anything else as it is, for the caller to refuse."""
    first = d_score(out)
    return out if first is None else first


def samples_of(out: object) -> torch.Tensor:
    """:func:`g_samples`, for a G already validated to return them: a G that no longer
    does raises ``TypeError``."""
    samples = g_samples(out)
    if not isinstance(samples, torch.Tensor):
        raise TypeError(f"the generator must return a Tensor; it returned {type(out).__name__}")
    return samples


def score_of(out: object) -> torch.Tensor:
    """:func:`d_score`, for a D already validated to return one: a D that no longer does
    raises ``TypeError`` rather than being read as some other number."""
    score = d_score(out)
    if score is None:
        raise TypeError(f"discriminator returned {type(out).__name__}, not a Tensor of scores")
    return score


#: Discriminators seen to average their scores over the batch inside ``forward``: one
#: score for a batch of several, as the original WGAN critic returns
#: ``output.mean(0).view(1)`` (Arjovsky et al. 2017's code). Marked when first seen so.
_BATCH_MEAN: weakref.WeakSet[nn.Module] = weakref.WeakSet()


def averages_batch(score: torch.Tensor, n: int) -> bool:
    """Whether a score D gave for a batch of ``n`` (at least 2) is one number for all.
    Read from the shape alone: a step's loss is read from the torch functions applied to
    D's outputs (``probing.LossOps``), and this look must not count as one of them."""
    shape = tuple(score.shape)
    return n >= 2 and math.prod(shape) == 1 and (not shape or shape[0] != n)


def rows_inside(
    discriminator: nn.Module, x: torch.Tensor, labels: torch.Tensor | None
) -> torch.Tensor | None:
    """For a D that averages its scores over the batch: each sample's score before the
    average, the output of the last module inside D to finish that still holds one row
    per sample of ``x`` (the last convolution of the original WGAN critic, ``[N, 1, 1,
    1]``; a Sigmoid module after it, if there is one). None when no module inside D gives
    such an output. D runs once more, as the caller's context allows (its buffers are
    the caller's to preserve)."""
    n = x.shape[0]
    rows: list[torch.Tensor] = []

    def keep(module: nn.Module, inputs: object, out: object) -> None:
        score = d_score(out)
        if score is not None and score.ndim > 0 and score.shape[0] == n:
            rows.append(score)

    # Not D itself (modules() yields it first): its own output is the average.
    handles = [m.register_forward_hook(keep) for m in list(discriminator.modules())[1:]]
    try:
        call_d(discriminator, x, labels)
    finally:
        for handle in handles:
            handle.remove()
    floating = [r for r in rows if r.is_floating_point()]
    return floating[-1] if floating else None


def per_sample_scores(
    discriminator: nn.Module, x: torch.Tensor, labels: torch.Tensor | None
) -> torch.Tensor:
    """D's score for each sample of ``x`` (:func:`score_of`), also for a D that averages
    its scores over the batch itself (:func:`rows_inside`), where one number would leave
    the probes nothing to rank and a gradient of the average would be each sample's
    divided by the batch. A D seen to average runs once, with hooks; another D the first
    time it does so, once more."""
    if pack_of(discriminator) > 1:
        return score_of(call_d_rows(discriminator, x, labels))
    if discriminator not in _BATCH_MEAN:
        score = score_of(call_d(discriminator, x, labels))
        if not averages_batch(score, x.shape[0]):
            return score
        _BATCH_MEAN.add(discriminator)
    rows = rows_inside(discriminator, x, labels)
    if rows is None:
        raise TypeError(
            f"discriminator returned one score for a batch of {x.shape[0]}, and no module "
            "inside it holds one score per sample"
        )
    return rows


def mark_batch_mean(discriminator: nn.Module) -> None:
    """Record that D averages its scores over the batch (``validate_networks`` saw it)."""
    _BATCH_MEAN.add(discriminator)


@dataclass(frozen=True)
class Loss:
    """One built-in loss."""

    name: str
    #: D's loss from its outputs on real and on generated samples (means over the batch).
    d_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    #: G's loss from D's outputs on generated samples.
    g_loss: Callable[[torch.Tensor], torch.Tensor]
    #: D's decision boundary on its raw output; None: no fixed boundary (a critic), the
    #: probes split at the midpoint of the two means.
    threshold: float | None
    #: How the probes read D's output as a belief (``LOGIT``, ``PROBABILITY``, ``SCORE``).
    scores: str
    #: What kind of D the loss trains (``CLASSIFIER``, ``MARGIN``, ``CRITIC``).
    kind: str
    #: Whether the built-in step adds a gradient penalty to D's loss.
    gradient_penalty: bool = False


def _bce_d(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return F.softplus(-real).mean() + F.softplus(fake).mean()


def _bce_g(fake: torch.Tensor) -> torch.Tensor:
    return F.softplus(-fake).mean()


def _hinge_d(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return F.relu(1 - real).mean() + F.relu(1 + fake).mean()


def _lsgan_d(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return 0.5 * ((real - 1) ** 2).mean() + 0.5 * (fake**2).mean()


def _lsgan_g(fake: torch.Tensor) -> torch.Tensor:
    return 0.5 * ((fake - 1) ** 2).mean()


def _critic_d(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return fake.mean() - real.mean()


def _score_g(fake: torch.Tensor) -> torch.Tensor:
    return -fake.mean()


#: Every built-in loss, by the name a ``GANSpec`` gives (``_defaults.LOSSES``, in its order).
LOSSES: dict[str, Loss] = {
    loss.name: loss
    for loss in (
        Loss("bce", _bce_d, _bce_g, threshold=0.0, scores=LOGIT, kind=CLASSIFIER),
        Loss("hinge", _hinge_d, _score_g, threshold=0.0, scores=SCORE, kind=MARGIN),
        Loss(
            "wgan-gp",
            _critic_d,
            _score_g,
            threshold=None,
            scores=SCORE,
            kind=CRITIC,
            gradient_penalty=True,
        ),
        Loss("lsgan", _lsgan_d, _lsgan_g, threshold=0.5, scores=PROBABILITY, kind=CLASSIFIER),
    )
}
