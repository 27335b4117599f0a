"""Reading an APK upload from the request without holding it in memory.

Two shapes are accepted on the same endpoint:

- a raw body (``Content-Type: application/vnd.android.package-archive`` or
  ``application/octet-stream``), read from ``request.stream`` in 1 MiB chunks straight into the
  store; the file name comes from ``?filename=`` or ``X-File-Name``;
- ``multipart/form-data`` with a ``file`` part (and optional ``notes``), parsed by werkzeug's
  form parser with a stream factory that writes the file part to an anonymous temporary file in
  the APK store's folder (disk, never memory), which is then streamed into the store.

Both are bounded by ``MAX_APK_BYTES`` (werkzeug refuses a declared larger ``Content-Length``
with 413; the store stops at the first chunk over the limit for chunked bodies).
"""

from __future__ import annotations

import tempfile

from flask import current_app, request
from flask_babel import lazy_gettext as _l
from werkzeug.formparser import parse_form_data

from fleet.apk import operations as ops
from fleet.apk.models import Release
from fleet.errors import InvalidInput

RAW_TYPES = ("application/vnd.android.package-archive", "application/octet-stream")


def detached_actor():
    """The acting user, detached from the session, with the session's transaction ended.

    A POST on SQLite begins ``BEGIN IMMEDIATE`` (fleet/__init__.py) at its first query, which
    here is loading the user; without this the write lock would be held while a phone-speed
    upload streams in, for minutes."""
    from fleet.auth.access import actor
    from fleet.extensions import db

    user = actor()
    if user is not None and user in db.session:
        db.session.expunge(user)
    db.session.rollback()
    return user


def upload_from_request(*, actor, notes: str = "", file_name: str = "") -> tuple[Release, bool]:
    """Stream this request's APK into the store and vet it; returns (release, created).

    ``actor`` should come from :func:`detached_actor` (no transaction open while streaming).
    Raises InvalidInput (no file part / unsupported content type), UploadRefused (413),
    VettingUnavailable (503)."""
    max_bytes = int(current_app.config["MAX_APK_BYTES"])
    if request.content_length is not None and request.content_length > max_bytes + 1024 * 1024:
        raise ops.UploadRefused(_l("The APK is larger than the limit of %(n)s bytes.",
                                   n=max_bytes))
    mimetype = request.mimetype
    if mimetype in RAW_TYPES:
        name = file_name or request.headers.get("X-File-Name", "")
        return ops.upload_apk(request.stream, file_name=name, actor=actor, release_notes=notes)
    if mimetype != "multipart/form-data":
        raise InvalidInput(_l("Send the APK as multipart/form-data (field 'file') or as a raw "
                              "application/vnd.android.package-archive body."))
    store_root = ops.apk_store().root

    def stream_factory(total_content_length, content_type, filename, content_length=None):
        return tempfile.TemporaryFile(dir=store_root, prefix=".upload-form-")

    _stream, form, files = parse_form_data(
        request.environ, stream_factory=stream_factory, max_form_memory_size=1024 * 1024,
        max_content_length=max_bytes + 1024 * 1024)
    upload = files.get("file")
    if upload is None or not upload.filename:
        raise InvalidInput(_l("No APK file in the upload."), fields={"file": _l("Required.")})
    try:
        upload.stream.seek(0)
        return ops.upload_apk(upload.stream, file_name=upload.filename, actor=actor,
                              release_notes=form.get("notes") or notes)
    finally:
        upload.close()
