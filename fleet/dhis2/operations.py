"""DHIS2 connector operations on fleet's side: configured servers, settings profiles, the
client for a server, and the translation of DHIS2 client errors into :class:`FleetError`.

The imports (org units, user groups) live in :mod:`fleet.dhis2.importing`, the publishing
(Android settings, APK distribution) in :mod:`fleet.dhis2.publishing`. Like every operation in
fleet these take ``actor``, flush, audit and never commit.

Errors raised: :class:`Dhis2Failure` (502; :class:`Dhis2TimeoutFailure` 504) when DHIS2 refused
or failed, :class:`fleet.errors.InvalidInput` (422), :class:`fleet.errors.Conflict` (409),
:class:`fleet.errors.NotFound` (404).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from urllib.parse import urlsplit

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from fleet.audit.operations import record, snapshot
from fleet.dhis2.android_settings import (
    SettingsLayoutError,
    SettingsProfile,
    SettingsValidationError,
    validate_profile,
)
from fleet.dhis2.apk_distribution import ApkDistributionConflict, ApkDistributionError
from fleet.dhis2.client import (
    Dhis2AuthError,
    Dhis2BadResponse,
    Dhis2Client,
    Dhis2Conflict,
    Dhis2ConnectionError,
    Dhis2Error,
    Dhis2Forbidden,
    Dhis2NotFound,
    Dhis2ServerError,
    Dhis2Timeout,
    Dhis2TLSError,
)
from fleet.dhis2.models import AUTH_KINDS, PROFILE_FIELDS, Dhis2Server, SettingsProfileRow
from fleet.dhis2.orgunits import OrgUnitDataError
from fleet.errors import Conflict, FleetError, InvalidInput, NotFound
from fleet.extensions import db

log = logging.getLogger(__name__)

#: Defaults for ``FLEET_DHIS2_RETRIES`` and ``FLEET_DHIS2_BACKOFF_SECONDS`` (see
#: :class:`fleet.dhis2.client.Dhis2Client`: retries on 5xx/connection errors, back-off
#: ``backoff * 2**attempt`` s capped at 8 s).
DEFAULT_RETRIES = 3
DEFAULT_BACKOFF_SECONDS = 0.5
#: Connect timeout, seconds (the per-server ``timeout_seconds`` is the read timeout).
CONNECT_TIMEOUT_SECONDS = 5
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
SECRET_FIELDS = ("token", "password")


class Dhis2Failure(FleetError):
    """DHIS2 refused or failed a request, or sent data fleet cannot use. HTTP 502."""

    status = 502
    code = "dhis2_error"


class Dhis2TimeoutFailure(Dhis2Failure):
    """DHIS2 did not answer in time. HTTP 504."""

    status = 504
    code = "dhis2_timeout"


def _detail(exc: Exception) -> str:
    return str(exc)


@contextlib.contextmanager
def dhis2_errors(server: Dhis2Server) -> Iterator[None]:
    """Turn every error of the DHIS2 library into a :class:`FleetError` with a message that
    names the server and says what to do. Secrets are never part of a message (the client
    never puts them in its errors)."""
    name = server.name
    try:
        yield
    except Dhis2AuthError as exc:
        raise Dhis2Failure(_l(
            "DHIS2 server “%(s)s” refused fleet's credentials (HTTP 401): check the personal "
            "access token, or the username and password, in the server settings.", s=name)) from exc
    except Dhis2Forbidden as exc:
        raise Dhis2Failure(_l(
            "DHIS2 server “%(s)s”: the DHIS2 user is not allowed to do this (HTTP 403: %(d)s). "
            "Writing ANDROID_SETTINGS_APP or APK_DISTRIBUTION needs the F_METADATA_MANAGE "
            "authority or sharing on the namespace. Nothing was changed.",
            s=name, d=_detail(exc))) from exc
    except Dhis2NotFound as exc:
        raise Dhis2Failure(_l(
            "DHIS2 server “%(s)s” answered 404 (%(d)s): check the server's base URL. Nothing "
            "was changed.", s=name, d=_detail(exc))) from exc
    except Dhis2Conflict as exc:
        raise Dhis2Failure(_l(
            "DHIS2 server “%(s)s” reported a conflict (HTTP 409: %(d)s): someone else changed "
            "the same data. Nothing was changed; try again.", s=name, d=_detail(exc))) from exc
    except Dhis2ServerError as exc:
        raise Dhis2Failure(_l(
            "DHIS2 server “%(s)s” failed with HTTP %(c)s even after retrying (%(d)s). Nothing "
            "was changed; try again later.", s=name, c=exc.status, d=_detail(exc))) from exc
    except Dhis2Timeout as exc:
        raise Dhis2TimeoutFailure(_l(
            "DHIS2 server “%(s)s” did not answer in time (%(d)s). fleet changed nothing; try "
            "again later or raise the server's timeout.", s=name, d=_detail(exc))) from exc
    except Dhis2TLSError as exc:
        raise Dhis2Failure(_l(
            "The TLS certificate of DHIS2 server “%(s)s” could not be verified (%(d)s). If the "
            "server uses a private certificate authority, give its CA bundle (PEM) in the "
            "server settings. Nothing was changed.", s=name, d=_detail(exc))) from exc
    except Dhis2ConnectionError as exc:
        raise Dhis2Failure(_l(
            "Could not reach DHIS2 server “%(s)s” (%(d)s). Nothing was changed.",
            s=name, d=_detail(exc))) from exc
    except Dhis2BadResponse as exc:
        raise Dhis2Failure(_l(
            "DHIS2 server “%(s)s” sent an answer fleet does not understand (%(d)s). Nothing "
            "was changed.", s=name, d=_detail(exc))) from exc
    except Dhis2Error as exc:
        raise Dhis2Failure(_l("DHIS2 server “%(s)s”: %(d)s. Nothing was changed.",
                              s=name, d=_detail(exc))) from exc
    except OrgUnitDataError as exc:
        raise Dhis2Failure(_l("DHIS2 server “%(s)s” sent org units fleet cannot import: %(d)s. "
                              "Nothing was imported.", s=name, d=_detail(exc))) from exc
    except SettingsValidationError as exc:
        raise InvalidInput(_l("The settings profile is not valid: %(d)s", d=_detail(exc)),
                           fields=dict(exc.errors)) from exc
    except SettingsLayoutError as exc:
        raise Conflict(_l("DHIS2 server “%(s)s”: %(d)s Nothing was changed.",
                          s=name, d=_detail(exc))) from exc
    except ApkDistributionConflict as exc:
        raise Conflict(_l("DHIS2 server “%(s)s”: %(d)s", s=name, d=_detail(exc))) from exc
    except ApkDistributionError as exc:
        raise InvalidInput(_l("Cannot publish to APK_DISTRIBUTION on “%(s)s”: %(d)s",
                              s=name, d=_detail(exc))) from exc


def client_for(server: Dhis2Server) -> Dhis2Client:
    """A :class:`Dhis2Client` for a configured server: its credentials (decrypted), TLS
    settings, read timeout, and the app's ``DHIS2_RETRIES`` / ``DHIS2_BACKOFF_SECONDS``.

    Raises:
        InvalidInput: the server's stored configuration is incomplete.
    """
    cfg = current_app.config
    if not server.verify_tls:
        verify: bool | str = False
    else:
        verify = server.ca_bundle or True
    kwargs: dict = {}
    if server.auth_kind == "token":
        kwargs["token"] = server.token
    else:
        kwargs["username"], kwargs["password"] = server.username, server.password
    read = int(server.timeout_seconds or 30)
    try:
        return Dhis2Client(
            server.base_url,
            timeout=(min(CONNECT_TIMEOUT_SECONDS, read), read),
            retries=int(cfg.get("DHIS2_RETRIES", DEFAULT_RETRIES)),
            backoff=float(cfg.get("DHIS2_BACKOFF_SECONDS", DEFAULT_BACKOFF_SECONDS)),
            verify=verify,
            **kwargs,
        )
    except ValueError as exc:
        raise InvalidInput(_l("DHIS2 server “%(s)s” is not configured completely: %(d)s",
                              s=server.name, d=str(exc))) from exc


# ---- servers -------------------------------------------------------------------------------

def server_snapshot(server: Dhis2Server) -> dict:
    """Audit snapshot of a server with its secrets masked (``"***"`` when set)."""
    data = snapshot(server)
    for name in SECRET_FIELDS:
        data[name] = "***" if getattr(server, name) else None
    return data


def list_servers() -> list[Dhis2Server]:
    """Every configured server, the default first, then by name."""
    return list(db.session.scalars(
        select(Dhis2Server).order_by(Dhis2Server.is_default.desc(), Dhis2Server.name)))


def find_server(name: str | int | None = None) -> Dhis2Server:
    """The server called ``name`` (or with that id), or the default server when ``name`` is
    empty.

    Raises:
        NotFound: no such server, or no default server configured.
    """
    if name in (None, ""):
        server = db.session.scalar(select(Dhis2Server).where(Dhis2Server.is_default.is_(True)))
        if server is None:
            raise NotFound(_l("No default DHIS2 server is configured; add one with "
                              "“fleet dhis2 servers add” or on the DHIS2 page."))
        return server
    if isinstance(name, int) or str(name).isdigit():
        server = db.session.get(Dhis2Server, int(name))
    else:
        server = db.session.scalar(select(Dhis2Server).where(Dhis2Server.name == str(name)))
    if server is None:
        raise NotFound(_l("No DHIS2 server called %(n)s.", n=name))
    return server


def _check_url(url: str) -> str:
    url = (url or "").strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(_l("The DHIS2 URL must look like https://dhis2.example.org."),
                           fields={"base_url": _l("Not an http(s) URL.")})
    if parts.username or parts.password:
        raise InvalidInput(_l("Do not put credentials in the DHIS2 URL."),
                           fields={"base_url": _l("Remove the user name and password.")})
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        raise InvalidInput(
            _l("The DHIS2 URL must use https:// (plain http is only allowed on this machine): "
               "the token or password would travel in clear text."),
            fields={"base_url": _l("Use https://.")})
    return url


def _apply_server(server: Dhis2Server, data: dict) -> None:
    if "name" in data and data["name"] is not None:
        server.name = data["name"].strip()
    if "base_url" in data and data["base_url"] is not None:
        server.base_url = _check_url(data["base_url"])
    if data.get("auth_kind"):
        if data["auth_kind"] not in AUTH_KINDS:
            raise InvalidInput(_l("Unknown authentication kind."),
                               fields={"auth_kind": _l("Use token or basic.")})
        server.auth_kind = data["auth_kind"]
    # A blank secret keeps the stored one: forms never show secrets back.
    if data.get("token"):
        server.token = data["token"].strip()
    if data.get("password"):
        server.password = data["password"]
    if "username" in data and data["username"] is not None:
        server.username = data["username"].strip() or None
    if server.auth_kind == "token":
        server.password = None
        server.username = None
        if not server.token:
            raise InvalidInput(_l("A DHIS2 personal access token is needed."),
                               fields={"token": _l("Required for token authentication.")})
    else:
        server.token = None
        if not (server.username and server.password):
            raise InvalidInput(_l("A DHIS2 username and password are needed."),
                               fields={"password": _l("Required for basic authentication.")})
    if "ca_bundle" in data:
        bundle = (data["ca_bundle"] or "").strip() or None
        if bundle and not (os.path.isfile(bundle) and os.access(bundle, os.R_OK)):
            raise InvalidInput(_l("CA bundle %(p)s is not a readable file.", p=bundle),
                               fields={"ca_bundle": _l("Not a readable file.")})
        server.ca_bundle = bundle
    if data.get("verify_tls") is not None:
        server.verify_tls = bool(data["verify_tls"])
    if data.get("timeout_seconds") is not None:
        server.timeout_seconds = int(data["timeout_seconds"])
    clash = db.session.scalar(select(Dhis2Server.id).where(
        Dhis2Server.name == server.name, Dhis2Server.id != (server.id or 0)))
    if clash:
        raise Conflict(_l("A DHIS2 server called %(n)s exists already.", n=server.name),
                       fields={"name": _l("Taken.")})


def _make_default(server: Dhis2Server) -> None:
    db.session.execute(update(Dhis2Server).where(Dhis2Server.id != server.id)
                       .values(is_default=False).execution_options(synchronize_session="fetch"))
    server.is_default = True


def create_server(data: dict, *, actor) -> Dhis2Server:
    """Add a DHIS2 server from ``Dhis2ServerCreateArgs`` output (``name``, ``base_url``,
    ``auth_kind``, ``token`` or ``username``/``password``, ``ca_bundle``, ``verify_tls``,
    ``timeout_seconds``, ``is_default``). The first server becomes the default.

    Raises: InvalidInput (bad URL, missing secret, unreadable CA bundle), Conflict (name).
    """
    server = Dhis2Server(auth_kind="token", verify_tls=True, timeout_seconds=30, is_default=False)
    _apply_server(server, data)
    db.session.add(server)
    db.session.flush()
    first = db.session.scalar(select(Dhis2Server.id).where(Dhis2Server.id != server.id)) is None
    if data.get("is_default") or first:
        _make_default(server)
        db.session.flush()
    record(actor, "dhis2_server.create", server, after=server_snapshot(server))
    return server


def update_server(server: Dhis2Server, data: dict, *, actor) -> Dhis2Server:
    """Change a server (``Dhis2ServerUpdateArgs`` output; blank secrets keep the stored ones).

    Raises: InvalidInput, Conflict as :func:`create_server`.
    """
    before = server_snapshot(server)
    old_secrets = {name: getattr(server, name) for name in SECRET_FIELDS}
    _apply_server(server, data)
    if data.get("is_default"):
        _make_default(server)
    db.session.flush()
    after = server_snapshot(server)
    for name in SECRET_FIELDS:  # show that a secret changed, never its value
        if getattr(server, name) and getattr(server, name) != old_secrets[name]:
            after[name] = "*** (changed)"
    record(actor, "dhis2_server.update", server, before=before, after=after)
    return server


def check_server(server: Dhis2Server) -> dict:
    """Ask the server for ``/api/system/info``: ``{"version", "systemName", ...}``. Reads
    only. Raises :class:`Dhis2Failure` with the reason when DHIS2 cannot be used."""
    with dhis2_errors(server), client_for(server) as client:
        info = client.system_info()
    return {k: info.get(k) for k in ("version", "revision", "systemName", "serverDate")}


# ---- settings profiles ---------------------------------------------------------------------

def profile_of(row: SettingsProfileRow) -> SettingsProfile:
    """The library's :class:`SettingsProfile` for a stored profile."""
    return SettingsProfile(**row.values())


