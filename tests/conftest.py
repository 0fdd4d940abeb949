from __future__ import annotations

import torch

# Imported here, before any in-process pytester run: pytester restores sys.modules after
# each run, and names that pytest_gan caches lazily would otherwise point at classes of an
# evicted copy of the engine.
import pytest_gan.training  # noqa: F401

# The suite runs under pytest-xdist with one worker per core: the plugin gives each worker
# cores / workers intra-op threads (pytest_gan.threads), as it does in a team's project.

# Building the first optimizer imports torch._dynamo, whose operator libraries cannot be
# registered twice: imported inside a pytester run, it would be evicted afterwards and
# every later training in the process would fail. Import it once, up front.
torch.optim.Adam([torch.zeros(1, requires_grad=True)])
