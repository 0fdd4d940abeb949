"""Make the pictures of docs/pitfalls/: real (top) against generated (bottom) samples of the
healthy reference and of each broken twin, 200 steps, seed 0. For the checkpoint twins, the
trained generator's samples (top) against those of the generator reloaded through the
twin's save and load (bottom), for the same z. For conditional GANs, one row per label:
real samples of each class (top), generated ones of each label for the same z (bottom).
For WGAN-GP critics on 2-D data, the scatter plot of real (grey) and generated (red) points
is drawn over a map of the critic's gradient norm: the symptom of a critic that is not
Lipschitz shows there, not in the samples.

    python docs/make_figures.py [NAME ...]
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import torch
from torchvision.utils import save_image

from fixtures.zoo import case
from pytest_gan import GANRun, train
from pytest_gan.checks.lipschitz import interpolate_gradient_norms
from pytest_gan.report import save_curves, save_sample_grid, scatter_image

HERE = Path(__file__).parent / "pitfalls" / "img"
DEFAULT = (
    "shapes-dcgan",
    "output-range-mismatch",
    "data-not-normalized",
    "d-step-leaks-into-generator",
    "gradient-accumulation",
    "optimizer-misses-parameters",
    "non-finite-loss",
    "generator-not-learning",
    "blank-output",
    "mode-collapse",
    "discriminator-overpowers",
    "discriminator-too-weak",
    "discriminator-wrong-activation",
    "discriminator-overfits",
    "checkpoint-roundtrip-mismatch",
    "checkpoint-not-trained",
    "ring-mlp",
    "shapes-cgan",
    "conditioning-ignored",
    "ring-wgan-gp",
    "discriminator-not-lipschitz",
)
GRID = 32
#: Samples per label in the pictures of conditional GANs: one grid row per label.
PER_LABEL = 8
#: Gradient norms of the critic maps: white at 1 or below, full blue at this and above
#: (log scale); the twin's critic reaches 50-550 at 200 steps, the healthy one about 1.
MAP_NORM_MAX = 100.0


def reloaded_samples(run: GANRun, n: int) -> torch.Tensor:
    """Samples of the generator that the spec's save and load give back, for ``run``'s z."""
    save, load = run.spec.save_checkpoint, run.spec.load_checkpoint
    assert save is not None and load is not None
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "generator.pt"
        save(run.generator, path)
        reloaded = load(path).to(run.device)
    return replace(run, generator=reloaded).samples(n)


def by_label(run: GANRun, per_label: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``per_label`` real samples of each class and as many generated ones of each label,
    in label order. Every generated row uses the same z, so rows differ only by what the
    label does."""
    k = run.spec.num_classes
    assert k is not None
    x, y = run.real_with_labels(min(run.spec.source.size() or 512, 512))
    assert y is not None
    real = torch.cat([x[y == c][:per_label] for c in range(k)])
    fake = torch.cat([run.samples(per_label, labels=c) for c in range(k)])
    return real, fake


def critic_map(run: GANRun, n: int) -> torch.Tensor:
    """``scatter_image`` of ``n`` real and generated points over a map of the critic's
    gradient norm ||grad_x D(x)|| at each pixel, in the scatter plot's own view."""
    real, fake = run.real(n), run.samples(n)
    image = scatter_image(fake, real)
    size = image.shape[1]
    every = torch.cat([real, fake]).float().cpu()
    every = every[torch.isfinite(every).all(dim=1)]
    lo, hi = every.min(dim=0).values, every.max(dim=0).values
    centre, half = (lo + hi) / 2, ((hi - lo).max() / 2).clamp_min(1e-6) * 1.05
    steps = torch.linspace(-1, 1, size)
    rows, cols = torch.meshgrid(-steps, steps, indexing="ij")
    points = torch.stack([cols, rows], dim=-1).reshape(-1, 2) * half + centre
    points = points.to(run.device)
    norms = interpolate_gradient_norms(
        run.discriminator, points, points, alpha=torch.ones(len(points))
    )
    depth = (norms.float().cpu().log10() / torch.log10(torch.tensor(MAP_NORM_MAX))).clamp(0, 1)
    heat = torch.stack([1 - depth, 1 - depth, torch.ones_like(depth)]).reshape(3, size, size)
    background = (image == 1).all(dim=0)
    return torch.where(background, heat, image)


def main(names: list[str]) -> None:
    for name in names or DEFAULT:
        c = case(name)
        # D memorises small data only after many passes over it: the overfitting twin is
        # shown as it is judged, trained on to 4x its steps
        # (docs/pitfalls/discriminator-overfits.md).
        max_steps = 800 if name == "discriminator-overfits" else None
        run = train(c.spec(), seed=0, max_steps=max_steps)
        n = GRID if run.real(1).ndim == 4 else 1000
        nrow = 8
        if name == "discriminator-overfits":
            print(save_curves(HERE / f"{name}-curves.png", run))
        if run.spec.loss == "wgan-gp" and run.real(1).ndim == 2:
            save_image(critic_map(run, n), HERE / f"{name}.png")
            print(HERE / f"{name}.png")
            continue
        if run.spec.save_checkpoint is not None:
            top, bottom = run.samples(n), reloaded_samples(run, n)
        elif run.conditional:
            (top, bottom), nrow = by_label(run, PER_LABEL), PER_LABEL
        else:
            top, bottom = run.real(n), run.samples(n)
        path = save_sample_grid(
            HERE / f"{name}.png", bottom, top, data_range=run.data_range, nrow=nrow
        )
        print(path)


if __name__ == "__main__":
    main(sys.argv[1:])
