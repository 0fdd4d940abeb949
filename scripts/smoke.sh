#!/usr/bin/env bash
# The main job: set up, then run the smoke suite (pytest --gan-smoke) over the bundled zoo:
# every reference GAN, and every broken twin marked with the pitfall it is known to have,
# whose failures show as expected (xfail). Ends with the verdict table; exits 0 when every
# reference passes and every twin is caught. Pictures, evidence and a JSON report go to
# ./artifacts/. Extra arguments go to pytest (e.g. --gan-device cuda, -k shapes).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
# -p no:hypothesispytest: the zoo has no hypothesis tests, and hypothesis's pytest plugin
# imports all of hypothesis when each process writes its summary: 1.1-1.9 s per process
# on the 2-core reference machine, whose environment turns bytecode caching off
# (PYTHONDONTWRITEBYTECODE=1, so pytest rewrites its 73 modules on every import).
python -m pytest fixtures/smoke --gan-smoke -n auto -q -p no:cacheprovider -p no:hypothesispytest \
  --gan-artifacts artifacts --gan-report artifacts/gan-report.json "$@"
