"""``fleet rehearse``: run a seeded campaign end to end against this (empty) instance."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import urlsplit

import click
from flask import current_app
from flask.cli import with_appcontext


@click.command("rehearse")
@click.option("--seed", type=int, default=1, show_default=True,
              help="Seed of the data generator (same seed, same campaign).")
@click.option("--fast", is_flag=True,
              help="Small campaign (about 70 org units, 150 holders, 180 devices, 6 phones).")
@click.option("--phones", type=click.IntRange(1, 100), default=None,
              help="Simulated phones to provision (default 20, 6 with --fast).")
@click.option("--holders", type=click.IntRange(20, 100_000), default=None,
              help="Holders to import (default 1000).")
@click.option("--devices", type=click.IntRange(20, 100_000), default=None,
              help="Rows of the device sheet and of the SIM sheet (default 1200).")
@click.option("--apk-mb", type=click.IntRange(0, 300), default=None,
              help="Padding of the built APK in MB (default 8, 2 with --fast).")
@click.option("--dhis2-url", default=None,
              help="DHIS2 server to publish the pilot channel to (a test server!).")
@click.option("--dhis2-token", envvar="FLEET_DHIS2_TOKEN", default=None,
              help="Its personal access token (or $FLEET_DHIS2_TOKEN).")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where sheets, PDFs and the simulator go (default DATA_DIR/rehearsal).")
@click.option("--url", default=None, metavar="URL",
              help="Call the API of this running deployment of the same instance (its public "
                   "base URL, e.g. https://fleet.example.org) instead of serving the app in "
                   "this process.")
@click.option("--ca-cert", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None,
              help="With --url: verify its TLS certificate against this PEM file (default: "
                   "the system's CAs). Verification is never turned off.")
@with_appcontext
def rehearse(seed, fast, phones, holders, devices, apk_mb, dhis2_url, dhis2_token, workdir,
             url, ca_cert):
    """Rehearse a campaign on this empty instance through the public CLI and API.

    Generates (seeded) and imports org units, holders, a messy procurement sheet of phones and
    SIMs; builds, vets, approves and releases a signed APK; provisions simulated phones through
    a private adb server; checks them out; prints labels and agreements; pulls health; runs
    compliance and the capacity report; publishes to DHIS2 with --dhis2-url. Exit status 1
    when any step FAILED. With --url the API calls go to that running deployment (nginx, say)
    while the ``fleet`` commands use this FLEET_* environment: the same database and data
    folder as the deployment.
    """
    from fleet.rehearsal.generator import FAST, FULL
    from fleet.rehearsal.runner import Options, Rehearsal

    if ca_cert and not url:
        raise click.UsageError("--ca-cert needs --url")
    parts = urlsplit(url or "")
    if url and (parts.scheme not in ("http", "https") or not parts.netloc):
        raise click.BadParameter(f"{url!r} is not an http(s):// URL", param_hint="--url")
    sizes = dict(FAST if fast else FULL)
    for key, value in (("phones", phones), ("holders", holders), ("devices", devices)):
        if value is not None:
            sizes[key] = value
    data_dir = Path(current_app.config["DATA_DIR"])
    opts = Options(workdir=workdir or data_dir / "rehearsal", seed=seed, sizes=sizes,
                   dhis2_url=dhis2_url, dhis2_token=dhis2_token,
                   apk_mb=apk_mb if apk_mb is not None else (2 if fast else 8),
                   concurrency=max(1, min(64, sizes["phones"])), url=url, ca_cert=ca_cert)
    click.echo(f"rehearsal: seed {seed}, {'fast' if fast else 'full'} size {sizes}"
               + (f", against {url}" if url else ""))
    start = time.perf_counter()
    rehearsal = Rehearsal(current_app._get_current_object(), opts, echo=click.echo)
    results = rehearsal.run()
    total = time.perf_counter() - start
    failed = [r for r in results if r.status == "FAILED"]
    not_run = [r for r in results if r.status == "not run"]
    click.echo("")
    click.echo(f"rehearsal {'FAILED' if failed else 'passed'}: {len(results)} steps, "
               f"{len(results) - len(failed) - len(not_run)} ok, {len(failed)} failed, "
               f"{len(not_run)} not run, {total:.1f} s")
    for r in failed:
        click.echo(f"  FAILED {r.name}: {r.summary}")
    for r in not_run:
        click.echo(f"  not run {r.name}: {r.summary}")
    click.echo(f"files: {opts.workdir}")
    if rehearsal.admin_created:
        where = url or "fleet serve (same FLEET_* environment)"
        click.echo(f"browse it: {where}, then log in as "
                   f"'admin' with password {rehearsal.admin_password}")
    raise SystemExit(1 if failed else 0)


commands = (rehearse,)
