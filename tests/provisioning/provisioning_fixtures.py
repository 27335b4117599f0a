"""Fixtures for provisioning runs: releases stored in the app's APK store, profiles, stations,
and a runner that invokes ``fleet ...`` commands.

``make_release(apk, status="released")``  -- a ``fleet.apk.models.Release`` row for a built APK
                                             (file copied into APK_STORE_DIR), committed.
``make_profile(name, releases, **fields)`` -- a provisioning profile, committed.
``local_station(server)``                  -- a ``local`` station for an AdbServer, committed.
``prov(*args)``                            -- ``runner.invoke`` of the fleet CLI; returns result.
"""

from __future__ import annotations

import itertools

import pytest
from apkfactory import aapt_badging, sha256_file

_seq = itertools.count(1)


@pytest.fixture
def make_release(app, db, signing_keys):
    from fleet.apk.models import Release
    from fleet.apk.storage import ApkStore

    def make(apk, *, status: str = "released", key: str = "release"):
        info = aapt_badging(apk)
        stored = ApkStore(app.config["APK_STORE_DIR"]).store_file(apk)
        rel = Release(
            package=info["package"], version_code=int(info["version_code"]),
            version_name=info.get("version_name"), min_sdk=int(info["min_sdk"]),
            target_sdk=int(info.get("target_sdk") or info["min_sdk"]), sha256=stored.sha256,
            size=stored.size, file_name=apk.name, signer_sha256=signing_keys[key].cert_sha256,
            status=status, uploaded_by="test")
        db.session.add(rel)
        db.session.commit()
        assert rel.sha256 == sha256_file(apk)
        return rel

    return make


@pytest.fixture
def make_profile(db):
    from fleet.provisioning.operations import create_profile

    def make(name=None, releases=(), **fields):
        fields.setdefault("require_encryption", True)
        p = create_profile(name or f"profile{next(_seq)}",
                           {"release_ids": [r.id for r in releases], **fields}, actor=None)
        db.session.commit()
        return p

    return make


@pytest.fixture
def local_station(db):
    from fleet.provisioning.operations import create_station

    def make(server, name=None):
        s = create_station(name or f"hub{next(_seq)}",
                           {"kind": "local", "adb_port": server.port}, actor=None)
        db.session.commit()
        return s

    return make


@pytest.fixture
def prov(runner):
    def invoke(*args):
        return runner.invoke(args=[str(a) for a in args], catch_exceptions=False)

    return invoke
