"""Faults of simulated phones as a real adb server sees them: unauthorized, offline, unplug
mid-push and mid-install, replug, reboot, USB throughput and latency, low battery."""

from __future__ import annotations

import json
import os
import socket
import time

import pytest
from devsim_fixtures import bundled_adb, debian_adb

from fleet.provisioning.devsim import Faults, catalogue_profiles

ADBS = {"debian": debian_adb, "bundled": bundled_adb}


@pytest.fixture(params=sorted(ADBS))
def server(request, make_adb_server):
    return make_adb_server(ADBS[request.param]())


def one(faults: Faults, index: int = 1):
    p = catalogue_profiles(index + 1)[index]
    p.faults = faults
    return p


def test_unauthorized_then_allowed(server, devsim):
    sim = devsim([one(Faults(unauthorized=True))], server=server)
    serial = sim.serials[0]
    ser = sim.adb_serial(serial)
    server.wait_state(ser, "unauthorized")
    got = server.run("-s", ser, "shell", "getprop ro.serialno")
    assert got.returncode != 0
    assert "unauthorized" in got.stderr
    assert {i.serial: i.state for i in server.client().list()}[ser] == "unauthorized"
    # the user taps "Allow": the key the host offered is trusted from now on
    assert sim.authorize(serial) is True
    server.wait_state(ser, "device")
    assert server.run("-s", ser, "shell", "getprop ro.serialno").stdout.strip() == serial
    # a new connection is checked against the trusted key (signature path)
    sim.disconnect(serial)
    server.wait_state(ser, None)
    sim.connect(serial)
    server.wait_state(ser, "device")


def test_offline_phone(server, devsim):
    sim = devsim([one(Faults(offline=True))], server=server)
    serial = sim.serials[0]
    ser = sim.adb_serial(serial)
    server.wait_state(ser, "offline")
    got = server.run("-s", ser, "shell", "true")
    assert got.returncode != 0 and "offline" in got.stderr
    sim.set_offline(serial, False)
    server.wait_state(ser, "device")


def test_unplug_mid_push_then_replug(server, devsim, tmp_path):
    sim = devsim(count=2, server=server)
    victim, other = sim.serials
    ser = sim.adb_serial(victim)
    blob = tmp_path / "blob.bin"
    blob.write_bytes(os.urandom(8 * 1024 * 1024))
    phone = sim.phone(victim)
    sim.set_faults(victim, unplug_after_bytes=phone.received_bytes + 2 * 1024 * 1024)
    got = server.run("-s", ser, "push", str(blob), "/data/local/tmp/blob.bin")
    assert got.returncode != 0
    assert "error" in (got.stderr + got.stdout).lower()
    server.wait_state(ser, None)  # gone from adb devices, like a pulled USB cable
    with pytest.raises(OSError):  # and the port refuses reconnects
        socket.create_connection(("127.0.0.1", phone.port), timeout=2).close()
    # the other phone is unaffected
    assert server.devices()[sim.adb_serial(other)] == "device"
    # nothing half-written is left on the phone
    assert "blob.bin" not in sim.run_shell(victim, "ls /data/local/tmp").out

    sim.set_faults(victim, unplug_after_bytes=None)
    sim.replug(victim)
    server.wait_state(ser, "device")
    server.run("-s", ser, "push", str(blob), "/data/local/tmp/blob.bin", check=True)
    assert sim.phone(victim).fs.get("/data/local/tmp/blob.bin").size == blob.stat().st_size


def test_unplug_during_install(server, devsim, apk_factory):
    sim = devsim([one(Faults(unplug_during="install"), index=3)], server=server)
    serial = sim.serials[0]
    ser = sim.adb_serial(serial)
    apk = apk_factory.build(package="org.fleet.big", version_code=1, padding_bytes=4 * 2**20)
    got = server.run("-s", ser, "install", str(apk))
    assert got.returncode != 0
    server.wait_state(ser, None)
    assert "org.fleet.big" not in sim.phone(serial).pm.packages
    sim.set_faults(serial, unplug_during=None)
    sim.replug(serial)
    server.wait_state(ser, "device")
    got = server.run("-s", ser, "install", str(apk))
    assert got.returncode == 0 and "Success" in got.stdout


