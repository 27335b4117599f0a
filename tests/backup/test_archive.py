"""The archive checks on hand-made tars: names, member types, manifest agreement."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile

import pytest

from fleet.backup.archive import FORMAT, FORMAT_VERSION, InvalidBackup, valid_member_name, verify


def _tar(path, members, *, manifest_members=None, extra=()):
    """Write a tar of ``members`` ({name: bytes}) with a manifest listing
    ``manifest_members`` (default: the members) and then ``extra`` raw TarInfo entries."""
    listed = manifest_members if manifest_members is not None else members
    manifest = {"format": FORMAT, "format_version": FORMAT_VERSION,
                "database": {"dialect": "sqlite", "alembic_revisions": []},
                "members": [{"name": n, "sha256": hashlib.sha256(d).hexdigest(),
                             "size": len(d), "kind": "data"} for n, d in listed.items()]}
    body = json.dumps(manifest).encode()
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for info in extra:
            tar.addfile(info)
        for name, data in (("manifest.json", body),
                           ("manifest.sha256", hashlib.sha256(body).hexdigest().encode())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_a_consistent_archive_verifies(tmp_path):
    manifest = verify(_tar(tmp_path / "ok.tar", {"database/fleet.sqlite3": b"db",
                                                 "files/data/agreements/ab/x.png": b"png"}))
    assert [m["name"] for m in manifest["members"]] == ["database/fleet.sqlite3",
                                                       "files/data/agreements/ab/x.png"]


@pytest.mark.parametrize("name", ["../etc/passwd", "/etc/passwd", "files/data/../../x",
                                  "files/other/x", "database/a/b", "files/data//x",
                                  "files\\data\\x", "notes.txt"])
def test_names_outside_the_format_are_refused(tmp_path, name):
    assert not valid_member_name(name)
    with pytest.raises(InvalidBackup, match="unexpected member name"):
        verify(_tar(tmp_path / "bad.tar", {name: b"x"}))


def test_links_and_unlisted_or_missing_members_are_refused(tmp_path):
    link = tarfile.TarInfo("files/data/evil")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/shadow"
    with pytest.raises(InvalidBackup, match="not a regular file"):
        verify(_tar(tmp_path / "link.tar", {}, extra=[link]))
    with pytest.raises(InvalidBackup, match="not listed in the manifest"):
        verify(_tar(tmp_path / "extra.tar", {"files/data/a": b"a"}, manifest_members={}))
    with pytest.raises(InvalidBackup, match="missing"):
        verify(_tar(tmp_path / "missing.tar", {}, manifest_members={"files/data/a": b"a"}))
    with pytest.raises(InvalidBackup, match="has 1 bytes"):
        verify(_tar(tmp_path / "size.tar", {"files/data/a": b"a"},
                    manifest_members={"files/data/a": b"ab"}))
    (tmp_path / "junk.tar").write_bytes(b"not a tar at all" * 100)
    with pytest.raises(InvalidBackup):
        verify(tmp_path / "junk.tar")
