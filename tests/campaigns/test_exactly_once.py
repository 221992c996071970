"""Exactly once against the sandbox: reruns, retries under faults, a killed worker.

A 60-day generated World (2 accounts x 2 marketplaces) is written into the warehouse's
core tables and served by the sandbox SP-API. A review request campaign then runs
"daily" for 12 days (the sandbox clock is moved a day between runs) on DuckDB and on
PostgreSQL, under injected 500s, 503s, throttling and timeouts, and after a worker
killed (``os._exit``) between Amazon's acceptance and the settle. Whatever happened:

* the sandbox's server-side record of solicitations (``GET /sandbox/sends``) has at
  most one per order, and exactly as many as the outbox has ``sent`` rows;
* every one of them was accepted 5 to 30 days after the order's real delivery;
* no excluded or held-out order was ever sent anything.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
import sqlalchemy as sa
import yaml

from sellerops.accounts import load_accounts
from sellerops.campaigns import definitions as defs
from sellerops.campaigns.sender import CRASH_ENV, CRASH_EXIT_CODE, in_send_window, send_campaigns
from sellerops.sandbox import server as sandbox_server
from sellerops.sandbox.client import clear_token_cache
from sellerops.sandbox.service import make_world, sandbox_environment
from sellerops.sources.spapi import SpApiCredentials, SpApiSession

END = date(2026, 3, 1)
CREATE = "createProductReviewAndSellerFeedbackSolicitation"
GET_ACTIONS = "getSolicitationActionsForOrder"
ALL_DAY = {"start": "00:00", "end": "23:59:59"}

REVIEW = {
    "name": "review_7d",
    "live": True,
    "channel": "amazon_review_request",
    "purpose": "review_request",
    "trigger": {"event": "delivery", "days": 7, "send_window": ALL_DAY},
    "audience": {"exclude_tags": ["low_marketing_value"]},
    "holdout": 0.1,
}
MESSAGE = {
    "name": "delivery_details",
    "live": True,
    "channel": "amazon_message",
    "purpose": "delivery_coordination",
    "trigger": {"event": "shipment", "days": 1, "send_window": ALL_DAY},
    "audience": {"fulfillment_channels": ["MFN"]},
    "message": {
        "type": "confirmDeliveryDetails",
        "text": "Your order {order_id} is on its way. Does the carrier need a gate code?",
    },
    "limits": {"give_up_after_days": 10},
}


# -- the scenario: a generated World in the warehouse ------------------------------------------------


def load_world(wh, world) -> None:
    """Write a generated World into core tables the way the ingest leaves them (buyer keys
    are ``buyer-<id>``; ship times only for shipped MFN orders, as the Orders API gives)."""

    def ts(value):
        return None if value is None or value != value else value.to_pydatetime()

    orders = []
    for o in world.orders.itertuples(index=False):
        mfn_shipped = o.fulfillment_channel == "MFN" and o.order_status == "SHIPPED"
        orders.append(
            {
                "account_id": o.account_id,
                "marketplace_id": o.marketplace_id,
                "order_id": o.order_id,
                "purchase_time": ts(o.purchase_time),
                "last_updated_time": ts(o.last_updated_time),
                "order_status": o.order_status,
                "fulfillment_channel": o.fulfillment_channel,
                "sales_channel": o.sales_channel,
                "is_business_order": bool(o.is_business_order),
                "buyer_key": f"buyer-{o.buyer_id}",
                "identity_source": "buyer_email",
                "ship_city": o.ship_city,
                "ship_state": o.ship_state,
                "ship_postal_code": o.ship_postal_code,
                "ship_country": o.ship_country,
                "ship_time": ts(o.ship_time) if mfn_shipped else None,
                "latest_delivery_time": ts(o.latest_delivery_time),
                "currency": o.currency,
                "source": "orders_api",
            }
        )
    items = [
        {
            "account_id": i.account_id,
            "marketplace_id": i.marketplace_id,
            "order_id": i.order_id,
            "sku": i.sku,
            "asin": i.asin,
            "quantity": int(i.quantity),
            "item_price": float(i.item_price),
            "currency": i.currency,
            "last_updated_time": datetime(2026, 1, 1, tzinfo=UTC),
            "source": "orders_api",
        }
        for i in world.order_items.drop_duplicates(["account_id", "order_id", "sku"]).itertuples(
            index=False
        )
    ]
    returns = [
        {
            "account_id": r.account_id,
            "marketplace_id": r.marketplace_id,
            "return_key": r.return_id,
            "order_id": r.order_id,
            "sku": r.sku,
            "asin": r.asin,
            "quantity": int(r.quantity),
            "return_time": ts(r.return_time),
            "fulfillment_channel": r.fulfillment_channel,
            "source": "report",
        }
        for r in world.returns.itertuples(index=False)
    ]
    refunds = [
        {
            "account_id": r.account_id,
            "marketplace_id": r.marketplace_id,
            "adjustment_id": r.adjustment_id,
            "order_id": r.order_id,
            "amount": float(r.amount),
            "currency": r.currency,
            "posted_time": ts(r.posted_time),
            "source": "finances_api",
        }
        for r in world.refunds.itertuples(index=False)
    ]
    feedback = [
        {
            "account_id": f.account_id,
            "marketplace_id": f.marketplace_id,
            "order_id": f.order_id,
            "feedback_date": f.feedback_time.date(),
            "rating": int(f.rating),
            "has_response": False,
            "source": "report",
        }
        for f in world.feedback.drop_duplicates(["account_id", "order_id"]).itertuples(index=False)
    ]
    loaded = datetime(2026, 3, 1, 1, tzinfo=UTC)
    with wh.begin() as conn:
        for table, rows in (
            ("core.orders", orders),
            ("core.order_items", items),
            ("core.returns", returns),
            ("core.refunds", refunds),
            ("core.feedback", feedback),
        ):
            if not rows:
                continue
            columns = sorted({c for r in rows for c in r} | {"batch_id", "loaded_at"})
            conn.execute(
                sa.text(
                    f"INSERT INTO {table} ({', '.join(columns)}) VALUES "  # noqa: S608
                    f"({', '.join(':' + c for c in columns)})"
                ),
                [
                    {c: r.get(c) for c in columns} | {"batch_id": "world", "loaded_at": loaded}
                    for r in rows
                ],
            )


def tag_low_marketing_value(wh, world) -> set[str]:
    """Tag buyers with 1-2 star feedback (as include/tags.yaml would); return their keys."""
    bad = world.feedback[world.feedback.rating <= 2].merge(
        world.orders[["order_id", "buyer_id", "account_id", "marketplace_id"]],
        on=["order_id", "account_id", "marketplace_id"],
    )
    rows = [
        {
            "a": r.account_id,
            "m": r.marketplace_id,
            "b": f"buyer-{r.buyer_id}",
            "t": datetime(2026, 1, 1, tzinfo=UTC),
        }
        for r in bad.drop_duplicates(["account_id", "marketplace_id", "buyer_id"]).itertuples()
    ]
    if rows:
        with wh.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO marts.buyer_tags (account_id, marketplace_id, buyer_key, tag, source, "
                    "rule_version, valid_from) VALUES (:a, :m, :b, 'low_marketing_value', 'rule', 'v1', :t)"
                ),
                rows,
            )
    return {r["b"] for r in rows}


class SteerableClock(sandbox_server.ScaledClock):
    """The sandbox's scaled clock, plus jumps (``POST /sandbox/clock``)."""

    def advance(self, seconds: float = 0.0, **delta: float) -> datetime:
        self.start += timedelta(seconds=seconds, **delta)
        return self()


