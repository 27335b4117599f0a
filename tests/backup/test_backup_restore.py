"""`fleet backup` and `fleet restore` as an operator runs them: real subprocesses, a filled
instance (devices, SIMs with encrypted PIN/PUK, holders, audit trail, a vetted APK, an
agreement scan), restored into an empty instance (other DATA_DIR, other database)."""

from __future__ import annotations

import json
import tarfile
import threading
import time
from pathlib import Path

import pytest
from backup_testing import PIN, PUK, Instance, migrate, sha256_file
from sqlalchemy import select, text

from fleet.extensions import db as _db

pytestmark = pytest.mark.db


def _manifest(tar_path: Path) -> dict:
    with tarfile.open(tar_path) as tar:
        return json.load(tar.extractfile("manifest.json"))


def test_restore_into_empty_instance_finds_everything(new_instance, filled):
    src, filled, out, stdout = filled
    assert f"backup written: {out}" in stdout and "keep this file private" in stdout
    assert out.stat().st_mode & 0o777 == 0o600
    assert not [p for p in out.parent.iterdir() if p != out]  # no temp files left
    manifest = _manifest(out)
    kinds = {m["kind"] for m in manifest["members"]}
    assert {"database", "apk", "agreement", "key"} <= kinds
    names = {m["name"] for m in manifest["members"]}
    sha = filled.apk_sha256[0]
    assert f"files/apk_store/{sha[:2]}/{sha}.apk" in names
    assert "files/data/fernet.key" in names and manifest["keys_included"] is True
    dialect = "postgresql" if src.url else "sqlite"
    assert manifest["database"]["dialect"] == dialect
    with src.app.app_context():
        from fleet.backup.database import alembic_revisions

        heads = alembic_revisions(_db.engine)
    assert manifest["database"]["alembic_revisions"] == heads and heads
    before = src.rows()
    source_files = src.files()

    dst = new_instance("dst")
    done = dst.fleet("restore", out)
    assert "restored" in done.stdout

    # Every table, row for row (audit log included), equals the source.
    after = dst.rows()
    assert {t: len(r) for t, r in after.items()} == {t: len(r) for t, r in before.items()}
    assert after == before
    for table in ("device", "sim", "holder", "audit_log", "apk_release", "agreement_scan"):
        assert before[table], table
    # The keys came along: the SIM PIN/PUK decrypt in the restored instance.
    assert (dst.data_dir / "fernet.key").read_text() == (src.data_dir / "fernet.key").read_text()
    with dst.app.app_context():
        from fleet.agreements.models import AgreementScan
        from fleet.agreements.operations import scan_bytes
        from fleet.apk.models import Release
        from fleet.apk.operations import store_path
        from fleet.inventory.models import Sim

        sims = list(_db.session.scalars(select(Sim).order_by(Sim.iccid)))
        assert [s.iccid for s in sims] == sorted(filled.iccids)
        assert {(s.sim_pin, s.sim_puk) for s in sims} == {(PIN, PUK)}
        # APK bytes identical, by SHA-256, at the path the download code uses.
        for release in _db.session.scalars(select(Release)):
            assert sha256_file(store_path(release)) == release.sha256 == sha
        scan = _db.session.scalar(select(AgreementScan))
        import hashlib

        assert hashlib.sha256(scan_bytes(scan)).hexdigest() == filled.scan_sha256
        audit = _db.session.execute(text("SELECT count(*) FROM audit_log")).scalar_one()
        assert audit == len(before["audit_log"]) > 10
    # Every file the source had (database aside) is in the target with the same bytes.
    db_files = {"fleet.sqlite3", "fleet.sqlite3-wal", "fleet.sqlite3-shm"}
    restored = dst.files()
    for rel, digest in source_files.items():
        if rel not in db_files:
            assert restored.get(rel) == digest, rel


def test_corrupt_backup_is_refused_and_nothing_changes(filled, tmp_path):
    src, filled, out, _stdout = filled
    # Flip one byte inside the APK member's data.
    sha = filled.apk_sha256[0]
    with tarfile.open(out) as tar:
        offset = tar.getmember(f"files/apk_store/{sha[:2]}/{sha}.apk").offset_data
    raw = bytearray(out.read_bytes())
    raw[offset + 1000] ^= 0x01
    bad = tmp_path / "corrupt.tar"
    bad.write_bytes(bytes(raw))
    rows, files = src.rows(), src.files()
    # Even with --force over the live instance, nothing is touched.
    proc = src.fleet("restore", "--force", bad, check=False)
    assert proc.returncode == 1
    assert f"member files/apk_store/{sha[:2]}/{sha}.apk" in proc.stderr
    assert "does not match the manifest" in proc.stderr
    assert src.rows() == rows and src.files() == files
    check = src.fleet("restore", "--check", bad, check=False)
    assert check.returncode == 1 and "corrupted" in check.stderr
    # A damaged manifest is caught by its own digest.
    raw = bytearray(out.read_bytes())
    with tarfile.open(out) as tar:
        offset = tar.getmember("manifest.json").offset_data
    raw[offset + 20] ^= 0x01
    bad.write_bytes(bytes(raw))
    proc = src.fleet("restore", "--force", bad, check=False)
    assert proc.returncode == 1 and "manifest" in proc.stderr
    assert src.rows() == rows and src.files() == files


