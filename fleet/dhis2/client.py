"""A small client for the DHIS2 Web API endpoints fleet uses.

Endpoints (DHIS2 developer docs, "Web API"; dhis2/dhis2-docs ``src/developer/web-api/``):

- ``GET /api/system/info`` (``overview.md``)
- ``GET /api/organisationUnits`` and ``GET /api/userGroups`` with ``fields``, ``page``,
  ``pageSize``; paged answers carry ``{"pager": {"page", "pageCount", "total", "pageSize",
  "nextPage"}, "<collection>": [...]}`` (``metadata.md``, "Paging")
- ``/api/dataStore/<namespace>[/<key>]``: GET, POST (create, 201; 409 when the key exists),
  PUT (update, 200; 404 when missing), DELETE (``data-store.md``)

Authentication: a personal access token sent as ``Authorization: ApiToken <token>`` (DHIS2
2.38+, docs "Personal Access Tokens") or HTTP basic auth.

Failures raise a subclass of :class:`Dhis2Error` with a plain English message (the caller
translates at the edge). Secrets are never logged and never part of an error message.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlsplit

import requests

log = logging.getLogger(__name__)

#: Upper bound for one back-off sleep, seconds.
MAX_BACKOFF_SECONDS = 8.0
#: Safety limit on the number of pages followed in one listing.
MAX_PAGES = 10_000

_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
# A gateway answering 502/503/504 has not handed the request to DHIS2 (or DHIS2 refused it
# before processing), so even a POST can be repeated; a 500 after a POST may have written.
_RETRY_ANY_METHOD = frozenset({502, 503, 504})


class Dhis2Error(Exception):
    """Base class of every error raised by :class:`Dhis2Client`.

    Attributes: ``status`` (HTTP status or None), ``url`` (without credentials),
    ``dhis2_message`` (the ``message`` of DHIS2's JSON error body, when there is one).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        url: str | None = None,
        dhis2_message: str | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.url = url
        self.dhis2_message = dhis2_message


class Dhis2AuthError(Dhis2Error):
    """401: the token or the username/password was refused."""


class Dhis2Forbidden(Dhis2Error):
    """403: authenticated, but the DHIS2 user lacks the authority (e.g. the
    ``ANDROID_SETTINGS_APP`` namespace needs ``F_METADATA_MANAGE``, DHIS2 docs data-store.md)."""


class Dhis2NotFound(Dhis2Error):
    """404: the resource (namespace, key, object) does not exist."""


class Dhis2Conflict(Dhis2Error):
    """409: e.g. POST of a dataStore key that already exists."""


class Dhis2ServerError(Dhis2Error):
    """5xx still failing after the retries."""


class Dhis2Timeout(Dhis2Error):
    """No answer within the read timeout (after retries where retrying is safe)."""


class Dhis2TLSError(Dhis2Error):
    """The TLS handshake or certificate verification failed."""


class Dhis2ConnectionError(Dhis2Error):
    """The server could not be reached (DNS, refused, reset) after the retries."""


class Dhis2BadResponse(Dhis2Error):
    """The answer was not the JSON DHIS2 gives (HTML login page, proxy page, redirect...)."""


class Dhis2HTTPError(Dhis2Error):
    """Any other 4xx answer."""


_STATUS_ERRORS: dict[int, type[Dhis2Error]] = {
    401: Dhis2AuthError,
    403: Dhis2Forbidden,
    404: Dhis2NotFound,
    409: Dhis2Conflict,
}


class Dhis2Client:
    """Talks to one DHIS2 server over HTTPS with a :class:`requests.Session`.

    Args:
        base_url: the DHIS2 root, e.g. ``https://dhis2.example.org`` or
            ``https://example.org/dhis`` (a trailing ``/api`` is accepted and dropped).
        token: a DHIS2 personal access token (``d2pat_...``), sent as
            ``Authorization: ApiToken <token>``.
        username, password: HTTP basic auth instead of a token.
        timeout: ``(connect, read)`` seconds, or one number for both.
        retries: how many times a failed request is repeated (so ``retries + 1`` attempts at
            most) on connection errors, on 502/503/504, on 500 for idempotent methods and on read
            timeouts for GET. Back-off: ``backoff * 2**attempt`` seconds, capped at
            :data:`MAX_BACKOFF_SECONDS`; a ``Retry-After`` in seconds is honoured within the cap.
        verify: ``True`` (default, system CA store), ``False`` (no verification; logged as a
            warning), or the path of a CA bundle (PEM) for a private CA.
        backoff: base back-off in seconds (default 0.5).

    Raises:
        ValueError: on a malformed URL, or if both or neither of token and username/password
            are given.
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        timeout: float | tuple[float, float] = (5, 30),
        retries: int = 3,
        verify: bool | str = True,
        backoff: float = 0.5,
    ):
        parts = urlsplit(base_url.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"DHIS2 URL must start with https:// (got {base_url!r})")
        if parts.username or parts.password:
            raise ValueError("Do not put credentials in the DHIS2 URL")
        root = base_url.strip().rstrip("/")
        if root.endswith("/api"):
            root = root[: -len("/api")]
        self.base_url = root
        if token and (username or password):
            raise ValueError("Give either a DHIS2 token or a username and password, not both")
        if not token and not (username and password):
            raise ValueError("A DHIS2 personal access token or a username and password is needed")
        if retries < 0:
            raise ValueError("retries must be 0 or more")
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.session = requests.Session()
        self.session.headers["Accept"] = "application/json"
        self.session.headers["User-Agent"] = "fleet-dhis2-connector"
        if token:
            self.session.headers["Authorization"] = f"ApiToken {token}"
        else:
            self.session.auth = (username, password)
        # Passed on every request: requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override
        # ``session.verify`` (psf/requests#3829), which would silently drop a given CA bundle.
        self.verify = verify
        self.session.verify = verify
        if verify is False:
            log.warning("TLS verification is OFF for DHIS2 server %s", self.base_url)

    def __repr__(self) -> str:  # never show the secret
        return f"Dhis2Client({self.base_url!r})"

    def close(self) -> None:
        """Close the underlying HTTP session."""
        self.session.close()

    def __enter__(self) -> Dhis2Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- transport

    def _url(self, path: str) -> str:
        return f"{self.base_url}/api/{path.lstrip('/')}"

    def _sleep_before_retry(self, attempt: int, response: requests.Response | None) -> None:
        delay = min(self.backoff * (2**attempt), MAX_BACKOFF_SECONDS)
        if response is not None:
            retry_after = response.headers.get("Retry-After", "")
            if retry_after.isdigit():
                delay = min(max(delay, float(retry_after)), MAX_BACKOFF_SECONDS)
        time.sleep(delay)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        expect_json: bool = True,
    ) -> Any:
        """Send one API request (``path`` relative to ``/api/``), with retries.

        Returns the decoded JSON body (``None`` for an empty body when ``expect_json`` is
        false). Raises the :class:`Dhis2Error` subclass matching the failure.
        """
        method = method.upper()
        url = self._url(path)
        attempt = 0
        while True:
            response = None
            try:
                response = self.session.request(
                    method,
                    url,
                    params=params,
                    json=json,
                    timeout=self.timeout,
                    verify=self.verify,
                    allow_redirects=False,
                )
            except requests.exceptions.SSLError as exc:
                raise Dhis2TLSError(
                    f"TLS verification failed for {self.base_url}: {_short(exc)}", url=url
                ) from exc
            except requests.exceptions.ConnectTimeout as exc:
                if attempt < self.retries:
                    log.info("DHIS2 %s %s: connect timeout, retry %d", method, url, attempt + 1)
                    self._sleep_before_retry(attempt, None)
                    attempt += 1
                    continue
                raise Dhis2ConnectionError(
                    f"Could not connect to {self.base_url} (connect timeout after "
                    f"{attempt + 1} attempts)",
                    url=url,
                ) from exc
            except requests.exceptions.ReadTimeout as exc:
                if method == "GET" and attempt < self.retries:
                    log.info("DHIS2 %s %s: read timeout, retry %d", method, url, attempt + 1)
                    self._sleep_before_retry(attempt, None)
                    attempt += 1
                    continue
                raise Dhis2Timeout(
                    f"DHIS2 at {self.base_url} did not answer {method} /api/{path.lstrip('/')} "
                    f"within {_read_timeout(self.timeout)} s",
                    url=url,
                ) from exc
            except requests.exceptions.ConnectionError as exc:
                if attempt < self.retries:
                    log.info("DHIS2 %s %s: connection error, retry %d", method, url, attempt + 1)
                    self._sleep_before_retry(attempt, None)
                    attempt += 1
                    continue
                raise Dhis2ConnectionError(
                    f"Could not connect to {self.base_url} after {attempt + 1} attempts: "
                    f"{_short(exc)}",
                    url=url,
                ) from exc
            except requests.exceptions.RequestException as exc:  # broken body, bad chunking...
                raise Dhis2ConnectionError(
                    f"The connection to {self.base_url} failed during {method} "
                    f"/api/{path.lstrip('/')}: {_short(exc)}",
                    url=url,
                ) from exc

            status = response.status_code
            if status >= 500:
                retryable = status in _RETRY_ANY_METHOD or method in _IDEMPOTENT
                if retryable and attempt < self.retries:
                    log.info("DHIS2 %s %s: HTTP %d, retry %d", method, url, status, attempt + 1)
                    self._sleep_before_retry(attempt, response)
                    attempt += 1
                    continue
                raise Dhis2ServerError(
                    f"DHIS2 at {self.base_url} answered HTTP {status} to {method} "
                    f"/api/{path.lstrip('/')} ({attempt + 1} attempts)",
                    status=status,
                    url=url,
                    dhis2_message=_dhis2_message(response),
                )
            return self._decode(method, path, url, response, expect_json)

    def _decode(
        self, method: str, path: str, url: str, response: requests.Response, expect_json: bool
    ) -> Any:
        status = response.status_code
        where = f"{method} /api/{path.lstrip('/')}"
        if 300 <= status < 400:
            raise Dhis2BadResponse(
                f"DHIS2 redirected {where} to {response.headers.get('Location', '?')}: check the "
                "server URL (and the credentials: DHIS2 redirects to its login page)",
                status=status,
                url=url,
            )
        if status >= 400:
            message = _dhis2_message(response)
            cls = _STATUS_ERRORS.get(status, Dhis2HTTPError)
            text = {
                401: f"DHIS2 refused the credentials for {self.base_url}",
                403: f"The DHIS2 user may not do {where}",
                404: f"Not found on DHIS2: {where}",
                409: f"Conflict on DHIS2: {where}",
            }.get(status, f"DHIS2 answered HTTP {status} to {where}")
            if message:
                text = f"{text} ({message})"
            raise cls(text, status=status, url=url, dhis2_message=message)
        if not response.content:
            if expect_json:
                raise Dhis2BadResponse(
                    f"DHIS2 sent an empty answer to {where}", status=status, url=url
                )
            return None
        content_type = response.headers.get("Content-Type", "")
        try:
            return response.json()
        except ValueError as exc:
            raise Dhis2BadResponse(
                f"DHIS2 answer to {where} is not JSON (Content-Type {content_type or 'none'}); "
                "is the URL the DHIS2 root?",
                status=status,
                url=url,
            ) from exc

    # ---------------------------------------------------------------- reading

    def system_info(self) -> dict:
        """``GET /api/system/info``: ``{"version": "2.40.4", "revision", "serverDate",
        "contextPath", "systemId", "systemName", ...}`` (fields vary by DHIS2 version)."""
        info = self.request("GET", "system/info")
        if not isinstance(info, dict) or "version" not in info:
            raise Dhis2BadResponse(
                f"{self.base_url}/api/system/info has no 'version': not a DHIS2 server?"
            )
        return info

    def _iter_collection(
        self,
        resource: str,
        collection: str,
        fields: str,
        page_size: int,
        extra: dict[str, Any] | None = None,
    ) -> Iterator[dict]:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        page = 1
        while True:
            params = {"fields": fields, "page": page, "pageSize": page_size, "paging": "true"}
            if extra:
                params.update(extra)
            body = self.request("GET", resource, params=params)
            if not isinstance(body, dict) or not isinstance(body.get(collection), list):
                raise Dhis2BadResponse(
                    f"DHIS2 answer for /api/{resource} has no '{collection}' list"
                )
            yield from body[collection]
            pager = body.get("pager") or {}
            page_count = pager.get("pageCount")
            has_next = bool(pager.get("nextPage")) or (
                isinstance(page_count, int) and page < page_count
            )
            if not has_next or not body[collection]:
                return
            page += 1
            if page > MAX_PAGES:
                raise Dhis2BadResponse(
                    f"/api/{resource} paging did not end after {MAX_PAGES} pages"
                )

    def iter_org_units(
        self, fields: str = "id,name,code,level,parent,path", page_size: int = 500
    ) -> Iterator[dict]:
        """Yield every org unit the DHIS2 user can see, following DHIS2 paging.

        Each item is DHIS2's JSON for the requested ``fields``: with the default,
        ``{"id": "ImspTQPwCqd", "name": "Sierra Leone", "code": "OU_525", "level": 1,
        "path": "/ImspTQPwCqd", "parent": {"id": ...}}`` (``parent`` and ``code`` absent when
        unset). Ordered by level, so parents come before children on a consistent server.
        """
        yield from self._iter_collection(
            "organisationUnits",
            "organisationUnits",
            fields,
            page_size,
            # a total order keeps pages stable; comma-separated orders: DHIS2 docs metadata.md
            {"order": "level:asc,id:asc"},
        )

    def iter_user_groups(
        self, fields: str = "id,name,code", page_size: int = 500
    ) -> Iterator[dict]:
        """Yield every user group: ``{"id": 11-char UID, "name", "code"?}``, paged."""
        yield from self._iter_collection("userGroups", "userGroups", fields, page_size)

    # ---------------------------------------------------------------- dataStore

    @staticmethod
    def _ds_path(namespace: str, key: str | None = None) -> str:
        if not namespace or (key is not None and not key):
            raise ValueError("dataStore namespace and key must not be empty")
        path = f"dataStore/{quote(namespace, safe='')}"
        if key is not None:
            path += f"/{quote(key, safe='')}"
        return path

    def datastore_keys(self, namespace: str) -> list[str]:
        """``GET /api/dataStore/<ns>``: the namespace's keys; ``[]`` when DHIS2 answers 404
        (namespace does not exist)."""
        try:
            keys = self.request("GET", self._ds_path(namespace))
        except Dhis2NotFound:
            return []
        if not isinstance(keys, list):
            raise Dhis2BadResponse(f"dataStore/{namespace} did not answer a list of keys")
        return keys

    def datastore_get(self, namespace: str, key: str) -> Any:
        """``GET /api/dataStore/<ns>/<key>``: the stored JSON value, or ``None`` on 404."""
        try:
            return self.request("GET", self._ds_path(namespace, key))
        except Dhis2NotFound:
            return None

    def datastore_create(self, namespace: str, key: str, value: Any) -> None:
        """``POST /api/dataStore/<ns>/<key>`` (201). Raises :class:`Dhis2Conflict` if the key
        exists."""
        self.request("POST", self._ds_path(namespace, key), json=value, expect_json=False)

    def datastore_update(self, namespace: str, key: str, value: Any) -> None:
        """``PUT /api/dataStore/<ns>/<key>`` (200). Raises :class:`Dhis2NotFound` if the key
        does not exist."""
        self.request("PUT", self._ds_path(namespace, key), json=value, expect_json=False)

    def datastore_put(self, namespace: str, key: str, value: Any) -> str:
        """Create or update a key; returns ``"created"`` or ``"updated"``.

        Tries PUT, falls back to POST on 404, and back to PUT if the POST meets 409 (another
        writer created the key in between).
        """
        try:
            self.datastore_update(namespace, key, value)
            return "updated"
        except Dhis2NotFound:
            pass
        try:
            self.datastore_create(namespace, key, value)
            return "created"
        except Dhis2Conflict:
            self.datastore_update(namespace, key, value)
            return "updated"

    def datastore_delete(self, namespace: str, key: str) -> None:
        """``DELETE /api/dataStore/<ns>/<key>``. Raises :class:`Dhis2NotFound` if missing."""
        self.request("DELETE", self._ds_path(namespace, key), expect_json=False)

    def datastore_restore(self, namespace: str, previous: dict[str, Any]) -> None:
        """Best effort: put back values a failed multi-key write already overwrote
        (``previous`` maps key -> old value, ``None`` meaning the key did not exist and is
        deleted). Failures are logged; the caller re-raises its original error."""
        for key, value in previous.items():
            try:
                if value is None:
                    self.datastore_delete(namespace, key)
                else:
                    self.datastore_update(namespace, key, value)
                log.warning("dataStore %s/%s restored after a failed write", namespace, key)
            except Dhis2Error:
                log.exception("could not restore dataStore %s/%s", namespace, key)


def _dhis2_message(response: requests.Response) -> str | None:
    """The ``message`` of DHIS2's WebMessage error body
    (``{"httpStatus", "httpStatusCode", "status": "ERROR", "message"}``), if any."""
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return body["message"][:300]
    return None


def _short(exc: Exception) -> str:
    text = str(exc)
    return text if len(text) <= 200 else text[:197] + "..."


def _read_timeout(timeout: float | tuple[float, float]) -> float:
    return timeout[1] if isinstance(timeout, tuple) else timeout
