"""``fleet capacity ...`` commands: the planner's calculator on the command line.

The group ``capacity`` is registered by the app factory/CLI root; it needs no app context.
"""

from __future__ import annotations

import json

import click

from .inputs import FORM_FACTORS, CapacityInputError, DeviceSpec, Workload
from .model import estimate


@click.group("capacity")
def capacity() -> None:
    """RAM and storage capacity estimates for offline Tracker workloads."""


@capacity.command("estimate")
@click.option("--ram-mb", type=int, required=True, help="Nominal device RAM in MB (2048 = 2 GB).")
@click.option("--api-level", type=int, required=True, help="Android API level (29 = Android 10).")
@click.option("--form-factor", type=click.Choice(FORM_FACTORS), default="phone", show_default=True)
@click.option("--free-storage-mb", type=float, default=None, help="Free space on /data in MB.")
@click.option("--total-storage-mb", type=float, default=None, help="Nominal storage in MB.")
@click.option("--teis", type=int, required=True, help="TEIs held offline.")
@click.option("--events-per-tei", type=float, default=3.0, show_default=True)
@click.option("--attributes-per-tei", type=int, default=10, show_default=True)
@click.option("--capture-org-units", type=int, default=1, show_default=True)
@click.option("--search-org-units", type=int, default=1, show_default=True)
@click.option("--programs", type=int, default=1, show_default=True)
@click.option("--program-rules", type=int, default=0, show_default=True)
@click.option(
    "--option-set-size",
    type=int,
    default=0,
    show_default=True,
    help="Options in the largest option set.",
)
@click.option(
    "--reserved-values",
    type=int,
    default=100,
    show_default=True,
    help="Reserved values per auto-generated attribute (DHIS2 reservedValues).",
)
@click.option(
    "--encrypt/--no-encrypt",
    default=False,
    show_default=True,
    help="DHIS2 database encryption (encryptDB).",
)
@click.option("--media-files-per-tei", type=float, default=0.0, show_default=True)
@click.option("--media-avg-kb", type=float, default=0.0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the estimate as JSON.")
def estimate_command(
    ram_mb: int,
    api_level: int,
    form_factor: str,
    free_storage_mb: float | None,
    total_storage_mb: float | None,
    teis: int,
    events_per_tei: float,
    attributes_per_tei: int,
    capture_org_units: int,
    search_org_units: int,
    programs: int,
    program_rules: int,
    option_set_size: int,
    reserved_values: int,
    encrypt: bool,
    media_files_per_tei: float,
    media_avg_kb: float,
    as_json: bool,
) -> None:
    """Judge whether a device carries an offline workload: verdict, reasons with their
    sources, memory and database estimates, recommended RAM and the largest TEI count at ok.
    Exit status 0 whatever the verdict; 2 for an input out of range."""
    try:
        device = DeviceSpec(
            ram_mb=ram_mb,
            api_level=api_level,
            free_storage_mb=free_storage_mb,
            form_factor=form_factor,
            total_storage_mb=total_storage_mb,
        )
        workload = Workload(
            teis=teis,
            events_per_tei=events_per_tei,
            attributes_per_tei=attributes_per_tei,
            capture_org_units=capture_org_units,
            search_org_units=search_org_units,
            programs=programs,
            program_rules=program_rules,
            option_set_size=option_set_size,
            reserved_values=reserved_values,
            encrypt_db=encrypt,
            media_files_per_tei=media_files_per_tei,
            media_avg_kb=media_avg_kb,
        )
    except CapacityInputError as exc:
        option = "--" + exc.field.replace("_", "-").replace("encrypt-db", "encrypt")
        raise click.BadParameter(exc.message, param_hint=option) from exc
    result = estimate(device, workload)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        click.echo(result.explain())
