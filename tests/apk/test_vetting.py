"""Vetting of real APKs built by aapt/zipalign/apksigner, as a user would upload them."""

import json
import subprocess
import time
import tracemalloc

import pytest
from apkfactory import MiB, aapt_badging, sha256_file

from fleet.apk.apksigner import ApksignerUnavailable
from fleet.apk.vetting import (
    CHECK_DEBUG_CERT,
    CHECK_MANIFEST,
    CHECK_SIGNATURE,
    CHECK_VERSION_NAME,
    CHECK_ZIP,
    FAIL,
    PASS,
    WARN,
    VettingReport,
    check_debug_cert,
    check_signer_pin,
    check_version_code,
    check_version_name,
    devices_below_min_sdk,
    vet_apk,
)
from fleet.apk.zipcheck import ZipLimits


def apksigner_errors(path):
    """What apksigner itself says about ``path`` (the reference for refusal reasons)."""
    proc = subprocess.run(
        ["apksigner", "verify", "--print-certs", "-v", str(path)], capture_output=True, text=True
    )
    assert proc.returncode != 0
    lines = (proc.stdout + proc.stderr).splitlines()
    return [ln[len("ERROR:") :].strip() for ln in lines if ln.startswith("ERROR:")]


def status(report, name):
    check = report.get(name)
    assert check is not None, f"no {name} check in {[c.name for c in report.checks]}"
    return check.status


# -- good APKs ------------------------------------------------------------------------------------


def test_good_v2_v3_apk_passes_and_records_schemes(apk_factory, signing_keys):
    apk = apk_factory.build(package="com.dhis2", version_code=30401, version_name="3.4.1",
                            min_sdk=24, v1=False, v2=True, v3=True)  # fmt: skip
    report = vet_apk(apk)
    assert report.ok, report.reasons
    assert report.sha256 == sha256_file(apk)
    assert report.size == apk.stat().st_size
    assert report.signature.schemes["v1"] is False
    assert report.signature.schemes["v2"] is True
    assert report.signature.schemes["v3"] is True
    assert report.signer_sha256 == signing_keys["release"].cert_sha256
    assert report.signer.subject.replace(", ", ",") == signing_keys["release"].subject
    assert status(report, CHECK_SIGNATURE) == PASS
    assert status(report, CHECK_DEBUG_CERT) == PASS
    assert status(report, CHECK_VERSION_NAME) == PASS
    # The report survives JSON and comes back equal.
    data = json.loads(json.dumps(report.to_dict()))
    assert data["ok"] is True
    assert VettingReport.from_dict(data).to_dict() == report.to_dict()


def test_v1_only_apk_records_v1_and_warns(apk_factory, signing_keys):
    # targetSdk 29: Android 11 (API 30) and later require v2+ for apps targeting 30+.
    apk = apk_factory.build(version_code=2, target_sdk=29, v1=True, v2=False, v3=False)
    report = vet_apk(apk)
    assert report.ok, report.reasons
    assert report.signature.schemes["v1"] is True
    assert report.signature.schemes["v2"] is False
    assert report.signature.schemes["v3"] is False
    assert status(report, CHECK_SIGNATURE) == WARN
    assert report.signer_sha256 == signing_keys["release"].cert_sha256


def test_v1_only_with_target_sdk_30_plus_is_refused_with_apksigner_reason(apk_factory):
    apk = apk_factory.build(version_code=2, target_sdk=34, v1=True, v2=False, v3=False)
    report = vet_apk(apk)
    assert not report.ok
    assert status(report, CHECK_SIGNATURE) == FAIL
    for err in apksigner_errors(apk):
        assert err in report.get(CHECK_SIGNATURE).reason


def test_v2_only_with_min_sdk_23_is_refused(apk_factory):
    # Android 6.0 (API 23) checks only JAR (v1) signatures, so apksigner requires one.
    apk = apk_factory.build(version_code=2, min_sdk=23, v1=False, v2=True, v3=True)
    report = vet_apk(apk)
    assert status(report, CHECK_SIGNATURE) == FAIL
    assert apksigner_errors(apk)[0] in report.reasons[0]


# -- bad APKs -------------------------------------------------------------------------------------


@pytest.mark.parametrize("schemes", [(True, True, True), (False, True, True)])
def test_tampered_apk_refused_with_apksigner_reason(apk_factory, schemes):
    v1, v2, v3 = schemes
    good = apk_factory.build(version_code=5, min_sdk=24, v1=v1, v2=v2, v3=v3)
    tampered = apk_factory.tampered(good)
    report = vet_apk(tampered)
    assert not report.ok
    assert status(report, CHECK_ZIP) == PASS  # the ZIP itself is sound
    check = report.get(CHECK_SIGNATURE)
    assert check.status == FAIL
    errors = apksigner_errors(tampered)
    assert errors and all(e in check.reason for e in errors)
    assert report.signer_sha256 is None


