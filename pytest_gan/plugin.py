"""The pytest plugin: options, hooks and fixtures. The work is done in ``pytest_gan.session``.

Registered through the ``pytest11`` entry point as ``gan``; ``-p no:gan`` disables it.
Importing this module does not import torch.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from pytest_gan import _defaults, _profile, threads
from pytest_gan.baseline_fixture import BaselineFixture, baseline_path
from pytest_gan.session import (
    ARTIFACTS_DIRNAME,
    AUTO_DEVICE,
    GanSettings,
    RunCache,
    RunFactory,
    artifact_dir_for,
    option_type,
    parse_device,
    parse_dir,
    parse_file,
    parse_seed,
    parse_seeds,
    parse_steps,
    parse_threads,
    parse_timeout,
    resolve_device,
    settings_from_config,
)
from pytest_gan.smoke import (
    EXPECT_MARKER_HELP,
    TRAINED_PROPERTY,
    VERDICT_PROPERTY,
    SmokeCollector,
    SmokeReporter,
    TrainingProgress,
    collector_for,
    defines_spec_fixture,
    expectation_of,
    html_extras,
    junit_properties,
    record_failure,
    smoke_artifact_dir,
    spec_id,
    spec_scheduler,
    training_record,
    verdict_of,
    write_run_artifacts,
)

_SETTINGS = pytest.StashKey[GanSettings]()
_CACHE = pytest.StashKey[RunCache]()
#: What the plugin does with torch's intra-op threads in this process.
_THREADS = pytest.StashKey[threads.ThreadPlan]()
#: The smoke runs whose pictures this process has written (by run key).
_PICTURED = pytest.StashKey[set[Any]]()
#: A smoke item's artifact folder, for its failure's evidence and report section.
_ITEM_ARTIFACTS = pytest.StashKey[Path]()
#: The training a smoke item's setup did (``training_record``), for its setup report.
_TRAINED_HERE = pytest.StashKey[dict[str, Any]]()
#: Key of the run counts a pytest-xdist worker sends back to the controller.
_WORKER_STATS = "gan_run_stats"
_DEFAULT_DEVICE = _defaults.DEVICE or AUTO_DEVICE


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gan", "GAN training checks (pytest-gan)")
    group.addoption(
        "--gan-device",
        dest="gan_device",
        metavar="DEVICE",
        type=option_type(parse_device),
        help="Device of the training runs: auto, cpu, cuda, cuda:N or mps. "
        f"Default: {_DEFAULT_DEVICE} (cuda if available, else cpu).",
    )
    group.addoption(
        "--gan-seed",
        dest="gan_seed",
        metavar="N",
        type=option_type(parse_seed),
        help=f"Seed of the training runs (an int >= 0). Default: {_defaults.SEED}.",
    )
    group.addoption(
        "--gan-steps",
        dest="gan_steps",
        metavar="N",
        type=option_type(parse_steps),
        help="Training steps of a run when a test does not say (an int >= 1). "
        f"Default: {_defaults.STEPS}.",
    )
    group.addoption(
        "--gan-max-steps",
        dest="gan_max_steps",
        metavar="N",
        type=option_type(parse_steps),
        help="How far the smoke suite may train a run on while its blank-output or "
        "mode-collapse verdict may only be premature (an int; at most --gan-steps: never). "
        f"Default: {_defaults.MAX_EXTEND_FACTOR}x --gan-steps.",
    )
    group.addoption(
        "--gan-artifacts",
        dest="gan_artifacts",
        metavar="DIR",
        type=option_type(parse_dir),
        help="Folder for the per-test artifact folders (gan_artifacts fixture). "
        f"Default: {ARTIFACTS_DIRNAME}/ in pytest's temporary directory.",
    )
    group.addoption(
        "--gan-timeout",
        dest="gan_timeout",
        metavar="SECONDS",
        type=option_type(parse_timeout),
        help="Time limit of each training run (gan_train and the smoke suite): a run that "
        "takes longer fails with GANTimeLimitError naming the spec and the step. "
        "Default: no limit.",
    )
    group.addoption(
        "--gan-threads",
        dest="gan_threads",
        metavar="N",
        type=option_type(parse_threads),
        help="torch's intra-op threads in each test process (an int >= 1). Default: cores / "
        "workers under pytest-xdist (at least 1), else torch's own; OMP_NUM_THREADS or "
        "MKL_NUM_THREADS in the environment is left to torch.",
    )
    group.addoption(
        "--gan-smoke",
        dest="gan_smoke",
        action="store_true",
        default=False,
        help="Run every check on each GAN of a conftest's gan_spec fixture: one item per "
        "check per spec (gan-smoke::<check>[<spec>]), one training run per spec; sample "
        "grids and curves per spec go under --gan-artifacts.",
    )
    group.addoption(
        "--gan-update-baselines",
        dest="gan_update_baselines",
        action="store_true",
        default=False,
        help="Measure the regression baseline of every test that uses gan_baseline again "
        "and rewrite its file (beside the test module, in a folder named after it); those "
        "tests pass. Without it a missing baseline is created and its test fails.",
    )
    group.addoption(
        "--gan-baseline-seeds",
        dest="gan_baseline_seeds",
        metavar="N",
        type=option_type(parse_seeds),
        help="Seeds a regression baseline is measured on when created or updated (an int "
        f">= {_defaults.BASELINE_MIN_SEEDS}; more seeds, a tighter band). "
        f"Default: {_defaults.BASELINE_SEEDS}.",
    )
    group.addoption(
        "--gan-report",
        dest="gan_report",
        metavar="FILE",
        type=option_type(parse_file),
        help="Write every smoke verdict with its evidence to FILE as JSON (atomically).",
    )
    parser.addini(
        "gan_device",
        f"Device of the training runs, as --gan-device. Default: {_DEFAULT_DEVICE}.",
    )
    parser.addini(
        "gan_seed", f"Seed of the training runs, as --gan-seed. Default: {_defaults.SEED}."
    )
    parser.addini(
        "gan_steps",
        "Training steps of a run when a test does not say, as --gan-steps. "
        f"Default: {_defaults.STEPS}.",
    )
    parser.addini(
        "gan_max_steps",
        "How far the smoke suite may train a run on to decide a premature verdict, as "
        f"--gan-max-steps. Default: {_defaults.MAX_EXTEND_FACTOR}x the steps.",
    )
    parser.addini(
        "gan_timeout",
        "Time limit of each training run in seconds, as --gan-timeout. Default: no limit.",
    )
    parser.addini(
        "gan_threads",
        "torch's intra-op threads in each test process, as --gan-threads. Default: cores / "
        "workers under pytest-xdist, else torch's own.",
    )
    parser.addini(
        "gan_baseline_seeds",
        "Seeds a regression baseline is measured on, as --gan-baseline-seeds. "
        f"Default: {_defaults.BASELINE_SEEDS}.",
    )
    parser.addini(
        "gan_artifacts",
        "Folder for the per-test artifact folders, as --gan-artifacts; relative to the ini "
        f"file. Default: {ARTIFACTS_DIRNAME}/ in pytest's temporary directory.",
    )


# tryfirst: before hypothesis's own plugin loads the profile ``--hypothesis-profile`` names.
@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("hypothesis_profile", None) == _profile.PROFILE:
        _profile.register()
    config.addinivalue_line("markers", "gan: a test that trains a GAN")
    config.addinivalue_line("markers", EXPECT_MARKER_HELP)
    config.stash[_SETTINGS] = settings_from_config(config)
    config.stash[_THREADS] = _thread_plan(config)
    if hasattr(config, "workerinput") or config.stash[_SETTINGS].threads is not None:
        # A process that runs tests (an xdist worker, or the one process without xdist).
        threads.apply(config.stash[_THREADS])
    config.stash[_CACHE] = RunCache()
    config.stash[_PICTURED] = set()
    if config.getoption("gan_smoke", False) or config.getoption("gan_report", None):
        config.pluginmanager.register(
            SmokeReporter(config, config.stash[_SETTINGS]), SmokeReporter.NAME
        )


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if (
        parent.config.getoption("gan_smoke")
        and file_path.name == "conftest.py"
        and defines_spec_fixture(file_path)
    ):
        return collector_for(file_path, parent)
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # One spec's items together, so that its run is trained once and used while cached;
    # specs in the order the gan_spec fixture lists them (a team that lists its slowest
    # GAN first gets it started first, under pytest-xdist too).
    smoke = [i for i, item in enumerate(items) if isinstance(item.parent, SmokeCollector)]
    for i in smoke:
        try:
            expectation_of(items[i])
        except ValueError as exc:
            raise pytest.UsageError(str(exc)) from None
    first_seen: dict[str, int] = {}
    for i in smoke:
        first_seen.setdefault(spec_id(items[i]), len(first_seen))
    ordered = sorted((items[i] for i in smoke), key=lambda item: first_seen[spec_id(item)])
    for i, item in zip(smoke, ordered, strict=True):
        items[i] = item


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if isinstance(item.parent, SmokeCollector) and call.when == "setup":
        trained = item.stash.get(_TRAINED_HERE, None)
        if trained is not None:
            report.user_properties.append((TRAINED_PROPERTY, trained))
            item.user_properties.append(("gan_training_s", f"{trained['seconds']:.3f}"))
    if isinstance(item.parent, SmokeCollector):
        exc = call.excinfo.value if call.excinfo is not None else None
        diagnosed = isinstance(getattr(exc, "pitfall", None) or getattr(exc, "missed", None), str)
        if report.failed and diagnosed and item.config.option.tbstyle == "auto":
            # The check's message is the whole story (what was seen, the evidence, the
            # fix); the frames inside the check would only bury it. --tb=long shows them.
            report.longrepr = f"{type(exc).__module__}.{type(exc).__qualname__}: {exc}"
        verdict = verdict_of(item, call, report)
        if verdict is not None:
            folder = item.stash.get(_ITEM_ARTIFACTS, None)
            if folder is not None:
                lines = record_failure(folder, verdict)
                if lines:
                    verdict = replace(verdict, artifacts=str(folder))
                    report.sections.append(("gan-smoke artifacts", "\n".join(lines)))
            report.user_properties.append((VERDICT_PROPERTY, verdict.to_json()))
            # JUnit XML reads the properties of the teardown report, which pytest copies
            # from the item: flat pairs there (the verdict record above is for our reporter).
            item.user_properties.extend(junit_properties(verdict))
            if item.config.getoption("htmlpath", None):
                # pytest-html shows a report's ``extras`` beside its test.
                report.extras = [*getattr(report, "extras", []), *html_extras(folder, verdict)]
    return report


def _thread_plan(config: pytest.Config) -> threads.ThreadPlan:
    """This process's thread plan: an xdist worker knows the worker count from its
    controller, which knows it from ``-n``."""
    workerinput = getattr(config, "workerinput", None)
    workers: int | None = None
    if workerinput is not None:
        workers = int(workerinput.get("workercount", 0)) or None
    elif config.getoption("dist", "no") != "no":
        count = config.getoption("numprocesses", None)
        workers = count if isinstance(count, int) and count > 0 else None
    return threads.plan(config.stash[_SETTINGS].threads, workers)


def pytest_report_header(config: pytest.Config) -> str:
    return f"gan: {config.stash[_SETTINGS].describe()}, {config.stash[_THREADS].describe()}"


def pytest_sessionstart(session: pytest.Session) -> None:
    """The session's settings as JUnit XML global properties (``--junitxml``)."""
    config = session.config
    if hasattr(config, "workerinput"):
        return  # the controller writes the XML
    try:
        from _pytest.junitxml import xml_key
    except ImportError:  # pragma: no cover - a pytest without its junitxml plugin
        return
    xml = config.stash.get(xml_key, None)
    if xml is None:
        return
    settings = config.stash[_SETTINGS]
    for name, value in (
        ("gan_seed", settings.seed),
        ("gan_steps", settings.steps),
        ("gan_max_steps", settings.smoke_max_steps),
        ("gan_device", settings.device or AUTO_DEVICE),
        ("gan_threads", config.stash[_THREADS].describe().removeprefix("threads=")),
        ("torch_version", _version("torch")),
        ("pytest_gan_version", _version("pytest-gan")),
    ):
        xml.add_global_property(name, value)


