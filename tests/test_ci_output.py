"""What a CI server reads of the smoke suite: JUnit XML properties and locations."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from tests.test_smoke import SMOKE_CONFTEST


def _cases(path: str) -> tuple[dict[str, ET.Element], dict[str, str]]:
    root = ET.parse(path).getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    assert suite is not None
    cases = {f"{c.get('classname')}::{c.get('name')}": c for c in suite.iter("testcase")}
    suite_props = suite.find("properties")
    globals_ = (
        {p.get("name", ""): p.get("value", "") for p in suite_props}
        if suite_props is not None
        else {}
    )
    return cases, globals_


def _props(case: ET.Element) -> dict[str, str]:
    found = case.find("properties")
    return {} if found is None else {p.get("name", ""): p.get("value", "") for p in found}


@pytest.mark.parametrize("xdist", [(), ("-n", "2")], ids=["one-process", "xdist"])
def test_junit_xml_carries_each_verdict_and_the_session(
    pytester: pytest.Pytester, xdist: tuple[str, ...]
) -> None:
    conftest = pytester.makeconftest(SMOKE_CONFTEST)
    pytester.runpytest_subprocess(
        "--gan-smoke",
        "--gan-steps",
        "40",
        "--junitxml",
        "out.xml",
        "-o",
        "junit_family=xunit1",
        "-k",
        "healthy or sigmoid",
        *xdist,
    )
    cases, session = _cases(str(pytester.path / "out.xml"))
    by_name = {name.rsplit("::", 1)[-1]: case for name, case in cases.items()}
    ok = _props(by_name["not-blank[healthy]"])
    assert ok["gan_spec"] == "healthy" and ok["gan_check"] == "not-blank"
    assert ok["gan_name"] == "toy"  # the spec's own name, beside its parameter id
    assert ok["gan_outcome"] == "pass" and ok["gan_steps"].isdigit()
    assert float(ok["gan_elapsed_s"]) > 0
    # The training is counted in one item's setup per spec, and that item says so.
    trained = [n for n, c in by_name.items() if "gan_training_s" in _props(c)]
    assert sorted(trained) == ["losses-finite[healthy]", "losses-finite[sigmoid]"]
    failed = by_name["output-range[sigmoid]"]
    props = _props(failed)
    assert props["gan_outcome"] == "fail" and props["gan_pitfall"] == "output-range-mismatch"
    assert any(k.startswith("gan_evidence.") for k in props)
    assert "gan_artifacts" in props
    # The failure's text stays the check's message, not a property dump.
    failure = failed.find("failure")
    assert failure is not None
    assert (failure.get("message") or "").startswith("pytest_gan.errors.GANAssertionError: ")
    assert "Pitfall: output-range-mismatch" in (failure.text or "")
    assert "Fix:" in (failure.text or "")
    assert session["gan_seed"] == "0" and session["gan_steps"] == "40"
    assert session["torch_version"][0].isdigit() and "gan_threads" in session
    # Each item points at the team's gan_spec definition, not into the plugin.
    line = next(
        i for i, text in enumerate(conftest.read_text().splitlines()) if "def gan_spec" in text
    )
    assert failed.get("file") == "conftest.py" and failed.get("line") == str(line)


def test_a_smoke_items_location_is_the_gan_spec_fixture(pytester: pytest.Pytester) -> None:
    conftest = pytester.makeconftest(SMOKE_CONFTEST)
    pytester.makepyfile(
        test_where="""
def test_placeholder():
    pass
"""
    )
    pytester.makeconftest(
        SMOKE_CONFTEST
        + """

def pytest_collection_finish(session):
    with open("locations.txt", "w") as f:
        for item in session.items:
            f.write(repr(item.location) + "\\n")