def test_tampered_v1_only_refused(apk_factory):
    good = apk_factory.build(version_code=6, target_sdk=29, v1=True, v2=False, v3=False)
    report = vet_apk(apk_factory.tampered(good))
    assert status(report, CHECK_SIGNATURE) == FAIL
    assert "assets/fleet-test.txt" in report.get(CHECK_SIGNATURE).reason


def test_unsigned_apk_refused(apk_factory):
    apk = apk_factory.unsigned(version_code=7)
    report = vet_apk(apk)
    assert status(report, CHECK_MANIFEST) == PASS
    assert status(report, CHECK_SIGNATURE) == FAIL
    assert apksigner_errors(apk)[0] in report.get(CHECK_SIGNATURE).reason


def test_truncated_apk_refused_before_parsing(apk_factory):
    apk = apk_factory.truncated(apk_factory.build(version_code=8, padding_bytes=MiB))
    report = vet_apk(apk)
    assert not report.ok
    assert status(report, CHECK_ZIP) == FAIL
    assert "not a readable ZIP" in report.reasons[0]
    assert report.manifest is None and report.signature is None


def test_zip_bomb_refused_before_expansion(apk_factory):
    bomb = apk_factory.zip_bomb("ratio", uncompressed_bytes=1024 * MiB)
    assert bomb.stat().st_size < 5 * MiB  # 1 GiB of zeros on disk in about 1 MB
    tracemalloc.start()
    started = time.perf_counter()
    report = vet_apk(bomb)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert not report.ok
    assert status(report, CHECK_ZIP) == FAIL
    assert "assets/bomb.bin" in report.reasons[0] and "ZIP bomb" in report.reasons[0]
    # Nothing inflated it: no manifest parse, no apksigner run, little memory, little time.
    assert report.manifest is None and report.signature is None
    assert peak < 16 * MiB, peak
    assert elapsed < 2.0, elapsed


def test_bomb_with_lying_headers_is_not_inflated(apk_factory):
    # Headers say AndroidManifest.xml is 4 KiB; its data inflates to 64 MiB.
    liar = apk_factory.lying_manifest(inflated_bytes=64 * MiB, declared_bytes=4096)
    tracemalloc.start()
    report = vet_apk(liar)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert status(report, CHECK_ZIP) == PASS  # the declared sizes look harmless
    assert status(report, CHECK_MANIFEST) == FAIL
    assert "CRC" in report.get(CHECK_MANIFEST).reason
    assert status(report, CHECK_SIGNATURE) == FAIL
    raw = subprocess.run(["apksigner", "verify", str(liar)], capture_output=True, text=True)
    assert report.signature.errors
    assert all(e in raw.stdout + raw.stderr for e in report.signature.errors)
    assert peak < 8 * MiB, peak


def test_entry_count_bomb_refused(apk_factory):
    bomb = apk_factory.zip_bomb("entries", entries=25_000)
    report = vet_apk(bomb)
    assert status(report, CHECK_ZIP) == FAIL
    assert report.zip.entries > 25_000
    assert f"{report.zip.entries} entries, more than the limit of 20000" in report.reasons[0]


def test_total_uncompressed_limit(apk_factory):
    apk = apk_factory.build(version_code=9, padding_bytes=3 * MiB)
    assert vet_apk(apk).ok
    report = vet_apk(apk, limits=ZipLimits(max_total_uncompressed=2 * MiB))
    assert status(report, CHECK_ZIP) == FAIL
    assert "more than the limit of 2097152 bytes" in report.reasons[0]


def test_not_a_zip_at_all(tmp_path):
    fake = tmp_path / "app.apk"
    fake.write_bytes(b"MZ" + b"\x00" * 4096)  # a Windows executable renamed .apk
    report = vet_apk(fake)
    assert status(report, CHECK_ZIP) == FAIL


# -- certificate and DHIS2 rules ------------------------------------------------------------------


def test_debug_certificate_flagged(apk_factory, signing_keys):
    apk = apk_factory.build(version_code=10, key="debug")
    report = vet_apk(apk)
    assert report.ok  # a warning until the target channel is known
    check = report.get(CHECK_DEBUG_CERT)
    assert check.status == WARN
    assert "CN=Android Debug" in check.reason
    assert report.signer_sha256 == signing_keys["debug"].cert_sha256
    assert check_debug_cert(report, channel_is_test=False).status == FAIL
    assert check_debug_cert(report, channel_is_test=True).status == WARN
    release = vet_apk(apk_factory.build(version_code=10))
    assert release.get(CHECK_DEBUG_CERT).status == PASS
    assert check_debug_cert(release, channel_is_test=False).status == PASS


@pytest.mark.parametrize(
    "package, version_name, expected",
    [
        ("com.dhis2", "3.4.1", PASS),
        ("com.dhis2", "v3.4.0", FAIL),
        ("com.dhis2", "3.4.0-rc1", FAIL),
        ("com.dhis2.training", "3.4.0 beta", FAIL),
        ("com.dhis2.training", "2.10", PASS),
        ("org.example.other", "v1-whatever", PASS),
    ],
)
def test_dhis2_version_name_rule_on_real_apks(apk_factory, package, version_name, expected):
    apk = apk_factory.build(package=package, version_code=11, version_name=version_name)
    report = vet_apk(apk)
    assert report.manifest.version_name == version_name
    assert status(report, CHECK_VERSION_NAME) == expected
    assert report.ok is (expected == PASS)


