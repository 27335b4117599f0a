"""Inputs of the capacity model: the holder's offline workload and the device.

Every field has a unit and an accepted range (``WORKLOAD_RANGES``, ``DEVICE_RANGES``). Values
outside it are refused with :class:`CapacityInputError`; the ranges are sanity bounds, wide
enough for any real campaign (DESIGN.md: 1,000 to 10,000+ TEIs and hundreds of org units per
user) and narrow enough to catch a typo such as RAM given in GB or bytes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import MISSING, asdict, dataclass, fields
from typing import Any

FORM_FACTORS = ("phone", "tablet")


class CapacityInputError(ValueError):
    """An input field is missing, of the wrong type, or out of its accepted range.

    Attributes:
        field: the input field's name, e.g. ``"ram_mb"``.
        message: plain-English explanation, e.g. ``"must be between 256 and 65536 MB, got 2"``.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


# name: (kind, minimum, maximum, unit). kind "int" refuses fractions; "number" takes any finite.
WORKLOAD_RANGES: dict[str, tuple[str, float, float, str]] = {
    "teis": ("int", 0, 500_000, "TEIs"),
    "events_per_tei": ("number", 0, 1_000, "events per TEI"),
    "attributes_per_tei": ("int", 0, 500, "attributes per TEI"),
    "capture_org_units": ("int", 0, 100_000, "org units"),
    "search_org_units": ("int", 0, 100_000, "org units"),
    "programs": ("int", 0, 1_000, "programs"),
    "program_rules": ("int", 0, 20_000, "program rules"),
    "option_set_size": ("int", 0, 1_000_000, "options"),
    "reserved_values": ("int", 0, 10_000, "reserved values per attribute"),
    "media_files_per_tei": ("number", 0, 1_000, "files per TEI"),
    "media_avg_kb": ("number", 0, 512_000, "KB"),
}
DEVICE_RANGES: dict[str, tuple[str, float, float, str]] = {
    "ram_mb": ("int", 256, 65_536, "MB"),
    "api_level": ("int", 1, 40, "(Android API level)"),
    "free_storage_mb": ("number", 0, 4_194_304, "MB"),
    "total_storage_mb": ("number", 512, 4_194_304, "MB"),
}


def _check_number(name: str, value: Any, spec: tuple[str, float, float, str]) -> None:
    kind, low, high, unit = spec
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CapacityInputError(name, f"must be a number, got {value!r}")
    if not math.isfinite(value):
        raise CapacityInputError(name, f"must be a finite number, got {value!r}")
    if kind == "int" and value != int(value):
        raise CapacityInputError(name, f"must be a whole number, got {value!r}")
    if not low <= value <= high:
        raise CapacityInputError(
            name, f"must be between {low:,} and {high:,} {unit}, got {value:,}"
        )


def _from_mapping(cls, data: Mapping[str, Any]):
    known = [f.name for f in fields(cls)]
    for key in data:
        if key not in known:
            raise CapacityInputError(str(key), "is not a known field")
    for f in fields(cls):
        if f.default is MISSING and f.name not in data:
            raise CapacityInputError(f.name, "is required")
    return cls(**data)


@dataclass(frozen=True)
class Workload:
    """A holder's expected offline Tracker workload on one device.

    Fields and units (accepted ranges in ``WORKLOAD_RANGES``): ``teis`` TEIs held offline;
    ``events_per_tei`` average events per TEI; ``attributes_per_tei`` tracked entity attributes
    per TEI; ``capture_org_units`` / ``search_org_units`` org units assigned; ``programs``;
    ``program_rules`` (all programs); ``option_set_size`` options in the largest option set;
    ``reserved_values`` per auto-generated attribute (DHIS2 setting ``reservedValues``, default
    100); ``encrypt_db`` DHIS2 ``generalSettings.encryptDB``; ``media_files_per_tei`` and
    ``media_avg_kb`` (KB per file) for images and files stored with the TEIs.

    Raises:
        CapacityInputError: a field is of the wrong type or out of range.
    """

    teis: int
    events_per_tei: float = 3.0
    attributes_per_tei: int = 10
    capture_org_units: int = 1
    search_org_units: int = 1
    programs: int = 1
    program_rules: int = 0
    option_set_size: int = 0
    reserved_values: int = 100
    encrypt_db: bool = False
    media_files_per_tei: float = 0.0
    media_avg_kb: float = 0.0

    def __post_init__(self) -> None:
        for name, spec in WORKLOAD_RANGES.items():
            _check_number(name, getattr(self, name), spec)
        if not isinstance(self.encrypt_db, bool):
            raise CapacityInputError(
                "encrypt_db", f"must be true or false, got {self.encrypt_db!r}"
            )

    @property
    def events(self) -> float:
        """Events held offline: TEIs x average events per TEI."""
        return self.teis * self.events_per_tei

    @property
    def org_units(self) -> int:
        """Org units assigned, capture + search (overlap unknown, so counted twice)."""
        return self.capture_org_units + self.search_org_units

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Workload:
        """Build from a dict (API/CSV input); unknown or missing keys raise CapacityInputError."""
        return _from_mapping(cls, data)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict of the fields."""
        return asdict(self)


@dataclass(frozen=True)
class DeviceSpec:
    """The device judged: nominal RAM as marketed (``ram_mb``, 2048 for a "2 GB" phone, not the
    lower ``MemTotal`` of ``/proc/meminfo``), Android ``api_level``, ``free_storage_mb`` on
    /data (``None`` = unknown: not judged), ``form_factor`` ``"phone"`` or ``"tablet"``, and
    optionally nominal ``total_storage_mb`` (``None`` = unknown: not judged).

    Raises:
        CapacityInputError: a field is of the wrong type or out of range (``DEVICE_RANGES``).
    """

    ram_mb: int
    api_level: int
    free_storage_mb: float | None = None
    form_factor: str = "phone"
    total_storage_mb: float | None = None

    def __post_init__(self) -> None:
        for name, spec in DEVICE_RANGES.items():
            value = getattr(self, name)
            if value is None and name in ("free_storage_mb", "total_storage_mb"):
                continue
            _check_number(name, value, spec)
        if self.form_factor not in FORM_FACTORS:
            raise CapacityInputError(
                "form_factor", f"must be 'phone' or 'tablet', got {self.form_factor!r}"
            )

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> DeviceSpec:
        """Build from a dict (API/CSV input); unknown or missing keys raise CapacityInputError."""
        return _from_mapping(cls, data)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict of the fields."""
        return asdict(self)