@pytest.fixture(scope="module")
def world():
    return make_world(seed=11, days=60, orders_per_day=5, end_date=END)


@pytest.fixture
def sandbox(tmp_path, world, monkeypatch, any_warehouse):
    monkeypatch.setattr(sandbox_server, "ScaledClock", SteerableClock)
    clear_token_cache()
    load_world(any_warehouse, world)
    with sandbox_environment(tmp_path / "sandbox", world=world, time_scale=60) as env:
        env.http = httpx.Client(base_url=env.base_url, timeout=30)
        env.wh = any_warehouse
        env.accounts = load_accounts(env.accounts_file)
        yield env
        env.http.close()
    clear_token_cache()


def write_campaigns(path, *campaigns) -> str:
    path.write_text(yaml.safe_dump({"version": 1, "campaigns": list(campaigns)}), encoding="utf-8")
    return str(path)


def faults(env, rules, replace=True):
    env.http.post(
        "/sandbox/faults", json={"seed": 5, "rules": rules, "replace": replace}
    ).raise_for_status()


def advance_days(env, days: float) -> None:
    env.http.post("/sandbox/clock", json={"advanceSeconds": days * 86400}).raise_for_status()


def server_sends(env, action: str = "productReviewAndSellerFeedback") -> list[dict]:
    return [s for s in env.http.get("/sandbox/sends").json()["sends"] if s["action"] == action]


