"""Make the DHIS2 test-server fixtures available to the tests in this folder.

The fixtures live in the plugin module ``dhis2_fixtures`` (so the lead can also register it
from the root conftest with ``pytest_plugins``).
"""

from dhis2_fixtures import dhis2_client, dhis2_server, dhis2_tls_server  # noqa: F401
