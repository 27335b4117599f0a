"""QR payload: template, escaping, size limit (QR version 10 at level M), parsing."""

from __future__ import annotations

import pytest
import qrcode
from hypothesis import given, settings
from hypothesis import strategies as st
from qrcode import util as qr_util

from fleet.labels.payload import (
    ELLIPSIS,
    DeviceLabelInfo,
    PayloadError,
    PayloadTemplate,
    PayloadTooLarge,
    UnknownTemplateField,
    build_payload,
    encode_fields,
    make_qr,
    parse_payload,
)
from fleet.labels.render import LabelSpec, render_label_png

DEVICE = DeviceLabelInfo(
    asset_tag="PH-000123",
    holder="Amina Diallo",
    msisdn="+221771234567",
    iccid="8922101234567890123",
    district="Dakar",
    box_number="000123",
    imei="356938035643809",
    model="Samsung Galaxy A14",
)


def version_of(payload: str) -> int:
    """QR version chosen by the qrcode library for the UTF-8 bytes, level M."""
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M)
    qr.add_data(qr_util.QRData(payload.encode("utf-8"), mode=qr_util.MODE_8BIT_BYTE))
    qr.make(fit=True)
    return qr.version


def test_default_template_has_the_guide_fields_in_documented_form():
    payload = build_payload(DEVICE)
    assert payload == "FLEET1;T=PH-000123;H=Amina Diallo;S=+221771234567;D=Dakar"
    assert parse_payload(payload) == {
        "asset_tag": "PH-000123",
        "holder": "Amina Diallo",
        "msisdn": "+221771234567",
        "district": "Dakar",
    }


def test_asset_tag_is_always_included_and_first():
    template = PayloadTemplate(fields=("district", "iccid"))
    payload = build_payload(DEVICE, template)
    assert payload.startswith("FLEET1;T=PH-000123;")
    assert parse_payload(payload) == {
        "asset_tag": "PH-000123",
        "iccid": "8922101234567890123",
        "district": "Dakar",
    }


def test_template_from_comma_separated_text_and_mapping_input():
    template = PayloadTemplate(fields="holder, box_number")
    payload = build_payload({"asset_tag": "PH-9", "holder": "Ελένη", "box_number": "77"}, template)
    assert parse_payload(payload) == {"asset_tag": "PH-9", "holder": "Ελένη", "box_number": "77"}


def test_unknown_template_field_is_refused_with_its_name():
    with pytest.raises(UnknownTemplateField) as err:
        PayloadTemplate(fields=("asset_tag", "holder", "favourite_colour"))
    assert "favourite_colour" in str(err.value)
    assert "holder" in str(err.value)  # lists the known fields
    with pytest.raises(UnknownTemplateField):
        encode_fields({"asset_tag": "PH-1", "colour": "red"})


def test_separators_and_backslashes_are_escaped():
    device = DeviceLabelInfo(asset_tag="PH-1;2", holder="A\\B; C=D", district="X;Y\\")
    payload = build_payload(device)
    assert payload == "FLEET1;T=PH-1\\;2;H=A\\\\B\\; C=D;D=X\\;Y\\\\"
    assert parse_payload(payload) == {
        "asset_tag": "PH-1;2",
        "holder": "A\\B; C=D",
        "district": "X;Y\\",
    }


def test_whitespace_is_collapsed():
    payload = build_payload(DeviceLabelInfo(asset_tag=" PH-2 ", holder="Amina\n  Diallo\t"))
    assert parse_payload(payload)["holder"] == "Amina Diallo"
    assert parse_payload(payload)["asset_tag"] == "PH-2"


values = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp")),
    min_size=1,
    max_size=20,
)


@settings(max_examples=200, deadline=None)
@given(tag=values, holder=values, district=values)
def test_any_text_round_trips(tag, holder, district):
    import unicodedata

    payload = encode_fields({"asset_tag": tag, "holder": holder, "district": district})
    parsed = parse_payload(payload)
    nfc = lambda s: unicodedata.normalize("NFC", s).strip()  # noqa: E731
    assert parsed["asset_tag"] == nfc(tag)
    assert parsed.get("holder", "") == nfc(holder)
    assert parsed.get("district", "") == nfc(district)


def test_version_10_boundary_is_213_bytes():
    # ISO/IEC 18004 Table 7: version 10-M holds 213 bytes in byte mode.
    base = "FLEET1;T=PH-1;H="
    fits = base + "x" * (213 - len(base))
    assert len(fits.encode()) == 213
    tmpl = PayloadTemplate(fields=("holder",))
    assert build_payload({"asset_tag": "PH-1", "holder": fits[len(base) :]}, tmpl) == fits
    assert version_of(fits) == 10
    with pytest.raises(PayloadTooLarge) as err:
        build_payload({"asset_tag": "PH-1", "holder": fits[len(base) :] + "x"}, tmpl)
    assert version_of(fits + "x") == 11
    assert "version 11" in str(err.value) and "version 10" in str(err.value)
    assert "214 bytes" in str(err.value)


