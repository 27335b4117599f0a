"""Publish a settings profile into DHIS2's ``ANDROID_SETTINGS_APP`` dataStore namespace.

These settings are server-wide: every phone syncing with the DHIS2 server gets them.

Keys and fields, as the DHIS2 Android SDK reads them (dhis2/dhis2-android-sdk
``core/src/main/java/org/hisp/dhis/android/network/settings/``):

- ``info`` = ``{"dataStoreVersion": "2.0", ...}`` (``SettingsAppInfoDTO.kt``; the SDK reads it
  first to pick the settings layout; the Android Settings web app writes ``"2.0"``,
  dhis2/android-settings-app ``src/constants/info.js``)
- ``generalSettings``: ``encryptDB`` (Boolean, *required*: not nullable in
  ``GeneralSettingsDTO.kt``), ``allowScreenCapture`` (Boolean), ``reservedValues`` (Int)
- ``synchronization``: ``dataSync``, ``metadataSync`` (period strings), ``programSettings``
  ``{"globalSettings": {"teiDownload": Int, ...}, "specificSettings": {...}}``
  (``SynchronizationSettingsDTO.kt``, ``ProgramSettingsDTO.kt``: ``globalSettings`` is
  required once ``programSettings`` exists, ``ProgramSettingDTO.kt``)

Period strings: ``SettingsEnumMaps.kt`` maps ``dataSync`` ``30m|1h|6h|12h|24h|manual``;
anything it does not know becomes 24h. fleet accepts ``metadataSync`` in
``1h|6h|12h|24h|7d|manual`` (DESIGN.md, the periods of ``MetadataSyncPeriod.kt``); note that
the SDK version read for this module maps only ``1h|12h|24h|manual`` and spells 7 days ``"7h"``,
so on that SDK ``6h`` and ``7d`` are read as 24h (see docs/dhis2.md).
Defaults where fleet must create a key: ``encryptDB`` false, like the web app's
``androidSettingsDefault`` (android-settings-app ``src/constants/android-settings.js``).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, fields

from fleet.dhis2.client import Dhis2Client

log = logging.getLogger(__name__)

NAMESPACE = "ANDROID_SETTINGS_APP"
KEY_INFO = "info"
KEY_GENERAL = "generalSettings"
KEY_SYNC = "synchronization"
DATASTORE_VERSION = "2.0"

DATA_SYNC_PERIODS = ("30m", "1h", "6h", "12h", "24h", "manual")
METADATA_SYNC_PERIODS = ("1h", "6h", "12h", "24h", "7d", "manual")
#: The Android Settings web app caps reserved values per attribute at 500
#: (android-settings-app ``maxValues.reservedValues``); DHIS2 warns above 500 too.
MAX_RESERVED_VALUES = 500
#: Upper bound on teiDownload fleet accepts; DHIS2 warns above 2,000 TEIs (DESIGN.md), this
#: only refuses absurd numbers.
MAX_TEI_DOWNLOAD = 100_000


class SettingsValidationError(ValueError):
    """A profile value is invalid; ``errors`` maps field name to a message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


class SettingsLayoutError(ValueError):
    """What DHIS2 holds in ``ANDROID_SETTINGS_APP`` is not the layout fleet writes."""


class SettingsVerificationError(RuntimeError):
    """The values read back after writing differ from what was written; ``differences``
    lists ``(key, path, expected, found)``."""

    def __init__(self, differences: list[tuple[str, str, object, object]]):
        shown = "; ".join(f"{k}.{p}: expected {e!r}, found {f!r}" for k, p, e, f in differences[:5])
        super().__init__(f"DHIS2 does not hold the settings fleet wrote: {shown}")
        self.differences = differences


@dataclass(frozen=True)
class SettingsProfile:
    """The Android settings fleet manages. ``None`` means "leave DHIS2's value alone".

    Attributes: ``encrypt_db`` (SQLCipher database encryption, 5-15% slower, DESIGN.md),
    ``allow_screen_capture``, ``reserved_values`` (per TEI attribute, 0-500),
    ``data_sync`` (one of :data:`DATA_SYNC_PERIODS`), ``metadata_sync`` (one of
    :data:`METADATA_SYNC_PERIODS`), ``tei_download`` (max TEIs downloaded, global program
    setting; SDK default 500).
    """

    encrypt_db: bool | None = None
    allow_screen_capture: bool | None = None
    reserved_values: int | None = None
    data_sync: str | None = None
    metadata_sync: str | None = None
    tei_download: int | None = None


