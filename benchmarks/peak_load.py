"""Benchmark: the end-of-day peak (issue 9, item 2). Prints figures; asserts nothing.

The peak: ``--devices`` phones (default 1,000) at once, each doing an update check
(``GET /api/v1/updates/com.dhis2?versionCode=1`` with its own device download token) and then
posting a health report (``POST /api/v1/devices/<asset_tag>/health`` with its own push token,
a ~3 KB body like the push tests'), while ``--downloads`` clients (default 100) download the
approved APK (``GET /apk/<sha256>.apk?token=`` with a device token); about 20% of them cut
the connection part-way (TCP reset) and resume with ``Range``/``If-Range``; every download's
SHA-256 is checked. Every request opens its own TLS connection (``Connection: close``), as
phones on flaky links do.

Servers are real processes on 127.0.0.1: ``fleet serve`` (gunicorn over HTTPS, its defaults:
2 gthread workers, rate limiting ON, the scheduler child running), on SQLite (the embedded
default) and on a fresh PostgreSQL database (``tools/pg-test-server.sh``), with ``--devices``
devices registered and a real signed APK (``tests/apkfactory.py``) uploaded, vetted, approved
and released on the default channel. Same-run baselines: nginx (``deploy/nginx-fleet.conf``)
serving the same file over HTTPS to the same download clients, and ``GET /healthz`` from the
same number of devices at once.

Printed per request kind: count, req/s (count / span of that kind), latency p50/p95/p99
(connect + TLS handshake + request + whole answer; for APK requests until the last byte or
the cut), errors (non-2xx/206 answers, exceptions, checksum mismatches: each one printed);
the server's peak summed RSS and PSS (gunicorn master + workers + scheduler child, from
/proc/<pid>/smaps_rollup via psutil, every 50 ms) and the wall time.

The clients are Python asyncio (devices in this process, downloads in a second process so
decrypting 5 GB does not delay the device requests); they share the machine's cores with the
servers, so absolute figures are lower than with clients on other machines.

Run: ``python benchmarks/peak_load.py [--db sqlite|postgres|both] [--devices 1000]
[--downloads 100] [--apk-mb 50] [--quick]`` (``--quick``: 100 devices, 10 downloads, 5 MB).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import multiprocessing
import os
import random
import resource
import shutil
import ssl
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import astuple, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests"), str(REPO / "tests" / "apk"), str(REPO / "tests" / "deploy")]

from apk_download import RssSampler  # noqa: E402
from apk_live import FleetServer, Nginx, build_repository, unverified_tls  # noqa: E402
from apkfactory import ApkFactory  # noqa: E402
from deploy_live import postgres_database  # noqa: E402

MB = 1_000_000
PACKAGE = "com.dhis2"
#: Share of downloads cut part-way and resumed with Range (issue 9: "~20%").
CUT_SHARE = 0.2
REQUEST_TIMEOUT = 120.0
DOWNLOAD_TIMEOUT = 900.0
FIXTURES = REPO / "tests" / "reports" / "fixtures" / "rendered"


def log(msg: str = "") -> None:
    print(msg, flush=True)


def cpu_seconds(who=None, pids=None) -> float:
    """User + system CPU seconds of ``getrusage(who)``, or summed over ``pids`` (psutil)."""
    if pids is None:
        usage = resource.getrusage(who)
        return usage.ru_utime + usage.ru_stime
    import psutil

    total = 0.0
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def uptime() -> str:
    """The 1, 5 and 15 minute load averages (``/proc/loadavg``)."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


# ---- the HTTPS client --------------------------------------------------------------------------


@dataclass
class Sample:
    """One request: kind, status (0 on exception), start and end (perf_counter seconds),
    bytes of body received, and an error text (None when it counts as a success)."""

    kind: str
    status: int
    start: float
    end: float
    received: int = 0
    error: str | None = None


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes = b""
    received: int = 0


async def _open(port: int, ctx: ssl.SSLContext):
    return await asyncio.open_connection(
        "127.0.0.1", port, ssl=ctx, server_hostname="localhost", ssl_handshake_timeout=60,
        limit=256 * 1024)


async def _head(reader) -> tuple[int, dict[str, str]]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    return status, headers


