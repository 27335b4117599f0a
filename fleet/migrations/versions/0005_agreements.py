"""agreements (templates, agreements, items, steps, signatures, scans) and scan audits

Revision ID: 0005
Revises: 0001
Create Date: 2026-11-23 01:10:00

Written by hand (see fleet/agreements/models.py and fleet/labels/models.py); constraint names
follow fleet/extensions.py. Seeds version 1 of the institution and BYOD terms.
"""
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0001"
branch_labels = None
depends_on = None

STATUSES = ("draft", "printed", "signed_by_holder", "signed_stamped_by_council", "filed",
            "closed", "ended_lost", "ended_stolen")

INSTITUTION_TERMS = """\
1. Ownership. The device and the accessories listed above remain the property of the \
institution named on this agreement. They are lent to the holder for campaign work only and \
must be returned at the end of the campaign or when asked.

2. Use. The holder uses the device for campaign data collection with the DHIS2 Capture app \
and keeps the screen lock, the installed apps and the settings as provisioned. The holder does \
not remove the SIM card, root the device, or lend it to anyone else.

3. Maintenance. The institution pays for maintenance and repairs from normal wear. The holder \
reports any fault to the supervisor within two days and hands the device in for repair when \
asked.

4. Loss, theft and damage. The holder keeps the device safe and reports a loss or theft to the \
supervisor and the district office within 24 hours, with a police report for a theft. Where \
the loss, theft or damage comes from negligence, the holder may be liable for the replacement \
cost agreed by the district office.

5. Airtime and data. The institution provides the SIM card and its data bundle for campaign \
work. Personal calls and data are paid by the holder.

6. Return. On return the device, the SIM card and every accessory are checked against this \
agreement. The agreement is closed when everything has been returned."""

PERSONAL_TERMS = """\
1. Ownership. The device remains the personal property of the holder (bring your own device). \
The institution installs the DHIS2 Capture app and campaign settings on it and may register \
its identifiers (IMEI, serial) for the campaign.

2. Use. The holder keeps the DHIS2 Capture app installed and up to date as instructed, keeps a \
screen lock, and does not share campaign data with anyone. The institution does not access \
the holder's personal data.

3. Maintenance. The holder is responsible for the maintenance and repair of the device. The \
institution pays only for repairs of damage caused by campaign work, as agreed with the \
district office.

4. Loss and theft. The holder reports a loss or theft to the supervisor within 24 hours so that \
campaign data and accounts can be protected. The institution is not liable for the loss or \
theft of a personal device.

5. Airtime and data reimbursement. The institution reimburses the airtime and data used for \
campaign work at the rate set by the district office, against the records of the campaign, \
or provides a SIM card or data bundle for that purpose.

6. End. At the end of the campaign the holder lets the supervisor remove campaign data and \
accounts from the device. The agreement is then closed."""


def _in(values):
    return "(" + ",".join(f"'{v}'" for v in values) + ")"


