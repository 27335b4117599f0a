"""Downloads over real sockets from ``fleet serve`` (gunicorn, HTTPS): full file, a connection
cut mid-file and resumed with Range + If-Range, HEAD, If-None-Match, 416, tokens."""

from __future__ import annotations

import hashlib
import http.client
import socket

import pytest
from apk_live import unverified_tls

pytestmark = pytest.mark.slow


def _conn(server):
    return http.client.HTTPSConnection("127.0.0.1", server.port, context=unverified_tls(),
                                       timeout=30)


def _get(server, path, headers=None, method="GET"):
    conn = _conn(server)
    conn.request(method, path, headers=headers or {})
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp, body


def test_full_download_matches_sha256(fleet_server, live_repo):
    resp, body = _get(fleet_server, f"/apk/{live_repo.sha256}.apk?token={live_repo.token}")
    assert resp.status == 200
    assert int(resp.getheader("Content-Length")) == live_repo.size == len(body)
    assert resp.getheader("Content-Type") == "application/vnd.android.package-archive"
    assert resp.getheader("ETag") == f'"{live_repo.sha256}"'
    assert resp.getheader("Accept-Ranges") == "bytes"
    assert "immutable" in resp.getheader("Cache-Control")
    assert hashlib.sha256(body).hexdigest() == live_repo.sha256
    assert body == live_repo.apk.read_bytes()


def test_connection_cut_mid_file_then_resumed_with_range(fleet_server, live_repo):
    path = f"/apk/{live_repo.sha256}/com.dhis2-3.5.0.apk?token={live_repo.token}"
    raw = socket.create_connection(("127.0.0.1", fleet_server.port), timeout=30)
    tls = unverified_tls().wrap_socket(raw, server_hostname="127.0.0.1")
    tls.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
    received = b""
    while b"\r\n\r\n" not in received or len(received) < 2_500_000:
        chunk = tls.recv(65536)
        assert chunk, "server closed early"
        received += chunk
    head, _, partial = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    tls.close()  # the phone lost its signal mid-file
    assert 0 < len(partial) < live_repo.size
    resp, rest = _get(fleet_server, path, {"Range": f"bytes={len(partial)}-",
                                           "If-Range": f'"{live_repo.sha256}"'})
    assert resp.status == 206
    assert resp.getheader("Content-Range") == (
        f"bytes {len(partial)}-{live_repo.size - 1}/{live_repo.size}")
    whole = partial + rest
    assert hashlib.sha256(whole).hexdigest() == live_repo.sha256


def test_if_range_mismatch_gives_the_whole_file(fleet_server, live_repo):
    resp, body = _get(fleet_server, f"/apk/{live_repo.sha256}.apk?token={live_repo.token}",
                      {"Range": "bytes=1000-", "If-Range": '"something-else"'})
    assert resp.status == 200
    assert len(body) == live_repo.size


def test_head_if_none_match_and_416(fleet_server, live_repo):
    path = f"/apk/{live_repo.sha256}.apk?token={live_repo.token}"
    resp, body = _get(fleet_server, path, method="HEAD")
    assert (resp.status, body) == (200, b"")
    assert int(resp.getheader("Content-Length")) == live_repo.size
    resp, body = _get(fleet_server, path, {"If-None-Match": f'"{live_repo.sha256}"'})
    assert (resp.status, body) == (304, b"")
    resp, _ = _get(fleet_server, path, {"Range": f"bytes={live_repo.size}-"})
    assert resp.status == 416
    assert resp.getheader("Content-Range") == f"bytes */{live_repo.size}"


def test_tokens_over_http(fleet_server, live_repo):
    sha = live_repo.sha256
    assert _get(fleet_server, f"/apk/{sha}.apk")[0].status == 401
    assert _get(fleet_server, f"/apk/{sha}.apk?token={live_repo.revoked_token}")[0].status == 401
    assert _get(fleet_server,
                f"/apk/{sha}.apk?token={live_repo.other_channel_token}")[0].status == 403
    resp, body = _get(fleet_server, f"/apk/{sha}.apk",
                      {"Authorization": f"Bearer {live_repo.token}"})
    assert resp.status == 200 and len(body) == live_repo.size


def test_update_check_over_http(fleet_server, live_repo):
    import json

    resp, body = _get(fleet_server, "/api/v1/updates/com.dhis2?versionCode=30400",
                      {"Authorization": f"Bearer {live_repo.token}"})
    assert resp.status == 200
    data = json.loads(body)
    assert (data["versionCode"], data["versionName"], data["sha256"]) == (
        30500, "3.5.0", live_repo.sha256)
    assert data["releaseNotes"] == "Tested for the campaign."
    resp, body = _get(fleet_server, "/api/v1/updates/com.dhis2?versionCode=30500",
                      {"Authorization": f"Bearer {live_repo.token}"})
    assert (resp.status, body) == (204, b"")


def test_default_server_holds_many_open_downloads_and_still_answers(fleet_server, live_repo):
    """``fleet serve``'s default worker setup keeps serving past 2 x 16 open downloads (the
    old gthread default stalled the 33rd phone and every update check behind it): 80 phones
    each read only the start of the APK and keep the connection open; all of them get their
    answer, and an update check still answers while they hang on."""
    path = f"/apk/{live_repo.sha256}.apk?token={live_repo.token}"
    ctx = unverified_tls()
    phones = []
    try:
        for _ in range(80):
            raw = socket.create_connection(("127.0.0.1", fleet_server.port), timeout=60)
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
            tls = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
            tls.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = tls.recv(4096)
                assert chunk, "connection closed before the answer"
                head += chunk
            assert head.startswith(b"HTTP/1.1 200"), head[:80]
            phones.append(tls)  # never read further: a phone on a very slow link
        resp, body = _get(fleet_server, "/api/v1/updates/com.dhis2?versionCode=1",
                          {"Authorization": f"Bearer {live_repo.token}"})
        assert resp.status == 200 and b'"versionCode":30500' in body.replace(b" ", b"")
    finally:
        for tls in phones:
            tls.close()
