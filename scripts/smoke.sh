#!/usr/bin/env bash
# The main job: set up, then train the bundled reference GANs briefly and show what was
# measured; sample grids go to ./artifacts/.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
python -m fixtures.demo "$@"
