"""Golden sample grids: the images a generator makes from fixed latents, as one 8-bit PNG
grid, compared pixel by pixel with the stored one (torch imported only to draw)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_gan._images import quantize
from pytest_gan.baseline.store import UPDATE_HINT

if TYPE_CHECKING:
    import torch

#: Largest difference, in 8-bit levels, that a pixel of a golden sample grid may show
#: against the stored PNG. Unchanged inference code gives the same outputs up to float
#: rounding, which quantisation to 8 bits mostly hides: the shapes-dcgan generator's grid
#: of 64 samples (200 steps) was identical under 1 and 2 CPU threads, and in float64 against
#: float32. One level is left for rounding that lands on a level boundary on other hardware
#: (not measured on a GPU here), one more for margin. A single extra training step moved
#: 6% of the grid's pixels by more than 2 levels (at most 15).
GOLDEN_TOLERANCE = 2

#: Samples per row of a golden sample grid.
GOLDEN_NROW = 8


def generate(generator: Any, z: Any, labels: Any) -> torch.Tensor:
    import torch

    if not callable(generator):
        raise TypeError(
            f"generator must be an nn.Module or a callable; got {type(generator).__name__}"
        )
    if not isinstance(z, torch.Tensor) or not z.is_floating_point() or z.ndim < 2:
        raise TypeError("z must be a floating-point Tensor of latents [N, ...]")
    module = generator if isinstance(generator, torch.nn.Module) else None
    was_training = module.training if module is not None else False
    if module is not None:
        module.eval()
    try:
        with torch.no_grad():
            from pytest_gan.losses import g_samples  # imports torch: only to draw

            out = g_samples(generator(z) if labels is None else generator(z, labels))
    finally:
        if module is not None:
            module.train(was_training)
    if not isinstance(out, torch.Tensor) or out.ndim != 4:
        shape = list(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(
            f"check_samples compares images [N, C, H, W]; the generator returned {shape}"
        )
    return out.detach().float().cpu()


def sample_grid(images: torch.Tensor, data_range: tuple[float, float]) -> torch.Tensor:
    from torchvision.utils import make_grid

    lo, hi = (float(v) for v in data_range)
    if not hi > lo:
        raise ValueError(f"data_range must be (low, high) with low < high; got {data_range!r}")
    unit = ((images - lo) / (hi - lo)).nan_to_num(0.0).clamp(0, 1)
    grid: torch.Tensor = make_grid(unit, nrow=GOLDEN_NROW, padding=2, pad_value=1.0)
    return quantize(grid)


def golden_failure(
    path: Path,
    summary: str,
    rows: Sequence[tuple[str, Any, str]],
    evidence: dict[str, Any],
    folder: Path,
) -> Exception:
    from pytest_gan.errors import fail

    return fail(
        "baseline-regression",
        summary,
        rows,
        {**evidence, "golden": str(path), "artifacts": str(folder)},
        detail=f"Stored grid: {path}. Obtained grid and difference: {folder}. If the change "
        f"was meant, rewrite the grid with pytest {UPDATE_HINT} and commit it.",
    )
