"""Benchmark: APK downloads and update checks, fleet against nginx in the same run.

Issue 4 asks for, each against nginx serving the same file on this machine in the same run:

1. 100 concurrent clients downloading a 50 MB APK: throughput ratio fleet / nginx, for fleet
   sending the bytes itself (target >= 0.8) and through nginx with X-Accel-Redirect
   (target >= 0.95);
2. the server's peak RSS during 200 concurrent downloads (sum over the gunicorn master and
   workers; target flat, under 200 MB);
3. update-check requests per second with 10,000 devices registered.

And DESIGN.md "Storage and scale" asks which gunicorn worker class ``fleet serve`` should use
for ~1,000 slow (10-50 KB/s) downloads while update checks stay fast; figure 4 answers that:
1,000 slow clients held open while update checks are timed.

Run: ``python benchmarks/apk_download.py [--size-mb 50] [--clients 100] [--rss-clients 200]
[--slow-clients 1000] [--slow-seconds 20] [--skip-tls]``

Setup: a real signed 50 MB APK (``tests/apkfactory.py``), uploaded, vetted, approved and
released through fleet's operations into a SQLite repository with 10,000 devices; servers are
real processes on 127.0.0.1: ``fleet serve`` (gunicorn) with the worker class under test, and
nginx 1.22 running ``deploy/nginx-fleet.conf`` plus a plain-HTTP server block with the same
locations. Clients: curl processes (figures 1-2, HTTP/1.1, one connection each) and an asyncio
client (figures 3-4). Client and servers share this machine's cores, so absolute figures are
lower than on separate machines; the ratios are what the run compares.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests"), str(REPO / "tests" / "apk")]

from apk_live import FleetServer, Nginx, build_repository  # noqa: E402
from apkfactory import ApkFactory  # noqa: E402

from fleet.server import DEFAULT_THREADS  # noqa: E402

MB = 1_000_000


def log(msg: str) -> None:
    print(msg, flush=True)


# ---- curl load (figures 1 and 2) -------------------------------------------------------------


def curl_load(
    url: str, clients: int, *, expect_size: int, limit_rate: str | None = None, tls: bool = False
) -> float:
    """``clients`` curl processes download ``url`` at once; returns wall seconds. Raises if any
    download is not a 200 of ``expect_size`` bytes."""
    cmd = ["curl", "-s", "-o", "/dev/null", "--http1.1", "-w", "%{http_code} %{size_download}"]
    if tls:
        cmd.append("-k")
    if limit_rate:
        cmd += ["--limit-rate", limit_rate]
    start = time.perf_counter()
    procs = [
        subprocess.Popen([*cmd, url], stdout=subprocess.PIPE, text=True) for _ in range(clients)
    ]
    outs = [p.communicate()[0] for p in procs]
    wall = time.perf_counter() - start
    bad = [o for o in outs if o != f"200 {expect_size}"]
    if bad:
        raise RuntimeError(f"{len(bad)} of {clients} downloads failed from {url}: {bad[:3]}")
    return wall


class RssSampler:
    """Samples the summed RSS of ``pids()`` every 50 ms in a thread; ``peak`` in bytes."""

    def __init__(self, pids):
        import psutil

        self._psutil, self.pids, self._stop = psutil, pids, threading.Event()
        self.peak = self.peak_pss = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def current(self) -> tuple[int, int]:
        """(sum of RSS, sum of PSS) in bytes. RSS counts pages the forked workers share with
        the master once per process; PSS divides shared pages among the sharers."""
        rss = pss = 0
        for pid in self.pids():
            try:
                info = self._psutil.Process(pid).memory_full_info()
            except self._psutil.NoSuchProcess:
                continue
            rss += info.rss
            pss += info.pss
        return rss, pss

    def _run(self):
        while not self._stop.is_set():
            rss, pss = self.current()
            self.peak = max(self.peak, rss)
            self.peak_pss = max(self.peak_pss, pss)
            time.sleep(0.05)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self.thread.join()


# ---- asyncio HTTP/1.1 client (figures 3 and 4) ----------------------------------------------


async def _request(reader, writer, path: str, headers: str) -> int:
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}\r\n".encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    if length:
        await reader.readexactly(length)
    return status


async def update_load(
    port: int, paths_headers: list[tuple[str, str]], *, connections: int, seconds: float
) -> tuple[float, dict]:
    """Keep-alive clients cycling through (path, headers); returns (requests/s, statuses)."""
    statuses: dict[int, int] = {}
    deadline = time.perf_counter() + seconds

    async def worker(offset: int):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        i = offset
        while time.perf_counter() < deadline:
            path, headers = paths_headers[i % len(paths_headers)]
            try:
                status = await _request(reader, writer, path, headers)
            except (asyncio.IncompleteReadError, ConnectionError):
                # the server closed a keep-alive connection (nginx after 1,000 requests)
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                continue
            statuses[status] = statuses.get(status, 0) + 1
            i += connections
        writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(worker(n) for n in range(connections)))
    return sum(statuses.values()) / (time.perf_counter() - start), statuses


async def slow_downloads(
    port: int, path: str, *, clients: int, seconds: float, rate_bps: int, probe
) -> dict:
    """``clients`` connections each reading ``path`` at about ``rate_bps`` for ``seconds``
    while ``probe()`` (an update check) is timed every 100 ms. Returns figures."""
    first_byte: list[float] = []
    received = [0]
    refused: dict[str, int] = {}
    start = time.perf_counter()
    stop_at = start + seconds

    async def one():
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
        sock.setblocking(False)
        try:
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
            reader, writer = await asyncio.open_connection(sock=sock, limit=64 * 1024)
            writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            await writer.drain()
            chunk = 4096
            got_head = False
            while time.perf_counter() < stop_at:
                remaining = stop_at - time.perf_counter()
                try:
                    data = await asyncio.wait_for(reader.read(chunk), timeout=max(remaining, 0.01))
                except TimeoutError:
                    break
                if not data:
                    break
                if not got_head:
                    got_head = True
                    first_byte.append(time.perf_counter() - start)
                received[0] += len(data)
                await asyncio.sleep(len(data) / rate_bps)
            writer.close()
        except OSError as exc:
            name = type(exc).__name__
            refused[name] = refused.get(name, 0) + 1
            sock.close()

    latencies: list[float] = []
    failures = [0]

    async def prober():
        await asyncio.sleep(1.0)
        while time.perf_counter() < stop_at - 0.2:
            t0 = time.perf_counter()
            try:
                ok = await asyncio.wait_for(probe(), timeout=stop_at - t0)
            except (TimeoutError, OSError):
                ok = False
            if ok:
                latencies.append(time.perf_counter() - t0)
            else:
                failures[0] += 1
            await asyncio.sleep(0.1)

    await asyncio.gather(prober(), *(one() for _ in range(clients)))
    lat = sorted(latencies)
    return {
        "clients": clients,
        "receiving_after_5s": sum(1 for t in first_byte if t <= 5.0),
        "receiving_by_end": len(first_byte),
        "refused": refused or 0,
        "mean_rate_kBps": received[0] / max(len(first_byte), 1) / seconds / 1000,
        "probe_ok": len(lat),
        "probe_failed": failures[0],
        "probe_p50_ms": 1000 * statistics.median(lat) if lat else float("nan"),
        "probe_p95_ms": 1000 * lat[int(0.95 * (len(lat) - 1))] if lat else float("nan"),
        "probe_max_ms": 1000 * lat[-1] if lat else float("nan"),
    }


def update_probe(port: int, token: str):
    async def probe() -> bool:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        status = await _request(
            reader,
            writer,
            "/api/v1/updates/com.dhis2?versionCode=1",
            f"Authorization: Bearer {token}\r\nConnection: close\r\n",
        )
        writer.close()
        return status == 200

    return probe


# ---- the run ---------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size-mb", type=float, default=50)
    ap.add_argument("--clients", type=int, default=100)
    ap.add_argument("--rss-clients", type=int, default=200)
    ap.add_argument("--slow-clients", type=int, default=1000)
    ap.add_argument("--slow-seconds", type=float, default=20)
    ap.add_argument("--devices", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--skip-tls", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument(
        "--only",
        nargs="*",
        choices=["throughput", "rss", "updates", "slow"],
        default=["throughput", "rss", "updates", "slow"],
        help="figures to run",
    )
    args = ap.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 20000), hard))
    for tool in ("curl", "nginx"):
        if not shutil.which(tool) and not Path(f"/usr/sbin/{tool}").exists():
            sys.exit(f"{tool} is required")

    root = Path(tempfile.mkdtemp(prefix="fleet-apk-bench-"))
    servers = []
    try:
        log(
            f"building a {args.size_mb:g} MB signed APK and a repository with "
            f"{args.devices:,} devices in {root} ..."
        )
        factory = ApkFactory(root / "factory")
        apk = factory.build(
            package="com.dhis2",
            version_code=30800,
            version_name="3.8.0",
            padding_bytes=int(args.size_mb * MB),
        )
        repo = build_repository(root / "repo", apk, devices=args.devices, device_tokens=500)
        size, sha = repo.size, repo.sha256
        store = repo.data_dir / "apks"
        rel_path = f"{sha[:2]}/{sha}.apk"
        log(f"APK {size:,} bytes, sha256 {sha[:16]}...")

        # fleet serve's default (gthread, 2 workers x DEFAULT_THREADS) and the old default
        gthread = FleetServer(repo, tls=False)
        gthread16 = FleetServer(repo, tls=False, worker_class="gthread", THREADS=16)
        gevent = FleetServer(repo, tls=False, worker_class="gevent")
        accel = FleetServer(repo, tls=False, APK_X_ACCEL_REDIRECT="/protected-apks/")
        servers += [gthread, gthread16, gevent, accel]
        tls_dir = repo.data_dir / "tls"
        from fleet.server import ensure_self_signed_cert

        ensure_self_signed_cert(tls_dir / "cert.pem", tls_dir / "key.pem")
        (root / "static").mkdir()
        (root / "static" / "update.json").write_text(
            '{"versionCode": 30800, "x": "' + "y" * 300 + '"}'
        )
        plain_port = _free()
        extra_http = f"""
    server {{
        listen 127.0.0.1:{plain_port} backlog=4096;
        location /direct/ {{ alias {store}/; sendfile on; tcp_nopush on; }}
        location = /update.json {{ alias {root}/static/update.json; }}
        location / {{
            proxy_pass http://fleet_app; proxy_http_version 1.1;
            proxy_set_header Connection ""; proxy_set_header Host $host;
        }}
        location /protected-apks/ {{
            internal; alias {store}/; sendfile on; tcp_nopush on; output_buffers 2 1m;
        }}
    }}"""
        nginx = Nginx(
            root / "nginx",
            upstream_port=accel.port,
            apk_dir=store,
            cert=tls_dir / "cert.pem",
            key=tls_dir / "key.pem",
            extra_locations=f"    location /direct/ {{ alias {store}/; }}",
            extra_http=extra_http,
        )
        servers.append(nginx)
        fleet_tls = None
        if not args.skip_tls:
            fleet_tls = FleetServer(repo, tls=True, worker_class="gthread")
            servers.append(fleet_tls)
        token = repo.token
        url_path = f"/apk/{sha}.apk?token={token}"

        # 1. throughput ------------------------------------------------------------------------
        if "throughput" in args.only:
            log(
                f"\n1. {args.clients} concurrent clients downloading the {size / MB:.1f} MB APK "
                f"(best of {args.repeat}; MB/s = 10^6 bytes/s)"
            )
            cases = [
                ("nginx static (HTTP)", f"http://127.0.0.1:{plain_port}/direct/{rel_path}", False),
                (
                    "fleet gthread direct (HTTP)",
                    f"http://127.0.0.1:{gthread.port}{url_path}",
                    False,
                ),
                ("fleet gevent direct (HTTP)", f"http://127.0.0.1:{gevent.port}{url_path}", False),
                (
                    "fleet via nginx X-Accel (HTTP)",
                    f"http://127.0.0.1:{plain_port}{url_path}",
                    False,
                ),
            ]
            if fleet_tls:
                cases += [
                    ("nginx static (HTTPS)", f"{nginx.base}/direct/{rel_path}", True),
                    ("fleet gthread direct (HTTPS)", f"{fleet_tls.base}{url_path}", True),
                    ("fleet via nginx X-Accel (HTTPS)", f"{nginx.base}{url_path}", True),
                ]
            best = {name: float("inf") for name, _u, _t in cases}
            for _round in range(args.repeat):
                for name, url, tls in cases:
                    best[name] = min(
                        best[name], curl_load(url, args.clients, expect_size=size, tls=tls)
                    )
            rate = {name: args.clients * size / wall / MB for name, wall in best.items()}
            for name, _u, _t in cases:
                log(f"   {name:34} {rate[name]:9.0f} MB/s  ({best[name]:.2f} s)")
            log("   ratios:")
            for proto in ("HTTP",) + (("HTTPS",) if fleet_tls else ()):
                base = rate[f"nginx static ({proto})"]
                for name in rate:
                    if name.endswith(f"({proto})") and not name.startswith("nginx"):
                        log(f"   {name:34} / nginx static = {rate[name] / base:.2f}")

        if "rss" in args.only:
            # 2. peak RSS
            log(
                f"\n2. peak RSS during {args.rss_clients} concurrent downloads (sum over the "
                "server's processes; clients limited to 20 MB/s so downloads overlap)"
            )
            rss_cases = [
                ("fleet gthread", gthread, f"http://127.0.0.1:{gthread.port}{url_path}"),
                (
                    "fleet gthread 2x16",
                    gthread16,
                    f"http://127.0.0.1:{gthread16.port}{url_path}",
                ),
                ("fleet gevent", gevent, f"http://127.0.0.1:{gevent.port}{url_path}"),
                ("fleet X-Accel app", accel, f"http://127.0.0.1:{plain_port}{url_path}"),
                ("nginx static", nginx, f"http://127.0.0.1:{plain_port}/direct/{rel_path}"),
            ]
            for name, server, url in rss_cases:
                sampler = RssSampler(server.pids)
                before, before_pss = sampler.current()
                with sampler:
                    wall = curl_load(url, args.rss_clients, expect_size=size, limit_rate="20M")
                log(
                    f"   {name:20} RSS sum before {before / 2**20:6.1f} MiB peak "
                    f"{sampler.peak / 2**20:6.1f} MiB (+{(sampler.peak - before) / 2**20:5.1f})"
                    f" | PSS sum before {before_pss / 2**20:6.1f} peak "
                    f"{sampler.peak_pss / 2**20:6.1f} MiB | {wall:.1f} s, "
                    f"{len(server.pids())} processes"
                )

        if "updates" in args.only:
            # 3. update checks
            log(
                f"\n3. update checks, {args.devices:,} devices registered, 32 keep-alive "
                "connections, 10 s each"
            )
            dev_reqs = [
                ("/api/v1/updates/com.dhis2?versionCode=1", f"Authorization: Bearer {t}\r\n")
                for t in repo.device_tokens
            ]
            chan_reqs = [
                ("/api/v1/updates/com.dhis2?versionCode=1", f"Authorization: Bearer {token}\r\n")
            ]
            upd = [
                ("nginx static JSON (client ceiling)", plain_port, [("/update.json", "")]),
                ("fleet gthread, channel token", gthread.port, chan_reqs),
                ("fleet gthread, 500 device tokens", gthread.port, dev_reqs),
                (
                    "fleet gthread 2x16, device tokens",
                    gthread16.port,
                    dev_reqs,
                ),
                ("fleet gevent, channel token", gevent.port, chan_reqs),
                ("fleet gevent, 500 device tokens", gevent.port, dev_reqs),
            ]
            for name, port, reqs in upd:
                rps, statuses = asyncio.run(update_load(port, reqs, connections=32, seconds=10))
                log(f"   {name:36} {rps:8.0f} req/s  {statuses}")

        if "slow" in args.only:
            # 4. slow downloads
            log(
                f"\n4. {args.slow_clients} slow downloads (~20 kB/s each, {args.slow_seconds:g} s) "
                "while an update check is timed every 100 ms"
            )
            slow = [
                ("fleet gthread 2x16 (old default)", gthread16, gthread16.port),
                (f"fleet gthread 2x{DEFAULT_THREADS} (default)", gthread, gthread.port),
                ("fleet gevent 2x1000 conns", gevent, gevent.port),
                ("nginx X-Accel + fleet gthread", nginx, plain_port),
            ]
            for name, server, port in slow:
                sampler = RssSampler(server.pids)
                _rss0, pss0 = sampler.current()
                with sampler:
                    res = asyncio.run(
                        slow_downloads(
                            port,
                            url_path,
                            clients=args.slow_clients,
                            seconds=args.slow_seconds,
                            rate_bps=20_000,
                            probe=update_probe(port, token),
                        )
                    )
                log(
                    f"   {name:34} receiving after 5 s {res['receiving_after_5s']:4}"
                    f"/{res['clients']}, by end {res['receiving_by_end']:4}"
                    f", failed {res['refused']}"
                    f" | update check p50 {res['probe_p50_ms']:6.1f} ms"
                    f" p95 {res['probe_p95_ms']:7.1f} ms max {res['probe_max_ms']:7.1f} ms"
                    f" ({res['probe_ok']} ok, {res['probe_failed']} failed)"
                    f" | PSS {pss0 / 2**20:.0f} -> peak {sampler.peak_pss / 2**20:.0f} MiB"
                )
                time.sleep(2)
    finally:
        for server in servers:
            server.stop()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


def _free() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
