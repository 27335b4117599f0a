"""Provisioning runs through a real adb server and simulated phones, driven by the fleet CLI:
several phones in parallel, inventory matching and registration, PINs, settings, permissions,
read-back on the phone, handover slips."""

from __future__ import annotations

import subprocess

import pytest
from sqlalchemy import func, select

from fleet.audit.models import AuditEntry
from fleet.inventory.models import Device
from fleet.provisioning.devsim import catalogue_profiles
from fleet.provisioning.models import InstalledPackage, Run, RunItem, StepRecord

pytestmark = pytest.mark.db

CAMERA = "android.permission.CAMERA"


def phone_versions(server, adb_serial) -> dict[str, int]:
    out = server.run("-s", adb_serial, "shell", "pm list packages --show-versioncode -3",
                     check=True).stdout
    return {ln.split()[0].removeprefix("package:"): int(ln.split("versionCode:")[1])
            for ln in out.splitlines() if "versionCode:" in ln}


def last_run(db) -> Run:
    return db.session.scalar(select(Run).order_by(Run.id.desc()).limit(1))


@pytest.fixture
def capture_v10(apk_factory, make_release):
    apk = apk_factory.build(package="com.dhis2", version_code=10, version_name="3.4.1",
                            permissions=(CAMERA,))
    return make_release(apk)


def test_cli_provisions_four_phones_in_parallel(db, adb_server, devsim, prov, capture_v10,
                                                create_device, tmp_path):
    sim = devsim(count=4)
    # one phone is already in the inventory (matched by its serial), the others are new
    known = create_device(serial=sim.serials[0], model="SM-J260F")
    out = prov("stations", "add", "hub", "--adb-port", adb_server.port)
    assert out.exit_code == 0, out.output
    out = prov("profiles", "add", "field", "--release", capture_v10.id, "--pin-policy", "random",
               "--grant", f"com.dhis2={CAMERA}", "--screen-off-timeout", "120",
               "--play-store", "disabled", "--min-api", "23", "--min-battery", "10")
    assert out.exit_code == 0, out.output
    slips = tmp_path / "slips.pdf"
    out = prov("provision", "--profile", "field", "--station", "hub", "--all", "--slips", slips)
    assert out.exit_code == 0, out.output
    assert "4 done" in out.output

    run = last_run(db)
    assert run.status == "finished"
    assert sorted(i.serial for i in run.items) == sorted(sim.serials)
    for item in run.items:
        assert item.status == "done", (item.serial, item.message)
        assert [s.step for s in item.steps] == ["preflight", "install", "settings", "pin",
                                                "permissions", "verify", "record"]
        adb_serial = sim.adb_serial(item.serial)
        # what the phone really has now
        assert phone_versions(adb_server, adb_serial)["com.dhis2"] == 10
        pin = item.pin
        assert pin and len(pin) == 6
        verify = adb_server.run("-s", adb_serial, "shell", f"locksettings verify --old {pin}")
        assert "verified successfully" in verify.stdout
        timeout = adb_server.run("-s", adb_serial, "shell",
                                 "settings get system screen_off_timeout").stdout.strip()
        assert timeout == "120000"
        assert sim.phone(item.serial).pm.packages["com.dhis2"].granted == {CAMERA}
        # the PIN never reaches a step record
        for s in item.steps:
            assert pin not in (s.output or "") and pin not in (s.error or "")
        device = item.device
        assert device.status == "provisioned"
        assert device.serial == item.serial
        pkgs = db.session.scalars(select(InstalledPackage).where(
            InstalledPackage.device_id == device.id)).all()
        assert [(p.package, p.version_code, p.signer_sha256) for p in pkgs] == [
            ("com.dhis2", 10, capture_v10.signer_sha256)]
    assert db.session.get(Device, known.id).status == "provisioned"
    assert known.id in {i.device_id for i in run.items}
    # three devices were registered from what the phones reported
    assert db.session.scalar(select(func.count(Device.id))) == 4
    # no PIN in the audit log either
    audit = " ".join(str(e.after) + str(e.before) for e in db.session.scalars(select(AuditEntry)))
    for item in run.items:
        assert item.pin not in audit
    # the handover slips carry each phone's random PIN
    text = subprocess.run(["pdftotext", str(slips), "-"], capture_output=True, text=True,
                          check=True).stdout
    for item in run.items:
        assert item.device.asset_tag in text
        assert item.pin in text

    # a second run finds everything in place: install is skipped, nothing breaks
    out = prov("provision", "--profile", "field", "--station", "hub", "--serial", sim.serials[1])
    assert out.exit_code == 0, out.output
    again = last_run(db)
    assert [i.serial for i in again.items] == [sim.serials[1]]
    install = next(s for s in again.items[0].steps if s.step == "install")
    assert "already installed" in install.output


def test_capacity_block_and_minimums(db, adb_server, devsim, prov, capture_v10, make_profile,
                                     local_station, create_device, create_holder):
    # a 1 GB Android 8.1 phone (catalogue profile 0) for a holder with a heavy offline workload
    sim = devsim(catalogue_profiles(1))
    holder = create_holder(expected_teis=20000, programs=10, capture_org_units=200)
    dev = create_device(serial=sim.serials[0], ram_mb=1024, api_level=27)
    from fleet.inventory.operations import checkout

    checkout(dev, holder, actor=None)
    db.session.commit()
    make_profile("blocky", [capture_v10], capacity_check="block")
    hub = local_station(adb_server)
    out = prov("provision", "--profile", "blocky", "--station", hub.name, "--all")
    assert out.exit_code == 3
    item = last_run(db).items[0]
    assert item.status == "failed" and item.resume_step == "preflight"
    assert "capacity check" in item.message
    assert db.session.get(Device, dev.id).status == "assigned"
    assert phone_versions(adb_server, sim.adb_serial(sim.serials[0])) == {}


def test_serial_filter_and_step_records(db, adb_server, devsim, prov, capture_v10, make_profile,
                                        local_station):
    sim = devsim(count=3)
    make_profile("one", [capture_v10], pin_policy="profile", pin="482913")
    hub = local_station(adb_server)
    out = prov("provision", "--profile", "one", "--station", hub.name, "--serial",
               sim.serials[2], "--json")
    assert out.exit_code == 0, out.output
    run = last_run(db)
    assert [i.serial for i in run.items] == [sim.serials[2]]
    steps = db.session.scalars(select(StepRecord).where(
        StepRecord.item_id == run.items[0].id)).all()
    assert all(s.duration_s >= 0 for s in steps)
    pin_step = next(s for s in steps if s.step == "pin")
    assert "482913" not in pin_step.output and "****" in pin_step.output
    assert "482913" not in out.output
    assert phone_versions(adb_server, sim.adb_serial(sim.serials[0])) == {}
    assert db.session.scalar(select(func.count(RunItem.id)).where(RunItem.run_id == run.id)) == 1
