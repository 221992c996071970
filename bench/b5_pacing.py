"""B5: extraction pacing against the sandbox's real quota shapes, time-scaled.

The sandbox serves a World whose busiest partition needs ``burst`` +
``pages_after_burst`` ``searchOrders`` pages (100 orders each) for one window.
``extract_orders`` reads the window through the library's ``SpApiSession``
(token bucket seeded with Amazon's documented plan: burst 20, 0.0056 req/s;
both the sandbox and the session run ``time_scale`` times faster). Every
attempt is recorded (start, end, outcome) by wrapping the function the session
calls, so nothing in the library changes.

quota-bound minimum time = (pages - burst) / (rate x time_scale): the burst is
free, every later page waits for a token. Figure: achieved throughput over the
quota-bound throughput = bound / (first attempt start .. last page received).
Also: the share of requests after the first ``burst`` that were answered 429.

The access-token cache of python-amazon-sp-api is fixed at 3200 s real time
(``SP_API_AUTH_CACHE_TTL``), while the sandbox's tokens live 3600 s of
*sandbox* time; at ``time_scale`` 60 they would expire every minute and every
expiry costs a wasted (403) attempt that a real run, whose cache renews before
expiry, never makes. So the cache TTL is scaled the same way (3200 / scale).
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pandas as pd

from bench.common import Result, Sizes, at_least, at_most, machine, rnd

WHAT = "searchOrders pacing vs the quota-bound throughput (sandbox, time-scaled)"
WHAT_429 = "searchOrders requests answered 429 after the first burst"
TARGET = ">= 0.9x"
TARGET_429 = "<= 1%"
OPERATION = "searchOrders"
PAGE_SIZE = 100


@dataclass
class Attempt:
    started: float
    ended: float
    outcome: str  # ok | 429 | error type


def _session_class():
    from sp_api.base import exceptions as spx

    from sellerops.sources.spapi import SpApiSession

    class RecordingSession(SpApiSession):
        """An SpApiSession that records every attempt of every call."""

        attempts: list[Attempt]

        def call(self, operation, fn, *args, **kwargs):
            log = self.attempts

            def recorded(*a, **k):
                started = time.perf_counter()
                try:
                    value = fn(*a, **k)
                except spx.SellingApiRequestThrottledException:
                    log.append(Attempt(started, time.perf_counter(), "429"))
                    raise
                except Exception as exc:
                    log.append(Attempt(started, time.perf_counter(), type(exc).__name__))
                    raise
                log.append(Attempt(started, time.perf_counter(), "ok"))
                return value

            if operation != OPERATION:
                return super().call(operation, fn, *args, **kwargs)
            return super().call(operation, recorded, *args, **kwargs)

    return RecordingSession


def run(sizes: Sizes) -> list[Result]:
    scale = sizes.b5_time_scale
    # Before python-amazon-sp-api is imported: it reads the TTL once.
    os.environ["SP_API_AUTH_CACHE_TTL"] = str(max(1, int(3200 / scale)))
    from sellerops.sandbox.generator import DEFAULT_ACCOUNTS, GeneratorConfig, generate
    from sellerops.sandbox.service import sandbox_environment, spapi_conn_id
    from sellerops.sources.orders import extract_orders
    from sellerops.sources.spapi import USAGE_PLANS, SpApiCredentials

    rate, burst = USAGE_PLANS[OPERATION]
    pages_wanted = burst + sizes.b5_pages_after_burst
    days = 20
    account = DEFAULT_ACCOUNTS[0]
    world = generate(
        GeneratorConfig(
            seed=11,
            days=days,
            orders_per_day=pages_wanted * PAGE_SIZE / days * 1.3,
            accounts=(account,),
        )
    )
    marketplace_id = account.marketplace_ids[0]
    orders = world.orders[world.orders["marketplace_id"] == marketplace_id]
    updated = orders["last_updated_time"].sort_values().reset_index(drop=True)
    if len(updated) < pages_wanted * PAGE_SIZE:
        raise RuntimeError(f"the world has {len(updated)} orders, fewer than {pages_wanted} pages")
    start = world.start
    # The window ends just after the (pages_wanted * 100)-th update: exactly that many pages.
    end = (
        updated.iloc[pages_wanted * PAGE_SIZE - 1] + pd.Timedelta(microseconds=1)
    ).to_pydatetime()
    expected = int(((updated >= pd.Timestamp(start)) & (updated < pd.Timestamp(end))).sum())

    RecordingSession = _session_class()
    with (
        tempfile.TemporaryDirectory(prefix="sellerops-bench-b5-") as workdir,
        sandbox_environment(Path(workdir), world=world, time_scale=scale),
    ):
        credentials = SpApiCredentials.from_connection(spapi_conn_id(account.account_id))
        session = RecordingSession(account.account_id, credentials)
        session.attempts = []
        started = time.perf_counter()
        frame, items = extract_orders(
            session, account.account_id, marketplace_id, start, end, b"bench-pepper"
        )
        extract_seconds = time.perf_counter() - started

    attempts = session.attempts
    ok = [a for a in attempts if a.outcome == "ok"]
    pages = len(ok)
    elapsed = ok[-1].ended - attempts[0].started
    bound = max(pages - burst, 0) / (rate * scale)
    ratio = bound / elapsed if elapsed > 0 else float("nan")
    after = attempts[burst:]
    throttled_after = sum(1 for a in after if a.outcome == "429")
    share = throttled_after / len(after) if after else 0.0
    stats = session.stats.get(OPERATION)
    gaps = [b.started - a.started for a, b in zip(ok[burst:], ok[burst + 1 :], strict=False)]
    detail = {
        "time_scale": scale,
        "usage_plan": {"rate_per_s": rate, "burst": burst, "scaled_rate_per_s": rate * scale},
        "partition": f"{account.account_id} / {marketplace_id}",
        "window": [start.isoformat(), end.isoformat()],
        "orders_expected": expected,
        "orders_extracted": len(frame),
        "order_items_extracted": len(items),
        "pages": pages,
        "attempts": len(attempts),
        "outcomes": pd.Series([a.outcome for a in attempts]).value_counts().to_dict(),
        "bound_seconds": rnd(bound, 2),
        "paging_seconds": rnd(elapsed, 2),
        "burst_seconds": rnd(ok[min(burst, pages) - 1].ended - attempts[0].started, 2),
        "extract_seconds_total": rnd(extract_seconds, 2),
        "flatten_seconds": rnd(extract_seconds - elapsed, 2),
        "mean_request_seconds": rnd(sum(a.ended - a.started for a in ok) / max(pages, 1), 4),
        "interval_after_burst": {
            "expected": rnd(1 / (rate * scale), 3),
            "mean": rnd(sum(gaps) / len(gaps), 3) if gaps else None,
            "max": rnd(max(gaps), 3) if gaps else None,
        },
        "session_stats": vars(stats) if stats else None,
        "requests_after_burst": len(after),
        "throttled_attempt_numbers": [i + 1 for i, a in enumerate(attempts) if a.outcome == "429"],
        "throttled_after_burst": throttled_after,
        "sp_api_auth_cache_ttl_s": int(os.environ["SP_API_AUTH_CACHE_TTL"]),
        "token_lifetime_note": "access tokens live 3600 s of sandbox time; the client cache "
        "TTL is scaled likewise (see bench/b5_pacing.py)",
        "sandbox_end_offset": str(timedelta(minutes=2)),
        **machine(),
    }
    if len(frame) != expected:
        detail["problem"] = f"extracted {len(frame)} orders, the window holds {expected}"
    return [
        Result("B5", WHAT, rnd(ratio, 3), "x", TARGET, at_least(ratio, 0.9), detail),
        Result("B5", WHAT_429, rnd(100 * share, 2), "%", TARGET_429, at_most(share, 0.01),
               {"see": "first B5 row's detail"}),
    ]  # fmt: skip
