"""Vet an uploaded APK: ZIP soundness, manifest, cryptographic signature, DHIS2 version rules.

``vet_apk(path)`` runs every check that needs only the file and returns a
:class:`VettingReport`; each check is recorded as pass / fail / warn with a plain-English reason.
Checks that need the database (pinned signer, versionCode history, the fleet's API levels, the
target channel) are pure functions below taking plain values; each returns a :class:`CheckResult`
that the caller adds to the stored report with :meth:`VettingReport.add`.

Order matters: the ZIP central directory is judged against :class:`ZipLimits` first, and nothing
is parsed or inflated (not by androguard, not by apksigner) unless it passes.

Sources for each rule are in ``docs/apk-vetting.md``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import zipfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fleet.apk.android_versions import android_version_for_api
from fleet.apk.apksigner import (
    APKSIGNER_TIMEOUT,
    SignatureVerification,
    SignerInfo,
    verify_apk,
)
from fleet.apk.manifest import ManifestError, ManifestInfo, read_manifest
from fleet.apk.zipcheck import ZipLimits, ZipSummary, check_zip

log = logging.getLogger(__name__)

PASS, FAIL, WARN = "pass", "fail", "warn"
STATUSES = (PASS, FAIL, WARN)

# Check names (stable identifiers, stored in reports).
CHECK_ZIP = "zip"
CHECK_MANIFEST = "manifest"
CHECK_SIGNATURE = "signature"
CHECK_DEBUG_CERT = "debug_certificate"
CHECK_DEBUGGABLE = "debuggable"
CHECK_TEST_ONLY = "test_only"
CHECK_VERSION_NAME = "version_name"
CHECK_SIGNER_PIN = "signer_pin"
CHECK_VERSION_CODE = "version_code"
CHECK_MIN_SDK_FLEET = "min_sdk_fleet"
CHECK_DEBUG_CERT_CHANNEL = "debug_certificate_channel"

DEBUG_CERT_CN = "Android Debug"
"""CN of the certificate the Android SDK generates for debug builds (``CN=Android Debug,
O=Android,C=US``, Android developer docs "Sign your app": debug certificate)."""

DHIS2_PACKAGE_PREFIX = "com.dhis2"
"""applicationId of the DHIS2 Capture app: ``com.dhis2``, training ``com.dhis2.training``."""

_DOTTED_NUMBERS_RE = re.compile(r"[0-9]+(?:\.[0-9]+)*")


@dataclass
class CheckResult:
    """One check: ``name`` (a CHECK_* id), ``status`` (pass/fail/warn), ``reason`` (English),
    ``details`` (JSON-serialisable values behind the verdict)."""

    name: str
    status: str
    reason: str
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"bad check status {self.status!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> CheckResult:
        return cls(data["name"], data["status"], data["reason"], dict(data.get("details") or {}))


@dataclass
class VettingReport:
    """Everything vetting found about one APK file.

    ``sha256``/``size`` (bytes) of the file; ``checks`` in the order run; ``manifest`` and
    ``signature`` when they could be read; ``zip`` summary; ``limits`` used.
    ``ok`` is True when no check failed.
    """

    sha256: str
    size: int
    checks: list[CheckResult] = field(default_factory=list)
    manifest: ManifestInfo | None = None
    signature: SignatureVerification | None = None
    zip: ZipSummary | None = None
    limits: ZipLimits | None = None

    def add(self, check: CheckResult) -> CheckResult:
        """Append ``check`` (replacing an earlier check of the same name) and return it."""
        self.checks = [c for c in self.checks if c.name != check.name] + [check]
        return check

    def get(self, name: str) -> CheckResult | None:
        return next((c for c in self.checks if c.name == name), None)

    @property
    def ok(self) -> bool:
        return not any(c.status == FAIL for c in self.checks)

    @property
    def failures(self) -> list[CheckResult]:
        return [c for c in self.checks if c.status == FAIL]

    @property
    def warnings(self) -> list[CheckResult]:
        return [c for c in self.checks if c.status == WARN]

    @property
    def reasons(self) -> list[str]:
        """The failure reasons, in order (what a rejected release shows)."""
        return [c.reason for c in self.failures]

    @property
    def signer(self) -> SignerInfo | None:
        """The first signer apksigner reported, when the signature verified."""
        if self.signature and self.signature.verified and self.signature.signers:
            return self.signature.signers[0]
        return None

    @property
    def signer_sha256(self) -> str | None:
        """Signer certificate SHA-256 (lowercase hex) of a verified APK, else None."""
        return self.signer.cert_sha256 if self.signer else None

    def to_dict(self) -> dict:
        """JSON-serialisable dict (``json.dumps(report.to_dict())`` works)."""
        return {
            "sha256": self.sha256,
            "size": self.size,
            "ok": self.ok,
            "checks": [c.to_dict() for c in self.checks],
            "manifest": self.manifest.to_dict() if self.manifest else None,
            "signature": self.signature.to_dict() if self.signature else None,
            "zip": self.zip.to_dict() if self.zip else None,
            "limits": self.limits.to_dict() if self.limits else None,
        }

    @classmethod
    def from_dict(cls, data: dict) -> VettingReport:
        """Rebuild a report stored with :meth:`to_dict` (for adding policy checks later)."""
        sig = data.get("signature")
        signature = None
        if sig:
            signature = SignatureVerification(
                verified=sig["verified"],
                schemes=dict(sig.get("schemes") or {}),
                signers=[SignerInfo(**s) for s in sig.get("signers") or []],
                errors=list(sig.get("errors") or []),
                warnings=list(sig.get("warnings") or []),
                exit_status=sig.get("exit_status", 0),
            )
        return cls(
            sha256=data["sha256"],
            size=data["size"],
            checks=[CheckResult.from_dict(c) for c in data.get("checks") or []],
            manifest=ManifestInfo(**data["manifest"]) if data.get("manifest") else None,
            signature=signature,
            zip=ZipSummary(**data["zip"]) if data.get("zip") else None,
            limits=ZipLimits(**data["limits"]) if data.get("limits") else None,
        )


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1024 * 1024):
            h.update(chunk)
    return h.hexdigest()


def vet_apk(
    path: str | os.PathLike,
    *,
    apksigner: str = "apksigner",
    limits: ZipLimits | None = None,
    sha256: str | None = None,
    apksigner_timeout: float = APKSIGNER_TIMEOUT,
) -> VettingReport:
    """Vet the APK at ``path`` and return its report (never raises for a bad APK).

    Checks, in order: ``zip`` (limits, before any inflation; a failure stops here),
    ``manifest`` (androguard), ``signature`` (``apksigner verify --print-certs -v``),
    ``debug_certificate``, ``debuggable``, ``test_only``, ``version_name`` (com.dhis2*).

    ``sha256`` may be passed when already known (the store computed it while streaming).
    Raises:
        fleet.apk.apksigner.ApksignerUnavailable: apksigner is missing or timed out (an
            environment fault, not a verdict on the APK).
        OSError: the file cannot be read.
    """
    path = Path(path)
    limits = limits or ZipLimits()
    report = VettingReport(
        sha256=sha256 or _sha256_file(path), size=path.stat().st_size, limits=limits
    )

    # 1. ZIP soundness and bomb limits, from the central directory only.
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as exc:
        report.add(CheckResult(CHECK_ZIP, FAIL, f"not a readable ZIP archive (truncated?): {exc}"))
        return report
    with zf:
        summary, findings = check_zip(zf, limits)
        report.zip = summary
        fatal = [f.message for f in findings if f.fatal]
        if fatal:
            report.add(CheckResult(CHECK_ZIP, FAIL, "; ".join(fatal), {"problems": fatal}))
            return report
        report.add(
            CheckResult(
                CHECK_ZIP,
                PASS,
                f"{summary.entries} entries, {summary.total_uncompressed} bytes uncompressed, "
                "within limits",
                summary.to_dict(),
            )
        )

        # 2. Manifest.
        try:
            manifest = read_manifest(zf, max_bytes=limits.max_manifest_bytes)
        except (ManifestError, zipfile.BadZipFile, OSError, EOFError) as exc:
            report.add(CheckResult(CHECK_MANIFEST, FAIL, f"manifest unreadable: {exc}"))
            manifest = None
        except Exception as exc:  # androguard raises assorted errors on hostile input
            log.warning("androguard failed on %s: %r", report.sha256, exc)
            report.add(CheckResult(CHECK_MANIFEST, FAIL, f"manifest unreadable: {exc!r:.200}"))
            manifest = None
    if manifest is not None:
        report.manifest = manifest
        report.add(
            CheckResult(
                CHECK_MANIFEST,
                PASS,
                f"{manifest.package} versionCode {manifest.version_code} versionName "
                f"{manifest.version_name} minSdk {manifest.min_sdk} targetSdk "
                f"{manifest.target_sdk}",
                manifest.to_dict(),
            )
        )

    # 3. Signature, verified by apksigner.
    sig = verify_apk(path, apksigner=apksigner, timeout=apksigner_timeout)
    report.signature = sig
    report.add(_signature_check(sig))

    # 4. Debug certificate.
    if sig.verified and sig.signers:
        report.add(_debug_cert_check(sig.signers))

    # 5. Manifest flags and DHIS2 versionName rule.
    if manifest is not None:
        report.add(
            CheckResult(
                CHECK_DEBUGGABLE,
                WARN if manifest.debuggable else PASS,
                "android:debuggable is true: anyone with ADB access can run code as the app "
                "and read its data"
                if manifest.debuggable
                else "not debuggable",
            )
        )
        report.add(
            CheckResult(
                CHECK_TEST_ONLY,
                WARN if manifest.test_only else PASS,
                "android:testOnly is true: Android installs it only with 'adb install -t' "
                "(INSTALL_FAILED_TEST_ONLY from a download)"
                if manifest.test_only
                else "not test-only",
            )
        )
        report.add(check_version_name(manifest.package, manifest.version_name))
    log.info(
        "vetted APK %s: %s (%s)",
        report.sha256,
        "ok" if report.ok else "rejected",
        "; ".join(report.reasons) or "no failures",
    )
    return report


def _signature_check(sig: SignatureVerification) -> CheckResult:
    schemes = {k: v for k, v in sig.schemes.items()}
    verified_schemes = sorted(k for k, v in schemes.items() if v)
    details = {"schemes": schemes, "errors": sig.errors, "warnings": sig.warnings}
    if not sig.verified:
        return CheckResult(
            CHECK_SIGNATURE,
            FAIL,
            f"signature does not verify: {sig.reason or 'apksigner refused the APK'}",
            details,
        )
    signer = sig.signers[0] if sig.signers else None
    if signer is None or not signer.cert_sha256:
        return CheckResult(CHECK_SIGNATURE, FAIL, "apksigner printed no signer", details)
    details.update(signer=asdict(signer), signers=len(sig.signers))
    text = (
        f"verified ({', '.join(verified_schemes)}) by {signer.subject}, "
        f"certificate SHA-256 {signer.cert_sha256}"
    )
    if len(sig.signers) > 1:
        return CheckResult(CHECK_SIGNATURE, WARN, f"{text}; {len(sig.signers)} signers", details)
    if not any(schemes.get(s) for s in ("v2", "v3", "v3.1")):
        return CheckResult(
            CHECK_SIGNATURE,
            WARN,
            f"{text}; v1 (JAR) signature only: Android 7.0+ verifies whole-file v2/v3 "
            "signatures faster and v1-only APKs are open to Janus (CVE-2017-13156) on 5.0-8.0",
            details,
        )
    return CheckResult(CHECK_SIGNATURE, PASS, text, details)


def _debug_cert_check(signers: list[SignerInfo]) -> CheckResult:
    debug = [s for s in signers if (s.common_name or "").lower() == DEBUG_CERT_CN.lower()]
    if debug:
        return CheckResult(
            CHECK_DEBUG_CERT,
            WARN,
            f"signed with the Android debug certificate ({debug[0].subject}): allowed only on "
            "a test channel",
            {"subject": debug[0].subject, "cert_sha256": debug[0].cert_sha256},
        )
    return CheckResult(CHECK_DEBUG_CERT, PASS, "not the Android debug certificate")


def is_debug_certificate(report: VettingReport) -> bool:
    """True if a signer's subject CN is ``Android Debug``."""
    check = report.get(CHECK_DEBUG_CERT)
    return check is not None and check.status != PASS


