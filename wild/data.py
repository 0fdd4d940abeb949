"""Data for the wild corpus, made in code and unlike the zoo's (``fixtures.data``).

The public implementations the wild corpus is modelled on train on MNIST, CelebA and
CIFAR-10, which cannot be downloaded here. Their stand-ins keep what matters to a GAN
check: many modes with shared structure (ten digit classes), strokes on a flat
background, colour images with smooth regions, and the range conventions of the original
pipelines (``ToTensor()`` gives [0, 1]; ``Normalize((0.5,), (0.5,))`` then gives [-1, 1]).

Every function is deterministic in its ``seed`` and draws from its own
``torch.Generator``: building data never touches the global RNG a run is seeded from.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["digits", "faces", "normalize", "to_pixels", "to_tensor_range"]

# Seven-segment layout on a unit box: (x0, y0, x1, y1) per segment, y down.
_SEGMENTS = (
    (0.2, 0.1, 0.8, 0.1),  # top
    (0.8, 0.1, 0.8, 0.5),  # upper right
    (0.8, 0.5, 0.8, 0.9),  # lower right
    (0.2, 0.9, 0.8, 0.9),  # bottom
    (0.2, 0.5, 0.2, 0.9),  # lower left
    (0.2, 0.1, 0.2, 0.5),  # upper left
    (0.2, 0.5, 0.8, 0.5),  # middle
)
_DIGIT_SEGMENTS = (
    (0, 1, 2, 3, 4, 5),
    (1, 2),
    (0, 1, 6, 4, 3),
    (0, 1, 6, 2, 3),
    (5, 6, 1, 2),
    (0, 5, 6, 2, 3),
    (0, 5, 4, 3, 2, 6),
    (0, 1, 2),
    (0, 1, 2, 3, 4, 5, 6),
    (6, 5, 0, 1, 2, 3),
)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _check(n: int, size: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int; got {n!r}")
    if isinstance(size, bool) or not isinstance(size, int) or size < 8:
        raise ValueError(f"size must be an int of at least 8; got {size!r}")


def _segment_distance(px: Tensor, py: Tensor, seg: Tensor) -> Tensor:
    """Distance from each pixel [n, s, s] to a segment per sample [n, 4]."""
    x0, y0, x1, y1 = (seg[:, i, None, None] for i in range(4))
    dx, dy = x1 - x0, y1 - y0
    t = (((px - x0) * dx + (py - y0) * dy) / (dx * dx + dy * dy).clamp_min(1e-9)).clamp(0, 1)
    return torch.hypot(px - (x0 + t * dx), py - (y0 + t * dy))


def digits(
    n: int, *, size: int = 16, seed: int = 0, labels: bool = False
) -> Tensor | tuple[Tensor, Tensor]:
    """``n`` grey digit images ``[n, 1, size, size]`` in [0, 1] (what ``ToTensor()`` gives
    for MNIST): seven-segment digits 0-9 with a random stroke width, scale, slant and
    position, drawn bright on black. Labels (balanced, 0-9) with ``labels=True``."""
    _check(n, size)
    gen = _gen(seed)
    y = torch.randperm(n, generator=gen) % 10
    scale = 0.55 + 0.25 * torch.rand(n, generator=gen)
    slant = 0.25 * (torch.rand(n, generator=gen) - 0.5)
    cx = 0.5 + 0.12 * (torch.rand(n, generator=gen) - 0.5)
    cy = 0.5 + 0.12 * (torch.rand(n, generator=gen) - 0.5)
    width = 0.045 + 0.035 * torch.rand(n, generator=gen)
    coords = (torch.arange(size, dtype=torch.float32) + 0.5) / size
    py, px = torch.meshgrid(coords, coords, indexing="ij")
    px, py = px.expand(n, size, size), py.expand(n, size, size)
    dist = torch.full((n, size, size), float("inf"))
    segs = torch.tensor(_SEGMENTS)
    for s in range(7):
        on = torch.tensor([s in _DIGIT_SEGMENTS[int(k)] for k in y])
        seg = segs[s].expand(n, 4).clone()
        # scale about the centre, slant (x shifts with height), then place
        seg = (seg - 0.5) * scale[:, None]
        seg[:, 0] -= slant * seg[:, 1]
        seg[:, 2] -= slant * seg[:, 3]
        seg[:, 0::2] += cx[:, None]
        seg[:, 1::2] += cy[:, None]
        d = _segment_distance(px, py, seg)
        d[~on] = float("inf")
        dist = torch.minimum(dist, d)
    w = width[:, None, None]
    img = torch.sigmoid((w - dist) / (0.25 / size))
    x = img.unsqueeze(1).clamp(0, 1)
    return (x, y) if labels else x


def faces(n: int, *, size: int = 32, seed: int = 0) -> Tensor:
    """``n`` colour images ``[n, 3, size, size]`` in [0, 1]: a smooth background, an
    elliptic "face" of a random skin tone, two dark eyes and a mouth, placed and sized at
    random (a CelebA stand-in: one object class, aligned, varying in colour and pose)."""
    _check(n, size)
    gen = _gen(seed)
    coords = (torch.arange(size, dtype=torch.float32) + 0.5) / size
    py, px = torch.meshgrid(coords, coords, indexing="ij")

    def u(lo: float, hi: float) -> Tensor:
        return (lo + (hi - lo) * torch.rand(n, generator=gen))[:, None, None]

    bg_top = torch.rand(n, 3, generator=gen)[:, :, None, None]
    bg_bottom = torch.rand(n, 3, generator=gen)[:, :, None, None]
    img = bg_top + (bg_bottom - bg_top) * py
    cx, cy, rx, ry = u(0.4, 0.6), u(0.45, 0.6), u(0.22, 0.32), u(0.28, 0.38)
    tone = torch.stack([u(0.55, 0.95), u(0.4, 0.75), u(0.3, 0.6)], dim=1).squeeze(-1)[..., None]
    face = (((px - cx) / rx) ** 2 + ((py - cy) / ry) ** 2).lt(1).float()
    img = img * (1 - face[:, None]) + tone * face[:, None]
    eye_dx, eye_y, eye_r = 0.4 * rx, cy - 0.25 * ry, u(0.03, 0.05)
    for side in (-1, 1):
        eye = (torch.hypot(px - (cx + side * eye_dx), py - eye_y) < eye_r).float()
        img = img * (1 - eye[:, None]) + 0.1 * eye[:, None]
    mouth = (
        ((px - cx).abs() < 0.4 * rx) & ((py - (cy + 0.45 * ry)).abs() < u(0.015, 0.04))
    ).float()
    img = (
        img * (1 - mouth[:, None])
        + torch.tensor([0.6, 0.1, 0.1])[None, :, None, None] * (mouth[:, None])
    )
    return img.clamp(0, 1)


def normalize(x: Tensor) -> Tensor:
    """``Normalize((0.5,) * C, (0.5,) * C)`` after ``ToTensor()``: [0, 1] to [-1, 1]."""
    return x * 2 - 1


def to_tensor_range(x: Tensor) -> Tensor:
    """The identity, named for the mistake it stands for: ``ToTensor()`` with no
    ``Normalize``, so the data stays in [0, 1]."""
    return x


def to_pixels(x: Tensor) -> Tensor:
    """Raw 8-bit values as floats, [0, 255]: ``torch.from_numpy(array).float()`` with no
    scaling at all."""
    return (x * 255).round()
