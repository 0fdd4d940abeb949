"""Pictures of a run for people: sample grids of real next to generated samples, and the
run's curves (losses, and what the probes saw of the discriminator).

Images go through torchvision's ``make_grid`` and ``_images.write_png`` (the golden
grids' writer too); 2-D data is drawn as a scatter plot rasterised into an image. The
curves, sequences (time series, audio: small line plots) and tables (a histogram per
feature) are drawn with matplotlib's object API
(a ``Figure`` on an Agg canvas, never ``pyplot``), imported only when a figure is drawn, so
that neither importing this module nor drawing touches a user's matplotlib backend or
state. Every file is written atomically (a temporary file in the same folder, then renamed).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torchvision.utils import make_grid

from pytest_gan._files import write_atomically
from pytest_gan._images import write_png
from pytest_gan.history import History

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from pytest_gan.run import GANRun

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
    return write_png(image, path)


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


#: Tables of up to this many features get a histogram per feature; longer rows, and
#: samples of three dimensions (``[N, T, C]`` or ``[N, C, T]``), are drawn as sequences.
_TABLE_FEATURES = 16
# Sequences drawn of each kind (real, generated), four to a row; histogram bins.
_SEQUENCES_SHOWN = 8
_HISTOGRAM_BINS = 30


def samples_kind(samples: torch.Tensor) -> str | None:
    """How :func:`save_sample_grid` draws ``samples``: ``"images"`` (``[N, C, H, W]``),
    ``"points"`` (``[N, 2]``), ``"table"`` (``[N, F]``, 3 to 16 features: a histogram
    per feature), ``"sequences"`` (``[N, T, C]`` or ``[N, C, T]``, or rows of more than
    16 values: a line per sample); None for anything else (volumes, single numbers)."""
    if samples.ndim == 4:
        return "images"
    if samples.ndim == 3:
        return "sequences"
    if samples.ndim == 2:
        features = samples.shape[1]
        if features == 2:
            return "points"
        if features > _TABLE_FEATURES:
            return "sequences"
        if features >= 3:
            return "table"
    return None


def _series(samples: torch.Tensor) -> np.ndarray[Any, Any]:
    """``[N, T]`` lines from sequences: the longer of a 3-D batch's two dimensions is time,
    and its first channel is drawn."""
    x = samples.detach().float().cpu()
    if x.ndim == 3:
        x = x[:, :, 0] if x.shape[1] >= x.shape[2] else x[:, 0, :]
    lines: np.ndarray[Any, Any] = x.numpy()
    return lines


def samples_figure(fake: torch.Tensor, real: torch.Tensor | None = None) -> Figure:
    """A matplotlib ``Figure`` (Agg canvas, 8x6 inches at 100 dpi) of samples that are not
    images nor points: for sequences, eight real samples (grey, top) above eight generated
    ones (red), each in its panel on shared axes; for a table, a histogram per feature (up
    to 16), real filled in grey under generated outlined in red, on shared bins. Non-finite
    values are left out. No ``pyplot``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    kind = samples_kind(fake)
    if kind not in ("sequences", "table"):
        raise ValueError(f"fake must be sequences or a table; got shape {list(fake.shape)}")
    with _plot_style():
        fig = Figure(figsize=_CURVES_SIZE, dpi=_CURVES_DPI)
        FigureCanvasAgg(fig)
        if kind == "sequences":
            _draw_sequences(fig, fake, real)
        else:
            _draw_table(fig, fake, real)
    return fig