def is_dhis2_package(package: str) -> bool:
    """True for ``com.dhis2`` and ``com.dhis2.*`` (e.g. ``com.dhis2.training``)."""
    return package == DHIS2_PACKAGE_PREFIX or package.startswith(DHIS2_PACKAGE_PREFIX + ".")


def check_version_name(package: str, version_name: str | None) -> CheckResult:
    """For DHIS2 Capture packages the versionName must be plain dotted numbers (``3.4.1``).

    The Capture app's update check splits versionName on dots and parses each part as an
    integer (DESIGN.md, DHIS2 APK Distribution), so ``v3.4.0`` or ``3.4.0-rc1`` would never be
    offered as an update. Other packages pass unchecked.
    """
    if not is_dhis2_package(package):
        return CheckResult(
            CHECK_VERSION_NAME, PASS, f"{package} is not a DHIS2 Capture package: not checked"
        )
    if version_name and _DOTTED_NUMBERS_RE.fullmatch(version_name):
        return CheckResult(
            CHECK_VERSION_NAME, PASS, f"versionName {version_name} is plain dotted numbers"
        )
    return CheckResult(
        CHECK_VERSION_NAME,
        FAIL,
        f"versionName {version_name!r} is not plain dotted numbers such as 3.4.1: the DHIS2 "
        "Capture app's update check cannot compare it",
        {"version_name": version_name},
    )