def _version(distribution: str) -> str:
    """An installed distribution's version, read from its metadata (torch is not imported)."""
    import importlib.metadata

    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput: dict[str, Any] | None = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput[_WORKER_STATS] = session.config.stash[_CACHE].stats.as_dict()


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    # With -n N and the default distribution, all the items of a spec go to one worker:
    # one training per spec in all, rather than one per worker that gets any of them.
    if config.getoption("gan_smoke", False) and config.getvalue("dist") == "load":
        return spec_scheduler(config, log)
    return None


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    stats = getattr(node, "workeroutput", {}).get(_WORKER_STATS)
    if stats is not None:
        node.config.stash[_CACHE].stats.merge(stats)


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    stats = config.stash[_CACHE].stats
    if stats.trained:
        terminalreporter.write_line(f"gan: {stats.describe()}")


@pytest.fixture
def gan_smoke_run(
    request: pytest.FixtureRequest, gan_spec: Any, gan_seed: int, gan_device: str
) -> Any:
    """The training run of the ``gan_spec`` of this smoke item: one per spec and process."""
    from pytest_gan.spec import GANSpec

    spec = gan_spec
    if not isinstance(spec, GANSpec) and not callable(spec):
        raise TypeError(
            "the gan_spec fixture must return a pytest_gan.GANSpec, or a team's own loop: "
            "a callable that trains for the steps it is given under pg.watch and returns "
            f"the run; got {type(spec).__name__}"
        )
    config = request.config
    settings = config.stash[_SETTINGS]
    collector = request.node.nodeid.split("::")[0]
    key = ("gan-smoke", collector, spec_id(request.node))
    name = getattr(spec, "name", None) or getattr(spec, "__name__", "loop")
    label = spec_id(request.node) or str(name)
    progress = TrainingProgress.for_config(config, label)
    cache = config.stash[_CACHE]
    trained_before = cache.stats.trained
    started = time.perf_counter()
    run: Any = None
    error: BaseException | None = None
    try:
        run = cache.get_or_train(
            spec,
            settings.steps,
            gan_seed,
            gan_device,
            key=key,
            time_limit=settings.timeout,
            progress=progress,
            max_steps=settings.smoke_max_steps,
            stop_early=True,
        )
    except Exception as exc:
        error = exc
        raise
    finally:
        if progress is not None:
            progress.close()
        if cache.stats.trained > trained_before:
            # This item's setup trained the spec's run: say so in its setup report.
            request.node.stash[_TRAINED_HERE] = training_record(
                label, time.perf_counter() - started, run, error
            )
    root = settings.artifacts
    if root is None:
        root = request.getfixturevalue("tmp_path_factory").getbasetemp() / ARTIFACTS_DIRNAME
    folder = smoke_artifact_dir(root, collector, spec_id(request.node))
    if key not in config.stash[_PICTURED]:
        write_run_artifacts(run, folder)
        config.stash[_PICTURED].add(key)
    request.node.stash[_ITEM_ARTIFACTS] = folder
    return run


