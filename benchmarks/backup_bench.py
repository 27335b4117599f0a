"""Benchmark: backing up and restoring an instance, compared with plain tar of the same bytes.

Builds, on SQLite, an instance with ``--devices`` devices (bulk registered, each audited) and
``--apks`` files of ``--apk-mb`` MB of random bytes in the APK store, then times in one run:

- baseline: ``tarfile`` writing the SQLite file (a plain file copy, not a consistent snapshot)
  and the same APK files, and reading it back;
- ``create_backup`` (online backup API + tar + SHA-256 of every member + manifest);
- ``verify`` (read and hash everything, what ``fleet restore --check`` does);
- ``restore_backup`` into an empty instance (verify, extract, rename, migrations).

Usage: ``python benchmarks/backup_bench.py [--devices 20000 --apks 8 --apk-mb 25]``. Prints
seconds, MB/s and the ratio to the baseline.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from fleet_testing import make_imei  # noqa: E402

from fleet import create_app  # noqa: E402
from fleet.cli import upgrade_database  # noqa: E402


def _app(data_dir: Path):
    return create_app({"TESTING": True, "DATA_DIR": str(data_dir), "SECRET_KEY": "b"})


def _fill(app, devices: int, apks: int, apk_mb: int) -> None:
    from fleet.apk.storage import ApkStore
    from fleet.extensions import db
    from fleet.inventory.operations import register_devices_bulk

    with app.app_context():
        upgrade_database()
        for start in range(0, devices, 2000):
            rows = [{"imei": make_imei(10_000_000 + i), "manufacturer": "Samsung",
                     "model": "SM-A145F", "ram_mb": 4096, "storage_gb": 64}
                    for i in range(start, min(devices, start + 2000))]
            register_devices_bulk(rows, actor=None)
            db.session.commit()
        store = ApkStore(app.config["APK_STORE_DIR"])
        for _ in range(apks):
            store.store_stream(iter([os.urandom(1024 * 1024) for _ in range(apk_mb)]),
                               max_bytes=10**10)
        db.engine.dispose()


def _timed(fn):
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=20000)
    parser.add_argument("--apks", type=int, default=8)
    parser.add_argument("--apk-mb", type=int, default=25)
    args = parser.parse_args()
    logging.getLogger().setLevel(logging.WARNING)
    work = Path(tempfile.mkdtemp(prefix="fleet-bench-backup-"))
    try:
        src = _app(work / "src")
        _fill(src, args.devices, args.apks, args.apk_mb)
        logging.getLogger().setLevel(logging.WARNING)
        data = Path(src.config["DATA_DIR"])
        files = sorted(p for p in data.rglob("*") if p.is_file())
        total = sum(p.stat().st_size for p in files)
        mb = total / 1e6

        def plain_tar():
            with tarfile.open(work / "plain.tar", "w") as tar:
                for p in files:
                    tar.add(p, arcname=str(p.relative_to(data)))
            with tarfile.open(work / "plain.tar") as tar:
                for info in tar:
                    fh = tar.extractfile(info)
                    while fh and fh.read(1024 * 1024):
                        pass

        base, _ = _timed(plain_tar)
        from fleet.backup.archive import verify
        from fleet.backup.operations import create_backup, restore_backup

        with src.app_context():
            t_backup, result = _timed(lambda: create_backup(work / "b.tar"))
        t_verify, _ = _timed(lambda: verify(work / "b.tar"))
        dst = _app(work / "dst")
        with dst.app_context():
            t_restore, restored = _timed(lambda: restore_backup(work / "b.tar"))
        print(f"instance: {args.devices} devices (+ audit rows), {args.apks} APKs x "
              f"{args.apk_mb} MB; {len(files)} files, {mb:.0f} MB on disk; "
              f"backup {result.size / 1e6:.0f} MB, {len(result.manifest['members'])} members")
        print(f"baseline plain tar write + read:  {base:6.2f} s  ({2 * mb / base:6.0f} MB/s)")
        print(f"fleet backup (snapshot+tar+hash): {t_backup:6.2f} s  "
              f"({mb / t_backup:6.0f} MB/s)  ratio to baseline {t_backup / base:.2f}")
        print(f"fleet restore --check (verify):   {t_verify:6.2f} s  ({mb / t_verify:6.0f} MB/s)")
        print(f"fleet restore (verify+extract+migrate): {t_restore:6.2f} s  "
              f"({mb / t_restore:6.0f} MB/s)  ratio to baseline {t_restore / base:.2f}  "
              f"({restored.files} files)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
