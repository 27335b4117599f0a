"""marshmallow fields for the field's identifiers, checked with maintained libraries:
IMEI and ICCID with ``python-stdnum`` (Luhn), MSISDN with ``phonenumbers`` (E.164)."""

from __future__ import annotations

import re

import marshmallow as ma
import phonenumbers
from flask import current_app, has_app_context
from flask_babel import lazy_gettext as _l
from stdnum import luhn
from stdnum.exceptions import ValidationError as StdnumError

_DIGITS_SEP = re.compile(r"[\s\-./]")


def normalize_imei(value: str) -> str:
    """Return the 15-digit IMEI or raise ``ValueError``.

    An IMEI is 14 digits plus a Luhn check digit (3GPP TS 23.003 §6.2.1); 16-digit IMEISV has no
    check digit and is not accepted as a device identifier here.
    """
    digits = _DIGITS_SEP.sub("", str(value))
    if not digits.isdigit():
        raise ValueError(_l("IMEI must contain only digits."))
    if len(digits) != 15:
        raise ValueError(_l("IMEI must have 15 digits (it has %(n)d).", n=len(digits)))
    # python-stdnum's Luhn (stdnum.imei.validate adds only the length checks done above, at
    # three times the cost, which shows on 10,000-row imports).
    try:
        luhn.validate(digits)
    except StdnumError as exc:
        raise ValueError(_l("IMEI check digit is wrong (Luhn).")) from exc
    return digits


def normalize_iccid(value: str) -> str:
    """Return the ICCID (19-20 digits, starting 89 for telecom, Luhn-checked; ITU-T E.118) or
    raise ``ValueError``."""
    digits = _DIGITS_SEP.sub("", str(value))
    if not digits.isdigit():
        raise ValueError(_l("ICCID must contain only digits."))
    if not 19 <= len(digits) <= 20:
        raise ValueError(_l("ICCID must have 19 or 20 digits (it has %(n)d).", n=len(digits)))
    if not digits.startswith("89"):
        raise ValueError(_l("ICCID must start with 89 (telecommunications)."))
    try:
        luhn.validate(digits)
    except StdnumError as exc:
        raise ValueError(_l("ICCID check digit is wrong (Luhn).")) from exc
    return digits


def normalize_msisdn(value: str, region: str | None = None) -> str:
    """Return the MSISDN in E.164 (``+22177...``) or raise ``ValueError``. Numbers without
    ``+`` are read in ``region`` (config DEFAULT_REGION)."""
    if region is None and has_app_context():
        region = current_app.config.get("DEFAULT_REGION") or None
    raw = str(value).strip()
    if raw.startswith("00"):
        raw = "+" + raw[2:]
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(
            _l("MSISDN is not a phone number; write it as +<country code><number>.")
        ) from exc
    if not phonenumbers.is_valid_number(number):
        raise ValueError(_l("MSISDN %(v)s is not a valid number.", v=raw))
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


class _Normalized(ma.fields.String):
    normalizer = staticmethod(lambda v: v)

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if text is None or text.strip() == "":
            return None
        try:
            return self.normalizer(text)
        except ValueError as exc:
            raise ma.ValidationError(str(exc)) from exc


class IMEI(_Normalized):
    normalizer = staticmethod(normalize_imei)


class ICCID(_Normalized):
    normalizer = staticmethod(normalize_iccid)


class MSISDN(_Normalized):
    normalizer = staticmethod(normalize_msisdn)


class Text(ma.fields.String):
    """String that is stripped; blank becomes None."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        text = text.strip() if text is not None else None
        return text or None


class WholeNumber(ma.fields.Integer):
    """An integer that refuses fractions (``1.5``) instead of truncating them, while still
    taking the numeric strings forms and spreadsheets send (``"2048"``, ``"2048.0"``)."""

    def _validated(self, value):
        if isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        if isinstance(value, float) and not value.is_integer():
            raise ma.ValidationError(str(_l("Must be a whole number.")))
        if isinstance(value, str):
            try:
                number = float(value.strip())
            except ValueError:
                raise self.make_error("invalid", input=value) from None
            if not number.is_integer():
                raise ma.ValidationError(str(_l("Must be a whole number.")))
            value = int(number)
        return super()._validated(value)
