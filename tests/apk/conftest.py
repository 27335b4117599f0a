"""Fixtures for the APK repository tests: the real-APK factory from ``tests/apk_fixtures.py``."""

import sys
from pathlib import Path

import pytest

_TESTS = str(Path(__file__).resolve().parents[1])
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)

from apk_fixtures import apk_factory, signing_keys  # noqa: E402, F401


@pytest.fixture()
def api_upload(client):
    """api_upload(path, token, raw=False, notes="") -> the Response of POST /api/v1/apk/releases,
    sending the file as a user would: multipart/form-data (``file``) or a raw APK body."""

    def do(path, token, *, raw=False, notes=""):
        headers = {"Authorization": f"Bearer {token}"}
        path = Path(path)
        if raw:
            with open(path, "rb") as fh:
                return client.post(f"/api/v1/apk/releases?filename={path.name}&notes={notes}",
                                   data=fh, headers=headers,
                                   content_type="application/vnd.android.package-archive")
        with open(path, "rb") as fh:
            return client.post("/api/v1/apk/releases", headers=headers,
                               data={"file": (fh, path.name), "notes": notes},
                               content_type="multipart/form-data")

    return do


@pytest.fixture()
def staff(create_user, db):
    """staff(role) -> (user, bearer token)."""
    from fleet.auth.operations import issue_token

    def make(role="admin"):
        user = create_user(role)
        _tok, plain = issue_token(user, "test", actor=None)
        db.session.commit()
        return user, plain

    return make


@pytest.fixture()
def approved_release(api_upload, staff, client):
    """approved_release(path) -> release JSON: uploaded by one admin, tested, approved by
    another (four-eyes)."""
    _u1, uploader = staff("admin")
    _u2, approver = staff("admin")

    def make(path):
        resp = api_upload(path, uploader)
        assert resp.status_code == 201, resp.json
        rid = resp.json["id"]
        assert resp.json["status"] == "vetted", resp.json["reasons"]
        h = {"Authorization": f"Bearer {uploader}"}
        assert client.post(f"/api/v1/apk/releases/{rid}/testing", headers=h).status_code == 200
        resp = client.post(f"/api/v1/apk/releases/{rid}/approve",
                           headers={"Authorization": f"Bearer {approver}"})
        assert resp.status_code == 200, resp.json
        return resp.json

    make.uploader, make.approver = uploader, approver
    return make


@pytest.fixture()
def make_channel(client, staff):
    """make_channel(name, **fields) -> channel JSON created through the API by an admin."""
    _u, token = staff("admin")

    def make(name, **fields):
        resp = client.post("/api/v1/apk/channels", json={"name": name, **fields},
                           headers={"Authorization": f"Bearer {token}"})
        assert resp.status_code == 201, resp.json
        return resp.json

    make.token = token
    return make


@pytest.fixture(scope="module")
def live_repo(tmp_path_factory, apk_factory):  # noqa: F811
    """A repository on disk (committed) with a released 6 MB APK; see ``apk_live``."""
    from apk_live import build_repository

    apk = apk_factory.build(package="com.dhis2", version_code=30500, version_name="3.5.0",
                            padding_bytes=6 * 1024 * 1024)
    return build_repository(tmp_path_factory.mktemp("apkrepo"), apk)


@pytest.fixture(scope="module")
def fleet_server(live_repo):
    """``fleet serve`` (gunicorn, HTTPS with its self-signed certificate) on a free port."""
    from apk_live import FleetServer

    server = FleetServer(live_repo, tls=True)
    yield server
    server.stop()
