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


# Real captures added for issue 8 (sources in fixtures/SOURCES.md). Expected values are read off
# the fixture files by eye, not produced by running the parser.
@pytest.mark.parametrize(("name", "expected"), [
    ("getprop_android8_oppo_a5s.txt", {
        "android_version": "8.1.0", "api_level": 27, "security_patch": "2021-03-05",
        "crypto_state": "encrypted", "manufacturer": "OPPO", "model": "CPH1909",
        "serial": "6c422cd0"}),
    ("getprop_android10_oneplus_7pro.txt", {
        "android_version": "10", "api_level": 29, "security_patch": "2020-07-01",
        "crypto_state": "encrypted", "manufacturer": "OnePlus", "model": "GM1913",
        "serial": "08b84184"}),
    ("getprop_android13_motorola_edge20.txt", {
        "android_version": "13", "api_level": 33, "security_patch": "2023-09-01",
        "crypto_state": "encrypted", "manufacturer": "motorola", "model": "motorola edge 20",
        "serial": "0074732151"}),
    ("getprop_android13_infinix_x670.txt", {
        "android_version": "13", "api_level": 33, "security_patch": "2024-02-05",
        "crypto_state": "encrypted", "manufacturer": "INFINIX", "model": "Infinix X670",
        "serial": "H814X67001234567"}),
    ("getprop_android8_huawei_nova2.txt", {
        "android_version": "8.0.0", "api_level": 26, "security_patch": "2020-05-01",
        "crypto_state": "encrypted", "manufacturer": "HUAWEI", "model": "PIC-AL00",
        "serial": "RJCDU17528000348"}),
    ("getprop_android12_realme_gt_neo3.txt", {
        "android_version": "12", "api_level": 31, "security_patch": "2022-09-05",
        "crypto_state": "encrypted", "manufacturer": "realme", "model": "RMX3560",
        "serial": "DMDAOZIRXGS45HUK"}),
    ("getprop_android10_samsung_s9.txt", {
        "android_version": "10", "api_level": 29, "security_patch": "2022-01-01",
        "crypto_state": "encrypted", "manufacturer": "samsung", "model": "SM-G9600",
        "serial": "21e02390fd0d7ece"}),
    ("getprop_android14_samsung_s24.txt", {
        "android_version": "14", "api_level": 34, "security_patch": "2024-09-01",
        "crypto_state": "encrypted", "manufacturer": "samsung", "model": "SM-S9210",
        "serial": "R3CWA05H2GE"}),
    ("getprop_android14_oppo_find_x3_pro.txt", {
        "android_version": "14", "api_level": 34, "security_patch": "2025-03-01",
        "crypto_state": "encrypted", "manufacturer": "OPPO", "model": "PEEM00",
        "serial": "2a677273"}),
])
def test_getprop_real_devices(fixture_text, name, expected):
    assert p.device_facts(p.parse_getprop(fixture_text(f"real/{name}"))) == expected


def test_getprop_real_vendor_image_older_than_system(fixture_text):
    """Motorola edge 20 and Infinix X670 ship an Android 11/12 vendor image under Android 13:
    the version is the system's, not ro.vendor.build.version.*."""
    for name, vendor in (("getprop_android13_motorola_edge20.txt", "11"),
                         ("getprop_android13_infinix_x670.txt", "12")):
        props = p.parse_getprop(fixture_text(f"real/{name}"))
        assert props["ro.vendor.build.version.release"] == vendor
        assert p.device_facts(props)["android_version"] == "13"


def test_getprop_real_android8_vendor_product_fallback(fixture_text):
    """Android 8.1 names the vendor copies ro.vendor.product.* (9+ says ro.product.vendor.*);
    without the plain ro.product.* lines the maker and model still come from them."""
    text = fixture_text("real/getprop_android8_oppo_a5s.txt")
    kept = "\n".join(ln for ln in text.splitlines()
                     if not ln.startswith(("[ro.product.manufacturer]", "[ro.product.model]")))
    facts = p.device_facts(p.parse_getprop(kept))
    assert (facts["manufacturer"], facts["model"]) == ("OPPO", "CPH1909")


