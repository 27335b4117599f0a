"""The simulated package manager with real signed APKs (aapt/zipalign/apksigner), installed
through real adb servers: streamed ``adb install`` and ``pm install`` of a pushed file."""

from __future__ import annotations

import hashlib

import pytest
from devsim_fixtures import bundled_adb, debian_adb

from fleet.provisioning.devsim import Faults, Package, catalogue_profiles

ADBS = {"debian": debian_adb, "bundled": bundled_adb}


def profile(api: int, **kw):
    """A catalogue profile with the given API level (27, 29, 31 or 34)."""
    for p in catalogue_profiles(5):
        if p.api_level == api:
            for key, value in kw.items():
                setattr(p, key, value)
            return p
    raise LookupError(api)


@pytest.fixture(params=sorted(ADBS))
def server(request, make_adb_server):
    return make_adb_server(ADBS[request.param]())


def versions(server, ser):
    out = server.run("-s", ser, "shell", "pm list packages --show-versioncode -3", check=True)
    return dict(
        (line.split()[0].removeprefix("package:"), int(line.split("versionCode:")[1]))
        for line in out.stdout.splitlines()
    )


@pytest.mark.parametrize("api", [27, 29, 34])
def test_streamed_install_replace_downgrade(server, devsim, apk_factory, api):
    """API 27 phones get ``exec:cmd package 'install' -S``; API 29+ announce abb_exec too."""
    sim = devsim([profile(api)], server=server)
    ser = sim.adb_serial(sim.serials[0])
    v10 = apk_factory.build(package="com.dhis2", version_code=10, version_name="3.4.1")
    v11 = apk_factory.build(package="com.dhis2", version_code=11, version_name="3.4.2")

    got = server.run("-s", ser, "install", str(v10))
    assert got.returncode == 0, got.stderr + got.stdout
    assert "Success" in got.stdout
    assert versions(server, ser) == {"com.dhis2": 10}

    got = server.run("-s", ser, "install", "-r", str(v11))
    assert got.returncode == 0 and "Success" in got.stdout
    assert versions(server, ser) == {"com.dhis2": 11}

    got = server.run("-s", ser, "install", "-r", str(v10))
    assert got.returncode != 0
    assert "INSTALL_FAILED_VERSION_DOWNGRADE" in got.stderr + got.stdout
    assert versions(server, ser) == {"com.dhis2": 11}

    # -d is honoured on a user build only when the installed version is debuggable
    got = server.run("-s", ser, "install", "-r", "-d", str(v10))
    assert got.returncode != 0
    assert "INSTALL_FAILED_VERSION_DOWNGRADE" in got.stderr + got.stdout
    assert versions(server, ser) == {"com.dhis2": 11}

    opened = sim.phone(sim.serials[0]).services
    installs = [s for s in opened if "install" in s and "settings" not in s]
    assert len(installs) == 4
    if api < 28:
        assert all(s.startswith("exec:cmd package 'install'") for s in installs)
    assert all(f"-S {v10.stat().st_size}" in s.replace("\0", " ") for s in installs[2:])

    dump = server.run("-s", ser, "shell", "dumpsys package com.dhis2", check=True).stdout
    assert "versionName=3.4.2" in dump
    assert "versionCode=11" in dump


def test_wrong_signer_and_old_sdk(server, devsim, apk_factory, signing_keys):
    sim = devsim([profile(29)], server=server)
    ser = sim.adb_serial(sim.serials[0])
    ours = apk_factory.build(package="org.fleet.app", version_code=5, key="release")
    theirs = apk_factory.build(package="org.fleet.app", version_code=6, key="other")
    new_sdk = apk_factory.build(package="org.fleet.new", version_code=1, min_sdk=31)

    assert server.run("-s", ser, "install", str(ours)).returncode == 0
    got = server.run("-s", ser, "install", "-r", str(theirs))
    assert got.returncode != 0
    assert "INSTALL_FAILED_UPDATE_INCOMPATIBLE" in got.stderr + got.stdout

    got = server.run("-s", ser, "install", str(new_sdk))
    assert got.returncode != 0
    assert "INSTALL_FAILED_OLDER_SDK" in got.stderr + got.stdout
    assert versions(server, ser) == {"org.fleet.app": 5}

    installed = sim.phone(sim.serials[0]).pm.packages["org.fleet.app"]
    assert installed.signer_sha256 == signing_keys["release"].cert_sha256


def test_signer_from_v1_only_apk(server, devsim, apk_factory, signing_keys):
    sim = devsim([profile(27)], server=server)
    ser = sim.adb_serial(sim.serials[0])
    apk = apk_factory.build(package="org.fleet.v1", version_code=3, v1=True, v2=False, v3=False)
    assert server.run("-s", ser, "install", str(apk)).returncode == 0
    pkg = sim.phone(sim.serials[0]).pm.packages["org.fleet.v1"]
    assert pkg.signer_sha256 == signing_keys["release"].cert_sha256
    assert pkg.signing_version == 1


