"""``fleet devsim`` as a separate process: phones appear in a real adb server, the control
socket unplugs one, Ctrl-C stops the simulator and the phones leave adb."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time

from devsim_fixtures import free_port


def read_until(proc, marker: str, timeout: float = 30.0) -> list[str]:
    lines = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if marker in line:
            return lines
    raise AssertionError(f"{marker!r} not seen; got {lines}")


def test_cli_runs_phones_until_ctrl_c(adb_server, tmp_path):
    control = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "fleet.provisioning.devsim.cli", "--count", "3",
         "--base-port", "0", "--adb-port", str(adb_server.port),
         "--control-port", str(control)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=adb_server.env,
    )  # fmt: skip
    try:
        lines = read_until(proc, "control socket:")
        header = next(i for i, line in enumerate(lines) if line.startswith("SERIAL"))
        rows = [line.split() for line in lines[header + 1 : header + 4]]
        adb_serials = [row[1] for row in rows]
        assert all(s.startswith("127.0.0.1:") for s in adb_serials)
        devices = adb_server.devices()
        assert all(devices.get(s) == "device" for s in adb_serials)
        for row in rows:
            got = adb_server.run("-s", row[1], "shell", "getprop ro.serialno", check=True)
            assert got.stdout.strip() == row[0]

        with socket.create_connection(("127.0.0.1", control), timeout=5) as s:
            f = s.makefile("rw")
            f.write(json.dumps({"op": "unplug", "serial": rows[0][0]}) + "\n")
            f.flush()
            assert json.loads(f.readline()) == {"ok": True}
        adb_server.wait_state(adb_serials[0], None)

        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
        for serial in adb_serials:
            adb_server.wait_state(serial, None)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cli_refuses_emulator_ports(adb_server):
    proc = subprocess.run(
        [sys.executable, "-m", "fleet.provisioning.devsim.cli", "--count", "2",
         "--base-port", "5570", "--no-connect"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "5554-5585" in proc.stderr
