"""Atomic file writes, shared by the pictures and the reports (no torch import)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def write_atomically(path: Path, write: Callable[[str], None], *, suffix: str = ".tmp") -> Path:
    """Create ``path`` through ``write(temporary_path)`` on a file in the same folder, then
    rename it into place: a reader never sees half a file, an interrupted write loses
    nothing, and the file gets the mode any new file gets (mkstemp's is private)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
