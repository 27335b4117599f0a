"""QR payloads for asset labels: build from a per-deployment template, check the size, parse.

Text form (``FLEET1``), documented in ``docs/labels.md``::

    FLEET1;T=PH-000123;H=Amina Diallo;S=+221771234567;D=Dakar

- The first element is the format marker ``FLEET1`` (format version 1).
- Then ``CODE=value`` elements separated by ``;``. ``CODE`` is one upper-case letter from
  :data:`FIELD_CODES`. The asset tag (``T``) is always present and always comes first.
- In values, ``\\`` is written ``\\\\`` and ``;`` is written ``\\;``. ``=`` needs no escape
  (only the first ``=`` of an element separates code and value). Runs of whitespace,
  including newlines and tabs, are collapsed to one space, and values are NFC-normalised.
- The payload is encoded as UTF-8 in QR byte mode, preceded by an ECI 26 (UTF-8) header
  when it holds any non-ASCII character.

By default the fields are the ones the DHIS2 Android implementation guide lists for the
phone's QR label (Rollout: "number, CHW, SIM number, district"): the asset tag, the holder,
the SIM's MSISDN and the district. Privacy mode encodes only the asset tag and the device's
page URL.

Size rule (issue 3): a payload must fit QR version 10 or less at error correction level M
(213 bytes in byte mode, 212 when the UTF-8 ECI header is needed) so it scans from a small
sticker. :func:`build_payload` refuses a larger payload with :class:`PayloadTooLarge`, or,
with ``shorten=True``, truncates free-text fields (holder, district, facility, model) with an
ellipsis; the asset tag is never shortened.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import qrcode
import qrcode.base
from qrcode import constants as qr_constants
from qrcode import util as qr_util

__all__ = [
    "DEFAULT_FIELDS",
    "ELLIPSIS",
    "FIELD_CODES",
    "FORMAT_MARKER",
    "MAX_QR_VERSION",
    "DeviceLabelInfo",
    "PayloadError",
    "PayloadTemplate",
    "PayloadTooLarge",
    "UnknownTemplateField",
    "build_payload",
    "encode_fields",
    "make_qr",
    "parse_payload",
    "qr_version",
]

FORMAT_MARKER = "FLEET1"
#: Largest QR version allowed on a label (issue 3: "QR version 10 or less at error correction M").
MAX_QR_VERSION = 10
ELLIPSIS = "\u2026"

#: Template field name -> one-letter code in the payload. The order here is the order in
#: which fields appear in a payload (asset tag first).
FIELD_CODES: dict[str, str] = {
    "asset_tag": "T",
    "holder": "H",
    "msisdn": "S",
    "iccid": "C",
    "district": "D",
    "facility": "F",
    "box_number": "B",
    "agreement_number": "N",
    "imei": "I",
    "serial": "R",
    "model": "M",
    "url": "U",
}
CODE_FIELDS: dict[str, str] = {code: name for name, code in FIELD_CODES.items()}

#: Free-text fields that ``shorten=True`` may truncate, longest first.
TRUNCATABLE_FIELDS = frozenset({"holder", "district", "facility", "model"})

#: Default template: DHIS2 Android implementation guide, Rollout ("The QR label carries the
#: phone's information: number, CHW, SIM number, district").
DEFAULT_FIELDS: tuple[str, ...] = ("asset_tag", "holder", "msisdn", "district")

_MIN_KEPT_CHARS = 1
_WS_RE = re.compile(r"\s+")


class PayloadError(ValueError):
    """A payload or payload template is invalid (message is plain English)."""


class UnknownTemplateField(PayloadError):
    """A template names a field that is not in :data:`FIELD_CODES`."""

    def __init__(self, names: Iterable[str]):
        self.names = tuple(names)
        known = ", ".join(FIELD_CODES)
        super().__init__(
            f"Unknown label template field(s): {', '.join(self.names)}. Known fields: {known}."
        )


class PayloadTooLarge(PayloadError):
    """The payload does not fit QR version :data:`MAX_QR_VERSION` at error correction M."""

    def __init__(self, payload: str, version: int | None, max_version: int, hint: str = ""):
        self.payload = payload
        self.version = version
        self.max_version = max_version
        size = len(payload.encode("utf-8"))
        need = f"QR version {version}" if version else "more than QR version 40"
        msg = (
            f"Label QR payload is too large: {size} bytes needs {need} at error correction M; "
            f"the limit is version {max_version} so the sticker stays scannable."
        )
        super().__init__(msg + (" " + hint if hint else ""))


@dataclass(frozen=True)
class DeviceLabelInfo:
    """What a label may show about one device (plain input; the lead maps models to this).

    All fields are optional text except ``asset_tag``. ``msisdn`` is E.164 (``+221...``),
    ``iccid`` 19-20 digits, ``imei`` 15 digits; they are printed as given.
    """

    asset_tag: str
    holder: str | None = None
    msisdn: str | None = None
    iccid: str | None = None
    district: str | None = None
    facility: str | None = None
    box_number: str | None = None
    agreement_number: str | None = None
    imei: str | None = None
    serial: str | None = None
    model: str | None = None
    url: str | None = None

    def as_fields(self) -> dict[str, str | None]:
        """Return ``{field name: value}`` for every template field."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class PayloadTemplate:
    """Per-deployment payload template.

    Args:
        fields: field names from :data:`FIELD_CODES`, in any order; ``asset_tag`` is always
            added. Unknown names raise :class:`UnknownTemplateField` on construction.
        privacy: if true, encode only the asset tag and the device page URL (``url``).
        url_template: ``str.format`` pattern for the device page URL, with ``{asset_tag}``,
            e.g. ``"https://fleet.example.org/devices/{asset_tag}"``; used when a device's
            own ``url`` is empty. Required in privacy mode unless every device has ``url``.
        max_version: largest QR version allowed (default 10, issue 3).
    """

    fields: tuple[str, ...] = DEFAULT_FIELDS
    privacy: bool = False
    url_template: str | None = None
    max_version: int = MAX_QR_VERSION
    _order: tuple[str, ...] = field(init=False, repr=False, compare=False, default=())

    def __post_init__(self) -> None:
        fields = self.fields
        if isinstance(fields, str):
            fields = tuple(f.strip() for f in fields.split(",") if f.strip())
        fields = tuple(fields)
        unknown = [f for f in fields if f not in FIELD_CODES]
        if unknown:
            raise UnknownTemplateField(unknown)
        if self.url_template is not None and "{asset_tag}" not in self.url_template:
            raise PayloadError("The device URL template must contain {asset_tag}.")
        if not 1 <= self.max_version <= 40:
            raise PayloadError("max_version must be between 1 and 40.")
        object.__setattr__(self, "fields", fields)
        chosen = ("asset_tag", "url") if self.privacy else ("asset_tag", *fields)
        order = tuple(name for name in FIELD_CODES if name in chosen)
        object.__setattr__(self, "_order", order)

    @property
    def order(self) -> tuple[str, ...]:
        """Field names in payload order (asset tag first)."""
        return self._order


