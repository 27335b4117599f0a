"""Serving APK files to phones and staff: ``GET /apk/<sha256>.apk`` and
``GET /apk/<sha256>/<name>.apk`` (HEAD too).

Access: a download token (``?token=`` or ``Authorization: Bearer fdl_...``) whose channel (or
whose device's channel) serves the release, or a staff session. Only releases in a servable
status (in testing, approved, released, superseded) are served; rejected and withdrawn files
never are (404).

The answer streams the file with ``Content-Length``, ``Content-Type:
application/vnd.android.package-archive``, ``ETag`` = the SHA-256, ``Accept-Ranges: bytes``,
single-range ``Range`` (206, 416) and ``If-Range``, ``If-None-Match`` (304) and
``Cache-Control: public, max-age=31536000, immutable`` (the URL names the content) -- werkzeug's
``send_file(conditional=True)``. With config ``APK_X_ACCEL_REDIRECT`` (e.g.
``/protected-apks/``) the app only decides and answers ``X-Accel-Redirect`` with no body, and
nginx sends the bytes from an ``internal`` location (``deploy/nginx-fleet.conf``).
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, abort, current_app, request, send_file
from flask_login import current_user
from sqlalchemy import select
from werkzeug.exceptions import RequestedRangeNotSatisfiable

from fleet.apk import operations as ops
from fleet.apk.models import SERVABLE_STATUSES, Release
from fleet.apk.storage import InvalidSha256, validate_sha256
from fleet.extensions import csrf, db

log = logging.getLogger(__name__)
bp = Blueprint("apk_download", __name__)
csrf.exempt(bp)

APK_MIMETYPE = "application/vnd.android.package-archive"
#: One year, the longest max-age RFC 9111 suggests; the content at a SHA-256 URL never changes.
MAX_AGE = 31536000


def presented_token() -> str | None:
    """The download token of this request: ``?token=`` or ``Authorization: Bearer fdl_...``."""
    token = request.args.get("token")
    if token:
        return token.strip()
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer ") and header[7:].strip().startswith(ops.TOKEN_PREFIX + "_"):
        return header[7:].strip()
    return None


def servable_release(sha256: str) -> Release:
    """The release with this SHA-256 if it may be served at all, else 404."""
    try:
        validate_sha256(sha256)
    except InvalidSha256:
        abort(404)
    release = db.session.scalar(select(Release).where(Release.sha256 == sha256))
    if release is None or release.status not in SERVABLE_STATUSES:
        abort(404)
    return release


def authorize_download(release: Release) -> None:
    """401 without a valid token or staff session, 403 when the token's channel does not serve
    ``release``."""
    plain = presented_token()
    if plain:
        token = ops.valid_download_token(plain)
        if token is None:
            abort(401)
        allowed = ops.token_may_download(token, release)
        record_token_use(token)
        if not allowed:
            abort(403)
        return
    if current_user.is_authenticated and current_user.can("read"):
        return
    abort(401)


def record_token_use(token) -> None:
    """End the read transaction, then update ``last_used_at`` in a fresh one (at most once a
    minute per token) and commit; see :func:`fleet.apk.operations.mark_token_used`."""
    due, token_id = ops.token_use_due(token), token.id
    db.session.commit()
    if due:
        ops.mark_token_used(token_id)
        db.session.commit()


def apk_response(release: Release) -> Response:
    """The file answer for ``release`` (send_file, or X-Accel-Redirect when configured)."""
    store = ops.apk_store()
    path = store.path_for(release.sha256)
    accel = current_app.config.get("APK_X_ACCEL_REDIRECT")
    if accel:
        resp = Response(status=200, mimetype=APK_MIMETYPE)
        resp.headers["X-Accel-Redirect"] = (
            f"{accel.rstrip('/')}/{release.sha256[:2]}/{release.sha256}.apk")
        resp.headers["Content-Disposition"] = f'attachment; filename="{release.friendly_name}"'
        resp.headers["Cache-Control"] = f"public, max-age={MAX_AGE}, immutable"
        return resp
    if not path.is_file():
        log.error("release %s: file %s missing from the APK store", release.id, path)
        abort(404)
    try:
        resp = send_file(path, mimetype=APK_MIMETYPE, as_attachment=True,
                         download_name=release.friendly_name, conditional=True,
                         etag=release.sha256, max_age=MAX_AGE)
    except RequestedRangeNotSatisfiable as exc:
        return exc.get_response()  # keeps Content-Range: bytes */<size>
    resp.cache_control.public = True
    resp.cache_control.immutable = True
    return resp


@bp.route("/apk/<sha256>.apk", methods=["GET", "HEAD"])
def download(sha256: str):
    release = servable_release(sha256)
    authorize_download(release)
    return apk_response(release)


@bp.route("/apk/<sha256>/<name>.apk", methods=["GET", "HEAD"])
def download_named(sha256: str, name: str):
    """Same as :func:`download`; ``name`` only gives the phone a readable file name."""
    release = servable_release(sha256)
    authorize_download(release)
    return apk_response(release)
