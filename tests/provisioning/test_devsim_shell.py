"""Command output of simulated phones through a real adb server, against the formats of the
real-device transcripts in ``fleet/provisioning/devsim/transcripts``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fleet.provisioning.devsim import Package, PhoneProfile, catalogue_profiles, load_profiles
from fleet.provisioning.devsim.outputs import parcel_string16, parcel_text

TRANSCRIPTS = Path(__file__).resolve().parents[2] / "fleet/provisioning/devsim/transcripts"
GETPROP_LINE = re.compile(r"^\[([^\]]+)\]: \[(.*)\]$")


def parse_getprop(text: str) -> dict[str, str]:
    props = {}
    for line in text.splitlines():
        m = GETPROP_LINE.match(line)
        assert m, f"not a getprop line: {line!r}"
        props[m.group(1)] = m.group(2)
    return props


def parse_parcel_string(text: str) -> str:
    """Decode a String16 reply the way field scripts do: the ASCII column, dots removed."""
    chunks = re.findall(r"'(.*?)'", text)
    return "".join(chunks).replace(".", "").strip()


@pytest.fixture
def phones(adb_server, devsim):
    profiles = catalogue_profiles(5)  # Android 8.1, 10, 12, 14, 14 (samsung, Xiaomi, Google)
    profiles[3].packages = [Package("com.dhis2", 2931, "2.9.3.1", signer_sha256="cd" * 32)]
    profiles[3].app_memory_kb = {"com.dhis2": 187_000}
    sim = devsim(profiles)
    return sim, profiles


def sh(server, sim, profile, command):
    return server.run("-s", sim.adb_serial(profile.serial), "shell", command)


def test_getprop_matches_transcript_layout(adb_server, phones):
    sim, profiles = phones
    real = parse_getprop((TRANSCRIPTS / "android12_xiaomi_getprop.txt").read_text())
    for profile in profiles:
        text = sh(adb_server, sim, profile, "getprop").stdout
        props = parse_getprop(text)
        keys = list(props)
        assert keys == sorted(keys)
        assert props["ro.product.model"] == profile.model
        assert props["ro.build.version.sdk"] == str(profile.api_level)
        assert props["ro.build.version.release"] == profile.android_version
        assert props["ro.crypto.state"] == profile.crypto_state
        assert props["ro.serialno"] == profile.serial
        if profile.api_level >= 31:
            # the same key families the real Android 12 phone has
            for key in real:
                if key.startswith(("ro.product.vendor.", "ro.product.odm.", "ro.crypto.")):
                    if "marketname" not in key and "uses_fs" not in key:
                        assert key in props, key
        if profile.api_level < 29:
            assert not any(k.startswith("ro.product.vendor.") for k in props)
    assert sh(adb_server, sim, profiles[0], "getprop no.such.key").stdout == "\n"


def test_dumpsys_battery_per_version(adb_server, phones):
    sim, profiles = phones
    pre13 = (TRANSCRIPTS / "battery_android_pre13.txt").read_text().splitlines()
    labels = [line.split(":")[0] for line in pre13]
    for profile in profiles:
        lines = sh(adb_server, sim, profile, "dumpsys battery").stdout.splitlines()
        got = [line.split(":")[0] for line in lines]
        if profile.api_level < 33:
            assert got == labels
        else:
            assert got[:4] + got[5:-2] == labels
            assert got[4] == "  Dock powered"
            assert got[-2:] == ["  Charging state", "  Charging policy"]
        values = dict(line.strip().split(": ", 1) for line in lines[1:])
        assert int(values["level"]) == profile.battery.level
        assert int(values["temperature"]) == round(profile.battery.temperature_c * 10)


def test_meminfo_df_uptime(adb_server, phones):
    sim, profiles = phones
    for profile in profiles:
        meminfo = sh(adb_server, sim, profile, "cat /proc/meminfo").stdout
        first = meminfo.splitlines()[0]
        assert re.fullmatch(r"MemTotal:\s+\d+ kB", first)
        total = int(first.split()[1])
        assert 0.85 * profile.ram_mb * 1024 < total < profile.ram_mb * 1024
        assert ("KReclaimable:" in meminfo) == (profile.api_level >= 31)
        df = sh(adb_server, sim, profile, "df /data").stdout.splitlines()
        assert df[0].split() == ["Filesystem", "1K-blocks", "Used", "Available", "Use%",
                                 "Mounted", "on"]  # fmt: skip
        assert len(df) == 2 and df[1].endswith(" /data")
        avail_kb = int(df[1].split()[3])
        assert avail_kb == profile.storage_free_mb * 1024
        assert len(sh(adb_server, sim, profile, "df -k").stdout.splitlines()) > 2
        assert "Size" in sh(adb_server, sim, profile, "df -h /data").stdout
        assert re.match(r" \d\d:\d\d:\d\d up ", sh(adb_server, sim, profile, "uptime").stdout)


def test_packages_and_app_memory(adb_server, phones):
    sim, profiles = phones
    p = profiles[3]
    listing = sh(adb_server, sim, p, "pm list packages --show-versioncode").stdout
    assert "package:com.dhis2 versionCode:2931\n" in listing
    assert "package:android versionCode:" in listing
    third = sh(adb_server, sim, p, "pm list packages -3").stdout
    assert third == "package:com.dhis2\n"
    dump = sh(adb_server, sim, p, "dumpsys package com.dhis2").stdout
    assert "  Package [com.dhis2] (" in dump
    assert "versionCode=2931 minSdk=21 targetSdk=30" in dump
    assert "versionName=2.9.3.1" in dump
    meminfo = sh(adb_server, sim, p, "dumpsys meminfo com.dhis2").stdout
    assert "** MEMINFO in pid " in meminfo and "[com.dhis2] **" in meminfo
    assert re.search(r"TOTAL PSS:\s+187000", meminfo)
    other = sh(adb_server, sim, profiles[0], "dumpsys meminfo com.dhis2").stdout
    assert other == "No process found for: com.dhis2\n"


def test_iphonesubinfo_parcel(adb_server, phones):
    sim, profiles = phones
    real = (TRANSCRIPTS / "iphonesubinfo_parcel.txt").read_text().split("\n", 1)[1]
    # our renderer reproduces the real dump byte for byte for the real IMEI
    assert parcel_text(parcel_string16("860955027785041")) == real
    for profile in profiles:
        out = sh(adb_server, sim, profile, "service call iphonesubinfo 1").stdout
        assert out.startswith("Result: Parcel(\n  0x00000000: 00000000 0000000f ")
        assert parse_parcel_string(out) == profile.imei
        iccid = sh(adb_server, sim, profile, "service call iphonesubinfo 12").stdout
        if profile.api_level >= 29:
            assert parse_parcel_string(iccid) == profile.iccid


def test_settings_and_locksettings(adb_server, phones):
    sim, profiles = phones
    p = profiles[1]
    assert sh(adb_server, sim, p, "settings get global auto_time").stdout == "1\n"
    assert sh(adb_server, sim, p, "settings get secure no_such_key").stdout == "null\n"
    assert sh(adb_server, sim, p, "settings put system screen_off_timeout 120000").returncode == 0
    assert sh(adb_server, sim, p, "settings get system screen_off_timeout").stdout == "120000\n"
    bad = sh(adb_server, sim, p, "settings get bogus x")
    assert bad.returncode != 0

    assert sh(adb_server, sim, p, "locksettings get-disabled").stdout == "false\n"
    first = sh(adb_server, sim, p, "locksettings set-pin 4821")
    assert (first.stdout, first.returncode) == ("Pin set to '4821'\n", 0)
    again = sh(adb_server, sim, p, "locksettings set-pin 1111")
    assert again.returncode == 255
    assert again.stdout == "Old password '' didn't match\n"
    wrong = sh(adb_server, sim, p, "locksettings set-pin --old 0000 1111")
    assert wrong.stdout == "Old password '0000' didn't match\n"
    ok = sh(adb_server, sim, p, "locksettings set-pin --old 4821 1111")
    assert ok.stdout == "Pin set to '1111'\n"
    assert sh(adb_server, sim, p, "locksettings verify --old 1111").returncode == 0
    cleared = sh(adb_server, sim, p, "locksettings clear --old 1111")
    assert cleared.stdout == "Lock credential cleared\n"
    assert sim.phone(p.serial).lock_pin is None


def test_profiles_from_json_and_toml(tmp_path):
    json_file = tmp_path / "phones.json"
    json_file.write_text(
        '{"phones": [{"serial": "A1", "imei": "356938035643809", "android_version": "14",'
        ' "battery": {"level": 12}, "faults": {"throughput_mbps": 20},'
        ' "packages": [{"name": "com.dhis2", "version_code": 3, "version_name": "3.0"}]}]}'
    )
    (loaded,) = load_profiles(json_file)
    assert isinstance(loaded, PhoneProfile)
    assert loaded.api_level == 34 and loaded.battery.level == 12
    assert loaded.faults.throughput_mbps == 20 and loaded.packages[0].version_code == 3
    toml_file = tmp_path / "phones.toml"
    toml_file.write_text(
        '[[phones]]\nserial = "B2"\nimei = "490154203237518"\nram_mb = 1024\n'
        "[phones.faults]\nunauthorized = true\n"
    )
    (t,) = load_profiles(toml_file)
    assert t.ram_mb == 1024 and t.faults.unauthorized is True
    (tmp_path / "bad.json").write_text('{"serial": "x", "imei": "1", "colour": "red"}')
    with pytest.raises(ValueError, match="colour"):
        load_profiles(tmp_path / "bad.json")


def test_catalogue_is_varied_and_valid():
    from stdnum import imei, luhn

    profiles = catalogue_profiles(20)
    assert len({p.serial for p in profiles}) == 20
    assert {p.api_level for p in profiles} == {27, 29, 31, 34}
    assert {p.manufacturer for p in profiles} == {"samsung", "Xiaomi", "Google"}
    for p in profiles:
        assert imei.is_valid(p.imei), p.imei
        assert p.iccid.startswith("89") and len(p.iccid) == 19 and luhn.is_valid(p.iccid)
        assert 0 < p.storage_free_mb < p.storage_total_mb
    assert catalogue_profiles(3, seed=1)[0].imei != catalogue_profiles(3, seed=2)[0].imei
