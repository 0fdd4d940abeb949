"""Image grids to 8-bit PNG files and back: the one writer behind the report's pictures and
the golden sample grids (torch and Pillow imported only when used)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pytest_gan._files import write_atomically

if TYPE_CHECKING:
    import torch


def quantize(image: torch.Tensor) -> torch.Tensor:
    """A ``[C, H, W]`` image in [0, 1] as 8-bit values, rounded as torchvision's
    ``save_image`` rounds (a grid and its PNG agree exactly)."""
    import torch

    return (image * 255 + 0.5).clamp(0, 255).to(torch.uint8)


# PNGs go through Pillow (torchvision's own dependency) rather than torchvision.io, whose
# image codecs warn that they are deprecated: an error under filterwarnings = error.
def write_png(image: torch.Tensor, path: Path) -> Path:
    """Write a ``[C, H, W]`` image (8-bit, or floats in [0, 1], quantized) as a PNG,
    atomically; one channel is written as three, as ``make_grid`` would. Returns the
    path."""
    import torch
    from PIL import Image

    pixels = image if image.dtype == torch.uint8 else quantize(image)
    if pixels.shape[0] == 1:
        pixels = pixels.expand(3, -1, -1)
    picture = Image.fromarray(pixels.permute(1, 2, 0).to("cpu").contiguous().numpy())

    def write(tmp: str) -> None:
        picture.save(tmp, format="PNG")

    return write_atomically(path, write, suffix=".png")


def read_png(path: Path) -> torch.Tensor:
    """An image file as ``[3, H, W]`` uint8 (grey and RGBA converted to RGB)."""
    import numpy as np
    import torch
    from PIL import Image

    with Image.open(path) as picture:
        pixels = np.array(picture.convert("RGB"))
    return torch.from_numpy(pixels).permute(2, 0, 1).contiguous()
