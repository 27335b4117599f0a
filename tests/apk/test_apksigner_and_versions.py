"""apksigner output parsing on real runs, and the API level -> Android version table."""

import subprocess

import pytest

from fleet.apk.android_versions import (
    ANDROID_VERSIONS,
    android_name_for_api,
    android_version_for_api,
)
from fleet.apk.apksigner import verify_apk


def _raw(path):
    proc = subprocess.run(
        ["apksigner", "verify", "--print-certs", "-v", str(path)], capture_output=True, text=True
    )
    return proc


def test_verify_parses_signers_of_a_good_apk(apk_factory, signing_keys):
    apk = apk_factory.build(version_code=1, key="other")
    result = verify_apk(apk)
    raw = _raw(apk)
    assert result.verified and raw.returncode == 0
    assert len(result.signers) == 1
    signer = result.signers[0]
    assert signer.cert_sha256 == signing_keys["other"].cert_sha256
    assert signer.common_name == "Fleet Test other"
    assert signer.key_algorithm == "RSA" and signer.key_size == 2048
    assert f"certificate DN: {signer.subject}" in raw.stdout
    assert result.reason == ""


def test_verify_reports_java_exception_for_non_zip(apk_factory):
    truncated = apk_factory.truncated(apk_factory.build(version_code=1))
    result = verify_apk(truncated)
    raw = _raw(truncated)
    assert not result.verified and result.exit_status == raw.returncode != 0
    assert result.errors
    for message in result.errors:
        assert message in raw.stderr  # apksigner's own words, e.g. the missing EOCD record


def test_verify_path_starting_with_dash(apk_factory, tmp_path):
    odd = tmp_path / "-v.apk"
    odd.write_bytes(apk_factory.build(version_code=1).read_bytes())
    assert verify_apk(odd).verified


@pytest.mark.parametrize(
    "level, version", [(21, "5.0"), (23, "6.0"), (26, "8.0"), (28, "9"), (29, "10"), (34, "14")]
)
def test_api_level_to_android_version(level, version):
    assert android_version_for_api(level) == version


def test_api_table_is_ordered_and_complete():
    levels = sorted(ANDROID_VERSIONS)
    assert levels == list(range(1, levels[-1] + 1))
    versions = [tuple(int(p) for p in ANDROID_VERSIONS[lv][0].split(".")) for lv in levels]
    assert versions == sorted(versions)  # never goes backwards, always dotted integers
    assert android_name_for_api(32) == "Android 12L (Sv2)"
    for bad in (0, levels[-1] + 1, -3):
        with pytest.raises(ValueError):
            android_version_for_api(bad)
