"""``fleet capacity ...`` commands: the planner's calculator and the fleet report.

The group ``capacity`` is registered by the app factory. ``estimate`` needs no app context (it
uses the coefficients in force when one is there, the defaults otherwise); ``report`` reads the
inventory.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
from flask import has_app_context
from flask.cli import with_appcontext

from .coefficients import DEFAULT
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
    if has_app_context():
        from .operations import active_coefficients

        coefficients = active_coefficients()
    else:
        coefficients = DEFAULT
    result = estimate(device, workload, coefficients)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        click.echo(result.explain())


@capacity.command("report")
@click.option("--district", default=None, help="District name, code or DHIS2 UID.")
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "xlsx"]), default=None,
    help="Write the per-device report in this format to --out (default: from --out's suffix).",
)
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="File for the CSV/XLSX export.",
)
@with_appcontext
def report_command(district: str | None, fmt: str | None, out: Path | None) -> None:
    """Fleet capacity report: every device with a holder whose workload is recorded, its
    verdict by district, phones at risk and RAM sizes to procure. Prints a summary; with
    --out also writes one row per device. Exit status 2 for an unknown district."""
    from fleet.errors import NotFound

    from .report import export_report, fleet_report

    if fmt and out is None:
        raise click.UsageError("--format needs --out FILE")
    if out is not None and fmt is None:
        fmt = "xlsx" if out.suffix.lower() == ".xlsx" else "csv"
    try:
        report = fleet_report(district)
    except NotFound as exc:
        raise click.BadParameter(str(exc.message), param_hint="--district") from exc
    click.echo(summary_text(report))
    if out is not None:
        out.write_bytes(export_report(report, fmt))
        click.echo(f"wrote {out} ({len(report.rows)} devices, {fmt})")


def summary_text(report) -> str:
    """Plain-text summary of a FleetReport: totals, procurement, then each district and its
    devices (verdict, RAM, API level, holder, TEIs, recommended RAM). Unknown figures are
    printed ``unknown``."""
    c = report.counts
    lines = [
        f"Capacity report{' for ' + report.district_filter if report.district_filter else ''}: "
        f"{len(report.rows)} devices judged - ok {c['ok']}, marginal {c['marginal']}, "
        f"insufficient {c['insufficient']}, unknown {c['unknown']}; "
        f"at risk {report.at_risk}.",
    ]
    if report.without_workload:
        lines.append(f"Not judged: {report.without_workload} devices whose holder has no workload.")
    if report.procurement:
        lines.append("To procure (one phone per holder not at ok):")
        lines.extend(f"  {ram} MB RAM: {n}" for ram, n in report.procurement)
    else:
        lines.append("To procure: nothing.")
    if report.not_fixable_by_ram:
        tags = ", ".join(r.device.asset_tag for r in report.not_fixable_by_ram)
        lines.append(f"No RAM makes these ok (reduce org units assigned): {tags}")
    for g in report.groups:
        gc = g.counts
        lines.append(
            f"{g.name}: ok {gc['ok']}, marginal {gc['marginal']}, "
            f"insufficient {gc['insufficient']}, unknown {gc['unknown']}; at risk {g.at_risk}"
        )
        for r in g.rows:
            d = r.device
            ram = "unknown" if d.ram_mb is None else f"{d.ram_mb} MB"
            api = "unknown" if d.api_level is None else str(d.api_level)
            rec = r.judged.recommended_ram_mb
            lines.append(
                f"  {d.asset_tag:<12} {r.verdict:<12} RAM {ram:<9} API {api:<7} "
                f"{r.holder.name} ({r.holder.expected_teis:,} TEIs)"
                + (f" -> recommended {rec} MB" if rec and r.judged.at_risk else "")
            )
    lines.append(
        "Coefficients: "
        + ("calibrated, " if report.coefficients.calibrated else "UNCALIBRATED, ")
        + report.coefficients.source + "."
    )
    return "\n".join(lines)
