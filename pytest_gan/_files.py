"""Files: atomic writes, shared by the pictures, reports and baselines, and safe names for
the files and folders named after tests (no torch import)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


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


#: Longest name of a file or folder named after a test (an extension included): well under
#: the 255-byte limit of common file systems and short enough to keep whole paths below
#: Windows' 260-character limit in a shallow tree.
NAME_MAX = 80
_HASH_LEN = 10
#: Characters kept in such a name; the rest become "_". Brackets are safe in file names
#: everywhere (Windows forbids <>:"/\|?* only) and keep parametrised ids readable:
#: test_dcgan[shapes-dcgan].json.
SAFE = re.compile(r"[^A-Za-z0-9_.~\[\]-]+")
#: ... and without the brackets, as artifact folders have always been named.
SAFE_NO_BRACKETS = re.compile(r"[^A-Za-z0-9_.~-]+")


def safe_name(
    readable: str, key: str, *, limit: int = NAME_MAX, unsafe: re.Pattern[str] = SAFE
) -> str:
    """``readable`` with every run of characters matched by ``unsafe`` replaced by "_", at
    most ``limit`` characters. Whenever that loses information (a replaced character, a
    leading dot or dash stripped, truncation), a hash of ``key`` (the whole id) is
    appended, so two distinct ids never share a name."""
    # A leading dot would hide the file; a leading dash reads as an option in a shell.
    safe = unsafe.sub("_", readable).lstrip("._~-")
    if safe and safe == readable and len(safe) <= limit:
        return safe
    digest = hashlib.sha1(key.encode("utf-8", "surrogatepass"), usedforsecurity=False)
    prefix = safe[: limit - _HASH_LEN - 1].rstrip("._-")
    suffix = digest.hexdigest()[:_HASH_LEN]
    return f"{prefix}-{suffix}" if prefix else suffix


def write_json_atomically(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path``, atomically."""

    def dump(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, sort_keys=True)
            f.write("\n")

    write_atomically(path, dump)
