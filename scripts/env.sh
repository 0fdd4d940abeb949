#!/usr/bin/env bash
# Creates (once) and activates the virtual environment that the README's commands use.
#
# The environment lives outside the clone, keyed on the dependency spec, so fresh clones
# (and CI runs) reuse it: PYTEST_GAN_VENVS (default ~/.cache/pytest-gan) holds one venv
# per hash of pyproject.toml and the torch pins below. The project itself is installed
# editable into it each time, pointing at this clone.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python3}"
# torch and torchvision are pinned to the releases that install from local files on the
# reference machine (Python 3.11, x86_64, no GPU); override for another machine, e.g.
# TORCH_PINS="torch torchvision".
torch_pins="${TORCH_PINS:-torch==2.14.1 torchvision==0.29.1}"
key="$( { cat "$here/pyproject.toml"; echo "$torch_pins"; "$python" --version; } | sha256sum | cut -c1-16)"
root="${PYTEST_GAN_VENVS:-$HOME/.cache/pytest-gan}"
venv="$root/venv-$key"

mkdir -p "$root"
if [ ! -f "$venv/.complete" ] || [ ! -x "$venv/bin/python" ]; then
  # One creator at a time: a second shell (another clone, a parallel job) waits for the
  # first instead of deleting the venv it is installing into.
  exec 9>"$venv.lock"
  flock 9
  if [ ! -f "$venv/.complete" ] || [ ! -x "$venv/bin/python" ]; then
    echo "pytest-gan: creating $venv (torch takes a minute or two)" >&2
    rm -rf "$venv"
    "$python" -m venv "$venv"
    # shellcheck disable=SC2086
    "$venv/bin/python" -m pip install --quiet $torch_pins
    "$venv/bin/python" -m pip install --quiet -e "$here[dev]"
    touch "$venv/.complete"
  fi
  flock -u 9
  exec 9>&-
fi
# The editable install points the venv at one clone, and pip records which in the
# distribution's direct_url.json; redo it (5-7 s) only when that is not this one. The
# venv's key covers pyproject.toml, so changed metadata gets a fresh venv.
if ! "$venv/bin/python" - "$here" 2>/dev/null <<'PY'; then
import importlib.metadata, json, pathlib, sys, urllib.parse, urllib.request
url = json.loads(importlib.metadata.distribution("pytest-gan").read_text("direct_url.json"))
path = urllib.request.url2pathname(urllib.parse.urlparse(url["url"]).path)
editable = url.get("dir_info", {}).get("editable", False)
sys.exit(not (editable and pathlib.Path(path) == pathlib.Path(sys.argv[1])))
PY
  "$venv/bin/python" -m pip install --quiet --no-deps -e "$here"
fi
# shellcheck disable=SC1091
source "$venv/bin/activate"
cd "$here"
