"""`fleet capacity estimate` through click's CliRunner."""

import json

from click.testing import CliRunner

from fleet.capacity.cli import capacity
from fleet.capacity.model import DeviceSpec, Workload, estimate

ARGS = (
    "estimate --ram-mb 2048 --api-level 29 --teis 5000 --events-per-tei 3 "
    "--capture-org-units 10 --search-org-units 5 --programs 2 --program-rules 40 "
    "--option-set-size 200 --reserved-values 100 --no-encrypt --form-factor phone"
).split()


def test_text_output_gives_verdict_reasons_sources_and_figures():
    result = CliRunner().invoke(capacity, ARGS)
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.startswith("Verdict: MARGINAL for a 2048 MB phone")
    assert "[marginal] 5,000 TEIs held offline is above the 2,000" in out
    assert "source: DHIS2 Android Settings app warnings" in out
    assert "Recommended RAM: 3072 MB" in out
    assert "Largest TEI count at ok on this device: 1,000." in out  # 3,000 events / 3 per TEI
    assert "Working memory:" in out and "Database:" in out


def test_json_output_agrees_with_the_library():
    result = CliRunner().invoke(capacity, [*ARGS, "--json", "--free-storage-mb", "9000"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    expected = estimate(
        DeviceSpec(ram_mb=2048, api_level=29, free_storage_mb=9000),
        Workload(
            teis=5000,
            events_per_tei=3,
            capture_org_units=10,
            search_org_units=5,
            programs=2,
            program_rules=40,
            option_set_size=200,
            reserved_values=100,
        ),
    ).to_dict()
    assert data == json.loads(json.dumps(expected))
    assert data["verdict"] == "marginal" and data["recommended_ram_mb"] == 3072


def test_encrypt_flag_reaches_the_model():
    plain = json.loads(CliRunner().invoke(capacity, [*ARGS, "--json"]).output)
    encrypted = json.loads(CliRunner().invoke(capacity, [*ARGS, "--json", "--encrypt"]).output)
    assert encrypted["workload"]["encrypt_db"] is True
    assert encrypted["memory"]["total_mb"] > plain["memory"]["total_mb"]
    assert "encryption_cost" in [n["code"] for n in encrypted["notes"]]


def test_out_of_range_input_exits_2_with_the_field_and_range():
    result = CliRunner().invoke(
        capacity, ["estimate", "--ram-mb", "2", "--api-level", "29", "--teis", "10"]
    )
    assert result.exit_code == 2
    assert "Invalid value for --ram-mb: must be between 256 and 65,536 MB, got 2" in result.output
    result = CliRunner().invoke(
        capacity, ["estimate", "--ram-mb", "2048", "--api-level", "29", "--teis", "-4"]
    )
    assert result.exit_code == 2 and "--teis" in result.output and "got -4" in result.output


def test_missing_required_option_is_refused():
    result = CliRunner().invoke(capacity, ["estimate", "--ram-mb", "2048", "--teis", "10"])
    assert result.exit_code == 2 and "--api-level" in result.output
