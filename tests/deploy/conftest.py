"""Fixtures for the deployment and fault tests: real APKs (``tests/apk_fixtures.py``), the
process helpers of ``deploy_live``, and a real adb server with simulated phones
(``tests/provisioning/devsim_fixtures.py``); ``tests/dhis2`` on the path for the DHIS2 test
server (``dhis2_fixtures``), ``tests/apk`` for ``apk_live`` (nginx, ports, TLS helpers)."""

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
for _path in (str(_HERE.parent / "agreements"), str(_HERE.parent / "apk"),
              str(_HERE.parent / "provisioning"),
              str(_HERE.parent / "dhis2"), str(_HERE.parent), str(_HERE)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from apk_fixtures import apk_factory, signing_keys  # noqa: E402, F401
from devsim_fixtures import adb_server, devsim, make_adb_server  # noqa: E402, F401
