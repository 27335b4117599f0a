"""Provisioning test fixtures: real adb servers and simulated phones (``devsim_fixtures``),
and the real-APK factory (``apk_fixtures``)."""

import sys
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)
_TESTS = str(Path(__file__).resolve().parents[1])
for _path in (_HERE, _TESTS):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from apk_fixtures import apk_factory, signing_keys  # noqa: E402, F401
from devsim_fixtures import adb_binary, adb_server, devsim, make_adb_server  # noqa: E402, F401
from provisioning_fixtures import (  # noqa: E402, F401
    local_station,
    make_profile,
    make_release,
    prov,
)
from sshd_fixtures import sshd  # noqa: E402, F401
