"""``fleet rehearse``: a campaign end to end through fleet's public CLI and API only.

The runner never touches the database or a domain's Python functions: it runs ``fleet ...``
commands as subprocesses (same FLEET_* environment, so the same instance) and calls the JSON API
with a real HTTP client (``requests``) against the app served in this process by werkzeug on a
free loopback port, or against a running deployment's public URL (``Options.url``, e.g. nginx
over TLS), with bearer tokens issued by ``fleet tokens issue``. Phones are simulated
(``fleet.provisioning.devsim``) behind a private adb server (own port, own HOME).

Each step asserts its outcome and prints one line ``ok|FAILED  name  seconds  summary``. A step
that raises is FAILED with the reason; a step whose inputs come from a failed step is FAILED
with "needs <step>", never skipped silently. See ``docs/rehearsal.md``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import secrets
import shutil
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import requests

from fleet.provisioning.devsim import free_port
from fleet.rehearsal import apkbuild
from fleet.rehearsal.generator import Campaign, generate

#: Each rule's status the rehearsal expects on every phone after provisioning and a health
#: pull: ``ram_capacity`` is checked against the capacity model's verdict instead.
PHONE_PLANTED = {"stale": "pass", "app_behind": "pass", "api_below_min_sdk": "pass",
                 "low_storage": "pass", "battery": "pass", "not_encrypted": "pass",
                 "no_screen_lock": "pass", "sim_swapped": "unknown", "ram_capacity": None}


class StepFailed(Exception):
    """A rehearsal step did not reach its expected outcome; the message says why."""


@dataclass
class StepResult:
    name: str
    status: str  # "ok", "FAILED" or "not run" (an option turned the step off)
    seconds: float
    summary: str


@dataclass
class Options:
    """What to rehearse. ``sizes`` as in :data:`fleet.rehearsal.generator.FULL`."""

    workdir: Path
    seed: int
    sizes: dict
    dhis2_url: str | None = None
    dhis2_token: str | None = None
    apk_mb: int = 8
    concurrency: int = 20
    #: Base URL of an already running deployment of this instance (``https://host:port``);
    #: None serves the app in this process instead.
    url: str | None = None
    #: Certificate (PEM) to verify the deployment's TLS against; None: the system's CAs.
    ca_cert: Path | None = None


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise StepFailed(message)


class Api:
    """JSON API client: ``call(method, path, expect=200, token=..., **requests_kw)``.
    ``verify`` is requests' TLS verification: True (the system's CAs) or a PEM file."""

    def __init__(self, base: str, verify: bool | str = True):
        self.base = base.rstrip("/")
        self.verify = verify
        self.local = threading.local()
        self.tokens: dict[str, str] = {}

    def call(self, method: str, path: str, *, status: int | tuple[int, ...] = 200,
             as_user: str = "admin", **kw):
        headers = kw.pop("headers", {})
        headers["Authorization"] = f"Bearer {self.tokens[as_user]}"
        if not hasattr(self.local, "session"):
            self.local.session = requests.Session()
        # per request, not Session.verify: requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE
        # override a session's verify (psf/requests#3829), never a request's
        kw.setdefault("verify", self.verify)
        resp = self.local.session.request(method, f"{self.base}/api/v1{path}", headers=headers,
                                    timeout=120, **kw)
        wanted = (status,) if isinstance(status, int) else status
        if resp.status_code not in wanted:
            raise StepFailed(f"{method} {path} as {as_user}: HTTP {resp.status_code} "
                             f"(expected {wanted}): {resp.text.strip()[:300]}")
        ctype = resp.headers.get("Content-Type", "")
        return resp.json() if ctype.startswith("application/json") else resp

    def total(self, path: str, **params) -> int:
        body = self.call("GET", path, params={**params, "per_page": 1})
        return len(body) if isinstance(body, list) else body["meta"]["total"]


class InProcessServer:
    """The Flask app served by werkzeug's threaded server on 127.0.0.1:<free port>."""

    def __init__(self, app):
        import logging

        from werkzeug.serving import make_server

        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> InProcessServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(10)


