"""A benchmark's scratch directory: made under the system's temporary directory, removed with
everything in it when the script ends (a SQLite benchmark leaves a database and a write-ahead
log of up to ~40 MB, which piled up run after run)."""
from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path


def scratch_directory(prefix: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path