def _clean(value: Any) -> str:
    text = "" if value is None else str(value)
    text = unicodedata.normalize("NFC", text)
    return _WS_RE.sub(" ", text).strip()


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace(";", "\\;")


def encode_fields(values: Mapping[str, str]) -> str:
    """Encode ``{field name: value}`` as a ``FLEET1`` payload, without any size check.

    Field order follows :data:`FIELD_CODES`; empty values are left out.

    Raises:
        UnknownTemplateField: a key is not a known field.
        PayloadError: ``asset_tag`` is missing or empty.
    """
    unknown = [k for k in values if k not in FIELD_CODES]
    if unknown:
        raise UnknownTemplateField(unknown)
    cleaned = {k: _clean(v) for k, v in values.items()}
    if not cleaned.get("asset_tag"):
        raise PayloadError("A label payload needs an asset tag.")
    parts = [FORMAT_MARKER]
    for name, code in FIELD_CODES.items():
        value = cleaned.get(name)
        if value:
            parts.append(f"{code}={_escape(value)}")
    return ";".join(parts)


#: ECI assignment number for UTF-8 (AIM ECI specification; ISO/IEC 18004 section 7.4.3).
ECI_UTF8 = 26
_MODE_ECI = 0b0111


def _needed_bits(n_bytes: int, version: int, eci: bool) -> int:
    count_bits = 8 if version < 10 else 16  # ISO/IEC 18004 Table 3, byte mode
    return (12 if eci else 0) + 4 + count_bits + 8 * n_bytes