def test_truncated_backup_is_refused_and_empty_instance_stays_empty(new_instance, filled,
                                                                    tmp_path):
    _src, _filled, out, _stdout = filled
    dst = new_instance("dst")
    dst.fleet("restore", "--check", out)  # the whole backup is fine, and makes dst's keys
    before = dst.files()
    with tarfile.open(out) as tar:
        last = tar.getmembers()[-1]
    assert last.name == "manifest.sha256"
    # Cut in the middle, and inside the very last member (tar padding aside, the end).
    for cut in (out.stat().st_size // 2, last.offset_data + 10):
        short = tmp_path / f"short-{cut}.tar"
        short.write_bytes(out.read_bytes()[:cut])
        proc = dst.fleet("restore", short, check=False)
        assert proc.returncode == 1, proc.stdout
        assert "truncated" in proc.stderr, proc.stderr
        assert dst.files() == before  # on SQLite: no database file either
        if dst.url:
            assert dst.counts() == {}


def test_non_empty_instance_refused_unless_force(filled):
    src, _filled, out, _stdout = filled
    backed_up = src.rows()
    with src.app.app_context():
        from fleet.inventory.operations import create_holder

        create_holder({"name": "Added after the backup"}, actor=None)
        _db.session.commit()
    src.close()
    changed = src.rows()
    proc = src.fleet("restore", out, check=False)
    assert proc.returncode == 1 and "not empty" in proc.stderr and "--force" in proc.stderr
    assert src.rows() == changed
    src.fleet("restore", "--force", out)
    assert src.rows() == backed_up


def test_backup_without_keys_needs_the_same_key(new_instance, filled, tmp_path):
    src, _filled, _out, _stdout = filled
    out = tmp_path / "nokeys.tar"
    done = src.fleet("backup", "--exclude-keys", "--out", out)
    assert "keys NOT included" in done.stdout
    names = {m["name"] for m in _manifest(out)["members"]}
    assert not {"files/data/fernet.key", "files/data/secret_key"} & names
    dst = new_instance("dst")
    proc = dst.fleet("restore", out, check=False)  # dst makes its own, different key
    assert proc.returncode == 1 and "without its keys" in proc.stderr
    assert dst.counts() == {}
    dst.close()  # forget the app holding the old key
    (dst.data_dir / "fernet.key").write_text((src.data_dir / "fernet.key").read_text())
    dst.fleet("restore", out)
    with dst.app.app_context():
        from fleet.inventory.models import Sim

        assert {s.sim_pin for s in _db.session.scalars(select(Sim))} == {PIN}


def test_backup_while_the_server_writes_is_consistent(new_instance, tmp_path):
    """A thread commits (org unit, holder in it) pairs while `fleet backup` runs: the backup
    holds whole transactions only, in order, and the restored database is sound."""
    src = new_instance("src")
    migrate(src)
    app = src.app
    stop = threading.Event()
    written = [0]
    errors = []

    def writer():
        from fleet.inventory.operations import create_holder, create_org_unit

        try:
            with app.app_context():
                while not stop.is_set():
                    n = written[0]
                    unit = create_org_unit({"name": f"W-{n}", "parent_id": None}, actor=None)
                    create_holder({"name": f"W-{n}", "org_unit_id": unit.id}, actor=None)
                    _db.session.commit()
                    written[0] = n + 1
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while written[0] < 30 and thread.is_alive():
            time.sleep(0.01)
        at_start = written[0]
        out = tmp_path / "live.tar"
        src.fleet("backup", "--out", out)
        at_end = written[0]
    finally:
        stop.set()
        thread.join(30)
    assert not errors, errors
    assert at_end > at_start  # the writer really wrote while the backup ran
    dst = new_instance("dst")
    dst.fleet("restore", out)
    with dst.app.app_context():
        units = _db.session.execute(text(
            "SELECT name FROM org_unit WHERE name LIKE 'W-%'")).scalars().all()
        holders = _db.session.execute(text(
            "SELECT h.name FROM holder h JOIN org_unit o ON o.id = h.org_unit_id "
            "WHERE o.name = h.name")).scalars().all()
        audit = _db.session.execute(text("SELECT count(*) FROM audit_log")).scalar_one()
        if not dst.url:
            assert _db.session.execute(text("PRAGMA integrity_check")).scalar_one() == "ok"
    numbers = sorted(int(n[2:]) for n in units)
    assert numbers == list(range(len(numbers))) and len(numbers) >= at_start
    assert sorted(holders, key=lambda n: int(n[2:])) == [f"W-{n}" for n in numbers]
    assert audit == 2 * len(numbers)  # each transaction's audit rows came with it


def test_backup_of_an_older_schema_is_upgraded_on_restore(new_instance, tmp_path):
    src = new_instance("src")
    migrate(src, "0001")
    with src.app.app_context():
        _db.session.execute(text("INSERT INTO org_unit (id, name, level, path) "
                                 "VALUES (1, 'Senegal', 1, '/1/')"))
        _db.session.commit()
    src.close()
    out = tmp_path / "old.tar"
    src.fleet("backup", "--out", out)
    assert _manifest(out)["database"]["alembic_revisions"] == ["0001"]
    dst = new_instance("dst")
    done = dst.fleet("restore", out)
    with dst.app.app_context():
        from fleet.backup.database import alembic_revisions

        after = alembic_revisions(_db.engine)
        name = _db.session.execute(text("SELECT name FROM org_unit WHERE id = 1")).scalar_one()
    assert name == "Senegal"
    with dst.app.app_context():
        from alembic.script import ScriptDirectory

        heads = ScriptDirectory(dst.app.extensions["migrate"].directory).get_heads()
    assert sorted(after) == sorted(heads) and "0001" not in after  # upgraded to every head
    assert "0001 -> " + ", ".join(after) in done.stdout
    assert {"apk_release", "agreement", "job_run"} <= set(dst.counts())


def test_pg_dump_missing_names_the_debian_package(tmp_path):
    inst = Instance(tmp_path / "pg", "postgresql://fleet:fleet@127.0.0.1:9/none")
    proc = inst.fleet("backup", "--out", tmp_path / "x.tar", check=False, PATH="/nonexistent")
    assert proc.returncode == 1
    assert "pg_dump is not installed" in proc.stderr and "postgresql-client" in proc.stderr
    assert not (tmp_path / "x.tar").exists() and not list(tmp_path.glob(".fleet-backup*"))


def test_backup_from_a_newer_schema_is_refused(new_instance, filled, tmp_path):
    """A backup whose revision this fleet does not know (made by a newer fleet) is refused
    before anything changes, even though its manifest is consistent."""
    import hashlib
    import io

    _src, _filled, out, _stdout = filled
    newer = tmp_path / "newer.tar"
    with tarfile.open(out) as tar, tarfile.open(newer, "w") as new:
        for info in tar.getmembers():
            data = tar.extractfile(info).read()
            if info.name == "manifest.json":
                manifest = json.loads(data)
                manifest["database"]["alembic_revisions"].append("9999")
                data = json.dumps(manifest).encode()
                digest = hashlib.sha256(data).hexdigest()
            elif info.name == "manifest.sha256":
                data = (digest + "\n").encode()
            info.size = len(data)
            new.addfile(info, io.BytesIO(data))
    dst = new_instance("dst")
    dst.fleet("restore", "--check", newer)  # consistent archive
    before = dst.files()
    proc = dst.fleet("restore", newer, check=False)
    assert proc.returncode == 1 and "revision 9999 is unknown" in proc.stderr
    assert dst.files() == before


def test_forced_restore_over_a_newer_schema_drops_its_extra_tables(new_instance, filled):
    """A table the backup does not know (a newer schema's), referencing a backed-up table, is
    gone after a forced restore; the rest equals the backup."""
    src, _filled, out, _stdout = filled
    dst = new_instance("dst")
    migrate(dst)
    with dst.app.app_context():
        _db.session.execute(text("CREATE TABLE zz_extra (id INTEGER PRIMARY KEY, "
                                 "device_id INTEGER REFERENCES device (id))"))
        _db.session.execute(text("INSERT INTO zz_extra (id, device_id) VALUES (1, NULL)"))
        _db.session.commit()
    dst.close()
    refused = dst.fleet("restore", out, check=False)
    assert refused.returncode == 1 and "zz_extra (1)" in refused.stderr
    dst.fleet("restore", "--force", out)
    assert dst.rows() == src.rows()
