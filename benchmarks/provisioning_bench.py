"""Provisioning benchmark (issue 7): 20 simulated phones at a USB-like rate installing a 50 MB
APK through a real adb server, against one phone alone in the same run.

Set-up: a private adb server (Debian adb) on a free port; the device simulator in its own
process (``python -m fleet.provisioning.devsim.cli``) with 21 phones throttled to RATE MB/s each
(push, install and pull; MB = MiB in the simulator); a fleet app on a temporary SQLite file; a
50 MB signed APK (aapt/apksigner via tests/apkfactory.py) stored as a released release. The
provisioning profile runs every step: pre-flight, streamed install, settings, random PIN,
verify (which pulls base.apk back to check the bytes/signer: a second 50 MB transfer per phone).

Measured: wall time of the whole pipeline for one phone alone, then for 20 phones at once
(concurrency 20), their ratio (target <= 1.5), and the station's CPU (fleet process + adb
server process, CPU-seconds and average cores) and peak RSS during the 20-phone run. The
simulator's own CPU is reported separately (it stands in for the phones).

Usage: python benchmarks/provisioning_bench.py [--rates 20,5] [--phones 20] [--apk-mb 50]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from fleet.provisioning.devsim import free_port

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


class Sampler:
    """Samples CPU times and RSS of a set of processes every 0.2 s."""

    def __init__(self, procs: dict[str, psutil.Process]):
        self.procs = procs
        self.peak_rss = dict.fromkeys(procs, 0)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def cpu(self) -> dict[str, float]:
        out = {}
        for name, p in self.procs.items():
            t = p.cpu_times()
            out[name] = t.user + t.system
        return out

    def _loop(self):
        while not self.stop.is_set():
            for name, p in self.procs.items():
                try:
                    self.peak_rss[name] = max(self.peak_rss[name], p.memory_info().rss)
                except psutil.NoSuchProcess:
                    pass
            self.stop.wait(0.2)

    def __enter__(self):
        self.start_cpu = self.cpu()
        self.t0 = time.monotonic()
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.wall = time.monotonic() - self.t0
        self.stop.set()
        self.thread.join()
        end = self.cpu()
        self.used = {k: end[k] - self.start_cpu[k] for k in end}


def adb_server_process(port: int) -> psutil.Process:
    for conn in psutil.net_connections("tcp"):
        if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN:
            return psutil.Process(conn.pid)
    raise RuntimeError(f"no process listens on adb port {port}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rates", default="20,5", help="USB MB/s per phone, comma separated")
    ap.add_argument("--phones", type=int, default=20)
    ap.add_argument("--apk-mb", type=int, default=50)
    args = ap.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    adb = shutil.which("adb")
    if adb is None:
        sys.exit("adb missing (Debian package adb)")
    work = Path(tempfile.mkdtemp(prefix="fleet-provbench-"))
    env = {k: v for k, v in os.environ.items() if k not in ("ADB_VENDOR_KEYS", "ANDROID_SERIAL")}
    env.update(HOME=str(work / "home"), ADB_MDNS="0", ADB_MDNS_OPENSCREEN="0", ADB_LIBUSB="0")
    (work / "home").mkdir()
    adb_port = free_port()
    subprocess.run([adb, "-P", str(adb_port), "start-server"], env=env, check=True,
                   capture_output=True)
    procs: list[subprocess.Popen] = []
    try:
        from apkfactory import ApkFactory

        from fleet import create_app
        from fleet.cli import upgrade_database

        factory = ApkFactory(work / "apks")
        print(f"building a {args.apk_mb} MB signed APK ...", flush=True)
        apk = factory.build(package="com.dhis2", version_code=10, version_name="3.4.1",
                            padding_bytes=args.apk_mb * 1000 * 1000)
        key = factory.key("release")
        app = create_app({"TESTING": True, "DATA_DIR": str(work / "data"),
                          "DATABASE_URL": f"sqlite:///{work / 'bench.sqlite3'}",
                          "SECRET_KEY": "bench", "ADB_SERVER_PORT": adb_port})
        with app.app_context():
            upgrade_database()
            rel_id = _release(app, apk, key.cert_sha256)
        results = []
        for rate in rates:
            results.append(_one_rate(app, rel_id, rate, args.phones, adb, adb_port, env, work,
                                     procs, apk.stat().st_size))
        print()
        print(json.dumps(results, indent=2))
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                p.wait(20)
        subprocess.run([adb, "-P", str(adb_port), "kill-server"], env=env, capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


def _release(app, apk: Path, signer: str) -> int:
    from fleet.apk.models import Release
    from fleet.apk.storage import ApkStore
    from fleet.extensions import db

    stored = ApkStore(app.config["APK_STORE_DIR"]).store_file(apk)
    rel = Release(package="com.dhis2", version_code=10, version_name="3.4.1", min_sdk=23,
                  target_sdk=34, sha256=stored.sha256, size=stored.size, file_name=apk.name,
                  signer_sha256=signer, status="released", uploaded_by="bench")
    db.session.add(rel)
    db.session.commit()
    return rel.id


def _one_rate(app, rel_id, rate, n, adb, adb_port, env, work, procs, apk_bytes) -> dict:
    from fleet.extensions import db
    from fleet.provisioning.devsim import Faults, catalogue_profiles
    from fleet.provisioning.models import Run
    from fleet.provisioning.operations import create_profile, create_station
    from fleet.provisioning.runs import Provisioner, start_run
    from fleet.provisioning.stations import open_station

    profiles = catalogue_profiles(n + 1, seed=int(rate * 10) + 1)
    for p in profiles:
        p.faults = Faults(throughput_mbps=rate)
    pfile = work / f"phones-{rate}.json"
    pfile.write_text(json.dumps({"phones": [p.to_dict() for p in profiles]}))
    sim = subprocess.Popen(
        [sys.executable, "-m", "fleet.provisioning.devsim.cli", "--profile", str(pfile),
         "--base-port", "0", "--adb-port", str(adb_port)], env=env, cwd=str(ROOT),
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    procs.append(sim)
    serials = [p.serial for p in profiles]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        out = subprocess.run([adb, "-P", str(adb_port), "devices"], env=env,
                             capture_output=True, text=True).stdout
        if out.count("\tdevice") >= n + 1:
            break
        time.sleep(0.3)
    else:
        raise RuntimeError("simulated phones did not come up")
    station_procs = {"fleet": psutil.Process(), "adb server": adb_server_process(adb_port),
                     "simulator (phones)": psutil.Process(sim.pid)}
    with app.app_context():
        profile = create_profile(f"bench-{rate}", {"release_ids": [rel_id],
                                                   "pin_policy": "random"}, actor=None)
        station = create_station(f"bench-{rate}", {"kind": "local", "adb_port": adb_port},
                                 actor=None)
        db.session.commit()
        timings = {}
        for label, chosen in (("1 phone alone", serials[:1]), (f"{n} phones", serials[1:])):
            run = start_run(profile, station, actor=None)
            db.session.commit()
            with Sampler(station_procs) as s, open_station(station) as client:
                Provisioner(run, client, actor=None, serials=chosen, concurrency=n,
                            commit=db.session.commit).run()
            run = db.session.get(Run, run.id)
            done = sum(1 for i in run.items if i.status == "done")
            steps: dict[str, list[float]] = {}
            for item in run.items:
                for st in item.steps:
                    steps.setdefault(st.step, []).append(st.duration_s)
            timings[label] = {
                "wall_s": round(s.wall, 2), "done": done, "phones": len(chosen),
                "cpu_s": {k: round(v, 2) for k, v in s.used.items()},
                "avg_cores": {k: round(v / s.wall, 2) for k, v in s.used.items()},
                "peak_rss_mb": {k: round(v / 2**20) for k, v in s.peak_rss.items()},
                "step_mean_s": {k: round(sum(v) / len(v), 2) for k, v in steps.items()},
                "step_max_s": {k: round(max(v), 2) for k, v in steps.items()},
            }
            print(f"  rate {rate} MB/s, {label}: {s.wall:.2f} s, {done}/{len(chosen)} done, "
                  f"station CPU {s.used['fleet'] + s.used['adb server']:.1f} s", flush=True)
    # Baseline in the same run: plain `adb install -r` of the same APK, 1 phone vs n phones at
    # once (n adb client processes): what the adb server + simulated USB allow without fleet.
    adb_serials = [ln.split()[0] for ln in subprocess.run(
        [adb, "-P", str(adb_port), "devices"], env=env, capture_output=True,
        text=True).stdout.splitlines()[1:] if ln.endswith("\tdevice")]
    apk_path = next((work / "data" / "apks").rglob("*.apk"))

    def adb_install(chosen):
        t0 = time.monotonic()
        ps = [subprocess.Popen([adb, "-P", str(adb_port), "-s", s, "install", "-r",
                                str(apk_path)], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL) for s in chosen]
        for p in ps:
            p.wait()
        return round(time.monotonic() - t0, 2)

    raw_one = adb_install(adb_serials[:1])
    raw_many = adb_install(adb_serials[1:n + 1])
    print(f"  rate {rate} MB/s, baseline plain adb install: 1 phone {raw_one} s, "
          f"{n} phones {raw_many} s", flush=True)
    sim.terminate()
    sim.wait(20)
    one, many = timings["1 phone alone"], timings[f"{n} phones"]
    return {
        "baseline_adb_install_s": {"one": raw_one, "many": raw_many,
                                   "ratio": round(raw_many / raw_one, 2)},
        "rate_mb_s_per_phone": rate, "apk_bytes": apk_bytes, "phones": n,
        "ratio_n_to_1": round(many["wall_s"] / one["wall_s"], 2),
        "aggregate_mb_s": round(2 * n * apk_bytes / 2**20 / many["wall_s"], 1),
        "one": one, "many": many,
    }


if __name__ == "__main__":
    main()
