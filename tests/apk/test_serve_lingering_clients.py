"""``fleet serve`` and phones on poor links: clients that got their answer but do not close
their end, and clients slow to send their first TLS packet.

gunicorn 27's gthread worker closes a finished connection gracefully -- FIN, then up to 2 s of
waiting for the client's own close -- and did it on the loop that accepts new connections, one
connection after another. Phones on a lost or slow link do not close at once, so a burst of
them held every later phone in the accept queue (benchmarks/peak_load.py: the update checks
after a burst of 100 TLS clients waited over 60 s). fleet.server.closing_thread_worker closes
in the request's thread instead.
"""

from __future__ import annotations

import http.client
import socket
import threading

from apk_live import FleetServer, unverified_tls

PHONES = 40


def _lingering_phone(port: int, answered: list, release: threading.Event) -> None:
    """Ask for /healthz with ``Connection: close``, read the answer, then keep the connection
    open (never close, never read on) until ``release``: a phone whose signal went away."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=300)
    tls = unverified_tls().wrap_socket(raw, server_hostname="127.0.0.1")
    try:
        tls.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        answered.append(tls.recv(64)[:12])
        release.wait(300)
    finally:
        raw.close()


def test_phones_that_do_not_close_do_not_hold_up_the_next_update_check(live_repo):
    """One worker; 40 phones get their answer and then keep their connections open; an update
    check made right behind them is answered within a phone's patience (the client gives up
    after 20 s; the old worker took about 2 s per lingering phone, 80 s here)."""
    server = FleetServer(live_repo, tls=True, workers=1)
    release = threading.Event()
    answered: list[bytes] = []
    phones = [threading.Thread(target=_lingering_phone, args=(server.port, answered, release))
              for _ in range(PHONES)]
    try:
        for phone in phones:
            phone.start()
        conn = http.client.HTTPSConnection("127.0.0.1", server.port, timeout=20,
                                           context=unverified_tls())
        conn.request("GET", "/api/v1/updates/com.dhis2?versionCode=1",
                     headers={"Authorization": f"Bearer {live_repo.token}"})
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
        assert resp.status == 200, body
        assert live_repo.sha256.encode() in body
    finally:
        release.set()
        for phone in phones:
            phone.join(timeout=60)
        server.stop()
    assert answered == [b"HTTP/1.1 200"] * PHONES
    assert "ClosingThreadWorker" in server.log.read_text()


def test_a_phone_slow_to_start_its_tls_handshake_is_still_served(fleet_server):
    """A phone whose first TLS packet comes 10 s after its TCP connect (lost packets on a 2G
    link; OkHttp waits 10 s for connect + handshake) gets its answer; gunicorn's default closed
    such a connection after about 7 s of silence."""
    raw = socket.create_connection(("127.0.0.1", fleet_server.port), timeout=60)
    try:
        threading.Event().wait(10)
        tls = unverified_tls().wrap_socket(raw, server_hostname="127.0.0.1")
        tls.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        assert tls.recv(64).startswith(b"HTTP/1.1 200")
    finally:
        raw.close()
