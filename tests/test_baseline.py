"""Regression baselines: the band, the file, ``assert_matches_baseline``, and the
``gan_baseline`` fixture's whole cycle through ``pytester``."""

from __future__ import annotations

import glob
import json
import math
import warnings
from pathlib import Path
from typing import Any

import pytest

# pytester restores sys.modules after every in-process run, so whatever a run imports first
# would be evicted and imported again by the next run, which torch does not survive.
import torch
from hypothesis import given
from hypothesis import strategies as st

import pytest_gan
from pytest_gan import GANAssertionError, GANRun, train
from pytest_gan.baseline import (
    DEFAULT_SEEDS,
    FIGURES,
    FLOOR_SHARE,
    MIN_SEEDS,
    Baseline,
    BaselineFileError,
    BaselineMismatchError,
    GANBaselineWarning,
    assert_matches_baseline,
    band_factor,
    compare,
    summarize,
    t_quantile,
    untrained_inside,
)
from pytest_gan.baseline_fixture import NAME_MAX, baseline_path
from pytest_gan.session import parse_seeds
from tests.tiny import tiny_spec

#: Steps of the tiny GAN's runs: at 60 the healthy generator has moved well away from its
#: initialisation, so a learning rate 100x too small shows (at 30 it does not yet).
STEPS = 60
LR = 2e-3


def adam(lr: float) -> Any:
    def make(g: torch.nn.Module, d: torch.nn.Module) -> Any:
        return (
            torch.optim.Adam(g.parameters(), lr=lr, betas=(0.5, 0.999)),
            torch.optim.Adam(d.parameters(), lr=lr, betas=(0.5, 0.999)),
        )

    return make


@pytest.fixture(scope="module")
def healthy() -> Any:
    return tiny_spec(optimizers=adam(LR), name="tiny")


@pytest.fixture(scope="module")
def baseline(healthy: Any) -> Baseline:
    return Baseline.measure(healthy, steps=STEPS, seeds=4)


# ---------------------------------------------------------------------------- the band


@pytest.mark.parametrize(
    ("coverage", "df", "expected"),
    # Two-sided Student t quantiles from the standard tables.
    [
        (0.95, 1, 12.706),
        (0.95, 2, 4.303),
        (0.95, 4, 2.776),
        (0.99, 3, 5.841),
        (0.998, 4, 7.173),
        (0.999, 5, 6.869),
        (0.95, 10, 2.228),
        (0.95, 30, 2.042),
    ],
)
def test_t_quantile_matches_the_tables(coverage: float, df: int, expected: float) -> None:
    assert t_quantile(coverage, df) == pytest.approx(expected, abs=5e-4)


def test_band_factor_narrows_with_more_seeds_and_is_wide_for_few() -> None:
    factors = [band_factor(n) for n in range(MIN_SEEDS, 12)]

    assert factors == sorted(factors, reverse=True)
    assert band_factor(DEFAULT_SEEDS) == pytest.approx(9.43, abs=0.01)
    assert band_factor(3) > 3 * band_factor(DEFAULT_SEEDS) / 2
    with pytest.raises(ValueError, match="seeds must be at least 2"):
        band_factor(1)


@pytest.mark.parametrize("value", ["4", "5", " 12 "])
def test_parse_seeds_accepts_four_and_more(value: str) -> None:
    assert parse_seeds(value) == int(value)


@pytest.mark.parametrize("value", ["3", "0", "-4", "five", ""])
def test_parse_seeds_rejects_fewer_than_four(value: str) -> None:
    with pytest.raises(ValueError, match="seeds >= 4"):
        parse_seeds(value)


def _summaries(**centres: list[float]) -> list[dict[str, float]]:
    n = len(next(iter(centres.values())))
    return [{name: values[i] for name, values in centres.items()} for i in range(n)]


def _made(summaries: list[dict[str, float]]) -> Baseline:
    settings = {"data_range": [-1.0, 1.0], "device": "cpu", "seeds": [0, 1, 2, 3, 4]}
    return Baseline.from_summaries(summaries, {**settings, "steps": 10})


