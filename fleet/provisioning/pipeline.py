"""The per-phone pipeline: idempotent steps over ADB, run in a worker thread.

Nothing here touches the database: a :class:`Plan` (plain data built by
:mod:`fleet.provisioning.runs` from the profile, the releases and the inventory) goes in, and
:class:`StepEvent` objects come out through ``emit``; the coordinator records them. Each step
may be run again on the same phone without harm (the install skips a package already at the
release's versionCode, the PIN step checks the PIN before setting it...), so a phone that failed
or was unplugged resumes at the step where it stopped.

Step outcomes: ``ok``, ``warn`` (done, with something the technician should read), ``skipped``,
``failed`` (the phone needs a person; :attr:`StepEvent.error` says what), ``gone`` (the phone or
the station went away mid-step).
"""

from __future__ import annotations

import hashlib
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from fleet.provisioning.adb import AdbError, AdbUnavailable, Phone, PhoneGone

#: Steps the worker runs; ``record`` is the coordinator's (one DB transaction).
WORKER_STEPS = ("preflight", "install", "settings", "pin", "permissions", "verify")

#: Play Store package (Google Play Store's applicationId).
PLAY_STORE = "com.android.vending"

#: ``pm install`` failure codes (AOSP ``PackageManager.INSTALL_FAILED_*``) -> what to do.
INSTALL_ERRORS = {
    "INSTALL_FAILED_VERSION_DOWNGRADE": (
        "the phone has a newer version of {package} than this release; Android refuses "
        "downgrades. Sync and uninstall the app on the phone, or use a newer release."),
    "INSTALL_FAILED_UPDATE_INCOMPATIBLE": (
        "{package} on the phone is signed with a different certificate; Android refuses the "
        "update. Sync its data, uninstall it on the phone, then resume."),
    "INSTALL_FAILED_OLDER_SDK": (
        "the phone's Android is older than {package}'s minSdk; this phone cannot run it."),
    "INSTALL_FAILED_INSUFFICIENT_STORAGE": (
        "not enough free storage on the phone for {package}; free space, then resume."),
    "INSTALL_FAILED_ALREADY_EXISTS": "{package} is already installed and may not be replaced.",
    "INSTALL_PARSE_FAILED_NO_CERTIFICATES": "the APK of {package} is not signed.",
    "INSTALL_FAILED_INVALID_APK": "the APK of {package} is damaged or not an APK.",
    "INSTALL_FAILED_TEST_ONLY": "the APK of {package} is a test-only build.",
}


class StepFailed(Exception):
    """A step refused the phone. ``output`` keeps what the phone said (already redacted)."""

    def __init__(self, message: str, output: str = ""):
        super().__init__(message)
        self.output = output


@dataclass(frozen=True)
class ApkPlan:
    """One APK to install: from a vetted release (``fleet.apk.models.Release``)."""

    package: str
    version_code: int
    version_name: str | None
    path: str
    sha256: str
    signer_sha256: str | None
    min_sdk: int | None
    size: int


@dataclass
class Plan:
    """What to do to one phone (data only). ``pin`` is the plain PIN to set (policy profile or
    random), never logged: every output passes :func:`redact` with it."""

    apks: list[ApkPlan] = field(default_factory=list)
    pin: str | None = None
    #: PINs fleet set on this phone before (the lock it may already have), tried as ``--old``.
    old_pins: list[str] = field(default_factory=list)
    require_encryption: bool = False
    settings: list[tuple[str, str, str]] = field(default_factory=list)
    play_store: str = "leave"
    permissions: list[tuple[str, str]] = field(default_factory=list)
    min_api_level: int | None = None
    min_ram_mb: int | None = None
    min_free_storage_mb: int | None = None
    min_battery: int | None = None
    #: Capacity verdict computed by the coordinator: (verdict, message), and warn|block|off.
    capacity: tuple[str, str] | None = None
    capacity_check: str = "warn"

    @property
    def secrets(self) -> list[str]:
        return [p for p in [self.pin, *self.old_pins] if p]


@dataclass
class StepEvent:
    """What a worker reports: ``kind`` is ``step`` (one step finished), ``facts`` (the
    phone's readings after preflight) or ``end`` (the pipeline stopped: ``status`` ``done``
    when verify passed, else the failing step's status)."""

    kind: str
    adb_serial: str
    step: str | None = None
    status: str | None = None
    output: str = ""
    error: str | None = None
    duration_s: float = 0.0
    facts: dict | None = None
    installed: list[dict] | None = None


