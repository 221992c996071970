"""The sandbox world generator: contract, determinism, integrity and realism."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import pytest

from sellerops import geo
from sellerops.sandbox import generator
from sellerops.sandbox.generator import GeneratorConfig, generate
from sellerops.sandbox.world import COLUMNS, MARKETPLACES, TABLES

US = "ATVPDKIKX0DER"
JP = "A1VC38T7YXB528"
KEY = ["account_id", "marketplace_id"]

# 45 days ending 2025-03-30: spans the US DST start on 2025-03-09.
SMALL = GeneratorConfig(seed=11, end_date=date(2025, 3, 30), days=45, orders_per_day=15)


@pytest.fixture(scope="module")
def world():
    return generate(SMALL)


def _csv_digest(w) -> str:
    digest = hashlib.sha256()
    for name in TABLES:
        digest.update(name.encode())
        digest.update(w.tables[name].to_csv(index=False).encode("utf-8"))
    return digest.hexdigest()


def _expected_dtype(description: str) -> str:
    if "(datetime)" in description:
        return "datetime64[us, UTC]"
    for kind in ("int64", "float64", "bool"):
        if f"({kind})" in description:
            return kind
    return "str"


# --------------------------------------------------------------------------- #
# Contract
# --------------------------------------------------------------------------- #


def test_world_follows_the_contract(world):
    world.check()
    assert world.start == datetime(2025, 2, 13, tzinfo=UTC)
    assert world.end == datetime(2025, 3, 30, tzinfo=UTC)
    assert [a.account_id for a in world.accounts] == ["acme-outdoor", "bluebird-home"]
    assert world.account("acme-outdoor").seller_time_zone == "Asia/Shanghai"
    assert world.account("bluebird-home").seller_time_zone == "America/Los_Angeles"
    for name, columns in COLUMNS.items():
        frame = world.tables[name]
        assert len(frame) > 0, name
        assert frame.index.equals(pd.RangeIndex(len(frame))), name
        for column, description in columns.items():
            dtype = frame[column].dtype
            expected = _expected_dtype(description)
            if expected == "str":
                assert isinstance(dtype, pd.StringDtype), (name, column, dtype)
                assert not frame[column].isna().any(), (name, column)
            else:
                assert str(dtype) == expected, (name, column, dtype)
    for column in ("purchase_time", "last_updated_time", "latest_delivery_time"):
        assert world.orders[column].notna().all()


def test_every_group_has_data(world):
    groups = {(a.account_id, m) for a in world.accounts for m in a.marketplace_ids}
    for name in ("products", "buyers", "orders", "order_items", "messages"):
        got = set(map(tuple, world.tables[name][KEY].drop_duplicates().to_numpy()))
        assert got == groups, name


def test_default_end_is_today_utc():
    cfg = GeneratorConfig()
    today = datetime.now(UTC).date()
    assert cfg.end_datetime() in (
        datetime(today.year, today.month, today.day, tzinfo=UTC),
        GeneratorConfig().end_datetime(),  # midnight passed between the two calls
    )
    assert cfg.days == 120
    assert GeneratorConfig(orders_per_day=None).orders_per_day == 40.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"seed": -1},
        {"days": 0},
        {"cancellation_rate": 1.5},
        {"seller_work_hours": (21, 9)},
        {"accounts": ()},
        {"lines_per_order_weights": (0.0, 0.0)},
    ],
)
def test_config_is_validated(kwargs):
    with pytest.raises(ValueError):
        GeneratorConfig(**kwargs)


def test_order_lines_sets_the_size():
    cfg = GeneratorConfig(seed=5, end_date=date(2024, 6, 1), days=20, order_lines=6000)
    assert cfg.effective_orders_per_day() == pytest.approx(
        6000 / (20 * 4 * cfg.mean_lines_per_order())
    )
    w = generate(cfg)
    assert 0.9 * 6000 < len(w.order_items) < 1.1 * 6000


# --------------------------------------------------------------------------- #
# Determinism
# --------------------------------------------------------------------------- #


def test_same_config_same_world(world):
    again = generate(SMALL)
    for name in TABLES:
        pd.testing.assert_frame_equal(world.tables[name], again.tables[name], check_exact=True)
    assert _csv_digest(world) == _csv_digest(again)


def test_other_seed_other_world(world):
    other = generate(replace(SMALL, seed=12))
    assert _csv_digest(world) != _csv_digest(other)
    assert not world.orders["order_id"].isin(other.orders["order_id"]).all()


def test_no_global_random_state(world):
    import random

    np.random.seed(1)
    random.seed(1)
    a = generate(replace(SMALL, days=5))
    np.random.seed(2)
    random.seed(2)
    b = generate(replace(SMALL, days=5))
    assert _csv_digest(a) == _csv_digest(b)


# --------------------------------------------------------------------------- #
# Ids and formats
# --------------------------------------------------------------------------- #


def test_ids_are_unique_and_well_formed(world):
    o, it, b = world.orders, world.order_items, world.buyers
    assert o["order_id"].is_unique
    assert o["order_id"].str.fullmatch(r"\d{3}-\d{7}-\d{7}").all()
    assert (
        o.loc[o.marketplace_id == US, "order_id"].str[:3].isin(["111", "112", "113", "114"]).all()
    )
    assert it["order_item_id"].str.fullmatch(r"[1-9]\d{13}").all()
    assert not it.duplicated(["order_id", "order_item_id"]).any()
    assert it["order_item_id"].is_unique
    assert world.returns["return_id"].is_unique
    assert world.returns["return_id"].str.fullmatch(r"R\d{12}").all()
    assert world.refunds["adjustment_id"].is_unique
    m = world.messages
    assert m["message_id"].is_unique
    assert m["message_id"].str.fullmatch(r"[a-z0-9]{24}@sandbox\.sellerops\.invalid").all()
    assert b["buyer_id"].is_unique
    assert b["email"].is_unique
    us = b.country_code == "US"
    assert b.loc[us, "email"].str.fullmatch(r"[a-z0-9]{16}@marketplace\.amazon\.com").all()
    assert b.loc[~us, "email"].str.fullmatch(r"[a-z0-9]{16}@marketplace\.amazon\.co\.jp").all()
    p = world.products
    assert p["asin"].str.fullmatch(r"B0[0-9A-Z]{8}").all()
    assert not p.duplicated(KEY + ["asin"]).any()
    assert not p.duplicated(KEY + ["sku"]).any()
    assert p.groupby("account_id")["asin"].nunique().between(20, 60).all()


def test_money_is_rounded_to_the_currency(world):
    it = world.order_items
    for currency, decimals in (("USD", 2), ("JPY", 0)):
        part = it[it.currency == currency]
        for column in (
            "unit_price",
            "item_price",
            "item_tax",
            "shipping_price",
            "promotion_discount",
        ):
            values = part[column].to_numpy()
            assert np.allclose(values, np.round(values, decimals)), (currency, column)
            assert (values >= 0).all()
    assert np.allclose(it.item_price, np.round(it.unit_price * it.quantity, 2))
    assert (it.quantity >= 1).all()
    promo = it.promotion_id != ""
    assert (it.loc[promo, "promotion_discount"] > 0).all()
    assert (it.loc[~promo, "promotion_discount"] == 0).all()
    assert (it.promotion_discount < it.item_price).all()
    jp = world.products[world.products.currency == "JPY"]
    assert (jp.unit_price == jp.unit_price.round()).all()
    for frame in (world.orders, world.order_items, world.products, world.refunds):
        expected = frame["marketplace_id"].map({m: v["currency"] for m, v in MARKETPLACES.items()})
        assert (frame["currency"] == expected).all()


def test_times_are_whole_seconds(world):
    for name, columns in COLUMNS.items():
        for column, description in columns.items():
            if "(datetime)" in description:
                values = world.tables[name][column].dropna()
                assert (values.dt.microsecond == 0).all(), (name, column)


# --------------------------------------------------------------------------- #
# Referential integrity and time order
# --------------------------------------------------------------------------- #


def test_references_exist_within_the_same_group(world):
    orders = world.orders.set_index("order_id")
    for name in ("order_items", "returns", "refunds", "feedback"):
        frame = world.tables[name]
        assert frame["order_id"].isin(orders.index).all(), name
        for column in KEY:
            assert (
                orders.loc[frame["order_id"], column].to_numpy() == frame[column].to_numpy()
            ).all()
    msgs = world.messages
    tied = msgs[msgs.order_id != ""]
    assert tied["order_id"].isin(orders.index).all()
    assert (orders.loc[tied.order_id, "buyer_id"].to_numpy() == tied["buyer_id"].to_numpy()).all()
    assert msgs["buyer_id"].isin(world.buyers["buyer_id"]).all()
    assert world.orders["buyer_id"].isin(world.buyers["buyer_id"]).all()
    buyers = world.buyers.set_index("buyer_id")
    for frame in (world.orders, msgs):
        for column in KEY:
            assert (buyers.loc[frame.buyer_id, column].to_numpy() == frame[column].to_numpy()).all()
    items = world.order_items.set_index("order_item_id")
    for name in ("returns", "refunds"):
        frame = world.tables[name]
        assert frame["order_item_id"].isin(items.index).all()
        assert (
            items.loc[frame.order_item_id, "order_id"].to_numpy() == frame.order_id.to_numpy()
        ).all()
        assert (
            frame.quantity.to_numpy() <= items.loc[frame.order_item_id, "quantity"].to_numpy()
        ).all()
        assert (frame.quantity >= 1).all()
        assert (items.loc[frame.order_item_id, "sku"].to_numpy() == frame.sku.to_numpy()).all()
    assert world.returns["order_item_id"].is_unique
    assert world.refunds["order_item_id"].is_unique
    assert world.feedback["order_id"].is_unique
    asins = set(
        zip(
            world.products.account_id,
            world.products.marketplace_id,
            world.products.asin,
            strict=True,
        )
    )
    lines = world.order_items
    assert set(zip(lines.account_id, lines.marketplace_id, lines.asin, strict=True)) <= asins
    presales = msgs[msgs.asin != ""]
    assert (
        set(zip(presales.account_id, presales.marketplace_id, presales.asin, strict=True)) <= asins
    )
    # every order has at least one line
    assert world.orders.order_id.isin(lines.order_id).all()


def test_order_timeline(world):
    o = world.orders
    start, end = pd.Timestamp(world.start), pd.Timestamp(world.end)
    assert (o.purchase_time >= start).all() and (o.purchase_time < end).all()
    status = o.order_status
    assert set(status) <= {"PENDING", "UNSHIPPED", "SHIPPED", "CANCELLED"}
    shipped = status == "SHIPPED"
    cancelled = status == "CANCELLED"
    assert o.loc[shipped, "ship_time"].notna().all()
    assert o.loc[~shipped, "ship_time"].isna().all()
    assert o.loc[~shipped, "delivery_time"].isna().all()
    assert o.loc[cancelled, "cancel_time"].notna().all()
    assert o.loc[~cancelled, "cancel_time"].isna().all()
    assert (o.loc[shipped, "ship_time"] > o.loc[shipped, "purchase_time"]).all()
    d = o[o.delivery_time.notna()]
    gap = d.delivery_time - d.ship_time
    assert (gap >= pd.Timedelta(days=1)).all() and (gap <= pd.Timedelta(days=7)).all()
    assert (o.loc[cancelled, "cancel_time"] > o.loc[cancelled, "purchase_time"]).all()
    assert (o.latest_delivery_time > o.purchase_time).all()
    for column in ("ship_time", "delivery_time", "cancel_time", "last_updated_time"):
        assert (o[column].dropna() < end).all(), column
    latest = o[["purchase_time", "ship_time", "delivery_time", "cancel_time"]].max(axis=1)
    assert (latest == o.last_updated_time).all()
    # the youngest orders are still open, the old ones are not
    recent = o[o.purchase_time > end - pd.Timedelta(hours=6)]
    assert recent.order_status.isin(["PENDING", "UNSHIPPED"]).any()
    old = o[o.purchase_time < end - pd.Timedelta(days=15)]
    assert old.order_status.isin(["SHIPPED", "CANCELLED"]).all()
    assert old[old.order_status == "SHIPPED"].delivery_time.notna().all()


def test_returns_and_refunds_timeline(world):
    end = pd.Timestamp(world.end)
    orders = world.orders.set_index("order_id")
    rt, rf = world.returns, world.refunds
    delivered = orders.loc[rt.order_id, "delivery_time"].to_numpy()
    assert pd.notna(delivered).all()
    assert (rt.return_time.to_numpy() > delivered).all()
    assert (rt.return_time < end).all()
    assert (
        orders.loc[rt.order_id, "fulfillment_channel"].to_numpy()
        == rt.fulfillment_channel.to_numpy()
    ).all()
    late = rt.return_time - pd.Series(delivered, index=rt.index)
    assert (late[rt.is_late] > pd.Timedelta(days=30)).all()
    assert (late[~rt.is_late] <= pd.Timedelta(days=30)).all()
    assert set(rt.reason) <= set(generator.RETURN_REASONS)
    assert (rf.refund_time < rf.posted_time).all()
    lag = rf.posted_time - rf.refund_time
    assert (lag >= pd.Timedelta(hours=2)).all() and (lag <= pd.Timedelta(hours=48)).all()
    assert (rf.posted_time < end).all()
    assert (rf.amount > 0).all()
    ref_delivered = orders.loc[rf.order_id, "delivery_time"].to_numpy()
    assert (rf.refund_time.to_numpy() > ref_delivered).all()
    # with_return refunds follow their return; refunds without one have no return row
    returns = rt.set_index("order_item_id")
    with_return = rf[rf.with_return]
    assert with_return.order_item_id.isin(returns.index).all()
    assert (
        with_return.refund_time.to_numpy()
        > returns.loc[with_return.order_item_id, "return_time"].to_numpy()
    ).all()
    assert not rf.loc[~rf.with_return, "order_item_id"].isin(returns.index).any()
    # all kinds are present
    assert (~rf.with_return).any() and rt.is_late.any()
    assert rt.order_item_id.isin(rf.order_item_id).any()
    assert (~rt.order_item_id.isin(rf.order_item_id)).any()  # returned, not (yet) refunded


def test_feedback(world):
    fb = world.feedback
    orders = world.orders.set_index("order_id")
    assert fb.rating.between(1, 5).all()
    assert (fb.feedback_time.to_numpy() > orders.loc[fb.order_id, "delivery_time"].to_numpy()).all()
    assert (fb.feedback_time < pd.Timestamp(world.end)).all()
    emails = world.buyers.set_index("buyer_id")["email"]
    assert (
        fb.rater_email.to_numpy() == emails.loc[orders.loc[fb.order_id, "buyer_id"]].to_numpy()
    ).all()
    assert fb.comments.str.startswith("=").any()
    assert (fb.rating <= 2).any() and (fb.rating == 5).any()
    assert (fb.response[fb.rating > 2] == "").all()
    # negatives follow problems: more frequent after a return or refund
    problem = fb.order_id.isin(world.returns.order_id) | fb.order_id.isin(world.refunds.order_id)
    assert (fb.rating[problem] <= 2).mean() > (fb.rating[~problem] <= 2).mean()


def test_messages(world):
    m = world.messages
    end, start = pd.Timestamp(world.end), pd.Timestamp(world.start)
    assert (m.sent_time >= start).all() and (m.sent_time < end).all()
    assert set(m.direction) == {"buyer", "seller"}
    m = m.sort_values(["thread_id", "sent_time"], kind="stable")
    first = ~m.thread_id.duplicated()
    assert (m.loc[first, "in_reply_to"] == "").all()
    assert (m.loc[first, "direction"] == "buyer").all()
    prev_id = m.groupby("thread_id")["message_id"].shift()
    assert (m.loc[~first, "in_reply_to"] == prev_id[~first]).all()
    assert not m.duplicated(["thread_id", "sent_time"]).any()
    # threads do not change order, buyer or product
    per_thread = m.groupby("thread_id")[["order_id", "buyer_id", "asin"]].nunique()
    assert (per_thread == 1).all().all()
    presales = m.order_id == ""
    assert (m.loc[presales, "asin"] != "").all()
    assert (m.loc[~presales, "asin"] == "").all()
    buyer_first = first & (m.direction == "buyer")
    subj = m.loc[buyer_first & ~presales, "subject"]
    assert subj.str.fullmatch(r"Inquiry from Amazon customer .+ \(Order: \d{3}-\d{7}-\d{7}\)").all()
    assert (
        m.loc[buyer_first & presales, "subject"]
        .str.startswith("Product details inquiry from Amazon customer ")
        .all()
    )
    assert m.loc[m.direction == "seller", "subject"].str.startswith("RE: ").all()
    assert not m.body.str.contains("{", regex=False).any()
    # tied messages come after the purchase; pre-sales questions from orderers come before
    orders = world.orders.set_index("order_id")
    tied = m[~presales]
    assert (tied.sent_time.to_numpy() > orders.loc[tied.order_id, "purchase_time"].to_numpy()).all()
    # threads: unanswered ones, multi-message ones, nudges (two buyer messages in a row)
    sizes = m.groupby("thread_id").size()
    assert (sizes == 1).any() and (sizes >= 3).any()
    same = m.thread_id.eq(m.thread_id.shift())
    assert (same & m.direction.eq("buyer") & m.direction.shift().eq("buyer")).any()


def test_browsers_exist_without_orders(world):
    b = world.buyers
    without = b[~b.buyer_id.isin(world.orders.buyer_id)]
    assert len(without) > 0
    m = world.messages
    assert without.buyer_id.isin(m.loc[m.order_id == "", "buyer_id"]).all()
    assert (m.loc[m.buyer_id.isin(without.buyer_id), "order_id"] == "").all()


def test_seller_replies_in_working_hours(world):
    m = world.messages
    for account in world.accounts:
        sent = m.loc[(m.account_id == account.account_id) & (m.direction == "seller"), "sent_time"]
        local = sent.dt.tz_convert(account.seller_time_zone)
        minutes = local.dt.hour * 60 + local.dt.minute
        assert minutes.between(9 * 60, 21 * 60 + 2).all()
        assert (local.dt.day_of_week != 6).all()  # nobody answers on Sundays
    # the seller in Shanghai keeps US buyers waiting longer than the one in Los Angeles
    m = m.sort_values(["thread_id", "sent_time"], kind="stable")
    nxt = m.groupby("thread_id")[["direction", "sent_time"]].shift(-1)
    answered = (m.direction == "buyer") & (nxt.direction == "seller")
    wait = (nxt.sent_time - m.sent_time)[answered].dt.total_seconds()
    us = answered & (m.marketplace_id == US)
    acme = wait[us & (m.account_id == "acme-outdoor")].median()
    bluebird = wait[us & (m.account_id == "bluebird-home")].median()
    assert acme > bluebird


# --------------------------------------------------------------------------- #
# Buyers, geography and clocks
# --------------------------------------------------------------------------- #


def test_buyers_places_and_zones(world):
    b = world.buyers
    us = b[b.country_code == "US"]
    jp = b[b.country_code == "JP"]
    assert (b.marketplace_id == np.where(b.country_code == "US", US, JP)).all()
    expected = [geo.time_zone_for(s, p) for s, p in zip(us.state, us.postal_code, strict=True)]
    assert (us.time_zone == expected).all()
    assert us.state.isin(list(geo.US_STATES)).all()
    assert us.postal_code.str.fullmatch(r"\d{5}").all()
    assert (jp.time_zone == "Asia/Tokyo").all()
    assert jp.state.isin([p.name_ja for p in geo.JP_PREFECTURES.values()]).all()
    assert jp.postal_code.str.fullmatch(r"\d{3}-\d{4}").all()
    # the most populous states lead
    top = us.state.value_counts().index[:3]
    assert "CA" in top and ("TX" in top or "FL" in top)
    assert jp.state.value_counts().index[0] == "東京都"
    # non-ASCII names, JP names in Japanese
    assert us.name.str.contains(r"[^\x00-\x7f]").any()
    assert jp.name.str.contains(r"[\u3040-\u30ff\u4e00-\u9fff]").all()
    # orders ship to their buyer's address
    o = world.orders.merge(b, on="buyer_id", suffixes=("", "_b"))
    for a, c in (
        ("ship_city", "city"),
        ("ship_state", "state"),
        ("ship_postal_code", "postal_code"),
        ("ship_country", "country_code"),
        ("ship_time_zone", "time_zone"),
    ):
        assert (o[a] == o[c]).all()


def test_split_states_are_resolved_by_zip():
    places = generator._places("US")
    zones = generator._zones()
    frame = pd.DataFrame(
        {
            "state": places.state,
            "city": places.city,
            "postal": places.postal,
            "zone": [zones[z] for z in places.zone],
        }
    )
    pairs = set(zip(frame.city, frame.zone, strict=True))
    assert ("Pensacola", "America/Chicago") in pairs
    assert ("Miami", "America/New_York") in pairs
    assert ("Knoxville", "America/New_York") in pairs
    assert ("Nashville", "America/Chicago") in pairs
    assert ("El Paso", "America/Denver") in pairs
    assert ("Coeur d'Alene", "America/Los_Angeles") in pairs
    assert ("Ontario", "America/Boise") in pairs
    assert ("Gary", "America/Chicago") in pairs
    assert ("Indianapolis", "America/Indiana/Indianapolis") in pairs
    assert ("Iron Mountain", "America/Menominee") in pairs
    # a city's varied ZIPs never cross a time-zone line
    assert (frame.groupby(["state", "city"])["zone"].nunique() == 1).all()
    assert np.isclose(places.prob.sum(), 1.0)


def test_purchases_follow_the_local_clock(world):
    o = world.orders[world.orders.ship_country == "US"]
    hours = np.concatenate(
        [
            part.purchase_time.dt.tz_convert(zone).dt.hour.to_numpy()
            for zone, part in o.groupby("ship_time_zone")
        ]
    )
    counts = np.bincount(hours, minlength=24)
    assert counts[19:23].sum() > 3 * counts[2:6].sum()  # evening peak, night trough
    # in UTC the Eastern evening peak is shifted: 00-03 UTC busier than 08-11 UTC
    utc_hours = np.bincount(o.purchase_time.dt.hour, minlength=24)
    assert utc_hours[0:4].sum() > utc_hours[8:12].sum()


def test_repeat_buyers_and_order_shapes(world):
    o = world.orders
    live = o[o.order_status != "CANCELLED"]
    per_buyer = live.groupby("buyer_id").size()
    share = (per_buyer >= 2).mean()
    assert 0.03 < share < 0.4
    assert per_buyer.max() >= 3
    lines = world.order_items.groupby("order_id").size()
    assert 1.15 < lines.mean() < 1.5
    assert (world.order_items.quantity > 1).any()
    assert 0.5 < (o.fulfillment_channel == "AFN").mean() < 0.9
    assert o.is_business_order.any()
    missing = ~o.buyer_info_available
    assert 0.01 < missing.mean() < 0.12
    # BUYER data is missing for all or none of a buyer's orders
    assert (o.groupby("buyer_id")["buyer_info_available"].nunique() == 1).all()
    # and (name, postal code, country) identifies those buyers
    b = world.buyers[world.buyers.buyer_id.isin(o.loc[missing, "buyer_id"])]
    assert not b.duplicated(["name", "postal_code", "country_code"]).any()
    assert (o.order_status == "CANCELLED").any()
    assert (world.order_items.promotion_id != "").any()


def test_warp_round_trip_and_profile():
    warp = generator._Warp.profile(generator.PURCHASE_HOURS, generator.PURCHASE_WEEKDAYS)
    wall = np.linspace(1.7e9, 1.7e9 + 30 * 86400, 5000)
    assert np.allclose(warp.inverse(warp.forward(wall)), wall, atol=1e-3)
    u = np.linspace(0, 168 * 4, 100_001)[:-1] + warp.forward(np.array([generator._EPOCH_MONDAY]))[0]
    hours = ((warp.inverse(u) - generator._EPOCH_MONDAY) // 3600 % 24).astype(int)
    share = np.bincount(hours, minlength=24) / len(hours)
    expected = np.asarray(generator.PURCHASE_HOURS) / sum(generator.PURCHASE_HOURS)
    assert np.allclose(share, expected, atol=0.003)
    work = generator._Warp(
        np.r_[np.zeros(9), np.ones(12), np.zeros(3), np.zeros(144)], normalise=False
    )
    # Monday 22:00 + 1 working hour -> next Monday 10:00 (only Monday 9-21 works)
    monday_22 = generator._EPOCH_MONDAY + 22 * 3600
    out = work.inverse(work.forward(np.array([monday_22])) + 1.0)[0]
    assert out == generator._EPOCH_MONDAY + 7 * 86400 + 10 * 3600


def test_local_to_utc_handles_dst():
    ny = "America/New_York"
    # 2025-03-09 02:30 does not exist in New York: shifted to 03:00 EDT = 07:00 UTC
    gap = pd.Timestamp("2025-03-09 02:30").value / 1e9
    out = generator._from_wall(ny, np.array([gap]), np.array([True]))
    assert out[0] == pd.Timestamp("2025-03-09 07:00", tz="UTC").value / 1e9
    # 2024-11-03 01:30 happens twice: EDT (05:30 UTC) or EST (06:30 UTC)
    fold = pd.Timestamp("2024-11-03 01:30").value / 1e9
    out = generator._from_wall(ny, np.array([fold, fold]), np.array([True, False]))
    assert list(out) == [
        pd.Timestamp("2024-11-03 05:30", tz="UTC").value / 1e9,
        pd.Timestamp("2024-11-03 06:30", tz="UTC").value / 1e9,
    ]
    summer = pd.Timestamp("2025-07-01 16:00", tz="UTC").value / 1e9
    assert (
        generator._to_wall(ny, np.array([summer]))[0]
        == pd.Timestamp("2025-07-01 12:00").value / 1e9
    )


def test_other_accounts_and_marketplaces():
    from sellerops.sandbox.world import SandboxAccount

    account = SandboxAccount(
        "cedar-tools", "A9CEDAR", "Cedar Tools", "s@cedar.invalid", "Europe/Berlin", (JP,)
    )
    w = generate(
        GeneratorConfig(
            seed=3,
            end_date=date(2024, 12, 1),
            days=10,
            orders_per_day=5,
            accounts=(account,),
            products_per_account=20,
        )
    )
    assert set(w.orders.marketplace_id) == {JP}
    assert set(w.orders.account_id) == {"cedar-tools"}
    assert len(w.products) >= 2


@pytest.mark.parametrize("orders_per_day", [0.0, 0.3])
def test_tiny_and_empty_worlds_keep_the_contract(orders_per_day):
    w = generate(
        GeneratorConfig(seed=1, end_date=date(2025, 1, 1), days=2, orders_per_day=orders_per_day)
    )
    w.check()
    for name, columns in COLUMNS.items():
        frame = w.tables[name]
        for column, description in columns.items():
            expected = _expected_dtype(description)
            if expected == "str":
                assert isinstance(frame[column].dtype, pd.StringDtype), (name, column)
            else:
                assert str(frame[column].dtype) == expected, (name, column)
    if orders_per_day == 0:
        assert len(w.orders) == 0 and len(w.messages) == 0 and len(w.products) > 0
