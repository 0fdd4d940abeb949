"""The plugin end to end through ``pytester``, and the session helpers behind it."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest

# pytester restores sys.modules after every in-process run, so whatever a run imports first
# would be evicted and imported again by the next run, which torch does not survive.
import torch
from hypothesis import given
from hypothesis import strategies as st

from pytest_gan import _defaults
from pytest_gan.session import (
    ARTIFACT_NAME_MAX,
    ARTIFACTS_DIRNAME,
    AUTO_DEVICE,
    GanSettings,
    RunCache,
    RunFactory,
    RunStats,
    artifact_dir_for,
    option_type,
    parse_device,
    parse_seed,
    parse_steps,
    resolve_device,
    settings_from_config,
)

#: A GAN small enough to train a few steps in milliseconds, for the test files pytester writes.
TINY_SPEC = """
import pytest
import torch
from torch import nn

from pytest_gan import GANSpec

SPEC = GANSpec(
    generator=lambda: nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2)),
    discriminator=lambda: nn.Sequential(nn.Linear(2, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1)),
    data=torch.randn(256, 2, generator=torch.Generator().manual_seed(0)),
    latent_dim=4,
)
"""

OPTIONS = {
    "--gan-device=DEVICE": f"Default: {_defaults.DEVICE or AUTO_DEVICE}",
    "--gan-seed=N": f"Default: {_defaults.SEED}",
    "--gan-steps=N": f"Default: {_defaults.STEPS}",
    "--gan-max-steps=N": f"Default: {_defaults.MAX_EXTEND_FACTOR}x --gan-steps",
    "--gan-artifacts=DIR": f"Default: {ARTIFACTS_DIRNAME}/",
}

SAFE_NAME = re.compile(r"[A-Za-z0-9_.-]+")


def _help_entry(help_text: str, option: str) -> str:
    """The help paragraph of one option, its line wrapping undone."""
    # An entry starts two spaces in; its wrapped lines are indented further.
    match = re.search(rf"^  {re.escape(option)}(.*?)(?=^ ? ?\S|\Z)", help_text, re.M | re.S)
    assert match is not None, f"{option} is not in --help"
    return " ".join(match.group(1).split())


# ---------------------------------------------------------------------------- options


def test_help_lists_every_option_and_ini_key_with_its_default(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")

    assert result.ret == pytest.ExitCode.OK
    help_text = result.stdout.str()
    assert "GAN training checks (pytest-gan):" in help_text
    for option, default in OPTIONS.items():
        assert default in _help_entry(help_text, option)
    for key in ("gan_device", "gan_seed", "gan_steps", "gan_max_steps", "gan_artifacts"):
        assert "Default:" in _help_entry(help_text, f"{key} (string):")


def test_report_header_shows_the_defaults(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest()

    result.stdout.fnmatch_lines(
        [
            f"gan: seed={_defaults.SEED}, device=auto (cuda if available), "
            f"steps={_defaults.STEPS}, "
            f"max-steps={_defaults.STEPS * _defaults.MAX_EXTEND_FACTOR} (smoke), timeout=none, "
            f"artifacts=<pytest basetemp>/{ARTIFACTS_DIRNAME}, threads=*"
        ]
    )


def test_ini_settings_apply_and_the_command_line_overrides_them(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini(
        """
        [pytest]
        gan_seed = 3
        gan_steps = 7
        gan_device = cpu
        gan_artifacts = ini-out
        gan_timeout = 90
        gan_max_steps = 21
        """
    )
    ini_dir = (pytester.path / "ini-out").resolve()

    from_ini = pytester.runpytest()
    overridden = pytester.runpytest(
        "--gan-seed",
        "5",
        "--gan-steps",
        "2",
        "--gan-device",
        "auto",
        "--gan-artifacts",
        "cli",
        "--gan-timeout",
        "2.5",
        "--gan-max-steps",
        "1",
    )

    from_ini.stdout.fnmatch_lines(
        [
            "gan: seed=3, device=cpu, steps=7, max-steps=21 (smoke), timeout=90 s, "
            f"artifacts={ini_dir}, threads=*"
        ]
    )
    # A budget below the steps judges every run where it stopped.
    overridden.stdout.fnmatch_lines(
        [
            "gan: seed=5, device=auto (cuda if available), steps=2, max-steps=2 (smoke), "
            "timeout=2.5 s, "
            f"artifacts={(pytester.path / 'cli').resolve()}, threads=*"
        ]
    )


def test_settings_from_config_takes_command_line_then_ini_then_defaults(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini("[pytest]\ngan_seed = 11\ngan_device = cuda:1\n")

    settings = settings_from_config(pytester.parseconfig("--gan-steps", "9"))

    assert settings == GanSettings(seed=11, device="cuda:1", steps=9, artifacts=None)


def test_ini_artifacts_are_relative_to_the_ini_file(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makeini("[pytest]\ngan_artifacts = out/gan\n")
    monkeypatch.chdir(pytester.mkdir("elsewhere"))

    config = pytester.parseconfig()

    assert settings_from_config(config).artifacts == (pytester.path / "out" / "gan").resolve()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--gan-steps", "0"], "argument --gan-steps: expected a whole number *>= 1, got '0'"),
        (["--gan-steps", "x"], "argument --gan-steps: expected a whole number *>= 1, got 'x'"),
        (["--gan-max-steps", "0"], "argument --gan-max-steps: expected a whole number *"),
        (["--gan-seed", "-1"], "argument --gan-seed: expected a whole number >= 0 *, got '-1'"),
        (["--gan-seed", str(2**64)], "argument --gan-seed: expected a seed of at most 2*"),
        (
            ["--gan-device", "tpu"],
            "argument --gan-device: expected one of auto, cpu, cuda, cuda:N or mps, got 'tpu'",
        ),
    ],
)
def test_invalid_option_values_are_usage_errors_naming_the_option(
    pytester: pytest.Pytester, args: list[str], message: str
) -> None:
    result = pytester.runpytest(*args)

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{message}*"])


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("gan_steps = zero", "ERROR: gan_steps = zero in *: expected a whole number *, got 'zero'"),
        ("gan_max_steps = -3", "ERROR: gan_max_steps = -3 in *: expected a whole number *"),
        ("gan_seed = 1.5", "ERROR: gan_seed = 1.5 in *: expected a whole number >= 0 *"),
        ("gan_device = gpu", "ERROR: gan_device = gpu in *: expected one of auto, cpu, *"),
    ],
)
def test_invalid_ini_values_are_usage_errors_naming_the_key(
    pytester: pytest.Pytester, line: str, message: str
) -> None:
    pytester.makeini(f"[pytest]\n{line}\n")

    result = pytester.runpytest()

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_artifacts_option_naming_a_file_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makefile(".txt", taken="")

    result = pytester.runpytest("--gan-artifacts", "taken.txt")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --gan-artifacts: expected a directory, but *taken.txt*"])


def test_disabling_the_plugin_removes_its_fixtures_and_header(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_seed(gan_seed):\n    pass\n")

    result = pytester.runpytest("-p", "no:gan")

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'gan_seed' not found*"])
    result.stdout.no_fnmatch_line("gan: seed=*")


# ---------------------------------------------------------------------------- fixtures


def test_seed_and_device_fixtures_follow_the_options(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_values(gan_seed, gan_device):
            assert gan_seed == 7
            assert gan_device == "cpu"
        """
    )

    pytester.runpytest("--gan-seed", "7", "--gan-device", "cpu").assert_outcomes(passed=1)