def _fit_version(data: bytes, eci: bool) -> int | None:
    limits = qr_util.BIT_LIMIT_TABLE[qr_constants.ERROR_CORRECT_M]
    for version in range(1, 41):
        if _needed_bits(len(data), version, eci) <= limits[version]:
            return version
    return None


def _codewords(data: bytes, version: int, eci: bool) -> list[int]:
    """Data + error correction codewords: [ECI 26] byte-mode segment, terminator, padding.

    Mirrors ``qrcode.util.create_data``, which cannot write an ECI header.
    """
    buffer = qr_util.BitBuffer()
    if eci:
        buffer.put(_MODE_ECI, 4)
        buffer.put(ECI_UTF8, 8)  # designators 0-127 take one byte
    buffer.put(qr_util.MODE_8BIT_BYTE, 4)
    buffer.put(len(data), qr_util.length_in_bits(qr_util.MODE_8BIT_BYTE, version))
    for byte in data:
        buffer.put(byte, 8)
    rs_blocks = qrcode.base.rs_blocks(version, qr_constants.ERROR_CORRECT_M)
    bit_limit = sum(block.data_count * 8 for block in rs_blocks)
    for _ in range(min(bit_limit - len(buffer), 4)):
        buffer.put_bit(False)
    if len(buffer) % 8:
        for _ in range(8 - len(buffer) % 8):
            buffer.put_bit(False)
    for i in range((bit_limit - len(buffer)) // 8):
        buffer.put(qr_util.PAD0 if i % 2 == 0 else qr_util.PAD1, 8)
    return qr_util.create_bytes(buffer, rs_blocks)


def make_qr(payload: str, *, max_version: int | None = None, border: int = 0) -> qrcode.QRCode:
    """Build the QR symbol for ``payload``: UTF-8 in byte mode, error correction M.

    A payload with any non-ASCII character starts with an ECI designator for UTF-8
    (ECI 26, 12 bits) so decoders do not guess the character set (zbar, for one, reads
    UTF-8 "é" as Shift JIS without it); pure ASCII payloads have no ECI header.

    Args:
        payload: the text to encode.
        max_version: if given, raise :class:`PayloadTooLarge` when the smallest version that
            fits is larger.
        border: quiet zone in modules included in ``get_matrix()`` (0: the caller draws it).

    Returns:
        a made ``qrcode.QRCode`` (``.version``, ``.get_matrix()``, ``.modules_count``).
    """
    data = payload.encode("utf-8")
    eci = not payload.isascii()
    version = _fit_version(data, eci)
    if version is None:
        raise PayloadTooLarge(payload, None, max_version or 40)
    if max_version is not None and version > max_version:
        raise PayloadTooLarge(payload, version, max_version)
    qr = qrcode.QRCode(
        version=version, error_correction=qr_constants.ERROR_CORRECT_M, border=border
    )
    qr.data_cache = _codewords(data, version, eci)
    qr.make(fit=False)
    return qr


def qr_version(payload: str) -> int | None:
    """Smallest QR version (1-40) that holds ``payload`` as :func:`make_qr` encodes it
    (UTF-8 byte mode, ECI 26 when not ASCII) at level M, or None if none does."""
    return _fit_version(payload.encode("utf-8"), not payload.isascii())


def _fits(payload: str, max_version: int) -> bool:
    version = qr_version(payload)
    return version is not None and version <= max_version


def _truncate(text: str, keep: int) -> str:
    return text[:keep].rstrip() + ELLIPSIS


def build_payload(
    device: DeviceLabelInfo | Mapping[str, Any],
    template: PayloadTemplate | None = None,
    *,
    shorten: bool = False,
) -> str:
    """Build the QR payload text for one device.

    Args:
        device: a :class:`DeviceLabelInfo` or a mapping with the same keys (extra keys that
            the template does not use are ignored; keys in the template but missing count as
            empty).
        template: the deployment's :class:`PayloadTemplate` (default: guide fields).
        shorten: if the payload is too large, truncate free-text fields (holder, district,
            facility, model; the longest first) with an ellipsis until it fits. The asset
            tag, numbers and URL are never shortened.

    Returns:
        the ``FLEET1;T=...`` payload, at most QR version ``template.max_version`` at level M.

    Raises:
        PayloadError: no asset tag, or privacy mode without a URL.
        PayloadTooLarge: the payload needs a larger QR version (and could not be shortened
            enough, when ``shorten`` is true).
    """
    template = template or PayloadTemplate()
    values = device.as_fields() if isinstance(device, DeviceLabelInfo) else dict(device)
    asset_tag = _clean(values.get("asset_tag"))
    if not asset_tag:
        raise PayloadError("A label payload needs an asset tag.")
    chosen = {name: _clean(values.get(name)) for name in template.order}
    if "url" in template.order and not chosen.get("url") and template.url_template:
        chosen["url"] = template.url_template.format(asset_tag=asset_tag)
    if template.privacy and not chosen.get("url"):
        raise PayloadError(
            "Privacy mode needs the device page URL: set a URL template for the deployment."
        )
    payload = encode_fields(chosen)
    if _fits(payload, template.max_version):
        return payload
    if not shorten:
        raise PayloadTooLarge(
            payload,
            qr_version(payload),
            template.max_version,
            "Shorten the holder or district text, use fewer template fields, or privacy mode.",
        )
    # Shorten: cut the longest truncatable field one character at a time (binary search
    # would be faster, but payloads are at most a few hundred bytes).
    while True:
        candidates = [
            n
            for n in chosen
            if n in TRUNCATABLE_FIELDS and len(chosen[n].rstrip(ELLIPSIS)) > _MIN_KEPT_CHARS
        ]
        if not candidates:
            raise PayloadTooLarge(
                payload,
                qr_version(payload),
                template.max_version,
                "Even with free-text fields shortened it does not fit: use fewer template "
                "fields or privacy mode.",
            )
        name = max(candidates, key=lambda n: len(chosen[n].encode("utf-8")))
        base = chosen[name].removesuffix(ELLIPSIS)
        chosen[name] = _truncate(base, len(base) - 1)
        payload = encode_fields(chosen)
        if _fits(payload, template.max_version):
            return payload


def _split_elements(text: str) -> list[str]:
    parts: list[str] = []
    buf: list[str] = []
    chars = iter(text)
    for ch in chars:
        if ch == "\\":
            nxt = next(chars, None)
            if nxt not in ("\\", ";"):
                raise PayloadError("Malformed fleet label: bad escape sequence.")
            buf.append("\\" + nxt)
        elif ch == ";":
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
    parts.append("".join(buf))
    return parts


def _unescape(value: str) -> str:
    return value.replace("\\;", ";").replace("\\\\", "\\")


def parse_payload(text: str) -> dict[str, str]:
    """Parse a scanned ``FLEET1`` payload into ``{field name: value}``.

    Returns:
        e.g. ``{"asset_tag": "PH-000123", "holder": "Amina Diallo", "msisdn": "+221..."}``;
        only the fields present in the payload.

    Raises:
        PayloadError: the text is not a fleet label (wrong marker), has an unknown or
            repeated field code, a bad escape, or no asset tag.
    """
    text = text.strip("\r\n")
    elements = _split_elements(text)
    if elements[0] != FORMAT_MARKER:
        raise PayloadError("Not a fleet label: the QR code does not start with FLEET1.")
    result: dict[str, str] = {}
    for element in elements[1:]:
        code, sep, value = element.partition("=")
        if not sep or code not in CODE_FIELDS:
            raise PayloadError(f"Malformed fleet label: unknown element {code!r}.")
        name = CODE_FIELDS[code]
        if name in result:
            raise PayloadError(f"Malformed fleet label: field {code!r} appears twice.")
        result[name] = _unescape(value)
    if not result.get("asset_tag"):
        raise PayloadError("Malformed fleet label: no asset tag (T=).")
    return result
