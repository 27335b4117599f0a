"""Citations for every domain number the capacity model uses.

Each constant is the text a :class:`~fleet.capacity.model.Reason` carries in its ``source``
field. The thresholds come from DHIS2 documentation quoted in ``DESIGN.md`` ("Domain facts");
anything fleet had to assume is marked ``ASSUMPTION`` so a reader never mistakes it for a
published figure. No published measurement ties RAM to a TEI count.
"""

DEVICE_SPECS = (
    "DHIS2 Android implementation guide, mobile device specifications: phone RAM minimum 1 GB, "
    "recommended 2 GB or more; tablet 1.5 GB / 3 GB; storage minimum 8 GB, recommended 32 GB; "
    "Android 8 (API 26) or later recommended"
)
LARGE_TRACKER = (
    "DHIS2 Implementation Planning (seed): plan more than 2 GB of RAM for large offline "
    "Tracker deployments; performance depends on records stored offline, org units assigned, "
    "program rules and very large option sets"
)
ANDROID_SETTINGS = (
    "DHIS2 Android Settings app warnings: TEI download > 2,000, events > 3,000, reserved values "
    "> 500, capture org units > 10, search org units > 5, programs > 20, program rules > 50"
)
ORG_UNITS_SAFE = "DHIS2 Android Settings app: org units assigned 'below 250 should be safe'"
SQLCIPHER = (
    "DHIS2 Android Settings app, generalSettings.encryptDB: SQLCipher database encryption makes "
    "the app 5-15% slower"
)
CAPTURE_MIN_SDK = "DHIS2 Android Capture app manifest: minSdk 23 (Android 6.0)"
ASSUMPTION = (
    "fleet assumption (uncalibrated): no published measurement ties RAM to a TEI count; "
    "see fleet/capacity/coefficients.py and docs/capacity.md"
)
CALIBRATED = "fleet calibration from this fleet's own dumpsys meminfo com.dhis2 TOTAL PSS"
STORAGE_ASSUMPTION = (
    "fleet assumption (uncalibrated): database KB per TEI/event and the free-storage reserve "
    "and margin are not published; see fleet/capacity/coefficients.py and docs/capacity.md"
)
