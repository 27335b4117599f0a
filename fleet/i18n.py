"""Locale and time zone selection for Flask-Babel. English ships first; fr, pt, es follow."""

from __future__ import annotations

from flask import current_app, has_request_context, request, session
from flask_login import current_user


def select_locale() -> str:
    """``?lang=xx`` (remembered in the session), else the user's saved locale, else the
    browser's Accept-Language among ``LANGUAGES``, else ``DEFAULT_LOCALE``."""
    languages = current_app.config["LANGUAGES"]
    if not has_request_context():  # CLI and scheduled jobs
        return current_app.config["DEFAULT_LOCALE"]
    asked = request.args.get("lang")
    if asked in languages:
        session["lang"] = asked
        return asked
    if session.get("lang") in languages:
        return session["lang"]
    if current_user and current_user.is_authenticated and current_user.locale in languages:
        return current_user.locale
    return request.accept_languages.best_match(languages) or current_app.config["DEFAULT_LOCALE"]


def select_timezone() -> str:
    return current_app.config["DEFAULT_TIMEZONE"]
