"""The API documentation page: Swagger UI from vendored assets, reading /api/v1/openapi.json."""

from __future__ import annotations

from flask import Blueprint, render_template

bp = Blueprint("api_docs", __name__)


@bp.get("/api/v1/docs")
def docs():
    return render_template("api/docs.html")