def test_non_ascii_payload_carries_the_utf8_eci_and_fits_212_bytes(tools):
    # 12 bits of ECI header: version 10-M then holds 212 bytes, not 213.
    holder = "é" * ((212 - len("FLEET1;T=PH-1;H=")) // 2)
    tmpl = PayloadTemplate(fields=("holder",))
    payload = build_payload({"asset_tag": "PH-1", "holder": holder}, tmpl)
    assert len(payload.encode()) == 212
    assert make_qr(payload).version == 10
    with pytest.raises(PayloadTooLarge):
        build_payload({"asset_tag": "PH-1", "holder": holder + "ab"}, tmpl)
    # zbar reads UTF-8 "é" as Shift JIS unless the ECI header says UTF-8
    png = render_label_png(LabelSpec("FLEET1;T=PH-1;D=Kénitra", "PH-1"), "thermal-62mm")
    assert tools.decode(png) == ["FLEET1;T=PH-1;D=Kénitra"]
    assert tools.decode(render_label_png(LabelSpec(payload, "PH-1"), "thermal-62mm")) == [payload]


def test_ascii_payload_matrix_is_what_qrcode_itself_makes():
    payload = build_payload(DEVICE)
    ref = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0)
    ref.add_data(qr_util.QRData(payload.encode(), mode=qr_util.MODE_8BIT_BYTE))
    ref.make(fit=True)
    assert make_qr(payload).get_matrix() == ref.get_matrix()


def test_too_large_payload_is_refused_by_default():
    device = DeviceLabelInfo(asset_tag="PH-000123", holder="Оксана " * 30, district="Dakar")
    with pytest.raises(PayloadTooLarge) as err:
        build_payload(device)
    assert version_of(err.value.payload) > 10
    assert err.value.version > 10


def test_shorten_truncates_free_text_never_the_asset_tag(tools):
    holder = "Ngozi Ọkafọ̀ " + "Adaeze " * 40
    device = DeviceLabelInfo(
        asset_tag="PH-000123", holder=holder, msisdn="+2348031234567", district="Enugu East"
    )
    payload = build_payload(device, shorten=True)
    parsed = parse_payload(payload)
    assert parsed["asset_tag"] == "PH-000123"
    assert parsed["msisdn"] == "+2348031234567"
    assert parsed["district"] == "Enugu East"
    assert parsed["holder"].endswith(ELLIPSIS)
    assert holder.startswith(parsed["holder"][:-1])
    assert version_of(payload) <= 10
    # the shortened payload is as long as allowed: one more character would not fit
    assert len(payload.encode()) > 213 - 8
    png = render_label_png(LabelSpec(payload, "PH-000123"), "thermal-62mm", dpi=300)
    assert tools.decode(png) == [payload]


def test_shorten_cannot_help_when_fixed_fields_are_too_long():
    device = DeviceLabelInfo(asset_tag="PH-" + "9" * 250, holder="Amina")
    with pytest.raises(PayloadTooLarge) as err:
        build_payload(device, shorten=True)
    assert "privacy mode" in str(err.value)


def test_privacy_mode_has_only_tag_and_url():
    template = PayloadTemplate(
        fields=("holder", "msisdn"),
        privacy=True,
        url_template="https://fleet.example.org/devices/{asset_tag}",
    )
    payload = build_payload(DEVICE, template)
    assert parse_payload(payload) == {
        "asset_tag": "PH-000123",
        "url": "https://fleet.example.org/devices/PH-000123",
    }
    assert "Amina" not in payload and "+221" not in payload


def test_privacy_mode_without_url_is_refused():
    with pytest.raises(PayloadError, match="URL"):
        build_payload(DEVICE, PayloadTemplate(privacy=True))
    with pytest.raises(PayloadError, match="asset_tag"):
        PayloadTemplate(privacy=True, url_template="https://fleet.example.org/devices/")


def test_missing_asset_tag_is_refused():
    with pytest.raises(PayloadError, match="asset tag"):
        build_payload(DeviceLabelInfo(asset_tag="  ", holder="Amina"))


@pytest.mark.parametrize(
    "text, message",
    [
        ("PH-000123", "FLEET1"),
        ("https://example.org/x", "FLEET1"),
        ("FLEET1;T=PH-1;Z=what", "unknown element"),
        ("FLEET1;T=PH-1;H=a;H=b", "twice"),
        ("FLEET1;T=PH-1;H=bad\\escape", "escape"),
        ("FLEET1;H=Amina", "asset tag"),
        ("FLEET1;T=PH-1;Hnovalue", "unknown element"),
    ],
)
def test_parse_refuses_what_is_not_a_fleet_label(text, message):
    with pytest.raises(PayloadError, match=message):
        parse_payload(text)