def test_getprop_real_multiline_value(fixture_text):
    props = p.parse_getprop(fixture_text("real/getprop_multiline_value_oneplus_n10.txt"))
    assert props["persist.sys.boot.reason.history"] == (
        "reboot,ota,1691858645\nreboot,unattended,ota_update,1691858601\nreboot,ota,1691857091")
    assert props["persist.sys.boot.reason"] == ""
    assert props["persist.sys.bootloader"] == "yes"  # the line after the value still parses
    assert len(props) == 7


def test_getprop_real_samsung_quirks(fixture_text):
    """Galaxy S24 (Android 14): a two-line boot reason history; Galaxy S9 (Android 10): a
    value holding its own brackets (Broadcom firmware version)."""
    s24 = p.parse_getprop(fixture_text("real/getprop_android14_samsung_s24.txt"))
    assert s24["persist.sys.boot.reason.history"] == (
        "shutdown,userrequested,1748051139\nreboot,userrequested,1745718827")
    assert s24["persist.sys.clear_package_cache_needed"] == "true"
    s9 = p.parse_getprop(fixture_text("real/getprop_android10_samsung_s9.txt"))
    assert s9["vendor.bluetooth_fw_ver"] == "BCM4361B2 Crown 1QW ANT1 [Version: 0110.0230]"
    assert s9["vendor.gsm.current.vsid"] == "0"


def test_getprop_real_oppo_android14_system_partition_says_oplus(fixture_text):
    """ColorOS 14 on the Find X3 Pro: the system/product partitions name the maker "oplus"
    (model "ossi") and the vendor image is older (12); the device's own props win."""
    props = p.parse_getprop(fixture_text("real/getprop_android14_oppo_find_x3_pro.txt"))
    assert props["ro.product.system.manufacturer"] == "oplus"
    assert props["ro.vendor.build.version.release"] == "12"
    facts = p.device_facts(props)
    assert (facts["manufacturer"], facts["model"], facts["android_version"]) == (
        "OPPO", "PEEM00", "14")


def test_getprop_real_huawei_emui_patch_level_is_the_aosp_one(fixture_text):
    """EMUI 8 (nova 2) prints two patch levels: AOSP's ro.build.version.security_patch
    (2020-05-01) and Huawei's ro.huawei.build.version.security_patch (2021-01-01, with
    ro.config.use_hw_security_patch=true). device_facts reports the AOSP property."""
    props = p.parse_getprop(fixture_text("real/getprop_android8_huawei_nova2.txt"))
    assert props["ro.huawei.build.version.security_patch"] == "2021-01-01"
    assert p.device_facts(props)["security_patch"] == "2020-05-01"


def test_getprop_value_left_open_is_dropped():
    props = p.parse_getprop("[a.b]: [x\ny\n[c.d]: [1]\n[e.f]: [cut")
    assert props == {"c.d": "1"}


@pytest.mark.parametrize(("name", "expected"), [
    # Honor ALT-NX1, Android 15 (API 35): Dock powered + Charging state/policy, on battery.
    ("battery_android15_honor_alt_nx1.txt", {
        "battery_level": 54, "battery_health": "good", "battery_temperature_c": 22.0,
        "battery_status": "discharging", "battery_charging": False}),
    # Samsung with its vendor lines and column-0 feature flags; full on USB.
    ("battery_samsung_vendor_lines_zebrunner.txt", {
        "battery_level": 100, "battery_health": "good", "battery_temperature_c": 30.9,
        "battery_status": "full", "battery_charging": True}),
    # Redmi Note 14, HyperOS 3: one-space "Time when ..." lines, Capacity level, MIUI block.
    ("battery_hyperos3_redmi_note14_amply.txt", {
        "battery_level": 80, "battery_health": "good", "battery_temperature_c": 36.4,
        "battery_status": "charging", "battery_charging": True}),
])
def test_battery_real_devices(fixture_text, name, expected):
    assert p.parse_battery(fixture_text(f"real/{name}")) == expected


