"""Quota pacing and retries around python-amazon-sp-api calls, with an injected clock."""

from __future__ import annotations

import pytest
from sp_api.base.exceptions import (
    SellingApiBadRequestException,
    SellingApiRequestThrottledException,
    SellingApiServerException,
)

from sellerops.sources.spapi import SpApiCredentials, SpApiSession, TokenBucket


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def test_token_bucket_burst_then_rate():
    clock = FakeClock()
    bucket = TokenBucket(rate=0.5, burst=3, clock=clock)
    assert [bucket.reserve() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.reserve() == pytest.approx(2.0)  # one token every 2 s
    clock.now += 2.0
    assert bucket.reserve() == pytest.approx(2.0)  # the next one is already promised


def test_refill_counts_from_the_first_response_not_from_the_send():
    """The first call of a burst may reach Amazon late (it fetches the access token).

    Amazon's bucket refills from the arrival, so ours must not credit the time before
    the response: with a 1 s delay on the first call, crediting it would send the
    fourth call at t=2, when Amazon holds half a token (a 429).
    """
    clock = FakeClock()
    bucket = TokenBucket(rate=0.5, burst=3, clock=clock)
    assert bucket.reserve() == 0.0
    clock.now = 1.0  # the first response
    bucket.settle()
    assert [bucket.reserve() for _ in range(2)] == [0.0, 0.0]
    bucket.settle()  # later responses move nothing
    assert bucket.reserve() == pytest.approx(2.0)  # t=3, not t=2


def test_no_429_against_a_server_bucket_when_the_first_call_arrives_late():
    """Pacing against the sandbox's own bucket (a separate implementation of the plan)."""
    from sp_api.base.exceptions import SellingApiRequestThrottledException as Throttled

    from sellerops.sandbox.ratelimit import TokenBucket as ServerBucket

    clock = FakeClock()
    session = _session(clock)
    rate, burst = 0.0056, 20  # searchOrders' documented plan
    server = None
    arrivals, throttled = [], 0

    def search_orders():
        nonlocal server, throttled
        # the first call fetches an access token for 3 s before the request leaves
        clock.now += 3.0 if not arrivals else 0.2
        arrivals.append(clock.now)
        if server is None:
            server = ServerBucket(rate, burst, now=clock.now)
        if not server.try_take(clock.now):
            throttled += 1
            raise Throttled([{"code": "QuotaExceeded", "message": "q"}], {})
        return object()

    for _ in range(burst + 40):
        session.call("searchOrders", search_orders)
    assert throttled == 0
    # and the pacing loses at most the first call's delay against the quota bound
    bound = 40 / rate
    assert arrivals[-1] - arrivals[0] <= bound + 3.0 + 40 * 0.2 + 1e-6


def _session(clock, **kw):
    creds = SpApiCredentials("id", "secret", "Atzr|x")
    session = SpApiSession("acme", creds, sleep=clock.sleep, clock=clock, seed=1, **kw)
    return session


class Response:
    headers = {"x-amzn-RateLimit-Limit": "2.0"}


def test_retries_throttling_and_server_errors_then_succeeds():
    clock = FakeClock()
    session = _session(clock)
    failures = [
        SellingApiRequestThrottledException([{"code": "QuotaExceeded", "message": "q"}], {}),
        SellingApiServerException([{"code": "InternalFailure", "message": "x"}], {}),
    ]

    def call():
        if failures:
            raise failures.pop(0)
        return Response()

    assert isinstance(session.call("getOrder", call), Response)
    stats = session.stats["getOrder"]
    assert (stats.calls, stats.throttled, stats.retried) == (3, 1, 2)
    # Equal-jitter back-off: attempt 1 waits 1..2 s, attempt 2 waits 2..4 s.
    assert 3.0 <= clock.now <= 6.0
    assert session.bucket("getOrder").rate == 2.0  # corrected by the header


def test_client_errors_are_not_retried():
    clock = FakeClock()
    session = _session(clock)

    def call():
        raise SellingApiBadRequestException([{"code": "InvalidInput", "message": "bad"}], {})

    with pytest.raises(SellingApiBadRequestException):
        session.call("getOrder", call)
    assert session.stats["getOrder"].calls == 1


def test_gives_up_loudly_after_max_attempts():
    clock = FakeClock()
    session = _session(clock, max_attempts=3)

    def call():
        raise SellingApiServerException([{"code": "InternalFailure", "message": "down"}], {})

    with pytest.raises(RuntimeError, match="getOrder failed after 3 attempts"):
        session.call("getOrder", call)


def test_pacing_waits_for_the_documented_rate():
    clock = FakeClock()
    session = _session(clock)
    for _ in range(30 + 2):  # getOrder: burst 30, then 0.5 per second
        session.call("getOrder", lambda: object())
    assert clock.now == pytest.approx(4.0)


def test_client_debug_dumps_never_reach_the_logs(caplog):
    """python-amazon-sp-api logs responses (buyer PII) and headers (access token) at DEBUG."""
    import logging

    import sellerops.sources.spapi  # noqa: F401 - installs the filter

    client_log = logging.getLogger("sp_api.base.client")
    old = client_log.level
    client_log.setLevel(logging.DEBUG)
    try:
        with caplog.at_level(logging.DEBUG):
            client_log.debug("Response: %s", {"buyerEmail": "someone@marketplace.amazon.com"})
            client_log.debug("Request Headers: %s", {"x-amz-access-token": "Atza|secret"})
            client_log.warning("throttled")
    finally:
        client_log.setLevel(old)
    text = caplog.text
    assert "someone@" not in text and "Atza|" not in text
    assert [r.getMessage() for r in caplog.records if r.name == "sp_api.base.client"] == [
        "throttled"
    ]
