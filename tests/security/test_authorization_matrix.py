"""Authorization matrix, generated from the URL map: every endpoint (HTML and /api/v1, every
method but HEAD/OPTIONS, static files excepted) times every caller (each role with a session,
anonymous, wrong-scope tokens -- an APK channel download token, a device health push token and
the Prometheus metrics token --, an expired and a revoked staff API token).

``MATRIX`` is the one table of expected answers. A value is

* a permission (``"read"``, ``"inventory:write"``...): the view's ``require`` decorator must
  name it, and exactly the roles holding it (``ROLE_PERMISSIONS``, which must equal
  ``fleet.auth.models.PERMISSIONS``) get through;
* ``(decorator permission, effective permission)``: a view that checks a stronger permission
  inside for this method; a third element ``REDIRECT_REFUSAL`` says it refuses with a redirect
  back to its page instead of a 403;
* a frozenset of callers: an undecorated endpoint (public, or guarded by its own token);
* ``ANY``: login and logout, which every caller may call (no answer but a 5xx is wrong).

"Got through" means the answer is not 401/403 and not a redirect to the login page (a 404 for
a missing row, a 422 for an empty body are fine: authorization passed). "Refused" means not
2xx/3xx (a redirect to the login page counts as refused). Flask-smorest parses the body before
``require`` runs, so a refused API call with an empty body may be a 422: still refused, and no
code of the view ran. An endpoint missing from the table (or a stale entry) fails
``test_matrix_names_every_endpoint`` with its name.
"""

from __future__ import annotations

import pytest
from matrix_requests import CALLERS, endpoint_keys, send, view_permission

from fleet.auth.models import PERMISSIONS, ROLES

#: What each role may do, pinned here (issue 2 and the domain issues): a change to
#: ``fleet.auth.models.PERMISSIONS`` must be made here too, on purpose.
ROLE_PERMISSIONS = {
    "admin": {"read", "inventory:write", "agreements:write", "agreements:templates",
              "users:manage", "secrets:view", "apk:upload", "apk:approve", "apk:repin",
              "provision", "dhis2:publish"},
    "logistics": {"read", "inventory:write", "agreements:write", "secrets:view", "apk:upload"},
    "technician": {"read", "inventory:write", "provision", "apk:upload"},
    "viewer": {"read"},
}

PUBLIC = frozenset(CALLERS)
STAFF = frozenset(ROLES)
REDIRECT_REFUSAL = "redirect"
#: No authorization at all and no "getting through" either (login with an empty form answers
#: 401, logout redirects to the login page): only a server error fails.
ANY = "any answer"