def test_verdicts_follow_the_worse_direction_and_the_band() -> None:
    made = _made(
        _summaries(
            energy_distance=[1.0, 1.1, 0.9, 1.0, 1.0],
            coverage=[0.5, 0.6, 0.4, 0.5, 0.5],
            output_mean=[0.0, 0.1, -0.1, 0.0, 0.0],
        )
    )
    half = band_factor(5) * math.sqrt(0.005)  # the sample std of those five is sqrt(0.005)

    rows = {
        r.name: r
        for r in compare(
            {
                "energy_distance": 1.0 + 1.01 * half,
                "coverage": 0.5 + 1.01 * half,
                "output_mean": -1.01 * half,
            },
            made,
        )
    }

    assert made.band("energy_distance") == pytest.approx((1.0 - half, 1.0 + half))
    assert rows["energy_distance"].verdict == "worse"
    assert rows["energy_distance"].moved == pytest.approx(1.01 * band_factor(5))
    assert rows["coverage"].verdict == "better"
    assert rows["output_mean"].verdict == "changed"
    inside = compare({"energy_distance": 1.0 + 0.99 * half}, made)[0]
    assert inside.verdict == "ok"


def test_a_figure_with_no_spread_keeps_its_floor_and_a_missing_one_fails() -> None:
    made = _made(_summaries(d_acc_real=[1.0] * 5, output_high=[1.0] * 5))

    low, high = made.band("d_acc_real")
    rows = {r.name: r for r in compare({"d_acc_real": 0.97}, made)}

    assert made.figures["d_acc_real"].spread == 0
    assert high - low == pytest.approx(2 * band_factor(5) * FLOOR_SHARE)
    assert rows["d_acc_real"].inside
    assert math.isnan(rows["output_high"].obtained)
    assert rows["output_high"].verdict == "worse"


def test_a_figure_not_finite_on_some_seed_is_stored_but_not_compared() -> None:
    made = _made(_summaries(energy_distance=[1.0, math.nan, 1.0, 1.0, 1.0]))

    assert made.figures["energy_distance"].centre is None
    assert compare({"energy_distance": 99.0}, made) == []
    assert '"values": [\n        1.0,\n        null,' in made.dumps()


# ---------------------------------------------------------------------------- the file


def test_the_file_is_sorted_indented_and_reads_back_the_same(tmp_path: Path) -> None:
    made = _made(_summaries(g_loss=[0.7, 0.8, 0.75, 0.7, 0.72], coverage=[0.5, 0.6, 0.4, 0.5, 0.5]))
    path = tmp_path / "deep" / "folder" / "test_x.json"

    saved = made.save(path)
    text = path.read_text(encoding="utf-8")
    loaded = Baseline.load(path)

    assert saved.path == path == loaded.path
    assert text.endswith("}\n") and "\r" not in text
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"
    assert loaded == made and loaded.dumps() == text
    assert loaded.band("g_loss") == pytest.approx(made.band("g_loss"))
    assert [p.name for p in path.parent.iterdir()] == ["test_x.json"]  # no temporary left


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "not valid JSON"),
        ('["a list"]', "not a pytest-gan baseline"),
        ('{"format": "something else"}', "not a pytest-gan baseline"),
        ('{"format": "pytest-gan baseline", "schema": "1"}', '"schema" must be a whole number'),
        (
            '{"format": "pytest-gan baseline", "schema": 1, "settings": {}, "figures": {}}',
            "at least one figure",
        ),
    ],
)
def test_a_corrupt_file_names_itself_and_the_remedy(
    tmp_path: Path, content: str, problem: str
) -> None:
    path = tmp_path / "test_gan.json"
    path.write_text(content)

    with pytest.raises(BaselineFileError) as caught:
        Baseline.load(path)

    message = str(caught.value)
    assert str(path) in message and problem in message and "--gan-update-baselines" in message


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (lambda d: d["settings"].pop("steps"), '"settings.steps" must be a whole number'),
        (lambda d: d["settings"].update(seeds=[0]), '"settings.seeds" must list at least 2'),
        (lambda d: d["figures"]["coverage"].pop("spread"), 'figure "coverage" has no "spread"'),
        (lambda d: d["figures"]["coverage"].update(centre="0.5"), '"centre" must be a finite'),
        (lambda d: d["figures"]["coverage"].update(floor=-1), '"floor" must be numbers >= 0'),
        (lambda d: d["figures"]["coverage"].update(worse="up"), '"worse" must be one of'),
    ],
)
def test_a_file_with_a_wrong_field_says_which(tmp_path: Path, edit: Any, problem: str) -> None:
    data = _made(_summaries(coverage=[0.5, 0.6, 0.4, 0.5, 0.5])).to_json()
    edit(data)
    path = tmp_path / "test_gan.json"
    path.write_text(json.dumps(data))

    with pytest.raises(BaselineFileError, match="unusable") as caught:
        Baseline.load(path)

    assert problem in str(caught.value) and str(path) in str(caught.value)


