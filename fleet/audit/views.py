"""The audit log page, global and filterable."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from fleet.apiutil import paginate
from fleet.audit.operations import query_entries
from fleet.auth.access import require

bp = Blueprint("audit", __name__, url_prefix="/audit")


@bp.get("/")
@require("read")
def index():
    args = {
        k: request.args.get(k, "").strip() for k in ("entity_type", "entity_id", "action", "actor")
    }
    page = paginate(
        query_entries(**{k: v or None for k, v in args.items()}),
        request.args.get("page", 1, type=int),
        50,
    )
    return render_template("audit/index.html", page=page, args=args)