class AdbServer:
    """A private adb server: ``adb -P PORT`` with HOME under the rehearsal's work directory,
    mDNS and libusb off (the phones are all on loopback TCP)."""

    def __init__(self, home: Path):
        binary = shutil.which("adb")
        if binary is None:
            raise StepFailed("adb not found on PATH (Debian package adb)")
        home.mkdir(parents=True, exist_ok=True)
        self.binary, self.port = binary, free_port()
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ("ADB_VENDOR_KEYS", "ANDROID_SERIAL", "ANDROID_ADB_SERVER_PORT")}
        self.env.update(HOME=str(home), ADB_MDNS="0", ADB_MDNS_OPENSCREEN="0", ADB_LIBUSB="0")

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run([self.binary, "-P", str(self.port), *args], env=self.env,
                              capture_output=True, text=True, timeout=timeout)

    def devices(self) -> dict[str, str]:
        out = self.run("devices").stdout
        return dict(line.split("\t")[:2] for line in out.splitlines()[1:] if "\t" in line)


class Rehearsal:
    """One rehearsal run over the instance the FLEET_* environment points at."""

    def __init__(self, app, options: Options, echo: Callable[[str], None] = print):
        self.app = app
        self.opt = options
        self.echo = echo
        self.work = Path(options.workdir)
        self.results: list[StepResult] = []
        self.failed: set[str] = set()
        self.admin_password = secrets.token_urlsafe(12)
        self.passwords = {"amina": secrets.token_urlsafe(12), "kofi": secrets.token_urlsafe(12)}
        self.admin_created = False
        self.campaign: Campaign | None = None
        self.profiles: list = []
        self.server: InProcessServer | None = None
        self.base_url = ""  # where the API is called: options.url or the in-process server
        self.verify: bool | str = str(options.ca_cert) if options.ca_cert else True
        self.api: Api | None = None
        self.adb: AdbServer | None = None
        self.sim = None
        self.release: dict = {}
        self.phone_tags: list[str] = []
        self.org_ids: dict[str, int] = {}

    # -- plumbing -----------------------------------------------------------------------------
    def fleet(self, *args: str, ok: tuple[int, ...] = (0,), env: dict | None = None,
              timeout: float = 900) -> subprocess.CompletedProcess:
        """Run ``fleet ARGS`` as a subprocess; StepFailed unless its exit status is in ``ok``."""
        exe = Path(sys.executable).with_name("fleet")
        cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "fleet.cli"]
        full_env = {**os.environ, **(env or {})}
        proc = subprocess.run([*cmd, *map(str, args)], capture_output=True, text=True,
                              env=full_env, timeout=timeout)
        if proc.returncode not in ok:
            raise StepFailed(f"fleet {' '.join(map(str, args[:3]))} exited {proc.returncode}: "
                             f"{(proc.stderr or proc.stdout).strip()[-400:]}")
        return proc

    def step(self, name: str, fn: Callable[[], str], needs: tuple[str, ...] = ()) -> bool:
        start = time.perf_counter()
        missing = [n for n in needs if n in self.failed]
        if missing:
            status, summary = "FAILED", f"needs {', '.join(missing)}, which failed"
        else:
            try:
                status, summary = "ok", fn()
                if summary.startswith("NOT RUN:"):
                    status, summary = "not run", summary.removeprefix("NOT RUN:").strip()
            except StepFailed as exc:
                status, summary = "FAILED", str(exc)
            except Exception as exc:  # noqa: BLE001 - any crash is a FAILED step, with its reason
                where = traceback.extract_tb(exc.__traceback__)[-1]
                status, summary = "FAILED", (f"{type(exc).__name__}: {exc} "
                                             f"({Path(where.filename).name}:{where.lineno})")
        seconds = time.perf_counter() - start
        if status == "FAILED":
            self.failed.add(name)
        self.results.append(StepResult(name, status, seconds, summary))
        self.echo(f"{status:7} {name:18} {seconds:7.1f} s  {summary}")
        return status == "ok"

    # -- the run ------------------------------------------------------------------------------
    def run(self) -> list[StepResult]:
        import logging

        self.work.mkdir(parents=True, exist_ok=True)
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.WARNING)  # the served app's INFO lines would drown the steps
        try:
            self.step("instance", self.s_instance)
            self.step("generate", self.s_generate)
            need = ("instance", "generate")
            self.step("org units", self.s_org_units, need)
            self.step("import holders", self.s_holders, (*need, "org units"))
            self.step("import devices", self.s_devices, (*need, "org units"))
            self.step("import sims", self.s_sims, (*need, "import devices"))
            self.step("apk release", self.s_apk, ("instance",))
            self.step("phones", self.s_phones, ("instance", "generate"))
            self.step("provision", self.s_provision, ("apk release", "phones", "import devices"))
            self.step("checkout", self.s_checkout, ("provision", "import holders"))
            self.step("labels", self.s_labels, ("import devices",))
            self.step("agreements", self.s_agreements, ("checkout",))
            self.step("health pull", self.s_health, ("provision",))
            self.step("compliance", self.s_compliance, ("health pull",))
            self.step("capacity report", self.s_capacity, ("checkout",))
            self.step("dhis2 publish", self.s_dhis2, ("apk release",))
        finally:
            self.stop()
            root.setLevel(level)
        return self.results

    def stop(self) -> None:
        if self.sim is not None:
            self.sim.stop()
        if self.adb is not None:
            self.adb.run("kill-server", timeout=20)
        if self.server is not None:
            self.server.stop()

    # -- steps --------------------------------------------------------------------------------
    def s_instance(self) -> str:
        out = self.fleet("init", env={"FLEET_ADMIN_PASSWORD": self.admin_password}).stdout
        expect("first admin created" in out, "instance not empty: its admin account exists "
               "already (rehearse needs an empty instance: a new FLEET_DATA_DIR or database)")
        self.admin_created = True
        if self.opt.url:
            self.base_url = self.opt.url.rstrip("/")
        else:
            self.server = InProcessServer(self.app).start()
            self.base_url = self.server.url
        self.api = Api(self.base_url, self.verify)
        self.api.tokens["admin"] = self._token("admin")
        if self.opt.url:
            # the token was just issued in the FLEET_* database: a deployment on another
            # database refuses it
            me = self.api.call("GET", "/me", status=(200, 401))
            expect(isinstance(me, dict) and "error" not in me,
                   f"{self.base_url} refuses a token issued on this FLEET_* instance: the "
                   "deployment does not use the same database")
        else:
            me = self.api.call("GET", "/me")
        for user, role in (("amina", "logistics"), ("kofi", "admin")):
            self.api.call("POST", "/users", status=201, json={
                "username": user, "role": role, "password": self.passwords[user],
                "display_name": f"{user.capitalize()} (rehearsal)"})
            self.api.tokens[user] = self._token(user)
        expect(me.get("username") == "admin", f"/me answered {me}")
        devices, units = self.api.total("/devices"), self.api.total("/org-units")
        expect(devices == 0 and units == 0, f"instance not empty: {devices} devices, "
               f"{units} org units (rehearse needs an empty instance)")
        where = "deployment" if self.opt.url else "in-process"
        return (f"empty instance, API ({where}) at {self.base_url}, users admin, amina "
                f"(logistics), kofi")

    def _token(self, user: str) -> str:
        out = self.fleet("tokens", "issue", user, "--name", "rehearsal").stdout
        return out.strip().splitlines()[-1].strip()

    def s_generate(self) -> str:
        from fleet.provisioning.devsim import catalogue_profiles

        phones = catalogue_profiles(self.opt.sizes["phones"], seed=self.opt.seed)
        self.profiles = phones
        self.campaign = c = generate(self.work / "sheets", seed=self.opt.seed,
                                     sizes=self.opt.sizes, phones=phones)
        return (f"seed {c.seed}: {len(c.org_units)} org units, {c.holder_rows} holders, "
                f"{c.device_rows} device rows ({len(c.bad_device_rows)} bad IMEIs), "
                f"{c.sim_rows} SIM rows ({len(c.duplicate_sim_rows)} duplicate ICCIDs)")

    def s_org_units(self) -> str:
        from concurrent.futures import ThreadPoolExecutor

        c = self.campaign

        def create(unit) -> tuple[str, int]:
            body = {"name": unit.name, "code": unit.code, "level": unit.level}
            if unit.parent_code:
                body["parent_id"] = self.org_ids[unit.parent_code]
            return unit.code, self.api.call("POST", "/org-units", json=body, status=201)["id"]

        # level by level (parents first), four requests in flight within a level
        with ThreadPoolExecutor(4) as pool:
            for level in sorted({u.level for u in c.org_units}):
                units = [u for u in c.org_units if u.level == level]
                self.org_ids.update(pool.map(create, units))
        total = self.api.total("/org-units")
        expect(total == len(c.org_units), f"{total} org units, expected {len(c.org_units)}")
        return f"{total} org units created through POST /api/v1/org-units"

    def _import(self, kind: str, path: Path, *, valid_only: bool) -> dict:
        args = ["import", kind, path, "--json", "--user", "amina"]
        proc = self.fleet(*args, *(["--valid-only"] if valid_only else []), ok=(0, 1))
        text = proc.stdout
        report = json.loads(text[text.index("{"):])
        report["exit_code"] = proc.returncode
        return report

    def s_holders(self) -> str:
        c = self.campaign
        report = self._import("holders", c.holders_csv, valid_only=False)
        expect(report["exit_code"] == 0 and not report["errors"],
               f"holder import refused rows: {report['errors'][:5]}")
        expect(report["imported"] == c.holder_rows, f"imported {report['imported']} holders")
        total = self.api.total("/holders")
        expect(total == c.holder_rows, f"{total} holders through the API")
        return f"{total} holders with workloads imported from {c.holders_csv.name}"

    def s_devices(self) -> str:
        c = self.campaign
        report = self._import("devices", c.devices_xlsx, valid_only=True)
        refused = sorted({e["row"] for e in report["errors"]})
        expect(report["exit_code"] == 1, f"exit {report['exit_code']} with refused rows")
        expect(refused == c.bad_device_rows,
               f"refused rows {refused}, expected the bad IMEIs at {c.bad_device_rows}")
        expect(all(e["column"] in ("IMEI 1", "imei") for e in report["errors"]),
               f"unexpected errors: {report['errors']}")
        want = c.device_rows - len(c.bad_device_rows)
        expect(report["imported"] == want, f"imported {report['imported']}, expected {want}")
        total = self.api.total("/devices")
        expect(total == want, f"{total} devices through the API, expected {want}")
        return (f"{total} devices from {c.devices_xlsx.name}; refused rows {refused} "
                f"(IMEI Luhn), reported")

    def s_sims(self) -> str:
        c = self.campaign
        report = self._import("sims", c.sims_csv, valid_only=True)
        refused = sorted({e["row"] for e in report["errors"]})
        expect(report["exit_code"] == 1, f"exit {report['exit_code']} with refused rows")
        expect(refused == c.duplicate_sim_rows,
               f"refused rows {refused}, expected duplicates at {c.duplicate_sim_rows}")
        want = c.sim_rows - len(c.duplicate_sim_rows)
        expect(report["imported"] == want, f"imported {report['imported']}, expected {want}")
        total = self.api.total("/sims")
        expect(total == want, f"{total} SIMs through the API, expected {want}")
        return f"{total} SIMs from {c.sims_csv.name}; refused rows {refused} (duplicate ICCID)"

    def s_apk(self) -> str:
        built = apkbuild.build_apk(
            self.work / "apk", min_sdk=23, padding_bytes=self.opt.apk_mb * 1024 * 1024,
            seed=self.opt.seed,
            permissions=("android.permission.CAMERA", "android.permission.ACCESS_FINE_LOCATION"))
        with built.path.open("rb") as fh:
            rel = self.api.call(
                "POST", "/apk/releases", as_user="amina", status=201, data=fh,
                params={"filename": built.path.name, "notes": "Rehearsal build of Capture"},
                headers={"Content-Type": "application/vnd.android.package-archive"})
        expect(rel["status"] == "vetted", f"release {rel['id']} is {rel['status']}: "
               f"{json.dumps(rel.get('vetting') or rel.get('report'))[:300]}")
        expect(rel["signer_sha256"] == built.signer_sha256, "signer differs from the build's")
        rid = rel["id"]
        self.api.call("POST", f"/apk/releases/{rid}/testing", as_user="amina")
        # four-eyes: the uploader cannot approve (403 without the permission, 409 if it had it)
        self.api.call("POST", f"/apk/releases/{rid}/approve", as_user="amina",
                      status=(403, 409))
        rel = self.api.call("POST", f"/apk/releases/{rid}/approve", as_user="kofi")
        expect(rel["status"] == "approved", f"status {rel['status']} after approval")
        pilot = self.org_ids.get(self.campaign.pilot_district.code) if self.campaign else None
        self.api.call("POST", "/apk/channels", status=201, json={
            "name": "pilot", "description": "Rehearsal pilot district", "is_default": True,
            "org_unit_ids": [pilot] if pilot else []})
        self.api.call("POST", f"/apk/releases/{rid}/release",
                      json={"channel": "pilot", "note": "rehearsal"})
        rel = self.api.call("GET", f"/apk/releases/{rid}")
        expect(rel["status"] == "released", f"status {rel['status']} after release")
        self.release = rel
        mb = built.path.stat().st_size / 1e6
        return (f"release {rid} {built.package} {built.version_name} ({mb:.1f} MB, signer "
                f"{built.signer_sha256[:12]}…) vetted, approved by kofi, released to pilot")

    def s_phones(self) -> str:
        from fleet.provisioning.devsim import Simulator

        self.adb = AdbServer(self.work / "adb-home")
        proc = self.adb.run("start-server")
        expect(proc.returncode == 0, f"adb start-server: {proc.stderr.strip()}")
        self.sim = Simulator(self.profiles, adb_port=self.adb.port,
                             workdir=self.work / "devsim").start()
        for serial in self.sim.serials:
            self.sim.connect(serial)
        deadline = time.monotonic() + 30
        want = {self.sim.adb_serial(s) for s in self.sim.serials}
        while time.monotonic() < deadline:
            ready = {s for s, state in self.adb.devices().items() if state == "device"}
            if want <= ready:
                break
            time.sleep(0.2)
        expect(want <= ready, f"only {len(want & ready)}/{len(want)} phones ready in adb")
        return f"{len(want)} simulated phones on adb server 127.0.0.1:{self.adb.port}"

    def s_provision(self) -> str:
        n = len(self.profiles)
        self.fleet("stations", "add", "rehearsal-hub", "--adb-port", self.adb.port,
                   "--user", "admin")
        self.fleet("profiles", "add", "pilot", "--channel", "pilot", "--pin-policy", "random",
                   "--grant", "com.dhis2=android.permission.CAMERA",
                   "--grant", "com.dhis2=android.permission.ACCESS_FINE_LOCATION",
                   "--screen-off-timeout", "120", "--play-store", "disabled", "--min-api", "23",
                   "--min-ram", "900", "--min-battery", "10", "--capacity-check", "warn",
                   "--user", "admin")
        proc = self.fleet("provision", "--profile", "pilot", "--station", "rehearsal-hub",
                          "--all", "--concurrency", self.opt.concurrency, "--json",
                          "--slips", self.work / "handover-slips.pdf", "--user", "admin",
                          ok=(0, 3))
        text = proc.stdout
        summary = json.loads(text[text.index("\n{") + 1:] if "\n{" in text else text)
        expect(proc.returncode == 0, f"provision exit {proc.returncode}: "
               f"{json.dumps(summary)[:400]}")
        provisioned = self.api.total("/devices", status="provisioned")
        expect(provisioned == n, f"{provisioned} devices provisioned, expected {n}")
        c = self.campaign
        for tag in c.phone_tags:
            dev = self.api.call("GET", f"/devices/{tag}")
            expect(dev["status"] == "provisioned", f"{tag} is {dev['status']}")
        self.phone_tags = list(c.phone_tags)
        expect((self.work / "handover-slips.pdf").read_bytes()[:4] == b"%PDF", "no slips PDF")
        return f"{n} phones provisioned in parallel (matched to the imported rows), slips PDF"

    def s_checkout(self) -> str:
        names = self.campaign.pilot_holder_names
        expect(len(names) >= len(self.phone_tags), "not enough pilot holders")
        district = self.campaign.pilot_district.name
        holders = {h["name"]: h["id"] for h in self.api.call(
            "GET", "/holders", params={"district": district, "per_page": 500})["items"]}
        for tag, name in zip(self.phone_tags, names, strict=False):
            expect(name in holders, f"holder {name!r} not listed in {district}")
            self.api.call("POST", f"/devices/{tag}/checkout", as_user="amina", status=201,
                          json={"holder_id": holders[name], "condition": "new, boxed"})
        assigned = self.api.total("/devices", status="assigned")
        expect(assigned == len(self.phone_tags), f"{assigned} assigned")
        return f"{assigned} phones checked out to pilot-district holders"

    def s_labels(self) -> str:
        district = self.campaign.pilot_district.name
        count = self.api.total("/devices", district=district)
        out = self.work / "labels-pilot-district.pdf"
        self.fleet("labels", "print", "--district", district, "--format", "a4-l7160",
                   "--out", out, "--user", "amina")
        data = out.read_bytes()
        expect(data[:4] == b"%PDF", "labels output is not a PDF")
        pdftotext = shutil.which("pdftotext")
        expect(pdftotext is not None, "pdftotext not found (Debian poppler-utils)")
        text = subprocess.run([pdftotext, str(out), "-"], capture_output=True, text=True,
                              check=True).stdout
        missing = [t for t in self.campaign.phone_tags if t not in text]
        expect(not missing, f"labels PDF lacks {missing[:5]}")
        return f"{count} devices of {district}: labels PDF {len(data) // 1024} KiB ({out.name})"

    def s_agreements(self) -> str:
        folder = self.work / "agreements"
        folder.mkdir(exist_ok=True)
        for tag in self.phone_tags:
            ag = self.api.call("POST", "/agreements", as_user="amina", status=201,
                               json={"device": tag})
            pdf = self.api.call("POST", f"/agreements/{ag['id']}/print", as_user="amina",
                                json={"page_size": "a4"})
            expect(pdf.content[:4] == b"%PDF", f"agreement {ag['number']}: not a PDF")
            (folder / f"agreement-{ag['number']}.pdf").write_bytes(pdf.content)
            got = self.api.call("GET", f"/agreements/{ag['id']}")
            expect(got["status"] == "printed", f"agreement {ag['number']} is {got['status']}")
        return f"{len(self.phone_tags)} agreements created and printed (two copies each)"

    def s_health(self) -> str:
        proc = self.fleet("health", "pull", "--station", "rehearsal-hub")
        want = self.release.get("versionCode")
        for tag in self.phone_tags:
            reports = self._health_items(self.api.call("GET", f"/devices/{tag}/health"))
            expect(reports, f"no health report for {tag}")
            got = {r.get("capture_version_code") for r in reports}
            expect(want in got, f"{tag}: health reports Capture versionCode {got}, "
                   f"provisioned {want}")
        last = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
        return (f"{len(self.phone_tags)} phones report Capture versionCode {want}; {last}")

    @staticmethod
    def _health_items(body) -> list:
        if isinstance(body, list):
            return body
        return body.get("items") or body.get("reports") or []

    def _all(self, path: str, **params) -> list[dict]:
        """Every item of a paged list, page by page (500 a page)."""
        items, page = [], 1
        while True:
            body = self.api.call("GET", path, params={**params, "page": page, "per_page": 500})
            items += body["items"]
            if page >= body["meta"]["pages"]:
                return items
            page += 1

    def s_compliance(self) -> str:
        proc = self.fleet("health", "check")
        last = proc.stdout.strip().splitlines()[-1]
        total = self.api.total("/devices")
        expect(last.startswith(f"{total} device"), f"'{last}', expected {total} devices")
        # What the run planted: only the phones reported (health pull); every other device
        # never did, so it fails "stale" and nothing else (its other rules are unknown).
        phones = set(self.phone_tags)
        failing = {i["asset_tag"]: [f["rule"] for f in i["failing"]]
                   for i in self._all("/compliance", compliant="false")}
        stale = {i["asset_tag"] for i in self._all("/compliance", rule="stale")}
        expect(len(stale) == total - len(phones) and not stale & phones,
               f"{len(stale)} devices fail 'stale' ({sorted(stale & phones)} of them phones), "
               f"expected the {total - len(phones)} that never reported")
        odd = sorted(t for t in stale if failing.get(t) != ["stale"])
        expect(not odd, f"never-reported devices failing more than 'stale': "
               f"{[(t, failing.get(t)) for t in odd[:3]]}")
        # The phones: the release installed, a PIN set, encrypted, room and battery enough;
        # no SIM paired. Only the RAM rule may fail, as the capacity model judges the holder.
        report = self.api.call("GET", "/capacity/report")
        verdicts = {r["asset_tag"]: r["verdict"] for d in report["districts"]
                    for r in d["devices"]}
        short = []
        for tag in self.phone_tags:
            found = {f["rule"]: f for f in
                     self.api.call("GET", f"/devices/{tag}/compliance")["findings"]}
            bad = {r: f["status"] for r, f in found.items() if f["status"] != PHONE_PLANTED[r]
                   and r != "ram_capacity"}
            expect(not bad, f"{tag}: {bad}, planted {PHONE_PLANTED}")
            ram = found["ram_capacity"]
            expect((ram["status"] == "fail") == (ram["evidence"].get("verdict") == "insufficient"),
                   f"{tag}: ram_capacity {ram['status']} with verdict {ram['evidence']}")
            expect(verdicts.get(tag) != "insufficient" or ram["status"] == "fail",
                   f"{tag}: the capacity report says insufficient, compliance {ram['status']}")
            live = [r for r, f in found.items() if f["status"] == "fail"]
            expect(failing.get(tag, []) == live, f"{tag}: stored failing {failing.get(tag)}, "
                   f"evaluated now {live}")
            short += [tag] if live else []
        expect(len(failing) == len(stale) + len(short), f"{len(failing)} non-compliant")
        pilot = self.campaign.pilot_district
        in_pilot = self.api.total("/compliance", district=self.org_ids[pilot.code])
        expect(in_pilot == self.api.total("/devices", district=pilot.name),
               f"{in_pilot} devices of {pilot.name} in the compliance list")
        assigned = {i["asset_tag"] for i in self._all("/compliance", status="assigned")}
        expect(assigned == phones, f"compliance list of assigned devices: {len(assigned)}")
        return (f"{last}; via /api/v1/compliance: {len(failing)} non-compliant = "
                f"{len(stale)} never reported + {len(short)} phone(s) failing ram_capacity "
                f"(insufficient for the holder's workload); {len(phones) - len(short)} "
                f"phone(s) compliant")

    def s_capacity(self) -> str:
        out = self.work / "capacity-report.csv"
        self.fleet("capacity", "report", "--out", out)
        rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
        expect(len(rows) == len(self.phone_tags),
               f"{len(rows)} rows in the capacity report, expected {len(self.phone_tags)}")
        totals = self.api.call("GET", "/capacity/report")["totals"]
        expect(totals["devices"] == len(rows),
               f"API report judges {totals['devices']} devices, the CLI export {len(rows)}")
        procure = self.api.call("GET", "/capacity/report")["procurement"]
        buy = ", ".join(f"{p['phones']} x {p['ram_mb']} MB" for p in procure) or "nothing"
        return (f"{len(rows)} devices judged (CLI and API agree): ok {totals.get('ok', 0)}, "
                f"marginal {totals.get('marginal', 0)}, insufficient "
                f"{totals.get('insufficient', 0)}, at risk {totals['at_risk']}; to procure: {buy}")

    def s_dhis2(self) -> str:
        if not self.opt.dhis2_url:
            return "NOT RUN: no --dhis2-url given (nothing to publish to)"
        url = self.opt.dhis2_url.rstrip("/")
        # The phones download from fleet's public https address: FLEET_PUBLIC_URL, else the
        # deployment's URL (--url), else where ``fleet serve`` serves this instance by default.
        public = os.environ.get("FLEET_PUBLIC_URL") or self.opt.url or \
            f"https://127.0.0.1:{os.environ.get('FLEET_PORT', '8443')}"
        env = {"FLEET_DHIS2_TOKEN": self.opt.dhis2_token or "", "FLEET_PUBLIC_URL": public}
        self.fleet("dhis2", "servers", "add", "rehearsal", "--url", url, "--default",
                   "--user", "admin", env=env)
        self.fleet("dhis2", "publish-apks", "--user", "admin", env=env)
        resp = requests.get(f"{url}/api/dataStore/APK_DISTRIBUTION/latestVersion",
                            headers={"Authorization": f"ApiToken {self.opt.dhis2_token}"},
                            timeout=30)
        expect(resp.status_code == 200, f"DHIS2 latestVersion: HTTP {resp.status_code}")
        latest = resp.json()
        expect(latest.get("version") == self.release.get("versionName"),
               f"DHIS2 latestVersion {latest.get('version')}, released "
               f"{self.release.get('versionName')}")
        link = latest.get("downloadURL", "")
        # (the link carries the channel's download token: never print it)
        expect(link.startswith(f"{public.rstrip('/')}/apk/{self.release['sha256']}"),
               f"downloadURL {link.split('?')[0]} is not fleet's release")
        # the published link (its channel token included) downloads the vetted bytes, from the
        # deployment (--url) or the in-process server
        got = requests.get(self.base_url + link[len(public.rstrip("/")):], timeout=120,
                           verify=self.verify)
        expect(got.status_code == 200, f"downloadURL answered HTTP {got.status_code}")
        digest = hashlib.sha256(got.content).hexdigest()
        expect(digest == self.release["sha256"], "downloaded bytes differ from the release")
        return f"APK_DISTRIBUTION/latestVersion = {latest['version']} at {url}"
