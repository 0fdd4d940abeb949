"""The pictures and failure records a smoke spec leaves in its artifact folder, and the
pytest-html extras that show them."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from pytest_gan._files import write_json_atomically
from pytest_gan.session import artifact_dir_for
from pytest_gan.smoke.items import SPEC_FIXTURE
from pytest_gan.smoke.verdicts import Verdict

# -- artifacts ------------------------------------------------------------------------

#: Samples of each kind (real, generated) in a spec's ``samples.png``: an 8 x 8 grid of
#: images, a scatter plot of points (dense enough to show a ring's modes) or histograms of
#: a table's features, or eight sequences.
GRID_SAMPLES = 64
SCATTER_POINTS = 1000
SEQUENCES = 8
#: File names in a spec's artifact folder.
SAMPLES_PNG = "samples.png"
CURVES_PNG = "curves.png"


def smoke_artifact_dir(root: Path, collector: str, spec: str) -> Path:
    """A spec's folder: ``<root>/<conftest dir>/gan-smoke/<spec id>``, each part made safe.

    Parts that had to change to be safe get a hash (see ``artifact_dir_for``), so two
    specs never share a folder; pytest-xdist workers write identical files atomically.
    """
    folder = root
    for part in [*collector.split("/"), spec or SPEC_FIXTURE]:
        if part:
            folder = artifact_dir_for(folder, part)
    return folder


def write_run_artifacts(run: Any, folder: Path) -> list[Path]:
    """``samples.png`` (real above generated; 2-D data as a scatter plot, tables as a
    histogram per feature, sequences as small line plots) and
    ``curves.png`` (losses and the discriminator over steps) of a smoke run."""
    from pytest_gan.report import samples_kind, save_curves, save_sample_grid

    folder.mkdir(parents=True, exist_ok=True)
    written = [save_curves(folder / CURVES_PNG, run)]
    real = run.real(2)
    kind = samples_kind(real)
    if (kind == "images" and real.shape[1] in (1, 3)) or kind in ("points", "table", "sequences"):
        n = {"images": GRID_SAMPLES, "sequences": SEQUENCES}.get(kind or "", SCATTER_POINTS)
        n = run.sample_count(n)
        grid = save_sample_grid(
            folder / SAMPLES_PNG, run.samples(n), run.real(n), data_range=run.data_range
        )
        written.append(grid)
    return written


def record_failure(folder: Path, verdict: Verdict) -> list[str]:
    """For a failed (or expectedly failed) smoke item: its evidence as ``<check>.json`` in
    the spec's folder, and the lines of the report section that point at the files."""
    if verdict.outcome not in ("fail", "expected", "missed"):
        return []
    folder.mkdir(parents=True, exist_ok=True)
    evidence = folder / f"{verdict.check}.json"
    write_json_atomically(evidence, verdict.to_json())
    lines = [f"evidence: {evidence}"]
    for name, what in ((SAMPLES_PNG, "real vs generated samples"), (CURVES_PNG, "curves")):
        if (folder / name).exists():
            lines.append(f"{what}: {folder / name}")
    return lines


#: What a smoke item's pytest-html extras are called.
HTML_TITLES = {SAMPLES_PNG: "samples (real above, generated below)", CURVES_PNG: "curves"}


def html_extras(folder: Path | None, verdict: Verdict) -> list[dict[str, Any]]:
    """A smoke item's extras for pytest-html: its spec's sample grid and curves, embedded
    as base64 PNGs, and, for a check that failed (or raised, or missed what its marker
    expects), the verdict with its evidence as JSON. Called only when pytest-html is
    active (``--html``), so its ``extras`` module can be imported: it builds each extra
    in the form the installed version reads."""
    from pytest_html import extras  # type: ignore[import-untyped]

    found: list[dict[str, Any]] = []
    if folder is not None:
        for name, title in HTML_TITLES.items():
            path = folder / name
            if path.is_file():
                content = base64.b64encode(path.read_bytes()).decode("ascii")
                found.append(extras.png(content, name=title))
    if verdict.outcome in ("fail", "expected", "missed", "error"):
        found.append(extras.json(verdict.to_json(), name=f"evidence: {verdict.pitfall or 'error'}"))
    return found
