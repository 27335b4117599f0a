"""The simulator against real adb servers: Debian's adb 29 and the adb bundled in adbutils."""

from __future__ import annotations

import hashlib
import os

import pytest
from devsim_fixtures import bundled_adb, debian_adb

from fleet.provisioning.devsim import catalogue_profiles

ADBS = {"debian": debian_adb, "bundled": bundled_adb}


@pytest.fixture(params=sorted(ADBS))
def server(request, make_adb_server):
    return make_adb_server(ADBS[request.param]())


def test_adb_versions_are_the_two_we_claim():
    import subprocess

    debian = subprocess.run([debian_adb(), "version"], capture_output=True, text=True).stdout
    bundled = subprocess.run([bundled_adb(), "version"], capture_output=True, text=True).stdout
    assert "Version 29." in debian
    assert "Version 29." not in bundled and "Android Debug Bridge" in bundled


def test_devices_banner_and_shell(server, devsim):
    profiles = catalogue_profiles(2)
    sim = devsim(profiles, server=server)
    out = server.run("devices", "-l", check=True).stdout
    for profile in profiles:
        ser = sim.adb_serial(profile.serial)
        line = next(ln for ln in out.splitlines() if ln.startswith(ser))
        assert "device" in line.split()
        assert f"model:{profile.model.replace('-', '_')}" in line
        assert f"device:{profile.device}" in line
        got = server.run("-s", ser, "shell", "getprop", "ro.product.model", check=True)
        assert got.stdout == profile.model + "\n"
        got = server.run("-s", ser, "shell", "getprop ro.serialno", check=True)
        assert got.stdout.strip() == profile.serial


def test_shell_v2_exit_codes_and_stderr(server, devsim):
    sim = devsim(count=1, server=server)
    ser = sim.adb_serial(sim.serials[0])
    assert server.run("-s", ser, "shell", "exit 3").returncode == 3
    assert server.run("-s", ser, "shell", "true").returncode == 0
    bad = server.run("-s", ser, "shell", "ls /no/such/dir")
    assert bad.returncode == 1
    assert bad.stdout == ""
    assert "No such file or directory" in bad.stderr
    missing = server.run("-s", ser, "shell", "frobnicate")
    assert missing.returncode == 127
    chained = server.run("-s", ser, "shell", "false || echo fallback && echo ok")
    assert chained.stdout == "fallback\nok\n"


def test_exec_out_is_raw(server, devsim):
    sim = devsim(count=1, server=server)
    ser = sim.adb_serial(sim.serials[0])
    got = server.run("-s", ser, "exec-out", "getprop ro.build.version.sdk", check=True)
    assert got.stdout == f"{sim.phone(sim.serials[0]).profile.api_level}\n"


def test_push_pull_roundtrip(server, devsim, tmp_path):
    sim = devsim(count=1, server=server)
    ser = sim.adb_serial(sim.serials[0])
    src = tmp_path / "blob.bin"
    src.write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    server.run("-s", ser, "push", str(src), "/data/local/tmp/", check=True)
    listing = server.run("-s", ser, "shell", "ls /data/local/tmp", check=True).stdout
    assert "blob.bin" in listing.split()
    back = tmp_path / "back.bin"
    server.run("-s", ser, "pull", "/data/local/tmp/blob.bin", str(back), check=True)
    assert hashlib.sha256(back.read_bytes()).digest() == hashlib.sha256(src.read_bytes()).digest()
    missing = server.run("-s", ser, "pull", "/data/local/tmp/nope", str(tmp_path / "x"))
    assert missing.returncode != 0
    assert "No such file or directory" in missing.stderr + missing.stdout


def test_adbutils_client(server, devsim, tmp_path):
    profiles = catalogue_profiles(4)[2:]  # Android 12 and 14
    sim = devsim(profiles, server=server)
    client = server.client()
    serials = {d.serial for d in client.device_list()}
    assert serials == {sim.adb_serial(p.serial) for p in profiles}
    for profile in profiles:
        d = client.device(sim.adb_serial(profile.serial))
        assert d.shell("getprop ro.serialno") == profile.serial
        assert d.prop.model == profile.model
        assert "shell_v2" in d.get_features().split(",")
        res = d.shell2("ls /nope")
        assert res.returncode == 1
        battery = d.battery()
        assert battery.level == profile.battery.level
        assert battery.temperature == pytest.approx(profile.battery.temperature_c)
        data = os.urandom(200_000)
        src = tmp_path / f"{profile.serial}.bin"
        src.write_bytes(data)
        d.sync.push(src, "/sdcard/Download/x.bin")
        assert d.sync.read_bytes("/sdcard/Download/x.bin") == data
        assert d.sync.stat("/sdcard/Download/x.bin").size == len(data)
        names = [e.path for e in d.sync.list("/sdcard/Download")]
        assert "x.bin" in names


def test_shell_without_command_reads_stdin(server, devsim):
    sim = devsim(count=1, server=server)
    ser = sim.adb_serial(sim.serials[0])
    got = server.run("-s", ser, "shell", input=b"getprop ro.serialno\nexit 4\n", timeout=30)
    assert got.stdout == sim.serials[0] + "\n"
    assert got.returncode == 4
