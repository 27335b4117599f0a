"""``deploy/nginx-fleet.conf`` in a real nginx in front of ``fleet serve`` with
X-Accel-Redirect: the app decides, nginx sends the bytes."""

from __future__ import annotations

import hashlib
import http.client

import pytest
from apk_live import FleetServer, Nginx, unverified_tls

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def nginx_stack(live_repo, tmp_path_factory):
    app = FleetServer(live_repo, tls=False, APK_X_ACCEL_REDIRECT="/protected-apks/")
    tls_dir = live_repo.data_dir / "tls"
    from fleet.server import ensure_self_signed_cert

    ensure_self_signed_cert(tls_dir / "nginx-cert.pem", tls_dir / "nginx-key.pem")
    root = tmp_path_factory.mktemp("nginx")
    try:
        nginx = Nginx(root, upstream_port=app.port, apk_dir=live_repo.data_dir / "apks",
                      cert=tls_dir / "nginx-cert.pem", key=tls_dir / "nginx-key.pem",
                      access_log=root / "logs" / "access.log")
    except Exception:
        app.stop()
        raise
    yield app, nginx
    nginx.stop()
    app.stop()


def _get(port, path, headers=None, method="GET"):
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=unverified_tls(), timeout=30)
    conn.request(method, path, headers=headers or {})
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp, body


def test_nginx_sends_the_bytes_after_the_app_decides(nginx_stack, live_repo):
    app, nginx = nginx_stack
    path = f"/apk/{live_repo.sha256}/com.dhis2-3.5.0.apk?token={live_repo.token}"
    # the app alone answers with the redirect header and no body
    conn = http.client.HTTPConnection("127.0.0.1", app.port, timeout=30)
    conn.request("GET", path)
    direct = conn.getresponse()
    assert direct.getheader("X-Accel-Redirect") == (
        f"/protected-apks/{live_repo.sha256[:2]}/{live_repo.sha256}.apk")
    assert direct.read() == b""
    conn.close()
    # through nginx: the whole file, right type, no internal header leaked
    resp, body = _get(nginx.https_port, path)
    assert resp.status == 200
    assert hashlib.sha256(body).hexdigest() == live_repo.sha256
    assert int(resp.getheader("Content-Length")) == live_repo.size
    assert resp.getheader("Content-Type") == "application/vnd.android.package-archive"
    assert resp.getheader("X-Accel-Redirect") is None
    assert "com.dhis2-3.5.0.apk" in resp.getheader("Content-Disposition")
    assert "immutable" in resp.getheader("Cache-Control")
    # resume with Range through nginx
    resp, tail = _get(nginx.https_port, path, {"Range": "bytes=4000000-"})
    assert resp.status == 206
    assert body[:4000000] + tail == body
    resp, _ = _get(nginx.https_port, path, {"Range": f"bytes={live_repo.size}-"})
    assert resp.status == 416
    resp, head_body = _get(nginx.https_port, path, method="HEAD")
    assert resp.status == 200 and head_body == b""


def test_nginx_path_still_checks_tokens(nginx_stack, live_repo):
    _app, nginx = nginx_stack
    sha = live_repo.sha256
    assert _get(nginx.https_port, f"/apk/{sha}.apk")[0].status == 401
    assert _get(nginx.https_port, f"/apk/{sha}.apk?token={live_repo.revoked_token}")[0].status \
        == 401
    assert _get(nginx.https_port,
                f"/apk/{sha}.apk?token={live_repo.other_channel_token}")[0].status == 403
    # the internal location cannot be reached from outside
    resp, _ = _get(nginx.https_port, f"/protected-apks/{sha[:2]}/{sha}.apk")
    assert resp.status == 404


def test_plain_http_redirects_to_https(nginx_stack):
    _app, nginx = nginx_stack
    conn = http.client.HTTPConnection("127.0.0.1", nginx.http_port, timeout=10)
    conn.request("GET", "/install/production")
    resp = conn.getresponse()
    assert resp.status == 301
    assert resp.getheader("Location").startswith("https://")


def test_nginx_access_log_holds_no_download_token(nginx_stack, live_repo):
    """deploy/nginx-fleet.conf logs the path without its query string and without the Referer
    (``log_format fleet_notoken``): downloads with ``?token=``, a request whose Referer carries
    one, and the plain-HTTP redirect leave no token in nginx's access log."""
    _app, nginx = nginx_stack
    sha, token = live_repo.sha256, live_repo.token
    resp, body = _get(nginx.https_port, f"/apk/{sha}/com.dhis2-3.5.0.apk?token={token}")
    assert resp.status == 200 and hashlib.sha256(body).hexdigest() == sha
    resp, _ = _get(nginx.https_port, f"/apk/{sha}.apk",
                   {"Referer": f"{nginx.base}/apk/{sha}.apk?token={token}"})
    assert resp.status == 401
    conn = http.client.HTTPConnection("127.0.0.1", nginx.http_port, timeout=30)
    conn.request("GET", f"/apk/{sha}.apk?token={token}")
    redirect = conn.getresponse()
    redirect.read()
    conn.close()
    assert redirect.status == 301 and token in redirect.getheader("Location")
    log = nginx.access_log.read_text()  # nginx writes each line as its request ends
    assert f'"GET /apk/{sha}/com.dhis2-3.5.0.apk HTTP/1.1" 200 {live_repo.size} ' in log, log
    assert f'"GET /apk/{sha}.apk HTTP/1.1" 401 ' in log and f'"GET /apk/{sha}.apk HTTP/1.1" 301 ' \
        in log, log
    assert token not in log and token[:20] not in log and "token=" not in log, log
