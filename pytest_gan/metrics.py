"""Pure functions on tensors of samples: the figures the statistical checks decide on."""

from __future__ import annotations

import math
import statistics

import torch

#: Largest magnitude the figures below are computed at as it is: float64 squares and sums
#: of values up to 2**480 (3e144) stay finite for any feature count a sample can have.
SAFE_MAGNITUDE = 2.0**480


def flat(samples: torch.Tensor) -> torch.Tensor:
    """Samples as float64 rows ``[N, D]`` (images flattened), for distances."""
    if samples.ndim < 2 or samples.shape[0] < 2:
        raise ValueError(f"samples must be a batch [N >= 2, ...]; got shape {list(samples.shape)}")
    return samples.detach().reshape(samples.shape[0], -1).to(torch.float64)


def common_scale(*samples: torch.Tensor) -> float:
    """A power of two to divide ``samples`` by before measuring them together, so that
    float64 squares and sums cannot overflow: 1 (the figures exact as they are) while every
    finite value is at most ``SAFE_MAGNITUDE`` in magnitude, else one that brings the
    largest below 1 (finite values near float64's largest). Dividing by a power of two is
    exact; the distances and spreads of this module scale with it, and ratios of two
    figures of samples scaled alike do not change."""
    largest = 0.0
    for x in samples:
        if x.numel():
            magnitude = x.detach().abs().nan_to_num(nan=0.0, posinf=0.0)  # finite values
            largest = max(largest, float(magnitude.max()))
    if largest <= SAFE_MAGNITUDE:
        return 1.0
    return math.ldexp(1.0, math.frexp(largest)[1])


def scaled(samples: torch.Tensor, scale: float) -> torch.Tensor:
    """``samples`` divided by ``scale`` (from :func:`common_scale`), in float64; the
    samples themselves when the scale is 1."""
    return samples if scale == 1.0 else samples.detach().to(torch.float64) / scale


def energy_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Szekely's energy distance between two samples: ``2 E|X-Y| - E|X-X'| - E|Y-Y'|``.

    Zero exactly when the distributions agree, positive otherwise, with no bandwidth or
    feature extractor to choose; the within-sample means exclude the zero diagonal (the
    U-statistic form, unbiased at small n).
    """
    x, y = flat(a), flat(b)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"samples differ in size: {x.shape[1]} and {y.shape[1]} features")
    n, m = x.shape[0], y.shape[0]
    xy = torch.cdist(x, y).mean()
    xx = torch.cdist(x, x).sum() / (n * (n - 1))
    yy = torch.cdist(y, y).sum() / (m * (m - 1))
    return float(2 * xy - xx - yy)


def parameter_movement(
    initial: dict[str, torch.Tensor], final: dict[str, torch.Tensor], names: list[str]
) -> float:
    """``||theta_final - theta_initial|| / ||theta_initial||`` over the named tensors."""
    moved = size = 0.0
    for k in names:  # one tensor at a time in float64 on the CPU (MPS has no float64)
        before, after = initial[k].to("cpu", torch.float64), final[k].to("cpu", torch.float64)
        moved += float((after - before).pow(2).sum())
        size += float(before.pow(2).sum())
    return (moved / size) ** 0.5 if size > 0 else (0.0 if moved == 0 else float("inf"))


def median_tensor_movement(
    initial: dict[str, torch.Tensor], final: dict[str, torch.Tensor], names: list[str]
) -> float:
    """The median over the named weight tensors of 2+ dimensions of each one's relative
    movement ``||w_final - w_initial|| / size`` (all the named tensors where none has 2+
    dimensions). Unlike :func:`parameter_movement` it does not let the few largest tensors
    speak for the network: a mapping network whose weights are stored 100x larger for an
    equalised learning rate (StyleGAN's ``lr_mul``) moves little relative to itself while
    the rest of the generator learns.

    ``size`` is the tensor's initial norm, or the norm PyTorch's default initialisation
    gives a tensor of its shape (uniform within ``1/sqrt(fan_in)``: ``sqrt(shape[0] / 3)``),
    whichever is larger: a tensor started small (or at zero) cannot claim a large relative
    movement from a small step. A vector (in the fallback) counts against its own norm,
    and not at all when it starts at zero. 0.0 where no tensor is left; NaN where a weight
    is non-finite."""
    chosen = [k for k in names if initial[k].dim() >= 2] or list(names)
    moves = []
    for k in chosen:
        before = initial[k].to("cpu", torch.float64)
        after = final[k].to("cpu", torch.float64)
        size = float(before.norm())
        if before.dim() >= 2:
            size = max(size, math.sqrt(before.shape[0] / 3))
        if not math.isfinite(size):
            return math.nan  # weights non-finite from the start
        if size > 0:
            moves.append(float((after - before).norm()) / size)
    if not all(math.isfinite(m) for m in moves):
        return math.nan  # weights gone non-finite have no movement to speak of
    return statistics.median(moves) if moves else 0.0


def contrast(samples: torch.Tensor) -> torch.Tensor:
    """Each sample's own spread: the standard deviation over its features (an image's
    pixels), ``[N]``. A blank image scores 0 whatever its grey level. Measured at the
    samples' :func:`common_scale`, so that values near float64's largest do not overflow."""
    x = flat(samples)
    unit = common_scale(x)
    return scaled(x, unit).std(dim=1) * unit


def mean_pairwise_distance(samples: torch.Tensor) -> float:
    """The mean Euclidean distance between two different samples of a batch (the
    U-statistic, zero diagonal excluded): how spread out the batch is. Measured at the
    samples' :func:`common_scale` (inf only where the figure itself exceeds float64)."""
    x = flat(samples)
    n = x.shape[0]
    unit = common_scale(x)
    x = scaled(x, unit)
    return float(torch.cdist(x, x).sum() / (n * (n - 1))) * unit


