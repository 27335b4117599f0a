"""ZIP soundness and ZIP-bomb limits, judged from the central directory before anything inflates.

Only the central directory is read (``zipfile.ZipFile`` parses it without decompressing). Each
entry's declared uncompressed size is used for the limits; headers that understate the size do
not get past them either: the manifest parser inflates in 64 KiB steps up to the declared size
and then fails the CRC (:func:`fleet.apk.manifest.read_entry_bounded`), and apksigner inflates
into buffers of the declared size and refuses the entry ("Insufficient space in output
buffer").

Default limits (:class:`ZipLimits`) are generous for real APKs: the DHIS2 Capture app has a few
thousand entries and inflates to well under 200 MB; DEFLATE cannot compress by more than about
1032:1, so a ratio limit of 100:1 on entries larger than 1 MiB catches bombs while leaving room
for very repetitive resources (the OWASP guidance for archive uploads suggests limits of this
shape: entry count, total size, ratio).
"""

from __future__ import annotations

import posixpath
import zipfile
from dataclasses import asdict, dataclass

MiB = 1024 * 1024
GiB = 1024 * MiB

# ZIP compression methods Android's package installer accepts (AOSP libziparchive: stored and
# deflated only).
ALLOWED_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflated"}


@dataclass(frozen=True)
class ZipLimits:
    """Limits applied before any entry is expanded.

    max_entries: entries in the central directory.
    max_total_uncompressed: sum of declared uncompressed sizes, bytes.
    max_entry_ratio: uncompressed/compressed for one entry ...
    ratio_min_bytes: ... judged only for entries whose uncompressed size passes this (bytes).
    max_manifest_bytes: uncompressed AndroidManifest.xml / resources.arsc read by the parser.
    """

    max_entries: int = 20_000
    max_total_uncompressed: int = 1 * GiB
    max_entry_ratio: float = 100.0
    ratio_min_bytes: int = 1 * MiB
    max_manifest_bytes: int = 16 * MiB

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ZipFinding:
    """One problem: ``fatal`` ones refuse the APK; others are warnings."""

    message: str
    fatal: bool = True


@dataclass
class ZipSummary:
    entries: int
    total_uncompressed: int
    total_compressed: int
    max_ratio: float
    max_ratio_entry: str | None

    def to_dict(self) -> dict:
        return asdict(self)


def check_zip(zf: zipfile.ZipFile, limits: ZipLimits) -> tuple[ZipSummary, list[ZipFinding]]:
    """Judge an opened ZIP's central directory against ``limits``.

    Returns a summary and findings: too many entries, total size over the limit, an entry whose
    compression ratio passes the limit, duplicate names (Android bug 8219321, "master key"),
    unsafe names (absolute, ``..``), encrypted entries, compression methods Android does not
    accept, a missing or oversized AndroidManifest.xml / resources.arsc.
    """
    infos = zf.infolist()
    findings: list[ZipFinding] = []
    total_u = sum(i.file_size for i in infos)
    total_c = sum(i.compress_size for i in infos)
    worst_ratio, worst_name = 0.0, None
    for info in infos:
        if info.file_size > limits.ratio_min_bytes:
            ratio = info.file_size / max(info.compress_size, 1)
            if ratio > worst_ratio:
                worst_ratio, worst_name = ratio, info.filename
    summary = ZipSummary(len(infos), total_u, total_c, round(worst_ratio, 1), worst_name)

    if len(infos) > limits.max_entries:
        findings.append(
            ZipFinding(f"{len(infos)} entries, more than the limit of {limits.max_entries}")
        )
    if total_u > limits.max_total_uncompressed:
        findings.append(
            ZipFinding(
                f"entries expand to {total_u} bytes, more than the limit of "
                f"{limits.max_total_uncompressed} bytes"
            )
        )
    if worst_ratio > limits.max_entry_ratio:
        findings.append(
            ZipFinding(
                f"entry {worst_name} compresses {worst_ratio:.0f}:1, more than the limit of "
                f"{limits.max_entry_ratio:.0f}:1 (ZIP bomb)"
            )
        )
    seen: set[str] = set()
    for info in infos:
        name = info.filename
        if name in seen:
            findings.append(ZipFinding(f"duplicate entry name {name!r}"))
        seen.add(name)
        norm = posixpath.normpath(name)
        if name.startswith(("/", "\\")) or norm == ".." or norm.startswith("../"):
            findings.append(ZipFinding(f"unsafe entry name {name!r}"))
        if info.flag_bits & 0x1:
            findings.append(ZipFinding(f"entry {name!r} is encrypted"))
        if info.compress_type not in ALLOWED_METHODS:
            findings.append(
                ZipFinding(f"entry {name!r} uses compression method {info.compress_type}")
            )
    for required, needed in (("AndroidManifest.xml", True), ("resources.arsc", False)):
        try:
            info = zf.getinfo(required)
        except KeyError:
            if needed:
                findings.append(ZipFinding(f"no {required} in the archive"))
            continue
        if info.file_size > limits.max_manifest_bytes:
            findings.append(
                ZipFinding(
                    f"{required} is {info.file_size} bytes, more than the limit of "
                    f"{limits.max_manifest_bytes}"
                )
            )
    return summary, findings
