"""The worked examples of docs/capacity.md, checked against the model.

The expected memory figures are recomputed here by hand from the formula and default
coefficients written in the doc, not read back from the model."""

import json

import pytest

from fleet.capacity.model import DeviceSpec, Verdict, Workload, estimate

CAMPAIGN = dict(
    events_per_tei=3,
    attributes_per_tei=10,
    programs=2,
    program_rules=40,
    option_set_size=200,
    reserved_values=100,
)


def hand_memory_mb(teis, org_units, encrypted):
    """docs/capacity.md: 180 + 30/1000 TEIs + 4/1000 events + 0.5/1000 attribute values
    + 0.15/org unit + 3/program + 0.4/rule + 5/1000 options + 0.5/1000 reserved values."""
    mb = (
        180
        + 30 * teis / 1000
        + 4 * teis * 3 / 1000
        + 0.5 * teis * 10 / 1000
        + 0.15 * org_units
        + 3 * 2
        + 0.4 * 40
        + 5 * 200 / 1000
        + 0.5 * 100 * 2 / 1000
    )
    return mb * (1.15 if encrypted else 1.0)


def test_1gb_phone_with_500_teis_is_marginal():
    device = DeviceSpec(ram_mb=1024, api_level=29, free_storage_mb=3000, total_storage_mb=8192)
    workload = Workload(teis=500, capture_org_units=10, search_org_units=5, **CAMPAIGN)
    result = estimate(device, workload)

    assert result.verdict is Verdict.MARGINAL
    assert [r.code for r in result.reasons] == [
        "ram_below_recommended",
        "storage_total_below_recommended",
    ]
    assert "2048 MB DHIS2 recommends" in result.reasons[0].message
    assert "mobile device specifications" in result.reasons[0].sources[0]
    assert result.memory.total_mb == pytest.approx(hand_memory_mb(500, 15, False))  # 228.8
    assert result.memory_budget_mb == pytest.approx(1024 * 0.35)  # 358.4
    assert result.recommended_ram_mb == 2048
    # a 1 GB phone is never ok (below the recommended 2 GB) ...
    assert result.max_teis_ok is None
    # ... and runs out of its 358 MB foreground budget past 3,256 TEIs
    assert result.max_teis_marginal == 3256
    assert hand_memory_mb(3256, 15, False) <= 358.4 < hand_memory_mb(3257, 15, False)


def test_2gb_phone_with_5000_teis_and_200_org_units_is_marginal():
    device = DeviceSpec(ram_mb=2048, api_level=29, free_storage_mb=8000, total_storage_mb=32768)
    workload = Workload(teis=5000, capture_org_units=195, search_org_units=5, **CAMPAIGN)
    result = estimate(device, workload)

    assert result.verdict is Verdict.MARGINAL
    assert [r.code for r in result.reasons] == [
        "large_tracker_teis",
        "large_tracker_events",
        "large_tracker_capture_org_units",
    ]
    for reason in result.reasons:
        assert reason.fixable_by_ram
        assert any("more than 2 GB" in s for s in reason.sources)
        assert any("TEI download > 2,000" in s for s in reason.sources)
    assert result.memory.total_mb == pytest.approx(hand_memory_mb(5000, 200, False))  # 468.1
    assert result.memory.total_mb < result.memory_ok_limit_mb  # memory alone would be ok
    assert result.recommended_ram_mb == 3072
    assert result.max_teis_ok is None  # 195 capture org units > 10 keeps a 2 GB phone marginal
    # 200 org units is below the 250 DHIS2 calls safe: no org-unit reason
    assert not any(r.code == "org_units_not_safe" for r in result.reasons)