MATRIX: dict[str, object] = {
    "DELETE /api/v1/sims/<ref>/pairing": "inventory:write",
    "DELETE /api/v1/tokens/<int:token_id>": "read",
    "GET /": STAFF,  # anonymous: redirect to the login page
    "GET /agreements/": "read",
    "GET /agreements/<int:agreement_id>": "read",
    "GET /agreements/<int:agreement_id>/scans/<int:scan_id>": "read",
    "GET /agreements/<int:agreement_id>/sign": "agreements:write",
    "GET /agreements/<int:agreement_id>/signature.png": "read",
    "GET /agreements/<int:agreement_id>/signed.pdf": "read",
    "GET /agreements/new": "agreements:write",
    "GET /agreements/stuck": "read",
    "GET /agreements/templates": "read",
    "GET /api/v1/agreement-templates": "read",
    "GET /api/v1/agreements": "read",
    "GET /api/v1/agreements/<int:agreement_id>": "read",
    "GET /api/v1/agreements/<int:agreement_id>/signed.pdf": "read",
    "GET /api/v1/agreements/stuck": "read",
    "GET /api/v1/apk/channels": "read",
    "GET /api/v1/apk/channels/<ref>": "read",
    "GET /api/v1/apk/channels/<ref>/history": "read",
    "GET /api/v1/apk/channels/<ref>/tokens": "apk:approve",
    "GET /api/v1/apk/holder-groups": "read",
    "GET /api/v1/apk/pins": "read",
    "GET /api/v1/apk/releases": "read",
    "GET /api/v1/apk/releases/<int:release_id>": "read",
    "GET /api/v1/audit": "read",
    "GET /api/v1/capacity/calibration": "read",
    "GET /api/v1/capacity/report": "read",
    "GET /api/v1/compliance": "read",
    "GET /api/v1/devices": "read",
    "GET /api/v1/devices/<asset_tag>/compliance": "read",
    "GET /api/v1/devices/<asset_tag>/health": "read",
    "GET /api/v1/devices/<ref>": "read",
    "GET /api/v1/devices/<ref>/custody": "read",
    "GET /api/v1/devices/<ref>/sims": "read",
    "GET /api/v1/dhis2/publications": "read",
    "GET /api/v1/dhis2/servers": "read",
    "GET /api/v1/dhis2/settings-profiles": "read",
    "GET /api/v1/dhis2/settings-profiles/<ref>": "read",
    "GET /api/v1/dhis2/usergroups": "read",
    "GET /api/v1/docs": PUBLIC,
    "GET /api/v1/exports/<kind>": "read",
    "GET /api/v1/holders": "read",
    "GET /api/v1/holders/<int:holder_id>": "read",
    "GET /api/v1/me": "read",
    "GET /api/v1/openapi.json": PUBLIC,
    "GET /api/v1/org-units": "read",
    "GET /api/v1/org-units/<int:unit_id>": "read",
    "GET /api/v1/provisioning/profiles": "read",
    "GET /api/v1/provisioning/runs": "read",
    "GET /api/v1/provisioning/runs/<int:run_id>": "read",
    "GET /api/v1/provisioning/runs/<int:run_id>/slips.pdf": "provision",
    "GET /api/v1/provisioning/stations": "read",
    "GET /api/v1/scan-audits/<int:audit_id>": "read",
    "GET /api/v1/sims": "read",
    "GET /api/v1/sims/<ref>": "read",
    "GET /api/v1/updates/<package>": frozenset({"channel_token"}),
    "GET /api/v1/users": "users:manage",
    "GET /apk/<sha256>.apk": STAFF,  # a channel token only for releases its channel serves
    "GET /apk/<sha256>/<name>.apk": STAFF,  # a channel token only for releases its channel serves
    "GET /apk/channels": "read",
    "GET /apk/channels/<int:channel_id>": "read",
    "GET /apk/channels/<int:channel_id>/poster": "apk:approve",
    "GET /apk/holder-groups": "read",
    "GET /apk/holder-groups/<int:group_id>": "read",
    "GET /apk/pins": "read",
    "GET /apk/releases": "read",
    "GET /apk/releases/<int:release_id>": "read",
    "GET /apk/releases/upload": "apk:upload",
    "GET /audit/": "read",
    "GET /auth/login": PUBLIC,
    "GET /auth/tokens": "read",
    "GET /auth/users": "users:manage",
    "GET /capacity/": "read",
    "GET /capacity/calibration": "read",
    "GET /capacity/report": "read",
    "GET /capacity/report.<fmt>": "read",
    "GET /dashboard": "read",
    "GET /devices": "read",
    "GET /devices/<tag>": "read",
    "GET /devices/<tag>/edit": "inventory:write",
    "GET /devices/new": "inventory:write",
    "GET /dhis2/": "read",
    "GET /dhis2/apks": "dhis2:publish",
    "GET /dhis2/history": "read",
    "GET /dhis2/orgunits": "dhis2:publish",
    "GET /dhis2/servers/<int:server_id>/edit": "dhis2:publish",
    "GET /dhis2/servers/new": "dhis2:publish",
    "GET /dhis2/settings": "read",
    "GET /dhis2/settings/<int:ref>": "read",
    "GET /dhis2/usergroups": "read",
    "GET /export/<kind>.<fmt>": "read",
    "GET /health/": "read",
    "GET /health/devices/<asset_tag>": "read",
    "GET /health/devices/<asset_tag>/reports/<int:report_id>/raw": "read",
    "GET /health/export.<fmt>": "read",
    "GET /health/jobs": "users:manage",
    "GET /health/settings": "users:manage",
    "GET /healthz": PUBLIC,
    "GET /holders": "read",
    "GET /holders/<int:holder_id>": "read",
    "GET /holders/<int:holder_id>/edit": "inventory:write",
    "GET /holders/new": "inventory:write",
    "GET /import": "read",
    "GET /install/<channel>": STAFF | {"channel_token"},
    "GET /labels/": "read",
    "GET /labels/audits": "read",
    "GET /labels/audits/<int:audit_id>": "read",
    "GET /labels/scan": "inventory:write",
    "GET /metrics": frozenset({"metrics_token"}),
    "GET /org-units": "read",
    "GET /provisioning/": "read",
    "GET /provisioning/runs/<int:run_id>": "read",
    "GET /sims": "read",
    "GET /sims/<iccid>": "read",
    "GET /sims/new": "inventory:write",
    "PATCH /api/v1/apk/channels/<ref>": "apk:approve",
    "PATCH /api/v1/apk/releases/<int:release_id>": "apk:upload",
    "PATCH /api/v1/devices/<ref>": "inventory:write",
    "PATCH /api/v1/dhis2/servers/<name>": "dhis2:publish",
    "PATCH /api/v1/dhis2/settings-profiles/<ref>": "dhis2:publish",
    "PATCH /api/v1/holders/<int:holder_id>": "inventory:write",
    "PATCH /api/v1/provisioning/profiles/<name>": "provision",
    "PATCH /api/v1/sims/<ref>": "inventory:write",
    "POST /agreements/<int:agreement_id>/actions/<action>": "agreements:write",
    "POST /agreements/<int:agreement_id>/print": "agreements:write",
    "POST /agreements/<int:agreement_id>/scans": "agreements:write",
    "POST /agreements/new": "agreements:write",
    "POST /agreements/templates": ("read", "agreements:templates"),
    "POST /api/v1/agreement-templates": "agreements:templates",
    "POST /api/v1/agreements": "agreements:write",
    "POST /api/v1/agreements/<int:agreement_id>/actions/<action>": "agreements:write",
    "POST /api/v1/agreements/<int:agreement_id>/print": "agreements:write",
    "POST /api/v1/agreements/<int:agreement_id>/scans": "agreements:write",
    "POST /api/v1/agreements/<int:agreement_id>/signature": "agreements:write",
    "POST /api/v1/apk/channels": "apk:approve",
    "POST /api/v1/apk/channels/<ref>/rollback": "apk:approve",
    "POST /api/v1/apk/channels/<ref>/rollout": "apk:approve",
    "POST /api/v1/apk/channels/<ref>/tokens": "apk:approve",
    "POST /api/v1/apk/devices/<ref>/tokens": "apk:approve",
    "POST /api/v1/apk/holder-groups": "apk:approve",
    "POST /api/v1/apk/releases": "apk:upload",
    "POST /api/v1/apk/releases/<int:release_id>/approve": "apk:approve",
    "POST /api/v1/apk/releases/<int:release_id>/reject": "apk:approve",
    "POST /api/v1/apk/releases/<int:release_id>/release": "apk:approve",
    "POST /api/v1/apk/releases/<int:release_id>/revet": "apk:approve",
    "POST /api/v1/apk/releases/<int:release_id>/testing": "apk:upload",
    "POST /api/v1/apk/releases/<int:release_id>/withdraw": "apk:approve",
    "POST /api/v1/apk/tokens/<int:token_id>/revoke": "apk:approve",
    "POST /api/v1/capacity/estimate": "read",
    "POST /api/v1/devices": "inventory:write",
    "POST /api/v1/devices/<asset_tag>/health": frozenset({"health_token"}),
    "POST /api/v1/devices/<asset_tag>/health-tokens": "inventory:write",
    "POST /api/v1/devices/<ref>/checkin": "inventory:write",
    "POST /api/v1/devices/<ref>/checkout": "inventory:write",
    "POST /api/v1/devices/<ref>/loss": "inventory:write",
    "POST /api/v1/devices/<ref>/sims": "inventory:write",
    "POST /api/v1/devices/<ref>/status": "inventory:write",
    "POST /api/v1/dhis2/apk-distribution/publish": "dhis2:publish",
    "POST /api/v1/dhis2/import/orgunits": "dhis2:publish",
    "POST /api/v1/dhis2/import/usergroups": "dhis2:publish",
    "POST /api/v1/dhis2/servers": "dhis2:publish",
    "POST /api/v1/dhis2/servers/<name>/check": "dhis2:publish",
    "POST /api/v1/dhis2/settings-profiles": "dhis2:publish",
    "POST /api/v1/dhis2/settings-profiles/<ref>/publish": "dhis2:publish",
    "POST /api/v1/holders": "inventory:write",
    "POST /api/v1/imports/<kind>": "inventory:write",
    "POST /api/v1/org-units": "inventory:write",
    "POST /api/v1/provisioning/profiles": "provision",
    "POST /api/v1/provisioning/runs": "provision",
    "POST /api/v1/provisioning/runs/<int:run_id>/resume": "provision",
    "POST /api/v1/provisioning/runs/<int:run_id>/stop": "provision",
    "POST /api/v1/provisioning/stations": "provision",
    "POST /api/v1/scan-audits": "inventory:write",
    "POST /api/v1/scan-audits/<int:audit_id>/close": "inventory:write",
    "POST /api/v1/scan-audits/<int:audit_id>/scans": "inventory:write",
    "POST /api/v1/scan/checkin": "inventory:write",
    "POST /api/v1/scan/checkout": "inventory:write",
    "POST /api/v1/scan/lookup": "read",
    "POST /api/v1/sims": "inventory:write",
    "POST /api/v1/tokens": "read",
    "POST /api/v1/users": "users:manage",
    "POST /apk/channels": ("read", "apk:approve"),
    "POST /apk/channels/<int:channel_id>/<action>": "apk:approve",
    "POST /apk/holder-groups": ("read", "apk:approve"),
    "POST /apk/holder-groups/<int:group_id>": ("read", "apk:approve"),
    "POST /apk/pins": ("read", "apk:repin"),
    "POST /apk/releases/<int:release_id>/<action>": ("apk:upload", "apk:approve"),  # action=approve
    "POST /apk/releases/upload": "apk:upload",
    "POST /auth/login": ANY,
    "POST /auth/logout": ANY,
    "POST /auth/tokens": "read",
    "POST /auth/tokens/<int:token_id>/revoke": "read",
    "POST /auth/users": "users:manage",
    "POST /auth/users/<int:user_id>": "users:manage",
    "POST /devices/<tag>/checkin": "inventory:write",
    "POST /devices/<tag>/checkout": "inventory:write",
    "POST /devices/<tag>/edit": "inventory:write",
    "POST /devices/<tag>/loss": "inventory:write",
    "POST /devices/<tag>/pair": "inventory:write",
    "POST /devices/<tag>/status": "inventory:write",
    "POST /devices/new": "inventory:write",
    "POST /dhis2/apks": "dhis2:publish",
    "POST /dhis2/orgunits": "dhis2:publish",
    "POST /dhis2/servers/<int:server_id>/check": "dhis2:publish",
    "POST /dhis2/servers/<int:server_id>/edit": "dhis2:publish",
    "POST /dhis2/servers/new": "dhis2:publish",
    "POST /dhis2/settings": ("read", "dhis2:publish"),
    "POST /dhis2/settings/<int:ref>": "read",  # dhis2:publish checked after the profile 404
    "POST /dhis2/usergroups": ("read", "dhis2:publish"),
    "POST /health/settings": "users:manage",
    "POST /holders/<int:holder_id>/edit": "inventory:write",
    "POST /holders/new": "inventory:write",
    "POST /import": ("read", "inventory:write"),
    "POST /labels/audits": ("read", "inventory:write", REDIRECT_REFUSAL),
    "POST /labels/audits/<int:audit_id>/close": "inventory:write",
    "POST /labels/print": "read",
    "POST /org-units": ("read", "inventory:write"),
    "POST /sims/<iccid>/unpair": "inventory:write",
    "POST /sims/new": "inventory:write",
    "PUT /api/v1/apk/pins/<package>": "apk:repin",
}