# profile attribute -> (dataStore key, path inside the value)
FIELD_PATHS: dict[str, tuple[str, tuple[str, ...]]] = {
    "encrypt_db": (KEY_GENERAL, ("encryptDB",)),
    "allow_screen_capture": (KEY_GENERAL, ("allowScreenCapture",)),
    "reserved_values": (KEY_GENERAL, ("reservedValues",)),
    "data_sync": (KEY_SYNC, ("dataSync",)),
    "metadata_sync": (KEY_SYNC, ("metadataSync",)),
    "tei_download": (KEY_SYNC, ("programSettings", "globalSettings", "teiDownload")),
}


@dataclass(frozen=True)
class SettingChange:
    """One value that publishing changes: ``key`` (dataStore key), ``path`` (dotted),
    ``old`` (``None`` when absent) and ``new``."""

    key: str
    path: str
    old: object
    new: object


@dataclass
class SettingsPlan:
    """The values to write per key (only keys that change) and the list of changes."""

    values: dict[str, dict] = field(default_factory=dict)
    changes: list[SettingChange] = field(default_factory=list)
    written: bool = False

    @property
    def has_changes(self) -> bool:
        return bool(self.changes)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def validate_profile(profile: SettingsProfile | Mapping) -> SettingsProfile:
    """Check a profile and return it as :class:`SettingsProfile`.

    Accepts a :class:`SettingsProfile` or a mapping with its field names.

    Raises:
        SettingsValidationError: with every invalid field (unknown fields, wrong types,
            periods outside the SDK's strings, numbers out of range).
    """
    errors: dict[str, str] = {}
    if isinstance(profile, Mapping):
        known = {f.name for f in fields(SettingsProfile)}
        for name in profile:
            if name not in known:
                errors[str(name)] = "unknown setting"
        profile = SettingsProfile(**{k: v for k, v in profile.items() if k in known})
    for name in ("encrypt_db", "allow_screen_capture"):
        value = getattr(profile, name)
        if value is not None and not isinstance(value, bool):
            errors[name] = "must be true or false"
    if profile.reserved_values is not None and not (
        _is_int(profile.reserved_values) and 0 <= profile.reserved_values <= MAX_RESERVED_VALUES
    ):
        errors["reserved_values"] = f"must be a whole number from 0 to {MAX_RESERVED_VALUES}"
    if profile.tei_download is not None and not (
        _is_int(profile.tei_download) and 0 <= profile.tei_download <= MAX_TEI_DOWNLOAD
    ):
        errors["tei_download"] = f"must be a whole number from 0 to {MAX_TEI_DOWNLOAD}"
    if profile.data_sync is not None and profile.data_sync not in DATA_SYNC_PERIODS:
        errors["data_sync"] = f"{profile.data_sync!r} is not one of {', '.join(DATA_SYNC_PERIODS)}"
    if profile.metadata_sync is not None and profile.metadata_sync not in METADATA_SYNC_PERIODS:
        errors["metadata_sync"] = (
            f"{profile.metadata_sync!r} is not one of {', '.join(METADATA_SYNC_PERIODS)}"
        )
    if errors:
        raise SettingsValidationError(errors)
    return profile


def _get_path(value: Mapping, path: tuple[str, ...]) -> object:
    node: object = value
    for part in path:
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _set_path(value: dict, path: tuple[str, ...], new: object, key: str) -> None:
    node = value
    for part in path[:-1]:
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        elif not isinstance(child, dict):
            raise SettingsLayoutError(
                f"{NAMESPACE}/{key}: '{part}' is {type(child).__name__}, expected an object"
            )
        node = child
    node[path[-1]] = new


