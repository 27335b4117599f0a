"""Make the DHIS2 test-server fixtures available to the tests in this folder, and add the
fleet-side ones (a configured ``Dhis2Server`` row pointing at the test server).

The test-server fixtures live in the plugin module ``dhis2_fixtures`` (so the lead can also
register it from the root conftest with ``pytest_plugins``).
"""

import pytest
from dhis2_fixtures import dhis2_client, dhis2_server, dhis2_tls_server  # noqa: F401


@pytest.fixture
def fast_dhis2(app, monkeypatch):
    """Short back-off and two retries for every DHIS2 client fleet builds in a test, and a
    public URL for APK download links."""
    monkeypatch.setitem(app.config, "DHIS2_BACKOFF_SECONDS", 0.01)
    monkeypatch.setitem(app.config, "DHIS2_RETRIES", 2)
    monkeypatch.setitem(app.config, "PUBLIC_URL", "https://fleet.test.example")


@pytest.fixture
def server_row(db, dhis2_server, fast_dhis2):  # noqa: F811
    """A ``Dhis2Server`` row (name ``production``, default) pointing at ``dhis2_server``
    with token auth and a 2 s read timeout."""
    from fleet.dhis2.operations import create_server

    row = create_server({"name": "production", "base_url": dhis2_server.url,
                         "auth_kind": "token", "token": dhis2_server.token,
                         "timeout_seconds": 2}, actor=None)
    db.session.commit()
    return row
