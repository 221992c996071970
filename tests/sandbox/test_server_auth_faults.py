"""LWA tokens, access-token checks, fault injection and the sandbox-only endpoints."""

from __future__ import annotations

import httpx
import pytest

from sellerops.sandbox.faults import FaultRule, Faults
from sellerops.sandbox.server import ManualClock, ScaledClock, running_server
from tests.sandbox.conftest import ACME, BLUEBIRD, SANDBOX_NOW, Session

ORDER = "/orders/2026-01-01/orders/111-0000001-0000001"
SEARCH = "/orders/2026-01-01/orders"
EXPIRED = {
    "errors": [
        {
            "code": "Unauthorized",
            "message": "Access to requested resource is denied.",
            "details": "The access token you provided has expired.",
        }
    ]
}


def lwa(sandbox, **form):
    data = {
        "grant_type": "refresh_token",
        "refresh_token": "Atzr|acme-outdoor|x",
        "client_id": "id",
        "client_secret": "s",
    }
    data.update(form)
    return sandbox.http.post(
        "/auth/o2/token", data={k: v for k, v in data.items() if v is not None}
    )


def test_lwa_token_exchange(sandbox):
    response = lwa(sandbox)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert body["access_token"].startswith("Atza|")
    assert body["refresh_token"] == "Atzr|acme-outdoor|x"
    assert body["token_type"] == "bearer" and body["expires_in"] == 3600


@pytest.mark.parametrize(
    "form, status, error",
    [
        ({"refresh_token": "not-a-refresh-token"}, 400, "invalid_grant"),
        ({"refresh_token": None}, 400, "invalid_request"),
        ({"client_secret": None}, 401, "invalid_client"),
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
    ],
)
def test_lwa_errors(sandbox, form, status, error):
    response = lwa(sandbox, **form)
    assert response.status_code == status
    assert response.json()["error"] == error and response.json()["error_description"]


def test_allowed_refresh_tokens(small_world, clock):
    allowed = {"Atzr|bluebird-home|only"}
    with (
        running_server(small_world, clock=clock, allowed_refresh_tokens=allowed) as url,
        httpx.Client(base_url=url) as http,
    ):
        base = {"grant_type": "refresh_token", "client_id": "id", "client_secret": "s"}
        refused = http.post("/auth/o2/token", data={**base, "refresh_token": "Atzr|acme-outdoor|x"})
        assert refused.status_code == 400
        assert refused.json() == {
            "error_description": "The request has an invalid grant parameter : refresh_token",
            "error": "invalid_grant",
        }
        assert (
            http.post(
                "/auth/o2/token", data={**base, "refresh_token": "Atzr|bluebird-home|only"}
            ).status_code
            == 200
        )


def test_refresh_token_selects_the_account(sandbox):
    bluebird = lwa(sandbox, refresh_token="Atzr|bluebird-home|whatever").json()["access_token"]
    assert (
        sandbox.get("/orders/2026-01-01/orders/112-0000009-0000009", token=bluebird).status_code
        == 200
    )
    assert sandbox.get(ORDER, token=bluebird).status_code == 404
    default = lwa(sandbox, refresh_token="Atzr|someone-else").json()["access_token"]
    assert sandbox.get(ORDER, token=default).status_code == 200  # the World's first account


def test_missing_and_unknown_access_tokens(sandbox):
    missing = sandbox.http.get(ORDER)
    assert missing.status_code == 403
    assert (
        missing.json()["errors"][0]["details"] == "Access token is missing in the request header."
    )
    unknown = sandbox.get(ORDER, token="Atza|nope")
    assert unknown.status_code == 403
    assert unknown.json()["errors"][0]["code"] == "Unauthorized"
    assert "revoked, malformed or invalid" in unknown.json()["errors"][0]["details"]


def test_access_tokens_expire_after_an_hour_of_sandbox_time(sandbox):
    assert sandbox.get(ORDER).status_code == 200
    sandbox.clock.advance(3599)
    assert sandbox.get(ORDER).status_code == 200
    sandbox.clock.advance(1)
    expired = sandbox.get(ORDER)
    assert expired.status_code == 403 and expired.json() == EXPIRED
    sandbox.forget_tokens()
    assert sandbox.get(ORDER).status_code == 200


def test_time_scale_shortens_token_lifetime(small_world):
    fake = {"t": 0.0}
    clock = ScaledClock(SANDBOX_NOW, time_scale=3600, monotonic=lambda: fake["t"])
    with running_server(small_world, clock=clock, time_scale=3600) as url:
        session = Session(url, clock)
        assert session.get(ORDER).status_code == 200
        fake["t"] = 1.0  # one real second = one sandbox hour
        assert session.get(ORDER).json() == EXPIRED
        session.http.close()


def test_expired_token_fault_is_recovered_with_a_new_token(sandbox):
    sandbox.state.faults.add(FaultRule("expired_token", operation="getOrder", count=1))
    assert sandbox.get(ORDER).json() == EXPIRED
    assert sandbox.get(ORDER).json() == EXPIRED  # the same token stays expired
    sandbox.forget_tokens()
    assert sandbox.get(ORDER).status_code == 200