def test_auto_device_is_cuda_when_available(pytester: pytest.Pytester) -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    pytester.makepyfile(
        f"""
        def test_device(gan_device):
            assert gan_device == {expected!r}
        """
    )

    pytester.runpytest().assert_outcomes(passed=1)


def test_device_fixture_fails_clearly_when_cuda_is_missing(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    pytester.makepyfile("def test_device(gan_device):\n    pass\n")

    result = pytester.runpytest("--gan-device", "cuda")

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*--gan-device is 'cuda', but CUDA is not available here*"])


def test_gan_train_shares_runs_between_tests_and_counts_them(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        TINY_SPEC
        + """
RUNS = []


@pytest.mark.gan
def test_first(gan_train):
    RUNS.append(gan_train(SPEC, steps=3))


def test_same_arguments_share_the_run(gan_train, gan_seed):
    run = gan_train(SPEC, steps=3)
    assert run is RUNS[0]
    assert (run.steps, run.seed, str(run.device)) == (3, gan_seed, "cpu")


def test_another_seed_trains_again(gan_train):
    run = gan_train(SPEC, steps=3, seed=1)
    assert run is not RUNS[0]
    assert run.seed == 1


def test_steps_default_to_the_option(gan_train):
    assert gan_train(SPEC).steps == 4


def test_a_budget_below_the_steps_is_refused_by_name(gan_train):
    with pytest.raises(ValueError, match="gan_train: max_steps must be at least 3; got 2"):
        gan_train(SPEC, steps=3, max_steps=2)
"""
    )

    result = pytester.runpytest("--strict-markers", "--gan-device", "cpu", "--gan-steps", "4")

    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines(["gan: 3 training run(s), 1 reused from cache (device cpu)"])


def test_no_summary_line_without_training(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_seed(gan_seed):\n    pass\n")

    result = pytester.runpytest()

    result.assert_outcomes(passed=1)
    result.stdout.no_fnmatch_line("gan: * training run(s)*")


def test_artifact_folders_are_per_test_under_the_option(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("label", ["a", "b/c", "b_c"])
        def test_write(gan_artifacts, label):
            assert gan_artifacts.is_dir()
            (gan_artifacts / "label.txt").write_text(label)
        """
    )

    pytester.runpytest("--gan-artifacts", "out").assert_outcomes(passed=3)

    folders = sorted((pytester.path / "out").iterdir())
    assert len(folders) == 3
    assert {(folder / "label.txt").read_text() for folder in folders} == {"a", "b/c", "b_c"}
    assert all(SAFE_NAME.fullmatch(folder.name) for folder in folders)


def test_artifact_folders_default_to_pytest_temp(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        f"""
        def test_one(gan_artifacts, tmp_path_factory):
            assert gan_artifacts.is_dir()
            assert gan_artifacts.parent == tmp_path_factory.getbasetemp() / {ARTIFACTS_DIRNAME!r}
        """
    )

    pytester.runpytest().assert_outcomes(passed=1)


# ---------------------------------------------------------------------------- torch stays out


def test_importing_the_plugin_does_not_import_torch() -> None:
    code = "import pytest_gan.plugin, sys; assert 'torch' not in sys.modules, 'torch imported'"

    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )

    assert completed.returncode == 0, completed.stderr


def test_the_xdist_controller_schedules_and_tabulates_smoke_items_without_torch() -> None:
    # The controller groups node ids by spec and draws the verdict table; importing the
    # checks there (torch) would delay every worker's first training by seconds.
    code = (
        "import sys\n"
        "from pytest_gan.smoke import smoke_scope, verdict_table\n"
        "from pytest_gan.smoke.verdicts import Verdict\n"
        "assert smoke_scope('t/gan-smoke::diverse[a]') == 't/gan-smoke[a]'\n"
        "lines = verdict_table([Verdict('a', 'diverse', 'a::diverse', 'pass')])\n"
        "assert any('diverse' in line for line in lines)\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )

    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )

    assert completed.returncode == 0, completed.stderr


def test_help_and_a_session_without_gans_do_not_import_torch(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import sys
        from pathlib import Path

        def pytest_unconfigure(config):
            with open(Path(__file__).parent / "torch-seen.txt", "a") as record:
                record.write(f"{'torch' in sys.modules}\\n")
        """
    )
    pytester.makepyfile(
        """
        def test_plain(gan_seed, gan_artifacts):
            assert gan_artifacts.is_dir()
        """
    )

    help_result = pytester.runpytest_subprocess("--help")
    session = pytester.runpytest_subprocess()

    assert help_result.ret == pytest.ExitCode.OK
    session.assert_outcomes(passed=1)
    session.stdout.fnmatch_lines(["gan: seed=*"])
    assert (pytester.path / "torch-seen.txt").read_text().split() == ["False", "False"]


def test_run_counts_from_xdist_workers_reach_the_summary(pytester: pytest.Pytester) -> None:
    # What is under test is how the counts travel from the workers to the controller; a
    # stub engine and device spare each worker seconds of torch import.
    pytester.makeconftest(
        """
        import sys
        import types

        import pytest

        engine = types.ModuleType("pytest_gan.training")
        engine.train = lambda spec, **kwargs: object()
        sys.modules["pytest_gan.training"] = engine

        @pytest.fixture(scope="session")
        def gan_device():
            return "cpu"
        """
    )
    pytester.makepyfile(
        """
        SPEC = object()

        def test_trains(gan_train):
            gan_train(SPEC, steps=3)

        def test_reuses(gan_train):
            assert gan_train(SPEC, steps=3) is gan_train(SPEC, steps=3)
        """
    )

    # Every worker runs every test: each trains once and reuses twice. Hypothesis' plugin
    # is left out only because it costs each of the three processes a second to import.
    result = pytester.runpytest_subprocess("-n", "2", "--dist", "each", "-p", "no:hypothesispytest")

    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["gan: 2 training run(s), 4 reused from cache (device cpu)"])


# ---------------------------------------------------------------------------- session helpers


@pytest.mark.parametrize("value", ["1", "200", " 7 "])
def test_parse_steps_accepts_positive_integers(value: str) -> None:
    assert parse_steps(value) == int(value)


@pytest.mark.parametrize("value", ["0", "-3", "1.5", "", "many"])
def test_parse_steps_rejects_everything_else(value: str) -> None:
    with pytest.raises(ValueError, match="whole number of training steps >= 1"):
        parse_steps(value)


@pytest.mark.parametrize(("value", "ok"), [("0", True), ("42", True), ("-1", False), ("x", False)])
def test_parse_seed(value: str, ok: bool) -> None:
    if ok:
        assert parse_seed(value) == int(value)
    else:
        with pytest.raises(ValueError, match="seed"):
            parse_seed(value)


@pytest.mark.parametrize("value", ["auto", "cpu", "cuda", "cuda:0", "cuda:12", "mps"])
def test_parse_device_accepts_the_documented_devices(value: str) -> None:
    assert parse_device(value) == value


@pytest.mark.parametrize("value", ["tpu", "gpu", "CUDA", "cuda:", "cuda:x", "cpu:0", ""])
def test_parse_device_rejects_other_names(value: str) -> None:
    with pytest.raises(ValueError, match="expected one of auto, cpu, cuda, cuda:N or mps"):
        parse_device(value)


def test_option_type_keeps_the_message_for_argparse() -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="got '0'"):
        option_type(parse_steps)("0")