@pytest.fixture(scope="session")
def gan_seed(pytestconfig: pytest.Config) -> int:
    """The session's seed: ``--gan-seed``, ini ``gan_seed``, else the default."""
    return pytestconfig.stash[_SETTINGS].seed


@pytest.fixture(scope="session")
def gan_device(pytestconfig: pytest.Config) -> str:
    """The session's device, resolved ("cuda" when ``--gan-device`` is auto and CUDA is there)."""
    try:
        return resolve_device(pytestconfig.stash[_SETTINGS].device)
    except ValueError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def gan_train(pytestconfig: pytest.Config, gan_seed: int, gan_device: str) -> RunFactory:
    """Train a GAN, or reuse the session's run: ``gan_train(spec, steps=None, *, seed=None,
    device=None, max_steps=None) -> GANRun``; None takes the session's
    ``--gan-steps``/``gan_seed``/``gan_device`` (and, for ``max_steps``, no training on:
    see ``train``). Tests that pass the same spec object and arguments share one run.
    """
    return RunFactory(
        pytestconfig.stash[_CACHE],
        steps=pytestconfig.stash[_SETTINGS].steps,
        seed=gan_seed,
        device=gan_device,
        time_limit=pytestconfig.stash[_SETTINGS].timeout,
    )


@pytest.fixture
def gan_artifacts(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This test's own folder for images, curves and checkpoints (created, contents kept):
    under ``--gan-artifacts`` when given, else under pytest's temporary directory.
    """
    root = request.config.stash[_SETTINGS].artifacts
    if root is None:
        root = tmp_path_factory.getbasetemp() / ARTIFACTS_DIRNAME
    path = artifact_dir_for(root, request.node.nodeid)
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def gan_baseline(request: pytest.FixtureRequest) -> BaselineFixture:
    """This test's regression baseline: ``gan_baseline.check(run)`` compares ``run`` with
    the file ``gan_baseline.path`` (``<module folder>/<module name>/<test name>.json``),
    measuring and writing it first when it is missing or with ``--gan-update-baselines``;
    ``gan_baseline.check_samples(generator, z)`` compares a fixed-z sample grid with a
    stored PNG beside it.
    """
    settings = request.config.stash[_SETTINGS]
    stats = request.config.stash[_CACHE].stats

    def count(run: Any) -> None:
        stats.record(str(run.device), reused=False)

    def artifacts() -> Path:
        # Only a failing golden-sample check writes there: the folder is made on demand.
        folder: Path = request.getfixturevalue("gan_artifacts")
        return folder

    return BaselineFixture(
        baseline_path(request.node.path, request.node.nodeid),
        update=settings.update_baselines,
        seeds=settings.baseline_seeds,
        time_limit=settings.timeout,
        on_train=count,
        artifacts=artifacts,
    )