def test_a_newer_schema_asks_for_a_newer_pytest_gan(tmp_path: Path) -> None:
    data = _made(_summaries(coverage=[0.5, 0.6, 0.4, 0.5, 0.5])).to_json()
    path = tmp_path / "test_gan.json"
    path.write_text(json.dumps({**data, "schema": 99}))

    with pytest.raises(BaselineFileError, match="schema 99, newer than this pytest-gan reads"):
        Baseline.load(path)


def test_a_missing_file_says_how_to_create_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"no baseline file at .*gan_baseline"):
        Baseline.load(tmp_path / "nothing.json")
    # A bad argument to a public function, as the contract has every one: a ValueError too,
    # naming the argument.
    run = train(tiny_spec(), steps=3)
    with pytest.raises(ValueError, match=r"^baseline: no baseline file at .*nothing\.json"):
        assert_matches_baseline(run, tmp_path / "nothing.json")


# ---------------------------------------------------------------------------- file names


def test_baseline_files_sit_beside_the_module_in_a_folder_named_after_it() -> None:
    module = Path("/project/tests/test_gan.py")

    assert baseline_path(module, "tests/test_gan.py::test_dcgan") == (
        Path("/project/tests/test_gan/test_dcgan.json")
    )
    assert baseline_path(module, "tests/test_gan.py::test_dcgan[shapes-0.5]").name == (
        "test_dcgan[shapes-0.5].json"
    )
    assert baseline_path(module, "tests/test_gan.py::TestGAN::test_dcgan").name == (
        "TestGAN.test_dcgan.json"
    )


def test_unsafe_or_long_ids_are_sanitised_and_hashed() -> None:
    module = Path("tests/test_gan.py")

    slash = baseline_path(module, "tests/test_gan.py::test_x[a/b]").name
    underscore = baseline_path(module, "tests/test_gan.py::test_x[a_b]").name
    long = baseline_path(module, f"tests/test_gan.py::test_x[{'w' * 300}]").name

    assert slash.startswith("test_x[a_b]-") and slash != underscore
    assert len(long) <= NAME_MAX and long.startswith("test_x[www")


@given(ids=st.lists(st.text(min_size=1, max_size=120), min_size=2, max_size=5, unique=True))
def test_distinct_tests_never_share_a_file(ids: list[str]) -> None:
    module = Path("tests/test_gan.py")

    paths = [baseline_path(module, f"tests/test_gan.py::test_x[{i}]") for i in ids]

    assert len(set(paths)) == len(paths)
    for path in paths:
        assert path.parent == Path("tests/test_gan")
        assert len(path.name) <= NAME_MAX and not path.name.startswith((".", "-"))
        assert "/" not in path.name and "\\" not in path.name and "\0" not in path.name


# ---------------------------------------------------------------------------- real runs


