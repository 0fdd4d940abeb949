"""Make the pictures of docs/pitfalls/: real (top) against generated (bottom) samples of the
healthy reference and of each broken twin, 200 steps, seed 0.

    python docs/make_figures.py [NAME ...]
"""

from __future__ import annotations

import sys
from pathlib import Path

from fixtures.zoo import case
from pytest_gan import train
from pytest_gan.report import save_sample_grid

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
    "ring-mlp",
)
GRID = 32


def main(names: list[str]) -> None:
    for name in names or DEFAULT:
        c = case(name)
        run = train(c.spec(), seed=0)
        n = GRID if run.real(1).ndim == 4 else 1000
        path = save_sample_grid(
            HERE / f"{name}.png", run.samples(n), run.real(n), data_range=run.data_range
        )
        print(path)


if __name__ == "__main__":
    main(sys.argv[1:])
