"""Helpers of the backup tests: an :class:`Instance` (own DATA_DIR and database) driven
through the ``fleet`` console script, and :func:`fill`, which registers a small campaign in it
through the operations."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from fleet_testing import PASSWORD, make_iccid, make_imei, make_test_app
from sqlalchemy import create_engine, inspect, text

from fleet.extensions import db as _db

FLEET = str(Path(sys.executable).with_name("fleet"))
PIN, PUK = "4821", "90817263"


def sha256_file(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@dataclass
class Instance:
    """A fleet instance for a test: ``data_dir`` and ``url`` ("" = default SQLite file)."""

    data_dir: Path
    url: str
    _app: object = field(default=None, repr=False)

    def env(self, **extra) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FLEET_")}
        env["FLEET_DATA_DIR"] = str(self.data_dir)
        if self.url:
            env["FLEET_DATABASE_URL"] = self.url
        env.update(extra)
        return env

    def fleet(self, *args, check=True, **extra_env) -> subprocess.CompletedProcess:
        """Run ``fleet ARGS`` as a user would, with this instance's configuration."""
        proc = subprocess.run([FLEET, *map(str, args)], env=self.env(**extra_env),
                              capture_output=True, text=True, timeout=300)
        if check:
            assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc

    @property
    def app(self):
        if self._app is None:
            self._app = make_test_app(self.data_dir, self.url)
        return self._app

    def close(self) -> None:
        if self._app is not None:
            with self._app.app_context():
                _db.session.remove()
                _db.engine.dispose()
            self._app = None

    @property
    def sqlalchemy_url(self) -> str:
        return self.app.config["SQLALCHEMY_DATABASE_URI"]

    def rows(self) -> dict[str, list[tuple]]:
        """Every row of every table (sorted), read with a fresh engine."""
        engine = create_engine(self.sqlalchemy_url)
        try:
            with engine.connect() as conn:
                out = {}
                for name in sorted(inspect(conn).get_table_names()):
                    quoted = conn.dialect.identifier_preparer.quote(name)
                    rows = conn.execute(text(f"SELECT * FROM {quoted}")).all()
                    out[name] = sorted((tuple(r) for r in rows), key=repr)
                return out
        finally:
            engine.dispose()

    def counts(self) -> dict[str, int]:
        return {name: len(rows) for name, rows in self.rows().items()}

    def files(self) -> dict[str, str]:
        """``{path relative to DATA_DIR: SHA-256}`` of every file under DATA_DIR."""
        return {p.relative_to(self.data_dir).as_posix(): sha256_file(p)
                for p in sorted(self.data_dir.rglob("*")) if p.is_file()}


def migrate(inst: Instance, revision: str = "heads") -> None:
    from flask_migrate import upgrade

    with inst.app.app_context():
        upgrade(directory=inst.app.extensions["migrate"].directory, revision=revision)


def _png() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(buf, format="PNG")
    return buf.getvalue()


@dataclass
class Filled:
    """What :func:`fill` stored: APK SHA-256s, the scan's SHA-256, the SIM ICCIDs."""

    apk_sha256: list[str]
    scan_sha256: str
    iccids: list[str]


def fill(inst: Instance, apk_path: Path) -> Filled:
    """Migrate ``inst`` and register, through the operations, a small campaign: org units,
    holders, devices, SIMs with PIN/PUK, a pairing, a check-out, an agreement printed with a
    scanned copy, an uploaded (vetted) APK, an API token, each change audited."""
    from fleet.agreements.operations import create_agreement, print_agreement, upload_scan
    from fleet.apk.operations import upload_apk
    from fleet.auth.operations import create_user, issue_token
    from fleet.inventory import operations as inv

    migrate(inst)
    with inst.app.app_context():
        s = _db.session
        admin = create_user("admin", PASSWORD, "admin", actor=None)
        clerk = create_user("clerk", PASSWORD, "logistics", actor=admin)
        issue_token(admin, "backup test", actor=admin)
        country = inv.create_org_unit({"name": "Senegal", "parent_id": None}, actor=admin)
        region = inv.create_org_unit({"name": "Thiès", "parent_id": country.id}, actor=admin)
        district = inv.create_org_unit({"name": "Mbour", "parent_id": region.id}, actor=admin)
        holders = [inv.create_holder({"name": f"Awa Ndiaye {i}", "org_unit_id": district.id,
                                      "msisdn": f"+22177123{i:04d}"}, actor=clerk)
                   for i in range(3)]
        devices = [inv.register_device({"imei": make_imei(900 + i), "manufacturer": "Samsung",
                                        "model": "SM-A145F", "android_version": "13",
                                        "api_level": 33, "ram_mb": 4096, "storage_gb": 64,
                                        "box_number": f"BX-{i:03d}", "serial": f"R9XN{i:05d}",
                                        "org_unit_id": district.id}, actor=clerk)
                   for i in range(4)]
        sims = [inv.register_sim({"iccid": make_iccid(700 + i), "msisdn": f"+22170555{i:04d}",
                                  "carrier": "Orange", "sim_pin": PIN, "sim_puk": PUK},
                                 actor=clerk) for i in range(3)]
        inv.pair_sim(devices[0], sims[0], actor=clerk)
        inv.checkout(devices[0], holders[0], actor=clerk, condition="new in box")
        agreement = create_agreement(devices[0], actor=clerk, issued_on=date(2026, 11, 2))
        print_agreement(agreement, actor=clerk)
        scan = upload_scan(agreement, _png(), filename="scan.png", actor=clerk)
        with open(apk_path, "rb") as fh:
            release, created = upload_apk(fh, file_name="capture.apk", actor=admin)
        assert created and release.status == "vetted", release.status
        s.commit()
        filled = Filled([release.sha256], scan.sha256, [sim.iccid for sim in sims])
    inst.close()
    return filled
