"""Atomic file writes, for every file attrbench keeps between runs (leaderboards, trained
models, recorded durations): the content goes to a temporary file in the target's folder,
which then replaces the target with ``os.replace``. A reader — another pytest-xdist worker,
the next run after a crash or Ctrl-C — sees the old file or the new one, never half of
one, and a write that fails removes its temporary file. Imports nothing from attrbench, so
every layer may use it."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def write_atomic(path: str | os.PathLike, write: Callable[[BinaryIO], object], *, mode: int | None = None) -> Path:
    """Write ``path`` atomically: ``write`` gets the temporary file, opened in binary mode;
    ``mode`` (e.g. 0o644) is set on it before it replaces ``path``. Returns the path. Any
    error is raised after the temporary file is removed, and ``path`` is left as it was."""
    path = Path(path)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            write(file)
        if mode is not None:
            os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path