"""
    )
    result = pytester.runpytest("--gan-smoke", "--co", "-q")
    assert result.ret == 0
    line = next(
        i for i, text in enumerate(conftest.read_text().splitlines()) if "def gan_spec" in text
    )
    smoke = [
        eval(row)
        for row in (pytester.path / "locations.txt").read_text().splitlines()
        if "gan-smoke" in row
    ]
    assert smoke and all(loc[:2] == ("conftest.py", line) for loc in smoke)
    assert smoke[0][2].startswith("gan-smoke::")


def test_a_github_job_summary_gets_one_row_per_spec(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makeconftest(SMOKE_CONFTEST)
    summary = pytester.path / "summary.md"
    summary.write_text("# earlier steps' summary\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    pytester.runpytest_subprocess("--gan-smoke", "--gan-steps", "40", "-k", "healthy or sigmoid")
    text = summary.read_text()
    assert text.startswith("# earlier steps' summary\n")  # appended, not replaced
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    assert len(rows) == 2
    healthy = next(r for r in rows if r.startswith("| `healthy`"))
    sigmoid = next(r for r in rows if r.startswith("| `sigmoid`"))
    assert "✅ pass" in healthy and "| 40 |" in healthy
    assert "❌ fail" in sigmoid and "`output-range-mismatch`" in sigmoid
    assert "`output-range`" in sigmoid


def test_an_unparametrised_spec_is_reported_with_its_own_name(pytester: pytest.Pytester) -> None:
    conftest = SMOKE_CONFTEST.replace(
        '@pytest.fixture(params=["healthy", "sigmoid", "raises"])\ndef gan_spec(request):',
        "@pytest.fixture\ndef gan_spec():\n    return _spec('healthy')\n\ndef _spec(param):",
    ).replace("request.param", "param")
    assert "def _spec(param)" in conftest
    pytester.makeconftest(conftest)
    result = pytester.runpytest_subprocess(
        "--gan-smoke", "--gan-steps", "40", "--gan-report", "r.json", "-k", "not-blank or diverse"
    )
    verdicts = json.loads((pytester.path / "r.json").read_text())["verdicts"]
    assert {(v["spec"], v["name"], v["outcome"]) for v in verdicts} == {("gan_spec", "toy", "pass")}
    result.stdout.fnmatch_lines(["gan_spec (toy) *ok*ok*"])


def test_the_summary_marks_expected_missed_and_errors() -> None:
    from pytest_gan.smoke import markdown_summary
    from pytest_gan.smoke.verdicts import Verdict

    verdicts = [
        {"spec": "a", "check": "diverse", "outcome": "pass", "steps": 200, "elapsed": 12.34},
        {"spec": "b", "check": "diverse", "outcome": "expected", "pitfall": "mode-collapse"},
        {"spec": "c", "check": "diverse", "outcome": "missed", "pitfall": "mode-collapse"},
        {"spec": "d", "check": "not-blank", "outcome": "error", "message": "boom"},
        {
            "spec": "e",
            "check": "losses-finite",
            "outcome": "expected",
            "pitfall": "non-finite-loss",
            "steps": 3,
            "stopped_early": {"at": 3, "of": 200, "pitfalls": ["non-finite-loss"]},
        },
        {
            "spec": "f",
            "check": "diverse",
            "outcome": "pass",
            "steps": 800,
            "first_steps": 200,
            "extensions": [{"from": 200, "to": 400, "pending": ["mode-collapse"]}],
        },
    ]
    rows = markdown_summary([Verdict.from_json({"nodeid": "", **v}) for v in verdicts])[4:]
    assert rows[0] == "| `a` | ✅ pass | 200 | 12.3 | - | - |"
    assert rows[1] == "| `b` | ☑️ as expected | - | - | `mode-collapse*` | - |"
    assert rows[2] == "| `c` | ❌ missed | - | - | `MISSED mode-collapse` | `diverse` |"
    assert rows[3] == "| `d` | ⚠️ error | - | - | - | `not-blank` |"
    assert rows[4].startswith("| `e` | ☑️ as expected | 3 of 200 (stopped early) |")
    assert rows[5].startswith("| `f` | ✅ pass | 800 (trained on from 200) |")


def test_github_annotations_land_on_the_gan_spec_line(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With pytest-github-actions-annotate-failures (the standard annotate plugin), a
    failed check becomes an ``::error`` workflow command at the team's ``def gan_spec``,
    in one process and under pytest-xdist (where the controller emits them)."""
    pytest.importorskip("pytest_github_actions_annotate_failures")
    conftest = pytester.makeconftest(SMOKE_CONFTEST)
    line = 1 + next(
        i for i, text in enumerate(conftest.read_text().splitlines()) if "def gan_spec" in text
    )
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_WORKSPACE", str(pytester.path))
    for xdist in ((), ("-n", "2")):
        result = pytester.runpytest_subprocess(
            "--gan-smoke", "--gan-steps", "40", "-k", "healthy or sigmoid", *xdist
        )
        errors = [e for e in result.stderr.lines if e.startswith("::error ")]
        assert len(errors) == 2, errors  # output-range and diverse fail on sigmoid
        for error in errors:
            assert error.startswith(f"::error file=conftest.py,line={line}::"), error
        assert any("output-range-mismatch" in e for e in errors)


def test_pytest_html_shows_each_items_pictures_and_a_failures_evidence(
    pytester: pytest.Pytester,
) -> None:
    pytest.importorskip("pytest_html")
    pytester.makeconftest(SMOKE_CONFTEST)
    result = pytester.runpytest_subprocess(
        "--gan-smoke",
        "--gan-steps",
        "40",
        "-k",
        "healthy or sigmoid",
        "--html",
        "report.html",
        "--self-contained-html",
        "-n",
        "2",
    )
    assert result.ret == 1
    html = (pytester.path / "report.html").read_text()
    # pytest-html keeps its tests as JSON in a data-jsonblob attribute.
    import html as html_lib
    import json
    import re

    blob = re.search(r'data-jsonblob="([^"]*)"', html)
    assert blob is not None
    tests = json.loads(html_lib.unescape(blob.group(1)))["tests"]
    by_id = {k.rsplit("::", 1)[-1]: v[0] for k, v in tests.items()}
    passed = by_id["not-blank[healthy]"]["extras"]
    failed = by_id["output-range[sigmoid]"]["extras"]
    names = [e["name"] for e in passed]
    assert names == ["samples (real above, generated below)", "curves"]
    assert all(e["content"].startswith("data:image/png;base64,iVBOR") for e in passed)
    evidence = [e for e in failed if e["format_type"] == "json"]
    assert [e["name"] for e in evidence] == ["evidence: output-range-mismatch"]
    import base64

    payload = evidence[0]["content"].split("base64,", 1)[1]
    verdict = json.loads(base64.b64decode(payload))
    assert verdict["pitfall"] == "output-range-mismatch" and verdict["evidence"]
