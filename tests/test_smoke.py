"""``pytest --gan-smoke``: items per check per spec from a conftest's gan_spec fixture, one
run per spec, the verdict table and ``--gan-report``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_gan.checks import ALL as SMOKE_CHECKS
from pytest_gan.smoke import TABLE_WIDTH, smoke_scope, verdict_table
from pytest_gan.smoke.verdicts import Verdict


def _table(out: str) -> tuple[list[str], dict[str, list[str]], dict[str, list[str]]]:
    """The verdict table printed in ``out``: the checks its key names, in column order;
    each spec's row of marks, in table order; the pitfalls listed under each spec's row."""
    lines = out[out.index("gan smoke verdicts") :].splitlines()[1:]
    assert lines[0].split()[0] == "spec" and set(lines[1]) == {"-", " "}
    key = next(i for i, line in enumerate(lines) if line.startswith("checks:"))
    marks = next(i for i, line in enumerate(lines) if line.startswith("marks:"))
    named = " ".join(line.strip() for line in lines[key:marks]).removeprefix("checks:")
    checks = [item.split()[1] for item in named.split(",")]
    assert lines[0].split()[1:] == [str(i) for i in range(1, len(checks) + 1)]
    rows: dict[str, list[str]] = {}
    listed: dict[str, str] = {}
    for line in lines[2 : key - 1]:
        if set(line) <= {"-", " "}:
            continue  # a rule
        if not line.startswith(" "):
            rows[line.split()[0]] = line.split()[1:]
            assert len(rows[line.split()[0]]) == len(checks)
        else:  # the pitfalls found under the last row, and their continuation lines
            last = list(rows)[-1]
            listed[last] = listed.get(last, "") + line.replace("    found:", "", 1)
    found = {s: [p.strip() for p in text.split(",")] for s, text in listed.items()}
    end = next((i for i in range(marks + 1, len(lines)) if not lines[i].startswith(" ")), None)
    assert max(len(line) for line in lines[:end]) <= TABLE_WIDTH
    return checks, rows, found


# A small GAN on 2-D points, and the imports, shared by the conftests below.
TOY_GAN = """
import time
import pytest
import torch
from torch import nn
from pytest_gan import GANSpec
from fixtures.steps import UserStep

def g():
    return nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, 2))

def d():
    return nn.Sequential(nn.Linear(2, 32), nn.LeakyReLU(0.2), nn.Linear(32, 1))

DATA = torch.randn(1024, 2, generator=torch.Generator().manual_seed(0)) * 0.5 + torch.tensor(
    [2.0, -1.0]
)

def fast(g, d):
    return (torch.optim.Adam(g.parameters(), lr=1e-3, betas=(0.5, 0.999)),
            torch.optim.Adam(d.parameters(), lr=1e-3, betas=(0.5, 0.999)))
"""

SMOKE_CONFTEST = (
    TOY_GAN
    + """
TRAINED = []

def counting_step(ctx, batch):
    if ctx.step == 0:
        TRAINED.append(ctx.spec.name)
    return UserStep()(ctx, batch)

def raising_step(ctx, batch):
    if ctx.step == 3:
        raise RuntimeError("boom")
    return UserStep()(ctx, batch)

@pytest.fixture(params=["healthy", "sigmoid", "raises"])
def gan_spec(request):
    # Function-scoped on purpose: a new spec object per test must not retrain.
    if request.param == "healthy":
        return GANSpec(generator=g, discriminator=d, data=DATA, latent_dim=4,
                       train_step=counting_step, optimizers=fast, name="toy")
    if request.param == "sigmoid":
        return GANSpec(generator=lambda: nn.Sequential(g(), nn.Sigmoid()), discriminator=d,
                       data=DATA, latent_dim=4, train_step=counting_step, optimizers=fast,
                       name="toy-sigmoid")
    return GANSpec(generator=g, discriminator=d, data=DATA, latent_dim=4,
                   train_step=raising_step, name="toy-raises")