def _request_bytes(method: str, path: str, headers: dict[str, str], body: bytes,
                   close: bool = True) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: localhost"]
    lines += ["Connection: close"] if close else []
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class Conn:
    """One client's TLS connection, opened on first use; kept for the next request only when
    asked (``keep=True``) and the server did not answer ``Connection: close``."""

    def __init__(self, port: int, ctx: ssl.SSLContext):
        self.port, self.ctx, self.rw = port, ctx, None

    async def fetch(self, method: str, path: str, headers: dict[str, str] | None = None,
                    body: bytes = b"", *, keep: bool = False) -> Answer:
        """The whole answer (Content-Length, else to EOF). Raises OSError/asyncio errors on
        connection failures."""
        stage = "connect + TLS handshake"
        try:
            if self.rw is None:
                self.rw = await _open(self.port, self.ctx)
            reader, writer = self.rw
            stage = "sending the request"
            writer.write(_request_bytes(method, path, headers or {}, body, close=not keep))
            await writer.drain()
            stage = "reading the answer"
            status, hdrs = await _head(reader)
            if "content-length" in hdrs:
                data = await reader.readexactly(int(hdrs["content-length"]))
            elif status in (204, 304) or method == "HEAD":
                data = b""
            else:
                keep, data = False, await reader.read()
        except BaseException as exc:
            exc.add_note(stage)
            self.close()
            raise
        if not keep or hdrs.get("connection", "").lower() == "close":
            self.close()
        return Answer(status, hdrs, data, len(data))

    def close(self) -> None:
        if self.rw is not None:
            self.rw[1].close()
            self.rw = None


async def fetch(port: int, ctx: ssl.SSLContext, method: str, path: str,
                headers: dict[str, str] | None = None, body: bytes = b"") -> Answer:
    """One request on a fresh TLS connection (``Connection: close``); see :class:`Conn`."""
    return await Conn(port, ctx).fetch(method, path, headers, body)


async def timed(kind: str, samples: list[Sample], coro, check) -> Answer | None:
    """Await ``coro`` (an :func:`fetch`) with a timeout; append a Sample whose error is
    ``check(answer)`` (a text, or None when the answer is right)."""
    t0 = time.perf_counter()
    try:
        answer = await asyncio.wait_for(coro, REQUEST_TIMEOUT)
    except Exception as exc:  # noqa: BLE001 - every failure is counted and printed
        samples.append(Sample(kind, 0, t0, time.perf_counter(), error=_exc_text(exc)))
        return None
    error = check(answer)
    samples.append(Sample(kind, answer.status, t0, time.perf_counter(), answer.received, error))
    return answer


def _exc_text(exc: BaseException) -> str:
    """``Type: message (while <stage>)``, at most 200 characters."""
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    notes = getattr(exc, "__notes__", None)
    return (text[:160] + (f" (while {', '.join(notes)})" if notes else ""))[:200]


def _bad(answer: Answer, want: int) -> str | None:
    if answer.status == want:
        return None
    return f"HTTP {answer.status} {answer.body[:120]!r}"


# ---- the devices ---------------------------------------------------------------------------------


def health_body(n: int) -> bytes:
    """A report like the push tests' (tests/reports/test_push_api.py) with the raw
    ``dumpsys battery`` and ``df`` text of a rendered Android 10 Samsung fixture (~3 KB)."""
    raw = {name: (FIXTURES / f"android10_samsung_{name}.txt").read_text()
           for name in ("battery", "df")}
    body = {"report_id": str(uuid.uuid4()), "battery_level": 20 + n % 80,
            "battery_health": "good", "battery_temperature_c": 29.5 + n % 7,
            "battery_status": "discharging", "battery_charging": False,
            "storage_total_mb": 24000, "storage_free_mb": 3000 + n % 9000,
            "ram_total_mb": 1880 + 1024 * (n % 2), "ram_available_mb": 600 + n % 400,
            "android_version": "10", "api_level": 29, "security_patch": "2021-07-01",
            "uptime_s": 7200 + n, "crypto_state": "encrypted", "screen_lock_set": True,
            "packages": {PACKAGE: {"version_code": 30700, "version_name": "3.7.0"}},
            "app_pss_mb": 171.4, "raw": raw}
    return json.dumps(body).encode()


