"""Cryptographic APK signature verification with ``apksigner verify --print-certs -v``.

apksigner (Debian package ``apksigner``, AOSP's ``tools/apksig``) verifies the JAR signature
(v1) and the APK Signature Scheme v2/v3 blocks against the bytes of the file, for the API levels
the APK's minSdk..maxSdk covers. Its exit status is the verdict; this module only parses what it
prints:

    Verifies
    Verified using v1 scheme (JAR signing): true
    Verified using v2 scheme (APK Signature Scheme v2): true
    Verified using v3 scheme (APK Signature Scheme v3): true
    Number of signers: 1
    Signer #1 certificate DN: CN=Android Debug, O=Android, C=US
    Signer #1 certificate SHA-256 digest: c6cc...
    WARNING: ...

and on failure ``DOES NOT VERIFY`` with ``ERROR: ...`` lines, or a Java exception on stderr for
files that are not ZIP archives at all.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import asdict, dataclass, field

APKSIGNER_TIMEOUT = 300
"""Seconds allowed for one ``apksigner verify`` run (a 300 MB APK takes a few seconds)."""

_SCHEME_RE = re.compile(r"^Verified using (v[\d.]+) scheme[^:]*:\s*(true|false)\s*$", re.I)
_SIGNER_RE = re.compile(r"^Signer #(\d+) ([^:]+):\s*(.*)$")
_EXC_RE = re.compile(
    r"^(?:Exception in thread \"[^\"]*\" |Caused by: )?"
    r"((?:[a-z_$][\w$]*\.)+[A-Z][\w$]*(?:Exception|Error))(?::\s*(.*))?$"
)
_CN_RE = re.compile(r"(?:^|,)\s*CN=((?:[^,\\]|\\.)*)", re.I)


class ApksignerUnavailable(RuntimeError):
    """apksigner could not be run (not installed, or it did not finish in time)."""


@dataclass
class SignerInfo:
    """One signer as apksigner prints it: certificate subject DN and digests (lowercase hex)."""

    index: int
    subject: str = ""
    cert_sha256: str = ""
    cert_sha1: str = ""
    key_algorithm: str = ""
    key_size: int | None = None

    @property
    def common_name(self) -> str | None:
        """The CN of the subject DN, unescaped, or None."""
        m = _CN_RE.search(self.subject)
        return re.sub(r"\\(.)", r"\1", m.group(1)).strip() if m else None


@dataclass
class SignatureVerification:
    """Outcome of ``apksigner verify``.

    ``verified`` is apksigner's verdict (exit status 0). ``schemes`` maps ``"v1"``, ``"v2"``,
    ``"v3"``, ``"v4"`` (and ``"v3.1"`` on newer apksigner) to whether that scheme verified.
    ``errors``/``warnings`` are apksigner's ERROR/WARNING lines (or the Java exception messages).
    """

    verified: bool
    schemes: dict[str, bool] = field(default_factory=dict)
    signers: list[SignerInfo] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    exit_status: int = 0

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def reason(self) -> str:
        """apksigner's reason for refusing, one line per error (empty if it verified)."""
        return "; ".join(self.errors)


def parse_verify_output(stdout: str, stderr: str, exit_status: int) -> SignatureVerification:
    """Parse the text of ``apksigner verify --print-certs -v`` (see module docstring)."""
    result = SignatureVerification(verified=exit_status == 0, exit_status=exit_status)
    signers: dict[int, SignerInfo] = {}
    for raw in (stdout + "\n" + stderr).splitlines():
        line = raw.strip()
        if not line:
            continue
        if m := _SCHEME_RE.match(line):
            result.schemes[m.group(1).lower()] = m.group(2).lower() == "true"
        elif m := _SIGNER_RE.match(line):
            idx, what, value = int(m.group(1)), m.group(2).strip().lower(), m.group(3).strip()
            signer = signers.setdefault(idx, SignerInfo(index=idx))
            if what == "certificate dn":
                signer.subject = value
            elif what == "certificate sha-256 digest":
                signer.cert_sha256 = value.lower()
            elif what == "certificate sha-1 digest":
                signer.cert_sha1 = value.lower()
            elif what == "key algorithm":
                signer.key_algorithm = value
            elif what == "key size (bits)" and value.isdigit():
                signer.key_size = int(value)
        elif line.startswith("ERROR:"):
            result.errors.append(line[len("ERROR:") :].strip())
        elif line.startswith("WARNING:"):
            result.warnings.append(line[len("WARNING:") :].strip())
        elif m := _EXC_RE.match(line):
            message = (m.group(2) or m.group(1)).strip()
            if message not in result.errors:
                result.errors.append(message)
    result.signers = [signers[i] for i in sorted(signers)]
    if not result.verified and not result.errors:
        text = (stderr.strip() or stdout.strip()).splitlines()
        result.errors.append(text[-1] if text else f"apksigner exited with status {exit_status}")
    return result


def apksigner_version(apksigner: str = "apksigner") -> str:
    """``apksigner --version`` output (e.g. ``"0.9"``). Raises :class:`ApksignerUnavailable`."""
    try:
        proc = subprocess.run(
            [apksigner, "--version"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ApksignerUnavailable(f"cannot run {apksigner}: {exc}") from exc
    return proc.stdout.strip()


def verify_apk(path, *, apksigner: str = "apksigner", timeout: float = APKSIGNER_TIMEOUT):
    """Run ``apksigner verify --print-certs -v PATH`` and return a :class:`SignatureVerification`.

    Raises:
        ApksignerUnavailable: apksigner is missing or did not finish within ``timeout`` seconds.
    """
    cmd = [apksigner, "verify", "--print-certs", "-v", "--", str(path)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError as exc:
        raise ApksignerUnavailable(
            f"{apksigner} not found: install Debian's apksigner package"
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise ApksignerUnavailable(f"apksigner verify did not finish within {timeout} s") from exc
    return parse_verify_output(proc.stdout, proc.stderr, proc.returncode)