def _validated_values(data: dict) -> dict:
    values = {name: data.get(name) for name in PROFILE_FIELDS if name in data}
    try:
        validate_profile(values)
    except SettingsValidationError as exc:
        raise InvalidInput(_l("The settings profile is not valid: %(d)s", d=str(exc)),
                           fields=dict(exc.errors)) from exc
    return values


def list_profiles() -> list[SettingsProfileRow]:
    """Every settings profile, by name."""
    return list(db.session.scalars(select(SettingsProfileRow).order_by(SettingsProfileRow.name)))


def find_profile(ref: str | int) -> SettingsProfileRow:
    """A settings profile by id or name. Raises NotFound."""
    if isinstance(ref, int) or str(ref).isdigit():
        row = db.session.get(SettingsProfileRow, int(ref))
    else:
        row = db.session.scalar(select(SettingsProfileRow).where(SettingsProfileRow.name == ref))
    if row is None:
        raise NotFound(_l("No settings profile %(n)s.", n=ref))
    return row


def _check_profile_name(name: str | None, row_id: int | None) -> str:
    name = (name or "").strip()
    if not name:
        raise InvalidInput(_l("A profile needs a name."), fields={"name": _l("Required.")})
    clash = db.session.scalar(select(SettingsProfileRow.id).where(
        SettingsProfileRow.name == name, SettingsProfileRow.id != (row_id or 0)))
    if clash:
        raise Conflict(_l("A settings profile called %(n)s exists already.", n=name),
                       fields={"name": _l("Taken.")})
    return name


