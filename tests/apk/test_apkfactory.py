"""The APK factory makes what it claims: checked with aapt, apksigner and zipfile."""

import subprocess
import zipfile

from apkfactory import MiB, aapt_badging


def _verify(path):
    return subprocess.run(
        ["apksigner", "verify", "--print-certs", "-v", str(path)], capture_output=True, text=True
    )


def test_built_apk_has_requested_manifest_and_signer(apk_factory, signing_keys):
    apk = apk_factory.build(
        package="org.fleet.factorycheck",
        version_code=42,
        version_name="2.1.0",
        min_sdk=24,
        target_sdk=33,
        permissions=("android.permission.CAMERA", "android.permission.INTERNET"),
        debuggable=True,
        test_only=True,
        native_abis=("arm64-v8a",),
        key="other",
    )
    badging = aapt_badging(apk)
    assert badging["package"] == "org.fleet.factorycheck"
    assert badging["version_code"] == 42
    assert badging["version_name"] == "2.1.0"
    assert (badging["min_sdk"], badging["target_sdk"]) == (24, 33)
    assert badging["permissions"] == ["android.permission.CAMERA", "android.permission.INTERNET"]
    assert badging["debuggable"] and badging["test_only"]
    assert badging["native_abis"] == ["arm64-v8a"]
    proc = _verify(apk)
    assert proc.returncode == 0, proc.stderr
    assert signing_keys["other"].cert_sha256 in proc.stdout


def test_memoised_and_distinct(apk_factory):
    a = apk_factory.build(version_code=7)
    assert apk_factory.build(version_code=7) == a
    assert apk_factory.build(version_code=8) != a
    assert apk_factory.build(version_code=7, key="other") != a


def test_debug_key_subject(signing_keys):
    assert signing_keys["debug"].subject == "CN=Android Debug,O=Android,C=US"
    assert signing_keys["release"].cert_sha256 != signing_keys["other"].cert_sha256


def test_padding_reaches_size_and_is_stored(apk_factory):
    apk = apk_factory.build(version_code=3, padding_bytes=5 * MiB)
    assert 5 * MiB < apk.stat().st_size < 5 * MiB + 64 * 1024
    with zipfile.ZipFile(apk) as zf:
        assert zf.getinfo("assets/padding.bin").compress_type == zipfile.ZIP_STORED


def test_tampered_truncated_fail_verification(apk_factory):
    good = apk_factory.build(version_code=4)
    assert _verify(good).returncode == 0
    tampered = apk_factory.tampered(good)
    assert tampered.stat().st_size == good.stat().st_size
    assert _verify(tampered).returncode != 0
    truncated = apk_factory.truncated(good)
    assert truncated.stat().st_size == good.stat().st_size // 2
    assert _verify(truncated).returncode != 0