def test_resolve_device_without_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)

    assert resolve_device(None) == "cpu"
    assert resolve_device("auto") == "cpu"
    assert resolve_device("cpu") == "cpu"
    with pytest.raises(ValueError, match="--gan-device is 'cuda:0', but CUDA is not available"):
        resolve_device("cuda:0")
    with pytest.raises(ValueError, match=re.escape("gan_train(device=...) is 'cuda'")):
        resolve_device("cuda", option="gan_train(device=...)")


def test_resolve_device_with_one_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)

    assert resolve_device(None) == "cuda"
    assert resolve_device("cuda:0") == "cuda:0"
    with pytest.raises(ValueError, match="has 1 CUDA device"):
        resolve_device("cuda:1")


def test_resolve_device_rejects_unknown_names_and_missing_mps(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)

    with pytest.raises(ValueError, match="--gan-device: expected one of"):
        resolve_device("tpu")
    with pytest.raises(ValueError, match="MPS is not available"):
        resolve_device("mps")


@pytest.mark.parametrize(
    "nodeid",
    [
        "tests/test_gan.py::test_dcgan[bce-64]",
        "tests/test_gan.py::TestClass::test_method",
        "../../etc/passwd",
        "..",
        ".",
        "",
        "-rf",
        "ünïcödé::テスト",
        "x" * 500,
    ],
)
def test_artifact_dir_is_one_safe_folder_inside_root(nodeid: str) -> None:
    root = Path("/artifacts")

    folder = artifact_dir_for(root, nodeid)

    assert folder.parent == root
    assert SAFE_NAME.fullmatch(folder.name)
    assert not folder.name.startswith((".", "-"))
    assert len(folder.name) <= ARTIFACT_NAME_MAX
    assert folder == artifact_dir_for(root, nodeid)


