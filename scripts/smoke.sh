#!/usr/bin/env bash
# The main job: set up, then run the smoke suite (pytest --gan-smoke) over the bundled zoo:
# every reference GAN, and every broken twin marked with the pitfall it is known to have,
# whose failures show as expected (xfail). Ends with the verdict table; exits 0 when every
# reference passes and every twin is caught. Pictures, evidence and a JSON report go to
# ./artifacts/. Extra arguments go to pytest (e.g. --gan-device cuda, -k shapes).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
python -m pytest fixtures/smoke --gan-smoke -n auto -q -p no:cacheprovider \
  --gan-artifacts artifacts --gan-report artifacts/gan-report.json "$@"
