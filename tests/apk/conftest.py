"""Fixtures for the APK repository tests: the real-APK factory from ``tests/apk_fixtures.py``."""

import sys
from pathlib import Path

_TESTS = str(Path(__file__).resolve().parents[1])
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)

from apk_fixtures import apk_factory, signing_keys  # noqa: E402, F401
