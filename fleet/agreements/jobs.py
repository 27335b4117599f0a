"""Plain functions the scheduler runs for agreements (``fleet/jobs.py`` registers them)."""

from __future__ import annotations

from flask import current_app
from sqlalchemy import select

from fleet.agreements import files
from fleet.agreements.models import AgreementScan, AgreementSignature
from fleet.extensions import db

#: Default grace period of the file sweeps, seconds (config FILE_SWEEP_MIN_AGE_S): far longer
#: than any request between storing a file and committing the row that refers to it.
FILE_SWEEP_MIN_AGE_S = 3600


def sweep_orphan_files() -> str:
    """Delete agreement files no signature or scan row refers to (a crash or a refused commit
    between storing the file and committing its row leaves one), and temporary files of
    interrupted writes, once older than config FILE_SWEEP_MIN_AGE_S seconds (default 3600;
    values below 60 count as 60).
    Returns a message for the job-run row."""
    min_age = max(60.0, float(current_app.config.get("FILE_SWEEP_MIN_AGE_S",
                                                     FILE_SWEEP_MIN_AGE_S)))
    referenced = set(db.session.scalars(select(AgreementSignature.png_sha256)))
    referenced |= set(db.session.scalars(select(AgreementScan.sha256)))
    deleted = files.sweep(referenced, min_age_s=min_age)
    return f"deleted {len(deleted)} unreferenced agreement files"
