"""POST /api/v1/capacity/estimate, GET /report and /calibration over the real app."""

from __future__ import annotations

import json

import pytest

from fleet.capacity.model import DeviceSpec, Workload, estimate

BODY = {"ram_mb": 2048, "api_level": 29, "teis": 5000, "events_per_tei": 3,
        "capture_org_units": 195, "search_org_units": 5, "programs": 2, "program_rules": 40,
        "option_set_size": 200, "reserved_values": 100, "total_storage_mb": 32768,
        "free_storage_mb": 8000}


def test_estimate_answers_what_the_library_computes(client, token_for):
    resp = client.post("/api/v1/capacity/estimate", json=BODY,
                       headers={"Authorization": f"Bearer {token_for('viewer')}"})
    assert resp.status_code == 200, resp.json
    data = resp.json
    device = DeviceSpec(ram_mb=2048, api_level=29, total_storage_mb=32768, free_storage_mb=8000)
    workload = Workload(**{k: v for k, v in BODY.items() if k not in (
        "ram_mb", "api_level", "total_storage_mb", "free_storage_mb")})
    expected = json.loads(json.dumps(estimate(device, workload).to_dict()))
    curve = data.pop("memory_curve")
    assert data == expected
    assert data["verdict"] == "marginal" and data["recommended_ram_mb"] == 3072
    assert {r["code"] for r in data["reasons"]} == {
        "large_tracker_teis", "large_tracker_events", "large_tracker_capture_org_units"}
    assert all(r["sources"] for r in data["reasons"])
    # the curve holds the workload's own point, at the estimate's memory
    assert {"teis": 5000, "memory_mb": data["memory"]["total_mb"]} in curve
    assert [p["teis"] for p in curve] == sorted(p["teis"] for p in curve)


def test_defaults_apply_to_absent_workload_fields(client, login):
    login("viewer")
    resp = client.post("/api/v1/capacity/estimate",
                       json={"ram_mb": 3072, "api_level": 30, "teis": 1000})
    assert resp.status_code == 200
    assert resp.json["workload"]["events_per_tei"] == 3.0
    assert resp.json["device"]["free_storage_mb"] is None
    assert "storage_free_unknown" in [n["code"] for n in resp.json["notes"]]


@pytest.mark.parametrize("change, field, words", [
    ({"ram_mb": 2}, "ram_mb", "must be between 256 and 65,536 MB, got 2"),
    ({"teis": -4}, "teis", "got -4"),
    ({"events_per_tei": 5000}, "events_per_tei", "must be between 0 and 1,000"),
    ({"api_level": 99}, "api_level", "must be between 1 and 40"),
    ({"total_storage_mb": 100}, "total_storage_mb", "must be between 512"),
    ({"ram_mb": "two gigs"}, "ram_mb", "Not a valid integer."),
    ({"teis": 1.5}, "teis", "Not a valid integer."),
    ({"form_factor": "watch"}, "form_factor", "Must be one of"),
    ({"colour": "blue"}, "colour", "Unknown field."),
])
def test_refused_inputs_are_422_naming_the_field(client, login, change, field, words):
    login("viewer")
    resp = client.post("/api/v1/capacity/estimate", json={**BODY, **change})
    assert resp.status_code == 422, resp.json
    fields = resp.json["error"]["fields"]
    assert list(fields) == [field]
    assert words in " ".join(fields[field])


def test_missing_required_field_is_named(client, login):
    login("viewer")
    resp = client.post("/api/v1/capacity/estimate", json={"ram_mb": 2048, "api_level": 29})
    assert resp.status_code == 422
    assert list(resp.json["error"]["fields"]) == ["teis"]


def test_anonymous_is_refused(client):
    assert client.post("/api/v1/capacity/estimate", json=BODY).status_code == 401
    assert client.get("/api/v1/capacity/report").status_code == 401
    assert client.get("/api/v1/capacity/calibration").status_code == 401


def test_calibration_says_uncalibrated_and_why(client, login):
    login("viewer")
    data = client.get("/api/v1/capacity/calibration").json
    assert data["calibrated"] is False
    assert data["health_readings"] is None
    assert "no health reports" in data["explanation"]
    assert data["fit"]["min_points"] == 20
    assert data["coefficients"]["calibrated"] is False
    assert data["coefficients"]["mb_per_1000_teis"] == 30.0


def test_openapi_documents_the_ranges(client):
    spec = client.get("/api/v1/openapi.json").json
    schema = spec["components"]["schemas"]["EstimateArgs"]["properties"]
    assert schema["ram_mb"]["minimum"] == 256 and schema["ram_mb"]["maximum"] == 65536
    assert "/api/v1/capacity/estimate" in spec["paths"]
