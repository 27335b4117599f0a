"""The ADB adapter and the station helpers, on real command output (the simulator's
transcript-based renderers and a real adb server), and secrets redaction. The adapter parses
with the health reports' parsers, tested in tests/reports/test_parsers.py."""

from __future__ import annotations

import threading
import time

import pytest

from fleet.provisioning.adb import (
    CommandFailed,
    Phone,
    PhoneGone,
    device_serial,
    list_devices,
    wait_for_change,
)
from fleet.provisioning.devsim import catalogue_profiles
from fleet.provisioning.pipeline import install_message, redact
from fleet.provisioning.stations import (
    HostKeyRejected,
    StationError,
    StationSpec,
    host_keys_from,
    load_private_key,
    open_station,
)


def test_phone_commands_against_the_simulator(adb_server, devsim):
    sim = devsim(catalogue_profiles(1))
    serial = sim.serials[0]
    with open_station(StationSpec(adb_port=adb_server.port)) as client:
        entries = list_devices(client)
        assert [(e.adb_serial, e.state) for e in entries] == [(sim.adb_serial(serial), "device")]
        phone = Phone(client, entries[0].adb_serial)
        assert device_serial(phone.device) == serial
        assert phone.imei() == sim.phone(serial).profile.imei
        assert phone.shell("exit 3").exit_code == 3
        with pytest.raises(CommandFailed):
            phone.shell("settings put nosuchnamespace a b", check=True)
        phone.settings_put("system", "screen_off_timeout", 60000)
        assert phone.settings_get("system", "screen_off_timeout") == "60000"
        assert phone.crypto()[0] == "encrypted"
        sim.unplug(serial)
        with pytest.raises(PhoneGone):
            phone.shell("getprop ro.serialno")


def test_wait_for_change_returns_on_track_devices(adb_server, devsim):
    sim = devsim(catalogue_profiles(1), connect=False)
    with open_station(StationSpec(adb_port=adb_server.port)) as client:
        threading.Timer(0.5, sim.connect, args=(sim.serials[0],)).start()
        t0 = time.monotonic()
        wait_for_change(client, timeout=10)
        assert time.monotonic() - t0 < 8


def test_install_messages_and_redaction():
    msg = install_message("Failure [INSTALL_FAILED_VERSION_DOWNGRADE]", "com.dhis2")
    assert msg.startswith("INSTALL_FAILED_VERSION_DOWNGRADE:") and "uninstall" in msg
    assert "different certificate" in install_message(
        "Failure [INSTALL_FAILED_UPDATE_INCOMPATIBLE: Package com.dhis2 signatures do not match]",
        "com.dhis2")
    assert redact("Pin set to '482913'", ["482913"]) == "Pin set to '****'"


def test_station_keys(tmp_path):
    from sshd_fixtures import keygen

    pub = keygen(tmp_path / "k").split()
    keys = host_keys_from(f"# comment\n[127.0.0.1]:2222 {pub[0]} {pub[1]}\n")
    assert keys.lookup("[127.0.0.1]:2222") is not None
    assert load_private_key((tmp_path / "k").read_text()).get_name() == "ssh-ed25519"
    with pytest.raises(StationError):
        load_private_key("not a key")
    spec = StationSpec(name="x", kind="ssh", ssh_host="127.0.0.1", ssh_username="u",
                       ssh_private_key=(tmp_path / "k").read_text(), ssh_known_hosts="")
    with pytest.raises(HostKeyRejected), open_station(spec):
        pass
