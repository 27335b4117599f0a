"""``fleet devsim``: run N simulated phones attached to an adb server until Ctrl-C.

The lead registers :data:`devsim` on the ``fleet`` CLI root; it also runs alone as
``python -m fleet.provisioning.devsim.cli --count 3``.
"""

from __future__ import annotations

import signal
import threading

import click


def _print_table(rows: list[dict]) -> None:
    headers = ("serial", "adb_serial", "model", "manufacturer", "android", "api", "imei", "state")
    widths = {h: max(len(h), *(len(str(r[h])) for r in rows)) for h in headers}
    click.echo("  ".join(h.upper().ljust(widths[h]) for h in headers))
    for row in rows:
        click.echo("  ".join(str(row[h]).ljust(widths[h]) for h in headers))


@click.command("devsim")
@click.option(
    "--count",
    default=20,
    show_default=True,
    type=click.IntRange(1, 500),
    help="Number of simulated phones.",
)
@click.option(
    "--base-port",
    default=7100,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="First loopback TCP port (phone i uses base+i; 0 picks free ports). "
    "Ports 5554-5585 are refused: adb scans them for emulators.",
)
@click.option(
    "--profile",
    "profile_path",
    type=click.Path(exists=True, dir_okay=False),
    help="JSON or TOML file of phone profiles (overrides --count).",
)
@click.option(
    "--adb-port",
    default=5037,
    show_default=True,
    type=click.IntRange(1, 65535),
    help="Port of the adb server to connect the phones to.",
)
@click.option(
    "--connect/--no-connect",
    default=True,
    show_default=True,
    help="Run 'adb connect 127.0.0.1:PORT' for each phone.",
)
@click.option(
    "--control-port",
    default=None,
    type=click.IntRange(0, 65535),
    help="Also listen for JSON-lines control requests on this loopback port "
    "(plug/unplug/replug/reboot/offline/online/authorize/faults/list).",
)
@click.option("--seed", default=7, show_default=True, help="Seed for the generated profiles.")
def devsim(count, base_port, profile_path, adb_port, connect, control_port, seed):  # noqa: PLR0913
    """Start simulated Android phones that a real adb server can talk to."""
    from .profile import catalogue_profiles, load_profiles
    from .simulator import Simulator

    profiles = load_profiles(profile_path) if profile_path else catalogue_profiles(count, seed=seed)
    try:
        sim = Simulator(profiles, base_port=base_port, adb_port=adb_port if connect else None)
        sim.start(control_port=control_port)
    except (ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        if connect:
            failures = {s: r for s, r in sim.connect_all().items() if "connected" not in r}
            for serial, answer in failures.items():
                click.echo(f"adb connect {sim.adb_serial(serial)}: {answer}", err=True)
        _print_table(sim.table())
        if sim.control_port:
            click.echo(f"control socket: 127.0.0.1:{sim.control_port}")
        click.echo("Simulating; press Ctrl-C to stop.", err=True)
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
        click.echo("devsim stopped.", err=True)


if __name__ == "__main__":  # pragma: no cover
    devsim()