def outbox(wh, campaign: str) -> dict[str, dict]:
    with wh.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT order_id, status, reason, arm, confirmed, posts, detail FROM ops.campaign_sends "
                "WHERE campaign = :c"
            ),
            {"c": campaign},
        ).fetchall()
    return {r[0]: dict(r._mapping) for r in rows}


class Spy:
    """SpApiSessions that count every send call per order (the POSTs), with short timeouts."""

    def __init__(self, timeout: float = 30.0):
        self.posts: Counter = Counter()
        self.timeout = timeout

    def __call__(self, account):
        session = SpApiSession(
            account.account_id,
            SpApiCredentials.from_connection(account.spapi_conn_id),
            timeout=self.timeout,
            base_delay=0.2,
        )
        real = session.call
        spy = self

        def call(operation, fn, *args, **kwargs):
            if operation.startswith("create") or operation.startswith("Create"):
                spy.posts[args[0]] += 1
            return real(operation, fn, *args, **kwargs)

        session.call = call
        return session


def _crash_worker(url: str, campaigns_file: str, accounts_file: str, as_of: str) -> None:
    """The send step in a fresh process; CRASH_ENV makes it exit right after Amazon accepts."""
    send_campaigns(url, campaigns_file, accounts=accounts_file, as_of=as_of)


def run_killed_worker(env, campaigns_file: str, as_of: datetime, order: str = "*") -> int:
    url = env.wh.url.render_as_string(hide_password=False)
    os.environ[CRASH_ENV] = order
    try:
        ctx = multiprocessing.get_context("spawn")
        process = ctx.Process(
            target=_crash_worker,
            args=(url, campaigns_file, str(env.accounts_file), as_of.isoformat()),
        )
        process.start()
    finally:
        os.environ.pop(CRASH_ENV, None)
    process.join(180)
    assert not process.is_alive()
    return process.exitcode


def delivery_times(world) -> dict[str, datetime]:
    d = world.orders.dropna(subset=["delivery_time"])
    return {o: t.to_pydatetime() for o, t in zip(d.order_id, d.delivery_time, strict=True)}


def check_invariants(env, world, campaign: str, *, settled: bool = True) -> dict[str, dict]:
    """No order solicited twice; server-side sends == the outbox's sent rows (with
    ``settled=False`` rows still claimed -- left in doubt for the next run -- may hold
    sends too); each send 5-30 days after the real delivery; nothing excluded or held out
    was sent."""
    sends = server_sends(env)
    per_order = Counter(s["amazonOrderId"] for s in sends)
    assert [o for o, n in per_order.items() if n > 1] == []
    rows = outbox(env.wh, campaign)
    sent = {o for o, r in rows.items() if r["status"] == "sent"}
    claimed = {o for o, r in rows.items() if r["status"] == "claimed"}
    if settled:
        assert [r for r in rows.values() if r["status"] == "claimed"] == []
        assert set(per_order) == sent
        assert len(sends) == len(sent)
    else:
        assert sent <= set(per_order) <= sent | claimed
    delivered = delivery_times(world)
    for s in sends:
        at = datetime.fromisoformat(s["sentAt"].replace("Z", "+00:00"))
        age = at - delivered[s["amazonOrderId"]]
        assert timedelta(days=5) <= age <= timedelta(days=30), (s, age)
    never = {o for o, r in rows.items() if r["status"] in ("excluded", "held_out")}
    assert never & set(per_order) == set()
    return rows


