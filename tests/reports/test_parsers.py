"""Parsers on real, rendered (simulator, AOSP formats) and constructed fixtures; see
fixtures/SOURCES.md for which is which."""

import pytest

from fleet.reports import parsers as p

VERSIONS = ("android8_samsung", "android10_samsung", "android12_xiaomi", "android14_google",
            "android14_samsung")


def test_battery_real_skia(fixture_text):
    got = p.parse_battery(fixture_text("real/battery_pre13_skia_lab.txt"))
    assert got == {"battery_level": 94, "battery_health": "good",
                   "battery_temperature_c": 28.0, "battery_status": "charging",
                   "battery_charging": True}


def test_battery_real_wireless_full(fixture_text):
    got = p.parse_battery(fixture_text("real/battery_wireless_full_gridea.txt"))
    assert got["battery_level"] == 100
    assert got["battery_status"] == "full"
    assert got["battery_charging"] is True  # wireless charger online
    assert got["battery_temperature_c"] == 35.0


def test_battery_samsung_vendor_lines_ignored(fixture_text):
    got = p.parse_battery(fixture_text("constructed/battery_samsung_vendor_lines.txt"))
    # "charge counter" and "current now" vendor lines must not shadow AOSP ones.
    assert got["battery_level"] == 67 and got["battery_temperature_c"] == 30.3
    assert got["battery_health"] == "good"


def test_battery_scale_and_missing_temperature(fixture_text):
    got = p.parse_battery(fixture_text("constructed/battery_scale_50_no_temperature.txt"))
    assert got["battery_level"] == 20  # 10 of 50
    assert got["battery_temperature_c"] is None  # unknown, not 0
    assert got["battery_health"] == "dead"


@pytest.mark.parametrize("version", VERSIONS)
def test_rendered_matrix(fixture_text, version):
    """Every parser on each Android version/vendor the simulator renders."""
    props = p.parse_getprop(fixture_text(f"rendered/{version}_getprop.txt"))
    facts = p.device_facts(props)
    api = {"android8": 27, "android10": 29, "android12": 31, "android14": 34}[
        version.split("_")[0]]
    assert facts["api_level"] == api
    assert facts["crypto_state"] == "encrypted"
    assert facts["security_patch"] and len(facts["security_patch"]) == 10
    battery = p.parse_battery(fixture_text(f"rendered/{version}_battery.txt"))
    assert None not in battery.values()
    mem = p.parse_meminfo(fixture_text(f"rendered/{version}_meminfo.txt"))
    assert 0 < mem["ram_available_mb"] < mem["ram_total_mb"]
    df = p.parse_df(fixture_text(f"rendered/{version}_df.txt"))
    df_h = p.parse_df(fixture_text(f"rendered/{version}_df_h.txt"))
    assert 0 < df["storage_free_mb"] <= df["storage_total_mb"]
    # -h rounds to 2-3 significant digits: within 5 % of the 1K-block figures.
    assert abs(df_h["storage_total_mb"] - df["storage_total_mb"]) <= df["storage_total_mb"] * .05
    pkg = p.parse_dumpsys_package(fixture_text(f"rendered/{version}_package_com.dhis2.txt"))
    listed = p.parse_pm_list_versions(fixture_text(f"rendered/{version}_pm_list.txt"))
    assert pkg["version_code"] == listed["com.dhis2"]
    assert pkg["version_name"].startswith("2.9.")
    assert (pkg["min_sdk"] is None) == (api < 28)  # minSdk printed from Android 9
    assert p.parse_app_pss_kb(fixture_text(f"rendered/{version}_app_meminfo.txt")) >= 180000
    assert p.parse_uptime_s(fixture_text(f"rendered/{version}_uptime.txt")) > 0
    iccid = p.clean_iccid(p.parse_parcel_string(fixture_text(f"rendered/{version}_iccid.txt")))
    assert iccid is not None and iccid.startswith("89")


def test_getprop_real_xiaomi_falls_back_to_partition_props(fixture_text):
    facts = p.device_facts(p.parse_getprop(fixture_text("real/getprop_android12_xiaomi_12x.txt")))
    assert facts["api_level"] == 31  # from ro.system/product.build.version.sdk
    assert facts["android_version"] == "12"
    assert facts["security_patch"] == "2022-06-01"  # ro.vendor.build.security_patch
    assert facts["crypto_state"] == "encrypted"
    assert facts["manufacturer"] == "Xiaomi" and facts["model"] == "2112123AG"


