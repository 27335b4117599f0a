"""The calculator page, the API and the CLI give the same verdict, recommended RAM and largest
TEI count at ok for the same inputs; the page shows reasons with sources and the chart."""

from __future__ import annotations

import html
import json
import re

import pytest
from capacity_strategies import devices, realistic_workloads
from hypothesis import HealthCheck, given, settings

from fleet.capacity.model import estimate

# The worked examples of docs/capacity.md, plus a 4 GB phone and a tiny workload.
CASES = {
    "1gb_phone_500_teis": {
        "ram_mb": 1024, "api_level": 29, "total_storage_mb": 8192, "free_storage_mb": 3000,
        "teis": 500, "events_per_tei": 3, "capture_org_units": 10, "search_org_units": 5,
        "programs": 2, "program_rules": 40, "option_set_size": 200, "reserved_values": 100},
    "2gb_phone_5000_teis_200_org_units": {
        "ram_mb": 2048, "api_level": 29, "total_storage_mb": 32768, "free_storage_mb": 8000,
        "teis": 5000, "events_per_tei": 3, "capture_org_units": 195, "search_org_units": 5,
        "programs": 2, "program_rules": 40, "option_set_size": 200, "reserved_values": 100},
    "3gb_tablet_10000_teis_encrypted": {
        "ram_mb": 3072, "api_level": 30, "form_factor": "tablet", "total_storage_mb": 32768,
        "free_storage_mb": 20000, "teis": 10000, "events_per_tei": 3, "capture_org_units": 10,
        "search_org_units": 5, "programs": 2, "program_rules": 40, "option_set_size": 200,
        "reserved_values": 100, "encrypt_db": True},
    "4gb_phone_heavy_media": {
        "ram_mb": 4096, "api_level": 33, "teis": 20000, "events_per_tei": 6,
        "media_files_per_tei": 2, "media_avg_kb": 300, "free_storage_mb": 9000},
    "small": {"ram_mb": 2048, "api_level": 26, "teis": 10},
}


def _cli_args(case: dict) -> list[str]:
    args = ["capacity", "estimate", "--json"]
    for key, value in case.items():
        if key == "encrypt_db":
            args.append("--encrypt" if value else "--no-encrypt")
        else:
            args += [f"--{key.replace('_', '-')}", str(value)]
    return args


def _page_figures(body: str) -> dict:
    def text_of(element_id: str) -> str:
        m = re.search(rf'id="{element_id}"[^>]*>(.*?)</', body, re.S)
        assert m, element_id
        return html.unescape(m.group(1)).strip()

    def number(text: str) -> int | None:
        return None if text == "none" else int(re.sub(r"[^\d]", "", text))

    verdict = re.search(r'id="verdict" data-verdict="(\w+)"', body).group(1)
    return {"verdict": verdict,
            "recommended_ram_mb": number(text_of("recommended-ram")),
            "max_teis_ok": number(text_of("max-teis-ok"))}


@pytest.mark.parametrize("name", sorted(CASES))
def test_page_api_and_cli_agree(name, client, runner, login):
    case = CASES[name]
    login("viewer")
    api = client.post("/api/v1/capacity/estimate", json=case)
    assert api.status_code == 200, api.json
    api = api.json

    cli = runner.invoke(args=_cli_args(case))
    assert cli.exit_code == 0, cli.output
    cli = json.loads(cli.output)

    query = {k: ("true" if v is True else v) for k, v in case.items()}
    page = client.get("/capacity/", query_string=query)
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    shown = _page_figures(body)

    for key in ("verdict", "recommended_ram_mb", "max_teis_ok"):
        assert api[key] == cli[key] == shown[key], (key, api[key], cli[key], shown[key])
    api.pop("memory_curve")
    assert api == cli  # everything else too: estimates, reasons, notes
    # every reason with its message and sources, and every assumption, is on the page
    text = html.unescape(body)
    for reason in api["reasons"] + api["notes"]:
        assert f'data-code="{reason["code"]}"' in body
        assert reason["message"] in text
        for source in reason["sources"]:
            assert source in text
    for assumption in api["memory"]["assumptions"] + api["database"]["assumptions"]:
        assert assumption in text
    assert 'id="memory-chart"' in body and 'id="budget-line"' in body