def _kth_neighbour_distance(x: torch.Tensor, k: int) -> torch.Tensor:
    d = torch.cdist(x, x)
    d.fill_diagonal_(float("inf"))
    return d.kthvalue(k, dim=1).values


def coverage(real: torch.Tensor, fake: torch.Tensor, k: int = 5) -> float:
    """Naeem et al. (2020) coverage: the share of real samples with at least one fake
    inside their k-nearest-neighbour ball among the real samples. About 1 when the fakes
    cover the data, the share of the data's modes reached under mode dropping, 0 for a
    constant output. k = 5 is the paper's choice."""
    r, f = flat(real), flat(fake)
    if r.shape[1] != f.shape[1]:
        raise ValueError(f"samples differ in size: {r.shape[1]} and {f.shape[1]} features")
    if not 0 < k < r.shape[0]:
        raise ValueError(f"k must lie in [1, {r.shape[0] - 1}]; got {k}")
    radius = _kth_neighbour_distance(r, k)
    nearest_fake = torch.cdist(r, f).min(dim=1).values
    return float((nearest_fake < radius).double().mean())


#: Cells per side of the coarse grid ``coarse_contrast`` averages images over.
COARSE_GRID = 4


def coarse_contrast(samples: torch.Tensor) -> torch.Tensor:
    """Each image's spread at a coarse scale, ``[N]``: the standard deviation over the cells
    of a ``COARSE_GRID`` x ``COARSE_GRID`` grid of block averages (all channels). Pixel
    noise averages out, so an untrained generator's faint speckle scores near 0 while
    shapes, blobs and colour fields keep their contrast. Samples that are not images
    ``[N, C, H, W]`` with H and W of at least ``COARSE_GRID`` fall back to ``contrast``."""
    x = samples.detach()
    if x.ndim != 4 or min(x.shape[-2:]) < COARSE_GRID:
        return contrast(x)
    pooled = torch.nn.functional.adaptive_avg_pool2d(x.to(torch.float64), COARSE_GRID)
    return flat(pooled).std(dim=1)


def reach(real: torch.Tensor, fake: torch.Tensor) -> float:
    """The mean distance from a sample of ``real`` to its nearest sample of ``fake``: how
    far the data lies from what the generator makes (with the arguments swapped, how far
    the fakes lie from the data: the probes' ``fake_to_real``). Against the same figure
    for a second real draw of the same size (the real-versus-real calibration at the same
    n), a generator that covers only part of the data leaves the rest far from every
    sample."""
    r, f = flat(real).double(), flat(fake).double()
    if r.shape[1] != f.shape[1]:
        raise ValueError(f"samples differ in size: {r.shape[1]} and {f.shape[1]} features")
    return float(torch.cdist(r, f).min(dim=1).values.mean())


#: Bins of :func:`bin_intersection`: k-means cells of the real data. 16 gives the ring of
#: 8 two cells a mode; no verdict reads this figure (benchmarks/calibrate_collapse.py
#: measured it as a collapse signal, and it overlapped: docs/benchmarks.md).
BINS = 16
_KMEANS_ITERATIONS = 20


def kmeans(x: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    """``k`` centroids of ``x`` [n, d] by Lloyd's algorithm from a k-means++ start, drawn
    from ``generator`` (never the global RNG)."""
    n = x.shape[0]
    first = int(torch.randint(n, (1,), generator=generator))
    centres = [x[first]]
    nearest = torch.cdist(x, x[first : first + 1]).squeeze(1) ** 2
    for _ in range(1, k):
        weights = nearest / nearest.sum() if float(nearest.sum()) > 0 else torch.ones(n) / n
        pick = int(torch.multinomial(weights.float(), 1, generator=generator))
        centres.append(x[pick])
        nearest = torch.minimum(nearest, torch.cdist(x, x[pick : pick + 1]).squeeze(1) ** 2)
    c = torch.stack(centres)
    for _ in range(_KMEANS_ITERATIONS):
        assign = torch.cdist(x, c).argmin(dim=1)
        for j in range(k):
            members = x[assign == j]
            if members.shape[0]:
                c[j] = members.mean(dim=0)
    return c


def bin_intersection(
    real: torch.Tensor, fake: torch.Tensor, bins: int = BINS, seed: int = 0
) -> float:
    """The share of the data's mass the fakes fill, bin by bin: the histogram intersection
    sum_j min(p_real(j), p_fake(j)) over ``bins`` k-means cells of the real samples (NDB's
    bins, Richardson & Weiss 2018). 1 when the fakes fall into the cells in the data's
    proportions; the covered cells' share of the data under mode dropping; 1 / bins or
    less for a generator collapsed into one cell."""
    r, f = flat(real).double(), flat(fake).double()
    if r.shape[1] != f.shape[1]:
        raise ValueError(f"samples differ in size: {r.shape[1]} and {f.shape[1]} features")
    k = min(bins, r.shape[0])
    gen = torch.Generator().manual_seed(seed)
    c = kmeans(r, k, gen)
    p_real = torch.bincount(torch.cdist(r, c).argmin(dim=1), minlength=k).double() / r.shape[0]
    p_fake = torch.bincount(torch.cdist(f, c).argmin(dim=1), minlength=k).double() / f.shape[0]
    return float(torch.minimum(p_real, p_fake).sum())


def finite_median(values: list[float]) -> float:
    """The median of the finite values (the mean of the middle two for an even count; NaN
    when there are none): the one median every check uses."""
    finite = [v for v in values if math.isfinite(v)]
    return statistics.median(finite) if finite else math.nan