def test_insufficient_storage(server, devsim, apk_factory):
    sim = devsim([profile(31, faults=Faults(low_storage=True))], server=server)
    ser = sim.adb_serial(sim.serials[0])
    big = apk_factory.build(package="org.fleet.big", version_code=1, padding_bytes=40 * 2**20)
    got = server.run("-s", ser, "install", str(big))
    assert got.returncode != 0
    assert "INSTALL_FAILED_INSUFFICIENT_STORAGE" in got.stderr + got.stdout
    small = apk_factory.build(package="org.fleet.small", version_code=1)
    assert server.run("-s", ser, "install", str(small)).returncode == 0


def test_pm_install_of_pushed_file_and_pull_back(server, devsim, apk_factory, tmp_path):
    prof = profile(34, packages=[Package("com.dhis2", 20, "3.5.0", signer_sha256="ab" * 32)])
    sim = devsim([prof], server=server)
    ser = sim.adb_serial(sim.serials[0])
    apk = apk_factory.build(
        package="org.fleet.pushed", version_code=7, version_name="7.0",
        permissions=("android.permission.CAMERA",),
    )  # fmt: skip
    server.run("-s", ser, "push", str(apk), "/data/local/tmp/app.apk", check=True)
    got = server.run("-s", ser, "shell", "pm install -r /data/local/tmp/app.apk")
    assert got.returncode == 0
    assert got.stdout.strip() == "Success"
    # the pushed file stays until removed, as on Android
    assert "app.apk" in server.run("-s", ser, "shell", "ls /data/local/tmp").stdout
    assert versions(server, ser) == {"com.dhis2": 20, "org.fleet.pushed": 7}

    missing = server.run("-s", ser, "shell", "pm install /data/local/tmp/none.apk")
    assert missing.returncode != 0

    path = server.run("-s", ser, "shell", "pm path org.fleet.pushed", check=True).stdout
    assert path.startswith("package:/data/app/~~") and path.strip().endswith("/base.apk")
    back = tmp_path / "base.apk"
    server.run("-s", ser, "pull", path.strip().removeprefix("package:"), str(back), check=True)
    assert (
        hashlib.sha256(back.read_bytes()).hexdigest()
        == hashlib.sha256(apk.read_bytes()).hexdigest()
    )

    grant = server.run("-s", ser, "shell", "pm grant org.fleet.pushed android.permission.CAMERA")
    assert grant.returncode == 0
    dump = server.run("-s", ser, "shell", "dumpsys package org.fleet.pushed").stdout
    assert "android.permission.CAMERA: granted=true" in dump
    bad = server.run("-s", ser, "shell", "pm grant org.fleet.pushed android.permission.SEND_SMS")
    assert bad.returncode == 255
    assert "has not requested permission" in bad.stderr

    got = server.run("-s", ser, "shell", "pm uninstall org.fleet.pushed")
    assert got.stdout.strip() == "Success"
    assert "org.fleet.pushed" not in versions(server, ser)


def test_adbutils_install_remote(adb_server, devsim, apk_factory):
    sim = devsim([profile(31)])
    d = adb_server.client().device(sim.adb_serial(sim.serials[0]))
    apk = apk_factory.build(package="org.fleet.remote", version_code=2)
    d.sync.push(str(apk), "/data/local/tmp/r.apk")
    d.install_remote("/data/local/tmp/r.apk", clean=True)
    assert "r.apk" not in d.shell("ls /data/local/tmp")
    assert d.shell("pm list packages --show-versioncode org.fleet.remote") == (
        "package:org.fleet.remote versionCode:2"
    )


def test_downgrade_with_d_needs_debuggable(adb_server, devsim, apk_factory):
    user, rooted = profile(29), profile(31, rooted=True)
    sim = devsim([user, rooted])
    dbg5 = apk_factory.build(package="org.fleet.dbg", version_code=5, debuggable=True)
    dbg4 = apk_factory.build(package="org.fleet.dbg", version_code=4, debuggable=True)
    rel5 = apk_factory.build(package="org.fleet.rel", version_code=5)
    rel4 = apk_factory.build(package="org.fleet.rel", version_code=4)
    u, r = sim.adb_serial(user.serial), sim.adb_serial(rooted.serial)
    for apk in (dbg5, rel5):
        assert adb_server.run("-s", u, "install", str(apk)).returncode == 0
        assert adb_server.run("-s", r, "install", str(apk)).returncode == 0
    # user build: a debuggable predecessor may be downgraded with -d, a release one may not
    assert adb_server.run("-s", u, "install", "-d", str(dbg4)).returncode == 0
    refused = adb_server.run("-s", u, "install", "-d", str(rel4))
    assert "INSTALL_FAILED_VERSION_DOWNGRADE" in refused.stdout + refused.stderr
    # ro.debuggable=1 build (the rooted profile): -d is honoured for any package
    assert adb_server.run("-s", r, "install", "-d", str(rel4)).returncode == 0
    assert versions(adb_server, r)["org.fleet.rel"] == 4
    # -R refuses to replace an installed package
    adb_server.run("-s", u, "push", str(rel5), "/data/local/tmp/rel5.apk", check=True)
    again = adb_server.run("-s", u, "shell", "pm install -R /data/local/tmp/rel5.apk")
    assert again.returncode != 0
    assert "INSTALL_FAILED_ALREADY_EXISTS" in again.stdout
