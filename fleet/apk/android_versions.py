"""Android API level -> Android version, for minSdk reports and DHIS2 ``androidOSVersion.min``.

Source: Android's API level table ("What is API Level?",
https://developer.android.com/guide/topics/manifest/uses-sdk-element#ApiLevels, and
https://apilevels.com/ which mirrors it), checked against AOSP's build numbers page
(https://source.android.com/docs/setup/reference/build-numbers).

The version strings are the numeric form a device reports in ``Build.VERSION.RELEASE``
(``ro.build.version.release``): ``"8.0"`` for API 26, ``"14"`` for API 34. The marketing names
that are not numbers (4.4W for API 20, 12L for API 32) are kept separately in the codename
column, so the version string always compares as dotted integers (as the DHIS2 Capture app
compares versions).
"""

from __future__ import annotations

# API level: (version as Build.VERSION.RELEASE reports it, name in Android's table)
ANDROID_VERSIONS: dict[int, tuple[str, str]] = {
    1: ("1.0", "Base"),
    2: ("1.1", "Base 1.1"),
    3: ("1.5", "Cupcake"),
    4: ("1.6", "Donut"),
    5: ("2.0", "Eclair"),
    6: ("2.0.1", "Eclair 0.1"),
    7: ("2.1", "Eclair MR1"),
    8: ("2.2", "Froyo"),
    9: ("2.3", "Gingerbread"),
    10: ("2.3.3", "Gingerbread MR1"),
    11: ("3.0", "Honeycomb"),
    12: ("3.1", "Honeycomb MR1"),
    13: ("3.2", "Honeycomb MR2"),
    14: ("4.0", "Ice Cream Sandwich"),
    15: ("4.0.3", "Ice Cream Sandwich MR1"),
    16: ("4.1", "Jelly Bean"),
    17: ("4.2", "Jelly Bean MR1"),
    18: ("4.3", "Jelly Bean MR2"),
    19: ("4.4", "KitKat"),
    20: ("4.4", "KitKat Watch (4.4W)"),
    21: ("5.0", "Lollipop"),
    22: ("5.1", "Lollipop MR1"),
    23: ("6.0", "Marshmallow"),
    24: ("7.0", "Nougat"),
    25: ("7.1", "Nougat MR1"),
    26: ("8.0", "Oreo"),
    27: ("8.1", "Oreo MR1"),
    28: ("9", "Pie"),
    29: ("10", "Android 10 (Q)"),
    30: ("11", "Android 11 (R)"),
    31: ("12", "Android 12 (S)"),
    32: ("12", "Android 12L (Sv2)"),
    33: ("13", "Android 13 (Tiramisu)"),
    34: ("14", "Android 14 (Upside Down Cake)"),
    35: ("15", "Android 15 (Vanilla Ice Cream)"),
    36: ("16", "Android 16 (Baklava)"),
}

API_LEVEL_SOURCE = "https://developer.android.com/guide/topics/manifest/uses-sdk-element#ApiLevels"


def android_version_for_api(api_level: int) -> str:
    """The Android version for an API level: 23 -> ``"6.0"``, 26 -> ``"8.0"``, 34 -> ``"14"``.

    Raises ``ValueError`` for a level not in Android's table (below 1 or newer than this table).
    Source: :data:`API_LEVEL_SOURCE`.
    """
    try:
        return ANDROID_VERSIONS[int(api_level)][0]
    except KeyError:
        raise ValueError(f"unknown Android API level {api_level}") from None


def android_name_for_api(api_level: int) -> str:
    """The name Android's API level table gives the level (e.g. 32 -> ``"Android 12L (Sv2)"``)."""
    try:
        return ANDROID_VERSIONS[int(api_level)][1]
    except KeyError:
        raise ValueError(f"unknown Android API level {api_level}") from None
