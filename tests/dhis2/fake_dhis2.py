"""Dhis2TestServer: a test double of the DHIS2 Web API endpoints fleet uses.

No DHIS2 server can run on the test machine, so the DHIS2 connector is tested against this
small HTTP server, run as a real separate process on a loopback port::

    python tests/dhis2/fake_dhis2.py --port 0 --token d2pat_x --username admin \
        --password district --control-secret s3cret
    # prints "DHIS2_TEST_SERVER_PORT=<port>" once listening

It follows the documented behaviour of DHIS2 (dhis2/dhis2-docs ``src/developer/web-api/``);
each response shape below names the page it comes from:

- ``GET /api/system/info`` -> ``{"version", "revision", "serverDate", "contextPath",
  "systemId", "systemName", "calendar", "dateFormat"}`` (overview.md, "System info").
- ``GET /api/organisationUnits`` and ``GET /api/userGroups`` with ``fields`` (simple names and
  ``parent[id,name]``), ``page``, ``pageSize`` (default 50), ``paging=false``; answer
  ``{"pager": {"page", "pageCount", "total", "pageSize", "nextPage"?, "prevPage"?},
  "<collection>": [...]}`` (metadata.md, "Paging"; "Field filter"). Default fields when none
  are asked: ``id,displayName``.
- ``/api/dataStore``: GET namespaces; ``GET /<ns>`` keys (404 when the namespace does not
  exist); ``GET /<ns>/<key>`` the value (404 when missing); ``POST`` creates (201, 409 when
  the key exists); ``PUT`` updates (200, 404 when missing); ``DELETE`` a key or a namespace
  (data-store.md). Status bodies are DHIS2 WebMessages
  ``{"httpStatus", "httpStatusCode", "status", "message"}`` copied from the examples there.
- Authentication: ``Authorization: ApiToken <token>`` (personal access tokens) or HTTP basic;
  anything else gets 401 with a WebMessage.
- ``--certfile``/``--keyfile`` serve HTTPS instead of HTTP (for TLS verification tests).

Test knobs (only with header ``X-Test-Control: <control secret>``), under ``/__test__/``:
``POST faults`` ``{"fail_next": N, "fail_status": 503, "retry_after": s, "delay_next": N,
"delay_seconds": s, "forbid_next": N, "html_next": N, "ignore_writes_next": N,
"path_prefix": "/api/...", "method": "PUT"}`` (``ignore_writes_next`` answers a dataStore
write as DHIS2 would but does not store it: a lost write for read-back checks);
``GET requests`` (log of ``{method, path, query, status}``); ``GET datastore`` (whole store);
``PUT datastore/<ns>/<key>`` (set a value directly); ``POST organisationUnits/<uid>`` (patch
``name``/``code``/``parent``); ``POST reset`` (clear faults and the log).
"""

from __future__ import annotations

import argparse
import base64
import hmac
import json
import random
import ssl
import string
import sys
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

UID_CHARS = string.ascii_letters + string.digits


def make_uid(rng: random.Random) -> str:
    """A DHIS2-style UID: a letter then 10 letters/digits (DHIS2 ``CodeGenerator``)."""
    return rng.choice(string.ascii_letters) + "".join(rng.choice(UID_CHARS) for _ in range(10))


def generate_org_units(
    regions: int = 4, districts_per_region: int = 4, facilities_per_district: int = 15, seed=1
) -> list[dict]:
    """A country > region > district > facility tree (261 units by default), as stored by
    the server: ``{"id", "name", "code", "level", "parent_id", "path"}``, parents first."""
    rng = random.Random(seed)
    units: list[dict] = []
    used: set[str] = set()

    def add(name: str, code: str, parent: dict | None) -> dict:
        uid = make_uid(rng)
        while uid in used:
            uid = make_uid(rng)
        used.add(uid)
        unit = {
            "id": uid,
            "name": name,
            "code": code,
            "level": 1 if parent is None else parent["level"] + 1,
            "parent_id": None if parent is None else parent["id"],
            "path": f"/{uid}" if parent is None else f"{parent['path']}/{uid}",
        }
        units.append(unit)
        return unit

    country = add("Fleetland", "FL", None)
    region_names = ["Northern", "Southern", "Eastern", "Région Côtière", "Western", "Central"]
    for r in range(regions):
        region = add(f"{region_names[r % len(region_names)]} Region", f"FL_R{r + 1}", country)
        for d in range(districts_per_region):
            district = add(f"District {r + 1}-{d + 1}", f"FL_R{r + 1}_D{d + 1}", region)
            for f in range(facilities_per_district):
                add(
                    f"Health Facility {r + 1}-{d + 1}-{f + 1:02d}",
                    f"FL_R{r + 1}_D{d + 1}_F{f + 1:02d}",
                    district,
                )
    return units