async def device_peak(port: int, devices: list[tuple[str, str, str]], sha256: str,
                      keepalive: bool = False) -> tuple[list[Sample], float, Counter]:
    """Every device at once: update check, then health report, each on its own TLS
    connection, or both on one when ``keepalive``. ``devices`` holds
    (asset tag, download token, push token). Returns (samples, wall seconds, a Counter of
    (kind, X-RateLimit-Limit header) over the answers: proof the limiter was on)."""
    ctx = unverified_tls()
    samples: list[Sample] = []
    limits: Counter = Counter()
    bodies = [health_body(n) for n in range(len(devices))]
    go = asyncio.Event()

    def offered(answer: Answer) -> str | None:
        if answer.status != 200:
            return _bad(answer, 200)
        if json.loads(answer.body).get("sha256") != sha256:
            return f"update check offered {answer.body[:120]!r}"
        return None

    async def one(n: int, tag: str, dl_token: str, push_token: str) -> None:
        await go.wait()
        conn = Conn(port, ctx)
        answer = await timed("update check", samples, conn.fetch(
            "GET", f"/api/v1/updates/{PACKAGE}?versionCode=1",
            {"Authorization": f"Bearer {dl_token}"}, keep=keepalive), offered)
        if answer:
            limits["update check", answer.headers.get("x-ratelimit-limit")] += 1
            limits["kept alive", conn.rw is not None] += 1
        answer = await timed("health report", samples, conn.fetch(
            "POST", f"/api/v1/devices/{tag}/health",
            {"Authorization": f"Bearer {push_token}", "Content-Type": "application/json"},
            bodies[n]), lambda a: _bad(a, 201))
        if answer:
            limits["health report", answer.headers.get("x-ratelimit-limit")] += 1

    tasks = [asyncio.create_task(one(n, *d)) for n, d in enumerate(devices)]
    await asyncio.sleep(0)
    t0 = time.perf_counter()
    go.set()
    await asyncio.gather(*tasks)
    return samples, time.perf_counter() - t0, limits


async def healthz_peak(port: int, clients: int) -> tuple[list[Sample], float]:
    """``clients`` at once, each one ``GET /healthz`` on its own TLS connection."""
    ctx = unverified_tls()
    samples: list[Sample] = []
    t0 = time.perf_counter()
    await asyncio.gather(*(timed("GET /healthz", samples, fetch(port, ctx, "GET", "/healthz"),
                                 lambda a: _bad(a, 200)) for _ in range(clients)))
    return samples, time.perf_counter() - t0


# ---- the downloads -------------------------------------------------------------------------------


async def _download(port: int, ctx, path: str, size: int, sha256: str, cut_at: int | None,
                    prefix: str, samples: list[Sample]) -> None:
    """GET ``path``; when ``cut_at`` is set, reset the connection after about that many bytes
    and resume with ``Range: bytes=<got>-`` and ``If-Range: <ETag>``. Appends one Sample per
    request and a "download" Sample for the whole file (error on a checksum mismatch)."""
    digest, got, etag = hashlib.sha256(), 0, None
    t_start = time.perf_counter()

    async def request(kind: str, headers: dict[str, str], want: int, stop_at: int | None):
        nonlocal got, etag
        t0 = time.perf_counter()
        reader, writer = await _open(port, ctx)
        status, received, error = 0, 0, None
        try:
            writer.write(_request_bytes("GET", path, headers, b""))
            await writer.drain()
            status, hdrs = await _head(reader)
            if status != want:
                error = f"HTTP {status} {(await reader.read(200))!r}"
                return
            etag = etag or hdrs.get("etag")
            length = int(hdrs.get("content-length", -1))
            if length != size - got:
                error = f"Content-Length {length}, expected {size - got}"
                return
            if want == 206 and hdrs.get("content-range") != f"bytes {got}-{size - 1}/{size}":
                error = f"Content-Range {hdrs.get('content-range')!r} (from byte {got})"
                return
            while got < size:
                chunk = await reader.read(256 * 1024)
                if not chunk:
                    error = f"connection closed at byte {got} of {size}"
                    return
                digest.update(chunk)
                got += len(chunk)
                received += len(chunk)
                if stop_at is not None and got >= stop_at:
                    writer.transport.abort()  # the phone lost its signal: RST, no goodbye
                    return
        finally:
            writer.close()
            samples.append(Sample(kind, status, t0, time.perf_counter(), received, error))

    try:
        await asyncio.wait_for(request(f"{prefix} GET 200", {}, 200, cut_at), DOWNLOAD_TIMEOUT)
        if cut_at is not None and got < size:
            headers = {"Range": f"bytes={got}-"}
            if etag:
                headers["If-Range"] = etag
            await asyncio.wait_for(request(f"{prefix} Range 206", headers, 206, None),
                                   DOWNLOAD_TIMEOUT)
        error = None if got == size and digest.hexdigest() == sha256 else (
            f"SHA-256 mismatch ({got} of {size} bytes)" if got == size else
            f"incomplete ({got} of {size} bytes)")
    except Exception as exc:  # noqa: BLE001 - counted and printed
        error = _exc_text(exc)
    samples.append(Sample(f"{prefix} whole file", 200, t_start, time.perf_counter(), got,
                          error))