def redact(text: str, secrets: list[str]) -> str:
    """``text`` with every secret replaced by ``****`` (PINs must never reach a record)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "****")
    return text


def probe(phone: Phone) -> dict:
    """What the phone reports about itself: ``serial`` (ro.serialno), ``imei``,
    ``manufacturer``, ``model``, ``android_version``, ``api_level``, ``security_patch``,
    ``ram_mb`` (MemTotal, MiB), ``free_storage_mb`` (df /data, MiB), ``battery`` (%),
    ``crypto_state``/``crypto_type``, ``rooted``, ``debuggable``, ``packages``
    (``{package: versionCode}``). Raises PhoneGone/AdbUnavailable."""
    props = phone.getprops()
    api = props.get("ro.build.version.sdk", "")
    return {
        "serial": props.get("ro.serialno") or phone.adb_serial,
        "imei": phone.imei(),
        "manufacturer": props.get("ro.product.manufacturer", ""),
        "model": props.get("ro.product.model", ""),
        "android_version": props.get("ro.build.version.release", ""),
        "api_level": int(api) if api.isdigit() else None,
        "security_patch": props.get("ro.build.version.security_patch", ""),
        "ram_mb": phone.ram_mb(),
        "free_storage_mb": phone.free_storage_mb(),
        "battery": phone.battery_level(),
        "crypto_state": props.get("ro.crypto.state", ""),
        "crypto_type": props.get("ro.crypto.type", ""),
        "rooted": phone.is_rooted(),
        "debuggable": props.get("ro.debuggable") == "1",
        "packages": phone.packages(),
    }


def _facts_line(f: dict) -> str:
    return (f"{f['manufacturer']} {f['model']}, Android {f['android_version']} "
            f"(API {f['api_level']}), RAM {f['ram_mb']} MiB, free {f['free_storage_mb']} MiB, "
            f"battery {f['battery']}%, crypto {f['crypto_state'] or 'unknown'}"
            f"{'/' + f['crypto_type'] if f['crypto_type'] else ''}, "
            f"root {'yes' if f['rooted'] else 'no'}")


def step_preflight(phone: Phone, plan: Plan, ctx: dict) -> tuple[str, str]:
    facts = probe(phone)
    ctx["facts"] = facts
    out = _facts_line(facts)
    problems = []
    warnings = []
    api = facts["api_level"] or 0
    need_api = max([a.min_sdk or 0 for a in plan.apks] + [plan.min_api_level or 0])
    if api < need_api:
        which = [a.package for a in plan.apks if (a.min_sdk or 0) > api]
        problems.append(
            f"Android API {api} is below the required {need_api}"
            + (f" (minSdk of {', '.join(which)})" if which else " (profile minimum)"))
    if plan.min_ram_mb and (facts["ram_mb"] or 0) < plan.min_ram_mb:
        problems.append(f"RAM {facts['ram_mb']} MiB is below the profile minimum "
                        f"{plan.min_ram_mb} MiB")
    need_free = plan.min_free_storage_mb or 0
    to_install = [a for a in plan.apks if facts["packages"].get(a.package) != a.version_code]
    # Android stages the APK and extracts/compiles it: ask for twice its size free.
    need_free = max(need_free, sum(2 * a.size for a in to_install) // (1024 * 1024) + 1
                    if to_install else 0)
    if facts["free_storage_mb"] is not None and facts["free_storage_mb"] < need_free:
        problems.append(f"free storage {facts['free_storage_mb']} MiB is below the "
                        f"{need_free} MiB needed")
    if plan.min_battery and (facts["battery"] or 0) < plan.min_battery:
        problems.append(f"battery {facts['battery']}% is below {plan.min_battery}%: charge it")
    if facts["rooted"]:
        problems.append("the phone is rooted (su present); the DHIS2 Capture app refuses "
                        "rooted phones")
    if plan.require_encryption and facts["crypto_state"] != "encrypted":
        problems.append(f"storage is not encrypted (ro.crypto.state="
                        f"{facts['crypto_state'] or 'unset'}); encrypt it in Settings > "
                        "Security first")
    for a in plan.apks:
        have = facts["packages"].get(a.package)
        if have is not None and have > a.version_code:
            warnings.append(f"{a.package} versionCode {have} on the phone is newer than the "
                            f"release ({a.version_code}): the install will be refused")
    if plan.capacity is not None:
        verdict, message = plan.capacity
        out += f"\ncapacity: {verdict} {message}".rstrip()
        if verdict == "insufficient" and plan.capacity_check == "block":
            problems.append(f"capacity check: {message or verdict}")
        elif verdict in ("insufficient", "marginal", "unknown"):
            warnings.append(f"capacity {verdict}: {message}".rstrip(": "))
    if problems:
        raise StepFailed("; ".join(problems), out)
    if warnings:
        return "warn", out + "\n" + "\n".join(warnings)
    return "ok", out


def install_message(output: str, package: str) -> str:
    m = re.search(r"(INSTALL_[A-Z_]+)", output)
    code = m.group(1) if m else None
    hint = INSTALL_ERRORS.get(code or "", "the package manager refused {package}.")
    return f"{code or 'install failed'}: " + hint.format(package=package)


def step_install(phone: Phone, plan: Plan, ctx: dict) -> tuple[str, str]:
    installed = phone.packages()
    lines = []
    for apk in plan.apks:
        if installed.get(apk.package) == apk.version_code:
            lines.append(f"{apk.package} {apk.version_code} already installed")
            continue
        t0 = time.monotonic()
        res = phone.install(apk.path, flags=("-r",))
        secs = time.monotonic() - t0
        if not res.ok:
            raise StepFailed(install_message(res.output, apk.package),
                             "\n".join(lines + [res.output.strip()]))
        lines.append(f"{apk.package} {apk.version_name or ''} ({apk.version_code}): "
                     f"{res.output.strip()} in {secs:.1f} s, "
                     f"{apk.size / 1e6 / max(secs, 1e-6):.1f} MB/s")
    return "ok", "\n".join(lines) or "nothing to install"


def step_settings(phone: Phone, plan: Plan, ctx: dict) -> tuple[str, str]:
    lines = []
    status = "ok"
    for namespace, key, value in plan.settings:
        phone.settings_put(namespace, key, value)
        got = phone.settings_get(namespace, key)
        if got != str(value):
            raise StepFailed(f"setting {namespace}/{key} reads back {got!r}, not {value!r}")
        lines.append(f"{namespace} {key}={got}")
    if plan.play_store == "disabled":
        res = phone.disable_package(PLAY_STORE)
        if res.ok or "not found" in res.output.lower() or "unknown package" in res.output.lower():
            lines.append(f"Play Store: {res.output.strip() or 'disabled'}")
        else:
            raise StepFailed(f"cannot disable the Play Store: {res.output.strip()}")
    elif plan.play_store == "no_auto_update":
        status = "warn"
        lines.append("Play Store auto-update is a preference of the Play Store app that adb "
                     "cannot set without root: turn it off by hand, or use the 'disabled' "
                     "policy")
    return status, "\n".join(lines) or "no settings in the profile"


def step_pin(phone: Phone, plan: Plan, ctx: dict) -> tuple[str, str]:
    if not plan.pin:
        return "skipped", "PIN policy: none"
    if phone.verify_pin(plan.pin):
        return "ok", "screen-lock PIN already set"
    res = phone.set_pin(plan.pin)
    for old in plan.old_pins:
        if res.ok or "didn't match" not in res.output:
            break
        res = phone.set_pin(plan.pin, old=old)
    out = redact(res.output.strip(), plan.secrets)
    if not res.ok:
        if "didn't match" in res.output or "Old password" in res.output:
            raise StepFailed("the phone already has a screen lock this profile did not set; "
                             "remove it on the phone (Settings > Security), then resume", out)
        raise StepFailed("locksettings set-pin failed", out)
    return "ok", out


def step_permissions(phone: Phone, plan: Plan, ctx: dict) -> tuple[str, str]:
    lines = []
    for package, permission in plan.permissions:
        res = phone.grant(package, permission)
        if not res.ok:
            raise StepFailed(f"pm grant {package} {permission} failed: "
                             f"{res.output.strip()[:300]}", res.output)
        lines.append(f"granted {permission} to {package}")
    return ("ok", "\n".join(lines)) if lines else ("skipped", "no permissions in the profile")


def _signer_of(path: Path) -> str | None:
    from fleet.apk.apksigner import verify_apk

    result = verify_apk(path)
    signers = getattr(result, "signers", None) or []
    return signers[0].cert_sha256 if signers else None


def step_verify(phone: Phone, plan: Plan, ctx: dict) -> tuple[str, str]:
    """Read back versionCode, signer (SHA-256 of the installed base.apk's certificate: the file
    is pulled via ``pm path``; identical bytes to the vetted release prove the same signer),
    lock state and encryption. A failure names the step to resume at (``ctx['resume']``)."""
    lines = []
    installed = phone.packages()
    records = []
    for apk in plan.apks:
        have = installed.get(apk.package)
        if have != apk.version_code:
            ctx["resume"] = "install"
            raise StepFailed(f"{apk.package} versionCode on the phone is {have}, expected "
                             f"{apk.version_code}")
        remote = phone.pm_path(apk.package)
        if not remote:
            ctx["resume"] = "install"
            raise StepFailed(f"pm path {apk.package} gives no APK path")
        with tempfile.TemporaryDirectory(prefix="fleet-verify-") as tmp:
            local = Path(tmp) / "base.apk"
            phone.pull(remote, local)
            digest = hashlib.sha256()
            with open(local, "rb") as fh:
                while chunk := fh.read(1024 * 1024):
                    digest.update(chunk)
            if digest.hexdigest() == apk.sha256:
                signer = apk.signer_sha256
                how = "same bytes as the vetted release"
            else:
                signer = _signer_of(local)
                how = "signer read with apksigner"
        if apk.signer_sha256 and signer != apk.signer_sha256:
            ctx["resume"] = "install"
            raise StepFailed(f"{apk.package} on the phone is signed by {signer or 'unknown'}, "
                             f"not the release signer {apk.signer_sha256}")
        lines.append(f"{apk.package} versionCode {have}, signer {str(signer)[:16]}… ({how})")
        records.append({"package": apk.package, "version_code": apk.version_code,
                        "version_name": apk.version_name, "signer_sha256": signer})
    if plan.pin:
        if not phone.verify_pin(plan.pin):
            ctx["resume"] = "pin"
            raise StepFailed("the screen-lock PIN does not verify")
        lines.append("screen-lock PIN verified")
    state, kind = phone.crypto()
    if plan.require_encryption and state != "encrypted":
        ctx["resume"] = "preflight"
        raise StepFailed(f"storage not encrypted (ro.crypto.state={state or 'unset'})")
    lines.append(f"encryption: {state or 'unknown'}{'/' + kind if kind else ''}")
    ctx["installed"] = records
    return "ok", "\n".join(lines)


STEP_FUNCTIONS: dict[str, Callable[[Phone, Plan, dict], tuple[str, str]]] = {
    "preflight": step_preflight,
    "install": step_install,
    "settings": step_settings,
    "pin": step_pin,
    "permissions": step_permissions,
    "verify": step_verify,
}


def run_pipeline(client, adb_serial: str, plan: Plan, start: str | None,
                 emit: Callable[[StepEvent], None]) -> None:
    """Run the worker steps from ``start`` (None: the first) on one phone, reporting each
    step through ``emit``; ends with one ``end`` event. Never raises."""
    steps = WORKER_STEPS[WORKER_STEPS.index(start):] if start in WORKER_STEPS else WORKER_STEPS
    if "preflight" not in steps:
        steps = ("preflight", *steps)  # always re-read the phone: it may have changed
    ctx: dict = {}
    try:
        phone = Phone(client, adb_serial)
    except Exception as exc:  # pragma: no cover - adbutils builds the handle lazily
        emit(StepEvent("end", adb_serial, steps[0], "gone", error=str(exc)))
        return
    for step in steps:
        t0 = time.monotonic()
        try:
            status, output = STEP_FUNCTIONS[step](phone, plan, ctx)
        except StepFailed as exc:
            emit(StepEvent("step", adb_serial, step, "failed",
                           redact(exc.output, plan.secrets), redact(str(exc), plan.secrets),
                           time.monotonic() - t0, facts=ctx.get("facts")))
            emit(StepEvent("end", adb_serial, ctx.get("resume", step), "failed",
                           error=redact(str(exc), plan.secrets)))
            return
        except (PhoneGone, AdbUnavailable) as exc:
            what = ("station lost (adb server or SSH tunnel down)"
                    if isinstance(exc, AdbUnavailable) else "phone disconnected")
            msg = redact(f"{what} during {step}: {exc}", plan.secrets)
            emit(StepEvent("step", adb_serial, step, "gone", "", msg, time.monotonic() - t0))
            emit(StepEvent("end", adb_serial, step, "gone", error=msg))
            return
        except (AdbError, OSError, Exception) as exc:  # a bug or an unexpected answer
            msg = redact(f"{type(exc).__name__}: {exc}", plan.secrets)
            emit(StepEvent("step", adb_serial, step, "failed", "", msg, time.monotonic() - t0))
            emit(StepEvent("end", adb_serial, step, "failed", error=msg))
            return
        emit(StepEvent("step", adb_serial, step, status, redact(output, plan.secrets), None,
                       time.monotonic() - t0, facts=ctx.get("facts") if step == "preflight"
                       else None))
    emit(StepEvent("end", adb_serial, "record", "done", installed=ctx.get("installed", [])))