def create_settings_profile(data: dict, *, actor) -> SettingsProfileRow:
    """Create a profile (version 1) from ``SettingsProfileArgs`` output.

    Raises: InvalidInput (a value the Android SDK does not accept, with ``fields``), Conflict.
    """
    values = _validated_values(data)
    row = SettingsProfileRow(name=_check_profile_name(data.get("name"), None),
                             description=data.get("description") or "", version=1, **values)
    db.session.add(row)
    db.session.flush()
    record(actor, "dhis2_settings_profile.create", row, after=snapshot(row))
    return row


def update_settings_profile(row: SettingsProfileRow, data: dict, *, actor) -> SettingsProfileRow:
    """Change a profile; its ``version`` goes up by one when a setting or the name changes.

    Raises: InvalidInput, Conflict as :func:`create_settings_profile`.
    """
    before = snapshot(row)
    values = _validated_values({**row.values(), **{k: v for k, v in data.items()
                                                   if k in PROFILE_FIELDS}})
    name = _check_profile_name(data.get("name", row.name), row.id)
    changed = name != row.name or any(getattr(row, k) != v for k, v in values.items())
    row.name = name
    for key, value in values.items():
        setattr(row, key, value)
    if data.get("description") is not None:
        row.description = data["description"]
    if changed:
        row.version += 1
    db.session.flush()
    record(actor, "dhis2_settings_profile.update", row, before=before, after=snapshot(row))
    return row
