"""Plain functions the scheduler runs for the DHIS2 connector.

:func:`publish_apks_after_repoint` is meant to be registered in ``fleet/jobs.py`` (e.g. id
``dhis2_publish_apks``, every 5 minutes); it is off unless ``DHIS2_AUTO_PUBLISH_APKS`` names
servers.
"""

from __future__ import annotations

import logging

from flask import current_app
from sqlalchemy import func, select

from fleet.apk.models import PointerHistory
from fleet.dhis2.channels import channel_entries
from fleet.dhis2.models import Dhis2Publication
from fleet.dhis2.operations import find_server
from fleet.dhis2.publishing import publish_apk_distribution
from fleet.extensions import db

log = logging.getLogger(__name__)


def auto_publish_servers() -> list[str]:
    """Server names from config ``DHIS2_AUTO_PUBLISH_APKS`` (a list, or a comma-separated
    string as ``FLEET_DHIS2_AUTO_PUBLISH_APKS=production,training``); empty: off."""
    names = current_app.config.get("DHIS2_AUTO_PUBLISH_APKS") or []
    if isinstance(names, str):
        names = names.split(",")
    return [str(n).strip() for n in names if str(n).strip()]


def publish_apks_after_repoint() -> str:
    """Publish ``APK_DISTRIBUTION`` to each configured server when a channel was re-pointed
    (released, rolled back, rollout step, withdrawn: ``apk_pointer_history``) after that
    server's last APK publication. Acts as the system (``actor=None``), audited like a manual
    publication. Returns a one-line message per server.

    Raises: FleetError from the first server that fails (the job wrapper records the failure
    and rolls back; the next run tries again).
    """
    names = auto_publish_servers()
    if not names:
        return "off (DHIS2_AUTO_PUBLISH_APKS is empty)"
    last_repoint = db.session.scalar(select(func.max(PointerHistory.at)))
    if last_repoint is None:
        return "no channel re-pointed yet"
    messages = []
    for name in names:
        server = find_server(name)
        last_published = db.session.scalar(select(func.max(Dhis2Publication.at)).where(
            Dhis2Publication.server_id == server.id,
            Dhis2Publication.kind == "apk_distribution"))
        if last_published is not None and last_published >= last_repoint:
            messages.append(f"{name}: up to date")
            continue
        built = channel_entries(actor=None)
        result = publish_apk_distribution(server, built.entries, actor=None)
        messages.append(f"{name}: {len(result.diff['added'])} added, "
                        f"{len(result.diff['removed'])} removed, "
                        f"{'written' if result.written else 'nothing to write'}")
        log.info("APK_DISTRIBUTION auto-published to %s", name)
    return "; ".join(messages)
