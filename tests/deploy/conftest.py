"""Fixtures for the deployment and fault tests: real APKs (``tests/apk_fixtures.py``) and the
process helpers of ``deploy_live``."""

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
for _path in (str(_HERE.parent), str(_HERE)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from apk_fixtures import apk_factory, signing_keys  # noqa: E402, F401