def test_server_errors_for_the_next_n_calls_of_one_operation(sandbox):
    sandbox.state.faults.add(
        FaultRule("server_error", operation="searchOrders", count=2, status=503)
    )
    params = {"createdAfter": "2026-01-01T00:00:00Z"}
    assert sandbox.get(ORDER).status_code == 200  # other operations unaffected
    first = sandbox.get(SEARCH, params=params)
    assert first.status_code == 503 and first.json()["errors"][0]["code"] == "ServiceUnavailable"
    assert sandbox.get(SEARCH, params=params).status_code == 503
    assert sandbox.get(SEARCH, params=params).status_code == 200


def _pattern(small_world, seed):
    clock = ManualClock(SANDBOX_NOW)
    faults = {
        "seed": seed,
        "rules": [{"kind": "server_error", "operation": "getOrder", "probability": 0.5}],
    }
    with running_server(small_world, clock=clock, faults=faults) as url:
        session = Session(url, clock)
        codes = [session.get(ORDER).status_code for _ in range(12)]
        session.http.close()
    return codes


def test_probabilistic_server_errors_are_reproducible(small_world):
    first = _pattern(small_world, seed=7)
    assert set(first) == {200, 500}
    assert _pattern(small_world, seed=7) == first


def test_throttling_storm_ignores_the_bucket(sandbox):
    sandbox.state.faults.add(FaultRule("throttle", count=3))
    statuses = [sandbox.get(ORDER).status_code for _ in range(4)]
    assert statuses == [429, 429, 429, 200]
    assert sandbox.state.limiter.tokens(ACME, "getOrder") == pytest.approx(
        29
    )  # storm calls not charged


def test_timeout_fault(sandbox):
    sandbox.state.faults.add(FaultRule("timeout", operation="getOrder", count=1, delay=1.0))
    with pytest.raises(httpx.ReadTimeout):
        sandbox.get(ORDER, timeout=0.3)
    assert sandbox.get(ORDER).status_code == 200


def test_faults_endpoint(sandbox):
    config = {"seed": 3, "rules": [{"kind": "server_error", "operation": "getOrder", "count": 1}]}
    posted = sandbox.http.post("/sandbox/faults", json=config)
    assert posted.status_code == 200
    assert posted.json()["rules"][0]["remaining"] == 1
    assert sandbox.get(ORDER).status_code == 500
    snapshot = sandbox.http.get("/sandbox/faults").json()
    assert snapshot["seed"] == 3 and snapshot["rules"][0]["remaining"] == 0
    sandbox.http.post("/sandbox/faults", json={"rules": [{"kind": "throttle"}]})
    assert sandbox.get(ORDER).status_code == 429
    assert sandbox.http.delete("/sandbox/faults").json()["rules"] == []
    assert sandbox.get(ORDER).status_code == 200
    bad = sandbox.http.post("/sandbox/faults", json={"rules": [{"kind": "gremlins"}]})
    assert bad.status_code == 400
    replaced = sandbox.http.post(
        "/sandbox/faults", json={"replace": True, "rules": [{"kind": "expired_token", "count": 2}]}
    )
    assert [r["kind"] for r in replaced.json()["rules"]] == ["expired_token"]


def test_fault_config_validation():
    with pytest.raises(ValueError):
        FaultRule("server_error", status=502)
    with pytest.raises(ValueError):
        FaultRule("timeout", probability=2)
    with pytest.raises(ValueError):
        Faults.from_config({"rules": [{"kind": "throttle", "colour": "red"}]})
    faults = Faults.from_config([{"kind": "throttle", "count": 1, "operation": "getOrder"}])
    assert faults.take("throttle", "searchOrders") is None
    assert faults.take("throttle", "getOrder") is not None
    assert faults.take("throttle", "getOrder") is None


def test_sandbox_time_in_date_header_and_clock_endpoint(sandbox):
    response = sandbox.get(ORDER)
    assert response.headers["date"] == "Sun, 01 Mar 2026 00:02:00 GMT"
    assert sandbox.http.get("/sandbox/clock").json() == {
        "now": "2026-03-01T00:02:00Z",
        "timeScale": 1.0,
    }
    advanced = sandbox.http.post("/sandbox/clock", json={"advanceSeconds": 60}).json()
    assert advanced["now"] == "2026-03-01T00:03:00Z"


def test_unknown_paths_answer_with_an_errors_body(sandbox):
    response = sandbox.get("/orders/v0/orders")
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "NotFound"


def test_grantless_tokens_cannot_read_seller_data(sandbox):
    token = sandbox.http.post(
        "/auth/o2/token",
        data={
            "grant_type": "client_credentials",
            "scope": "sellingpartnerapi::notifications",
            "client_id": "i",
            "client_secret": "s",
        },
    ).json()["access_token"]
    assert sandbox.get(ORDER, token=token).status_code == 403


def test_accounts_have_separate_buckets_and_data(sandbox):
    assert (
        sandbox.get("/orders/2026-01-01/orders/112-0000009-0000009", account=BLUEBIRD).status_code
        == 200
    )
    assert sandbox.state.limiter.tokens(ACME, "getOrder") == pytest.approx(30)