# -- the tests -------------------------------------------------------------------------------------


def test_reruns_retries_and_a_killed_worker_send_each_order_once(sandbox, world, tmp_path):
    env, wh = sandbox, sandbox.wh
    low_value = tag_low_marketing_value(wh, world)
    campaigns_file = write_campaigns(tmp_path / "campaigns.yaml", REVIEW)
    as_of = world.end

    # Day 0: a worker is killed right after Amazon accepted its first solicitation.
    assert run_killed_worker(env, campaigns_file, as_of) == CRASH_EXIT_CODE
    rows = outbox(wh, "review_7d")
    claimed = [o for o, r in rows.items() if r["status"] == "claimed"]
    assert len(claimed) == 1
    crashed = claimed[0]
    assert rows[crashed]["posts"] == 1
    assert [s["amazonOrderId"] for s in server_sends(env)] == [crashed]

    # The rerun (with retries under 500s, 503s and throttling) resolves the claim by asking
    # Amazon: the solicitation is no longer offered, so it went out. It is not sent again.
    faults(
        env,
        [
            {"kind": "server_error", "operation": CREATE, "status": 500, "probability": 0.15},
            {"kind": "server_error", "operation": GET_ACTIONS, "status": 503, "probability": 0.1},
            {"kind": "throttle", "operation": CREATE, "probability": 0.1},
            {"kind": "throttle", "operation": GET_ACTIONS, "probability": 0.1},
        ],
    )
    spy = Spy()
    run = send_campaigns(
        wh,
        campaigns_file,
        accounts=env.accounts,
        as_of=as_of,
        sessions=spy,
        claim_lease=timedelta(0),
    )
    assert run.status == "success"
    assert run.count("resolved", reason="sent_unconfirmed") == 1
    assert spy.posts[crashed] == 0
    rows = check_invariants(env, world, "review_7d", settled=False)
    assert (
        run.posts[
            ("review_7d", world.orders.set_index("order_id").loc[crashed, "account_id"], crashed)
        ]
        == 0
    )
    assert rows[crashed]["status"] == "sent" and rows[crashed]["confirmed"] is False
    assert "no longer offers" in rows[crashed]["detail"]
    assert run.count("sent") > 100
    assert sum(spy.posts.values()) > run.count("sent")  # some 500s were retried after asking
    assert run.count("resolved") == 1
    # The same day again without faults: what the faults left (released, or left claimed
    # while in doubt) is settled -- by asking Amazon first -- and then nothing is due.
    faults(env, [])
    spy = Spy()
    run = send_campaigns(
        wh,
        campaigns_file,
        accounts=env.accounts,
        as_of=as_of,
        sessions=spy,
        claim_lease=timedelta(0),
    )
    assert sum(spy.posts.values()) == run.count("sent", reason="")
    check_invariants(env, world, "review_7d")
    first_day = len(server_sends(env))
    spy = Spy()
    run = send_campaigns(wh, campaigns_file, accounts=env.accounts, as_of=as_of, sessions=spy)
    assert sum(spy.posts.values()) == 0 and len(server_sends(env)) == first_day
    assert run.count("sent") == 0

    # Eleven more days under faults, including timeouts after which Amazon did send.
    ambiguous: Counter = Counter()
    for day in range(1, 12):
        advance_days(env, 1)
        faults(
            env,
            [
                {"kind": "server_error", "operation": CREATE, "status": 500, "probability": 0.1},
                {"kind": "timeout", "operation": CREATE, "delay": 1.5, "count": 2},
                {"kind": "throttle", "operation": "*", "probability": 0.05},
            ],
        )
        run = send_campaigns(
            wh,
            campaigns_file,
            accounts=env.accounts,
            as_of=as_of + timedelta(days=day),
            sessions=Spy(timeout=0.5),
            claim_lease=timedelta(0),  # a day later: any claim left in doubt is resolved
        )
        assert run.status == "success"
        ambiguous.update({r: n for (_, o, r), n in run.counts.items() if o == "ambiguous"})
        per_order = Counter(s["amazonOrderId"] for s in server_sends(env))
        assert max(per_order.values()) == 1
    assert ambiguous["no_answer"] > 0 and ambiguous["InternalFailure"] > 0  # timeouts, 500s
    faults(env, [])
    time.sleep(2)  # the last timed-out requests land
    send_campaigns(
        wh,
        campaigns_file,
        accounts=env.accounts,
        as_of=as_of + timedelta(days=11),
        claim_lease=timedelta(0),
    )

    rows = check_invariants(env, world, "review_7d")
    statuses = Counter(r["status"] for r in rows.values())
    assert statuses["sent"] > 150 and statuses["held_out"] > 10 and statuses["excluded"] > 5
    reasons = Counter(r["reason"] for r in rows.values() if r["status"] == "excluded")
    assert reasons["returned"] + reasons["refunded"] > 0
    # Orders Amazon never offered the solicitation for were recorded, retried, and given up.
    assert statuses["ineligible"] + statuses["expired"] > 0
    # Excluded for a reason the data shows: never sent.
    sends = {s["amazonOrderId"] for s in server_sends(env)}
    returned = set(world.returns.order_id) | set(world.refunds.order_id)
    assert sends & returned == set()
    low_orders = set(
        world.orders[world.orders.buyer_id.map(lambda b: f"buyer-{b}").isin(low_value)].order_id
    )
    assert sends & low_orders == set()
    cancelled_or_business = set(
        world.orders[
            (world.orders.order_status == "CANCELLED") | world.orders.is_business_order
        ].order_id
    )
    assert sends & cancelled_or_business == set()
    with wh.connect() as conn:
        logged = conn.execute(
            sa.text(
                "SELECT step, status, counts, report FROM ops.campaign_runs WHERE step = 'send'"
            )
        ).fetchall()
    # The killed worker recorded nothing; then the resolving run, two reruns, 11 days and
    # the final settling run.
    assert len(logged) == 15
    assert {r[1] for r in logged} == {"success"}
    assert any("resolved" in r[3] and "sent_unconfirmed" in r[3] for r in logged)