def test_summaries_are_reproducible_and_hold_every_figure(healthy: Any) -> None:
    run = train(healthy, steps=STEPS, seed=4)

    first, again = summarize(run), summarize(train(healthy, steps=STEPS, seed=4))

    assert first == again
    assert list(first) == [f.name for f in FIGURES]
    assert all(math.isfinite(v) for v in first.values())
    assert 0 <= first["d_acc_real"] <= 1 and 0 <= first["coverage"] <= 1
    assert first["output_low"] < first["output_mean"] < first["output_high"]


def test_summarize_needs_an_instrumented_run(healthy: Any) -> None:
    with pytest.raises(ValueError, match="instrument=False"):
        summarize(train(healthy, steps=3, instrument=False))
    with pytest.raises(TypeError, match="must be a GANRun"):
        summarize("run")  # type: ignore[arg-type]


def test_a_baseline_stores_every_seed_and_its_settings(baseline: Baseline) -> None:
    assert baseline.seeds == [0, 1, 2, 3]
    assert baseline.settings["steps"] == STEPS and baseline.settings["device"] == "cpu"
    assert baseline.settings["spec"] == "tiny"
    assert baseline.settings["torch"] == torch.__version__
    figure = baseline.figures["energy_distance"]
    assert len(figure.values) == 4 and figure.worse == "higher"
    assert figure.centre == pytest.approx(sum(figure.values) / 4)  # type: ignore[arg-type]


def test_a_healthy_run_of_the_baseline_passes_and_a_100x_smaller_lr_fails(
    healthy: Any, baseline: Baseline
) -> None:
    assert_matches_baseline(train(healthy, steps=STEPS, seed=1), baseline)
    regressed = train(tiny_spec(optimizers=adam(LR / 100), name="tiny"), steps=STEPS, seed=1)

    with pytest.raises(GANAssertionError) as caught:
        assert_matches_baseline(regressed, baseline.to_json())

    error = caught.value
    assert error.pitfall == "baseline-regression"
    assert "energy_distance" in error.evidence["outside"]
    assert error.evidence["energy_distance"]["verdict"] == "worse"
    assert error.evidence["energy_distance"]["moved"] > band_factor(4)
    message = str(error)
    assert "figures of tiny (seed 1) left the band of its baseline" in message
    assert "figure" in message and "expected band" in message and "spreads moved" in message
    assert "--gan-update-baselines" in message
    assert "See: docs/pitfalls/baseline-regression.md" in message


def test_assert_matches_baseline_reads_a_path_and_is_exported(
    healthy: Any, baseline: Baseline, tmp_path: Path
) -> None:
    path = tmp_path / "b.json"
    baseline.save(path)

    pytest_gan.assert_matches_baseline(train(healthy, steps=STEPS, seed=2), str(path))

    # Exported from the package (pytest_gan.checks, internal, holds the checks the engine
    # runs; the baseline check sits above the engine, in pytest_gan.baseline).
    assert pytest_gan.assert_matches_baseline is assert_matches_baseline
    assert "assert_matches_baseline" in pytest_gan.__all__
    assert pytest_gan.Baseline is Baseline


def test_a_run_of_other_steps_cannot_be_compared(healthy: Any, baseline: Baseline) -> None:
    with pytest.raises(BaselineMismatchError, match="measured at 60 steps and the run has 20"):
        assert_matches_baseline(train(healthy, steps=20), baseline)
    with pytest.raises(TypeError, match="baseline must be a path"):
        assert_matches_baseline(train(healthy, steps=2), 3)  # type: ignore[arg-type]


def test_measure_reuses_the_given_run_and_validates_its_arguments(healthy: Any) -> None:
    run = train(healthy, steps=5, seed=7)
    trained: list[GANRun] = []

    with pytest.warns(GANBaselineWarning, match="never learned"):  # 5 steps: untrained
        made = Baseline.measure(healthy, steps=5, seeds=4, run=run, on_train=trained.append)

    assert made.seeds == [7, 8, 9, 10] and [r.seed for r in trained] == [8, 9, 10]
    assert made.figures["coverage"].values[0] == pytest.approx(summarize(run)["coverage"])
    with pytest.raises(ValueError, match="at least 4"):
        Baseline.measure(healthy, steps=5, seeds=[1, 2, 3])
    with pytest.raises(ValueError, match="run has 5 steps; the baseline is of 6"):
        Baseline.measure(healthy, steps=6, run=run)
    with pytest.raises(ValueError, match=r"different seeds.*pass pg.watch\(\.\.\., seed=s\)"):
        Baseline.from_runs([run, run, run, run])


