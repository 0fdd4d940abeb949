"""Pure functions on tensors of samples: the figures the statistical checks decide on."""

from __future__ import annotations

import torch


def flat(samples: torch.Tensor) -> torch.Tensor:
    """Samples as float64 rows ``[N, D]`` (images flattened), for distances."""
    if samples.ndim < 2 or samples.shape[0] < 2:
        raise ValueError(f"samples must be a batch [N >= 2, ...]; got shape {list(samples.shape)}")
    return samples.detach().reshape(samples.shape[0], -1).to(torch.float64)


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
    moved = sum(float((final[k].double().cpu() - initial[k].double()).pow(2).sum()) for k in names)
    size = sum(float(initial[k].double().pow(2).sum()) for k in names)
    return (moved / size) ** 0.5 if size > 0 else (0.0 if moved == 0 else float("inf"))
