"""The simulated phone's package manager: parses real APKs and installs them like Android.

APKs are parsed with androguard (package, versionCode, versionName, minSdk, targetSdk,
permissions, signer certificate from the v3/v2 signing block or the v1 JAR signature). The
install checks and failure strings follow ``PackageManagerService`` /
``PackageManagerShellCommand``: ``INSTALL_FAILED_OLDER_SDK`` (minSdk above the API level),
``INSTALL_FAILED_ALREADY_EXISTS`` (no ``-r`` on Android 8; newer adb always replaces),
``INSTALL_FAILED_VERSION_DOWNGRADE`` (lower versionCode without ``-d``),
``INSTALL_FAILED_UPDATE_INCOMPATIBLE`` (different signer), ``INSTALL_FAILED_INSUFFICIENT_STORAGE``
and ``INSTALL_PARSE_FAILED_NO_CERTIFICATES`` / ``INSTALL_PARSE_FAILED_NOT_APK``.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

from .outputs import java_signature_hash
from .profile import Package

log = logging.getLogger(__name__)


class InstallError(Exception):
    """An install refused: ``code`` is the ``INSTALL_FAILED_*`` name, ``str(exc)`` the full
    ``Failure [...]`` line body a phone of that Android version prints."""

    def __init__(self, code: str, detail: str = ""):
        self.code = code
        self.detail = detail
        super().__init__(f"{code}: {detail}" if detail else code)


@dataclass
class ApkInfo:
    """What the package manager read from an APK file."""

    package: str
    version_code: int
    version_name: str
    min_sdk: int
    target_sdk: int
    signer_sha256: str | None
    signer_der: bytes | None
    signing_version: int
    permissions: list[str]
    debuggable: bool = False


def parse_apk(path: Path) -> ApkInfo:
    """Parse an APK with androguard. Raises :class:`InstallError` with
    ``INSTALL_PARSE_FAILED_NOT_APK`` for a file that is not an APK."""
    try:
        from loguru import logger as _loguru

        _loguru.disable("androguard")
    except ImportError:  # pragma: no cover - loguru comes with androguard
        pass
    from androguard.core.apk import APK

    try:
        apk = APK(str(path))
        package = apk.get_package()
    except Exception as exc:  # androguard raises many types on garbage input
        raise InstallError("INSTALL_PARSE_FAILED_NOT_APK", f"Failed to parse {path}") from exc
    if not package:
        raise InstallError("INSTALL_PARSE_FAILED_NOT_APK", f"Failed to parse {path}")
    der = None
    version = 0
    for getter, ver in (
        (apk.get_certificates_der_v3, 3),
        (apk.get_certificates_der_v2, 2),
    ):
        try:
            certs = getter()
        except Exception:  # malformed signing block
            certs = []
        if certs:
            der, version = certs[0], ver
            break
    if der is None:
        try:
            v1 = apk.get_certificates_v1()
        except Exception:
            v1 = []
        if v1:
            der, version = v1[0].dump(), 1
    return ApkInfo(
        package=package,
        version_code=int(apk.get_androidversion_code() or 0),
        version_name=apk.get_androidversion_name() or "",
        min_sdk=int(apk.get_min_sdk_version() or 1),
        target_sdk=int(apk.get_target_sdk_version() or apk.get_min_sdk_version() or 1),
        signer_sha256=hashlib.sha256(der).hexdigest() if der else None,
        signer_der=der,
        signing_version=version,
        permissions=list(apk.get_permissions()),
        debuggable=str(apk.get_attribute_value("application", "debuggable")).lower() == "true",
    )


@dataclass
class InstalledPackage:
    """An installed package on the simulated phone."""

    name: str
    version_code: int
    version_name: str
    signer_sha256: str
    min_sdk: int
    target_sdk: int
    size_bytes: int
    code_path: str
    system: bool = False
    signature_hash: str = ""
    signing_version: int = 2
    permissions: list[str] = field(default_factory=list)
    granted: set[str] = field(default_factory=set)
    first_install_time: float = field(default_factory=time.time)
    last_update_time: float = field(default_factory=time.time)
    installer: str | None = None
    apk_file: Path | None = None
    debuggable: bool = False


def _code_path(name: str, api_level: int) -> str:
    if api_level >= 30:
        a = base64.urlsafe_b64encode(secrets.token_bytes(16)).decode()
        b = base64.urlsafe_b64encode(secrets.token_bytes(16)).decode()
        return f"/data/app/~~{a}/{name}-{b}"
    return f"/data/app/{name}-{base64.urlsafe_b64encode(secrets.token_bytes(16)).decode()}"


def from_profile(pkg: Package, api_level: int) -> InstalledPackage:
    """An :class:`InstalledPackage` for a package listed in a profile (no APK on disk)."""
    path = (
        f"/system/app/{pkg.name.split('.')[-1]}" if pkg.system else _code_path(pkg.name, api_level)
    )
    signer = pkg.signer_sha256 or hashlib.sha256(pkg.name.encode()).hexdigest()
    return InstalledPackage(
        name=pkg.name,
        version_code=pkg.version_code,
        version_name=pkg.version_name,
        signer_sha256=signer,
        min_sdk=pkg.min_sdk,
        target_sdk=pkg.target_sdk,
        size_bytes=pkg.size_bytes,
        code_path=path,
        system=pkg.system,
        signature_hash=java_signature_hash(bytes.fromhex(signer)),
        permissions=list(pkg.permissions),
        debuggable=pkg.debuggable,
        first_install_time=time.time() - 86400 * 30,
        last_update_time=time.time() - 86400 * 30,
    )


class PackageManager:
    """Installed packages of one phone and the install rules of its Android version."""

    def __init__(self, api_level: int, packages: list[InstalledPackage], *,
                 build_debuggable: bool = False):  # fmt: skip
        self.api_level = api_level
        self.build_debuggable = build_debuggable
        self.packages: dict[str, InstalledPackage] = {p.name: p for p in packages}

    def used_bytes(self) -> int:
        """Bytes taken on /data by non-system packages (APK size, counted once)."""
        return sum(p.size_bytes for p in self.packages.values() if not p.system)

    def check_install(
        self, info: ApkInfo, *, size: int, free_bytes: int, replace: bool, downgrade: bool
    ) -> None:
        """Apply Android's install checks; raises :class:`InstallError` on refusal.

        ``replace=False`` is ``pm install -R`` (or Android < 8 without ``-r``). ``downgrade``
        (``-d``) is honoured only as ``PackageManagerServiceUtils.isDowngradePermitted`` does on
        a user build: when the installed version is debuggable or the build is
        (``ro.debuggable=1``, which rooted profiles report).

        Space rule: PackageManager needs the APK plus room for its dex output; like
        ``PackageHelper.resolveInstallVolume`` on low storage we require 2x the APK size free.
        """
        if info.signer_sha256 is None:
            raise InstallError(
                "INSTALL_PARSE_FAILED_NO_CERTIFICATES",
                f"Package {info.package} has no certificates at entry AndroidManifest.xml"
                if self.api_level < 30
                else "No signature found in package of version 2 or newer for package "
                f"{info.package}",
            )
        if info.min_sdk > self.api_level:
            raise InstallError(
                "INSTALL_FAILED_OLDER_SDK",
                f"Failed parse during installPackageLI: /data/app/vmdl.tmp/base.apk "
                f"(at Binary XML file line #7): Requires newer sdk version #{info.min_sdk} "
                f"(current version is #{self.api_level})",
            )
        old = self.packages.get(info.package)
        if old is not None:
            if not replace:
                raise InstallError(
                    "INSTALL_FAILED_ALREADY_EXISTS",
                    f"Attempt to re-install {info.package} without first uninstalling.",
                )
            if old.signer_sha256 != info.signer_sha256:
                raise InstallError(
                    "INSTALL_FAILED_UPDATE_INCOMPATIBLE",
                    f"Package {info.package} signatures do not match previously installed "
                    "version; ignoring!"
                    if self.api_level >= 29
                    else f"Package {info.package} signatures do not match the previously "
                    "installed version; ignoring!",
                )
            permitted = downgrade and (self.build_debuggable or old.debuggable)
            if info.version_code < old.version_code and not permitted:
                raise InstallError(
                    "INSTALL_FAILED_VERSION_DOWNGRADE",
                    f"Downgrade detected: Update version code {info.version_code} is older "
                    f"than current {old.version_code}"
                    if self.api_level >= 29
                    else "",
                )
        needed = 2 * size - (old.size_bytes if old else 0)
        if needed > free_bytes:
            raise InstallError("INSTALL_FAILED_INSUFFICIENT_STORAGE", "")

    def install(self, info: ApkInfo, *, size: int, apk_file: Path | None) -> InstalledPackage:
        """Record the package as installed (after :meth:`check_install` passed)."""
        old = self.packages.get(info.package)
        now = time.time()
        pkg = InstalledPackage(
            name=info.package,
            version_code=info.version_code,
            version_name=info.version_name,
            signer_sha256=info.signer_sha256 or "",
            min_sdk=info.min_sdk,
            target_sdk=info.target_sdk,
            size_bytes=size,
            code_path=_code_path(info.package, self.api_level),
            signature_hash=java_signature_hash(info.signer_der or b""),
            signing_version=info.signing_version,
            permissions=info.permissions,
            granted=set(old.granted) if old else set(),
            first_install_time=old.first_install_time if old else now,
            last_update_time=now,
            apk_file=apk_file,
            debuggable=info.debuggable,
        )
        self.packages[info.package] = pkg
        log.debug("installed %s versionCode %s", info.package, info.version_code)
        return pkg

    def uninstall(self, name: str) -> InstalledPackage | None:
        """Remove a package; returns it, or ``None`` if it was not installed."""
        pkg = self.packages.get(name)
        if pkg is None or pkg.system:
            return None
        return self.packages.pop(name)


def failure_line(exc: InstallError, api_level: int) -> str:
    """The ``Failure [...]`` line a phone of ``api_level`` prints for a refused install.

    Android 8/9 print only the code for most failures; Android 10+ append ``: detail``.
    """
    if exc.detail and (
        api_level >= 29
        or exc.code in ("INSTALL_FAILED_UPDATE_INCOMPATIBLE", "INSTALL_FAILED_OLDER_SDK")
    ):
        return f"Failure [{exc.code}: {exc.detail}]"
    return f"Failure [{exc.code}]"