def test_worked_example_verdicts(client, login):
    login("viewer")
    got = {n: client.post("/api/v1/capacity/estimate", json=c).json for n, c in CASES.items()}
    one, two, three = (got["1gb_phone_500_teis"], got["2gb_phone_5000_teis_200_org_units"],
                       got["3gb_tablet_10000_teis_encrypted"])
    assert (one["verdict"], one["recommended_ram_mb"], one["max_teis_ok"]) == (
        "marginal", 2048, None)
    assert (two["verdict"], two["recommended_ram_mb"], two["max_teis_ok"]) == (
        "marginal", 3072, None)
    assert (three["verdict"], three["recommended_ram_mb"], three["max_teis_ok"]) == (
        "ok", 3072, 18365)


def test_page_shows_refused_values_next_to_the_field(client, login):
    login("viewer")
    resp = client.get("/capacity/", query_string={"ram_mb": "2", "api_level": "29",
                                                  "teis": "100"})
    assert resp.status_code == 422
    body = resp.get_data(as_text=True)
    field = body[body.index('id="f-ram_mb"'):]
    assert 'aria-invalid="true"' in field[:400]
    assert "must be between 256 and 65,536 MB, got 2" in field[:800]
    assert 'id="verdict"' not in body
    resp = client.get("/capacity/", query_string={"ram_mb": "abc", "api_level": "29",
                                                  "teis": "1.5"})
    assert resp.status_code == 422
    body = resp.get_data(as_text=True)
    assert body.count("Not a valid integer.") == 2


def test_empty_page_has_the_form_with_units_and_defaults(client, login):
    login("viewer")
    body = client.get("/capacity/").get_data(as_text=True)
    assert 'id="verdict"' not in body
    assert "RAM (MB, nominal: 2048 for a 2 GB phone)" in body
    assert 'name="events_per_tei" type="number" value="3.0"' in body
    assert 'href="/capacity/"' in body  # nav link in base.html


def test_calibration_page_says_uncalibrated(client, login):
    login("viewer")
    body = client.get("/capacity/calibration").get_data(as_text=True)
    assert 'id="calibration-state"' in body and ">uncalibrated<" in body
    assert "no health reports" in body
    assert "mb_per_1000_teis" in body


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(device=devices, workload=realistic_workloads)
def test_page_api_and_cli_agree_on_generated_inputs(client, runner, login, device, workload):
    """Any valid device and a campaign-sized workload: the three entry points match the
    library's own estimate."""
    login("viewer")
    case = {**{k: v for k, v in device.to_dict().items() if v is not None},
            **workload.to_dict()}
    expected = json.loads(json.dumps(estimate(device, workload).to_dict()))
    api = client.post("/api/v1/capacity/estimate", json=case).json
    api.pop("memory_curve")
    cli = runner.invoke(args=_cli_args(case))
    assert cli.exit_code == 0, cli.output
    query = {k: ("true" if v is True else "" if v is False else v) for k, v in case.items()}
    page = client.get("/capacity/", query_string=query)
    assert page.status_code == 200
    shown = _page_figures(page.get_data(as_text=True))
    assert api == json.loads(cli.output) == expected
    assert shown == {k: expected[k] for k in ("verdict", "recommended_ram_mb", "max_teis_ok")}


def test_page_ignores_query_parameters_that_are_not_inputs(client, login):
    login("viewer")
    case = CASES["small"]
    resp = client.get("/capacity/", query_string={**case, "lang": "en", "utm": "x"})
    assert resp.status_code == 200
    assert _page_figures(resp.get_data(as_text=True))["verdict"] == "ok"
