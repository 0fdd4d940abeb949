from __future__ import annotations

import torch

# The suite runs under pytest-xdist with one worker per core; a second intra-op thread per
# worker only oversubscribes the cores (measured: a 200-step MLP run took 10 s with two
# threads on a busy 2-core machine against 1.4 s with one).
torch.set_num_threads(1)