def test_unplug_during_named_shell_step(adb_server, devsim):
    sim = devsim([one(Faults(unplug_during="locksettings"))])
    ser = sim.adb_serial(sim.serials[0])
    assert adb_server.run("-s", ser, "shell", "getprop ro.serialno").returncode == 0
    got = adb_server.run("-s", ser, "shell", "locksettings set-pin 1234")
    # adb reports a shell cut off before its exit packet as status 0 with no output
    assert "Pin set" not in got.stdout
    adb_server.wait_state(ser, None)
    assert sim.phone(sim.serials[0]).lock_pin is None


def test_throughput_and_latency(adb_server, devsim, tmp_path):
    fast, slow = catalogue_profiles(2)
    slow.faults = Faults(throughput_mbps=8.0, latency_ms=300)
    sim = devsim([fast, slow])
    blob = tmp_path / "blob.bin"
    blob.write_bytes(os.urandom(4 * 1024 * 1024))
    timings = {}
    for profile in (fast, slow):
        ser = sim.adb_serial(profile.serial)
        start = time.monotonic()
        adb_server.run("-s", ser, "push", str(blob), "/data/local/tmp/b", check=True)
        timings[profile.serial] = time.monotonic() - start
    # 4 MiB at 8 MiB/s is at least 0.5 s (plus latency); unthrottled loopback is far faster
    assert timings[slow.serial] >= 0.5
    assert timings[fast.serial] < timings[slow.serial] / 2
    start = time.monotonic()
    adb_server.run("-s", sim.adb_serial(slow.serial), "shell", "true", check=True)
    assert time.monotonic() - start >= 0.3


def test_reboot_resets_uptime(adb_server, devsim):
    profile = catalogue_profiles(1)[0]
    profile.uptime_s = 3 * 86400
    sim = devsim([profile])
    ser = sim.adb_serial(profile.serial)
    before = float(adb_server.run("-s", ser, "shell", "cat /proc/uptime").stdout.split()[0])
    assert before > 86400
    adb_server.run("-s", ser, "reboot")
    adb_server.wait_state(ser, None, timeout=10)
    adb_server.wait_state(ser, "device", timeout=20)
    after = float(adb_server.run("-s", ser, "shell", "cat /proc/uptime").stdout.split()[0])
    assert after < 60


def test_low_battery_and_control_socket(adb_server, devsim):
    sim = devsim([one(Faults(low_battery=True))])
    serial = sim.serials[0]
    ser = sim.adb_serial(serial)
    battery = adb_server.client().device(ser).battery()
    assert battery.level == 4
    assert battery.status == 3  # BATTERY_STATUS_DISCHARGING
    # the JSON-lines control socket a separate CLI process would use
    sim._call(sim._start_control(0))
    with socket.create_connection(("127.0.0.1", sim.control_port), timeout=5) as s:
        f = s.makefile("rw")
        f.write(json.dumps({"op": "list"}) + "\n")
        f.flush()
        listing = json.loads(f.readline())
        assert [row["serial"] for row in listing["phones"]] == [serial]
        f.write(json.dumps({"op": "unplug", "serial": serial}) + "\n")
        f.flush()
        assert json.loads(f.readline()) == {"ok": True}
        adb_server.wait_state(ser, None)
        f.write(json.dumps({"op": "replug", "serial": serial}) + "\n")
        f.flush()
        assert json.loads(f.readline()) == {"ok": True}
        adb_server.wait_state(ser, "device")
        f.write(json.dumps({"op": "faults", "serial": serial, "faults": {"bogus": 1}}) + "\n")
        f.flush()
        assert json.loads(f.readline())["ok"] is False
