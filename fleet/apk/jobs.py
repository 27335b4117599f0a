"""Plain functions the scheduler runs for the APK store (``fleet/jobs.py`` registers them)."""

from __future__ import annotations

from flask import current_app

from fleet.apk.storage import ApkStore

#: Default grace period of the file sweeps, seconds (config FILE_SWEEP_MIN_AGE_S).
FILE_SWEEP_MIN_AGE_S = 3600


def sweep_upload_parts() -> str:
    """Delete ``.upload-*.part`` files a server killed mid-upload left in APK_STORE_DIR, once
    not written to for config FILE_SWEEP_MIN_AGE_S seconds (default 3600; an upload in flight
    writes its part at least every ~100 s, so it is never taken; values below 60 count as 60).
    Returns a message for the job-run row."""
    store = ApkStore(current_app.config["APK_STORE_DIR"])
    min_age = float(current_app.config.get("FILE_SWEEP_MIN_AGE_S", FILE_SWEEP_MIN_AGE_S))
    count = store.remove_stale_temp_files(min_age_s=max(min_age, 60))
    return f"deleted {count} interrupted APK uploads"