def test_getprop_real_google(fixture_text):
    props = p.parse_getprop(fixture_text("real/getprop_android16_google_pixel8pro.txt"))
    facts = p.device_facts(props)
    assert facts["manufacturer"] == "Google"
    assert facts["crypto_state"] == props["ro.crypto.state"]
    assert facts["api_level"] is None or facts["api_level"] >= 34


def test_app_meminfo_formats(fixture_text):
    assert p.parse_app_pss_kb(fixture_text("real/app_meminfo_launcher3_gracker.txt")) == 105529
    assert p.parse_app_pss_kb(fixture_text("real/app_meminfo_old_phone_maku77.txt")) == 7958
    assert p.parse_app_pss_kb(fixture_text("constructed/app_meminfo_android9_total.txt")) \
        == 121712
    # A cut dump and an app that is not running are unknown, not zero.
    assert p.parse_app_pss_kb(fixture_text("real/app_meminfo_systemui_truncated_perfetto.txt")) \
        is None
    assert p.parse_app_pss_kb(fixture_text("constructed/app_meminfo_not_running.txt")) is None


def test_df_variants(fixture_text):
    assert p.parse_df(fixture_text("constructed/df_busybox_wrapped.txt")) == {
        "storage_total_mb": 5722, "storage_free_mb": 1609}
    toolbox = p.parse_df(fixture_text("constructed/df_toolbox_android4.txt"))
    assert toolbox == {"storage_total_mb": int(11.6 * 1024), "storage_free_mb": int(8.4 * 1024)}
    assert p.parse_df(fixture_text("constructed/df_permission_denied.txt")) == {
        "storage_total_mb": None, "storage_free_mb": None}
    assert p.parse_df("") == {"storage_total_mb": None, "storage_free_mb": None}


def test_packages(fixture_text):
    got = p.parse_dumpsys_package(fixture_text("constructed/package_updated_system_app.txt"))
    assert got == {"version_code": 609914033, "version_name": "120.0.6099.140", "min_sdk": 29}
    assert p.parse_dumpsys_package(fixture_text("constructed/package_not_installed.txt")) == {
        "version_code": None, "version_name": None, "min_sdk": None}
    assert p.parse_pm_list_versions(fixture_text("constructed/pm_list_mixed.txt")) == {
        "com.android.settings": 34, "com.dhis2": 2661, "org.example.tool": 7,
        "com.legacy.app": None}


@pytest.mark.parametrize(("name", "seconds"), [
    ("proc_uptime.txt", 123456), ("uptime_minutes.txt", 720),
    ("uptime_days.txt", 3 * 86400 + 2 * 3600 + 300), ("uptime_no_users.txt", 2 * 3600 + 55 * 60)])
def test_uptime(fixture_text, name, seconds):
    assert p.parse_uptime_s(fixture_text(f"constructed/{name}")) == seconds


def test_uptime_unreadable():
    assert p.parse_uptime_s("/system/bin/sh: uptime: inaccessible or not found") is None


def test_screen_lock(fixture_text):
    pin = fixture_text("constructed/locksettings_verify_pin_set.txt")
    none = fixture_text("constructed/locksettings_verify_no_pin.txt")
    enabled = fixture_text("constructed/locksettings_get_disabled_false.txt")
    disabled = fixture_text("constructed/locksettings_get_disabled_true.txt")
    assert p.screen_lock_set(pin, enabled) is True
    assert p.screen_lock_set(none, enabled) is False
    assert p.screen_lock_set(pin, disabled) is False
    assert p.screen_lock_set("Unknown command: verify", "") is None


def test_parcel(fixture_text):
    imei = p.parse_parcel_string(fixture_text("real/iphonesubinfo_imei_awesome_adb.txt"))
    assert imei == "860955027785041"
    assert p.clean_imei(imei) == imei
    assert p.parse_parcel_string(
        fixture_text("constructed/iphonesubinfo_security_exception.txt")) is None
    assert p.parse_parcel_string(fixture_text("constructed/iphonesubinfo_null.txt")) is None
    assert p.parse_parcel_string("") is None


def test_meminfo_without_memavailable():
    got = p.parse_meminfo("MemTotal:        1882764 kB\nMemFree:           51744 kB\n")
    assert got == {"ram_total_mb": 1838, "ram_available_mb": None}
    assert p.parse_meminfo("") == {"ram_total_mb": None, "ram_available_mb": None}