async def downloads(port: int, paths: list[str], size: int, sha256: str, prefix: str,
                    seed: int) -> list[Sample]:
    """All ``paths`` downloaded at once; a CUT_SHARE of them cut at 10-90% and resumed."""
    rng = random.Random(seed)
    cuts = set(rng.sample(range(len(paths)), round(CUT_SHARE * len(paths))))
    ctx = unverified_tls()
    samples: list[Sample] = []
    await asyncio.gather(*(
        _download(port, ctx, path, size, sha256,
                  int(size * rng.uniform(0.1, 0.9)) if n in cuts else None, prefix, samples)
        for n, path in enumerate(paths)))
    return samples


def _download_process(conn, port, paths, size, sha256, prefix, seed) -> None:
    """Child process: signal "ready", wait for "go", run :func:`downloads`, send samples."""
    conn.send("ready")
    conn.recv()
    samples = asyncio.run(downloads(port, paths, size, sha256, prefix, seed))
    # plain tuples: Sample is __mp_main__'s here; and this process's CPU seconds
    conn.send(([astuple(s) for s in samples], cpu_seconds(resource.RUSAGE_SELF)))
    conn.close()


class DownloadClients:
    """:func:`downloads` in a separate process; ``start()`` then ``result()``."""

    def __init__(self, port, paths, size, sha256, prefix, seed=9):
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_download_process,
                                args=(child, port, paths, size, sha256, prefix, seed))
        self.proc.start()
        if self.conn.recv() != "ready":
            raise RuntimeError("download client did not start")

    def start(self) -> None:
        self.conn.send("go")

    def result(self) -> list[Sample]:
        """The samples; ``self.cpu`` is then the client process's CPU seconds."""
        rows, self.cpu = self.conn.recv()
        self.proc.join(timeout=30)
        return [Sample(*t) for t in rows]


