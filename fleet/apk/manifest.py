"""Read an APK's binary AndroidManifest.xml with androguard's AXML parser.

Only ``AndroidManifest.xml`` (and ``resources.arsc`` when an attribute is a resource reference)
is read, in 64 KiB steps through Python's ``zipfile`` (each step inflates at most 64 KiB, and
reading stops at the size declared in the central directory, then checks the CRC), and never
more than ``max_bytes`` (:class:`fleet.apk.zipcheck.ZipLimits`). So an entry whose headers
understate its size cannot make the parser inflate more than that. androguard's ``APK`` class is
not used because it reads the whole file into memory first.

The fields and their defaults follow Android's manifest reference and what ``aapt dump badging``
prints (the reference the tests compare against): ``minSdkVersion`` defaults to 1 when absent,
``targetSdkVersion`` to minSdk; ``debuggable``/``testOnly`` default to false.
"""

from __future__ import annotations

import logging
import re
import zipfile
from dataclasses import asdict, dataclass, field

from loguru import logger as _loguru_logger

# androguard logs every parser step through loguru at DEBUG level; keep it quiet.
_loguru_logger.disable("androguard")

from androguard.core.axml import ARSCParser, AXMLPrinter  # noqa: E402

log = logging.getLogger(__name__)

ANDROID_NS = "{http://schemas.android.com/apk/res/android}"
MANIFEST_ENTRY = "AndroidManifest.xml"
ARSC_ENTRY = "resources.arsc"
KNOWN_ABIS = ("armeabi", "armeabi-v7a", "arm64-v8a", "x86", "x86_64", "mips", "mips64", "riscv64")
_LIB_RE = re.compile(r"^lib/([^/]+)/[^/]+\.so$")
_REF_RE = re.compile(r"^@(?:android:)?([0-9A-Fa-f]{8})$")


class ManifestError(ValueError):
    """The manifest is missing, not binary XML, or lacks a required field."""


@dataclass
class ManifestInfo:
    """What the manifest declares. ``native_abis`` come from ``lib/<abi>/*.so`` entries."""

    package: str
    version_code: int
    version_name: str | None
    min_sdk: int
    target_sdk: int
    permissions: list[str] = field(default_factory=list)
    native_abis: list[str] = field(default_factory=list)
    debuggable: bool = False
    test_only: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


def _resolve(value: str | None, arsc_loader) -> str | None:
    """Resolve ``@7F0B0001``-style references through resources.arsc (default config first)."""
    if value is None:
        return None
    m = _REF_RE.match(value)
    if not m:
        return value
    arsc = arsc_loader()
    if arsc is None:
        raise ManifestError(f"manifest value {value} is a resource reference but no {ARSC_ENTRY}")
    configs = arsc.get_resolved_res_configs(int(m.group(1), 16))
    if not configs:
        raise ManifestError(f"resource {value} not found in {ARSC_ENTRY}")
    for config, resolved in configs:  # prefer the default configuration
        if not config.get_qualifier():
            return resolved
    return configs[0][1]


def _to_int(value: str | None, what: str) -> int | None:
    if value is None:
        return None
    try:
        return int(value, 0) if value.lower().startswith("0x") else int(value)
    except ValueError:
        raise ManifestError(f"{what} is not an integer: {value!r:.40}") from None


def _to_bool(value: str | None) -> bool:
    return value is not None and value.strip().lower() in ("true", "1", "-1")


def native_abis(names) -> list[str]:
    """ABIs with at least one ``lib/<abi>/*.so`` entry, sorted (like aapt's ``native-code``)."""
    return sorted({m.group(1) for n in names if (m := _LIB_RE.match(n))})


READ_STEP = 64 * 1024
DEFAULT_MAX_BYTES = 16 * 1024 * 1024


def read_entry_bounded(zf: zipfile.ZipFile, name: str, max_bytes: int) -> bytes:
    """Read one entry in 64 KiB steps, refusing more than ``max_bytes`` inflated bytes.

    Raises KeyError (no such entry), :class:`ManifestError` (too large), zipfile.BadZipFile
    (CRC mismatch, e.g. headers that lie about the size).
    """
    parts, total = [], 0
    with zf.open(name) as fh:
        while chunk := fh.read(READ_STEP):
            total += len(chunk)
            if total > max_bytes:
                raise ManifestError(f"{name} inflates to more than {max_bytes} bytes")
            parts.append(chunk)
    return b"".join(parts)


def read_manifest(zf: zipfile.ZipFile, *, max_bytes: int = DEFAULT_MAX_BYTES) -> ManifestInfo:
    """Parse the manifest of an open APK. Raises :class:`ManifestError` with a plain reason,
    or zipfile.BadZipFile for a corrupt entry."""
    try:
        data = read_entry_bounded(zf, MANIFEST_ENTRY, max_bytes)
    except KeyError:
        raise ManifestError(f"no {MANIFEST_ENTRY} in the APK") from None
    printer = AXMLPrinter(data)
    root = printer.get_xml_obj() if printer.is_valid() else None
    if root is None or root.tag != "manifest":
        raise ManifestError(f"{MANIFEST_ENTRY} is not a valid binary XML manifest")

    arsc_cache: list = []

    def load_arsc():
        if not arsc_cache:
            try:
                arsc_cache.append(ARSCParser(read_entry_bounded(zf, ARSC_ENTRY, max_bytes)))
            except KeyError:
                arsc_cache.append(None)
        return arsc_cache[0]

    def attr(el, name, *, ns=True):
        if el is None:
            return None
        value = el.get(ANDROID_NS + name) if ns else el.get(name)
        return _resolve(value, load_arsc)

    package = attr(root, "package", ns=False)
    if not package:
        raise ManifestError("manifest has no package name")
    version_code = _to_int(attr(root, "versionCode"), "versionCode")
    if version_code is None:
        raise ManifestError("manifest has no versionCode")
    uses_sdk = root.find("uses-sdk")
    min_sdk = _to_int(attr(uses_sdk, "minSdkVersion"), "minSdkVersion") or 1
    target_sdk = _to_int(attr(uses_sdk, "targetSdkVersion"), "targetSdkVersion") or min_sdk
    permissions = []
    for tag in ("uses-permission", "uses-permission-sdk-23", "uses-permission-sdk-m"):
        for el in root.findall(tag):
            name = attr(el, "name")
            if name and name not in permissions:
                permissions.append(name)
    app = root.find("application")
    return ManifestInfo(
        package=package,
        version_code=version_code,
        version_name=attr(root, "versionName"),
        min_sdk=min_sdk,
        target_sdk=target_sdk,
        permissions=permissions,
        native_abis=native_abis(zf.namelist()),
        debuggable=_to_bool(attr(app, "debuggable")),
        test_only=_to_bool(attr(app, "testOnly")),
    )
