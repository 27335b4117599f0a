"""Publish fleet's released Capture app versions into DHIS2's ``APK_DISTRIBUTION`` dataStore.

The shape is the one the DHIS2 Android SDK (used by the Capture app) reads on each metadata
sync, and the one DHIS2's "APK Distribution" web app writes:

- namespace ``APK_DISTRIBUTION``, keys ``latestVersion`` and ``versions``
  (dhis2/apk-distribution-app ``src/shared/dataStore.js``; the SDK's test server serves
  ``/api/dataStore/APK_DISTRIBUTION/versions`` and ``.../latestVersion``,
  dhis2/dhis2-android-sdk ``Dhis2MockServer.kt``, package
  ``org.hisp.dhis.android.core.mockwebserver``)
- ``latestVersion`` = ``{"version": str, "downloadURL": str}``
  (dhis2-android-sdk ``core/src/main/java/org/hisp/dhis/android/network/settings/
  apkdistribution/LatestAppVersionDTO.kt``)
- ``versions`` = ``{"versions": [{"version", "downloadURL", "isDefault", "userGroups"}]}``
  read by ``ApkDistributionVersionDTO.kt`` (same folder; ``@SerialName("versions")`` list)
  plus ``androidOSVersion: {"min", "recommended"}`` written by the web app
  (apk-distribution-app ``src/pages/UploadApk/helper.js`` ``prepareAPK``: an entry without
  user groups is the default; Android versions are strings like ``"7.0"``, see
  ``src/shared/android.js``).

fleet writes all five keys on every entry it creates. Entries fleet did not create (their
``downloadURL`` does not start with fleet's download prefix) are kept exactly as they are.
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from fleet.dhis2.client import Dhis2Client
from fleet.dhis2.orgunits import UID_RE

log = logging.getLogger(__name__)

NAMESPACE = "APK_DISTRIBUTION"
KEY_LATEST = "latestVersion"
KEY_VERSIONS = "versions"

#: Android platform version for each API level (Android developers, "Android API levels" /
#: ``Build.VERSION_CODES``), written like the APK Distribution app writes them ("7.0").
API_LEVEL_TO_ANDROID = {
    21: "5.0",
    22: "5.1",
    23: "6.0",
    24: "7.0",
    25: "7.1",
    26: "8.0",
    27: "8.1",
    28: "9.0",
    29: "10.0",
    30: "11.0",
    31: "12.0",
    32: "12.1",
    33: "13.0",
    34: "14.0",
    35: "15.0",
    36: "16.0",
}
#: Recommended Android version: 8.0 (DHIS2 mobile-device-specs "Android 8+ recommended";
#: apk-distribution-app ``androidOSVersionRecommended = '8.0'``).
RECOMMENDED_ANDROID = "8.0"

# The Capture app compares versions part by part as integers (DESIGN.md): plain dotted numbers.
VERSION_RE = re.compile(r"^\d+(\.\d+)*$")


class ApkDistributionError(ValueError):
    """The entries, or what DHIS2 holds, cannot be published as asked."""


class ApkDistributionConflict(ApkDistributionError):
    """Another default entry (not created by fleet) exists, or DHIS2's content changed while
    publishing."""


@dataclass(frozen=True)
class ApkChannelEntry:
    """One channel's released Capture app, in plain terms.

    Attributes:
        version: versionName, plain dotted numbers (``"2.9.1"``).
        download_url: fleet's HTTPS download URL (with the channel token).
        min_sdk: the APK's minSdk (API level), mapped to ``androidOSVersion.min``.
        user_groups: DHIS2 user-group UIDs of the channel (empty for the default channel).
        is_default: True for the default channel (the version users outside every group get).
        recommended_android: override for ``androidOSVersion.recommended`` (default: the
            higher of ``min`` and :data:`RECOMMENDED_ANDROID`).
    """

    version: str
    download_url: str
    min_sdk: int
    user_groups: tuple[str, ...] = ()
    is_default: bool = False
    recommended_android: str | None = None


@dataclass
class ApkDistributionDiff:
    """What publishing changes in ``APK_DISTRIBUTION``. Entries are the dataStore dicts.

    ``added``/``removed``/``unchanged``: fleet entries (by ``downloadURL``);
    ``changed``: ``(before, after)`` pairs of fleet entries with the same ``downloadURL``;
    ``kept``: foreign entries left as they are; ``demoted``: foreign entries whose
    ``isDefault`` fleet set to false (only with ``take_default=True``);
    ``latest_before``/``latest_after``: the ``latestVersion`` value.
    """

    added: list[dict] = field(default_factory=list)
    changed: list[tuple[dict, dict]] = field(default_factory=list)
    removed: list[dict] = field(default_factory=list)
    unchanged: list[dict] = field(default_factory=list)
    kept: list[dict] = field(default_factory=list)
    demoted: list[dict] = field(default_factory=list)
    latest_before: dict | None = None
    latest_after: dict | None = None

    @property
    def latest_changed(self) -> bool:
        return self.latest_before != self.latest_after

    @property
    def has_changes(self) -> bool:
        """True when something would be written."""
        return bool(
            self.added or self.changed or self.removed or self.demoted or self.latest_changed
        )


@dataclass
class ApkDistributionPlan:
    """The values to write (``versions_doc``, ``latest_doc``) and the diff that leads there.
    ``written`` is set by :func:`publish`."""

    versions_doc: dict
    latest_doc: dict | None
    diff: ApkDistributionDiff
    written: bool = False


def android_version_for_api(api_level: int) -> str:
    """Android version string for an API level: ``android_version_for_api(23) == "6.0"``.

    Raises:
        ApkDistributionError: for an unknown API level.
    """
    try:
        return API_LEVEL_TO_ANDROID[int(api_level)]
    except (KeyError, TypeError, ValueError):
        raise ApkDistributionError(f"Unknown Android API level {api_level!r}") from None


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split("."))


def is_fleet_entry(entry: Mapping, fleet_url_prefix: str) -> bool:
    """True if a dataStore entry was created by fleet (its ``downloadURL`` starts with fleet's
    download prefix)."""
    url = entry.get("downloadURL")
    return isinstance(url, str) and url.startswith(fleet_url_prefix)


def build_version_entry(entry: ApkChannelEntry, fleet_url_prefix: str) -> dict:
    """The ``versions`` list item for one channel, in exactly the Capture app's shape::

        {"version": "2.9.1", "downloadURL": "https://...", "androidOSVersion":
         {"min": "6.0", "recommended": "8.0"}, "userGroups": ["uid"], "isDefault": false}

    Raises:
        ApkDistributionError: bad version, URL not under ``fleet_url_prefix`` or not HTTPS,
            invalid user-group UID, or a non-default entry without user groups.
    """
    if not isinstance(entry.version, str) or not VERSION_RE.match(entry.version):
        raise ApkDistributionError(
            f"Version {entry.version!r} is not plain dotted numbers; the Capture app could "
            "not compare it"
        )
    if urlsplit(entry.download_url).scheme != "https":
        raise ApkDistributionError(f"Download URL must be HTTPS: {entry.download_url!r}")
    if not entry.download_url.startswith(fleet_url_prefix):
        raise ApkDistributionError(
            f"Download URL {entry.download_url!r} is not under fleet's prefix {fleet_url_prefix!r}"
        )
    groups = list(dict.fromkeys(entry.user_groups))
    bad = [g for g in groups if not isinstance(g, str) or not UID_RE.match(g)]
    if bad:
        raise ApkDistributionError(f"Invalid DHIS2 user-group UID(s): {', '.join(map(str, bad))}")
    if not entry.is_default and not groups:
        raise ApkDistributionError(
            f"Version {entry.version}: a channel that is not the default needs at least one "
            "DHIS2 user group, or no phone would be offered it"
        )
    minimum = android_version_for_api(entry.min_sdk)
    recommended = entry.recommended_android or max(minimum, RECOMMENDED_ANDROID, key=_version_tuple)
    if not VERSION_RE.match(recommended) or _version_tuple(recommended) < _version_tuple(minimum):
        raise ApkDistributionError(
            f"Recommended Android {recommended!r} must be a version at least {minimum}"
        )
    return {
        "version": entry.version,
        "downloadURL": entry.download_url,
        "androidOSVersion": {"min": minimum, "recommended": recommended},
        "userGroups": groups,
        "isDefault": bool(entry.is_default),
    }


def plan_apk_distribution(
    current_versions: Mapping | None,
    current_latest: Mapping | None,
    entries: Iterable[ApkChannelEntry],
    *,
    fleet_url_prefix: str,
    take_default: bool = False,
) -> ApkDistributionPlan:
    """Merge fleet's channel entries into what DHIS2 holds; nothing is written.

    Args:
        current_versions: the ``versions`` value now in DHIS2 (``None`` if absent).
        current_latest: the ``latestVersion`` value now in DHIS2 (``None`` if absent).
        entries: fleet's channels to publish (the complete set: fleet entries not in it are
            removed).
        fleet_url_prefix: ``https://fleet.example.org/apk/``; marks the entries fleet owns.
        take_default: allow fleet's default entry to replace a foreign default (the foreign
            entry stays, with ``isDefault`` false).

    Returns:
        :class:`ApkDistributionPlan`. The new ``versions`` list holds fleet's entries first
        (highest version first), then the foreign entries in their original order.
        ``latestVersion`` follows fleet's default entry; without one it is left alone unless
        it pointed at fleet, in which case it follows the foreign default (if any).

    Raises:
        ApkDistributionError: invalid entries, duplicate download URLs, more than one default,
            or a ``versions`` value that is not ``{"versions": [...]}``.
        ApkDistributionConflict: a foreign default exists and ``take_default`` is false.
    """
    if urlsplit(fleet_url_prefix).scheme != "https" or not fleet_url_prefix.endswith("/"):
        raise ApkDistributionError("fleet_url_prefix must be an https:// URL ending with '/'")
    new_fleet = [build_version_entry(e, fleet_url_prefix) for e in entries]
    urls = [e["downloadURL"] for e in new_fleet]
    dupes = sorted({u for u in urls if urls.count(u) > 1})
    if dupes:
        raise ApkDistributionError(f"Two channels publish the same download URL: {dupes[0]}")
    defaults = [e for e in new_fleet if e["isDefault"]]
    if len(defaults) > 1:
        raise ApkDistributionError(
            "Only one channel can be the default: " + ", ".join(e["version"] for e in defaults)
        )

    if current_versions is None:
        current_list: list = []
    elif isinstance(current_versions, Mapping) and isinstance(
        current_versions.get("versions", []), list
    ):
        current_list = list(current_versions.get("versions", []))
    else:
        raise ApkDistributionError(
            'APK_DISTRIBUTION/versions in DHIS2 is not {"versions": [...]}; fix it with the '
            "APK Distribution app before publishing"
        )

    diff = ApkDistributionDiff(
        latest_before=copy.deepcopy(dict(current_latest)) if current_latest is not None else None
    )
    old_fleet = {
        e["downloadURL"]: e
        for e in current_list
        if isinstance(e, Mapping) and is_fleet_entry(e, fleet_url_prefix)
    }
    foreign = [
        copy.deepcopy(e)
        for e in current_list
        if not (isinstance(e, Mapping) and is_fleet_entry(e, fleet_url_prefix))
    ]

    foreign_defaults = [e for e in foreign if isinstance(e, Mapping) and e.get("isDefault")]
    if defaults and foreign_defaults:
        if not take_default:
            other = foreign_defaults[0]
            raise ApkDistributionConflict(
                f"DHIS2 already has a default version not published by fleet "
                f"({other.get('version')} at {other.get('downloadURL')}); allow fleet to take "
                "over the default to publish channel "
                f"{defaults[0]['version']} as default"
            )
        for e in foreign_defaults:
            e["isDefault"] = False
            diff.demoted.append(e)

    for new in new_fleet:
        old = old_fleet.get(new["downloadURL"])
        if old is None:
            diff.added.append(new)
        elif dict(old) != new:
            diff.changed.append((copy.deepcopy(dict(old)), new))
        else:
            diff.unchanged.append(new)
    new_urls = set(urls)
    diff.removed = [copy.deepcopy(dict(e)) for u, e in old_fleet.items() if u not in new_urls]
    diff.kept = [e for e in foreign if not any(e is d for d in diff.demoted)]

    ordered = sorted(new_fleet, key=lambda e: _version_tuple(e["version"]), reverse=True)
    versions_doc = dict(current_versions) if isinstance(current_versions, Mapping) else {}
    versions_doc["versions"] = ordered + foreign

    latest = diff.latest_before
    if defaults:
        latest = {"version": defaults[0]["version"], "downloadURL": defaults[0]["downloadURL"]}
    elif latest is not None and is_fleet_entry(latest, fleet_url_prefix):
        # fleet no longer has a default: hand latestVersion back to the foreign default
        others = [e for e in foreign if isinstance(e, Mapping) and e.get("isDefault")]
        if others:
            latest = {"version": others[0]["version"], "downloadURL": others[0]["downloadURL"]}
        else:
            log.warning(
                "APK_DISTRIBUTION/latestVersion still points at fleet (%s) but fleet "
                "publishes no default channel",
                latest.get("downloadURL"),
            )
    diff.latest_after = latest

    # If nothing changes keep DHIS2's value byte-for-byte (order included).
    if not diff.has_changes and current_versions is not None:
        versions_doc = copy.deepcopy(dict(current_versions))
    return ApkDistributionPlan(versions_doc=versions_doc, latest_doc=latest, diff=diff)


def publish(
    client: Dhis2Client,
    entries: Iterable[ApkChannelEntry],
    *,
    fleet_url_prefix: str,
    dry_run: bool = False,
    take_default: bool = False,
) -> ApkDistributionPlan:
    """Read ``APK_DISTRIBUTION``, plan the merge, and write it unless ``dry_run``.

    Writes ``versions`` first, then ``latestVersion`` (create-or-update each), only when the
    plan has changes. Just before writing, the two keys are read again; if another writer
    changed them since the plan was made, nothing is written.

    Returns:
        the :class:`ApkDistributionPlan` (``written`` tells whether DHIS2 was changed).

    Raises:
        ApkDistributionError / ApkDistributionConflict: see :func:`plan_apk_distribution`;
            also a concurrent change detected before writing.
        fleet.dhis2.client.Dhis2Error: DHIS2 refused or failed a request.
    """
    entries = list(entries)
    current_versions = client.datastore_get(NAMESPACE, KEY_VERSIONS)
    current_latest = client.datastore_get(NAMESPACE, KEY_LATEST)
    plan = plan_apk_distribution(
        current_versions,
        current_latest,
        entries,
        fleet_url_prefix=fleet_url_prefix,
        take_default=take_default,
    )
    if dry_run or not plan.diff.has_changes:
        return plan
    if (
        client.datastore_get(NAMESPACE, KEY_VERSIONS) != current_versions
        or client.datastore_get(NAMESPACE, KEY_LATEST) != current_latest
    ):
        raise ApkDistributionConflict(
            "APK_DISTRIBUTION changed in DHIS2 while publishing; nothing written, try again"
        )
    client.datastore_put(NAMESPACE, KEY_VERSIONS, plan.versions_doc)
    if plan.diff.latest_changed and plan.latest_doc is not None:
        try:
            client.datastore_put(NAMESPACE, KEY_LATEST, plan.latest_doc)
        except Exception:
            client.datastore_restore(NAMESPACE, {KEY_VERSIONS: current_versions})
            raise
    plan.written = True
    log.info(
        "APK_DISTRIBUTION published: %d added, %d changed, %d removed, %d kept",
        len(plan.diff.added),
        len(plan.diff.changed),
        len(plan.diff.removed),
        len(plan.diff.kept),
    )
    return plan