# -- policy checks the caller feeds from the database --------------------------------------------


def check_signer_pin(report: VettingReport, pinned_sha256: str | None) -> CheckResult:
    """Compare the verified signer with the package's pinned signer certificate SHA-256.

    ``pinned_sha256`` None means no release of this package was approved yet: the check passes
    and says the signer will be pinned on first approval. Fails if the signature did not verify.
    """
    signer = report.signer_sha256
    if signer is None:
        return CheckResult(CHECK_SIGNER_PIN, FAIL, "no verified signer to compare with the pin")
    if pinned_sha256 is None:
        return CheckResult(
            CHECK_SIGNER_PIN,
            PASS,
            f"no signer pinned yet: {signer} will be pinned when a release is approved",
            {"signer_sha256": signer, "pinned_sha256": None},
        )
    pinned = pinned_sha256.strip().lower().replace(":", "")
    details = {"signer_sha256": signer, "pinned_sha256": pinned}
    if signer == pinned:
        return CheckResult(CHECK_SIGNER_PIN, PASS, "signer matches the pinned signer", details)
    return CheckResult(
        CHECK_SIGNER_PIN,
        FAIL,
        f"signed by {signer}, not by the pinned signer {pinned}: phones would refuse the "
        "update (INSTALL_FAILED_UPDATE_INCOMPATIBLE)",
        details,
    )