def test_a_baseline_that_holds_the_untrained_generator_warns(healthy: Any) -> None:
    # After 60 steps the tiny generator has moved its samples onto the data, farther than
    # its seeds scatter (energy distance 0.18-0.25 against 3.4 untrained); after 3 it has
    # not begun to. Diversity and coverage alone would not tell: their bands over 4 seeds
    # are wide enough to hold the untrained values.
    trained = [train(healthy, steps=STEPS, seed=s) for s in range(4)]
    assert "energy_distance" not in untrained_inside(Baseline.from_runs(trained), trained)
    with warnings.catch_warnings(record=True) as quiet:
        warnings.simplefilter("always")
        Baseline.measure(healthy, steps=STEPS, seeds=4)
    assert not [w for w in quiet if issubclass(w.category, GANBaselineWarning)]

    untrained = [train(healthy, steps=3, seed=s) for s in range(4)]
    blind = Baseline.from_runs(untrained)
    inside = untrained_inside(blind, untrained)
    assert set(inside) == {"diversity", "energy_distance", "coverage"}
    for name, value in inside.items():
        low, high = blind.band(name)
        assert low <= value <= high
    with pytest.warns(GANBaselineWarning) as record:
        Baseline.measure(healthy, steps=3, seeds=4)
    message = str(record[0].message)
    assert "measured on seeds 0-3 at 3 steps, cannot tell a generator that never learned" in message
    assert "energy_distance" in message and "a change that stopped the generator" in message
    assert record[0].filename == __file__  # points at the caller, not at pytest-gan


# ---------------------------------------------------------------------------- the fixture

#: The runs of 3 to 5 steps below are untrained on purpose (they test files, ids and seed
#: counts): measuring a baseline of them rightly warns that it cannot tell an untrained
#: generator from a trained one. Their sessions ignore that warning.
IGNORE_UNTRAINED = "filterwarnings =\n    ignore::pytest_gan.GANBaselineWarning\n"

GAN_TEST = """
import torch
from torch import nn

from pytest_gan import GANSpec

LR = {lr}
STEPS = {steps}


def optimizers(g, d):
    return (
        torch.optim.Adam(g.parameters(), lr=LR, betas=(0.5, 0.999)),
        torch.optim.Adam(d.parameters(), lr=LR, betas=(0.5, 0.999)),
    )


SPEC = GANSpec(
    generator=lambda: nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, 2)),
    discriminator=lambda: nn.Sequential(nn.Linear(2, 32), nn.LeakyReLU(0.2), nn.Linear(32, 1)),
    data=torch.randn(1024, 2, generator=torch.Generator().manual_seed(0)) * 0.5
    + torch.tensor([2.0, -1.0]),
    latent_dim=4,
    optimizers=optimizers,
    name="tiny",
)


def test_gan(gan_train, gan_baseline):
    gan_baseline.check(gan_train(SPEC, steps=STEPS))
"""


def _gan_test(pytester: pytest.Pytester, lr: float = LR, steps: int = STEPS) -> Path:
    pytester.makepyfile(test_gan=GAN_TEST.format(lr=lr, steps=steps))
    return pytester.path / "test_gan" / "test_gan.json"


