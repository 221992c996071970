"""Token buckets, usage plans parsed from the models, and 429s from the server."""

from __future__ import annotations

import json

import pytest

from sellerops.sandbox.ratelimit import (
    MODEL_FILES,
    USAGE_PLAN_SNAPSHOT,
    RateLimiter,
    TokenBucket,
    UsagePlan,
    load_usage_plans,
    models_dir,
    parse_usage_plan,
    parse_usage_plans,
)
from sellerops.sandbox.server import running_server
from tests.sandbox.conftest import ACME, BLUEBIRD, US


class FakeTime:
    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_bucket_starts_full_and_drains_to_burst():
    bucket = TokenBucket(rate=0.5, burst=3, now=0.0)
    assert [bucket.try_take(0.0) for _ in range(4)] == [True, True, True, False]


def test_bucket_refills_at_rate_and_caps_at_burst():
    bucket = TokenBucket(rate=0.5, burst=3, now=0.0)
    for _ in range(3):
        assert bucket.try_take(0.0)
    assert not bucket.try_take(1.9)  # 0.95 tokens
    assert bucket.try_take(2.0)  # exactly one token after 1/rate seconds
    assert not bucket.try_take(2.0)
    assert bucket.seconds_until_available(2.0) == pytest.approx(2.0)
    assert bucket.tokens(1000.0) == 3  # capped at burst


def test_bucket_ignores_time_going_backwards():
    bucket = TokenBucket(rate=1, burst=1, now=10.0)
    assert bucket.try_take(10.0)
    assert not bucket.try_take(5.0)
    assert bucket.try_take(11.0)


def test_bucket_rejects_bad_plans():
    with pytest.raises(ValueError):
        TokenBucket(rate=0, burst=1, now=0)
    with pytest.raises(ValueError):
        TokenBucket(rate=1, burst=0, now=0)


def test_rate_limiter_keys_by_account_and_operation_with_injected_clock():
    clock = FakeTime()
    limiter = RateLimiter(
        {"getOrder": UsagePlan(0.5, 2), "searchOrders": UsagePlan(0.0056, 1)}, clock
    )
    assert limiter.try_acquire(ACME, "getOrder")
    assert limiter.try_acquire(ACME, "getOrder")
    assert not limiter.try_acquire(ACME, "getOrder")
    assert limiter.try_acquire(BLUEBIRD, "getOrder")  # another seller has its own bucket
    assert limiter.try_acquire(ACME, "searchOrders")  # another operation too
    assert not limiter.try_acquire(ACME, "searchOrders")
    clock.now += 2.0
    assert limiter.try_acquire(ACME, "getOrder")
    clock.now += 1 / 0.0056
    assert limiter.try_acquire(ACME, "searchOrders")
    assert limiter.plan("unknownOperation") == UsagePlan(1.0, 5)


def test_usage_plan_table_parsing():
    text = "Returns orders.\n\n**Usage Plan:**\n\n| Rate (requests per second) | Burst |\n| ---- | ---- |\n| 0.0056 | 20 |\n\nMore."
    assert parse_usage_plan(text) == UsagePlan(0.0056, 20)
    assert parse_usage_plan("no table here") is None
    assert UsagePlan(0.0056, 20).header() == "0.0056"
    assert UsagePlan(0.0056, 20).header(100) == "0.56"


def test_snapshot_matches_the_official_models():
    directory = models_dir()
    if not (directory / MODEL_FILES[0]).exists():
        pytest.skip(f"SP-API models not found in {directory}")
    parsed = {}
    for name in MODEL_FILES:
        parsed.update(parse_usage_plans(json.loads((directory / name).read_text(encoding="utf-8"))))
    assert parsed == USAGE_PLAN_SNAPSHOT
    plans = load_usage_plans(directory)
    assert plans["searchOrders"] == UsagePlan(0.0056, 20)
    assert plans["getReport"] == UsagePlan(2.0, 15)
    assert plans["sendInvoice"] == UsagePlan(1.0, 5)  # undocumented: Messaging's plan


def test_load_usage_plans_falls_back_to_snapshot(tmp_path):
    assert load_usage_plans(tmp_path)["createReport"] == UsagePlan(0.0167, 15)


def test_server_throttles_after_burst_and_refills_with_the_clock(sandbox):
    path = "/solicitations/v1/orders/111-0000001-0000001"
    params = {"marketplaceIds": US}
    statuses = [sandbox.get(path, params=params).status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]
    throttled = sandbox.get(path, params=params)
    assert throttled.status_code == 429
    assert throttled.json() == {
        "errors": [
            {
                "code": "QuotaExceeded",
                "message": "You exceeded your quota for the requested resource.",
                "details": "",
            }
        ]
    }
    assert throttled.headers["x-amzn-RateLimit-Limit"] == "1"
    # the other seller is not affected
    assert (
        sandbox.get(
            "/solicitations/v1/orders/112-0000009-0000009", params=params, account=BLUEBIRD
        ).status_code
        == 200
    )
    sandbox.clock.advance(1.0)  # rate 1/s: one more call
    assert sandbox.get(path, params=params).status_code == 200
    assert sandbox.get(path, params=params).status_code == 429


def test_rate_limit_header_on_success_scaled_by_time_scale(small_world, clock):
    with running_server(small_world, clock=clock, time_scale=60) as url:
        from tests.sandbox.conftest import Session

        session = Session(url, clock)
        response = session.get("/orders/2026-01-01/orders/111-0000001-0000001")
        assert response.status_code == 200
        assert response.headers["x-amzn-RateLimit-Limit"] == "30"  # 0.5/s x 60
        assert response.headers["x-amzn-RequestId"]
        session.http.close()


def test_search_orders_burst_is_20(sandbox):
    params = {"createdAfter": "2026-01-01T00:00:00Z", "maxResultsPerPage": 1}
    statuses = [
        sandbox.get("/orders/2026-01-01/orders", params=params).status_code for _ in range(21)
    ]
    assert statuses.count(200) == 20 and statuses[-1] == 429
    sandbox.clock.advance(1 / 0.0056)
    assert sandbox.get("/orders/2026-01-01/orders", params=params).status_code == 200