def test_df_real_toolbox_and_busybox(fixture_text):
    # toolbox df (Android 4.x): "/data 27G 19G 8G 4096" -> 27 GiB size, 8 GiB free.
    assert p.parse_df(fixture_text("real/df_toolbox_aafm.txt")) == {
        "storage_total_mb": 27 * 1024, "storage_free_mb": 8 * 1024}
    # busybox df -h in a terminal that wrapped long mount points onto the next line:
    # "/dev/block/mtdblock5 147.6M 9.5M 138.1M 6% /data"; /data/app etc. are other mounts.
    assert p.parse_df(fixture_text("real/df_busybox_h_terminal_wrap_mounts2sd.txt")) == {
        "storage_total_mb": 147, "storage_free_mb": 138}


# Second round of real captures for issue 8 (df, /proc/meminfo, app meminfo, Samsung battery).
# Expected values read off the files by eye: df -h sizes are binary (G = 1024 M), 1K-blocks
# and kB are divided by 1024 and rounded down.
@pytest.mark.parametrize(("name", "expected"), [
    # vivo (prompt PD2254), Android 14, toybox df -h: "/dev/block/dm-59 457G 25G 432G 6% /data".
    ("df_h_android14_vivo_pd2254_goadb.txt", (457 * 1024, 432 * 1024)),
    # Android 9, model not stated: "/dev/block/sda17 110G 34G 76G 32% /data".
    ("df_h_android9_goadb.txt", (110 * 1024, 76 * 1024)),
    # vivo (prompt PD1619), Android 7: "/dev/block/dm-2 53G 3.3G 49G 7% /data".
    ("df_h_android7_vivo_pd1619_goadb.txt", (53 * 1024, 49 * 1024)),
    # Sony SO-02H, Android 6.0, still the old toolbox layout: "/data 21.9G 12.1G 9.8G 4096".
    ("df_toolbox_android6_sony_so02h.txt", (int(21.9 * 1024), int(9.8 * 1024))),
    # Samsung Galaxy Tab A8 (SM-X200), toybox df: "/dev/block/dm-43 4192256 2777976 1414280".
    ("df_samsung_tab_a8_sm_x200.txt", (4192256 // 1024, 1414280 // 1024)),
])
def test_df_real_modern_devices(fixture_text, name, expected):
    got = p.parse_df(fixture_text(f"real/{name}"))
    assert (got["storage_total_mb"], got["storage_free_mb"]) == expected


@pytest.mark.parametrize(("name", "expected"), [
    # MemTotal 3681628 kB, MemAvailable 2243756 kB (Qualcomm MSM8953 phone).
    ("meminfo_msm8953_goadb.txt", {"ram_total_mb": 3595, "ram_available_mb": 2191}),
    # Lenovo Tab K10 on LineageOS 20 (Android 13): MemTotal 3963596, MemAvailable 1502348.
    ("meminfo_android13_lenovo_tab_k10_lineage20.txt",
     {"ram_total_mb": 3870, "ram_available_mb": 1467}),
])
def test_proc_meminfo_real_devices(fixture_text, name, expected):
    assert p.parse_meminfo(fixture_text(f"real/{name}")) == expected


def test_app_meminfo_real_android11_pixel2(fixture_text):
    """Pixel 2, Android 11: 9-column table (Rss Total added in 11) and the App Summary with
    "TOTAL PSS: 688561 TOTAL RSS: 746132 TOTAL SWAP PSS: 15" on one line: PSS, not RSS."""
    text = fixture_text("real/app_meminfo_android11_google_pixel2_unity.txt")
    assert p.parse_app_pss_kb(text) == 688561


def test_battery_real_samsung_s24(fixture_text):
    """Samsung S24 (Android 14 or later: Dock powered, Charging state/policy): one-space
    "Time when ..." lines, Samsung vendor lines, column-0 flags, then event logs that repeat
    level/status/temperature with other values (level:74, status:3...). Only the first block
    counts: USB powered, status 2, level 75, temperature 357."""
    got = p.parse_battery(fixture_text("real/battery_samsung_s24_gekko.txt"))
    assert got == {"battery_level": 75, "battery_health": "good",
                   "battery_temperature_c": 35.7, "battery_status": "charging",
                   "battery_charging": True}
