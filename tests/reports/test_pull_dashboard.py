"""Health pulls through a real adb server from simulated phones (fleet devsim), with a SIM
swap and an outdated Capture app planted in the profiles; the dashboard then shows them."""

import hashlib
import re

from sqlalchemy import select

from fleet.provisioning.devsim import Package, catalogue_profiles
from fleet.reports.models import DeviceHealth, HealthReport


def _release_channel(db, version_code=2700, version_name="2.10.0"):
    """The default channel serving com.dhis2 ``version_name``. Rows are written directly
    (test setup only): uploading and vetting a real APK is issue 4's tests' business."""
    from fleet.apk.models import Channel, ChannelPointer, Release

    release = Release(package="com.dhis2", version_code=version_code, version_name=version_name,
                      min_sdk=23, sha256=hashlib.sha256(version_name.encode()).hexdigest(),
                      size=1, status="released")
    channel = Channel(name="production", is_default=True)
    db.session.add_all([release, channel])
    db.session.flush()
    db.session.add(ChannelPointer(channel=channel, package="com.dhis2", release=release))
    db.session.commit()
    return channel


def _fleet(create_device, create_sim, db, profiles):
    """Register each phone (serial, IMEI) and pair a SIM: the phone's own ICCID, except for
    the last phone, paired in the inventory with another SIM (the swap)."""
    from fleet.inventory.operations import pair_sim

    devices = []
    for i, prof in enumerate(profiles):
        device = create_device(serial=prof.serial, imei=prof.imei, model=prof.model,
                               manufacturer=prof.manufacturer, ram_mb=prof.ram_mb,
                               api_level=prof.api_level, android_version=prof.android_version)
        sim = create_sim() if i == len(profiles) - 1 else create_sim(iccid=prof.iccid)
        pair_sim(device, sim, actor=None)
        db.session.commit()
        devices.append(device)
    return devices


def test_pull_simulated_fleet_and_dashboard(devsim, adb_server, runner, client, login, db,
                                            create_device, create_sim):
    profiles = catalogue_profiles(4, seed=3)
    versions = [(2700, "2.10.0"), (2600, "2.9.0"), (2700, "2.10.0"), (2700, "2.10.0")]
    for prof, (code, name) in zip(profiles, versions, strict=True):
        prof.packages = [Package("com.dhis2", code, name, min_sdk=23, target_sdk=34)]
        prof.app_memory_kb = {"com.dhis2": 190_000}
        prof.screen_lock_pin = "2580"
    profiles[2].screen_lock_pin = None  # no screen lock on the third phone
    _release_channel(db)
    devices = _fleet(create_device, create_sim, db, profiles)
    devsim(profiles, server=adb_server)

    result = runner.invoke(args=["health", "pull", "--adb-port", str(adb_server.port)])
    assert result.exit_code == 0, result.output
    assert result.output.count("stored ") == 4, result.output

    reports = {r.device_id: r for r in db.session.scalars(select(HealthReport))}
    assert len(reports) == 4
    for device, prof in zip(devices, profiles, strict=True):
        r = reports[device.id]
        assert r.source == "pull" and r.serial == prof.serial
        assert r.api_level == prof.api_level and r.android_version == prof.android_version
        assert r.battery_level == prof.battery.level
        assert r.app_pss_mb == round(190_000 / 1024, 1)
        assert r.crypto_state == "encrypted"
        assert r.iccid == prof.iccid  # read through service call iphonesubinfo
        assert r.storage_free_mb is not None and r.ram_total_mb is not None
        assert "dumpsys battery" not in r.raw and r.raw["battery"].startswith("Current Battery")
    # The simulator answers getDeviceId on every version (real Android 10+ refuses: None).
    assert [reports[d.id].imei for d in devices] == [p.imei for p in profiles]

    failing = {d.asset_tag: {f["rule"] for f in db.session.get(DeviceHealth, d.id).failing}
               for d in devices}
    assert "app_behind" in failing[devices[1].asset_tag]
    assert "app_behind" not in failing[devices[0].asset_tag]
    assert "sim_swapped" in failing[devices[3].asset_tag]
    assert "sim_swapped" not in failing[devices[0].asset_tag]
    assert "no_screen_lock" in failing[devices[2].asset_tag]
    assert "no_screen_lock" not in failing[devices[1].asset_tag]

    login("viewer")
    page = client.get("/health/").get_data(as_text=True)
    assert f'>{devices[1].asset_tag}</a>' in page and 'data-rule="app_behind"' in page
    assert f'>{devices[3].asset_tag}</a>' in page and 'data-rule="sim_swapped"' in page
    assert "2.9.0" in page and "2.10.0" in page
    detail = client.get(f"/health/devices/{devices[1].asset_tag}").get_data(as_text=True)
    assert "<svg" in detail and "<polyline" in detail
    assert re.search(r"<script(?![^>]*\bsrc=)", detail) is None  # no inline script (CSP)
    assert 'data-rule="app_behind" data-state="fail"' in detail


def test_pull_skips_unknown_and_offline_phones(devsim, adb_server, runner, db, create_device):
    profiles = catalogue_profiles(2, seed=5)
    profiles[1].faults.offline = True
    devsim(profiles, server=adb_server)
    result = runner.invoke(args=["health", "pull", "--adb-port", str(adb_server.port)])
    assert result.exit_code == 0, result.output
    assert "not in the inventory" in result.output
    assert "state offline" in result.output
    assert db.session.scalar(select(HealthReport.id)) is None


def test_pull_through_ssh_station(devsim, adb_server, sshd, runner, db, create_device,
                                  tmp_path):
    """`fleet health pull --station NAME` through a real sshd (the provisioning domain's SSH
    station: key auth, verified host key, direct-tcpip tunnel to the station's adb server)."""
    profiles = catalogue_profiles(2, seed=9)
    for prof in profiles:
        create_device(serial=prof.serial, imei=prof.imei)
    devsim(profiles, server=adb_server)
    known = tmp_path / "known_hosts"
    known.write_text(sshd.known_hosts)
    added = runner.invoke(args=[
        "stations", "add", "district", "--ssh", "127.0.0.1", "--ssh-port", str(sshd.port),
        "--ssh-user", sshd.user, "--key-file", str(sshd.user_key), "--known-hosts", str(known),
        "--adb-port", str(adb_server.port)])
    assert added.exit_code == 0, added.output
    result = runner.invoke(args=["health", "pull", "--station", "district"])
    assert result.exit_code == 0, result.output
    assert "station district: 2 report(s) stored" in result.output
    stations = {r.station for r in db.session.scalars(select(HealthReport))}
    assert stations == {"district"}
    assert "Accepted publickey" in sshd.log.read_text()
    assert runner.invoke(args=["health", "pull", "--station", "nowhere"]).exit_code != 0