def allowed_callers(entry) -> frozenset[str]:
    """The callers that get through an endpoint with table entry ``entry``."""
    if isinstance(entry, frozenset):
        return entry
    effective = entry[1] if isinstance(entry, tuple) else entry
    return frozenset(role for role in ROLES if effective in ROLE_PERMISSIONS[role])


def test_role_permissions_are_the_pinned_ones():
    assert {role: set(perms) for role, perms in PERMISSIONS.items()} == ROLE_PERMISSIONS


def test_matrix_names_every_endpoint(app):
    keys = dict(endpoint_keys(app))
    missing = sorted(set(keys) - set(MATRIX))
    stale = sorted(set(MATRIX) - set(keys))
    assert not missing, f"endpoints without an authorization matrix entry: {missing}"
    assert not stale, f"matrix entries naming no endpoint: {stale}"
    wrong = []
    for key, rule in keys.items():
        entry = MATRIX[key]
        declared = None if isinstance(entry, frozenset) or entry == ANY else (
            entry[0] if isinstance(entry, tuple) else entry)
        if view_permission(app, rule) != declared:
            wrong.append(f"{key}: view requires {view_permission(app, rule)!r}, "
                         f"table says {declared!r}")
    assert not wrong, "\n".join(wrong)


def _refused(resp, entry) -> bool:
    location = resp.headers.get("Location", "")
    if resp.status_code in (301, 302, 303):
        if "/auth/login" in location:
            return True
        return isinstance(entry, tuple) and entry[2:] == (REDIRECT_REFUSAL,)
    return resp.status_code >= 400


def _got_through(resp) -> bool:
    location = resp.headers.get("Location", "")
    return resp.status_code not in (401, 403) and not (
        resp.status_code in (301, 302, 303) and "/auth/login" in location)


@pytest.mark.parametrize("caller", CALLERS)
def test_authorization_matrix(app, caller, caller_client, world):
    client, headers = caller_client(caller)
    keys = endpoint_keys(app)
    keys.sort(key=lambda kv: kv[0] == "POST /auth/logout")  # keep the session to the end
    failures = []
    for key, rule in keys:
        entry = MATRIX[key]
        method = key.split()[0]
        resp = send(client, method, rule, world, headers)
        if resp.status_code >= 500:
            failures.append(f"{key}: {resp.status_code} (server error)")
        elif entry == ANY:
            continue
        elif caller in allowed_callers(entry):
            if not _got_through(resp):
                failures.append(f"{key}: {caller} should get through, got {resp.status_code}")
        elif not _refused(resp, entry):
            failures.append(f"{key}: {caller} should be refused, got {resp.status_code} "
                            f"{resp.headers.get('Location', '')}")
    assert not failures, "\n".join(failures)
