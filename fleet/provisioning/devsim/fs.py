"""The simulated phone's file system: a tree of directories and files whose bytes live in a
private folder on the host disk (so a 50 MB push does not sit in memory)."""

from __future__ import annotations

import itertools
import posixpath
import time
from dataclasses import dataclass
from pathlib import Path

_counter = itertools.count(1)

#: Directories every phone has (Android's standard layout).
BASE_DIRS = (
    "/",
    "/data",
    "/data/local",
    "/data/local/tmp",
    "/data/app",
    "/sdcard",
    "/storage",
    "/storage/emulated",
    "/storage/emulated/0",
    "/storage/emulated/0/Download",
    "/system",
    "/system/bin",
    "/proc",
    "/vendor",
)


@dataclass
class VFile:
    """A regular file: its bytes are in ``disk`` on the host."""

    disk: Path
    size: int
    mtime: int
    mode: int = 0o100666


class PhoneFS:
    """Directories and files of one phone. Paths are absolute POSIX paths."""

    def __init__(self, root: Path):
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.dirs: dict[str, int] = {d: int(time.time()) for d in BASE_DIRS}
        self.files: dict[str, VFile] = {}

    @staticmethod
    def norm(path: str) -> str:
        """Normalise a phone path (``/sdcard`` is ``/storage/emulated/0``)."""
        path = posixpath.normpath("/" + path.lstrip("/")) if path else "/"
        if path == "/sdcard" or path.startswith("/sdcard/"):
            path = "/storage/emulated/0" + path[len("/sdcard") :]
        return path

    def exists(self, path: str) -> bool:
        path = self.norm(path)
        return path in self.dirs or path in self.files

    def is_dir(self, path: str) -> bool:
        return self.norm(path) in self.dirs

    def get(self, path: str) -> VFile | None:
        return self.files.get(self.norm(path))

    def disk_path(self, path: str) -> Path | None:
        f = self.get(path)
        return f.disk if f else None

    def new_disk_file(self) -> Path:
        """A fresh host path to stream a file's bytes into."""
        return self.root / f"f{next(_counter):08d}"

    def mkdirs(self, path: str) -> None:
        path = self.norm(path)
        while path not in self.dirs:
            self.dirs[path] = int(time.time())
            path = posixpath.dirname(path)

    def add_file(self, path: str, disk: Path, mtime: int | None = None, mode: int = 0o100666):
        """Register ``disk`` as the bytes of ``path`` (replacing any older file)."""
        path = self.norm(path)
        self.mkdirs(posixpath.dirname(path))
        old = self.files.get(path)
        if old and old.disk != disk:
            old.disk.unlink(missing_ok=True)
        self.files[path] = VFile(disk, disk.stat().st_size, mtime or int(time.time()), mode)

    def write_bytes(self, path: str, data: bytes) -> None:
        disk = self.new_disk_file()
        disk.write_bytes(data)
        self.add_file(path, disk)

    def remove(self, path: str) -> bool:
        path = self.norm(path)
        f = self.files.pop(path, None)
        if f is not None:
            f.disk.unlink(missing_ok=True)
            return True
        if path in self.dirs and path not in BASE_DIRS:
            for child in [p for p in self.files if p.startswith(path + "/")]:
                self.remove(child)
            for child in [d for d in self.dirs if d == path or d.startswith(path + "/")]:
                del self.dirs[child]
            return True
        return False

    def listdir(self, path: str) -> list[str]:
        path = self.norm(path)
        prefix = path.rstrip("/") + "/"
        names = set()
        for p in itertools.chain(self.dirs, self.files):
            if p != path and p.startswith(prefix):
                names.add(p[len(prefix) :].split("/", 1)[0])
        return sorted(names)

    def used_bytes(self) -> int:
        """Bytes taken by files under /data and /storage (what counts against free space)."""
        return sum(f.size for p, f in self.files.items() if not p.startswith("/data/app/"))
