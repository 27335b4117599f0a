"""Faults during provisioning (issue 7, "Real checks"): each ends with a clear per-phone
outcome, nothing half-recorded (the device is not marked provisioned, no installed-package
row), and a resumed run (``fleet provision --resume RUN``) that finishes."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select

from fleet.inventory.models import Device
from fleet.provisioning.devsim import Faults, catalogue_profiles
from fleet.provisioning.models import InstalledPackage, Run

pytestmark = pytest.mark.db


def phone_versions(server, adb_serial) -> dict[str, int]:
    out = server.run("-s", adb_serial, "shell", "pm list packages --show-versioncode -3",
                     check=True).stdout
    return {ln.split()[0].removeprefix("package:"): int(ln.split("versionCode:")[1])
            for ln in out.splitlines() if "versionCode:" in ln}


def last_run(db) -> Run:
    return db.session.scalar(select(Run).order_by(Run.id.desc()).limit(1))


def nothing_recorded(db) -> None:
    """No device provisioned, no installed-package row: nothing half-recorded."""
    assert db.session.scalar(select(func.count(InstalledPackage.id))) == 0
    assert db.session.scalar(select(func.count(Device.id)).where(
        Device.status == "provisioned")) == 0


def phone(api: int, **faults):
    p = next(p for p in catalogue_profiles(5) if p.api_level == api)
    p.faults = Faults(**faults)
    return p


@pytest.fixture
def v10(apk_factory, make_release):
    return make_release(apk_factory.build(package="com.dhis2", version_code=10,
                                          version_name="3.4.1"))


@pytest.fixture
def setup(db, adb_server, make_profile, local_station, v10):
    station = local_station(adb_server)

    def make(**fields):
        return make_profile(None, [v10], **fields), station

    return make


def resume(prov, run):
    return prov("provision", "--resume", run.id)


def test_unplug_mid_install_then_resume(db, adb_server, devsim, prov, setup):
    sim = devsim([phone(29, unplug_during="install"), phone(31)])
    profile, hub = setup()
    out = prov("provision", "--profile", profile.name, "--station", hub.name, "--all")
    assert out.exit_code == 3, out.output
    run = last_run(db)
    by_serial = {i.serial: i for i in run.items}
    cut = by_serial[sim.serials[0]]
    assert cut.status == "gone" and cut.resume_step == "install"
    assert "phone disconnected during install" in cut.message
    assert by_serial[sim.serials[1]].status == "done"
    assert db.session.scalar(select(func.count(InstalledPackage.id))) == 1
    assert cut.device_id is None
    assert db.session.scalar(select(func.count(Device.id))) == 1  # only the finished phone

    sim.set_faults(sim.serials[0], unplug_during=None)
    sim.replug(sim.serials[0])
    adb_server.wait_state(sim.adb_serial(sim.serials[0]), "device")
    out = resume(prov, run)
    assert out.exit_code == 0, out.output
    db.session.refresh(cut)
    assert cut.status == "done"
    steps = [(s.step, s.status) for s in cut.steps]
    # resumed at install (pre-flight always re-reads the phone), nothing before it repeated
    assert steps[:2] == [("preflight", "ok"), ("install", "gone")] or \
        steps[:2] == [("preflight", "warn"), ("install", "gone")]
    assert [s for s, _ in steps[2:]] == ["preflight", "install", "settings", "pin",
                                         "permissions", "verify", "record"]
    assert phone_versions(adb_server, sim.adb_serial(sim.serials[0])) == {"com.dhis2": 10}
    assert cut.device.status == "provisioned"


def test_watch_resumes_a_replugged_phone(db, adb_server, devsim, prov, setup):
    """With --watch, a phone unplugged mid-install resumes by itself when plugged back."""
    sim = devsim([phone(34, unplug_during="install", throughput_mbps=5)])
    profile, hub = setup()
    serial = sim.serials[0]

    def replug_later():
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if not sim.phone(serial).plugged:
                time.sleep(0.5)
                sim.set_faults(serial, unplug_during=None)
                sim.replug(serial)
                return
            time.sleep(0.05)

    t = threading.Thread(target=replug_later)
    t.start()
    out = prov("provision", "--profile", profile.name, "--station", hub.name, "--serial",
               serial, "--watch", "--timeout", "60")
    t.join()
    assert out.exit_code == 0, out.output
    item = last_run(db).items[0]
    assert item.status == "done"
    assert [(s.step, s.status) for s in item.steps if s.status == "gone"] == [("install", "gone")]


def test_adb_server_killed_mid_run(db, adb_server, devsim, prov, setup, apk_factory,
                                   make_release, make_profile):
    big = make_release(apk_factory.build(package="com.dhis2", version_code=11,
                                         version_name="3.4.2", padding_bytes=4 * 1024 * 1024))
    sim = devsim([phone(29, throughput_mbps=2), phone(31, throughput_mbps=2)])
    profile = make_profile(None, [big])
    _p, hub = setup()

    def kill_soon():
        # once both phones are receiving the APK (mid-install)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not all(
                sim.phone(s).received_bytes > 512 * 1024 for s in sim.serials):
            time.sleep(0.05)
        adb_server.run("kill-server", timeout=20)

    t = threading.Thread(target=kill_soon)
    t.start()
    out = prov("provision", "--profile", profile.name, "--station", hub.name, "--all")
    t.join()
    assert out.exit_code == 3, out.output
    run = last_run(db)
    assert run.status == "interrupted"
    assert {i.status for i in run.items} == {"gone"}
    assert all("station lost" in i.message or "disconnected" in i.message for i in run.items)
    nothing_recorded(db)

    adb_server.start()
    sim.connect_all()
    for s in sim.serials:
        adb_server.wait_state(sim.adb_serial(s), "device")
    out = resume(prov, run)
    assert out.exit_code == 0, out.output
    db.session.refresh(run)
    assert run.status == "finished"
    assert {i.status for i in run.items} == {"done"}
    for s in sim.serials:
        assert phone_versions(adb_server, sim.adb_serial(s)) == {"com.dhis2": 11}


def test_unauthorized_phone(db, adb_server, devsim, prov, setup):
    sim = devsim([phone(31, unauthorized=True)])
    profile, hub = setup()
    ser = sim.adb_serial(sim.serials[0])
    adb_server.wait_state(ser, "unauthorized")
    out = prov("provision", "--profile", profile.name, "--station", hub.name, "--all")
    assert out.exit_code == 3
    run = last_run(db)
    item = run.items[0]
    assert item.status == "unready" and item.serial is None
    assert "Allow USB debugging" in item.message
    assert "Allow USB debugging" in out.output
    nothing_recorded(db)

    sim.authorize(sim.serials[0])
    adb_server.wait_state(ser, "device")
    out = resume(prov, run)
    assert out.exit_code == 0, out.output
    db.session.refresh(item)
    assert item.status == "done" and item.serial == sim.serials[0]
    assert len(run.items) == 1


@pytest.mark.parametrize("case", ["downgrade", "signer"])
def test_install_refused_then_fixed(db, adb_server, devsim, prov, setup, apk_factory, case):
    sim = devsim([phone(31)])
    ser = sim.adb_serial(sim.serials[0])
    if case == "downgrade":  # the phone already runs a newer Capture app
        pre = apk_factory.build(package="com.dhis2", version_code=12, version_name="3.5.0")
        code, hint = "INSTALL_FAILED_VERSION_DOWNGRADE", "refuses downgrades"
    else:  # an older Capture app signed by someone else
        pre = apk_factory.build(package="com.dhis2", version_code=9, version_name="3.4.0",
                                key="other")
        code, hint = "INSTALL_FAILED_UPDATE_INCOMPATIBLE", "different certificate"
    adb_server.run("-s", ser, "install", str(pre), check=True)
    profile, hub = setup()
    out = prov("provision", "--profile", profile.name, "--station", hub.name, "--all")
    assert out.exit_code == 3
    item = last_run(db).items[0]
    assert item.status == "failed" and item.resume_step == "install"
    assert code in item.message and hint in item.message
    assert code in out.output
    nothing_recorded(db)
    assert phone_versions(adb_server, ser)["com.dhis2"] == (12 if case == "downgrade" else 9)

    adb_server.run("-s", ser, "uninstall", "com.dhis2", check=True)  # the technician's fix
    out = resume(prov, last_run(db))
    assert out.exit_code == 0, out.output
    db.session.refresh(item)
    assert item.status == "done"
    assert phone_versions(adb_server, ser) == {"com.dhis2": 10}


def test_min_sdk_too_high_then_profile_fixed(db, adb_server, devsim, prov, setup, apk_factory,
                                             make_release, v10):
    sim = devsim([phone(27)])  # Android 8.1
    high = make_release(apk_factory.build(package="com.dhis2", version_code=20,
                                          version_name="4.0.0", min_sdk=30))
    profile, hub = setup()
    prov("profiles", "update", profile.name, "--release", high.id)
    out = prov("provision", "--profile", profile.name, "--station", hub.name, "--all")
    assert out.exit_code == 3
    item = last_run(db).items[0]
    assert item.status == "failed" and item.resume_step == "preflight"
    assert "API 27 is below the required 30 (minSdk of com.dhis2)" in item.message
    nothing_recorded(db)
    assert phone_versions(adb_server, sim.adb_serial(sim.serials[0])) == {}

    out = prov("profiles", "update", profile.name, "--release", v10.id)
    assert "v3" in out.output
    out = resume(prov, last_run(db))
    assert out.exit_code == 0, out.output
    db.session.refresh(item)
    assert item.status == "done"
    assert last_run(db).profile_version == 3


def test_low_storage(db, adb_server, devsim, prov, setup):
    sim = devsim([phone(34, low_storage=True)])
    profile, hub = setup(min_free_storage_mb=500)
    out = prov("provision", "--profile", profile.name, "--station", hub.name, "--all")
    assert out.exit_code == 3
    item = last_run(db).items[0]
    assert item.status == "failed" and item.resume_step == "preflight"
    assert "free storage 64 MiB is below the 500 MiB needed" in item.message
    nothing_recorded(db)

    sim.set_faults(sim.serials[0], low_storage=False)  # the technician freed space
    out = resume(prov, last_run(db))
    assert out.exit_code == 0, out.output
    db.session.refresh(item)
    assert item.status == "done"


def test_unencrypted_and_rooted_phones_refused(db, adb_server, devsim, prov, setup):
    a, b = phone(29), phone(31)
    a.crypto_state = "unencrypted"
    b.rooted = True
    sim = devsim([a, b])
    profile, hub = setup()
    out = prov("provision", "--profile", profile.name, "--station", hub.name, "--all")
    assert out.exit_code == 3
    msgs = {i.serial: i.message for i in last_run(db).items}
    assert "storage is not encrypted" in msgs[sim.serials[0]]
    assert "rooted" in msgs[sim.serials[1]]
    nothing_recorded(db)
