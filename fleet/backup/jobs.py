"""The scheduled backup (registered in ``fleet/jobs.py`` as job ``backup``).

Config: BACKUP_DIR (default ``<DATA_DIR>/backups``; better on another disk),
BACKUP_INTERVAL_HOURS (default 24), BACKUP_KEEP (default 7: the newest seven backups are
kept, older ones removed after a new one is complete), BACKUP_INCLUDE_KEYS (default true).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from flask import current_app

from fleet.backup.operations import backup_dir, create_backup
from fleet.timeutil import utcnow

log = logging.getLogger(__name__)

DEFAULT_KEEP = 7
NAME_RE = re.compile(r"fleet-backup-\d{8}T\d{6}Z(-\d+)?\.tar")
"""Names of the backups the job writes and rotates (nothing else in BACKUP_DIR is touched)."""


def backup_name(directory: Path) -> Path:
    """``fleet-backup-<UTC %Y%m%dT%H%M%SZ>.tar`` in ``directory``, with ``-N`` appended when
    a backup of the same second exists."""
    stem = f"fleet-backup-{utcnow():%Y%m%dT%H%M%SZ}"
    candidate, n = directory / f"{stem}.tar", 0
    while candidate.exists():
        n += 1
        candidate = directory / f"{stem}-{n}.tar"
    return candidate


def rotate(directory: Path, keep: int) -> list[Path]:
    """Remove all but the ``keep`` newest job backups in ``directory`` (by modification time,
    then name); returns the removed paths. ``keep`` below 1 counts as 1."""
    backups = sorted(
        (p for p in directory.iterdir() if NAME_RE.fullmatch(p.name)),
        key=lambda p: (p.stat().st_mtime_ns, p.name),
    )
    removed = backups[: max(0, len(backups) - max(1, keep))]
    for path in removed:
        path.unlink(missing_ok=True)
        log.info("backup rotation: removed %s", path)
    return removed


def scheduled_backup() -> str:
    """Write a backup into BACKUP_DIR, then rotate to BACKUP_KEEP. Returns the run message."""
    cfg = current_app.config
    directory = backup_dir()
    directory.mkdir(parents=True, exist_ok=True)
    result = create_backup(
        backup_name(directory), include_keys=bool(cfg.get("BACKUP_INCLUDE_KEYS", True))
    )
    removed = rotate(directory, int(cfg.get("BACKUP_KEEP", DEFAULT_KEEP)))
    return (
        f"wrote {result.path.name} ({result.size} bytes, "
        f"{result.manifest['totals']['members']} members); removed {len(removed)} old"
    )
