"""Fuzz the JSON API from its own OpenAPI document (``/api/v1/openapi.json``) with
schemathesis, as an admin with a bearer token: no answer may be a server error (5xx) and every
answer, success or error, must match its documented schema (errors: fleet's envelope
``{"error": {"code", "message", "fields"}}``, the document's default response).

The document bounds ids (1 to 2**31 - 1, in the path and in bodies and queries), so
schemathesis' coverage phase also sends 0, negative ids and 2**31: they must be refused (404,
422), not overflow the database. Timestamps must be RFC 3339 ``date-time``s (with an offset) on
SQLite as on PostgreSQL.

Bounded to run in about a minute: ``MAX_EXAMPLES`` generated cases per operation, no
per-example deadline (the first request of an operation warms caches), no shrinking phase
beyond hypothesis' default. Operations that reach outside the process or destroy the caller's
own credentials are left out (``EXCLUDED``), each with its reason.
"""

from __future__ import annotations

import tempfile

import pytest
import schemathesis
from fleet_testing import make_test_app
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from fleet.auth.operations import issue_token

#: Generated cases per operation (hypothesis ``max_examples``).
MAX_EXAMPLES = 2

#: (method, path template) left out of the fuzzing, with why.
EXCLUDED = {
    # Contact the DHIS2 server the case names (any URL the generator invents): network waits.
    ("POST", "/api/v1/dhis2/servers/{name}/check"): "contacts a DHIS2 server",
    ("POST", "/api/v1/dhis2/import/orgunits"): "contacts a DHIS2 server",
    ("POST", "/api/v1/dhis2/import/usergroups"): "contacts a DHIS2 server",
    ("POST", "/api/v1/dhis2/apk-distribution/publish"): "contacts a DHIS2 server",
    ("POST", "/api/v1/dhis2/settings-profiles/{ref}/publish"): "contacts a DHIS2 server",
    # Starts background provisioning jobs that talk to adb/ssh stations.
    ("POST", "/api/v1/provisioning/runs"): "starts device I/O in the background",
    # Revoking token ids at random can revoke the fuzzer's own token: the rest of the run
    # would only see 401s.
    ("DELETE", "/api/v1/tokens/{token_id}"): "can revoke the fuzzing token itself",
}


class _AppProxy:
    """The WSGI app the schema calls: the session's test app once ``fuzz_token`` set it (the
    schema itself is loaded at import time, so each operation is its own pytest test)."""

    target = None

    def __call__(self, environ, start_response):
        return self.target(environ, start_response)


def _load_schema():
    """The OpenAPI document of a throwaway app (the document does not depend on the data)."""
    with tempfile.TemporaryDirectory() as tmp:
        app = make_test_app(tmp, f"sqlite:///{tmp}/schema.sqlite3")
        _AppProxy.target = app
        loaded = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", _AppProxy())
        with app.app_context():
            from fleet.extensions import db as _db

            _db.engine.dispose()
    return loaded


schema = _load_schema()


@pytest.fixture()
def fuzz_token(app, db, create_user):
    """A bearer token of a new admin; points the schema's WSGI app at the session app."""
    user = create_user("admin")
    _row, plain = issue_token(user, "fuzz", actor=None)
    db.session.commit()
    _AppProxy.target = app
    return plain


def _excluded(ctx) -> bool:
    op = ctx.operation
    return (op.method.upper(), op.path) in EXCLUDED


def test_document_describes_the_error_envelope(client):
    """Errors are documented as fleet sends them (fleet/apiutil.py ``ErrorSchema``), so the
    conformance check below holds every 4xx answer to the envelope."""
    doc = client.get("/api/v1/openapi.json").json
    schemas = doc["components"]["schemas"]
    ref = doc["components"]["responses"]["DEFAULT_ERROR"]["content"]["application/json"]
    envelope = schemas[ref["schema"]["$ref"].rsplit("/", 1)[1]]
    assert envelope["required"] == ["error"]
    body = schemas[envelope["properties"]["error"]["$ref"].rsplit("/", 1)[1]]
    assert sorted(body["required"]) == ["code", "fields", "message"]
    assert body["properties"]["fields"]["additionalProperties"]["items"]["type"] == "string"
    delete = doc["paths"]["/api/v1/tokens/{token_id}"]["delete"]["responses"]
    assert delete["default"] == {"$ref": "#/components/responses/DEFAULT_ERROR"}


@pytest.mark.slow
@schema.exclude(_excluded).parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None,
          phases=[Phase.explicit, Phase.generate],
          suppress_health_check=list(HealthCheck))
def test_api_fuzz(case, fuzz_token):
    case.call_and_validate(headers={"Authorization": f"Bearer {fuzz_token}"},
                           checks=[not_a_server_error, response_schema_conformance])
