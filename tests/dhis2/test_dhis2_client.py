"""Dhis2Client against the DHIS2 test server process: auth, paging, retries, errors, TLS."""

import socket
import time
from urllib.parse import parse_qs

import pytest

from fleet.dhis2.client import (
    Dhis2AuthError,
    Dhis2BadResponse,
    Dhis2Client,
    Dhis2Conflict,
    Dhis2ConnectionError,
    Dhis2Forbidden,
    Dhis2NotFound,
    Dhis2ServerError,
    Dhis2Timeout,
    Dhis2TLSError,
)


def api_requests(server, path):
    return [r for r in server.requests_log() if r["path"] == path]


def test_system_info_with_token_and_with_basic_auth(dhis2_server):
    with dhis2_server.client() as client:
        assert client.system_info()["version"] == "2.40.4"
    basic = Dhis2Client(
        dhis2_server.url + "/api/",  # a trailing /api is accepted
        username=dhis2_server.username,
        password=dhis2_server.password,
        timeout=(2, 5),
    )
    assert basic.base_url == dhis2_server.url
    assert basic.system_info()["systemId"] == "fleet-dhis2-test-server"


def test_wrong_token_is_401_with_a_message_that_holds_no_secret(dhis2_server):
    client = dhis2_server.client(token="d2pat_wrong_secret_value")
    with pytest.raises(Dhis2AuthError) as err:
        client.system_info()
    assert err.value.status == 401
    assert "refused the credentials" in str(err.value)
    assert "d2pat_wrong_secret_value" not in str(err.value)
    assert "d2pat_wrong_secret_value" not in repr(client)
    # 401 is not retried
    assert len(api_requests(dhis2_server, "/api/system/info")) == 1


def test_wrong_basic_password_is_401(dhis2_server):
    client = Dhis2Client(dhis2_server.url, username="admin", password="nope", timeout=(2, 5))
    with pytest.raises(Dhis2AuthError):
        client.system_info()


def test_constructor_refuses_ambiguous_or_missing_credentials():
    with pytest.raises(ValueError):
        Dhis2Client("https://dhis2.example.org", token="t", username="u", password="p")
    with pytest.raises(ValueError):
        Dhis2Client("https://dhis2.example.org")
    with pytest.raises(ValueError):
        Dhis2Client("dhis2.example.org", token="t")
    with pytest.raises(ValueError):
        Dhis2Client("https://u:p@dhis2.example.org", token="t")


def test_org_units_are_read_across_all_pages(dhis2_server, dhis2_client):
    units = list(dhis2_client.iter_org_units(page_size=50))
    assert len(units) == 261  # 1 country + 4 regions + 16 districts + 240 facilities
    assert len({u["id"] for u in units}) == 261
    calls = api_requests(dhis2_server, "/api/organisationUnits")
    pages = [int(parse_qs(c["query"])["page"][0]) for c in calls]
    assert pages == [1, 2, 3, 4, 5, 6]
    assert all(parse_qs(c["query"])["pageSize"] == ["50"] for c in calls)
    levels = [u["level"] for u in units]
    assert levels == sorted(levels)
    facility = units[-1]
    assert set(facility) == {"id", "name", "code", "level", "parent", "path"}
    assert facility["parent"] == {"id": facility["path"].split("/")[-2]}


def test_page_size_larger_than_total_is_one_request(dhis2_server, dhis2_client):
    assert len(list(dhis2_client.iter_org_units(page_size=1000))) == 261
    assert len(api_requests(dhis2_server, "/api/organisationUnits")) == 1


def test_user_groups(dhis2_client):
    groups = list(dhis2_client.iter_user_groups(page_size=2))
    assert [g["name"] for g in groups][:2] == ["Pilot CHWs", "Campaign supervisors"]
    assert len(groups) == 5
    assert all(len(g["id"]) == 11 for g in groups)


def test_503_twice_then_success_is_retried(dhis2_server, dhis2_client):
    dhis2_server.set_faults(fail_next=2, fail_status=503)
    assert dhis2_client.system_info()["version"] == "2.40.4"
    statuses = [r["status"] for r in api_requests(dhis2_server, "/api/system/info")]
    assert statuses == [503, 503, 200]


def test_retry_after_is_honoured(dhis2_server, dhis2_client):
    dhis2_server.set_faults(fail_next=1, fail_status=503, retry_after=1)
    started = time.monotonic()
    dhis2_client.system_info()
    assert time.monotonic() - started >= 0.9


def test_persistent_500_gives_server_error_after_bounded_retries(dhis2_server):
    client = dhis2_server.client(retries=2)
    dhis2_server.set_faults(fail_next=10, fail_status=500)
    with pytest.raises(Dhis2ServerError) as err:
        client.system_info()
    assert err.value.status == 500
    assert "3 attempts" in str(err.value)
    assert len(api_requests(dhis2_server, "/api/system/info")) == 3