def generate_user_groups(count: int = 5, seed: int = 2) -> list[dict]:
    """A few user groups ``{"id", "name", "code"}``."""
    rng = random.Random(seed)
    names = ["Pilot CHWs", "Campaign supervisors", "District data officers", "Trainers", "HQ"]
    return [
        {"id": make_uid(rng), "name": names[i % len(names)], "code": f"UG_{i + 1}"}
        for i in range(count)
    ]


def parse_fields(text: str) -> list[tuple[str, list | None]]:
    """``"id,name,parent[id,name]"`` -> ``[("id", None), ("name", None), ("parent",
    [("id", None), ("name", None)])]`` (DHIS2 field filter, brackets or parentheses)."""
    out: list[tuple[str, list | None]] = []
    depth = 0
    token = ""
    parts: list[str] = []
    for ch in text:
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(token)
            token = ""
        else:
            token += ch
    parts.append(token)
    for part in (p.strip() for p in parts):
        if not part:
            continue
        for opener, closer in (("[", "]"), ("(", ")")):
            if opener in part and part.endswith(closer):
                name, inner = part.split(opener, 1)
                out.append((name.strip(), parse_fields(inner[:-1])))
                break
        else:
            out.append((part, None))
    return out


def web_message(code: int, message: str, status: str | None = None) -> dict:
    """A DHIS2 WebMessage body (data-store.md examples)."""
    names = {
        200: "OK",
        201: "OK",  # the docs' create example: {"httpStatus": "OK", "httpStatusCode": 201}
        400: "Bad Request",
        401: "Unauthorized",
        403: "Forbidden",
        404: "Not Found",
        409: "Conflict",
        500: "Internal Server Error",
        503: "Service Unavailable",
    }
    return {
        "httpStatus": names.get(code, "Error"),
        "httpStatusCode": code,
        "status": status or ("OK" if code < 400 else "ERROR"),
        "message": message,
    }


