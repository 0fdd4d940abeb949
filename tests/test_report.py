"""Sample grids: real above generated, 2-D data as a scatter, written atomically; the
curves of a run (losses, probes of D) as a PNG, drawn without pyplot."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from pytest_gan import GANRun, History, TrainContext, train
from pytest_gan.report import (
    curves_figure,
    sample_grid,
    samples_kind,
    save_curves,
    save_sample_grid,
    scatter_image,
)
from pytest_gan.training import builtin_step
from tests.tiny import gaussian, tiny_spec


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


@pytest.mark.parametrize(
    ("shape", "kind"),
    [
        ((5, 1, 8, 8), "images"),
        ((5, 2), "points"),
        ((5, 3), "table"),
        ((5, 16), "table"),
        ((5, 17), "sequences"),
        ((5, 24, 1), "sequences"),
        ((5, 1, 1024), "sequences"),
        ((5, 1, 4, 4, 4), None),
        ((5,), None),
    ],
)
def test_samples_are_drawn_by_their_kind(shape: tuple[int, ...], kind: str | None) -> None:
    assert samples_kind(torch.zeros(shape)) == kind


def _drawn(path: Path) -> torch.Tensor:
    """The PNG at ``path`` as an RGB ``[H, W, 3]`` tensor in [0, 1]."""
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size == (800, 600)
        return torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.float32) / 255)


def _red(pixels: torch.Tensor) -> torch.Tensor:
    return (pixels[..., 0] > 0.7) & (pixels[..., 1] < 0.3) & (pixels[..., 2] < 0.3)


def _grey(pixels: torch.Tensor) -> torch.Tensor:
    return ((pixels - 0.55).abs() < 0.03).all(dim=-1)


def test_sequences_are_drawn_real_above_generated(tmp_path: Path) -> None:
    t = torch.linspace(0, 6.28, 24)
    real = torch.sin(t).reshape(1, 24, 1).expand(8, 24, 1)  # [N, T, C]
    fake = torch.cos(t).reshape(1, 24, 1).expand(8, 24, 1).clone()
    fake[0, 3, 0] = float("nan")  # left out, not drawn as a gap in the figure's scale
    pixels = _drawn(save_sample_grid(tmp_path / "samples.png", fake, real))
    red, grey = _red(pixels), _grey(pixels)
    assert red.any() and grey.any()
    rows_red, _ = red.nonzero(as_tuple=True)
    rows_grey, _ = grey.nonzero(as_tuple=True)
    assert rows_grey.float().mean() < 300 < rows_red.float().mean()
    # Channels first (a 1-D convolution's [N, C, T]) is read the same way.
    channels_first = save_sample_grid(
        tmp_path / "c.png", fake.transpose(1, 2), real.transpose(1, 2)
    )
    assert _red(_drawn(channels_first)).any()


def test_a_table_gets_a_histogram_per_feature(tmp_path: Path) -> None:
    real = torch.randn(500, 5)
    fake = torch.randn(500, 5) + 3
    fake[:, 4] = float("nan")  # a feature with no finite generated value
    pixels = _drawn(save_sample_grid(tmp_path / "samples.png", fake, real))
    assert _red(pixels).any() and _grey(pixels).any()
    # Only generated samples: drawn alone.
    assert _red(_drawn(save_sample_grid(tmp_path / "alone.png", fake))).any()


def test_the_smoke_artifacts_of_a_sequence_gan_include_its_samples(tmp_path: Path) -> None:
    from benchmarks.trial_outside_zoo_5 import rcgan
    from pytest_gan.smoke.artifacts import SAMPLES_PNG, write_run_artifacts

    run = train(rcgan(), steps=2, seed=0)
    written = write_run_artifacts(run, tmp_path)
    assert tmp_path / SAMPLES_PNG in written
    assert _grey(_drawn(tmp_path / SAMPLES_PNG)).any()


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
        save_sample_grid(tmp_path / "grid.png", torch.zeros(4, 1, 4, 4, 4))  # volumes
    assert list(tmp_path.iterdir()) == []


def test_a_save_that_fails_midway_keeps_the_previous_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = save_sample_grid(tmp_path / "grid.png", torch.zeros(4, 3, 8, 8))
    before = path.read_bytes()

    def half_written(image: Any, fp: str, format: str | None = None, **params: Any) -> None:
        Path(fp).write_bytes(b"\x89PNG partial")
        raise OSError("disk full")

    # Pillow writes every PNG (pytest_gan._images.write_png): its save fails midway.
    monkeypatch.setattr("PIL.Image.Image.save", half_written)
    with pytest.raises(OSError, match="disk full"):
        save_sample_grid(path, torch.ones(4, 3, 8, 8))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["grid.png"]


# -- curves ------------------------------------------------------------------------------

NAN_FROM = 12


def _nan_from_step_12(ctx: TrainContext, batch: Any) -> dict[str, Any]:
    out: dict[str, Any] = builtin_step(ctx, batch)
    if ctx.step >= NAN_FROM:
        out["d_loss"] = math.nan
    return out


@pytest.fixture(scope="module")
def nan_run() -> GANRun:
    """A short real run whose D loss reads NaN from step 12 on (its training is sound)."""
    return train(tiny_spec(train_step=_nan_from_step_12, name="tiny-nan"), steps=30, seed=3)


def _labels(ax: Any) -> list[str]:
    return [str(label) for label in ax.get_legend_handles_labels()[1]]


def test_save_curves_writes_an_800x600_png_of_the_run(tmp_path: Path) -> None:
    run = train(tiny_spec(name="tiny"), steps=30, seed=1)
    path = save_curves(tmp_path / "deep" / "curves.png", run)
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size == (800, 600)
    assert [p.name for p in path.parent.iterdir()] == ["curves.png"]
    fig = curves_figure(run.history)
    losses, probes = fig.axes
    assert any(label.startswith("d_loss") for label in _labels(losses))
    assert any(label.startswith("g_loss") for label in _labels(losses))
    assert not any("NaN" in label for label in _labels(losses))
    # The probe lines, one point per probe; BCE logits also give P(real) of the fakes.
    probe_labels = " ".join(_labels(probes))
    for expected in ("accuracy,\nheld-out real", "accuracy,\nfakes", "AUC", "P(real)"):
        assert expected in probe_labels
    assert len(probes.get_lines()[0].get_xdata()) == len(run.history.probes)
    assert probes.get_ylabel() == "D accuracy, AUC, P(real)"


def test_the_train_over_held_out_auc_is_drawn_only_where_samples_were_held_out() -> None:
    held = train(tiny_spec(name="tiny"), steps=10, seed=1)  # 1,024 samples: 256 held out
    assert "AUC, train\nvs held-out real" in _labels(curves_figure(held).axes[1])
    small = train(tiny_spec(data=gaussian(48), name="tiny"), steps=10, seed=1)  # none
    assert not any(
        label.startswith("AUC, train") for label in _labels(curves_figure(small).axes[1])
    )


def test_the_title_names_the_spec_steps_seed_and_device() -> None:
    run = train(tiny_spec(name="tiny"), steps=3, seed=7)
    assert curves_figure(run).get_suptitle() == f"tiny: 3 steps, seed 7, {run.device}"
    assert curves_figure(run, title="mine").get_suptitle() == "mine"
    assert curves_figure(run.history).get_suptitle() == ""


def test_non_finite_losses_are_marked_and_noted_not_dropped(
    nan_run: GANRun, tmp_path: Path
) -> None:
    path = save_curves(tmp_path / "curves.png", nan_run)
    with Image.open(path) as image:
        assert image.size == (800, 600)
    losses = curves_figure(nan_run.history).axes[0]
    marked = [line for line in losses.get_lines() if line.get_label() == "d_loss\nNaN/inf"]
    assert len(marked) == 1
    assert list(marked[0].get_xdata()) == list(range(NAN_FROM, 30))
    assert f"d_loss NaN/inf from step {NAN_FROM}" in losses.get_title(loc="right")
    # The finite part of the D loss (12 steps: too few to average) is still drawn.
    assert "d_loss" in _labels(losses)


def test_a_loss_a_step_did_not_return_is_not_marked_non_finite() -> None:
    history = History()
    for step in range(40):
        row = {"d_loss": 1.0} if step % 2 else {"d_loss": 1.0, "g_loss": 0.5}
        history.append(step, row)
    history.append(40, {"d_loss": math.inf, "g_loss": 0.5})
    losses = curves_figure(history).axes[0]
    assert "g_loss\nNaN/inf" not in _labels(losses)
    marked = [line for line in losses.get_lines() if line.get_label() == "d_loss\nNaN/inf"]
    assert [list(line.get_xdata()) for line in marked] == [[40.0]]


def test_a_history_with_nothing_finite_nor_probes_still_draws(tmp_path: Path) -> None:
    history = History()
    for step in range(5):
        history.append(step, {"d_loss": math.nan, "g_loss": math.nan})
    path = save_curves(tmp_path / "curves.png", history, title="all NaN")
    with Image.open(path) as image:
        assert image.size == (800, 600)
    probes = curves_figure(history).axes[1]
    assert "no probes" in probes.texts[0].get_text()


def test_probes_without_accuracies_show_d_s_mean_output() -> None:
    history = History()
    history.append(0, {"d_loss": 1.0, "g_loss": 1.0})
    history.probes = [
        {"step": s, "d_real": 2.0 - s, "d_fake": -1.0, "samples": None} for s in (0, 1)
    ]
    probes = curves_figure(history).axes[1]
    assert probes.get_ylabel() == "D's mean output"
    assert _labels(probes) == ["held-out real", "fakes"]


def test_curves_leave_matplotlib_s_global_state_alone(tmp_path: Path) -> None:
    code = """if True:
        import sys
        import pytest_gan.report as report
        assert "matplotlib" not in sys.modules, "importing the report imported matplotlib"
        import matplotlib
        matplotlib.rcParams["axes.facecolor"] = "black"
        history = report.History()
        history.append(0, {"d_loss": 1.0, "g_loss": float("nan")})
        report.save_curves(sys.argv[1], history)
        assert "matplotlib.pyplot" not in sys.modules, "drawing imported pyplot"
        assert matplotlib.rcParams["axes.facecolor"] == "black", "the user's rcParams changed"
    """
    path = tmp_path / "curves.png"

    completed = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=False
    )

    assert completed.returncode == 0, completed.stderr
    with Image.open(path) as image:
        assert image.size == (800, 600)
