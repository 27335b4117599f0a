"""Provisioning through an SSH station: a real sshd on 127.0.0.1 (own config, host key and
user key), host key checked against the stored known_hosts, a direct-tcpip tunnel to the
"remote" adb server."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select
from sshd_fixtures import keygen

from fleet.inventory.models import Device
from fleet.provisioning.devsim import Faults, catalogue_profiles
from fleet.provisioning.models import InstalledPackage, Run, RunItem, Station

pytestmark = pytest.mark.db


def last_run(db) -> Run:
    return db.session.scalar(select(Run).order_by(Run.id.desc()).limit(1))


def add_ssh_station(prov, sshd, adb_server, tmp_path, name="district", known_hosts=None):
    kh = tmp_path / f"{name}_known_hosts"
    kh.write_text(known_hosts if known_hosts is not None else sshd.known_hosts)
    return prov("stations", "add", name, "--ssh", "127.0.0.1", "--ssh-port", sshd.port,
                "--ssh-user", sshd.user, "--key-file", sshd.user_key, "--known-hosts", kh,
                "--adb-port", adb_server.port)


@pytest.fixture
def v10(apk_factory, make_release):
    return make_release(apk_factory.build(package="com.dhis2", version_code=10,
                                          version_name="3.4.1"))


def test_provision_through_ssh_station(db, adb_server, devsim, sshd, prov, make_profile, v10,
                                       tmp_path):
    sim = devsim(count=3)
    out = add_ssh_station(prov, sshd, adb_server, tmp_path)
    assert out.exit_code == 0, out.output
    station = db.session.scalar(select(Station).where(Station.name == "district"))
    assert station.kind == "ssh" and "PRIVATE KEY" in station.private_key
    # the key is encrypted at rest
    raw = db.session.execute(select(func.min(Station.id))).scalar()
    stored = db.session.connection().exec_driver_sql(
        f"SELECT private_key FROM provisioning_station WHERE id = {raw}").scalar()
    assert "PRIVATE KEY" not in stored
    out = prov("stations", "list")
    assert f"ssh {sshd.user}@127.0.0.1:{sshd.port} -> adb :{adb_server.port}" in out.output

    make_profile("field", [v10], pin_policy="random")
    out = prov("provision", "--profile", "field", "--station", "district", "--all")
    assert out.exit_code == 0, out.output
    run = last_run(db)
    assert run.station.name == "district"
    assert sorted(i.serial for i in run.items) == sorted(sim.serials)
    assert {i.status for i in run.items} == {"done"}
    assert db.session.scalar(select(func.count(InstalledPackage.id))) == 3
    assert "Accepted publickey" in sshd.log.read_text()


def test_unknown_host_key_refused(db, adb_server, devsim, sshd, prov, make_profile, v10,
                                  tmp_path):
    devsim(count=1)
    other = keygen(tmp_path / "impostor").split()
    out = add_ssh_station(prov, sshd, adb_server, tmp_path, name="spoofed",
                          known_hosts=f"[127.0.0.1]:{sshd.port} {other[0]} {other[1]}\n")
    assert out.exit_code == 0, out.output
    make_profile("field", [v10])
    out = prov("provision", "--profile", "field", "--station", "spoofed", "--all")
    assert out.exit_code == 1
    assert "host key" in out.output
    run = last_run(db)
    assert run.status == "interrupted" and "host key" in run.note
    assert db.session.scalar(select(func.count(RunItem.id))) == 0
    assert "Accepted publickey" not in sshd.log.read_text()

    # a station without any known_hosts entry cannot even be added (no trust on first use)
    out = add_ssh_station(prov, sshd, adb_server, tmp_path, name="blind", known_hosts="")
    assert out.exit_code == 1 and "known_hosts" in out.output


@pytest.mark.slow
def test_sshd_stopped_mid_run_then_resumed(db, adb_server, devsim, sshd, prov, make_profile,
                                           apk_factory, make_release, tmp_path):
    big = make_release(apk_factory.build(package="com.dhis2", version_code=11,
                                         version_name="3.4.2", padding_bytes=4 * 1024 * 1024))
    profiles = catalogue_profiles(2)
    for p in profiles:
        p.faults = Faults(throughput_mbps=2)
    sim = devsim(profiles)
    assert add_ssh_station(prov, sshd, adb_server, tmp_path).exit_code == 0
    make_profile("field", [big])

    def stop_soon():
        # once both phones are receiving the APK (mid-install)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not all(
                sim.phone(s).received_bytes > 512 * 1024 for s in sim.serials):
            time.sleep(0.05)
        sshd.stop()

    t = threading.Thread(target=stop_soon)
    t.start()
    out = prov("provision", "--profile", "field", "--station", "district", "--all")
    t.join()
    assert out.exit_code == 3, out.output
    run = last_run(db)
    assert run.status == "interrupted"
    assert {i.status for i in run.items} == {"gone"}
    assert db.session.scalar(select(func.count(InstalledPackage.id))) == 0
    assert db.session.scalar(select(func.count(Device.id))) == 0

    sshd.start()
    out = prov("provision", "--resume", run.id)
    assert out.exit_code == 0, out.output
    db.session.refresh(run)
    assert {i.status for i in run.items} == {"done"}
    for s in sim.serials:
        assert sim.phone(s).pm.packages["com.dhis2"].version_code == 11