def check_version_code(report: VettingReport, highest_approved: int | None) -> CheckResult:
    """versionCode must be above every approved release of the package.

    ``highest_approved`` None means there is none. Android refuses a lower versionCode as an
    update (INSTALL_FAILED_VERSION_DOWNGRADE); rollback is a channel action, not an upload.
    """
    if report.manifest is None:
        return CheckResult(CHECK_VERSION_CODE, FAIL, "no manifest: versionCode unknown")
    code = report.manifest.version_code
    details = {"version_code": code, "highest_approved": highest_approved}
    if highest_approved is None:
        return CheckResult(CHECK_VERSION_CODE, PASS, f"versionCode {code}: first release", details)
    if code > highest_approved:
        return CheckResult(
            CHECK_VERSION_CODE,
            PASS,
            f"versionCode {code} is above the highest approved {highest_approved}",
            details,
        )
    return CheckResult(
        CHECK_VERSION_CODE,
        FAIL,
        f"versionCode {code} is not above the highest approved release ({highest_approved})",
        details,
    )


def devices_below_min_sdk(
    report: VettingReport, devices: Iterable[tuple[Any, int | None]]
) -> CheckResult:
    """Which registered devices run an API level below the APK's minSdk (left behind).

    ``devices`` yields ``(device_id, api_level)``; an unknown API level (None) is counted apart.
    The result is a warning naming the devices (``details["device_ids"]``), never a failure: the
    fleet may be upgraded or those phones kept on an older release.
    """
    if report.manifest is None:
        return CheckResult(CHECK_MIN_SDK_FLEET, FAIL, "no manifest: minSdk unknown")
    min_sdk = report.manifest.min_sdk
    below, unknown, total = [], [], 0
    for device_id, api_level in devices:
        total += 1
        if api_level is None:
            unknown.append(device_id)
        elif api_level < min_sdk:
            below.append(device_id)
    try:
        version = f"Android {android_version_for_api(min_sdk)}"
    except ValueError:
        version = f"API {min_sdk}"
    details = {
        "min_sdk": min_sdk,
        "android_version": version,
        "devices": total,
        "below": len(below),
        "device_ids": below,
        "unknown_api_level": unknown,
    }
    if below:
        return CheckResult(
            CHECK_MIN_SDK_FLEET,
            WARN,
            f"{len(below)} of {total} registered devices run below API {min_sdk} ({version}) "
            "and cannot install this release",
            details,
        )
    return CheckResult(
        CHECK_MIN_SDK_FLEET,
        PASS,
        f"all {total - len(unknown)} devices with a known API level run API {min_sdk} "
        f"({version}) or newer",
        details,
    )


def check_debug_cert(report: VettingReport, channel_is_test: bool) -> CheckResult:
    """The Android debug certificate is allowed only when releasing to a test channel."""
    if not is_debug_certificate(report):
        return CheckResult(CHECK_DEBUG_CERT_CHANNEL, PASS, "not signed with a debug certificate")
    if channel_is_test:
        return CheckResult(
            CHECK_DEBUG_CERT_CHANNEL,
            WARN,
            "debug certificate accepted because the channel is a test channel",
        )
    return CheckResult(
        CHECK_DEBUG_CERT_CHANNEL,
        FAIL,
        "signed with the Android debug certificate (CN=Android Debug): refused outside a test "
        "channel",
    )
