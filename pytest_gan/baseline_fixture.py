"""The ``gan_baseline`` fixture and where each test's baseline file lives: the plugin's side
of the baselines (it fails a test with ``pytest.fail``; the engine in
``pytest_gan.baseline`` only raises)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_gan._args import check_int
from pytest_gan._files import NAME_MAX, SAFE, safe_name
from pytest_gan._images import read_png, write_png
from pytest_gan.baseline.compare import assert_matches_baseline, check_compatible
from pytest_gan.baseline.golden import GOLDEN_TOLERANCE, generate, golden_failure, sample_grid
from pytest_gan.baseline.store import (
    MIN_SEEDS,
    UPDATE_HINT,
    Baseline,
    BaselineFileError,
    BaselineMismatchError,
    describe_seeds,
    train_seeds,
    warn_if_blind,
)

if TYPE_CHECKING:
    import torch

    from pytest_gan.run import GANRun


def baseline_path(module: Path, nodeid: str) -> Path:
    """Where the baseline of test ``nodeid`` (in the test module at ``module``) lives:
    ``<module's folder>/<module name>/<test name>.json``.

    The test name is the node id after the module (``TestClass.test_x[param]``), kept
    readable in ``[A-Za-z0-9_.~[]-]``; when that loses information (a replaced character)
    or runs past ``NAME_MAX``, a hash of the whole id is appended, so two tests never share
    a file.
    """
    local = nodeid.split("::", 1)[1] if "::" in nodeid else nodeid
    head, bracket, params = local.partition("[")
    readable = head.replace("::", ".") + bracket + params
    name = safe_name(readable, local, limit=NAME_MAX - len(".json"))
    return module.parent / module.stem / f"{name}.json"


class BaselineFixture:
    """The ``gan_baseline`` fixture: ``gan_baseline.check(run)`` compares ``run`` with
    this test's stored baseline (``gan_baseline.path``), measuring it first when it is
    missing or when pytest runs with ``--gan-update-baselines``."""

    def __init__(
        self,
        path: Path,
        *,
        update: bool,
        seeds: int,
        time_limit: float | None = None,
        on_train: Callable[[GANRun], None] | None = None,
        artifacts: Callable[[], Path] | None = None,
    ) -> None:
        self.path = path
        self.update = update
        self.seeds = seeds
        self._time_limit = time_limit
        self._on_train = on_train
        self._artifacts = artifacts

    def __repr__(self) -> str:
        return f"<gan_baseline {self.path} update={self.update} seeds={self.seeds}>"

    def load(self) -> Baseline:
        """This test's baseline as stored."""
        return Baseline.load(self.path)

    def check(self, run: GANRun, *, seeds: int | None = None) -> None:
        """Compare ``run`` with this test's baseline (``assert_matches_baseline``).

        When the file is missing, or pytest runs with ``--gan-update-baselines``, the
        baseline is measured instead: ``run``'s spec trained for ``run``'s steps on its
        device, on ``seeds`` seeds starting at ``run.seed`` (``run`` itself is the first
        of them; default ``--gan-baseline-seeds``), and written atomically. A missing file
        then fails the test, saying it was created and should be committed; an update
        passes.
        """
        __tracebackhide__ = True

        from pytest_gan.run import require_instrumented, require_run

        require_run(run, "gan_baseline.check")
        require_instrumented(run, "gan_baseline.check")
        count = self.seeds if seeds is None else seeds
        check_int(count, "gan_baseline.check: seeds", least=MIN_SEEDS)
        if self.path.exists() and not self.update:
            try:
                stored = Baseline.load(self.path)
                check_compatible(run, stored)
            except (BaselineFileError, BaselineMismatchError) as exc:
                problem: Exception | None = exc
            else:
                problem = None
            if problem is not None:
                # The message is the whole story; the frames that read the file are not.
                pytest.fail(f"{type(problem).__name__}: {problem}", pytrace=False)
            assert_matches_baseline(run, stored)
            return
        runs = train_seeds(
            run.spec,
            steps=run.steps,
            seeds=count,
            run=run,
            time_limit=self._time_limit,
            on_train=self._on_train,
        )
        baseline = Baseline.from_runs(runs).save(self.path)
        # Pointed at the test's line that called check.
        warn_if_blind(baseline, runs)
        if self.update:
            return
        pytest.fail(
            f"The baseline of this test did not exist; it was created at {self.path}, "
            f"measured on {len(baseline.seeds)} seeds ({describe_seeds(baseline.seeds)}) at "
            f"{run.steps} steps on {run.device.type}. Commit it; later runs are compared with "
            "it. This run fails so that a baseline is never made unnoticed (on CI, say).",
            pytrace=False,
        )

    def samples_path(self, name: str | None = None) -> Path:
        """The golden sample grid of this test (``name`` tells several apart)."""
        stem = self.path.name.removesuffix(".json")
        if name is not None:
            if not isinstance(name, str) or not name or SAFE.search(name):
                raise ValueError(
                    f"name must be a non-empty string of [A-Za-z0-9_.~[]-]; got {name!r}"
                )
            stem = f"{stem}-{name}"
        return self.path.with_name(f"{stem}.png")

    def check_samples(
        self,
        generator: Any,
        z: torch.Tensor,
        *,
        labels: torch.Tensor | None = None,
        data_range: tuple[float, float] = (-1.0, 1.0),
        tolerance: int = GOLDEN_TOLERANCE,
        name: str | None = None,
    ) -> None:
        """Compare the images ``generator`` makes from the fixed latents ``z`` (and
        ``labels``, for a conditional generator) with this test's stored PNG grid.

        For inference code: load a checkpoint as production does and check that the same
        ``z`` still gives the same pictures. A module is sampled in eval mode without
        gradients (its mode is restored); images ``[N, C, H, W]`` in ``data_range`` become
        one 8-bit grid. Any pixel more than ``tolerance`` levels from the stored grid fails
        the test (pitfall ``baseline-regression``), and the obtained grid and a diff image
        are written to this test's artifact folder. A missing PNG is written and fails the
        test; ``--gan-update-baselines`` rewrites it and passes.
        """
        __tracebackhide__ = True
        import torch

        check_int(tolerance, "tolerance", least=0, why=" (8-bit levels)")
        path = self.samples_path(name)
        obtained = sample_grid(generate(generator, z, labels), data_range)
        if self.update or not path.exists():
            write_png(obtained, path)
            if self.update:
                return
            pytest.fail(
                f"The golden samples of this test did not exist; they were written to {path} "
                f"({z.shape[0]} samples). Look at them, then commit the file; later runs are "
                "compared with it.",
                pytrace=False,
            )
        try:
            stored = read_png(path)
        except (OSError, ValueError) as exc:
            problem: str | None = f"{exc}".strip().splitlines()[0]
        else:
            problem = None
        if problem is not None:
            pytest.fail(
                f"BaselineFileError: the golden sample file {path} is not a readable PNG "
                f"({problem}). Restore it from version control, or delete it (or run pytest "
                f"with {UPDATE_HINT}) to write it again.",
                pytrace=False,
            )
        if stored.shape != obtained.shape:
            folder = self._write_obtained(path, obtained, None)
            raise golden_failure(
                path,
                f"The golden sample grid changed size: {list(obtained.shape[1:])} pixels "
                f"against {list(stored.shape[1:])} stored (a different sample count, image "
                "size or channel count).",
                [
                    (
                        "grid size (height, width)",
                        str(list(obtained.shape[1:])),
                        str(list(stored.shape[1:])),
                    )
                ],
                {"size": list(obtained.shape[1:]), "stored_size": list(stored.shape[1:])},
                folder,
            )
        diff = (obtained.to(torch.int16) - stored.to(torch.int16)).abs()
        largest = int(diff.max())
        if largest <= tolerance:
            return
        share = float((diff > tolerance).any(dim=0).double().mean())
        folder = self._write_obtained(path, obtained, diff)
        raise golden_failure(
            path,
            f"The generator's samples for the fixed z differ from the golden grid: "
            f"{share:.1%} of its pixels moved by more than {tolerance} levels (at most "
            f"{largest}).",
            [
                ("largest pixel difference (8-bit levels)", largest, f"<= {tolerance}"),
                ("share of pixels beyond the tolerance", share, "0"),
                ("mean pixel difference (levels)", float(diff.double().mean()), "about 0"),
            ],
            {"largest": largest, "share": share, "tolerance": tolerance},
            folder,
        )

    def _write_obtained(
        self, path: Path, obtained: torch.Tensor, diff: torch.Tensor | None
    ) -> Path:
        import tempfile

        folder = self._artifacts() if self._artifacts is not None else Path(tempfile.mkdtemp())
        stem = path.name.removesuffix(".png")
        write_png(obtained, folder / f"{stem}.obtained.png")
        if diff is not None:
            # The difference stretched to the full range, so a one-level change shows.
            scaled = diff.amax(dim=0, keepdim=True).float() * (255 / max(int(diff.max()), 1))
            write_png(
                scaled.round().to(obtained.dtype).expand(3, -1, -1), folder / f"{stem}.diff.png"
            )
        return folder
