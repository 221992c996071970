"""Ground truth of a sandbox world: exact values on a hand-built world, byte stability."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime

import pandas as pd
import pytest

from sellerops import geo
from sellerops.sandbox.generator import GeneratorConfig, generate
from sellerops.sandbox.truth import compute_truth, truth_bytes, write_truth
from sellerops.sandbox.world import COLUMNS, SandboxAccount, World

US = "ATVPDKIKX0DER"
JP = "A1VC38T7YXB528"
ACC = "test-seller"


def _dtype(description: str):
    if "(datetime)" in description:
        return "datetime64[us, UTC]"
    for kind in ("int64", "float64", "bool"):
        if f"({kind})" in description:
            return kind
    return "str"


def _frame(table: str, rows: list[dict], **defaults) -> pd.DataFrame:
    columns = list(COLUMNS[table])
    data = {c: [row.get(c, defaults.get(c)) for row in rows] for c in columns}
    frame = pd.DataFrame(data, columns=columns)
    for column, description in COLUMNS[table].items():
        kind = _dtype(description)
        if kind.startswith("datetime"):
            frame[column] = pd.to_datetime(frame[column], utc=True).astype(kind)
        else:
            frame[column] = frame[column].astype(kind)
    return frame


def _order(order_id, buyer, purchase, status="SHIPPED", place="NY", market=US, **times):
    city, state, postal, country, zone = PLACES[place]
    row = {
        "account_id": ACC,
        "marketplace_id": market,
        "order_id": order_id,
        "buyer_id": buyer,
        "purchase_time": purchase,
        "order_status": status,
        "ship_city": city,
        "ship_state": state,
        "ship_postal_code": postal,
        "ship_country": country,
        "ship_time_zone": zone,
        "latest_delivery_time": "2025-02-01T00:00:00Z",
        "currency": "USD" if market == US else "JPY",
        "sales_channel": "Amazon.com" if market == US else "Amazon.co.jp",
    }
    row.update(times)
    stamps = [row["purchase_time"]] + [v for k, v in times.items() if k.endswith("_time")]
    row["last_updated_time"] = max(stamps)
    return row


PLACES = {
    "NY": ("New York", "NY", "10001", "US", "America/New_York"),
    "CA": ("Los Angeles", "CA", "90012", "US", "America/Los_Angeles"),
    "AZ": ("Phoenix", "AZ", "85004", "US", "America/Phoenix"),
    "JP": ("渋谷区", "東京都", "150-0002", "JP", "Asia/Tokyo"),
}


def _buyer(buyer_id, place, market=US):
    city, state, postal, country, zone = PLACES[place]
    return {
        "account_id": ACC,
        "marketplace_id": market,
        "buyer_id": buyer_id,
        "email": f"buyer{buyer_id}@marketplace.amazon.com",
        "name": f"Buyer {buyer_id}",
        "state": state,
        "city": city,
        "postal_code": postal,
        "country_code": country,
        "time_zone": zone,
    }


def _item(order_id, item_id, qty, market=US):
    return {
        "account_id": ACC,
        "marketplace_id": market,
        "order_id": order_id,
        "order_item_id": item_id,
        "asin": "B0TEST0001",
        "sku": "SKU-1",
        "quantity": qty,
        "unit_price": 10.0,
        "item_price": 10.0 * qty,
        "currency": "USD" if market == US else "JPY",
    }


def _msg(mid, thread, buyer, direction, sent, order_id="", asin=""):
    return {
        "account_id": ACC,
        "marketplace_id": US,
        "message_id": mid,
        "thread_id": thread,
        "order_id": order_id,
        "buyer_id": buyer,
        "direction": direction,
        "sent_time": sent,
        "asin": asin,
    }


ZERO = {
    "item_tax": 0.0,
    "shipping_price": 0.0,
    "promotion_discount": 0.0,
    "promotion_id": "",
    "fulfillment_channel": "AFN",
    "is_business_order": False,
    "buyer_info_available": True,
    "subject": "s",
    "body": "b",
    "in_reply_to": "",
    "response": "",
    "comments": "",
    "status": "Approved",
    "is_late": False,
    "currency": "USD",
    "amount": 10.0,
    "rater_email": "x@marketplace.amazon.com",
}


def tiny_world() -> World:
    """Five US orders of three buyers (+ a buyer who only asks), one JP order.

    US orders (times UTC):
      O1 buyer 1 (NY) 2025-01-10 15:00 SHIPPED, lines L1 qty 2 + L2 qty 1
      O2 buyer 1 (NY) 2025-01-20 00:00 SHIPPED, line L3 qty 1
      O3 buyer 2 (CA) 2025-01-11 20:00 CANCELLED, line L4 qty 3
      O4 buyer 2 (CA) 2025-01-12 05:00 SHIPPED, line L5 qty 1
      O5 buyer 1 (NY) 2025-01-12 23:59:59 UNSHIPPED, line L6 qty 1
    Returns: L1 qty 1 (2025-01-15 10:00), L5 qty 1 (2025-01-16 10:00).
    Refunds: L1 with return (posted 2025-01-18 02:00, issued the 17th),
             L3 without return (posted 2025-01-25 20:00).
    Feedback: O1 1 star, O4 5 stars, O3 (cancelled) 2 stars.
    Messages: thread T1 (O1, buyer 1): buyer / seller / buyer / buyer (nudge) / seller;
              T2 pre-sales of buyer 3 (Phoenix), unanswered;
              T3 (O4, buyer 2): buyer / seller; T4 pre-sales of buyer 1 in July (EDT).
    JP: O6 buyer 4 2025-01-10 23:30, line L7 qty 1, nothing else.
    """
    buyers = [_buyer(1, "NY"), _buyer(2, "CA"), _buyer(3, "AZ"), _buyer(4, "JP", market=JP)]
    orders = [
        _order(
            "O1",
            1,
            "2025-01-10T15:00:00Z",
            ship_time="2025-01-11T10:00:00Z",
            delivery_time="2025-01-13T10:00:00Z",
        ),
        _order(
            "O2",
            1,
            "2025-01-20T00:00:00Z",
            ship_time="2025-01-20T10:00:00Z",
            delivery_time="2025-01-22T10:00:00Z",
        ),
        _order(
            "O3", 2, "2025-01-11T20:00:00Z", "CANCELLED", "CA", cancel_time="2025-01-11T21:00:00Z"
        ),
        _order(
            "O4",
            2,
            "2025-01-12T05:00:00Z",
            place="CA",
            ship_time="2025-01-12T10:00:00Z",
            delivery_time="2025-01-14T10:00:00Z",
        ),
        _order("O5", 1, "2025-01-12T23:59:59Z", "UNSHIPPED"),
        _order("O6", 4, "2025-01-10T23:30:00Z", "UNSHIPPED", "JP", market=JP),
    ]
    items = [
        _item("O1", "L1", 2),
        _item("O1", "L2", 1),
        _item("O2", "L3", 1),
        _item("O3", "L4", 3),
        _item("O4", "L5", 1),
        _item("O5", "L6", 1),
        _item("O6", "L7", 1, market=JP),
    ]
    returns = [
        {"account_id": ACC, "marketplace_id": US, "return_id": "R1", "order_id": "O1",
         "order_item_id": "L1", "asin": "B0TEST0001", "sku": "SKU-1", "quantity": 1,
         "return_time": "2025-01-15T10:00:00Z", "reason": "DEFECTIVE"},
        {"account_id": ACC, "marketplace_id": US, "return_id": "R2", "order_id": "O4",
         "order_item_id": "L5", "asin": "B0TEST0001", "sku": "SKU-1", "quantity": 1,
         "return_time": "2025-01-16T10:00:00Z", "reason": "UNWANTED_ITEM"},
    ]  # fmt: skip
    refunds = [
        {"account_id": ACC, "marketplace_id": US, "adjustment_id": "A1", "order_id": "O1",
         "order_item_id": "L1", "sku": "SKU-1", "quantity": 1, "with_return": True,
         "refund_time": "2025-01-17T22:00:00Z", "posted_time": "2025-01-18T02:00:00Z"},
        {"account_id": ACC, "marketplace_id": US, "adjustment_id": "A2", "order_id": "O2",
         "order_item_id": "L3", "sku": "SKU-1", "quantity": 1, "with_return": False,
         "refund_time": "2025-01-25T10:00:00Z", "posted_time": "2025-01-25T20:00:00Z"},
    ]  # fmt: skip
    feedback = [
        {"account_id": ACC, "marketplace_id": US, "order_id": "O1", "rating": 1,
         "feedback_time": "2025-01-20T00:00:00Z"},
        {"account_id": ACC, "marketplace_id": US, "order_id": "O4", "rating": 5,
         "feedback_time": "2025-01-25T12:00:00Z"},
        {"account_id": ACC, "marketplace_id": US, "order_id": "O3", "rating": 2,
         "feedback_time": "2025-01-12T12:00:00Z"},
    ]  # fmt: skip
    messages = [
        _msg("m1", "T1", 1, "buyer", "2025-01-13T14:00:00Z", "O1"),  # NY 09:00 EST
        _msg("m2", "T1", 1, "seller", "2025-01-13T16:00:00Z", "O1"),
        _msg("m3", "T1", 1, "buyer", "2025-01-13T17:00:00Z", "O1"),  # NY 12:00
        _msg("m4", "T1", 1, "buyer", "2025-01-13T18:00:00Z", "O1"),  # NY 13:00, a nudge
        _msg("m5", "T1", 1, "seller", "2025-01-13T20:30:00Z", "O1"),
        _msg("m6", "T2", 3, "buyer", "2025-01-09T03:00:00Z", asin="B0TEST0001"),  # PHX 20:00
        _msg("m7", "T3", 2, "buyer", "2025-01-14T06:30:00Z", "O4"),  # LA 22:30 (13th)
        _msg("m8", "T3", 2, "seller", "2025-01-14T07:00:00Z", "O4"),
        _msg("m9", "T4", 1, "buyer", "2025-07-01T16:00:00Z", asin="B0TEST0001"),  # NY 12:00 EDT
        _msg("m10", "T4", 1, "seller", "2025-07-02T01:00:00Z", asin="B0TEST0001"),
    ]
    tables = {
        "products": _frame(
            "products",
            [
                {"account_id": ACC, "marketplace_id": m, "asin": "B0TEST0001", "sku": "SKU-1"}
                for m in (US, JP)
            ],
            title="t",
            brand="b",
            category="c",
            unit_price=10.0,
            currency="USD",
        ),  # fmt: skip
        "buyers": _frame("buyers", buyers),
        "orders": _frame("orders", orders, **ZERO),
        "order_items": _frame("order_items", items, **ZERO),
        "returns": _frame("returns", returns, **ZERO),
        "refunds": _frame("refunds", refunds, **ZERO),
        "feedback": _frame("feedback", feedback, **ZERO),
        "messages": _frame("messages", messages, **ZERO),
    }
    account = SandboxAccount(ACC, "A1TEST", "Test Seller", "s@t.invalid", "UTC", (US, JP))
    world = World(
        seed=7,
        start=datetime(2025, 1, 1, tzinfo=UTC),
        end=datetime(2025, 8, 1, tzinfo=UTC),
        accounts=[account],
        tables=tables,
    )
    world.check()
    return world


@pytest.fixture(scope="module")
def truth():
    return compute_truth(tiny_world())


def _hours(**counts: int) -> dict[str, int]:
    table = {f"{h:02d}": 0 for h in range(24)}
    table.update({k.lstrip("h"): v for k, v in counts.items()})
    return table


def test_top_level_and_totals(truth):
    assert list(truth) == ["by_partition", "kpis", "totals", "world"]
    assert truth["world"] == {
        "end": "2025-08-01T00:00:00+00:00",
        "seed": 7,
        "start": "2025-01-01T00:00:00+00:00",
    }
    assert truth["totals"] == {
        "core.feedback": 3,
        "core.messages": 10,
        "core.order_items": 7,
        "core.orders": 6,
        "core.refunds": 2,
        "core.returns": 2,
    }


def test_partitions(truth):
    parts = truth["by_partition"]
    us = {name: parts[name][ACC][US] for name in parts}
    # O1 10th, O3 11th, O4 + O5 (23:59:59) 12th, O2 (00:00:00) 20th
    assert us["orders"] == {"2025-01-10": 1, "2025-01-11": 1, "2025-01-12": 2, "2025-01-20": 1}
    # items by their order's purchase day: O1 has 2 lines
    assert us["order_items"] == {
        "2025-01-10": 2,
        "2025-01-11": 1,
        "2025-01-12": 2,
        "2025-01-20": 1,
    }
    assert us["returns"] == {"2025-01-15": 1, "2025-01-16": 1}
    # refunds by posted day: L1 was refunded on the 17th but posted on the 18th
    assert us["refunds"] == {"2025-01-18": 1, "2025-01-25": 1}
    assert us["feedback"] == {"2025-01-12": 1, "2025-01-20": 1, "2025-01-25": 1}
    assert us["messages"] == {
        "2025-01-09": 1,
        "2025-01-13": 5,
        "2025-01-14": 2,
        "2025-07-01": 1,
        "2025-07-02": 1,
    }
    # JP: O6 at 23:30 UTC on the 10th (already the 11th in Tokyo) counts on the 10th
    assert parts["orders"][ACC][JP] == {"2025-01-10": 1}
    assert parts["order_items"][ACC][JP] == {"2025-01-10": 1}
    assert JP not in parts["returns"].get(ACC, {})


def test_us_kpis(truth):
    k = truth["kpis"][ACC][US]
    # non-cancelled: O1, O2, O4, O5 -> 4 orders
    assert k["orders"] == 5
    assert k["orders_non_cancelled"] == 4
    # buyer 1: O1, O2, O5 (3 orders); buyer 2: O4 (O3 cancelled) -> 1 of 2 buyers repeat
    assert k["buyers_with_orders"] == 2
    assert k["repeat_buyers"] == 1
    assert k["repurchase_rate"] == 0.5
    # units of non-cancelled orders: L1 2 + L2 1 + L3 1 + L5 1 + L6 1 = 6; returned L1 1 + L5 1
    assert k["units_ordered"] == 6
    assert k["units_returned"] == 2
    assert k["return_rate"] == 2 / 6
    # refunded orders: O1 (with return), O2 (without) -> 2 / 4; without return: O2 -> 1 / 4
    assert k["orders_refunded"] == 2
    assert k["refund_rate"] == 0.5
    assert k["orders_refunded_without_return"] == 1
    assert k["refund_without_return_rate"] == 0.25
    # 1-2 stars: O1 (1 star); O3's 2 stars do not count, it was cancelled -> 1 / 4
    assert k["orders_negative_feedback"] == 1
    assert k["negative_feedback_rate"] == 0.25
    # buyer messages at local hours: NY 09 (m1), 12 (m3), 13 (m4), 12 EDT in July (m9);
    # Phoenix 20 (m6, no DST); Los Angeles 22 (m7)
    assert k["buyer_messages_by_local_hour"] == {
        "Eastern": _hours(h09=1, h12=2, h13=1),
        "Mountain": _hours(h20=1),
        "Pacific": _hours(h22=1),
    }
    # every buyer message -> the next seller message in its thread:
    # m1 -> m2 120 min, m3 -> m5 210 min, m4 (the nudge) -> m5 150 min, m7 -> m8 30 min,
    # m9 -> m10 540 min; m6 unanswered. Median of 30, 120, 150, 210, 540 = 150.
    assert k["first_reply"] == {"answered": 5, "median_minutes": 150.0, "unanswered": 1}
    # pre-sales threads T2 and T4, one buyer message each
    assert k["presales_inquiries"] == 2
    assert k["presales_buyer_messages"] == 2
    assert k["orders_by_state"] == {"CA": 2, "NY": 3}
    # purchase hours: O1 10 EST, O2 19 (the 19th), O5 18, O3 12 PST, O4 21 (the 11th)
    assert k["orders_by_local_hour"] == {
        "Eastern": _hours(h10=1, h18=1, h19=1),
        "Pacific": _hours(h12=1, h21=1),
    }


def test_jp_kpis(truth):
    k = truth["kpis"][ACC][JP]
    assert k["orders"] == 1 and k["orders_non_cancelled"] == 1
    assert k["repurchase_rate"] == 0.0
    assert k["return_rate"] == 0.0
    assert k["refund_rate"] == 0.0
    assert k["negative_feedback_rate"] == 0.0
    assert k["buyer_messages_by_local_hour"] == {}
    assert k["first_reply"] == {"answered": 0, "median_minutes": None, "unanswered": 0}
    assert k["presales_inquiries"] == 0
    assert k["orders_by_state"] == {"東京都": 1}
    assert k["orders_by_local_hour"] == {"Other": _hours(h08=1)}  # 23:30 UTC = 08:30 JST


def test_truth_is_json_with_sorted_keys(tmp_path, truth):
    world = tiny_world()
    path = write_truth(world, tmp_path / "out" / "truth.json")
    raw = path.read_bytes()
    assert raw == truth_bytes(world)
    parsed = json.loads(raw.decode("utf-8"))
    assert parsed == truth
    assert (
        raw.decode("utf-8")
        == json.dumps(parsed, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    )

    def walk(value):
        if isinstance(value, dict):
            assert list(value) == sorted(value)
            for v in value.values():
                walk(v)
        else:
            assert value is None or type(value) in (int, float, str, bool, list)

    walk(truth)


SMALL = GeneratorConfig(seed=21, end_date=date(2025, 5, 1), days=20, orders_per_day=10)


def test_truth_is_deterministic(tmp_path):
    a = write_truth(generate(SMALL), tmp_path / "a.json").read_bytes()
    b = write_truth(generate(SMALL), tmp_path / "b.json").read_bytes()
    c = write_truth(generate(replace(SMALL, seed=22)), tmp_path / "c.json").read_bytes()
    assert a == b
    assert a != c


def test_truth_of_a_generated_world_is_consistent():
    world = generate(SMALL)
    truth = compute_truth(world)
    for name, total in truth["totals"].items():
        dataset = name.removeprefix("core.")
        parts = truth["by_partition"][dataset]
        assert total == sum(n for acc in parts.values() for m in acc.values() for n in m.values())
    for account in world.accounts:
        for marketplace_id in account.marketplace_ids:
            k = truth["kpis"][account.account_id][marketplace_id]
            assert 0 < k["repurchase_rate"] < 1
            assert 0 <= k["refund_without_return_rate"] <= k["refund_rate"] < 1
            assert 0 < k["return_rate"] < 1
            assert k["first_reply"]["answered"] > 0 and k["first_reply"]["median_minutes"] > 0
            assert k["presales_inquiries"] > 0
            assert sum(k["orders_by_state"].values()) == k["orders"]


def test_kpis_match_a_naive_computation():
    """Cross-check the vectorised KPIs with plain per-group pandas and Python loops."""
    world = generate(SMALL)
    truth = compute_truth(world)
    for (account_id, marketplace_id), o in world.orders.groupby(["account_id", "marketplace_id"]):

        def part(name, a=account_id, m=marketplace_id):
            frame = world.tables[name]
            return frame[(frame.account_id == a) & (frame.marketplace_id == m)]

        k = truth["kpis"][account_id][marketplace_id]
        live = o[o.order_status != "CANCELLED"]
        live_ids = set(live.order_id)
        per_buyer = live.groupby("buyer_id").order_id.nunique()
        assert k["repurchase_rate"] == (per_buyer >= 2).sum() / len(per_buyer)
        items = part("order_items")
        units = items[items.order_id.isin(live_ids)].quantity.sum()
        returns = part("returns")
        assert k["return_rate"] == returns[returns.order_id.isin(live_ids)].quantity.sum() / units
        refunded = set(part("refunds").order_id) & live_ids
        assert k["refund_rate"] == len(refunded) / len(live_ids)
        only = refunded - set(returns.order_id)
        assert k["refund_without_return_rate"] == len(only) / len(live_ids)
        fb = part("feedback")
        negative = set(fb[fb.rating <= 2].order_id) & live_ids
        assert k["negative_feedback_rate"] == len(negative) / len(live_ids)
        waits, unanswered = [], 0
        for _, thread in part("messages").sort_values("sent_time").groupby("thread_id"):
            rows = list(zip(thread.direction, thread.sent_time, strict=True))
            for i, (direction, sent) in enumerate(rows):
                if direction != "buyer":
                    continue
                later = [t for d, t in rows[i + 1 :] if d == "seller"]
                if later:
                    waits.append((later[0] - sent).total_seconds() / 60)
                else:
                    unanswered += 1
        assert k["first_reply"] == {
            "answered": len(waits),
            "median_minutes": float(pd.Series(waits).median()),
            "unanswered": unanswered,
        }
        hours: dict = {}
        buyers = world.buyers.set_index("buyer_id")
        msgs = part("messages")
        for _, row in msgs[msgs.direction == "buyer"].iterrows():
            zone = buyers.loc[row.buyer_id, "time_zone"]
            group = geo.us_time_zone_group(zone)
            hour = f"{row.sent_time.tz_convert(zone).hour:02d}"
            hours.setdefault(group, {f"{h:02d}": 0 for h in range(24)})[hour] += 1
        assert k["buyer_messages_by_local_hour"] == hours


def test_truth_of_an_empty_world():
    world = generate(replace(SMALL, orders_per_day=0.0))
    truth = compute_truth(world)
    assert set(truth["totals"].values()) == {0}
    assert truth["kpis"] == {}
    assert all(v == {} for v in truth["by_partition"].values())
    json.loads(truth_bytes(world))