def test_post_is_not_repeated_after_a_500(dhis2_server, dhis2_client):
    dhis2_server.set_faults(fail_next=1, fail_status=500, method="POST")
    with pytest.raises(Dhis2ServerError):
        dhis2_client.datastore_create("fleet-test", "k", {"a": 1})
    assert len(api_requests(dhis2_server, "/api/dataStore/fleet-test/k")) == 1


def test_post_is_repeated_after_a_503(dhis2_server, dhis2_client):
    dhis2_server.set_faults(fail_next=1, fail_status=503, method="POST")
    dhis2_client.datastore_create("fleet-test", "k", {"a": 1})
    assert dhis2_server.datastore() == {"fleet-test": {"k": {"a": 1}}}


def test_timeout_gives_a_clear_error(dhis2_server):
    client = dhis2_server.client(timeout=(2, 0.5), retries=0)
    dhis2_server.set_faults(delay_next=1, delay_seconds=2)
    started = time.monotonic()
    with pytest.raises(Dhis2Timeout) as err:
        client.system_info()
    assert time.monotonic() - started < 1.9
    assert "did not answer GET /api/system/info within 0.5 s" in str(err.value)


def test_get_timeout_is_retried(dhis2_server):
    client = dhis2_server.client(timeout=(2, 0.5), retries=1)
    dhis2_server.set_faults(delay_next=1, delay_seconds=1.5)
    assert client.system_info()["version"] == "2.40.4"


def test_403_404_409_are_distinct_errors(dhis2_server, dhis2_client):
    dhis2_server.set_faults(forbid_next=1)
    with pytest.raises(Dhis2Forbidden) as err:
        dhis2_client.system_info()
    assert err.value.status == 403

    with pytest.raises(Dhis2NotFound) as err:
        dhis2_client.datastore_update("fleet-test", "missing", {"a": 1})
    assert "not found in namespace 'fleet-test'" in str(err.value)

    dhis2_client.datastore_create("fleet-test", "k", {"a": 1})
    with pytest.raises(Dhis2Conflict) as err:
        dhis2_client.datastore_create("fleet-test", "k", {"a": 2})
    assert "already exists" in err.value.dhis2_message
    assert dhis2_server.datastore() == {"fleet-test": {"k": {"a": 1}}}


def test_datastore_get_keys_put_delete(dhis2_server, dhis2_client):
    assert dhis2_client.datastore_get("fleet-test", "k") is None
    assert dhis2_client.datastore_keys("fleet-test") == []
    assert dhis2_client.datastore_put("fleet-test", "k", {"v": 1}) == "created"
    assert dhis2_client.datastore_put("fleet-test", "k", {"v": 2}) == "updated"
    dhis2_client.datastore_create("fleet-test", "other key/with slash", [1, 2])
    assert dhis2_client.datastore_get("fleet-test", "k") == {"v": 2}
    assert sorted(dhis2_client.datastore_keys("fleet-test")) == ["k", "other key/with slash"]
    assert dhis2_client.datastore_get("fleet-test", "other key/with slash") == [1, 2]
    dhis2_client.datastore_delete("fleet-test", "k")
    assert dhis2_server.datastore() == {"fleet-test": {"other key/with slash": [1, 2]}}


def test_non_json_answer_is_reported(dhis2_server, dhis2_client):
    dhis2_server.set_faults(html_next=1)
    with pytest.raises(Dhis2BadResponse) as err:
        dhis2_client.system_info()
    assert "not JSON" in str(err.value)
    assert "text/html" in str(err.value)


def test_unreachable_server_gives_connection_error_after_retries():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # nothing listens on the port any more
    client = Dhis2Client(
        f"http://127.0.0.1:{port}", token="t", timeout=(1, 1), retries=2, backoff=0.01
    )
    with pytest.raises(Dhis2ConnectionError) as err:
        client.system_info()
    assert "after 3 attempts" in str(err.value)


def test_tls_is_verified_by_default_and_a_ca_bundle_can_be_given(dhis2_tls_server):
    server = dhis2_tls_server
    assert server.url.startswith("https://")
    untrusted = Dhis2Client(server.url, token=server.token, timeout=(2, 5), retries=0)
    with pytest.raises(Dhis2TLSError) as err:
        untrusted.system_info()
    assert "TLS verification failed" in str(err.value)
    trusted = Dhis2Client(server.url, token=server.token, timeout=(2, 5), verify=str(server.tls.ca))
    assert trusted.system_info()["version"] == "2.40.4"
