"""Pictures of a run for people: sample grids of real next to generated samples.

Images go through torchvision's ``make_grid``/``save_image``; 2-D data is drawn as a
scatter plot rasterised into an image, so no plotting library is needed. Every file is
written atomically (a temporary file in the same folder, then renamed).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torchvision.utils import make_grid, save_image

from pytest_gan._files import write_atomically

# Scatter plots: canvas size in pixels, point radius, and colours (RGB in [0, 1]) for the
# real points (grey) and the generated ones (red).
_SCATTER_SIZE = 320
_POINT_RADIUS = 1
_REAL_COLOUR = (0.55, 0.55, 0.55)
_FAKE_COLOUR = (0.85, 0.1, 0.1)
# Gap between the real and the generated half of an image grid, in pixels.
_PADDING = 2
# Grids of small images are scaled up (nearest neighbour) to at least this width, so that
# 16x16 samples can be told apart when the PNG is opened at its natural size.
_MIN_GRID_WIDTH = 512


def _atomic_png(image: torch.Tensor, path: Path) -> Path:
    return write_atomically(path, lambda tmp: save_image(image, tmp, format="png"), suffix=".png")


def scatter_image(
    fake: torch.Tensor, real: torch.Tensor | None = None, *, size: int = _SCATTER_SIZE
) -> torch.Tensor:
    """A ``[3, size, size]`` image of 2-D points: real in grey under generated in red.

    The view fits all points with a 5% margin; non-finite points are left out.
    """
    clouds = [p.detach().float().cpu() for p in (real, fake) if p is not None]
    every = torch.cat(clouds)
    every = every[torch.isfinite(every).all(dim=1)]
    image = torch.ones(3, size, size)
    if every.numel() == 0:
        return image
    lo, hi = every.min(dim=0).values, every.max(dim=0).values
    centre, half = (lo + hi) / 2, ((hi - lo).max() / 2).clamp_min(1e-6) * 1.05
    offsets = torch.arange(-_POINT_RADIUS, _POINT_RADIUS + 1)
    dy, dx = torch.meshgrid(offsets, offsets, indexing="ij")
    colours = ([_REAL_COLOUR] if real is not None else []) + [_FAKE_COLOUR]
    for points, colour in zip(clouds, colours, strict=True):
        points = points[torch.isfinite(points).all(dim=1)]
        unit = (points - centre) / half  # in [-1, 1]
        col = ((unit[:, 0] + 1) / 2 * (size - 1)).round().long()
        row = ((1 - unit[:, 1]) / 2 * (size - 1)).round().long()
        rows = (row[:, None] + dy.reshape(1, -1)).clamp(0, size - 1).reshape(-1)
        cols = (col[:, None] + dx.reshape(1, -1)).clamp(0, size - 1).reshape(-1)
        for channel, value in enumerate(colour):
            image[channel, rows, cols] = value
    return image


def sample_grid(
    fake: torch.Tensor,
    real: torch.Tensor | None = None,
    *,
    data_range: tuple[float, float] = (-1.0, 1.0),
    nrow: int = 8,
) -> torch.Tensor:
    """One image showing real samples (top block) above generated ones (bottom block).

    Image samples ``[N, C, H, W]`` are mapped from ``data_range`` to [0, 1]; anything else
    with two features per sample is drawn as a scatter plot.
    """
    if fake.ndim == 2 and fake.shape[1] == 2:
        return scatter_image(fake, real)
    if fake.ndim != 4:
        raise ValueError(
            f"fake must be images [N, C, H, W] or 2-D points [N, 2]; got shape {list(fake.shape)}"
        )
    lo, hi = data_range

    def grid(x: torch.Tensor) -> torch.Tensor:
        x = x.detach().float().cpu()
        x = ((x - lo) / (hi - lo)).nan_to_num(0.0).clamp(0, 1)
        out: torch.Tensor = make_grid(x, nrow=nrow, padding=_PADDING, pad_value=1.0)
        return out

    blocks = [grid(fake)]
    if real is not None:
        blocks.insert(0, grid(real))
        gap = torch.ones(3, 4 * _PADDING, blocks[0].shape[2])
        blocks.insert(1, gap)
    width = max(b.shape[2] for b in blocks)
    padded = [torch.nn.functional.pad(b, (0, width - b.shape[2]), value=1.0) for b in blocks]
    image = torch.cat(padded, dim=1)
    scale = -(-_MIN_GRID_WIDTH // width)  # ceiling division
    if scale > 1:
        image = image.repeat_interleave(scale, dim=1).repeat_interleave(scale, dim=2)
    return image


def save_sample_grid(
    path: str | os.PathLike[str],
    fake: torch.Tensor,
    real: torch.Tensor | None = None,
    *,
    data_range: tuple[float, float] = (-1.0, 1.0),
    nrow: int = 8,
) -> Path:
    """Write :func:`sample_grid` as a PNG, atomically; returns the path."""
    return _atomic_png(sample_grid(fake, real, data_range=data_range, nrow=nrow), Path(path))
