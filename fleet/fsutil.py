"""File-system helpers shared by the stores that write files atomically (APK store, backups)."""

from __future__ import annotations

import os
from pathlib import Path


def fsync_dir(directory: Path) -> None:
    """Flush ``directory``'s entries to disk, so a file just renamed into it (``os.replace``)
    survives a power cut. Raises OSError when the directory cannot be opened."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