# ---- figures -------------------------------------------------------------------------------------


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile ``p`` (0-100) of ``values``; nan when empty."""
    values = sorted(values)
    if not values:
        return float("nan")
    return values[min(len(values) - 1, max(0, round(p / 100 * (len(values) - 1))))]


@dataclass
class Table:
    """Rows of figures per request kind, and every error, for one run."""

    title: str
    rows: list[str] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)
    error_secs: dict = field(default_factory=dict)

    def add(self, samples: list[Sample], label: str = "") -> None:
        kinds = sorted(dict.fromkeys(s.kind for s in samples), key=lambda k: "whole" in k)
        for kind in kinds:
            mine = [s for s in samples if s.kind == kind]
            span = max(s.end for s in mine) - min(s.start for s in mine)
            lat = [1000 * (s.end - s.start) for s in mine]
            errs = [s for s in mine if s.error]
            for s in errs:
                self.errors[f"{label}{kind}: {s.error}"] += 1
                self.error_secs.setdefault(f"{label}{kind}: {s.error}", []).append(s.end - s.start)
            mb = sum(s.received for s in mine) / MB
            rate = f"{mb / span:7.0f}" if mb > 1 else "       "
            self.rows.append(
                f"  {label + kind:40} {len(mine):6} {len(mine) / span:8.1f} {rate} "
                f"{pct(lat, 50):9.1f} {pct(lat, 95):9.1f} {pct(lat, 99):9.1f} {len(errs):6}")

    def print(self) -> None:
        log(f"\n{self.title}")
        log(f"  {'request kind':40} {'count':>6} {'req/s':>8} {'MB/s':>7} {'p50 ms':>9} "
            f"{'p95 ms':>9} {'p99 ms':>9} {'errors':>6}")
        for row in self.rows:
            log(row)
        if self.errors:
            log("  errors:")
            for text, n in self.errors.most_common():
                secs = sorted(self.error_secs[text])
                log(f"    {n:5} x {text} (after {secs[0]:.1f}-{secs[-1]:.1f} s)")
        else:
            log("  errors: none")


# ---- one database --------------------------------------------------------------------------------


def issue_push_tokens(repo) -> list[tuple[str, str, str]]:
    """A health push token for every device of ``repo``; returns (asset tag, download token,
    push token) for the devices that have a download token, in device id order."""
    from fleet_testing import make_test_app
    from sqlalchemy import select

    from fleet.extensions import db
    from fleet.inventory.models import Device
    from fleet.reports.operations import issue_token

    app = make_test_app(repo.data_dir, repo.database_url)
    with app.app_context():
        devices = db.session.scalars(select(Device).order_by(Device.id)
                                     .limit(len(repo.device_tokens))).all()
        out = [(d.asset_tag, dl, issue_token(d, actor=None)[1])
               for d, dl in zip(devices, repo.device_tokens, strict=True)]
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return out


def run_one(db_kind: str, database_url: str | None, apk: Path, root: Path, args) -> None:
    """Set up a repository on ``database_url`` (None: SQLite), start fleet serve and nginx,
    run the baselines and the peak, print the table."""
    t0 = time.perf_counter()
    repo = build_repository(root / "repo", apk, devices=args.devices,
                            device_tokens=max(args.devices, args.downloads),
                            database_url=database_url)
    devices = issue_push_tokens(repo)
    log(f"[{db_kind}] repository with {args.devices:,} devices, a download and a push token "
        f"each, APK {repo.size:,} bytes: set up in {time.perf_counter() - t0:.1f} s")
    sha, size = repo.sha256, repo.size
    # fleet serve's production defaults: rate limits on, scheduler child running.
    extra = {"WORKER_CONNECTIONS": args.worker_connections} if args.worker_connections else {}
    fleet = FleetServer(repo, tls=True, RATELIMIT_ENABLED="true", SCHEDULER_IN_SERVER="true",
                        **extra)
    nginx = None
    table = Table(f"[{db_kind}] {args.devices:,} devices at once + {args.downloads} downloads "
                  f"of {size / MB:.1f} MB ({round(CUT_SHARE * args.downloads)} cut and "
                  "resumed); latency = connect + TLS + request + whole answer")
    try:
        time.sleep(2)  # the scheduler child starts after gunicorn answers
        _rss, pss_start = RssSampler(fleet.pids).current()
        tls_dir = repo.data_dir / "tls"
        # nginx only serves the file (its proxy to the app is unused: the app speaks HTTPS)
        static = (f"    location /direct/ {{ alias {repo.data_dir / 'apks'}/; }}\n"
                  "    location = /healthz { return 200 'ok'; }")
        nginx = Nginx(root / "nginx", upstream_port=fleet.port, apk_dir=repo.data_dir / "apks",
                      cert=tls_dir / "cert.pem", key=tls_dir / "key.pem",
                      extra_locations=static)
        # baseline 1: nginx static, same file, same download clients
        rel = f"/direct/{sha[:2]}/{sha}.apk"
        clients = DownloadClients(nginx.https_port, [rel] * args.downloads, size, sha,
                                  "nginx static APK")
        t = time.perf_counter()
        clients.start()
        table.add(clients.result(), "baseline ")
        nginx_wall = time.perf_counter() - t
        # baseline 2: /healthz from as many clients at once as there are devices
        cpu0 = cpu_seconds(pids=fleet.pids())
        samples, _wall = asyncio.run(healthz_peak(fleet.port, args.devices))
        healthz_cpu_ms = 1000 * (cpu_seconds(pids=fleet.pids()) - cpu0) / max(len(samples), 1)
        table.add(samples, "baseline ")
        time.sleep(2)

        # the peak
        sampler = RssSampler(fleet.pids)
        server_cpu0, client_cpu0 = cpu_seconds(pids=fleet.pids()), cpu_seconds(resource.RUSAGE_SELF)
        rss0, pss0 = sampler.current()
        load_before = uptime()
        paths = [f"/apk/{sha}.apk?token={devices[n % len(devices)][1]}"
                 for n in range(args.downloads)]
        clients = DownloadClients(fleet.port, paths, size, sha, "APK")
        with sampler:
            t = time.perf_counter()
            clients.start()
            time.sleep(0.5)  # downloads under way when the devices arrive
            dev_samples, dev_wall, limits = asyncio.run(
                device_peak(fleet.port, devices, sha, keepalive=args.keepalive))
            client_cpu = cpu_seconds(resource.RUSAGE_SELF) - client_cpu0
            load_during = uptime()
            dl_samples = clients.result()
            wall = time.perf_counter() - t
        table.add(dev_samples)
        table.add(dl_samples)
        processes = len(fleet.pids())
        server_cpu = cpu_seconds(pids=fleet.pids()) - server_cpu0
        log_text = fleet.log.read_text(errors="replace")
        server_errors = [line for line in log_text.splitlines()
                         if "Traceback" in line or " ERROR " in line or "[CRITICAL]" in line]
    finally:
        if nginx is not None:
            nginx.stop()
        fleet.stop()
    table.print()
    log(f"  server processes sampled: {processes} at the end (gunicorn master, "
        "workers, scheduler)")
    log(f"  server memory: PSS sum {pss_start / 2**20:.0f} MiB just after start | before the "
        f"peak (after the baselines) RSS sum {rss0 / 2**20:.0f} MiB, PSS sum "
        f"{pss0 / 2**20:.0f} MiB | peak RSS sum {sampler.peak / 2**20:.0f} MiB, peak PSS sum "
        f"{sampler.peak_pss / 2**20:.0f} MiB")
    log(f"  wall: peak {wall:.1f} s (devices done after {dev_wall:.1f} s from their start); "
        f"nginx baseline downloads {nginx_wall:.1f} s")
    log(f"  CPU seconds during the peak ({os.cpu_count()} cores x wall = "
        f"{os.cpu_count() * wall:.0f}): fleet "
        f"server {server_cpu:.1f}, device client {client_cpu:.1f}, download client "
        f"{clients.cpu:.1f} (baseline /healthz: {healthz_cpu_ms:.1f} server CPU ms a request)")
    kept = limits.pop(("kept alive", True), 0)
    limits.pop(("kept alive", False), None)
    log("  rate limiter on: answers by (kind, X-RateLimit-Limit) "
        + ", ".join(f"{k[0]} {k[1]!r}: {n}" for k, n in sorted(limits.items(), key=str)))
    log(f"  client keep-alive {'on' if args.keepalive else 'off'}: {kept} health reports "
        "reused the update check's connection")
    log(f"  load average (1/5/15 min): before the peak {load_before}, at the end of the "
        f"device requests {load_during}")
    log(f"  server log lines with ERROR/Traceback/CRITICAL: {len(server_errors)}")
    for line in server_errors[:10]:
        log(f"    {line[:200]}")
    if args.keep:
        log(f"  kept {root}; server log {fleet.log}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    ap.add_argument("--devices", type=int, default=1000)
    ap.add_argument("--downloads", type=int, default=100)
    ap.add_argument("--apk-mb", type=float, default=50)
    ap.add_argument("--quick", action="store_true",
                    help="smoke size: 100 devices, 10 downloads, 5 MB APK")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--keepalive", action="store_true",
                    help="each device sends both requests on one TLS connection")
    ap.add_argument("--worker-connections", type=int, default=0,
                    help="FLEET_WORKER_CONNECTIONS for fleet serve (default: fleet's own)")
    args = ap.parse_args()
    if args.quick:
        args.devices, args.downloads, args.apk_mb = 100, 10, 5
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 4 * (args.devices + args.downloads) + 256
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, need)), hard))
    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < need:
        log(f"warning: open-file limit {resource.getrlimit(resource.RLIMIT_NOFILE)[0]} < {need}")
    log(f"CPU: {os.cpu_count()} cores; Python {sys.version.split()[0]}; load average "
        f"(1/5/15 min) at start {uptime()}")
    root = Path(tempfile.mkdtemp(prefix="fleet-peak-"))
    try:
        t = time.perf_counter()
        apk = ApkFactory(root / "factory").build(
            package=PACKAGE, version_code=30800, version_name="3.8.0",
            padding_bytes=int(args.apk_mb * MB))
        log(f"built a signed {apk.stat().st_size / MB:.1f} MB APK in "
            f"{time.perf_counter() - t:.1f} s")
        if args.db in ("sqlite", "both"):
            run_one("SQLite", None, apk, root / "sqlite", args)
        if args.db in ("postgres", "both"):
            with postgres_database() as url:
                run_one("PostgreSQL", url, apk, root / "postgres", args)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
