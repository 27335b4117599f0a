"""Every coefficient of the capacity model, in one place.

No published measurement ties the DHIS2 Capture app's RAM use to the number of TEIs stored
offline (``DESIGN.md``, "Domain facts"). So every memory and database-size coefficient below is
a fleet ASSUMPTION unless its comment names a source; the thresholds the verdict compares against
(DHIS2 device specs, Android Settings warnings) live in ``fleet/capacity/model.py`` with their
citations in ``fleet/capacity/sources.py``. The memory coefficients are meant to be replaced by
:func:`fleet.capacity.calibration.coefficients_from` once the fleet's own health reports give
enough ``dumpsys meminfo com.dhis2`` points.

Units: MB means 2**20 bytes (what ``dumpsys meminfo`` reports as kB / 1024); KB is 2**10 bytes.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields


@dataclass(frozen=True)
class Coefficients:
    """Coefficients of the linear memory and database-size model (see docs/capacity.md).

    Raises:
        ValueError: a coefficient is negative, not finite, or a fraction/factor out of range.
    """

    # ---- App working memory: the Capture app's TOTAL PSS (MB) --------------------------------
    # ASSUMPTION: PSS of the Capture app logged in, metadata synced, no TEIs, one program.
    # Replaced by the fitted intercept after calibration.
    baseline_app_mb: float = 180.0
    # ASSUMPTION: growth per 1,000 TEIs held offline (SQLite page cache, list paging, sync
    # batches, search indexes). Replaced by the fitted slope after calibration.
    mb_per_1000_teis: float = 30.0
    # ASSUMPTION: growth per 1,000 events held offline. Replaced after calibration.
    mb_per_1000_events: float = 4.0
    # ASSUMPTION: growth per 1,000 tracked entity attribute values (TEIs x attributes per TEI).
    mb_per_1000_attribute_values: float = 0.5
    # ASSUMPTION: in-memory org unit tree, per org unit assigned (capture + search).
    mb_per_org_unit: float = 0.15
    # ASSUMPTION: program metadata (stages, sections, data elements) per program.
    mb_per_program: float = 3.0
    # ASSUMPTION: rule engine state per program rule (compiled expressions, variables).
    mb_per_program_rule: float = 0.4
    # ASSUMPTION: options of the largest option set held for a picker/search, per 1,000.
    mb_per_1000_options: float = 5.0
    # ASSUMPTION: reserved values cached, per 1,000.
    mb_per_1000_reserved_values: float = 0.5
    # SOURCE + ASSUMPTION: DHIS2 says SQLCipher encryption (encryptDB) makes the app 5-15%
    # slower; fleet applies the upper bound, 15%, to memory too (a CPU figure carried over to
    # memory, to err on the safe side).
    encryption_memory_factor: float = 1.15

    # ---- RAM budget Android leaves to the foreground app -------------------------------------
    # ASSUMPTION: fraction of the device's nominal RAM the foreground Capture app can use
    # before the low-memory killer and the system's own use squeeze it, by RAM class
    # (upper bound of the class in MB, fraction). Small devices lose a larger share to the
    # kernel, system_server, launcher and Google services. Fractions rise with the class so
    # the budget never falls when RAM grows. Above the last class: ``budget_fraction_above``.
    budget_fraction_by_ram_class: tuple[tuple[int, float], ...] = (
        (1024, 0.35),
        (2048, 0.45),
        (3072, 0.50),
        (4096, 0.55),
    )
    budget_fraction_above: float = 0.60
    # ASSUMPTION: verdict `ok` needs the estimate to stay within this share of the budget
    # (a 20% margin for the estimate's own error and for spikes during sync); up to the whole
    # budget is `marginal`; above it `insufficient`.
    ok_fraction_of_budget: float = 0.80

    # ---- On-device database size (SQLite file) -----------------------------------------------
    # ASSUMPTION: empty schema plus user, org unit and general metadata (MB).
    db_base_mb: float = 20.0
    # ASSUMPTION: program metadata per program (MB).
    db_mb_per_program: float = 1.0
    # ASSUMPTION: TEI row + enrollment + ownership + indexes (KB per TEI).
    db_kb_per_tei: float = 2.0
    # ASSUMPTION: one tracked entity attribute value with its index entry (KB).
    db_kb_per_attribute_value: float = 0.25
    # ASSUMPTION: one event with ~20 data values and index entries (KB).
    db_kb_per_event: float = 2.5
    # ASSUMPTION: one org unit row with path and name (KB).
    db_kb_per_org_unit: float = 1.0
    # ASSUMPTION: one program rule with its actions and variables (KB).
    db_kb_per_program_rule: float = 1.0
    # ASSUMPTION: one option row (KB).
    db_kb_per_option: float = 0.3
    # ASSUMPTION: one reserved value row (KB).
    db_kb_per_reserved_value: float = 0.2
    # ASSUMPTION: auto-generated (reserved-value) attributes per program; reserved values are
    # downloaded per such attribute (DHIS2 Android Settings: reservedValues is per attribute).
    generated_attributes_per_program: float = 1.0
    # SOURCE: SQLCipher 4's default page layout reserves 80 bytes (16-byte IV + 64-byte
    # HMAC-SHA512) of each 4,096-byte page, about 2%; ASSUMPTION: the DHIS2 SDK keeps the
    # defaults.
    encryption_db_factor: float = 1.02

    # ---- Free storage --------------------------------------------------------------------------
    # ASSUMPTION: free space kept aside for an app update download, SQLite journals during sync
    # and the OS (MB).
    storage_reserve_mb: float = 1024.0
    # ASSUMPTION: `ok` needs the database and media to fit in this share of the free space left
    # after the reserve (room for the database to grow during the campaign).
    storage_ok_fraction: float = 0.5

    # ---- Provenance ----------------------------------------------------------------------------
    calibrated: bool = False
    source: str = "fleet defaults (uncalibrated assumptions)"

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("calibrated", "source", "budget_fraction_by_ram_class"):
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{f.name} must be a number, got {value!r}")
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{f.name} must be a finite number >= 0, got {value!r}")
        for name in ("encryption_memory_factor", "encryption_db_factor"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1 (encryption never saves space)")
        for name in ("ok_fraction_of_budget", "storage_ok_fraction", "budget_fraction_above"):
            if not 0 < getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in (0, 1]")
        previous_limit, previous_fraction = 0, 0.0
        for limit, fraction in self.budget_fraction_by_ram_class:
            if limit <= previous_limit or not previous_fraction <= fraction <= 1:
                raise ValueError(
                    "budget_fraction_by_ram_class must have rising RAM limits and "
                    "non-decreasing fractions in (0, 1]"
                )
            previous_limit, previous_fraction = limit, fraction
        if self.budget_fraction_above < previous_fraction:
            raise ValueError("budget_fraction_above must be >= the last class's fraction")

    def budget_fraction(self, ram_mb: float) -> float:
        """Fraction of ``ram_mb`` (nominal MB) left to the foreground app (an assumption)."""
        for limit, fraction in self.budget_fraction_by_ram_class:
            if ram_mb <= limit:
                return fraction
        return self.budget_fraction_above

    def to_dict(self) -> dict:
        """JSON-friendly copy: every coefficient by name; the class table as a list of pairs."""
        data = asdict(self)
        data["budget_fraction_by_ram_class"] = [list(p) for p in self.budget_fraction_by_ram_class]
        return data


DEFAULT = Coefficients()
