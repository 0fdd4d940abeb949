"""Which device a run uses: the one resolver behind ``train(device=...)``, ``--gan-device``
and ``gan_train(device=...)``."""

from __future__ import annotations

import torch

#: What torch warns when the first backward on a CUDA device runs in autograd's device
#: thread before any CUDA context is current there (it then sets the primary context
#: itself): harmless, but fatal under pytest's filterwarnings = error, so runs ignore it.
CUBLAS_CONTEXT_WARNING = "Attempting to run cuBLAS, but there was no current CUDA context"


def resolve_device(device: object, *, argument: str = "device") -> torch.device:
    """``None`` (or "auto") picks CUDA when available, else CPU; anything else must be a
    device this machine has, or a ``ValueError`` names ``argument`` and what to use instead.
    """
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not isinstance(device, (str, torch.device)):
        raise TypeError(
            f"{argument} must be None, a str or a torch.device; got {type(device).__name__}"
        )
    try:
        parsed = torch.device(device)
    except RuntimeError as exc:
        raise ValueError(f"{argument} {device!r} is not a device torch knows: {exc}") from None
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"{argument} is {str(device)!r}, but CUDA is not available here "
                f"(torch {torch.__version__}, CUDA build: {torch.version.cuda or 'none'}); "
                "use 'cpu', or 'auto' to use CUDA only where there is one"
            )
        count = torch.cuda.device_count()
        if parsed.index is not None and parsed.index >= count:
            raise ValueError(
                f"{argument} is {str(device)!r}, but this machine has {count} CUDA device(s) "
                f"(cuda:0 to cuda:{count - 1})"
            )
    if parsed.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(
            f"{argument} is {str(device)!r}, but MPS is not available here; use 'cpu', or 'auto'"
        )
    return parsed
