"""Building the requests of the authorization matrix from the URL map (shared by the matrix
test and by the tool that prints a table draft)."""

from __future__ import annotations

from werkzeug.routing import Rule

from fleet.auth.models import ROLES

IGNORED_METHODS = {"HEAD", "OPTIONS"}
#: Every kind of caller of the matrix (conftest's ``caller_client`` acts as each).
CALLERS = (*ROLES, "anonymous", "channel_token", "health_token", "metrics_token",
           "expired_token", "revoked_token")
MISSING = 999999


def endpoint_keys(app) -> list[tuple[str, Rule]]:
    """[("METHOD /rule", rule)] for every rule of ``app`` but static files, sorted."""
    keys = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        for method in sorted(rule.methods - IGNORED_METHODS):
            keys.append((f"{method} {rule.rule}", rule))
    return sorted(keys, key=lambda kv: kv[0])


def view_permission(app, rule: Rule) -> str | None:
    """The permission of ``require(permission)`` on the rule's view, None when undecorated."""
    return getattr(app.view_functions[rule.endpoint], "fleet_permission", None)


def url_values(rule: Rule, world) -> dict:
    """Real ids from ``world`` for the rule's parameters, or ids that do not exist where an
    authorized caller may get a 404 (the check is that the caller got past authorization)."""
    values = {}
    for arg in rule.arguments:
        values[arg] = _value(rule, arg, world)
    return values


def _value(rule: Rule, arg: str, world):
    path = rule.rule
    if arg == "ref":
        if path.startswith("/api/v1/devices/"):
            return world.device_tag
        if path.startswith("/api/v1/sims/"):
            return world.sim_iccid
        if path.startswith("/api/v1/apk/channels/"):
            return world.channel_name
        return MISSING
    if arg == "action":
        if path.startswith("/apk/releases/"):
            return "approve"  # needs apk:approve on top of the view's apk:upload
        if path.startswith("/apk/channels/"):
            return "rollout"
        return "close"
    simple = {
        "asset_tag": world.device_tag, "tag": world.device_tag, "iccid": world.sim_iccid,
        "holder_id": world.holder_id, "unit_id": world.unit_id,
        "channel_id": world.channel_id, "channel": world.channel_name,
        "release_id": world.release_id, "sha256": world.release_sha256,
        "package": world.release_package, "user_id": world.target_user_id,
        "fmt": "csv", "kind": "devices", "name": "sec-missing",
    }
    if arg in simple:
        return simple[arg]
    return MISSING  # agreement_id, scan_id, token_id, run_id, audit_id, report_id, ...


def build_url(rule: Rule, world) -> str:
    """The request path of ``rule`` with its parameters filled (query added where a view
    needs one to get past argument parsing)."""
    path = rule.build(url_values(rule, world), append_unknown=False)[1]
    if rule.endpoint == "apk_updates_api.check_update":
        path += "?versionCode=1"
    return path


def send(client, method: str, rule: Rule, world, headers: dict):
    """One request of the matrix: JSON ``{}`` to the API, an empty form to HTML pages."""
    url = build_url(rule, world)
    kwargs = {"headers": headers}
    if method in ("POST", "PUT", "PATCH", "DELETE"):
        if url.startswith("/api/"):
            kwargs["json"] = {}
        else:
            kwargs["data"] = {}
    return client.open(url, method=method, **kwargs)


def outcome(resp) -> str:
    """"denied" (401/403, or the login page redirect), "error" (5xx) or "allowed"."""
    location = resp.headers.get("Location", "")
    if resp.status_code in (401, 403) or (
            resp.status_code in (301, 302, 303) and "/auth/login" in location):
        return "denied"
    if resp.status_code >= 500:
        return "error"
    return "allowed"