def pytest_sessionfinish(session):
    print(f"\\ntrained: {sorted(TRAINED)}")
"""
)

PLAIN_TEST = """
def test_plain():
    assert True
"""

CHECK_IDS = [s.id for s in SMOKE_CHECKS]


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(SMOKE_CONFTEST)
    pytester.makepyfile(test_plain=PLAIN_TEST)
    return pytester


def test_without_the_option_nothing_extra_is_collected_or_trained(project: pytest.Pytester) -> None:
    result = project.runpytest("-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["trained: []"])
    assert "gan smoke verdicts" not in result.stdout.str()


def test_one_item_per_check_per_spec(project: pytest.Pytester) -> None:
    result = project.runpytest("--gan-smoke", "--collect-only", "-q")
    ids = [line for line in result.stdout.lines if "gan-smoke::" in line]
    assert len(ids) == 3 * len(SMOKE_CHECKS)
    assert "gan-smoke::not-blank[healthy]" in ids
    assert "gan-smoke::checkpoint-roundtrip[raises]" in ids


def test_a_specs_items_run_together_in_the_order_the_fixture_lists_the_specs(
    project: pytest.Pytester,
) -> None:
    # The fixture lists healthy, sigmoid, raises: not alphabetical, so a sort would show.
    result = project.runpytest("--gan-smoke", "--collect-only", "-q")
    specs = [
        line.split("[")[-1].rstrip("]") for line in result.stdout.lines if "gan-smoke::" in line
    ]
    n = len(SMOKE_CHECKS)
    assert specs == ["healthy"] * n + ["sigmoid"] * n + ["raises"] * n


def test_the_smoke_suite_gives_verdicts_and_trains_once_per_spec(
    project: pytest.Pytester,
) -> None:
    result = project.runpytest("--gan-smoke", "--gan-steps", "40", "-s", "--strict-markers")
    out = result.stdout.str()
    # Every spec trained once, however many of its items ran and though each got a new
    # spec object; the raising spec trained once and its error was shared.
    result.stdout.fnmatch_lines(["trained: ['toy', 'toy-sigmoid']"])
    reused = 3 * len(SMOKE_CHECKS) - 3
    result.stdout.fnmatch_lines([f"*gan: 3 training run(s), {reused} reused from cache*"])
    # The table: a row per spec, a numbered column per check, the pitfalls found under
    # the row, and the key; no wider than TABLE_WIDTH.
    checks, rows, found = _table(out)
    assert checks == [c.id for c in SMOKE_CHECKS]
    assert list(rows) == ["healthy", "sigmoid", "raises"]
    assert set(rows["healthy"]) == {"ok", "-"} and "healthy" not in found
    assert rows["sigmoid"][checks.index("output-range")] == "X"
    assert "output-range-mismatch" in found["sigmoid"]
    assert set(rows["raises"]) == {"E"}
    # Failures carry the pitfall; the raising spec's error names the step and the spec.
    result.stdout.fnmatch_lines(["FAILED *gan-smoke::output-range[[]sigmoid[]]*"])
    assert "toy-raises: the training step raised at step 3" in out
    outcomes = result.parseoutcomes()
    assert outcomes["errors"] == len(SMOKE_CHECKS)
    # Unconditional specs skip the conditioning check, unconstrained critics Lipschitz's.
    assert outcomes["skipped"] >= 2 * 2


def test_the_report_holds_every_verdict_with_its_evidence(project: pytest.Pytester) -> None:
    project.runpytest("--gan-smoke", "--gan-steps", "40", "--gan-report", "out/report.json")
    report = project.path / "out" / "report.json"
    verdicts = json.loads(report.read_text())["verdicts"]
    assert len(verdicts) == 3 * len(SMOKE_CHECKS)
    failed = [v for v in verdicts if v["outcome"] == "fail"]
    assert any(
        v["spec"] == "sigmoid"
        and v["check"] == "output-range"
        and v["pitfall"] == "output-range-mismatch"
        and v["evidence"]
        and "Sigmoid" in v["message"]
        for v in failed
    )
    assert {v["outcome"] for v in verdicts if v["spec"] == "raises"} == {"error"}
    assert [p.name for p in report.parent.iterdir()] == ["report.json"]  # no temp files
    # Each record is a Verdict's, field for field: reading it back loses nothing.
    assert [Verdict.from_json(v).to_json() for v in verdicts] == verdicts


def test_xdist_gives_the_same_verdicts(project: pytest.Pytester) -> None:
    serial = project.runpytest("--gan-smoke", "--gan-steps", "40", "--gan-report", "a.json")
    parallel = project.runpytest_subprocess(
        "--gan-smoke", "--gan-steps", "40", "-n", "2", "--gan-report", "b.json"
    )
    assert serial.parseoutcomes() == parallel.parseoutcomes()

    def cells(name: str) -> set[tuple[str, str, str]]:
        data = json.loads((project.path / name).read_text())["verdicts"]
        return {(v["spec"], v["check"], v.get("pitfall", v["outcome"])) for v in data}

    assert cells("a.json") == cells("b.json")
    assert "gan smoke verdicts" in parallel.stdout.str()
    # A spec's items go to one worker: three trainings in all, as in one process.
    reused = 3 * len(SMOKE_CHECKS) - 3
    parallel.stdout.fnmatch_lines([f"*gan: 3 training run(s), {reused} reused from cache*"])


def test_a_specs_items_are_one_unit_of_work_under_xdist() -> None:
    assert smoke_scope("tests/gan-smoke::not-blank[dcgan]") == "tests/gan-smoke[dcgan]"
    assert smoke_scope("tests/gan-smoke::diverse[dcgan]") == "tests/gan-smoke[dcgan]"
    assert smoke_scope("gan-smoke::diverse[a[1]]") == "gan-smoke[a[1]]"
    assert smoke_scope("gan-smoke::diverse") == "gan-smoke[]"
    # Anything else is a unit of its own.
    for nodeid in ("tests/test_x.py::test_y[dcgan]", "tests/gan-smoke::not-a-check[dcgan]"):
        assert smoke_scope(nodeid) == nodeid


def test_a_gan_spec_that_is_no_spec_is_named(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        "import pytest\n\n@pytest.fixture\ndef gan_spec():\n    return 'not a spec'\n"
    )
    result = pytester.runpytest("--gan-smoke")
    result.stdout.fnmatch_lines(["*the gan_spec fixture must return a pytest_gan.GANSpec*"])


def test_an_empty_report_path_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--gan-report", " ")
    result.stderr.fnmatch_lines(["*--gan-report*expected a file path*"])
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_the_table_is_aligned_with_a_row_per_spec() -> None:
    verdicts = [
        {"spec": "a", "check": "not-blank", "outcome": "pass"},
        {"spec": "a", "check": "diverse", "outcome": "fail", "pitfall": "mode-collapse"},
        {"spec": "bb", "check": "not-blank", "outcome": "n/a"},
        {"spec": "bb", "check": "diverse", "outcome": "error"},
    ]
    assert verdict_table([Verdict.from_json({"nodeid": "", **v}) for v in verdicts]) == [
        "spec  1   2",
        "----  --  --",
        "a     ok  X",
        "    found: mode-collapse",
        "bb    -   E",
        "----  --  --",
        "checks: 1 not-blank, 2 diverse",
        "marks: ok passed, - does not apply, X found the pitfall listed under the row,",
        "       E error: the run or the check raised",
    ]


def test_long_lists_of_pitfalls_wrap_at_the_table_width() -> None:
    cells = [  # in the table's column order
        ("not-blank", "expected", "blank-output"),
        ("diverse", "expected", "mode-collapse"),
        ("losses-balanced", "expected", "discriminator-overpowers"),
        ("lipschitz", "missed", "discriminator-not-lipschitz"),
        ("checkpoint-roundtrip", "expected", "checkpoint-roundtrip-mismatch"),
    ]
    verdicts = [
        {"spec": "twin", "check": c, "outcome": o, "pitfall": p, "expected": ["blank-output"]}
        for c, o, p in cells
    ]
    lines = verdict_table([Verdict.from_json({"nodeid": "", **v}) for v in verdicts])
    assert lines[2].split() == ["twin", "X*", "X*", "X*", "M", "X*"]
    found = lines[3 : lines.index(lines[1], 2)]
    assert len(found) == 2 and all(len(line) <= TABLE_WIDTH for line in found)
    assert found[0].startswith("    found: ") and found[1].startswith(" " * 11 + "MISSED")
    assert [p.strip() for p in " ".join(found).removeprefix("    found:").split(",")] == [
        "blank-output*",
        "mode-collapse*",
        "discriminator-overpowers*",
        "MISSED discriminator-not-lipschitz",
        "checkpoint-roundtrip-mismatch*",
    ]
    assert "X* found it as the spec's gan_expect marker expects" in " ".join(lines)


# -- artifacts, the time limit, gan_expect, the progress line ------------------------------

MARKED_CONFTEST = (
    TOY_GAN
    + """