def test_3gb_tablet_with_10000_teis_and_encryption_is_ok():
    device = DeviceSpec(
        ram_mb=3072,
        api_level=30,
        free_storage_mb=20000,
        form_factor="tablet",
        total_storage_mb=32768,
    )
    workload = Workload(
        teis=10000, capture_org_units=10, search_org_units=5, encrypt_db=True, **CAMPAIGN
    )
    result = estimate(device, workload)

    assert result.verdict is Verdict.OK
    assert result.reasons == ()
    assert [r.code for r in result.notes] == [
        "settings_warning_teis",
        "settings_warning_events",
        "encryption_cost",
    ]
    assert any("5-15%" in s for s in result.notes[-1].sources)
    assert result.memory.factor == 1.15
    assert result.memory.total_mb == pytest.approx(hand_memory_mb(10000, 15, True))  # 776.7
    assert result.memory_budget_mb == pytest.approx(3072 * 0.50)
    assert result.recommended_ram_mb == 3072
    assert result.max_teis_ok == 18365
    limit = 0.8 * 3072 * 0.5
    assert hand_memory_mb(18365, 15, True) <= limit < hand_memory_mb(18366, 15, True)
    data = json.loads(json.dumps(result.to_dict()))
    assert data["verdict"] == "ok" and data["max_teis_ok"] == 18365
    assert data["calibrated"] is False


def test_api_below_capture_min_sdk_is_insufficient_and_not_fixed_by_ram():
    result = estimate(DeviceSpec(ram_mb=8192, api_level=22), Workload(teis=100))
    assert result.verdict is Verdict.INSUFFICIENT
    assert [r.code for r in result.reasons] == ["api_below_min_sdk"]
    assert not result.reasons[0].fixable_by_ram
    # the RAM recommendation is about RAM only: the workload itself is ok at 2 GB on a phone
    assert result.recommended_ram_mb == 2048


def test_250_org_units_is_not_fixed_by_any_ram():
    workload = Workload(teis=100, capture_org_units=5, search_org_units=245)
    result = estimate(DeviceSpec(ram_mb=12288, api_level=34, free_storage_mb=50_000), workload)
    assert result.verdict is Verdict.MARGINAL
    assert [r.code for r in result.reasons] == ["org_units_not_safe"]
    assert result.recommended_ram_mb is None
    assert result.recommendation.ram_mb == 3072  # 245 search org units > 5 wants > 2 GB
    assert not result.recommendation.yields_ok
    assert "no RAM makes this workload ok" in result.recommendation.note


def test_workload_beyond_every_purchasable_ram_is_reported():
    workload = Workload(teis=400_000, events_per_tei=10)
    rec = estimate(DeviceSpec(ram_mb=4096, api_level=34), workload).recommendation
    assert rec.ram_mb is None and not rec.yields_ok
    assert "no purchasable RAM (up to 12288 MB)" in rec.note
    assert any(r.code == "memory_over_budget" for r in rec.remaining)


def test_storage_too_small_for_media_is_insufficient():
    workload = Workload(teis=5000, media_files_per_tei=2, media_avg_kb=500)  # ~4.9 GB of media
    result = estimate(DeviceSpec(ram_mb=4096, api_level=30, free_storage_mb=4000), workload)
    assert result.media_mb == pytest.approx(5000 * 2 * 500 / 1024)
    assert "storage_free_short" in [r.code for r in result.reasons]
    assert result.verdict is Verdict.INSUFFICIENT


def test_unknown_free_storage_is_a_note_not_a_pass():
    result = estimate(DeviceSpec(ram_mb=4096, api_level=30), Workload(teis=100))
    assert result.verdict is Verdict.OK
    assert [r.code for r in result.notes] == ["storage_free_unknown"]


def test_explain_names_verdict_reasons_and_sources():
    device = DeviceSpec(ram_mb=1024, api_level=24)
    text = estimate(device, Workload(teis=500)).explain()
    assert text.startswith("Verdict: MARGINAL")
    assert "Android API 24 is below API 26" in text
    assert "source: DHIS2 Android implementation guide" in text
    assert "UNCALIBRATED" in text