def test_dhis2_version_name_rule_edge_cases():
    assert check_version_name("com.dhis2", None).status == FAIL
    assert check_version_name("com.dhis2", "３.4.1").status == FAIL  # full-width digit
    assert check_version_name("com.dhis2", "3..4").status == FAIL
    assert check_version_name("com.dhis2", "3.4.").status == FAIL
    assert check_version_name("com.dhis2x", "v1").status == PASS  # another vendor's package


# -- manifest equals aapt dump badging ------------------------------------------------------------


MANIFEST_VARIANTS = [
    dict(package="com.dhis2", version_code=3040100, version_name="3.4.1", min_sdk=23,
         target_sdk=34, permissions=("android.permission.CAMERA",
                                     "android.permission.ACCESS_FINE_LOCATION")),
    dict(package="org.fleet.flags", version_code=1, version_name="0.1", min_sdk=21,
         target_sdk=28, debuggable=True, test_only=True, native_abis=("arm64-v8a", "x86_64")),
    dict(package="org.fleet.res", version_code=77, version_name="7.7.7",
         version_name_resource=True, native_abis=("armeabi-v7a",)),
    dict(package="org.fleet.noname", version_code=2147483647, version_name=None, min_sdk=26,
         target_sdk=26),
]  # fmt: skip


@pytest.mark.parametrize("spec", MANIFEST_VARIANTS, ids=lambda s: s["package"])
def test_manifest_fields_equal_aapt_badging(apk_factory, spec):
    apk = apk_factory.build(**spec)
    expected = aapt_badging(apk)
    got = vet_apk(apk).manifest
    assert got is not None
    assert got.package == expected["package"]
    assert got.version_code == expected["version_code"]
    assert got.version_name == expected["version_name"]
    assert got.min_sdk == expected["min_sdk"]
    assert got.target_sdk == expected["target_sdk"]
    assert got.permissions == expected["permissions"]
    assert got.debuggable == expected["debuggable"]
    assert got.test_only == expected["test_only"]
    assert got.native_abis == sorted(expected["native_abis"])


# -- policy checks fed by the database ------------------------------------------------------------


def test_signer_pin(apk_factory, signing_keys):
    release = vet_apk(apk_factory.build(version_code=20))
    other = vet_apk(apk_factory.build(version_code=21, key="other"))
    pin = signing_keys["release"].cert_sha256
    assert check_signer_pin(release, None).status == PASS
    assert check_signer_pin(release, pin).status == PASS
    assert check_signer_pin(release, pin.upper()).status == PASS
    refused = check_signer_pin(other, pin)
    assert refused.status == FAIL
    assert signing_keys["other"].cert_sha256 in refused.reason
    tampered = vet_apk(apk_factory.tampered(apk_factory.build(version_code=20)))
    assert check_signer_pin(tampered, pin).status == FAIL


def test_version_code_against_approved(apk_factory):
    report = vet_apk(apk_factory.build(version_code=100))
    assert check_version_code(report, None).status == PASS
    assert check_version_code(report, 99).status == PASS
    assert check_version_code(report, 100).status == FAIL
    downgrade = vet_apk(apk_factory.build(version_code=50))
    assert check_version_code(downgrade, 100).status == FAIL
    report.add(check_version_code(downgrade, 100))
    assert not report.ok


def test_devices_below_min_sdk(apk_factory):
    report = vet_apk(apk_factory.build(version_code=3, min_sdk=26))
    devices = [(1, 23), (2, 26), (3, 34), (4, None), (5, 25)]
    check = devices_below_min_sdk(report, devices)
    assert check.status == WARN
    assert check.details["device_ids"] == [1, 5]
    assert check.details["unknown_api_level"] == [4]
    assert check.details["android_version"] == "Android 8.0"
    assert "2 of 5" in check.reason
    assert devices_below_min_sdk(report, [(2, 26), (3, 30)]).status == PASS
    report.add(check)
    assert report.ok  # a warning, not a refusal


def test_missing_apksigner_is_an_environment_error(apk_factory, tmp_path):
    apk = apk_factory.build(version_code=1)
    with pytest.raises(ApksignerUnavailable, match="not found"):
        vet_apk(apk, apksigner=str(tmp_path / "no-such-apksigner"))


@pytest.mark.slow
def test_vetting_a_50_mb_apk(apk_factory):
    apk = apk_factory.build(version_code=50, padding_bytes=50 * MiB)
    tracemalloc.start()
    started = time.perf_counter()
    report = vet_apk(apk)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert report.ok, report.reasons
    print(f"vetted {apk.stat().st_size} bytes in {elapsed:.2f} s, Python peak {peak} bytes")
    assert peak < 8 * MiB  # the file is never held in memory