def hanging_step(ctx, batch):
    if ctx.step == 2:
        time.sleep(3600)  # a data loader that never answers
    return UserStep()(ctx, batch)

SPECS = {
    "healthy": dict(generator=g),
    "sigmoid": dict(generator=lambda: nn.Sequential(g(), nn.Sigmoid())),
    "hangs": dict(generator=g, train_step=hanging_step),
}

@pytest.fixture(params=[
    "healthy",
    pytest.param("sigmoid", marks=pytest.mark.gan_expect(
        "output-range-mismatch", may_also=("discriminator-overpowers", "mode-collapse"))),
    pytest.param("healthy", id="healthy-said-collapsed",
                 marks=pytest.mark.gan_expect("mode-collapse")),
    "hangs",
])
def gan_spec(request):
    kw = dict(SPECS[request.param])
    kw.setdefault("train_step", UserStep())
    return GANSpec(discriminator=d, data=DATA, latent_dim=4, optimizers=fast,
                   name=f"toy-{request.param}", **kw)
"""
)


@pytest.fixture
def marked(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(MARKED_CONFTEST)
    return pytester


def test_expected_failures_time_limits_and_artifacts(marked: pytest.Pytester) -> None:
    result = marked.runpytest(
        "--gan-smoke", "--gan-steps", "40", "--gan-timeout", "3", "--gan-artifacts", "art", "-rfE"
    )
    out = result.stdout.str()
    outcomes = result.parseoutcomes()
    # The marked spec's failure is expected; the spec marked with a pitfall its check did
    # not find fails that check, and only that one.
    assert outcomes["xfailed"] >= 1
    assert outcomes["failed"] == 1
    result.stdout.fnmatch_lines(["FAILED *gan-smoke::diverse[[]healthy-said-collapsed[]]*"])
    assert "toy-healthy is marked gan_expect('mode-collapse'), but assert_diverse passed" in out
    checks, rows, found = _table(out)
    assert rows["sigmoid"][checks.index("output-range")] == "X*"
    assert "output-range-mismatch*" in found["sigmoid"]
    assert rows["healthy-said-collapsed"][checks.index("diverse")] == "M"
    assert found["healthy-said-collapsed"] == ["MISSED mode-collapse"]
    assert set(rows["healthy"]) == {"ok", "-"}
    # The marked specs come last, under their own rule, and the key says what X* means.
    assert list(rows) == ["healthy", "hangs", "sigmoid", "healthy-said-collapsed"]
    assert "X* found it as the spec's gan_expect marker expects" in out
    # The hanging spec is stopped by the time limit: every item errors naming the spec and
    # the step; the others ran.
    assert outcomes["errors"] == len(SMOKE_CHECKS)
    assert set(rows["hangs"]) == {"E"}
    assert "toy-hangs: training ran past its time limit of 3 s at step 2 of 40" in out
    # Artifacts: per spec the pictures, per failure its evidence, and the failure's report
    # section pointing at them.
    root = marked.path / "art" / "gan-smoke"
    for spec in ("healthy", "sigmoid", "healthy-said-collapsed"):
        assert {p.name for p in (root / spec).iterdir()} >= {"samples.png", "curves.png"}
    evidence = json.loads((root / "sigmoid" / "output-range.json").read_text())
    assert evidence["outcome"] == "expected"
    assert evidence["pitfall"] == "output-range-mismatch"
    assert evidence["evidence"]
    assert not (root / "hangs").exists()
    result.stdout.fnmatch_lines(["*gan-smoke artifacts*", f"*evidence: {root}*diverse.json*"])
    assert not list(marked.path.glob("art/**/*.tmp*"))


def test_a_bad_gan_expect_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        MARKED_CONFTEST.replace('"output-range-mismatch", may_also', '"no-such-pitfall", may_also')
    )
    result = pytester.runpytest("--gan-smoke", "--collect-only")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*gan_expect('no-such-pitfall'): not a pitfall the smoke*"])


def test_a_bad_timeout_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--gan-timeout", "0")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--gan-timeout*expected a number of seconds > 0*"])
    pytester.makeini("[pytest]\ngan_timeout = soon\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*gan_timeout = soon*expected a number of seconds*"])


def test_the_plugin_can_be_disabled(project: pytest.Pytester) -> None:
    result = project.runpytest("-p", "no:gan")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["trained: []"])
    result = project.runpytest("-p", "no:gan", "--gan-smoke")
    assert result.ret == pytest.ExitCode.USAGE_ERROR  # the option is the plugin's


def test_xdist_workers_write_the_same_artifacts_without_collisions(
    project: pytest.Pytester,
) -> None:
    project.runpytest_subprocess(
        "--gan-smoke", "--gan-steps", "40", "-n", "2", "--gan-artifacts", "art", "-k", "healthy"
    )
    folder = project.path / "art" / "gan-smoke" / "healthy"
    assert sorted(p.name for p in folder.iterdir()) == ["curves.png", "samples.png"]


def _run_in_a_terminal(args: list[str], cwd: Path) -> str:
    """pytest's output when its stdout is a terminal (a pseudo-terminal here)."""
    import os
    import pty
    import subprocess
    import sys

    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", *args],
        cwd=cwd,
        stdin=follower,
        stdout=follower,
        stderr=follower,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # the terminal closes with the process
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=300)
    os.close(leader)
    return b"".join(chunks).decode(errors="replace")


