"""Build real, signed Android APKs for tests with Debian's aapt, zipalign and apksigner.

The APKs are code-free (``android:hasCode="false"``), compiled by ``aapt package`` against
Debian's ``android-framework-res`` (``/usr/share/android-framework-res/framework-res.apk``),
aligned with ``zipalign`` and signed with ``apksigner sign``. Keys are RSA keys with self-signed
X.509 certificates made with ``cryptography`` and written as PKCS#8 DER (``.pk8``) plus PEM, the
form ``apksigner sign --key K.pk8 --cert C.pem`` takes.

Besides good APKs the factory makes the bad ones a repository must refuse: a tampered copy (one
byte flipped inside an entry after signing), a truncated copy, an unsigned APK and ZIP bombs.

Nothing here is mocked: a missing tool raises ``FileNotFoundError`` (tests then fail, not skip).

Usage::

    factory = ApkFactory(tmp_dir)
    apk = factory.build(package="com.dhis2", version_code=10, version_name="3.4.1",
                        key="release", v1=False, v2=True, v3=True)
    bad = factory.tampered(apk)
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
import random
import shutil
import struct
import subprocess
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

FRAMEWORK_RES = Path("/usr/share/android-framework-res/framework-res.apk")
ANDROID_NS = "http://schemas.android.com/apk/res/android"
DEBUG_SUBJECT = {"common_name": "Android Debug", "organization": "Android", "country": "US"}
MiB = 1024 * 1024

# A tiny stand-in for a native library: an ELF magic number and some bytes. Android's package
# manager only looks at lib/<abi>/*.so paths to pick an ABI; nothing here is ever loaded.
_FAKE_SO = b"\x7fELF\x02\x01\x01" + b"\x00" * 57 + b"fleet test native library\n" * 4


@dataclass(frozen=True)
class SigningKey:
    """A signing key on disk: ``key_path`` (PKCS#8 DER), ``cert_path`` (PEM certificate).

    ``cert_sha256`` is the lowercase hex SHA-256 of the DER certificate, the digest that
    ``apksigner verify --print-certs`` prints as "certificate SHA-256 digest".
    """

    name: str
    key_path: Path
    cert_path: Path
    cert_sha256: str
    subject: str


@dataclass(frozen=True)
class ApkSpec:
    """What goes into one test APK. ``padding_bytes`` adds a stored asset of random bytes."""

    package: str = "org.fleet.testapp"
    version_code: int = 1
    version_name: str | None = "1.0"
    min_sdk: int = 23
    target_sdk: int = 34
    permissions: tuple[str, ...] = ()
    debuggable: bool = False
    test_only: bool = False
    native_abis: tuple[str, ...] = ()
    padding_bytes: int = 0
    label: str = "Fleet test app"
    version_name_resource: bool = False  # versionName as @string/version_name in resources.arsc


def _run(cmd: list[str]) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(
            f"{cmd[0]} failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}"
        )
    return proc


def make_signing_key(
    directory: Path,
    name: str,
    *,
    common_name: str,
    organization: str | None = None,
    country: str | None = None,
    key_size: int = 2048,
) -> SigningKey:
    """Generate an RSA key and a self-signed X.509 certificate (SHA256withRSA, 30 years).

    Writes ``<directory>/<name>.pk8`` (unencrypted PKCS#8 DER) and ``<name>.pem``.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    attrs = []
    if country:
        attrs.append(x509.NameAttribute(NameOID.COUNTRY_NAME, country))
    if organization:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    subject = x509.Name(attrs)
    now = _dt.datetime.now(_dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _dt.timedelta(days=1))
        .not_valid_after(now + _dt.timedelta(days=365 * 30))
        .sign(key, hashes.SHA256())
    )
    key_path = directory / f"{name}.pk8"
    cert_path = directory / f"{name}.pem"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    der = cert.public_bytes(serialization.Encoding.DER)
    return SigningKey(
        name=name,
        key_path=key_path,
        cert_path=cert_path,
        cert_sha256=hashlib.sha256(der).hexdigest(),
        subject=subject.rfc4514_string(),
    )


def manifest_xml(spec: ApkSpec) -> str:
    """The AndroidManifest.xml source text for ``spec`` (code-free application)."""
    attrs = [
        f"package={quoteattr(spec.package)}",
        f'android:versionCode="{int(spec.version_code)}"',
    ]
    if spec.version_name is not None and spec.version_name_resource:
        attrs.append('android:versionName="@string/version_name"')
    elif spec.version_name is not None:
        attrs.append(f"android:versionName={quoteattr(spec.version_name)}")
    app_attrs = [f"android:label={quoteattr(spec.label)}", 'android:hasCode="false"']
    if spec.debuggable:
        app_attrs.append('android:debuggable="true"')
    if spec.test_only:
        app_attrs.append('android:testOnly="true"')
    perms = "".join(f"  <uses-permission android:name={quoteattr(p)}/>\n" for p in spec.permissions)
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<manifest xmlns:android="{ANDROID_NS}" {" ".join(attrs)}>\n'
        f'  <uses-sdk android:minSdkVersion="{int(spec.min_sdk)}"'
        f' android:targetSdkVersion="{int(spec.target_sdk)}"/>\n'
        f"{perms}"
        f"  <application {' '.join(app_attrs)}/>\n"
        "</manifest>\n"
    )


