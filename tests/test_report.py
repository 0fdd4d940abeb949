"""Sample grids: real above generated, 2-D data as a scatter, written atomically."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from PIL import Image

from pytest_gan.report import sample_grid, save_sample_grid, scatter_image


def test_an_image_grid_puts_real_above_generated_in_the_data_range() -> None:
    real = torch.full((8, 1, 16, 16), 1.0)  # white in [-1, 1]
    fake = torch.full((8, 1, 16, 16), -1.0)  # black
    grid = sample_grid(fake, real, nrow=8)
    assert grid.shape[0] == 3 and grid.min() >= 0 and grid.max() <= 1
    top, bottom = grid[:, : grid.shape[1] // 3], grid[:, -grid.shape[1] // 3 :]
    # White padding separates the images, so the black block's mean is not 0.
    assert top.mean() > 0.95 and bottom.mean() < 0.3
    # Small images are scaled up so that they can be told apart at natural size.
    assert grid.shape[2] >= 512


def test_values_outside_the_range_and_nan_are_clamped() -> None:
    fake = torch.tensor([float("nan"), 5.0, -5.0, 0.0]).reshape(4, 1, 1, 1).expand(4, 1, 8, 8)
    grid = sample_grid(fake.contiguous(), data_range=(-1.0, 1.0))
    assert torch.isfinite(grid).all() and grid.min() >= 0 and grid.max() <= 1


def test_two_dimensional_points_become_a_scatter() -> None:
    real = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    fake = torch.tensor([[1.0, 0.0], [float("inf"), 0.0]])
    image = sample_grid(fake, real)
    assert image.shape == (3, 320, 320)
    red = (image[0] > 0.8) & (image[1] < 0.2)
    grey = (image[0] - 0.55).abs().lt(0.01) & (image[1] - 0.55).abs().lt(0.01)
    assert red.any() and grey.any()
    # The fake point at (1, 0) sits at the bottom right, the real (1, 1) at the top right.
    rows, cols = red.nonzero(as_tuple=True)
    assert rows.float().mean() > 160 and cols.float().mean() > 160
    assert scatter_image(torch.full((3, 2), float("nan"))).min() == 1.0


def test_save_writes_a_png_atomically(tmp_path: Path) -> None:
    path = save_sample_grid(tmp_path / "deep" / "grid.png", torch.zeros(4, 3, 8, 8))
    with Image.open(path) as image:
        assert image.format == "PNG"
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    assert [p.name for p in path.parent.iterdir()] == ["grid.png"]


def test_bad_samples_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="fake must be images"):
        save_sample_grid(tmp_path / "grid.png", torch.zeros(4, 3))
    assert list(tmp_path.iterdir()) == []


def test_a_save_that_fails_midway_keeps_the_previous_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = save_sample_grid(tmp_path / "grid.png", torch.zeros(4, 3, 8, 8))
    before = path.read_bytes()

    def half_written(image: torch.Tensor, fp: str, format: str) -> None:
        Path(fp).write_bytes(b"\x89PNG partial")
        raise OSError("disk full")

    monkeypatch.setattr("pytest_gan.report.save_image", half_written)
    with pytest.raises(OSError, match="disk full"):
        save_sample_grid(path, torch.ones(4, 3, 8, 8))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["grid.png"]