def test_the_whole_cycle_create_pass_update_regress_corrupt(pytester: pytest.Pytester) -> None:
    path = _gan_test(pytester)

    created = pytester.runpytest("--gan-device", "cpu")
    created.assert_outcomes(failed=1)
    created.stdout.fnmatch_lines(
        [
            "*The baseline of this test did not exist; it was created at *test_gan.json, "
            "measured on 5 seeds (0-4) at 60 steps on cpu. Commit it*",
            "gan: 5 training run(s), 0 reused from cache (device cpu)",
        ]
    )
    original = path.read_text()
    assert Baseline.load(path).seeds == [0, 1, 2, 3, 4]

    pytester.runpytest("--gan-device", "cpu").assert_outcomes(passed=1)

    path.write_text(original.replace('"spec": "tiny"', '"spec": "edited by hand"'))
    pytester.runpytest("--gan-device", "cpu", "--gan-update-baselines").assert_outcomes(passed=1)
    assert path.read_text() == original  # rewritten: the same runs give the same bytes

    _gan_test(pytester, lr=LR / 100)
    regressed = pytester.runpytest("--gan-device", "cpu")
    regressed.assert_outcomes(failed=1)
    regressed.stdout.fnmatch_lines(
        [
            "*GANAssertionError: * of 17 figures of tiny (seed 0) left the band of its baseline "
            f"({path})*",
            "*figure*obtained*expected band*spreads moved*worse if*verdict",
            "*energy_distance * higher * worse",
            "*Pitfall: baseline-regression (*",
        ]
    )
    assert path.read_text() == original  # a failing check never touches the file

    path.write_text(original[: len(original) // 2])
    corrupt = pytester.runpytest("--gan-device", "cpu")
    corrupt.assert_outcomes(failed=1)
    corrupt.stdout.fnmatch_lines(
        [f"*BaselineFileError: the baseline file {path} is unusable: not valid JSON*"]
    )
    corrupt.stdout.fnmatch_lines(["*(or run pytest with --gan-update-baselines) to measure it*"])
    assert "During handling" not in corrupt.stdout.str()

    _gan_test(pytester)
    pytester.runpytest("--gan-device", "cpu", "--gan-update-baselines").assert_outcomes(passed=1)
    assert path.read_text() == original


def test_the_fixture_warns_at_the_tests_line_about_a_blind_baseline(
    pytester: pytest.Pytester,
) -> None:
    path = _gan_test(pytester, steps=3)

    result = pytester.runpytest(
        "--gan-device", "cpu", "-W", "default::pytest_gan.GANBaselineWarning"
    )

    result.assert_outcomes(failed=1, warnings=1)
    result.stdout.fnmatch_lines(
        [
            f"*test_gan.py:*: GANBaselineWarning: The baseline at {path}, measured on seeds 0-4 "
            "at 3 steps, cannot tell a generator that never learned from a healthy one*",
            "*gan_baseline.check(gan_train(SPEC, steps=STEPS))",
        ]
    )


def test_a_baseline_of_other_steps_asks_for_an_update(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\n" + IGNORE_UNTRAINED)
    path = _gan_test(pytester, steps=5)
    pytester.runpytest("--gan-device", "cpu", "--gan-update-baselines").assert_outcomes(passed=1)
    _gan_test(pytester, steps=4)

    result = pytester.runpytest("--gan-device", "cpu")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            f"*BaselineMismatchError: the run of tiny cannot be compared with the baseline "
            f"{path}: it was measured at 5 steps and the run has 4. *--gan-update-baselines*"
        ]
    )


def test_seed_count_from_ini_option_and_call_and_the_header(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\ngan_baseline_seeds = 6\n" + IGNORE_UNTRAINED)
    pytester.makepyfile(
        test_ids=GAN_TEST.format(lr=LR, steps=3)
        + """

import pytest


@pytest.mark.parametrize("width", ["a", "b/c"])
def test_param(gan_train, gan_baseline, width):
    gan_baseline.check(gan_train(SPEC, steps=3), seeds=4)


class TestGAN:
    def test_method(self, gan_train, gan_baseline, gan_seed):
        assert gan_baseline.path.name == "TestGAN.test_method.json"
        gan_baseline.check(gan_train(SPEC, steps=3))
"""
    )
    folder = pytester.path / "test_ids"

    from_ini = pytester.runpytest("--gan-device", "cpu", "--gan-update-baselines")
    from_option = pytester.runpytest(
        "--gan-device",
        "cpu",
        "--gan-update-baselines",
        "--gan-baseline-seeds",
        "4",
        "--gan-seed",
        "2",
        "-k",
        "test_gan",
    )

    from_ini.assert_outcomes(passed=4)
    from_ini.stdout.fnmatch_lines(["gan: seed=0, *, updating baselines (6 seeds each), threads=*"])
    assert Baseline.load(folder / "TestGAN.test_method.json").seeds == [0, 1, 2, 3, 4, 5]
    assert Baseline.load(folder / "test_param[a].json").seeds == [0, 1, 2, 3]
    [hashed] = folder.glob(glob.escape("test_param[b_c]") + "-*.json")
    assert Baseline.load(hashed).seeds == [0, 1, 2, 3]
    from_option.assert_outcomes(passed=1, deselected=3)
    assert Baseline.load(folder / "test_gan.json").seeds == [2, 3, 4, 5]


def test_invalid_seed_counts_are_usage_errors(pytester: pytest.Pytester) -> None:
    option = pytester.runpytest("--gan-baseline-seeds", "2")
    pytester.makeini("[pytest]\ngan_baseline_seeds = many\n")
    ini = pytester.runpytest()

    assert option.ret == ini.ret == pytest.ExitCode.USAGE_ERROR
    option.stderr.fnmatch_lines(["*--gan-baseline-seeds: expected a whole number of seeds >= 4*"])
    ini.stderr.fnmatch_lines(["*gan_baseline_seeds = many in *: expected a whole number*"])


def test_updating_under_xdist_writes_every_file_whole(pytester: pytest.Pytester) -> None:
    # --dist each: both workers measure and write both baselines at the same time; the
    # atomic writes leave each file whole, whichever worker's lands last.
    pytester.makepyfile(
        test_gan=GAN_TEST.format(lr=LR, steps=3)
        + """

def test_other(gan_train, gan_baseline):
    gan_baseline.check(gan_train(SPEC, steps=4))
"""
    )

    result = pytester.runpytest_subprocess(
        "-n",
        "2",
        "--dist",
        "each",
        "-p",
        "no:hypothesispytest",
        "--gan-device",
        "cpu",
        "--gan-update-baselines",
        "--gan-baseline-seeds",
        "4",
    )

    result.assert_outcomes(passed=4)
    folder = pytester.path / "test_gan"
    assert sorted(p.name for p in folder.iterdir()) == ["test_gan.json", "test_other.json"]
    assert Baseline.load(folder / "test_gan.json").settings["steps"] == 3
    assert Baseline.load(folder / "test_other.json").settings["steps"] == 4


def test_the_help_lists_the_options_with_their_defaults(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")

    text = " ".join(result.stdout.str().split())
    assert "--gan-update-baselines Measure the regression baseline" in text
    assert "--gan-baseline-seeds=N Seeds a regression baseline" in text
    assert f"Default: {DEFAULT_SEEDS}." in text
    assert "gan_baseline_seeds (string):" in text


def test_check_validates_its_arguments(tmp_path: Path, healthy: Any) -> None:
    from pytest_gan.baseline_fixture import BaselineFixture

    fixture = BaselineFixture(tmp_path / "x.json", update=False, seeds=5)

    with pytest.raises(TypeError, match="must be a GANRun"):
        fixture.check(object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="seeds must be at least 4; got 3"):
        fixture.check(train(healthy, steps=2), seeds=3)
    assert not (tmp_path / "x.json").exists()


# ---------------------------------------------------------------------------- golden samples

GOLDEN_TEST = """
import torch
from torch import nn

SCALE = {scale}


def make_generator():
    g = nn.Sequential(nn.Linear(4, 64), nn.Tanh(), nn.Unflatten(1, (1, 8, 8)))
    with torch.no_grad():
        g[0].weight.copy_(torch.randn(64, 4, generator=torch.Generator().manual_seed(0)) * SCALE)
        g[0].bias.zero_()
    return g


def test_inference(gan_baseline):
    z = torch.randn(16, 4, generator=torch.Generator().manual_seed(0))
    generator = make_generator().train()
    gan_baseline.check_samples(generator, z)
    assert generator.training
"""


def test_golden_samples_cycle_create_pass_change_update(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_golden=GOLDEN_TEST.format(scale=1.0))
    path = pytester.path / "test_golden" / "test_inference.png"
    args = ("--gan-artifacts", "out")

    created = pytester.runpytest(*args)
    created.assert_outcomes(failed=1)
    created.stdout.fnmatch_lines(
        [
            "*The golden samples of this test did not exist; they were written to "
            "*test_inference.png*"
        ]
    )
    original = path.read_bytes()
    assert original.startswith(b"\x89PNG")
    pytester.runpytest(*args).assert_outcomes(passed=1)

    pytester.makepyfile(test_golden=GOLDEN_TEST.format(scale=1.2))
    changed = pytester.runpytest(*args)
    changed.assert_outcomes(failed=1)
    changed.stdout.fnmatch_lines(
        [
            "*differ from the golden grid: *% of its pixels moved by more than 2 levels*",
            "*largest pixel difference (8-bit levels)*<= 2",
            "*Pitfall: baseline-regression*",
        ]
    )
    [folder] = (pytester.path / "out").iterdir()
    assert sorted(p.name for p in folder.iterdir()) == [
        "test_inference.diff.png",
        "test_inference.obtained.png",
    ]
    assert path.read_bytes() == original

    pytester.runpytest(*args, "--gan-update-baselines").assert_outcomes(passed=1)
    assert path.read_bytes() == (folder / "test_inference.obtained.png").read_bytes()
    pytester.runpytest(*args).assert_outcomes(passed=1)

    path.write_bytes(b"not a png")
    corrupt = pytester.runpytest(*args)
    corrupt.assert_outcomes(failed=1)
    corrupt.stdout.fnmatch_lines([f"*the golden sample file {path} is not a readable PNG*"])


def test_check_samples_validates_its_arguments(tmp_path: Path) -> None:
    from pytest_gan.baseline_fixture import BaselineFixture

    fixture = BaselineFixture(tmp_path / "t" / "test_x.json", update=False, seeds=5)
    z = torch.randn(4, 2)
    points = torch.nn.Linear(2, 2)

    with pytest.raises(ValueError, match=r"compares images \[N, C, H, W\]; the generator returned"):
        fixture.check_samples(points, z)
    with pytest.raises(ValueError, match=r"tolerance must be at least 0 \(8-bit levels\)"):
        fixture.check_samples(points, z, tolerance=-1)
    with pytest.raises(TypeError, match="z must be a floating-point Tensor"):
        fixture.check_samples(points, torch.zeros(4, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="name must be a non-empty string"):
        fixture.samples_path("a/b")
    assert fixture.samples_path("ema") == tmp_path / "t" / "test_x-ema.png"
    assert not (tmp_path / "t").exists()


def test_a_loss_that_turns_nan_fails_from_its_window_on(baseline: Baseline) -> None:
    def step(ctx: Any, real: torch.Tensor) -> dict[str, float]:
        from pytest_gan.training import builtin_step

        out = {k: float(v) for k, v in builtin_step(ctx, real).items()}
        if ctx.step >= STEPS // 2:
            out["g_loss"] = math.nan
        if ctx.step % 2:
            del out["d_loss"]  # a loss recorded every other step only
        return out

    figures = summarize(train(tiny_spec(optimizers=adam(LR), train_step=step), steps=STEPS))

    assert all(math.isfinite(figures[f"d_loss[{i}/4]"]) for i in range(1, 5))
    assert [math.isfinite(figures[f"g_loss[{i}/4]"]) for i in range(1, 5)] == [
        True,
        True,
        False,
        False,
    ]
    failing = {r.name for r in compare(figures, baseline) if not r.inside}
    assert {"g_loss[3/4]", "g_loss[4/4]"} <= failing
