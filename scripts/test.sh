#!/usr/bin/env bash
# The test suite: set up, then run every test on all cores.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
python -m pytest -n "${PYTEST_GAN_WORKERS:-auto}" "$@"