def test_dry_run_sends_nothing(sandbox, world, tmp_path):
    env, wh = sandbox, sandbox.wh
    dry = {**REVIEW, "live": False}
    campaigns_file = write_campaigns(tmp_path / "campaigns.yaml", dry)
    spy = Spy()
    run = send_campaigns(wh, campaigns_file, accounts=env.accounts, as_of=world.end, sessions=spy)
    assert server_sends(env) == [] and sum(spy.posts.values()) == 0
    assert run.count("would_send") > 100
    assert run.count("sent") == 0
    statuses = Counter(r["status"] for r in outbox(wh, "review_7d").values())
    assert statuses["planned"] > 100 and statuses["claimed"] == 0 and statuses["sent"] == 0
    # Switched live (by the caller), the same rows go out once.
    run = send_campaigns(wh, campaigns_file, accounts=env.accounts, as_of=world.end, live=True)
    assert run.count("sent") > 100
    check_invariants(env, world, "review_7d")


def test_messages_are_never_sent_twice_when_the_outcome_is_unknown(sandbox, world, tmp_path):
    env, wh = sandbox, sandbox.wh
    campaigns_file = write_campaigns(tmp_path / "campaigns.yaml", MESSAGE)
    as_of = world.end
    # A worker killed right after a message was accepted: Amazon cannot say whether it went
    # out (the action stays offered), so the row ends "unknown" and is never resent.
    assert run_killed_worker(env, campaigns_file, as_of) == CRASH_EXIT_CODE
    crashed = [o for o, r in outbox(wh, "delivery_details").items() if r["status"] == "claimed"]
    assert len(crashed) == 1
    faults(
        env,
        [
            {
                "kind": "server_error",
                "operation": "createConfirmDeliveryDetails",
                "status": 500,
                "count": 2,
            }
        ],
    )
    spy = Spy()
    run = send_campaigns(
        wh,
        campaigns_file,
        accounts=env.accounts,
        as_of=as_of,
        sessions=spy,
        claim_lease=timedelta(0),
    )
    rows = outbox(wh, "delivery_details")
    assert rows[crashed[0]]["status"] == "unknown" and spy.posts[crashed[0]] == 0
    sends = server_sends(env, "confirmDeliveryDetails")
    per_order = Counter(s["amazonOrderId"] for s in sends)
    assert max(per_order.values()) == 1
    sent = {o for o, r in rows.items() if r["status"] == "sent"}
    unknown = {o for o, r in rows.items() if r["status"] == "unknown"}
    assert len(unknown) == 3  # the killed worker's and the two 500s
    assert sent <= set(per_order) <= sent | unknown
    assert run.count("sent") == len(sent) > 0
    # Delivered MFN orders are not offered confirmDeliveryDetails: recorded, asked again later.
    assert run.count("ineligible", reason="not_offered") > 0
    # A rerun the next day re-asks the ineligible ones and never resends.
    advance_days(env, 1)
    faults(env, [])
    before = len(server_sends(env, "confirmDeliveryDetails"))
    spy = Spy()
    send_campaigns(
        wh, campaigns_file, accounts=env.accounts, as_of=as_of + timedelta(days=1), sessions=spy
    )
    after = server_sends(env, "confirmDeliveryDetails")
    assert max(Counter(s["amazonOrderId"] for s in after).values()) == 1
    assert all(spy.posts[o] == 0 for o in sent | unknown)
    assert len(after) >= before


