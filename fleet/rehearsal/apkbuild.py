"""Build a real signed APK for the rehearsal with Debian's aapt, zipalign and apksigner.

The APK is code-free (``android:hasCode="false"``), compiled by ``aapt package`` against
``/usr/share/android-framework-res/framework-res.apk`` (Debian ``android-framework-res``),
aligned by ``zipalign -p 4`` and signed by ``apksigner sign`` (v1, v2 and v3 schemes) with an
RSA-2048 key and a self-signed certificate made here. This is the minimal subset of
``tests/apkfactory.py`` that ``fleet rehearse`` needs (a product command cannot import tests/).

Raises ``FileNotFoundError`` naming a missing tool, ``RuntimeError`` with the tool's message
when a tool fails.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import random
import shutil
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import quoteattr

FRAMEWORK_RES = Path("/usr/share/android-framework-res/framework-res.apk")
ANDROID_NS = "http://schemas.android.com/apk/res/android"
TOOLS = ("aapt", "zipalign", "apksigner")


@dataclass(frozen=True)
class BuiltApk:
    """A signed APK on disk and the SHA-256 (hex) of its signer's DER certificate."""

    path: Path
    package: str
    version_code: int
    version_name: str
    min_sdk: int
    signer_sha256: str


def check_tools() -> None:
    """Raise FileNotFoundError naming the first missing build tool or framework-res."""
    for tool in TOOLS:
        if shutil.which(tool) is None:
            raise FileNotFoundError(f"{tool} not found on PATH (Debian package {tool})")
    if not FRAMEWORK_RES.exists():
        raise FileNotFoundError(f"{FRAMEWORK_RES} missing (Debian package android-framework-res)")


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}): "
                           f"{proc.stderr.strip() or proc.stdout.strip()}")


def make_key(directory: Path, common_name: str) -> tuple[Path, Path, str]:
    """RSA-2048 key (PKCS#8 DER ``.pk8``) and self-signed certificate (``.pem``, 30 years).

    Returns (key path, certificate path, certificate SHA-256 hex)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    directory.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "fleet rehearsal"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = _dt.datetime.now(_dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - _dt.timedelta(days=1))
            .not_valid_after(now + _dt.timedelta(days=365 * 30))
            .sign(key, hashes.SHA256()))
    key_path, cert_path = directory / "release.pk8", directory / "release.pem"
    key_path.write_bytes(key.private_bytes(serialization.Encoding.DER,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    digest = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
    return key_path, cert_path, digest


def build_apk(workdir: Path, *, package: str = "com.dhis2", version_code: int = 3040100,
              version_name: str = "3.4.1", min_sdk: int = 23, target_sdk: int = 34,
              permissions: tuple[str, ...] = (), padding_bytes: int = 0,
              seed: int = 1) -> BuiltApk:
    """Build, align and sign one APK in ``workdir``; ``padding_bytes`` of seeded random bytes
    go into a stored asset so the file has a realistic size (the Capture app is ~30 MB)."""
    check_tools()
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    key_path, cert_path, signer = make_key(workdir / "keys", "fleet rehearsal release")
    perms = "".join(f"  <uses-permission android:name={quoteattr(p)}/>\n" for p in permissions)
    (workdir / "AndroidManifest.xml").write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<manifest xmlns:android="{ANDROID_NS}" package={quoteattr(package)} '
        f'android:versionCode="{int(version_code)}" '
        f'android:versionName={quoteattr(version_name)}>\n'
        f'  <uses-sdk android:minSdkVersion="{int(min_sdk)}" '
        f'android:targetSdkVersion="{int(target_sdk)}"/>\n{perms}'
        '  <application android:label="Capture (rehearsal build)" android:hasCode="false"/>\n'
        "</manifest>\n", encoding="utf-8")
    raw, aligned = workdir / "raw.apk", workdir / "aligned.apk"
    _run(["aapt", "package", "-f", "-M", str(workdir / "AndroidManifest.xml"),
          "-I", str(FRAMEWORK_RES), "-F", str(raw)])
    with zipfile.ZipFile(raw, "a") as zf:
        info = zipfile.ZipInfo("assets/rehearsal.txt", date_time=(1980, 1, 1, 0, 0, 0))
        zf.writestr(info, f"fleet rehearsal build {package} {version_code}\n".encode())
        if padding_bytes:
            pad = zipfile.ZipInfo("assets/padding.bin", date_time=(1980, 1, 1, 0, 0, 0))
            pad.compress_type = zipfile.ZIP_STORED
            zf.writestr(pad, random.Random(seed).randbytes(padding_bytes))
    _run(["zipalign", "-f", "-p", "4", str(raw), str(aligned)])
    out = workdir / f"{package}-{version_name}.apk"
    _run(["apksigner", "sign", "--key", str(key_path), "--cert", str(cert_path),
          "--v1-signing-enabled", "true", "--v2-signing-enabled", "true",
          "--v3-signing-enabled", "true", "--v4-signing-enabled", "false",
          "--out", str(out), str(aligned)])
    raw.unlink(missing_ok=True)
    aligned.unlink(missing_ok=True)
    return BuiltApk(out, package, version_code, version_name, min_sdk, signer)
