"""The agreement file store after crashes: files no row refers to (a crash or a refused commit
between storing a file and committing its row) and ``.tmp-*`` files of interrupted writes are
deleted by the scheduled sweep once an hour old; referenced files never are, and a file being
stored again is never taken away. The SIGKILL itself is in tests/deploy/test_faults.py."""

from __future__ import annotations

import base64
import os
import time
from pathlib import Path

import pytest
from agreement_testing import signature_png
from PIL import Image

from fleet.agreements import files
from fleet.agreements import operations as ops
from fleet.agreements.jobs import sweep_orphan_files


@pytest.fixture(autouse=True)
def own_store(app, tmp_path, monkeypatch):
    """A file store of this test's own (the app, and its DATA_DIR, last the whole session)."""
    monkeypatch.setitem(app.config, "DATA_DIR", str(tmp_path))


@pytest.fixture()
def app_ctx(app):
    with app.app_context():
        yield app


def _aged(path: Path, hours: float = 2) -> None:
    then = time.time() - hours * 3600
    os.utime(path, (then, then))


def _png(color: str) -> bytes:
    import io

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buf, "PNG")
    return buf.getvalue()


def test_sweep_deletes_old_orphans_and_temp_files_only(app, db, checked_out, create_user):
    agreement = ops.create_agreement(checked_out(), actor=create_user("logistics"))
    ops.print_agreement(agreement, actor=None)
    png = signature_png()
    signature = ops.sign_holder(agreement, png=png, shown_text_sha256=agreement.terms_sha256,
                                actor=None)
    db.session.commit()
    signed = files.path_for(signature.png_sha256, "image/png")
    old_orphan = files.path_for(files.put(_png("red"), "image/png"), "image/png")
    young_orphan = files.path_for(files.put(_png("blue"), "image/png"), "image/png")
    half_written = old_orphan.parent / f"{files.TEMP_PREFIX}abc123"
    half_written.write_bytes(b"\x89PNG half")
    for path in (signed, old_orphan, half_written):
        _aged(path)

    assert sweep_orphan_files() == "deleted 2 unreferenced agreement files"
    assert not old_orphan.exists() and not half_written.exists()
    assert young_orphan.exists()
    assert signed.read_bytes() == png
    assert ops.signature_bytes(signature) == png
    assert [p.name for p in files.store_root().rglob(f"{files.TRASH_PREFIX}*")] == []


def test_storing_the_same_bytes_again_protects_an_old_orphan(app_ctx):
    data = _png("green")
    path = files.path_for(files.put(data, "image/png"), "image/png")
    _aged(path)
    # a request stores the same bytes (to commit a row referring to them): fresh again
    assert files.put(data, "image/png") == path.stem
    assert files.sweep(set(), min_age_s=3600) == []
    assert path.read_bytes() == data


def test_a_file_stored_again_while_the_sweep_looks_at_it_is_given_back(app_ctx, monkeypatch):
    """put() of the same bytes lands between the sweep's age check and its rename: the
    sweep sees the fresh time on the renamed file and puts it back."""
    data = _png("yellow")
    path = files.path_for(files.put(data, "image/png"), "image/png")
    _aged(path)
    rename = os.rename

    def put_then_rename(src, dst):
        files.put(data, "image/png")  # the concurrent request, at the worst moment
        rename(src, dst)

    monkeypatch.setattr(files.os, "rename", put_then_rename)
    assert files.sweep(set(), min_age_s=3600) == []
    assert path.read_bytes() == data
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_signing_after_the_orphan_was_swept_stores_the_file_again(app, db, client, login,
                                                                   checked_out, create_user):
    agreement = ops.create_agreement(checked_out(), actor=create_user("logistics"))
    ops.print_agreement(agreement, actor=None)
    db.session.commit()
    png = signature_png()
    orphan = files.path_for(files.put(png, "image/png"), "image/png")  # the crash's leftover
    _aged(orphan)
    assert files.sweep(set(), min_age_s=3600) == [f"{orphan.parent.name}/{orphan.name}"]
    login("logistics")
    resp = client.post(f"/api/v1/agreements/{agreement.id}/signature", json={
        "signature": "data:image/png;base64," + base64.b64encode(png).decode(),
        "text_sha256": agreement.terms_sha256})
    assert resp.status_code == 201, resp.json
    assert orphan.read_bytes() == png
