"""Capacity model: will this device's RAM and storage carry this holder's offline Tracker load?

``estimate(device, workload)`` returns an :class:`Estimate`: the on-device database size and the
Capture app's working memory (MB, each with the terms and assumptions behind it), a verdict
``ok | marginal | insufficient`` with every reason that drove it (each citing its source, see
``fleet/capacity/sources.py``), the minimum purchasable RAM that makes the workload ``ok`` and the
largest TEI count the device carries at ``ok``.

The model is monotone by construction: every memory and size term grows (never shrinks) with
TEIs, events, attributes, org units, programs, rules, options and reserved values; every check
compares with ``>`` against a fixed threshold; the RAM budget never falls as RAM grows. So more
workload never improves the verdict and more RAM never worsens it, which is what lets
:func:`max_teis_ok` binary-search and :func:`recommended_ram_mb` scan the purchasable sizes.

Verdict rules (thresholds cited in ``sources.py``; see docs/capacity.md):

* Android API < 23: insufficient (Capture app minSdk 23); < 26: marginal (Android 8+ advised).
* RAM below the DHIS2 minimum (phone 1,024 MB, tablet 1,536 MB): insufficient; below the
  recommended size (phone 2,048 MB, tablet 3,072 MB): marginal.
* Each DHIS2 Android Settings warning threshold the workload exceeds marks it a large offline
  Tracker load, for which the seed advises more than 2 GB: marginal at 2,048 MB or less, a note
  above.
* Org units assigned (capture + search) of 250 or more: marginal whatever the RAM ("below 250
  should be safe").
* Working memory above the foreground budget: insufficient; above ``ok_fraction_of_budget`` of
  it: marginal (budget and margin are assumptions, see ``coefficients.py``).
* Database + media above the free storage left after a reserve: insufficient; above
  ``storage_ok_fraction`` of it: marginal. Total storage below 8 GB: insufficient; below 32 GB:
  marginal. Unknown storage is not judged (a note says so).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

from . import sources
from .coefficients import DEFAULT, Coefficients
from .inputs import WORKLOAD_RANGES, CapacityInputError, DeviceSpec, Workload
from .quantities import database_size, media_size_mb, memory_budget_mb, working_memory
from .results import Breakdown, Estimate, RamRecommendation, Reason, Verdict

__all__ = [
    "Breakdown",
    "CapacityInputError",
    "DeviceSpec",
    "Estimate",
    "Judgement",
    "PURCHASABLE_RAM_MB",
    "RamRecommendation",
    "Reason",
    "Verdict",
    "Workload",
    "database_size",
    "estimate",
    "judge",
    "max_teis",
    "max_teis_ok",
    "media_size_mb",
    "memory_budget_mb",
    "memory_curve",
    "ram_recommendation",
    "recommended_ram_mb",
    "working_memory",
]

# RAM sizes one can buy a phone or tablet with (nominal MB), smallest first.
PURCHASABLE_RAM_MB = (1024, 1536, 2048, 3072, 4096, 6144, 8192, 12288)

# DHIS2 mobile-device-specs (sources.DEVICE_SPECS).
PHONE_RAM_MIN_MB, PHONE_RAM_RECOMMENDED_MB = 1024, 2048
TABLET_RAM_MIN_MB, TABLET_RAM_RECOMMENDED_MB = 1536, 3072
STORAGE_MIN_MB, STORAGE_RECOMMENDED_MB = 8 * 1024, 32 * 1024
API_RECOMMENDED = 26  # Android 8.0
# Capture app manifest (sources.CAPTURE_MIN_SDK).
API_MIN = 23
# Seed Implementation Planning: "more than 2 GB" for large offline Tracker (sources.LARGE_TRACKER).
LARGE_TRACKER_RAM_MB = 2048
# DHIS2 Android Settings app warnings (sources.ANDROID_SETTINGS): warn when value > limit.
SETTINGS_WARNINGS = (
    ("teis", "TEIs held offline", 2_000, "TEI download"),
    ("events", "events held offline", 3_000, "event download"),
    ("reserved_values", "reserved values per attribute", 500, "reserved values"),
    ("capture_org_units", "capture org units", 10, "capture org units"),
    ("search_org_units", "search org units", 5, "search org units"),
    ("programs", "programs", 20, "programs"),
    ("program_rules", "program rules", 50, "program rules"),
)
# DHIS2 Android Settings app: "below 250 should be safe" (sources.ORG_UNITS_SAFE).
ORG_UNITS_SAFE_BELOW = 250

# Reasons whose cause is the device itself (not its RAM, not the workload).
_DEVICE_CODES = frozenset(
    {
        "api_below_min_sdk",
        "api_below_recommended",
        "storage_free_short",
        "storage_free_tight",
        "storage_total_below_min",
        "storage_total_below_recommended",
    }
)


# ---- the verdict ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Judgement:
    """The verdict part of an estimate, without the RAM recommendation and TEI searches
    (about 40 times cheaper than :func:`estimate`; for fleet reports over many devices)."""

    verdict: Verdict
    reasons: tuple[Reason, ...]
    notes: tuple[Reason, ...]
    memory: Breakdown
    database: Breakdown
    media_mb: float
    storage_needed_mb: float
    budget_mb: float
    ok_limit_mb: float


def judge(device: DeviceSpec, workload: Workload, c: Coefficients = DEFAULT) -> Judgement:
    """Verdict, reasons, notes, memory and database breakdowns for ``device`` carrying
    ``workload`` (the rules are in the module docstring); :func:`estimate` adds the RAM
    recommendation and the largest TEI counts."""
    found: list[Reason] = []
    add = found.append
    ram, w = device.ram_mb, workload

    # Android version.
    if device.api_level < API_MIN:
        add(
            Reason(
                "api_below_min_sdk",
                "insufficient",
                f"Android API {device.api_level} is below the Capture app's minSdk {API_MIN}: "
                "the app cannot be installed.",
                (sources.CAPTURE_MIN_SDK,),
            )
        )
    elif device.api_level < API_RECOMMENDED:
        add(
            Reason(
                "api_below_recommended",
                "marginal",
                f"Android API {device.api_level} is below API {API_RECOMMENDED} (Android 8), "
                "the version DHIS2 recommends.",
                (sources.DEVICE_SPECS,),
            )
        )

    # RAM against the DHIS2 device specs.
    if device.form_factor == "tablet":
        ram_min, ram_rec = TABLET_RAM_MIN_MB, TABLET_RAM_RECOMMENDED_MB
    else:
        ram_min, ram_rec = PHONE_RAM_MIN_MB, PHONE_RAM_RECOMMENDED_MB
    if ram < ram_min:
        add(
            Reason(
                "ram_below_minimum",
                "insufficient",
                f"{ram} MB RAM is below the DHIS2 minimum of {ram_min} MB for a "
                f"{device.form_factor}.",
                (sources.DEVICE_SPECS,),
                True,
            )
        )
    elif ram < ram_rec:
        add(
            Reason(
                "ram_below_recommended",
                "marginal",
                f"{ram} MB RAM is below the {ram_rec} MB DHIS2 recommends for a "
                f"{device.form_factor}.",
                (sources.DEVICE_SPECS,),
                True,
            )
        )

    # DHIS2 Android Settings warnings: a large offline Tracker load wants more than 2 GB.
    for attr, label, limit, setting in SETTINGS_WARNINGS:
        value = getattr(w, attr)
        if value <= limit:
            continue
        if ram <= LARGE_TRACKER_RAM_MB:
            add(
                Reason(
                    f"large_tracker_{attr}",
                    "marginal",
                    f"{value:,.0f} {label} is above the {limit:,} at which DHIS2 warns "
                    f"({setting}): a large offline Tracker load, for which more than "
                    f"{LARGE_TRACKER_RAM_MB} MB RAM is advised; this device has {ram} MB.",
                    (sources.ANDROID_SETTINGS, sources.LARGE_TRACKER),
                    True,
                )
            )
        else:
            add(
                Reason(
                    f"settings_warning_{attr}",
                    "info",
                    f"{value:,.0f} {label} is above the {limit:,} at which DHIS2 warns "
                    f"({setting}); RAM above {LARGE_TRACKER_RAM_MB} MB covers the memory "
                    "side, DHIS2's warning about download and sync time still applies.",
                    (sources.ANDROID_SETTINGS, sources.LARGE_TRACKER),
                )
            )

    # Org units: "below 250 should be safe" - RAM does not change that.
    if w.org_units >= ORG_UNITS_SAFE_BELOW:
        add(
            Reason(
                "org_units_not_safe",
                "marginal",
                f"{w.org_units:,} org units assigned (capture {w.capture_org_units:,} + "
                f"search {w.search_org_units:,}) is not below the {ORG_UNITS_SAFE_BELOW} "
                "DHIS2 calls safe; reduce the assignment, more RAM does not help.",
                (sources.ORG_UNITS_SAFE,),
            )
        )

    # Working memory against the foreground budget.
    memory = working_memory(w, c)
    budget = memory_budget_mb(ram, c)
    ok_limit = budget * c.ok_fraction_of_budget
    source = sources.CALIBRATED if c.calibrated else sources.ASSUMPTION
    if memory.total_mb > budget:
        add(
            Reason(
                "memory_over_budget",
                "insufficient",
                f"estimated working memory {memory.total_mb:,.0f} MB exceeds the "
                f"{budget:,.0f} MB Android leaves to the foreground app on {ram} MB.",
                (source,),
                True,
            )
        )
    elif memory.total_mb > ok_limit:
        add(
            Reason(
                "memory_near_budget",
                "marginal",
                f"estimated working memory {memory.total_mb:,.0f} MB is above "
                f"{c.ok_fraction_of_budget:.0%} of the {budget:,.0f} MB Android leaves to "
                f"the foreground app on {ram} MB (ok up to {ok_limit:,.0f} MB).",
                (source,),
                True,
            )
        )
    if w.encrypt_db:
        add(
            Reason(
                "encryption_cost",
                "info",
                f"database encryption on: DHIS2 says 5-15% slower; the memory estimate "
                f"includes x{c.encryption_memory_factor:g}.",
                (sources.SQLCIPHER,),
            )
        )

    # Storage.
    database = database_size(w, c)
    media = media_size_mb(w)
    needed = database.total_mb + media
    if device.free_storage_mb is None:
        add(
            Reason(
                "storage_free_unknown",
                "info",
                f"free storage unknown: the {needed:,.0f} MB of database and media this "
                "workload needs was not checked.",
                (sources.STORAGE_ASSUMPTION,),
            )
        )
    else:
        room = device.free_storage_mb - c.storage_reserve_mb
        if needed > room:
            add(
                Reason(
                    "storage_free_short",
                    "insufficient",
                    f"database and media need {needed:,.0f} MB but only {max(room, 0):,.0f} "
                    f"MB is free after keeping {c.storage_reserve_mb:,.0f} MB for updates "
                    "and sync.",
                    (sources.STORAGE_ASSUMPTION,),
                )
            )
        elif needed > room * c.storage_ok_fraction:
            add(
                Reason(
                    "storage_free_tight",
                    "marginal",
                    f"database and media need {needed:,.0f} MB, more than "
                    f"{c.storage_ok_fraction:.0%} of the {room:,.0f} MB free after the "
                    "reserve: little room to grow.",
                    (sources.STORAGE_ASSUMPTION,),
                )
            )
    if device.total_storage_mb is not None:
        if device.total_storage_mb < STORAGE_MIN_MB:
            add(
                Reason(
                    "storage_total_below_min",
                    "insufficient",
                    f"{device.total_storage_mb:,.0f} MB storage is below the DHIS2 minimum of "
                    f"8 GB.",
                    (sources.DEVICE_SPECS,),
                )
            )
        elif device.total_storage_mb < STORAGE_RECOMMENDED_MB:
            add(
                Reason(
                    "storage_total_below_recommended",
                    "marginal",
                    f"{device.total_storage_mb:,.0f} MB storage is below the 32 GB DHIS2 "
                    "recommends.",
                    (sources.DEVICE_SPECS,),
                )
            )

    reasons = tuple(r for r in found if r.severity != "info")
    notes = tuple(r for r in found if r.severity == "info")
    verdict = max((Verdict(r.severity) for r in reasons), key=lambda v: v.rank, default=Verdict.OK)
    return Judgement(verdict, reasons, notes, memory, database, media, needed, budget, ok_limit)


# ---- public functions -------------------------------------------------------------------------


@lru_cache(maxsize=4096)  # inputs are frozen dataclasses; a fleet report repeats workloads
def ram_recommendation(
    workload: Workload, *, form_factor: str = "phone", coefficients: Coefficients = DEFAULT
) -> RamRecommendation:
    """Smallest size in ``PURCHASABLE_RAM_MB`` that clears every RAM-related reason for
    ``workload`` on a ``form_factor`` device (Android version and storage are judged apart).

    Returns a RamRecommendation; its ``yields_ok`` is False when a reason no RAM fixes remains
    (org units not below 250), its ``ram_mb`` None when even 12,288 MB is not enough.
    Raises CapacityInputError for a bad ``form_factor``."""
    remaining: tuple[Reason, ...] = ()
    for size in PURCHASABLE_RAM_MB:
        device = DeviceSpec(ram_mb=size, api_level=API_RECOMMENDED, form_factor=form_factor)
        reasons = [
            r for r in judge(device, workload, coefficients).reasons if r.code not in _DEVICE_CODES
        ]
        if any(r.fixable_by_ram for r in reasons):
            continue
        remaining = tuple(reasons)
        if remaining:
            why = "; ".join(r.message for r in remaining)
            return RamRecommendation(
                size,
                False,
                f"{size} MB clears every RAM-related reason, but no RAM makes this workload ok: "
                f"{why}",
                remaining,
            )
        return RamRecommendation(
            size, True, f"{size} MB is the smallest purchasable RAM at which this workload is ok."
        )
    last = PURCHASABLE_RAM_MB[-1]
    device = DeviceSpec(ram_mb=last, api_level=API_RECOMMENDED, form_factor=form_factor)
    remaining = tuple(
        r for r in judge(device, workload, coefficients).reasons if r.code not in _DEVICE_CODES
    )
    why = "; ".join(r.message for r in remaining)
    return RamRecommendation(
        None,
        False,
        f"no purchasable RAM (up to {last} MB) makes this workload ok: {why}",
        remaining,
    )


def recommended_ram_mb(
    workload: Workload, *, form_factor: str = "phone", coefficients: Coefficients = DEFAULT
) -> int | None:
    """Minimum purchasable RAM (MB, one of ``PURCHASABLE_RAM_MB``) at which ``workload`` is
    ``ok`` on a ``form_factor`` device with Android 8+ and enough storage; None when no
    purchasable size makes it ok (see :func:`ram_recommendation` for why)."""
    rec = ram_recommendation(workload, form_factor=form_factor, coefficients=coefficients)
    return rec.ram_mb if rec.yields_ok else None


def max_teis(
    device: DeviceSpec,
    workload: Workload,
    *,
    at: Verdict = Verdict.OK,
    coefficients: Coefficients = DEFAULT,
) -> int | None:
    """Largest TEI count (other workload fields unchanged) whose verdict on ``device`` is
    ``at`` or better; None when even 0 TEIs is worse. Binary search over the monotone model,
    capped at the accepted maximum of ``Workload.teis`` (500,000)."""
    at = Verdict(at)

    def good(teis: int) -> bool:
        assessed = judge(device, replace(workload, teis=teis), coefficients)
        return assessed.verdict.rank <= at.rank

    low, high = 0, int(WORKLOAD_RANGES["teis"][2])
    if not good(low):
        return None
    if good(high):
        return high
    while high - low > 1:  # invariant: good(low) and not good(high)
        mid = (low + high) // 2
        if good(mid):
            low = mid
        else:
            high = mid
    return low


def max_teis_ok(
    device: DeviceSpec, workload: Workload, *, coefficients: Coefficients = DEFAULT
) -> int | None:
    """Largest TEI count ``device`` carries at ``ok`` for ``workload`` (see :func:`max_teis`)."""
    return max_teis(device, workload, at=Verdict.OK, coefficients=coefficients)


def estimate(
    device: DeviceSpec, workload: Workload, coefficients: Coefficients = DEFAULT
) -> Estimate:
    """Judge whether ``device`` carries ``workload``; see the module docstring for the rules.

    Returns an :class:`Estimate`. Inputs are validated when the DeviceSpec and Workload are
    built (CapacityInputError); this function raises TypeError for anything else."""
    if not isinstance(device, DeviceSpec) or not isinstance(workload, Workload):
        raise TypeError("estimate() takes a DeviceSpec and a Workload")
    a = judge(device, workload, coefficients)
    return Estimate(
        device=device,
        workload=workload,
        verdict=a.verdict,
        reasons=a.reasons,
        notes=a.notes,
        database=a.database,
        media_mb=a.media_mb,
        storage_needed_mb=a.storage_needed_mb,
        memory=a.memory,
        memory_budget_mb=a.budget_mb,
        memory_ok_limit_mb=a.ok_limit_mb,
        recommendation=ram_recommendation(
            workload, form_factor=device.form_factor, coefficients=coefficients
        ),
        max_teis_ok=max_teis(device, workload, at=Verdict.OK, coefficients=coefficients),
        max_teis_marginal=max_teis(
            device, workload, at=Verdict.MARGINAL, coefficients=coefficients
        ),
        coefficients=coefficients,
    )


def memory_curve(
    device: DeviceSpec,
    workload: Workload,
    tei_points: list[int],
    coefficients: Coefficients = DEFAULT,
) -> list[tuple[int, float]]:
    """Estimated working memory (MB, 0.1 MB precision) at each TEI count in ``tei_points``,
    other workload fields unchanged: ``[(teis, mb), ...]`` for a chart on which the caller marks
    ``memory_budget_mb(device.ram_mb)`` and the ok limit. Raises CapacityInputError for a TEI
    count out of range."""
    if not isinstance(device, DeviceSpec):
        raise TypeError("memory_curve() takes a DeviceSpec")
    return [
        (teis, round(working_memory(replace(workload, teis=teis), coefficients).total_mb, 1))
        for teis in tei_points
    ]