def test_send_window_is_the_buyers_local_time():
    c = defs.Campaign.model_validate(
        {
            **REVIEW,
            "trigger": {
                "event": "delivery",
                "days": 7,
                "send_window": {"start": "09:00", "end": "20:00"},
            },
        }
    )
    noon_utc = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert not in_send_window(c, "America/New_York", noon_utc)  # 07:00 EST
    assert not in_send_window(c, "America/New_York", datetime(2026, 3, 1, 13, 59, tzinfo=UTC))
    assert in_send_window(c, "America/New_York", datetime(2026, 3, 1, 14, 0, tzinfo=UTC))
    assert in_send_window(c, "Asia/Tokyo", datetime(2026, 3, 1, 0, 0, tzinfo=UTC))  # 09:00 JST
    assert not in_send_window(c, "Asia/Tokyo", datetime(2026, 3, 1, 11, 0, tzinfo=UTC))  # 20:00


def test_one_send_task_per_account_sends_that_accounts_orders_only(sandbox, world, tmp_path):
    """The DAG plans once, then maps one send task per account (``only_accounts``)."""
    from sellerops.campaigns.planner import plan_campaigns

    env, wh = sandbox, sandbox.wh
    campaigns_file = write_campaigns(tmp_path / "campaigns.yaml", REVIEW)
    first, second = [a.account_id for a in env.accounts.accounts]
    account_of = world.orders.set_index("order_id")["account_id"]
    plan_campaigns(wh, campaigns_file, accounts=env.accounts, as_of=world.end)

    with pytest.raises(defs.CampaignsError, match="unknown account"):
        send_campaigns(wh, campaigns_file, accounts=env.accounts, only_accounts=["nobody"])

    run = send_campaigns(
        wh,
        campaigns_file,
        accounts=env.accounts,
        as_of=world.end,
        plan=False,
        only_accounts=[first],
    )
    assert run.status == "success"
    sent_first = {s["amazonOrderId"] for s in server_sends(env)}
    assert sent_first and {account_of[o] for o in sent_first} == {first}
    rows = outbox(wh, "review_7d")
    assert {o for o, r in rows.items() if r["status"] == "sent"} == sent_first
    # The second account's rows were not touched: all still as planned.
    second_rows = [r for o, r in rows.items() if account_of[o] == second]
    assert second_rows and {r["status"] for r in second_rows} <= {"planned", "excluded", "held_out"}

    send_campaigns(
        wh,
        campaigns_file,
        accounts=env.accounts,
        as_of=world.end,
        plan=False,
        only_accounts=[second],
    )
    rows = check_invariants(env, world, "review_7d")
    sent_second = {o for o, r in rows.items() if r["status"] == "sent"} - sent_first
    assert sent_second and {account_of[o] for o in sent_second} == {second}