def plan_settings(
    current: Mapping[str, object | None], profile: SettingsProfile | Mapping
) -> SettingsPlan:
    """Merge a profile into the current ``info``, ``generalSettings`` and
    ``synchronization`` values; nothing is written.

    Args:
        current: ``{"info": value or None, "generalSettings": ..., "synchronization": ...}``
            as read from DHIS2 (``None`` when the key is absent).
        profile: see :func:`validate_profile`.

    Returns:
        :class:`SettingsPlan`: only the keys whose value changes, with every unrelated field
        kept as it was; ``changes`` in a stable order. When ``generalSettings`` is created,
        ``encryptDB`` is set (false unless the profile says) because the SDK requires it; when
        ``info`` is absent it is created with ``dataStoreVersion`` ``"2.0"``.

    Raises:
        SettingsValidationError: invalid profile.
        SettingsLayoutError: DHIS2 holds another layout (``dataStoreVersion`` not 2.0, or a
            key that is not a JSON object).
    """
    profile = validate_profile(profile)
    plan = SettingsPlan()
    info = current.get(KEY_INFO)
    if info is None:
        plan.values[KEY_INFO] = {"dataStoreVersion": DATASTORE_VERSION}
        plan.changes.append(SettingChange(KEY_INFO, "dataStoreVersion", None, DATASTORE_VERSION))
    elif not isinstance(info, Mapping) or info.get("dataStoreVersion") != DATASTORE_VERSION:
        found = info.get("dataStoreVersion") if isinstance(info, Mapping) else info
        raise SettingsLayoutError(
            f"{NAMESPACE}/info has dataStoreVersion {found!r}; fleet writes the "
            f"{DATASTORE_VERSION} layout. Open the Android Settings app once to migrate."
        )

    new_values: dict[str, dict] = {}
    for key in (KEY_GENERAL, KEY_SYNC):
        existing = current.get(key)
        if existing is not None and not isinstance(existing, Mapping):
            raise SettingsLayoutError(f"{NAMESPACE}/{key} is not a JSON object")
        new_values[key] = copy.deepcopy(dict(existing)) if existing is not None else {}

    for attr, (key, path) in FIELD_PATHS.items():
        wanted = getattr(profile, attr)
        if wanted is None:
            continue
        old = _get_path(new_values[key], path)
        if old != wanted or type(old) is not type(wanted):
            _set_path(new_values[key], path, wanted, key)
            plan.changes.append(SettingChange(key, ".".join(path), old, wanted))

    general = new_values[KEY_GENERAL]
    if "encryptDB" not in general:
        general["encryptDB"] = False
        plan.changes.append(SettingChange(KEY_GENERAL, "encryptDB", None, False))

    for key in (KEY_GENERAL, KEY_SYNC):
        if any(c.key == key for c in plan.changes):
            plan.values[key] = new_values[key]
    return plan


def publish_settings(
    client: Dhis2Client, profile: SettingsProfile | Mapping, *, dry_run: bool = False
) -> SettingsPlan:
    """Read ``ANDROID_SETTINGS_APP``, merge the profile, write the changed keys, read them
    back and verify.

    Returns:
        the :class:`SettingsPlan` (``changes`` is what the page shows; ``written`` tells
        whether DHIS2 was changed). A dry run or a profile that changes nothing writes nothing.

    Raises:
        SettingsValidationError, SettingsLayoutError: see :func:`plan_settings` (nothing is
            written).
        SettingsVerificationError: a read-back value differs from the written one.
        fleet.dhis2.client.Dhis2Error: DHIS2 refused or failed a request (the namespace needs
            the ``F_METADATA_MANAGE`` authority, DHIS2 docs data-store.md).
    """
    profile = validate_profile(profile)
    current = {
        key: client.datastore_get(NAMESPACE, key) for key in (KEY_INFO, KEY_GENERAL, KEY_SYNC)
    }
    plan = plan_settings(current, profile)
    if dry_run or not plan.has_changes:
        return plan
    written: list[str] = []
    try:
        for key in (KEY_GENERAL, KEY_SYNC, KEY_INFO):  # info last: the SDK reads it first
            if key in plan.values:
                if current[key] is None:
                    client.datastore_put(NAMESPACE, key, plan.values[key])
                else:
                    client.datastore_update(NAMESPACE, key, plan.values[key])
                written.append(key)
    except Exception:
        client.datastore_restore(NAMESPACE, {key: current[key] for key in written})
        raise
    plan.written = True
    verify_settings(client, plan)
    log.info("ANDROID_SETTINGS_APP updated: %d value(s) changed", len(plan.changes))
    return plan


def verify_settings(client: Dhis2Client, plan: SettingsPlan) -> None:
    """Read every key of ``plan.values`` back from DHIS2 and compare it with what was
    written, and check each changed value is in place.

    Raises:
        SettingsVerificationError: listing the differing paths.
    """
    differences: list[tuple[str, str, object, object]] = []
    found_values = {key: client.datastore_get(NAMESPACE, key) for key in plan.values}
    for key, expected in plan.values.items():
        found = found_values[key]
        if found != expected:
            differences.extend(_differences(key, expected, found))
    for change in plan.changes:
        found_value = found_values.get(change.key)
        got = (
            _get_path(found_value, tuple(change.path.split(".")))
            if isinstance(found_value, Mapping)
            else None
        )
        if got != change.new and not any(
            d[0] == change.key and d[1] == change.path for d in differences
        ):
            differences.append((change.key, change.path, change.new, got))
    if differences:
        raise SettingsVerificationError(differences)


def _differences(
    key: str, expected: object, found: object, prefix: str = ""
) -> list[tuple[str, str, object, object]]:
    if isinstance(expected, Mapping) and isinstance(found, Mapping):
        out = []
        for name in sorted(set(expected) | set(found)):
            path = f"{prefix}.{name}" if prefix else str(name)
            out.extend(_differences(key, expected.get(name), found.get(name), path))
        return out
    if expected != found or type(expected) is not type(found):
        return [(key, prefix or "(value)", expected, found)]
    return []
