"""The two modelled quantities: Capture app working memory and on-device database size (MB).

Both are linear in the workload with the coefficients of ``coefficients.py`` (assumptions until
calibrated), so both grow, never shrink, as any workload field grows.
"""

from __future__ import annotations

from .coefficients import DEFAULT, Coefficients
from .inputs import Workload
from .results import Breakdown


def working_memory(workload: Workload, coefficients: Coefficients = DEFAULT) -> Breakdown:
    """Estimated Capture app working memory (TOTAL PSS, MB) for ``workload``.

    Linear in each workload term (coefficients in ``coefficients.py``, all assumptions until
    calibrated), times ``encryption_memory_factor`` when ``encrypt_db`` is on."""
    c, w = coefficients, workload
    terms = {
        "baseline_app": c.baseline_app_mb,
        "teis": w.teis / 1000 * c.mb_per_1000_teis,
        "events": w.events / 1000 * c.mb_per_1000_events,
        "attribute_values": w.teis * w.attributes_per_tei / 1000 * c.mb_per_1000_attribute_values,
        "org_units": w.org_units * c.mb_per_org_unit,
        "programs": w.programs * c.mb_per_program,
        "program_rules": w.program_rules * c.mb_per_program_rule,
        "largest_option_set": w.option_set_size / 1000 * c.mb_per_1000_options,
        "reserved_values": reserved_value_count(w, c) / 1000 * c.mb_per_1000_reserved_values,
    }
    factor = c.encryption_memory_factor if w.encrypt_db else 1.0
    assumptions = [
        f"baseline Capture app PSS {c.baseline_app_mb:g} MB",
        f"{c.mb_per_1000_teis:g} MB per 1,000 TEIs, {c.mb_per_1000_events:g} MB per 1,000 events",
        f"{c.mb_per_org_unit:g} MB per org unit, {c.mb_per_program_rule:g} MB per program rule, "
        f"{c.mb_per_1000_options:g} MB per 1,000 options of the largest option set",
    ]
    if w.encrypt_db:
        assumptions.append(
            f"encryption: x{factor:g} (DHIS2's 5-15% SQLCipher cost, upper bound, "
            "applied to memory)"
        )
    assumptions.append(
        "calibrated from this fleet's dumpsys meminfo"
        if c.calibrated
        else "uncalibrated: no published measurement ties RAM to a TEI count"
    )
    return Breakdown(sum(terms.values()) * factor, terms, factor, tuple(assumptions))


def database_size(workload: Workload, coefficients: Coefficients = DEFAULT) -> Breakdown:
    """Estimated on-device SQLite database size (MB) for ``workload``, media files excluded.

    Linear in each workload term (all assumptions), times ``encryption_db_factor`` (SQLCipher
    page reserve) when ``encrypt_db`` is on."""
    c, w = coefficients, workload
    kb = 1 / 1024
    terms = {
        "base_metadata": c.db_base_mb,
        "programs": w.programs * c.db_mb_per_program,
        "teis": w.teis * c.db_kb_per_tei * kb,
        "attribute_values": w.teis * w.attributes_per_tei * c.db_kb_per_attribute_value * kb,
        "events": w.events * c.db_kb_per_event * kb,
        "org_units": w.org_units * c.db_kb_per_org_unit * kb,
        "program_rules": w.program_rules * c.db_kb_per_program_rule * kb,
        "largest_option_set": w.option_set_size * c.db_kb_per_option * kb,
        "reserved_values": reserved_value_count(w, c) * c.db_kb_per_reserved_value * kb,
    }
    factor = c.encryption_db_factor if w.encrypt_db else 1.0
    assumptions = [
        f"{c.db_kb_per_tei:g} KB per TEI, {c.db_kb_per_attribute_value:g} KB per attribute value,"
        f" {c.db_kb_per_event:g} KB per event (about 20 data values)",
        f"{c.db_base_mb:g} MB base metadata, {c.db_mb_per_program:g} MB per program",
        f"{c.generated_attributes_per_program:g} auto-generated attribute(s) per program "
        "for reserved values",
    ]
    if w.encrypt_db:
        assumptions.append(f"encryption: x{factor:g} (SQLCipher 4 page reserve, 80 of 4,096 bytes)")
    return Breakdown(sum(terms.values()) * factor, terms, factor, tuple(assumptions))


def media_size_mb(workload: Workload) -> float:
    """Media files stored with the TEIs (MB): TEIs x files per TEI x average KB / 1024."""
    return workload.teis * workload.media_files_per_tei * workload.media_avg_kb / 1024


def memory_budget_mb(ram_mb: float, coefficients: Coefficients = DEFAULT) -> float:
    """RAM (MB) Android leaves to the foreground Capture app on a ``ram_mb`` device
    (an assumption: ``budget_fraction_by_ram_class`` in coefficients.py)."""
    return ram_mb * coefficients.budget_fraction(ram_mb)


def reserved_value_count(w: Workload, c: Coefficients = DEFAULT) -> float:
    """Reserved values held: per attribute x programs x generated attributes per program."""
    return w.reserved_values * w.programs * c.generated_attributes_per_program