PLAIN_START = "gan-smoke: training {spec}: 40 steps (up to *), seed 0, device auto"
PLAIN_END = "gan-smoke: trained {spec}: * steps in * s on cpu*"


@pytest.mark.skipif(not hasattr(__import__("os"), "openpty"), reason="needs a pseudo-terminal")
def test_a_progress_line_is_rewritten_in_place_on_a_terminal(project: pytest.Pytester) -> None:
    args = ["--gan-smoke", "--gan-steps", "40", "-k", "healthy", "-p", "no:cacheprovider"]
    shown = _run_in_a_terminal(args, project.path)
    assert "gan-smoke: training healthy: step 40/40" in shown
    assert "gan-smoke: trained healthy" not in shown  # no plain lines beside it


def test_off_a_terminal_each_training_gets_a_start_and_an_end_line(
    project: pytest.Pytester,
) -> None:
    args = ["--gan-smoke", "--gan-steps", "40", "-q", "-p", "no:cacheprovider"]
    piped = project.runpytest_subprocess(*args, "-k", "healthy or raises")
    out = piped.stdout.str()
    assert "step 40/40" not in out  # nothing rewritten in place in a log
    piped.stdout.fnmatch_lines(
        [PLAIN_START.format(spec="healthy"), PLAIN_END.format(spec="healthy")]
    )
    piped.stdout.fnmatch_lines(
        ["gan-smoke: trained raises: raised after * s: GANTrainingError: toy-raises: *step 3*"]
    )
    # One start and one end per spec, however many of its items run.
    assert out.count("gan-smoke: training healthy:") == 1
    assert out.count("gan-smoke: trained healthy:") == 1
    quiet = project.runpytest_subprocess(*args, "-q", "-k", "healthy")
    assert "gan-smoke: train" not in quiet.stdout.str()  # -qq: nobody looks


