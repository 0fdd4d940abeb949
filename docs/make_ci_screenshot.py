"""The screenshot of the pytest-html report in docs/ci.md, taken in a real headless browser.

    python docs/make_ci_screenshot.py [--chromium /usr/bin/chromium] [--keep DIR]

Builds a small project in a temporary folder whose conftest offers three of the zoo's
GANs (a healthy DCGAN, its twin with a Sigmoid generator, and a ring GAN with a harmful
missing ``.detach()``), runs ``pytest --gan-smoke -n 2 --html=report.html
--self-contained-html`` there, and has headless Chromium render the report with only the
failed checks shown, to ``docs/img/ci-html-report.png``. Needs pytest-html and Chromium
(Debian: ``apt-get install chromium``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "img" / "ci-html-report.png"

CONFTEST = """
import pytest
from fixtures.zoo import case

@pytest.fixture(params=[
    "shapes-dcgan",
    "shapes-dcgan~output-range-mismatch",
    "ring-mlp~d-step-leaks-into-generator",
])
def gan_spec(request):
    return case(request.param).spec()
"""

# Chromium as root in a container, with no network: no sandbox, no background traffic.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    parser.add_argument("--keep", type=Path, default=None, help="keep the project here")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gan-ci-shot-")) if args.keep is None else args.keep
    work.mkdir(parents=True, exist_ok=True)
    (work / "conftest.py").write_text(CONFTEST)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--gan-smoke",
            "-n",
            "2",
            "-p",
            "no:cacheprovider",
            "--html=report.html",
            "--self-contained-html",
            "--gan-artifacts=artifacts",
        ],
        cwd=work,
        env=env,
        check=False,  # the twins fail: that is what the report shows
    )
    report = work / "report.html"
    if not report.is_file():
        raise SystemExit("pytest-html wrote no report: is pytest-html installed?")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    profile = tempfile.mkdtemp(prefix="gan-ci-chromium-")
    # pytest-html 4 reads which outcomes to show from the URL.
    url = report.as_uri() + "?visible=failed"
    subprocess.run(
        [
            args.chromium,
            *FLAGS,
            f"--user-data-dir={profile}",
            "--window-size=1280,1500",
            "--virtual-time-budget=10000",
            f"--screenshot={OUT}",
            url,
        ],
        check=True,
    )
    shutil.rmtree(profile, ignore_errors=True)
    print(f"wrote {OUT} from {report}")


if __name__ == "__main__":
    main()