def _ts(name, nullable=True):
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade():
    template = op.create_table(
        "agreement_template",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("ownership", sa.String(20), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        _ts("created_at", False),
        sa.Column("created_by", sa.String(80), nullable=False),
        sa.CheckConstraint("ownership IN ('institution','personal')",
                           name=op.f("ck_agreement_template_ownership")),
        sa.CheckConstraint("version >= 1", name=op.f("ck_agreement_template_version_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agreement_template")),
        sa.UniqueConstraint("ownership", "version",
                            name="uq_agreement_template_ownership_version"),
    )
    op.create_table(
        "agreement",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(40), nullable=False),
        sa.Column("status", sa.String(30), nullable=False),
        _ts("status_at", False),
        sa.Column("holder_id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("sim_id", sa.Integer(), nullable=True),
        sa.Column("org_unit_id", sa.Integer(), nullable=True),
        sa.Column("ownership", sa.String(20), nullable=False),
        sa.Column("template_id", sa.Integer(), nullable=False),
        sa.Column("terms_text", sa.Text(), nullable=False),
        sa.Column("terms_version", sa.String(160), nullable=False),
        sa.Column("terms_sha256", sa.String(64), nullable=False),
        sa.Column("district_name", sa.String(230), nullable=False),
        sa.Column("facility_name", sa.String(230), nullable=False),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("expected_return_on", sa.Date(), nullable=True),
        _ts("printed_at"),
        sa.Column("page_size", sa.String(10), nullable=True),
        _ts("district_copy_kept_at"),
        sa.Column("district_copy_kept_by", sa.String(80), nullable=True),
        _ts("partner_copy_returned_at"),
        sa.Column("partner_copy_returned_by", sa.String(80), nullable=True),
        sa.Column("liability", sa.Text(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=False),
        _ts("created_at", False),
        sa.Column("created_by", sa.String(80), nullable=False),
        sa.Column("lock_version", sa.Integer(), nullable=False),
        sa.CheckConstraint(f"status IN {_in(STATUSES)}", name=op.f("ck_agreement_status")),
        sa.CheckConstraint("ownership IN ('institution','personal')",
                           name=op.f("ck_agreement_ownership")),
        sa.ForeignKeyConstraint(["holder_id"], ["holder.id"],
                                name=op.f("fk_agreement_holder_id_holder")),
        sa.ForeignKeyConstraint(["device_id"], ["device.id"],
                                name=op.f("fk_agreement_device_id_device")),
        sa.ForeignKeyConstraint(["sim_id"], ["sim.id"], name=op.f("fk_agreement_sim_id_sim")),
        sa.ForeignKeyConstraint(["org_unit_id"], ["org_unit.id"],
                                name=op.f("fk_agreement_org_unit_id_org_unit")),
        sa.ForeignKeyConstraint(["template_id"], ["agreement_template.id"],
                                name=op.f("fk_agreement_template_id_agreement_template")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agreement")),
        sa.UniqueConstraint("number", name=op.f("uq_agreement_number")),
    )
    with op.batch_alter_table("agreement") as batch:
        for col in ("status", "status_at", "holder_id", "device_id", "org_unit_id"):
            batch.create_index(f"ix_agreement_{col}", [col], unique=False)
    op.create_table(
        "agreement_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agreement_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(60), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=True),
        sa.Column("description", sa.String(300), nullable=False),
        sa.Column("serial", sa.String(64), nullable=True),
        sa.ForeignKeyConstraint(["agreement_id"], ["agreement.id"], ondelete="CASCADE",
                                name=op.f("fk_agreement_item_agreement_id_agreement")),
        sa.ForeignKeyConstraint(["device_id"], ["device.id"],
                                name=op.f("fk_agreement_item_device_id_device")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agreement_item")),
    )
    op.create_index("ix_agreement_item_agreement_id", "agreement_item", ["agreement_id"])
    op.create_table(
        "agreement_step",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agreement_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("from_status", sa.String(30), nullable=True),
        sa.Column("to_status", sa.String(30), nullable=False),
        _ts("at", False),
        sa.Column("by", sa.String(80), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["agreement_id"], ["agreement.id"],
                                name=op.f("fk_agreement_step_agreement_id_agreement")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agreement_step")),
    )
    op.create_index("ix_agreement_step_agreement_id", "agreement_step", ["agreement_id"])
    op.create_table(
        "agreement_signature",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agreement_id", sa.Integer(), nullable=False),
        sa.Column("signer_name", sa.String(200), nullable=False),
        sa.Column("png_sha256", sa.String(64), nullable=False),
        sa.Column("png_size", sa.Integer(), nullable=False),
        sa.Column("text_sha256", sa.String(64), nullable=False),
        _ts("signed_at", False),
        sa.Column("by", sa.String(80), nullable=False),
        sa.ForeignKeyConstraint(["agreement_id"], ["agreement.id"],
                                name=op.f("fk_agreement_signature_agreement_id_agreement")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agreement_signature")),
    )
    op.create_index("ix_agreement_signature_agreement_id", "agreement_signature",
                    ["agreement_id"])
    op.create_table(
        "agreement_scan",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agreement_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("content_type", sa.String(40), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("original_name", sa.String(200), nullable=False),
        sa.Column("copy", sa.String(20), nullable=False),
        _ts("uploaded_at", False),
        sa.Column("by", sa.String(80), nullable=False),
        sa.CheckConstraint("content_type IN ('application/pdf','image/jpeg','image/png')",
                           name=op.f("ck_agreement_scan_content_type")),
        sa.CheckConstraint("copy IN ('district','partner')", name=op.f("ck_agreement_scan_copy")),
        sa.ForeignKeyConstraint(["agreement_id"], ["agreement.id"],
                                name=op.f("fk_agreement_scan_agreement_id_agreement")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agreement_scan")),
    )
    op.create_index("ix_agreement_scan_agreement_id", "agreement_scan", ["agreement_id"])
    op.create_index("ix_agreement_scan_sha256", "agreement_scan", ["sha256"])
    op.create_table(
        "scan_audit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_unit_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        _ts("started_at", False),
        sa.Column("started_by", sa.String(80), nullable=False),
        _ts("closed_at"),
        sa.Column("closed_by", sa.String(80), nullable=True),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.CheckConstraint("status IN ('open','closed')", name=op.f("ck_scan_audit_status")),
        sa.ForeignKeyConstraint(["org_unit_id"], ["org_unit.id"],
                                name=op.f("fk_scan_audit_org_unit_id_org_unit")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scan_audit")),
    )
    op.create_index("ix_scan_audit_org_unit_id", "scan_audit", ["org_unit_id"])
    op.create_table(
        "scan_audit_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("audit_id", sa.Integer(), nullable=False),
        sa.Column("raw", sa.String(400), nullable=False),
        sa.Column("asset_tag", sa.String(40), nullable=True),
        sa.Column("device_id", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(12), nullable=False),
        _ts("at", False),
        sa.Column("by", sa.String(80), nullable=False),
        sa.CheckConstraint("outcome IN ('present','foreign','unknown','not_fleet')",
                           name=op.f("ck_scan_audit_entry_outcome")),
        sa.ForeignKeyConstraint(["audit_id"], ["scan_audit.id"],
                                name=op.f("fk_scan_audit_entry_audit_id_scan_audit")),
        sa.ForeignKeyConstraint(["device_id"], ["device.id"],
                                name=op.f("fk_scan_audit_entry_device_id_device")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scan_audit_entry")),
    )
    op.create_index("ix_scan_audit_entry_audit_id", "scan_audit_entry", ["audit_id"])
    op.create_index("uq_scan_audit_entry_device", "scan_audit_entry", ["audit_id", "device_id"],
                    unique=True, sqlite_where=sa.text("device_id IS NOT NULL"),
                    postgresql_where=sa.text("device_id IS NOT NULL"))

    now = datetime.now(UTC)
    op.bulk_insert(template, [
        {"name": "Institution-owned device", "ownership": "institution", "version": 1,
         "text": INSTITUTION_TERMS, "created_at": now, "created_by": "system"},
        {"name": "Personal device (BYOD)", "ownership": "personal", "version": 1,
         "text": PERSONAL_TERMS, "created_at": now, "created_by": "system"},
    ])


def downgrade():
    op.drop_table("scan_audit_entry")
    op.drop_table("scan_audit")
    op.drop_table("agreement_scan")
    op.drop_table("agreement_signature")
    op.drop_table("agreement_step")
    op.drop_table("agreement_item")
    op.drop_table("agreement")
    op.drop_table("agreement_template")
