"""The scheduled backup job: registered in the one job registry, run through its wrapper,
writing complete backups into BACKUP_DIR and keeping the newest BACKUP_KEEP."""

from __future__ import annotations

import os
import time

import pytest
from backup_testing import migrate
from sqlalchemy import text

from fleet import jobs
from fleet.backup.archive import verify
from fleet.backup.jobs import NAME_RE, rotate
from fleet.extensions import db as _db

pytestmark = pytest.mark.db


def test_backup_job_writes_and_rotates(new_instance, tmp_path):
    inst = new_instance("inst")
    migrate(inst)
    app = inst.app
    assert jobs.interval_of(app, "backup") == 24 * 3600
    app.config.update(BACKUP_DIR=str(tmp_path / "bk"), BACKUP_KEEP=2, BACKUP_INTERVAL_HOURS=6)
    assert jobs.interval_of(app, "backup") == 6 * 3600
    (tmp_path / "bk").mkdir()
    (tmp_path / "bk" / "notes.txt").write_text("not a backup: never rotated away")
    written = []
    for slot in range(3):
        with app.app_context():
            _db.session.execute(text(
                f"INSERT INTO org_unit (name, level, path) VALUES ('Region {slot}', 1, '/')"))
            _db.session.commit()
        run = jobs.run_job(app, "backup", slot=slot)
        assert run is not None and run.outcome == "success", run
        name = run.message.split()[1]
        assert NAME_RE.fullmatch(name), run.message
        written.append(name)
        time.sleep(0.02)  # distinct modification times
    assert len(set(written)) == 3
    assert "removed 1 old" in run.message
    left = sorted(p.name for p in (tmp_path / "bk").iterdir())
    assert left == sorted([*written[1:], "notes.txt"])
    newest = verify(tmp_path / "bk" / written[-1])
    assert newest["keys_included"] is True
    assert oct(os.stat(tmp_path / "bk" / written[-1]).st_mode & 0o777) == "0o600"
    # The newest backup holds the row inserted just before it; the job's own runs are there.
    dst = new_instance("dst")
    dst.fleet("restore", tmp_path / "bk" / written[-1])
    with dst.app.app_context():
        names = _db.session.execute(text("SELECT name FROM org_unit")).scalars().all()
    assert sorted(names) == ["Region 0", "Region 1", "Region 2"]
    # A second run in the same slot is refused by the registry (run once per interval).
    assert jobs.run_job(app, "backup", slot=2) is None


def test_rotate_keeps_the_newest(tmp_path):
    paths = []
    for i in range(5):
        p = tmp_path / f"fleet-backup-2026010{i}T000000Z.tar"
        p.write_bytes(b"x")
        os.utime(p, ns=(10**18 + i, 10**18 + i))
        paths.append(p)
    removed = rotate(tmp_path, 3)
    assert removed == paths[:2]
    assert sorted(tmp_path.iterdir()) == paths[2:]
    assert rotate(tmp_path, 0) == paths[2:4]  # keep counts as at least 1