def _write_random_stored(zf: zipfile.ZipFile, name: str, size: int, seed: int) -> None:
    """Append ``size`` incompressible bytes as a STORED entry, written in 1 MiB chunks."""
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED
    info.file_size = size
    rng = random.Random(seed)
    with zf.open(info, "w", force_zip64=size > 0x7FFFFFFF) as out:
        left = size
        while left:
            n = min(MiB, left)
            out.write(rng.randbytes(n))
            left -= n


class ApkFactory:
    """Builds APKs and keys into ``workdir``, memoised by parameters (thread-safe).

    Tools are looked up on PATH (``aapt``, ``zipalign``, ``apksigner``); a missing one raises
    ``FileNotFoundError`` naming it.
    """

    def __init__(self, workdir: Path | str):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._keys: dict[str, SigningKey] = {}
        self._apks: dict[tuple, Path] = {}
        self._lock = threading.RLock()
        self._counter = 0
        for tool in ("aapt", "zipalign", "apksigner"):
            if shutil.which(tool) is None:
                raise FileNotFoundError(f"{tool} not found on PATH (Debian package {tool})")
        if not FRAMEWORK_RES.exists():
            raise FileNotFoundError(f"{FRAMEWORK_RES} missing (Debian android-framework-res)")

    def _new_path(self, stem: str, suffix: str = ".apk") -> Path:
        with self._lock:
            self._counter += 1
            return self.workdir / f"{self._counter:04d}-{stem}{suffix}"

    # -- keys ---------------------------------------------------------------------------------
    def key(self, name: str = "release", *, debug: bool = False) -> SigningKey:
        """The signing key called ``name``, generated on first use.

        ``debug=True`` (or the name ``"debug"``) gives the Android debug-style subject
        ``CN=Android Debug,O=Android,C=US``; other keys get ``CN=Fleet Test <name>,O=Fleet Tests``.
        """
        with self._lock:
            if name not in self._keys:
                if debug or name == "debug":
                    subj = DEBUG_SUBJECT
                else:
                    subj = {"common_name": f"Fleet Test {name}", "organization": "Fleet Tests"}
                self._keys[name] = make_signing_key(self.workdir / "keys", name, **subj)
            return self._keys[name]

    # -- APKs ---------------------------------------------------------------------------------
    def unsigned(self, spec: ApkSpec | None = None, **kw) -> Path:
        """An aligned, unsigned APK for ``spec`` (or ``ApkSpec(**kw)``)."""
        spec = spec or ApkSpec(**kw)
        with self._lock:
            cache_key = ("unsigned", spec)
            if cache_key in self._apks:
                return self._apks[cache_key]
        stem = f"{spec.package}-{spec.version_code}"
        build = self.workdir / f"build-{os.getpid()}-{threading.get_ident()}-{id(spec)}"
        build.mkdir(parents=True, exist_ok=True)
        try:
            (build / "AndroidManifest.xml").write_text(manifest_xml(spec), encoding="utf-8")
            raw = build / "raw.apk"
            res_args = []
            if spec.version_name_resource and spec.version_name is not None:
                values = build / "res" / "values"
                values.mkdir(parents=True)
                (values / "strings.xml").write_text(
                    '<resources><string name="version_name">'
                    f"{escape(spec.version_name)}</string></resources>\n",
                    encoding="utf-8",
                )
                res_args = ["-S", str(build / "res")]
            _run(
                [
                    "aapt", "package", "-f",
                    "-M", str(build / "AndroidManifest.xml"),
                    "-I", str(FRAMEWORK_RES),
                    *res_args,
                    "-F", str(raw),
                ]
            )  # fmt: skip
            with zipfile.ZipFile(raw, "a") as zf:
                info = zipfile.ZipInfo("assets/fleet-test.txt", date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_STORED
                zf.writestr(info, repr(spec).encode() * 4)
                for abi in spec.native_abis:
                    so = zipfile.ZipInfo(f"lib/{abi}/libfleettest.so", (1980, 1, 1, 0, 0, 0))
                    so.compress_type = zipfile.ZIP_DEFLATED
                    zf.writestr(so, _FAKE_SO)
                if spec.padding_bytes:
                    _write_random_stored(
                        zf, "assets/padding.bin", spec.padding_bytes, seed=spec.version_code
                    )
            out = self._new_path(f"{stem}-unsigned")
            _run(["zipalign", "-f", "-p", "4", str(raw), str(out)])
        finally:
            shutil.rmtree(build, ignore_errors=True)
        with self._lock:
            return self._apks.setdefault(cache_key, out)

    def build(
        self,
        spec: ApkSpec | None = None,
        *,
        key: str | SigningKey = "release",
        v1: bool = True,
        v2: bool = True,
        v3: bool = True,
        **kw,
    ) -> Path:
        """A signed APK: ``spec`` or ``ApkSpec(**kw)`` signed with ``key`` and the chosen schemes.

        ``key`` is a key name for :meth:`key` (``"debug"`` gives the debug certificate) or a
        :class:`SigningKey`. v4 signing is always off (it writes a separate ``.idsig`` file).
        """
        spec = spec or ApkSpec(**kw)
        signing_key = key if isinstance(key, SigningKey) else self.key(key)
        cache_key = ("signed", spec, signing_key.name, v1, v2, v3)
        with self._lock:
            if cache_key in self._apks:
                return self._apks[cache_key]
        unsigned = self.unsigned(spec)
        schemes = "".join(s for s, on in (("v1", v1), ("v2", v2), ("v3", v3)) if on)
        out = self._new_path(f"{spec.package}-{spec.version_code}-{signing_key.name}-{schemes}")
        _run(
            [
                "apksigner", "sign",
                "--key", str(signing_key.key_path),
                "--cert", str(signing_key.cert_path),
                "--v1-signing-enabled", str(v1).lower(),
                "--v2-signing-enabled", str(v2).lower(),
                "--v3-signing-enabled", str(v3).lower(),
                "--v4-signing-enabled", "false",
                "--out", str(out),
                str(unsigned),
            ]
        )  # fmt: skip
        with self._lock:
            return self._apks.setdefault(cache_key, out)

    # -- bad copies ---------------------------------------------------------------------------
    def tampered(self, apk: Path, entry: str = "assets/fleet-test.txt") -> Path:
        """A copy of ``apk`` with one byte flipped inside the data of the STORED ``entry``.

        The ZIP stays readable (the central directory is untouched), but the entry's bytes no
        longer match the signature (v2/v3 chunk digests and the v1 manifest digest), nor its CRC.
        """
        apk = Path(apk)
        out = self._new_path(f"{apk.stem}-tampered")
        shutil.copyfile(apk, out)
        with zipfile.ZipFile(out) as zf:
            info = zf.getinfo(entry)
        if info.compress_type != zipfile.ZIP_STORED or info.file_size == 0:
            raise ValueError(f"{entry} must be a non-empty STORED entry to tamper with")
        with open(out, "r+b") as fh:
            fh.seek(info.header_offset)
            header = fh.read(30)
            if header[:4] != b"PK\x03\x04":
                raise ValueError("local file header not found")
            name_len, extra_len = struct.unpack("<HH", header[26:30])
            pos = info.header_offset + 30 + name_len + extra_len + info.file_size // 2
            fh.seek(pos)
            byte = fh.read(1)
            fh.seek(pos)
            fh.write(bytes([byte[0] ^ 0x01]))
        return out

    def truncated(self, apk: Path, keep: float = 0.5) -> Path:
        """A copy of ``apk`` holding only its first ``keep`` fraction of bytes (an interrupted
        upload): the ZIP end-of-central-directory record is gone."""
        apk = Path(apk)
        out = self._new_path(f"{apk.stem}-truncated")
        data_len = int(apk.stat().st_size * keep)
        with open(apk, "rb") as src, open(out, "wb") as dst:
            dst.write(src.read(data_len))
        return out

    def zip_bomb(
        self,
        kind: str = "ratio",
        *,
        base: Path | None = None,
        uncompressed_bytes: int = 1024 * MiB,
        entries: int = 50_000,
        sign: bool = True,
    ) -> Path:
        """A ZIP bomb built on a real APK (``base``, default a fresh signed ``org.fleet.bomb``).

        ``kind="ratio"``: one DEFLATE entry ``assets/bomb.bin`` of ``uncompressed_bytes`` zeros
        (about 1,000:1, so 1 GiB is about 1 MB on disk). ``kind="entries"``: ``entries`` tiny
        entries ``assets/e/<n>``. The sizes in the ZIP headers are true: a reader that trusts
        them, or one that inflates, both meet the full size. With ``sign=True`` the result is
        re-signed (v2+v3) so only the ZIP limits can refuse it.

        See :meth:`lying_manifest` for a bomb whose headers understate the size.
        """
        spec_base = base
        if spec_base is None:
            spec_base = self.unsigned(ApkSpec(package="org.fleet.bomb", version_code=1))
        raw = self._new_path(f"bomb-{kind}-raw")
        shutil.copyfile(spec_base, raw)
        with zipfile.ZipFile(raw, "a") as zf:
            if kind == "ratio":
                info = zipfile.ZipInfo("assets/bomb.bin", date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                info.file_size = uncompressed_bytes
                zero = bytes(4 * MiB)
                with zf.open(info, "w", force_zip64=uncompressed_bytes > 0x7FFFFFFF) as out:
                    left = uncompressed_bytes
                    while left:
                        n = min(len(zero), left)
                        out.write(zero[:n])
                        left -= n
            elif kind == "entries":
                for n in range(entries):
                    info = zipfile.ZipInfo(f"assets/e/{n}", date_time=(1980, 1, 1, 0, 0, 0))
                    zf.writestr(info, b"x")
            else:
                raise ValueError(f"unknown zip bomb kind {kind!r}")
        if not sign:
            return raw
        key = self.key("release")
        out = self._new_path(f"bomb-{kind}")
        _run(
            [
                "apksigner", "sign", "--key", str(key.key_path), "--cert", str(key.cert_path),
                "--v1-signing-enabled", "false", "--v2-signing-enabled", "true",
                "--v3-signing-enabled", "true", "--v4-signing-enabled", "false",
                "--out", str(out), str(raw),
            ]
        )  # fmt: skip
        return out

    def lying_manifest(self, inflated_bytes: int = 64 * MiB, declared_bytes: int = 4096) -> Path:
        """An unsigned APK whose AndroidManifest.xml inflates to ``inflated_bytes`` zeros while
        its local and central headers declare ``declared_bytes``: a bomb that passes size
        limits read from the central directory, so only a reader that stops at the declared
        size (and then fails the CRC) is safe from it."""
        base = self.unsigned(ApkSpec(package="org.fleet.liar", version_code=1))
        out = self._new_path("lying-manifest")
        with zipfile.ZipFile(base) as src, zipfile.ZipFile(out, "w") as dst:
            for info in src.infolist():
                if info.filename == "AndroidManifest.xml":
                    continue
                dst.writestr(info, src.read(info.filename))
            info = zipfile.ZipInfo("AndroidManifest.xml", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with dst.open(info, "w") as fh:
                zero = bytes(MiB)
                for _ in range(inflated_bytes // MiB):
                    fh.write(zero)
        data = bytearray(out.read_bytes())
        name = b"AndroidManifest.xml"
        patched = 0
        for sig, size_at in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
            name_at = 30 if sig == b"PK\x03\x04" else 46
            pos = data.find(sig)
            while pos != -1:
                if data[pos + name_at : pos + name_at + len(name)] == name:
                    struct.pack_into("<I", data, pos + size_at, declared_bytes)
                    patched += 1
                pos = data.find(sig, pos + 4)
        if patched != 2:
            raise RuntimeError(f"expected to patch 2 headers, patched {patched}")
        out.write_bytes(bytes(data))
        return out


def sha256_file(path: Path) -> str:
    """Lowercase hex SHA-256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(MiB), b""):
            h.update(chunk)
    return h.hexdigest()


def aapt_badging(apk: Path) -> dict:
    """Parse ``aapt dump badging`` into the fields vetting reports (the reference parser).

    Returns ``{"package", "version_code", "version_name", "min_sdk", "target_sdk",
    "permissions", "debuggable", "test_only", "native_abis"}``.
    """
    import re
    import shlex

    out = _run(["aapt", "dump", "badging", str(apk)]).stdout
    res: dict = {
        "permissions": [],
        "debuggable": False,
        "test_only": False,
        "native_abis": [],
        "version_name": None,
        "min_sdk": None,
        "target_sdk": None,
    }
    for line in out.splitlines():
        if line.startswith("package:"):
            fields = dict(re.findall(r"(\w+)='([^']*)'", line))
            res["package"] = fields["name"]
            res["version_code"] = int(fields["versionCode"])
            res["version_name"] = fields.get("versionName") or None
        elif line.startswith("sdkVersion:"):
            res["min_sdk"] = int(line.split(":", 1)[1].strip("'"))
        elif line.startswith("targetSdkVersion:"):
            res["target_sdk"] = int(line.split(":", 1)[1].strip("'"))
        elif line.startswith("uses-permission:"):
            res["permissions"].append(re.search(r"name='([^']*)'", line).group(1))
        elif line.strip() == "application-debuggable":
            res["debuggable"] = True
        elif line.startswith("testOnly="):
            res["test_only"] = line.split("=", 1)[1].strip("'") not in ("0", "false")
        elif line.startswith("native-code:"):
            res["native_abis"] = shlex.split(line.split(":", 1)[1])
    return res


__all__ = [
    "ApkFactory",
    "ApkSpec",
    "SigningKey",
    "make_signing_key",
    "manifest_xml",
    "aapt_badging",
    "sha256_file",
    "DEBUG_SUBJECT",
    "FRAMEWORK_RES",
    "MiB",
]