class Dhis2TestServer(ThreadingHTTPServer):
    """The server process's state: org units, user groups, dataStore, credentials, faults."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self, address, *, token, username, password, control_secret, org_units, user_groups
    ):
        super().__init__(address, Dhis2Handler)
        self.token = token
        self.username = username
        self.password = password
        self.control_secret = control_secret
        self.org_units = {u["id"]: dict(u) for u in org_units}
        self.user_groups = list(user_groups)
        self.datastore: dict[str, dict[str, object]] = {}
        self.faults: dict = {}
        self.log: list[dict] = []
        self.lock = threading.RLock()

    def take_fault(self, method: str, path: str) -> dict:
        """Consume and return the faults applying to this request (``path_prefix`` and
        ``method`` narrow which requests a fault hits)."""
        with self.lock:
            prefix = self.faults.get("path_prefix")
            if prefix and not path.startswith(prefix):
                return {}
            only = self.faults.get("method")
            if only and only.upper() != method:
                return {}
            taken = {}
            for knob in (
                "fail_next",
                "delay_next",
                "forbid_next",
                "html_next",
                "ignore_writes_next",
            ):
                if self.faults.get(knob, 0) > 0:
                    self.faults[knob] -= 1
                    taken[knob] = True
            taken["fail_status"] = self.faults.get("fail_status", 503)
            taken["retry_after"] = self.faults.get("retry_after")
            taken["delay_seconds"] = self.faults.get("delay_seconds", 0)
            return taken

    def rebuild_paths(self) -> None:
        """Recompute ``path`` and ``level`` from parent links (after a move)."""

        def path_of(uid: str, seen: tuple = ()) -> str:
            unit = self.org_units[uid]
            parent = unit.get("parent_id")
            if parent is None or parent not in self.org_units or parent in seen:
                return f"/{uid}"
            return f"{path_of(parent, seen + (uid,))}/{uid}"

        for uid, unit in self.org_units.items():
            unit["path"] = path_of(uid)
            unit["level"] = unit["path"].count("/")


class Dhis2Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Dhis2TestServer
    _ignore_write = False

    def log_message(self, format, *args):  # noqa: A002 - keep stdout clean
        pass

    # ------------------------------------------------------------ plumbing

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(
        self,
        code: int,
        payload,
        content_type="application/json;charset=UTF-8",
        headers: dict | None = None,
    ) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        split = urlsplit(self.path)
        if split.path.startswith("/api/"):  # logged before answering: no race with the test
            with self.server.lock:
                self.server.log.append(
                    {
                        "method": self.command,
                        "path": split.path,
                        "query": split.query,
                        "status": code,
                    }
                )
        try:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _authorized(self) -> bool:
        header = self.headers.get("Authorization", "")
        if header.startswith("ApiToken ") and self.server.token:
            return hmac.compare_digest(header[len("ApiToken ") :], self.server.token)
        if header.startswith("Basic ") and self.server.username:
            try:
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return False
            return hmac.compare_digest(user, self.server.username) and hmac.compare_digest(
                password, self.server.password
            )
        return False

    def _dispatch(self) -> None:
        split = urlsplit(self.path)
        path = split.path
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        body = self._body()
        if path.startswith("/__test__/"):
            return self._control(path[len("/__test__/") :], body)
        if not path.startswith("/api/"):
            return self._send(404, web_message(404, "Not found"))
        if not self._authorized():
            return self._send(401, web_message(401, "Unauthorized"))
        fault = self.server.take_fault(self.command, path)
        if fault.get("delay_next"):
            time.sleep(float(fault["delay_seconds"]))
        if fault.get("forbid_next"):
            return self._send(403, web_message(403, "Access denied"))
        if fault.get("html_next"):
            page = b"<!DOCTYPE html><html><body>DHIS 2 login</body></html>"
            return self._send(200, page, "text/html;charset=UTF-8")
        if fault.get("fail_next"):
            code = int(fault["fail_status"])
            headers = {"Retry-After": str(fault["retry_after"])} if fault["retry_after"] else None
            return self._send(code, web_message(code, "Injected failure"), headers=headers)
        self._ignore_write = bool(fault.get("ignore_writes_next"))
        self._api(path[len("/api/") :].rstrip("/"), query, body)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _dispatch

    # ------------------------------------------------------------ API

    def _api(self, path: str, query: dict, body: bytes) -> None:
        parts = [unquote(p) for p in path.split("/")]
        if parts[0].isdigit() and len(parts[0]) == 2:  # /api/40/... versioned path
            parts = parts[1:]
        method = self.command
        if parts == ["system", "info"] and method == "GET":
            host = self.headers.get("Host", "127.0.0.1")
            return self._send(
                200,
                {
                    "contextPath": f"http://{host}",
                    "version": "2.40.4",
                    "revision": "test0000",
                    "buildTime": "2024-01-01T00:00:00.000",
                    "serverDate": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3],
                    "systemId": "fleet-dhis2-test-server",
                    "systemName": "DHIS2 test server (fleet tests)",
                    "calendar": "iso8601",
                    "dateFormat": "yyyy-mm-dd",
                },
            )
        if parts == ["organisationUnits"] and method == "GET":
            with self.server.lock:
                items = sorted(self.server.org_units.values(), key=lambda u: (u["level"], u["id"]))
                items = [self._org_unit_json(u) for u in items]
            return self._collection("organisationUnits", items, query)
        if parts == ["userGroups"] and method == "GET":
            return self._collection("userGroups", list(self.server.user_groups), query)
        if parts[0] == "dataStore":
            return self._datastore(parts[1:], method, body)
        return self._send(404, web_message(404, f"Resource not found: /api/{path}"))

    def _org_unit_json(self, unit: dict) -> dict:
        out = {k: v for k, v in unit.items() if k != "parent_id" and v is not None}
        out["displayName"] = unit["name"]
        if unit.get("parent_id"):
            parent = self.server.org_units.get(unit["parent_id"])
            out["parent"] = {"id": unit["parent_id"], "name": parent["name"] if parent else None}
        return out

    def _select(self, item: dict, spec: list) -> dict:
        out = {}
        for name, sub in spec:
            if name in ("*", ":all"):
                out.update(item)
                continue
            if name not in item or item[name] is None:
                continue
            value = item[name]
            if sub is not None and isinstance(value, dict):
                value = self._select(value, sub)
            elif sub is None and isinstance(value, dict):
                value = {"id": value.get("id")}  # DHIS2 gives references as {"id"} by default
            out[name] = value
        return out

    def _collection(self, name: str, items: list[dict], query: dict) -> None:
        spec = parse_fields(query.get("fields") or "id,displayName")
        try:
            page = max(int(query.get("page", 1)), 1)
            page_size = max(int(query.get("pageSize", 50)), 1)
        except ValueError:
            return self._send(400, web_message(400, "page and pageSize must be numbers"))
        selected = [self._select(i, spec) for i in items]
        if query.get("paging") == "false":
            return self._send(200, {name: selected})
        total = len(selected)
        page_count = max((total + page_size - 1) // page_size, 1)
        start = (page - 1) * page_size
        pager = {"page": page, "pageCount": page_count, "total": total, "pageSize": page_size}
        host = self.headers.get("Host", "127.0.0.1")
        base = {k: v for k, v in query.items() if k not in ("page",)}
        if page < page_count:
            pager["nextPage"] = f"http://{host}/api/{name}?{urlencode({**base, 'page': page + 1})}"
        if page > 1:
            pager["prevPage"] = f"http://{host}/api/{name}?{urlencode({**base, 'page': page - 1})}"
        self._send(200, {"pager": pager, name: selected[start : start + page_size]})

    def _datastore(self, parts: list[str], method: str, body: bytes) -> None:
        store = self.server.datastore
        with self.server.lock:
            if not parts:
                if method == "GET":
                    return self._send(200, sorted(store))
                return self._send(405, web_message(405, "Method not allowed"))
            ns = parts[0]
            if len(parts) == 1:
                if ns not in store:
                    return self._send(404, web_message(404, f"Namespace not found: '{ns}'"))
                if method == "GET":
                    return self._send(200, sorted(store[ns]))
                if method == "DELETE":
                    del store[ns]
                    return self._send(200, web_message(200, f"Namespace '{ns}' deleted."))
                return self._send(405, web_message(405, "Method not allowed"))
            if len(parts) != 2:
                return self._send(404, web_message(404, "Not found"))
            key = parts[1]
            exists = key in store.get(ns, {})
            if method == "GET":
                if not exists:
                    return self._send(
                        404, web_message(404, f"Key '{key}' not found in namespace '{ns}'")
                    )
                return self._send(200, store[ns][key])
            if method == "DELETE":
                if not exists:
                    return self._send(
                        404, web_message(404, f"Key '{key}' not found in namespace '{ns}'")
                    )
                del store[ns][key]
                if not store[ns]:
                    del store[ns]
                return self._send(
                    200, web_message(200, f"Key '{key}' deleted from namespace '{ns}'.")
                )
            if method in ("POST", "PUT"):
                try:
                    value = json.loads(body.decode("utf-8"))
                except (ValueError, UnicodeDecodeError):
                    return self._send(400, web_message(400, "The data is not valid JSON"))
                if method == "POST":
                    if exists:
                        return self._send(
                            409,
                            web_message(409, f"Key '{key}' already exists in namespace '{ns}'"),
                        )
                    if not self._ignore_write:
                        store.setdefault(ns, {})[key] = value
                    return self._send(201, web_message(201, f"Key '{key}' created."))
                if not exists:
                    return self._send(
                        404, web_message(404, f"Key '{key}' not found in namespace '{ns}'")
                    )
                if not self._ignore_write:
                    store[ns][key] = value
                return self._send(200, web_message(200, f"Key '{key}' updated."))
            return self._send(405, web_message(405, "Method not allowed"))

    # ------------------------------------------------------------ control

    def _control(self, path: str, body: bytes) -> None:
        secret = self.headers.get("X-Test-Control", "")
        if not hmac.compare_digest(secret, self.server.control_secret):
            return self._send(403, {"error": "control secret required"})
        server = self.server
        data = json.loads(body) if body else {}
        method = self.command
        with server.lock:
            if path == "faults" and method == "POST":
                server.faults = dict(data)
                return self._send(200, server.faults)
            if path == "reset" and method == "POST":
                server.faults = {}
                server.log.clear()
                return self._send(200, {})
            if path == "requests" and method == "GET":
                return self._send(200, list(server.log))
            if path == "datastore" and method == "GET":
                return self._send(200, server.datastore)
            if path.startswith("datastore/") and method == "PUT":
                _, ns, key = path.split("/", 2)
                server.datastore.setdefault(unquote(ns), {})[unquote(key)] = data
                return self._send(200, {})
            if path.startswith("organisationUnits/") and method == "POST":
                uid = path.split("/", 1)[1]
                unit = server.org_units.get(uid)
                if unit is None:
                    return self._send(404, {"error": "no such org unit"})
                for name in ("name", "code"):
                    if name in data:
                        unit[name] = data[name]
                if "parent" in data:
                    unit["parent_id"] = data["parent"]
                    server.rebuild_paths()
                return self._send(200, unit)
        return self._send(404, {"error": "unknown control path"})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", default="")
    parser.add_argument("--username", default="")
    parser.add_argument("--password", default="")
    parser.add_argument("--control-secret", required=True)
    parser.add_argument("--regions", type=int, default=4)
    parser.add_argument("--districts", type=int, default=4, help="per region")
    parser.add_argument("--facilities", type=int, default=15, help="per district")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--certfile", help="serve HTTPS with this PEM certificate")
    parser.add_argument("--keyfile", help="PEM private key for --certfile")
    args = parser.parse_args(argv)
    if args.host not in ("127.0.0.1", "::1", "localhost"):
        parser.error("the test server only listens on loopback")
    server = Dhis2TestServer(
        (args.host, args.port),
        token=args.token,
        username=args.username,
        password=args.password,
        control_secret=args.control_secret,
        org_units=generate_org_units(args.regions, args.districts, args.facilities, args.seed),
        user_groups=generate_user_groups(),
    )
    if args.certfile:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.certfile, args.keyfile)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    print(f"DHIS2_TEST_SERVER_PORT={server.server_address[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