@pytest.mark.skipif(not hasattr(__import__("os"), "openpty"), reason="needs a pseudo-terminal")
def test_under_xdist_the_controller_prints_the_progress_lines(project: pytest.Pytester) -> None:
    args = ["--gan-smoke", "--gan-steps", "40", "-n", "2", "-p", "no:cacheprovider"]
    piped = project.runpytest_subprocess(*args, "-k", "healthy or sigmoid")
    for spec in ("healthy", "sigmoid"):
        piped.stdout.fnmatch_lines([PLAIN_START.format(spec=spec)])
        piped.stdout.fnmatch_lines([PLAIN_END.format(spec=spec)])
        assert piped.stdout.str().count(f"gan-smoke: trained {spec}:") == 1
    # ... on a terminal too: the workers cannot rewrite a line there.
    shown = _run_in_a_terminal([*args, "-k", "healthy"], project.path)
    assert "gan-smoke: trained healthy: 40 steps in" in shown


def test_durations_name_the_setup_each_training_is_counted_in(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess(
        "--gan-smoke", "--gan-steps", "40", "--durations", "3", "-k", "healthy or sigmoid"
    )
    result.stdout.fnmatch_lines(
        [
            "*gan-smoke training durations*",
            "Each spec trains once, in the setup of the first of its items to run*",
            "*s train healthy (40 steps on cpu), in setup of gan-smoke::losses-finite?healthy?",
        ]
    )
    result.stdout.fnmatch_lines(["*s train sigmoid (* steps on cpu), in setup of *?sigmoid?"])


SLOW_CONFTEST = (
    TOY_GAN
    + """
def slow_g():
    net = g()
    with torch.no_grad():
        net[2].weight.mul_(0.01)  # every sample starts near one point, then spreads out
        net[2].bias.zero_()
    return net

class ConstantG(nn.Module):  # ignores z: a planted collapse
    def __init__(self):
        super().__init__()
        self.point = nn.Parameter(torch.zeros(2))
        self.unused = nn.Linear(4, 2)
    def forward(self, z):
        return self.point + 0.0 * self.unused(z)

@pytest.fixture(params=["slow", "collapsed"])
def gan_spec(request):
    generator = slow_g if request.param == "slow" else ConstantG
    return GANSpec(generator=generator, discriminator=d, data=DATA, latent_dim=4,
                   batch_size=32, name=request.param)
"""
)


def test_the_smoke_suite_trains_a_premature_verdict_on_up_to_its_budget(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(SLOW_CONFTEST)
    args = ("--gan-smoke", "--gan-steps", "40", "-k", "diverse or learns", "--gan-report", "r.json")
    # The slow G's spread rises steadily (0.04, 0.11, 0.28, 0.60 of the data's at 40, 80,
    # 160, 320 steps); a run of points must stay spread out over the last half of its
    # probes, which it has by 320 steps (lasting spread 0.49; 0.21 at 160).
    result = pytester.runpytest(*args, "--gan-max-steps", "320")
    result.stdout.fnmatch_lines(["*steps=40, max-steps=320 (smoke)*"])
    records = json.loads((pytester.path / "r.json").read_text())["verdicts"]
    verdicts = {v["spec"]: v for v in records if v["check"] == "diverse"}
    # The slow GAN is judged once it has spread out; the collapsed one fails at the budget.
    assert verdicts["slow"]["outcome"] == "pass"
    assert verdicts["slow"]["first_steps"] == 40 and 40 < verdicts["slow"]["steps"] <= 320
    assert "judged_at" not in verdicts["slow"]
    assert verdicts["collapsed"]["outcome"] == "fail"
    assert verdicts["collapsed"]["pitfall"] == "mode-collapse"
    assert verdicts["collapsed"]["steps"] == 320
    # The learning check keeps its verdict at the steps it was asked for, and says so.
    learns = {v["spec"]: v for v in records if v["check"] == "generator-learns"}
    assert learns["slow"]["judged_at"] == 40 and learns["slow"]["steps"] > 40
    assert learns["collapsed"]["judged_at"] == 40 and learns["collapsed"]["steps"] == 320
    result.stdout.fnmatch_lines(
        ["*judged at 320 steps, trained on from 40 while pending: mode-collapse*"]
    )
    # A budget at the step count judges every run where it stopped.
    result = pytester.runpytest(*args, "--gan-max-steps", "40")
    records = json.loads((pytester.path / "r.json").read_text())["verdicts"]
    verdicts = {v["spec"]: v for v in records if v["check"] == "diverse"}
    assert verdicts["slow"]["outcome"] == "fail" and verdicts["slow"]["steps"] == 40
    assert not any("judged_at" in v for v in records)


# A team's own loops, offered in place of specs: a healthy one, one whose missing
# .detach() harms G (marked as expected), and one that returns no run.
LOOP_CONFTEST = (
    TOY_GAN
    + """
import torch.nn.functional as F
import pytest_gan as pg

def make_loop(detach=True):
    def loop(steps):
        torch.manual_seed(0)
        G, D = g(), d()
        opt_g, opt_d = fast(G, D)
        ones, zeros = torch.ones(64, 1), torch.zeros(64, 1)
        with pg.watch(G, D, opt_g, opt_d, data=DATA, latent_dim=4, name="mine") as run:
            for i in range(steps):
                real = DATA[(i * 64) % 960:][:64]
                opt_g.zero_grad()
                fake = G(torch.randn(64, 4))
                d_loss = F.binary_cross_entropy_with_logits(D(real), ones)
                d_loss = d_loss + F.binary_cross_entropy_with_logits(
                    D(fake.detach() if detach else fake), zeros)
                opt_d.zero_grad()
                d_loss.backward()
                opt_d.step()
                g_loss = F.binary_cross_entropy_with_logits(D(G(torch.randn(64, 4))), ones)
                g_loss.backward()
                opt_g.step()
                run.log(d_loss=d_loss, g_loss=g_loss)
        return run
    return loop

@pytest.fixture(params=[
    "healthy",
    pytest.param("leaky", marks=pytest.mark.gan_expect(
        "d-step-leaks-into-generator", may_also=("discriminator-overpowers", "mode-collapse"))),
    "no-run",
])
def gan_spec(request):
    if request.param == "no-run":
        return lambda steps: None
    return make_loop(detach=request.param == "healthy")
"""
)


def test_the_smoke_suite_runs_a_teams_own_loop(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(LOOP_CONFTEST)
    result = pytester.runpytest(
        "--gan-smoke", "--gan-steps", "60", "--gan-report", "r.json", "--gan-artifacts", "art"
    )
    verdicts = json.loads((pytester.path / "r.json").read_text())["verdicts"]
    by_spec: dict[str, dict[str, str]] = {}
    for v in verdicts:
        by_spec.setdefault(v["spec"], {})[v["check"]] = v["outcome"]
    assert set(by_spec["healthy"].values()) <= {"pass", "n/a"}
    assert by_spec["healthy"]["d-step-isolated"] == "pass"
    assert by_spec["leaky"]["d-step-isolated"] == "expected"
    assert set(by_spec["no-run"].values()) == {"error"}
    result.stdout.fnmatch_lines(["*must train for the number of steps it is given under pg.watch*"])
    # The same table and pictures as for a spec.
    assert "gan smoke verdicts" in result.stdout.str()
    pictures = {p.name for p in (pytester.path / "art").rglob("*healthy*/*.png")}
    assert pictures == {"samples.png", "curves.png"}