def test_artifact_dir_keeps_safe_names_readable() -> None:
    assert artifact_dir_for(Path("r"), "test_dcgan.py") == Path("r/test_dcgan.py")
    assert artifact_dir_for(Path("r"), "t.py::test_a[1]").name.startswith("t.py_test_a_1-")


@pytest.mark.parametrize(
    "nodeids",
    [
        ("t.py::test[a/b]", "t.py::test[a_b]", "t.py::test[a b]", "t.py::test[a__b]"),
        ("t.py::test[" + "x" * 200 + "1]", "t.py::test[" + "x" * 200 + "2]"),
        ("test_a", "test_a_", "_test_a"),
    ],
)
def test_artifact_dirs_of_distinct_tests_differ(nodeids: tuple[str, ...]) -> None:
    names = {artifact_dir_for(Path("r"), nodeid) for nodeid in nodeids}

    assert len(names) == len(nodeids)


@given(st.text(), st.text())
def test_artifact_dirs_never_collide(first: str, second: str) -> None:
    if first != second:
        assert artifact_dir_for(Path("r"), first) != artifact_dir_for(Path("r"), second)


def _fake_training(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """Replace the training engine with one that records its calls and returns a token."""
    calls: list[tuple[Any, ...]] = []

    def train(
        spec: object,
        *,
        steps: int,
        device: str,
        seed: int,
        progress: object = None,
        time_limit: float | None = None,
        max_steps: int | None = None,
        stop_early: bool = False,
    ) -> types.SimpleNamespace:
        calls.append(
            (spec, steps, seed, device)
            + ((time_limit,) if time_limit else ())
            + ((max_steps,) if max_steps != steps else ())
            + (("stop_early",) if stop_early else ())
        )
        return types.SimpleNamespace(spec=spec, steps=steps, seed=seed, device=device)

    engine = types.ModuleType("pytest_gan.training")
    engine.train = train
    monkeypatch.setitem(sys.modules, "pytest_gan.training", engine)
    return calls


def _spec() -> Any:
    """A stand-in spec: the cache only looks at its identity."""
    return object()


def test_run_cache_reuses_only_identical_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _fake_training(monkeypatch)
    cache = RunCache()
    spec = _spec()

    first = cache.get_or_train(spec, 3, 0, "cpu")
    again = cache.get_or_train(spec, 3, 0, "cpu")
    cache.get_or_train(spec, 4, 0, "cpu")
    cache.get_or_train(spec, 3, 1, "cpu")
    cache.get_or_train(spec, 3, 0, "cuda")
    cache.get_or_train(_spec(), 3, 0, "cpu")
    # A budget at the step count is no budget: the same run.
    assert cache.get_or_train(spec, 3, 0, "cpu", max_steps=3) is first
    cache.get_or_train(spec, 3, 0, "cpu", max_steps=12)
    # A run stopped early is another run than one trained to the end.
    cache.get_or_train(spec, 3, 0, "cpu", stop_early=True)

    assert again is first
    assert len(calls) == 7 and calls[-2] == (spec, 3, 0, "cpu", 12)
    assert calls[-1] == (spec, 3, 0, "cpu", "stop_early")
    assert (cache.stats.trained, cache.stats.reused) == (7, 2)
    assert cache.stats.devices == ["cpu", "cuda"]


def test_run_cache_drops_the_least_recently_used(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _fake_training(monkeypatch)
    cache = RunCache(maxsize=2)
    a, b, c = _spec(), _spec(), _spec()

    run_a = cache.get_or_train(a, 1, 0, "cpu")
    cache.get_or_train(b, 1, 0, "cpu")
    cache.get_or_train(a, 1, 0, "cpu")  # a becomes the most recently used
    cache.get_or_train(c, 1, 0, "cpu")  # evicts b

    assert len(cache) == 2
    assert cache.get_or_train(a, 1, 0, "cpu") is run_a
    cache.get_or_train(b, 1, 0, "cpu")
    assert [call[0] for call in calls] == [a, b, c, b]


def test_run_cache_keeps_specs_alive_so_ids_stay_unique(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _fake_training(monkeypatch)
    cache = RunCache()

    # Each spec is unreferenced after its call: without the cache holding it, the next
    # object() would typically reuse its id and be served the previous spec's run.
    for _ in range(3):
        cache.get_or_train(_spec(), 1, 0, "cpu")

    assert len(calls) == 3


def test_run_cache_size_defaults_and_must_be_positive() -> None:
    assert RunCache().maxsize == _defaults.RUN_CACHE_SIZE
    with pytest.raises(ValueError, match="maxsize"):
        RunCache(maxsize=0)


def test_run_stats_merge_and_describe() -> None:
    stats = RunStats()
    stats.record("cpu", reused=False)
    stats.record("cpu", reused=True)

    stats.merge(RunStats(trained=2, reused=0, devices=["cuda"]).as_dict())

    assert stats.describe() == "3 training run(s), 1 reused from cache (devices cpu, cuda)"


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"steps": 0}, ValueError, "gan_train: steps must be at least 1; got 0"),
        ({"steps": "3"}, TypeError, "gan_train: steps must be an int; got str"),
        ({"steps": 2.0}, TypeError, "gan_train: steps must be an int; got float"),
        ({"steps": True}, TypeError, "gan_train: steps must be an int; got bool"),
        ({"seed": -1}, ValueError, "gan_train: seed must be at least 0; got -1"),
        ({"seed": 2**64}, ValueError, "gan_train: seed must be at most 2**64 - 1"),
        ({"device": "tpu"}, ValueError, "gan_train(device=...): expected one of auto, cpu"),
    ],
)
def test_gan_train_validates_its_arguments(
    monkeypatch: pytest.MonkeyPatch, kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    calls = _fake_training(monkeypatch)
    gan_train = RunFactory(RunCache(), steps=5, seed=0, device="cpu")

    with pytest.raises(error, match=re.escape(message)):
        gan_train(_spec(), **kwargs)
    assert calls == []


def test_gan_train_fills_in_the_session_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _fake_training(monkeypatch)
    gan_train = RunFactory(RunCache(), steps=5, seed=2, device="cpu")
    spec = _spec()

    gan_train(spec)
    gan_train(spec, 3, seed=4, device=torch.device("cpu"))

    assert calls == [(spec, 5, 2, "cpu"), (spec, 3, 4, "cpu")]
    # The session's time limit bounds every training of gan_train.
    bounded = RunFactory(RunCache(), steps=5, seed=2, device="cpu", time_limit=30.0)
    bounded(spec)
    assert calls[-1] == (spec, 5, 2, "cpu", 30.0)