def _draw_sequences(fig: Figure, fake: torch.Tensor, real: torch.Tensor | None) -> None:
    blocks = [("generated", fake, _FAKE_COLOUR)]
    if real is not None:
        blocks.insert(0, ("real", real, _REAL_COLOUR))
    per_row = 4
    rows_each = -(-_SEQUENCES_SHOWN // per_row)
    axes = fig.subplots(rows_each * len(blocks), per_row, sharex=True, sharey=True, squeeze=False)
    for b, (label, samples, colour) in enumerate(blocks):
        lines = _series(samples)[:_SEQUENCES_SHOWN]
        for i in range(rows_each * per_row):
            ax = axes[b * rows_each + i // per_row][i % per_row]
            if i < len(lines):
                values = lines[i]
                keep = np.isfinite(values)
                ax.plot(np.flatnonzero(keep), values[keep], color=colour, linewidth=1.2)
            ax.tick_params(labelsize=7)
            ax.grid(True, alpha=0.3)
        axes[b * rows_each][0].set_title(label, loc="left", fontsize=10)


def _draw_table(fig: Figure, fake: torch.Tensor, real: torch.Tensor | None) -> None:
    shown = min(fake.shape[1], _TABLE_FEATURES)
    per_row = 4
    axes = fig.subplots(-(-shown // per_row), per_row, squeeze=False)
    f = fake.detach().float().cpu().numpy()
    r = None if real is None else real.detach().float().cpu().numpy()
    for j, ax in enumerate(axes.flat):
        if j >= shown:
            ax.set_visible(False)
            continue
        generated = f[:, j][np.isfinite(f[:, j])]
        shown_real = None if r is None else r[:, j][np.isfinite(r[:, j])]
        finite = generated if shown_real is None else np.concatenate([generated, shown_real])
        ax.set_title(f"feature {j}", fontsize=8, loc="left")
        ax.tick_params(labelsize=7)
        if not finite.size:
            _say(ax, "no finite values")
            continue
        lo, hi = float(finite.min()), float(finite.max())
        bins = np.linspace(lo, hi if hi > lo else lo + 1.0, _HISTOGRAM_BINS + 1)
        if shown_real is not None:
            ax.hist(shown_real, bins, color=_REAL_COLOUR, label="real")
        ax.hist(
            generated,
            bins,
            histtype="step",
            color=_FAKE_COLOUR,
            linewidth=1.5,
            label="generated",
        )
        ax.set_yticks([])
    axes[0][0].legend(fontsize=7, loc="upper right")
    fig.subplots_adjust(hspace=0.5)


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
            f"fake must be images [N, C, H, W] or 2-D points [N, 2] (save_sample_grid also "
            f"draws tables and sequences); got shape {list(fake.shape)}"
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
    """Write :func:`sample_grid` as a PNG, atomically; returns the path. Sequences and
    tables (:func:`samples_kind`) are drawn by :func:`samples_figure` instead (800x600)."""
    if samples_kind(fake) in ("sequences", "table"):
        return _save_figure(samples_figure(fake, real), Path(path))
    return _atomic_png(sample_grid(fake, real, data_range=data_range, nrow=nrow), Path(path))


# Curves: figure size in inches at this many dots per inch (800x600 pixels), and how many
# moving-average windows span the run.
_CURVES_SIZE = (8.0, 6.0)
_CURVES_DPI = 100
# Fixed margins (fractions of the figure) that leave room for the title, the red notes of
# non-finite losses above the top panel and the legends beside the panels. matplotlib's
# constrained layout fits them by itself but draws the figure twice more to do it: saving
# a 200-step run's curves took 0.94 s with it against 0.59 s without (median of 6
# alternating pairs in one process, on a 2-core machine busy with another job).
_CURVES_MARGINS = {"left": 0.08, "right": 0.82, "top": 0.87, "bottom": 0.08, "hspace": 0.22}
_SMOOTHING_WINDOWS = 20
# The losses drawn (history column, colour); other losses a step returns are left out.
_LOSS_LINES = (("d_loss", "tab:blue"), ("g_loss", "tab:orange"))
# What the probes saw of D, all in [0, 1] whatever the loss: (probe key, legend, colour,
# marker). "{real}" is the real samples D was probed on (held out, or training samples
# when the data was too small to hold any out).
_PROBE_LINES = (
    ("d_acc_real", "accuracy,\n{real}", "tab:green", "o"),
    ("d_acc_fake", "accuracy,\nfakes", "tab:red", "s"),
    ("d_auc", "AUC, real\nvs fakes", "tab:purple", "^"),
    ("d_fake_p", "P(real)\nof fakes", "tab:brown", "v"),
)
# Drawn beside them where real samples were held out of training: D telling its training
# samples from unseen ones (1/2: alike; rising: D memorising them, discriminator-overfits).
_TRAIN_LINE = ("d_train_auc", "AUC, train\nvs {real}", "tab:orange", "D")
# Drawn instead where the probes hold no accuracy nor AUC: D's mean raw output.
_OUTPUT_LINES = (
    ("d_real", "{real}", "tab:green", "o"),
    ("d_fake", "fakes", "tab:red", "s"),
)


@contextmanager
def _plot_style() -> Iterator[None]:
    """matplotlib's default style while a figure is built and saved, whatever a user's
    matplotlibrc or style says; the user's settings are back on exit."""
    import matplotlib.style

    with matplotlib.style.context("default"):
        yield


def _moving_average(values: np.ndarray[Any, Any], window: int) -> np.ndarray[Any, Any]:
    """Centred moving average of ``window`` points, shrinking at the ends."""
    n = len(values)
    sums = np.concatenate([[0.0], np.cumsum(values, dtype=np.float64)])
    i = np.arange(n)
    lo = np.clip(i - window // 2, 0, n)
    hi = np.clip(i - window // 2 + window, 0, n)
    averaged: np.ndarray[Any, Any] = (sums[hi] - sums[lo]) / (hi - lo)
    return averaged


def _draw_losses(ax: Axes, history: History) -> None:
    steps = np.asarray(history["step"], dtype=np.float64)
    notes = []
    drawn = False
    for row, (key, colour) in enumerate(k for k in _LOSS_LINES if k[0] in history):
        values = np.asarray(history[key], dtype=np.float64)
        finite = np.isfinite(values)
        # A NaN in a column is also how a step that did not return this loss is recorded:
        # only the NaN from the first non-finite value on count as non-finite, infinities
        # always do. The history's event counts are exact even where rows were thinned.
        event = history.events.get(f"nonfinite:{key}")
        bad = np.isinf(values)
        if event is not None:
            bad |= np.isnan(values) & (steps >= event.first_step)
            count = event.count
            notes.append(
                f"{key} NaN/inf from step {event['first_step']} "
                f"({count} step{'s' if count != 1 else ''})"
            )
        x, y = steps[finite], values[finite]
        if len(y):
            drawn = True
            window = max(1, round(len(y) / _SMOOTHING_WINDOWS))
            ax.plot(x, y, color=colour, linewidth=0.7, alpha=0.35)
            label = key if window == 1 else f"{key},\n{window}-step\nmean"
            ax.plot(x, _moving_average(y, window), color=colour, linewidth=2.0, label=label)
        if bad.any():
            # At the top edge, whatever the finite losses' scale: x in data, y in axes.
            ax.plot(
                steps[bad],
                np.full(int(bad.sum()), 0.97 - 0.05 * row),
                linestyle="none",
                marker="x",
                markersize=5,
                color="red" if row == 0 else "darkred",
                transform=ax.get_xaxis_transform(),
                clip_on=False,
                label=f"{key}\nNaN/inf",
            )
    if not drawn:
        _say(ax, "no finite d_loss or g_loss")
    ax.set_title("losses", loc="left", fontsize=10)
    if notes:
        ax.set_title("\n".join(notes), loc="right", fontsize=9, color="red")
    ax.set_ylabel("loss")
    ax.grid(True, alpha=0.3)
    _legend(ax)


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) else math.nan


def _draw_probes(ax: Axes, probes: Sequence[Mapping[str, Any]]) -> None:
    steps = [float(p["step"]) for p in probes]
    held_out = all(p.get("held_out", True) for p in probes)
    real = "held-out real" if held_out else "real (train)"

    def column(key: str) -> list[float] | None:
        values = [_number(p.get(key)) for p in probes]
        return values if any(math.isfinite(v) for v in values) else None

    def draw(lines: Any) -> int:
        count = 0
        for key, label, colour, marker in lines:
            values = column(key)
            if values is not None:
                ax.plot(
                    steps,
                    values,
                    color=colour,
                    marker=marker,
                    markersize=4,
                    linewidth=1.5,
                    label=label.format(real=real),
                )
                count += 1
        return count

    drawn = draw(_PROBE_LINES + ((_TRAIN_LINE,) if held_out else ()))
    if drawn:
        ax.axhline(0.5, color="grey", linewidth=0.8, linestyle="--", label="chance")
        ax.set_ylim(-0.04, 1.04)
        ax.set_ylabel("D accuracy, AUC, P(real)")
    else:
        drawn = draw(_OUTPUT_LINES)
        if drawn:
            ax.set_ylabel("D's mean output")
    if not drawn:
        _say(ax, "no probes of the discriminator recorded")
    ax.set_title("discriminator, probed", loc="left", fontsize=10)
    ax.set_xlabel("step")
    ax.grid(True, alpha=0.3)
    _legend(ax)


def _say(ax: Axes, text: str) -> None:
    """An empty panel's note, in its middle."""
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="grey")
    ax.set_yticks([])


def _legend(ax: Axes) -> None:
    """A legend beside the axes (right), where it hides no curve."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, borderaxespad=0)


def _history_and_title(run: GANRun | History, title: str | None) -> tuple[History, str | None]:
    if isinstance(run, History):
        return run, title
    if title is None:
        title = f"{run.name}: {run.steps} steps, seed {run.seed}, {run.device}"
    return run.history, title


def curves_figure(run: GANRun | History, *, title: str | None = None) -> Figure:
    """A two-panel matplotlib ``Figure`` of a run's history (or of a bare
    :class:`History`), on an Agg canvas, 8x6 inches at 100 dpi.

    Top: ``d_loss`` and ``g_loss`` per step, raw (thin) under a centred moving average
    (bold), non-finite values as red crosses along the top edge with the first step they
    appeared at. Bottom: the probes' view of D: its accuracy on real and on fake samples,
    its AUC and the probability of being real it gives the fakes, and, where real samples
    were held out of training, the AUC of its training samples over those, where recorded (its
    mean raw output where none of those are). The title defaults to a run's spec name,
    steps, seed and device (none for a bare history). No ``pyplot``: a user's backend,
    figures and settings are left alone.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    history, title = _history_and_title(run, title)
    with _plot_style():
        fig = Figure(figsize=_CURVES_SIZE, dpi=_CURVES_DPI)
        fig.subplots_adjust(**_CURVES_MARGINS)
        FigureCanvasAgg(fig)
        ax_losses, ax_probes = fig.subplots(2, 1, sharex=True)
        _draw_losses(ax_losses, history)
        _draw_probes(ax_probes, history.probes)
        if title:
            fig.suptitle(title, fontsize=12)
    return fig


def save_curves(
    path: str | os.PathLike[str], run: GANRun | History, *, title: str | None = None
) -> Path:
    """Write :func:`curves_figure` as an 800x600 PNG, atomically; returns the path."""
    return _save_figure(curves_figure(run, title=title), Path(path))


def _save_figure(fig: Figure, path: Path) -> Path:
    """``fig`` as a PNG at ``path``, atomically, in matplotlib's default style."""

    def write(tmp: str) -> None:
        with _plot_style():
            fig.savefig(tmp, format="png", dpi=_CURVES_DPI)

    return write_atomically(path, write, suffix=".png")
