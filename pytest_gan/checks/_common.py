"""What several checks share: how D's outputs are to be read (a classifier's, a hinge D's
margins, a Wasserstein critic's scores). The argument checks every check starts with,
``require_run`` and ``require_instrumented``, are in ``pytest_gan.run``."""

from __future__ import annotations

from pytest_gan.losses import CLASSIFIER, CRITIC, LOSSES, MARGIN
from pytest_gan.run import GANRun

# What D's outputs are (CLASSIFIER, MARGIN, CRITIC): see pytest_gan.losses.
__all__ = ["CLASSIFIER", "CRITIC", "MARGIN", "NEGATIVE_LOSS", "least_squares", "score_kind"]

#: A loss below this is negative beyond float rounding. Every classifier loss (BCE, its
#: non-saturating G loss, LSGAN) and the hinge D loss are sums of non-negative terms; a
#: Wasserstein critic's loss E[D(fake)] - E[D(real)] is negative as soon as it separates
#: the two, and the hinge and Wasserstein G loss -E[D(G(z))] whenever D scores fakes above 0.
NEGATIVE_LOSS = -1e-6


#: How each reading of a loss (``pytest_gan.probing.read_loss``) treats D's outputs.
_READS = {
    "logit": CLASSIFIER,
    "probability": CLASSIFIER,
    "square": CLASSIFIER,
    "margin": MARGIN,
    "critic": CRITIC,
    # An autoencoder D's outputs are reconstructions of its input (BEGAN, EBGAN): like a
    # hinge D's margins they carry no probability to read a belief from, and no critic's
    # constraint; its balance is judged by its pace (checks.balance).
    "reconstruction": MARGIN,
    # A softmax's energies or logits (Softmax GAN over the batch, a semi-supervised D's
    # classes): no per-sample probability to read a belief from (Softmax GAN's D scores
    # real samples low), no critic's constraint; judged by its pace, as a hinge D is.
    "softmax": MARGIN,
}


def score_kind(run: GANRun) -> str:
    """``CLASSIFIER``, ``MARGIN`` or ``CRITIC``: how D's outputs are to be read.

    A run's final probe re-runs its training step once on copies of the networks and
    records what the loss does with D's outputs (``history.saturation["d_loss_reads"]``):
    BCE on logits or probabilities and LSGAN's squares read them as a classifier's; a
    hinge clips margins; a Wasserstein critic's loss only averages and subtracts; an
    autoencoder D's loss compares them with D's input (read as ``MARGIN``). That
    reading decides, for the built-in losses and a user's own step alike. Without it
    (instrument=False), a declared ``loss`` other than the default ``"bce"`` is taken at
    its word, and otherwise the recorded losses tell: a negative ``d_loss`` is a
    Wasserstein critic's, a negative ``g_loss`` with a non-negative ``d_loss`` a hinge
    D's (whose G loss is -E[D(G(z))]); a classifier's losses never go below 0.
    """
    spec = run.spec
    saturation = run.history.saturation
    reads = None if saturation is None else saturation.d_loss_reads
    if reads in _READS:
        return _READS[reads]
    if spec.train_step is None or spec.loss != "bce":
        return LOSSES[spec.loss].kind
    history = run.history

    def negative(key: str) -> bool:
        return key in history and any(v < NEGATIVE_LOSS for v in history[key] if v == v)

    if negative("d_loss"):
        return CRITIC
    if negative("g_loss"):
        return MARGIN
    return CLASSIFIER


def least_squares(run: GANRun) -> bool:
    """Whether D is trained on the squared distance of its outputs to targets (LSGAN, Mao
    et al. 2017: the built-in ``"lsgan"``, or a user's step with ``mse_loss``): read from
    what the step's loss does with D's outputs (``d_loss_reads``), else, without that
    reading (instrument=False), from a declared ``"lsgan"``. G's least-squares loss keeps
    its gradient where D is certain, so D's certainty says nothing of G's signal there."""
    saturation = run.history.saturation
    reads = None if saturation is None else saturation.d_loss_reads
    if reads is not None:
        return reads == "square"
    return run.spec.train_step is None and run.spec.loss == "lsgan"
