"""pytest plugin: session-scoped fixtures that build real signed APKs (see ``apkfactory``).

Use from any test folder, either by listing it in the top-level ``tests/conftest.py``::

    pytest_plugins = ["apk_fixtures"]

or, in a folder's own ``conftest.py`` (pytest refuses ``pytest_plugins`` in non-top-level
conftest files), by importing the fixtures::

    from apk_fixtures import apk_factory, signing_keys  # noqa: F401

``tests/`` must be importable (it is when ``tests/conftest.py`` exists, as pytest's default
``prepend`` import mode puts its folder on ``sys.path``; ``tests/apk/conftest.py`` also adds it).

Fixtures:
    apk_factory   -- an :class:`apkfactory.ApkFactory` building into a session tmp dir, memoised
                     by parameters, so each distinct APK is built once per session (per xdist
                     worker).
    signing_keys  -- ``{"release", "other", "debug"}`` -> :class:`apkfactory.SigningKey`: two
                     distinct release keys and the Android debug-style certificate
                     (``CN=Android Debug,O=Android,C=US``).
"""

from __future__ import annotations

import pytest
from apkfactory import ApkFactory, SigningKey


@pytest.fixture(scope="session")
def apk_factory(tmp_path_factory) -> ApkFactory:
    return ApkFactory(tmp_path_factory.mktemp("apks"))


@pytest.fixture(scope="session")
def signing_keys(apk_factory) -> dict[str, SigningKey]:
    return {
        "release": apk_factory.key("release"),
        "other": apk_factory.key("other"),
        "debug": apk_factory.key("debug"),
    }
