"""Helpers shared by the tests (importable as ``fleet_testing``; ``conftest`` is not a unique
module name once several test folders have one)."""

from __future__ import annotations

from fleet import create_app

PASSWORD = "test-password-123"

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def make_test_app(data_dir, database_url: str, **overrides):
    """A fleet app for tests (CSRF and rate limits off unless overridden)."""
    config = {
        "TESTING": True,
        "DATA_DIR": str(data_dir),
        "DATABASE_URL": database_url,
        "SECRET_KEY": "test-secret",
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": False,
        "SESSION_COOKIE_SECURE": False,
        "REMEMBER_COOKIE_SECURE": False,
        "SERVER_NAME": None,
    }
    config.update(overrides)
    return create_app(config)


def luhn_complete(body: str) -> str:
    """Append the Luhn check digit to ``body`` (digits)."""
    from stdnum import luhn

    return body + luhn.calc_check_digit(body)


def make_imei(n: int) -> str:
    """A valid 15-digit IMEI, different for each ``n``."""
    return luhn_complete(f"35{n:012d}")


def make_iccid(n: int) -> str:
    """A valid 20-digit ICCID (89 prefix, Luhn), different for each ``n``."""
    return luhn_complete(f"8922101{n:011d}")


def logged_in_page(context, *, username: str = "admin", password: str = PASSWORD,
                   base: str = ""):
    """A new page of the Playwright browser ``context``, logged in to fleet as ``username``
    (``base``: the server's URL, for a context made without ``base_url``). The page's
    ``csp_violations`` list collects the console's Content-Security-Policy errors: fleet's pages
    carry no inline script or style, so a test of pages ends by checking it is empty."""
    page = context.new_page()
    page.csp_violations = []
    page.on("console", lambda msg: page.csp_violations.append(msg.text)
            if "Content Security Policy" in msg.text else None)
    page.goto(f"{base}/auth/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("main button[type=submit]")
    page.wait_for_url("**/dashboard")
    return page
