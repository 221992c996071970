"""The planner on a hand-built warehouse: exact expected orders, on DuckDB and PostgreSQL.

As of 2025-06-30 12:00 UTC, a review request 7 days after delivery (given up 35 days
after it) is due for orders whose promised delivery lies in (05-26 12:00, 06-23 12:00].
Account ``shop-us`` (Amazon.com); every order is a shipped FBA order with one T1 (tent)
line and promised delivery 06-10 unless the table says otherwise::

    o01 b01                                      clean
    o02 b02  returned 06-15                      returned
    o03 b03  refunded 06-16 (no return)          refunded
    o04 b04  2-star feedback on o04              negative_feedback
    o05 b05  1-star feedback on an older order   negative_feedback (buyer-level)
    o06 b06  CANCELLED (promise 06-10)           cancelled
    o07 b07  business order                      business_orders
    o08 b08  opted out (all channels)            opted_out
    o09 b09  tag low_marketing_value             tag_excluded
    o10 b10  delivery 06-25                      not due yet: no row
    o11 b11  delivery 05-20                      past give-up: no row
    o12 b12  UNSHIPPED                           not delivered: no row
    o13 b13  M1 (mug) only
    o14 b14  T1 + M1
    o15 b15  X1 only
    o16 b16  tag repeat_buyer
    o17 b17  tags repeat_buyer, high_value
    o18 b18  repeat_buyer closed 06-01           (no current tag)
    o19 b19  another campaign sent it already    already_solicited
    o20 --   no buyer key, MFN, no promise, shipped 06-05 (+4 days transit -> 06-09)

``tea-jp`` (Amazon.co.jp) has j01, due as well: only campaigns for that account see it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from sellerops.accounts import Account
from sellerops.campaigns import definitions as defs
from sellerops.campaigns.planner import (
    add_opt_out,
    holdout_arm,
    import_opt_outs_csv,
    plan_campaigns,
)

SHOP, TEA = "shop-us", "tea-jp"
US, JP = "ATVPDKIKX0DER", "A1VC38T7YXB528"
T1, M1, X1 = "B0TENT0001", "B0MUG00001", "B0MYST0001"
AS_OF = datetime(2025, 6, 30, 12, 0, tzinfo=UTC)
LOADED = datetime(2025, 7, 1, tzinfo=UTC)
ACCOUNTS = [
    Account(
        account_id=SHOP,
        name="Shop US",
        spapi_conn_id="sellerops_spapi_shop",
        marketplaces=(US,),
        seller_time_zone="America/New_York",
    ),
    Account(
        account_id=TEA,
        name="Tea JP",
        spapi_conn_id="sellerops_spapi_tea",
        marketplaces=(JP,),
        seller_time_zone="Asia/Tokyo",
    ),
]


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def oid(n: int, prefix: str = "111") -> str:
    return f"{prefix}-0000000-{n:07d}"


def _order(
    n,
    buyer,
    *,
    delivery="2025-06-10 12:00",
    status="SHIPPED",
    channel="AFN",
    business=False,
    asins=(T1,),
    ship=None,
    purchase=None,
    acct=SHOP,
):
    mkt = US if acct == SHOP else JP
    order_id = oid(n, "111" if acct == SHOP else "503")
    bought = (
        t(purchase)
        if purchase
        else (t(delivery) if delivery else t("2025-06-01 00:00")) - timedelta(days=4)
    )
    order = {
        "account_id": acct,
        "marketplace_id": mkt,
        "order_id": order_id,
        "purchase_time": bought,
        "last_updated_time": bought,
        "order_status": status,
        "fulfillment_channel": channel,
        "sales_channel": "Amazon.com",
        "is_business_order": business,
        "buyer_key": buyer,
        "identity_source": "buyer_email" if buyer else "none",
        "ship_city": "Phoenix" if acct == SHOP else None,
        "ship_state": "AZ" if acct == SHOP else None,
        "ship_postal_code": "85004" if acct == SHOP else None,
        "ship_country": "US" if acct == SHOP else "JP",
        "ship_time": t(ship) if ship else None,
        "latest_delivery_time": t(delivery) if delivery else None,
        "currency": "USD",
        "order_total": 100,
        "promotion_ids": "",
        "source": "orders_api",
    }
    items = [
        {
            "account_id": acct,
            "marketplace_id": mkt,
            "order_id": order_id,
            "sku": f"SKU-{asin}",
            "asin": asin,
            "quantity": 1,
            "item_price": 50,
            "currency": "USD",
            "last_updated_time": bought,
            "source": "orders_api",
        }
        for asin in asins
    ]
    return order, items


ORDERS = [
    _order(1, "b01"),
    _order(2, "b02"),
    _order(3, "b03"),
    _order(4, "b04"),
    _order(5, "b05"),
    _order(105, "b05", delivery="2025-03-01 12:00"),
    _order(6, "b06", status="CANCELLED"),
    _order(7, "b07", business=True),
    _order(8, "b08"),
    _order(9, "b09"),
    _order(10, "b10", delivery="2025-06-25 12:00"),
    _order(11, "b11", delivery="2025-05-20 12:00"),
    _order(12, "b12", status="UNSHIPPED", delivery="2025-06-10 12:00"),
    _order(13, "b13", asins=(M1,)),
    _order(14, "b14", asins=(T1, M1)),
    _order(15, "b15", asins=(X1,)),
    _order(16, "b16"),
    _order(17, "b17"),
    _order(18, "b18"),
    _order(19, "b19"),
    _order(
        20, None, delivery=None, channel="MFN", ship="2025-06-05 12:00", purchase="2025-06-04 12:00"
    ),
    _order(1, "j01", acct=TEA),
]

DUE = {oid(n) for n in (1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 14, 15, 16, 17, 18, 19, 20)}
CLEAN = {oid(n) for n in (1, 13, 14, 15, 16, 17, 18, 20)}


def _insert(conn, table: str, rows: list[dict]) -> None:
    columns = sorted({c for r in rows for c in r} | {"batch_id", "loaded_at"})
    full = [
        {c: r.get(c) for c in columns} | {"batch_id": "test", "loaded_at": LOADED} for r in rows
    ]
    conn.execute(
        sa.text(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})"  # noqa: S608
        ),
        full,
    )


def _tag(buyer, tag, valid_from="2025-06-01 00:00", valid_to=None) -> dict:
    return {
        "account_id": SHOP,
        "marketplace_id": US,
        "buyer_key": buyer,
        "tag": tag,
        "source": "rule",
        "rule_version": "v1",
        "valid_from": t(valid_from),
        "valid_to": t(valid_to) if valid_to else None,
        "reason": None,
    }


def build_world(wh) -> None:
    with wh.begin() as conn:
        _insert(conn, "core.orders", [o for o, _ in ORDERS])
        _insert(conn, "core.order_items", [i for _, items in ORDERS for i in items])
        _insert(
            conn,
            "core.returns",
            [
                {
                    "account_id": SHOP,
                    "marketplace_id": US,
                    "return_key": "r1",
                    "order_id": oid(2),
                    "sku": f"SKU-{T1}",
                    "asin": T1,
                    "quantity": 1,
                    "return_time": t("2025-06-15 10:00"),
                    "fulfillment_channel": "AFN",
                    "source": "test",
                }
            ],
        )
        _insert(
            conn,
            "core.refunds",
            [
                {
                    "account_id": SHOP,
                    "marketplace_id": US,
                    "adjustment_id": "adj1",
                    "order_id": oid(3),
                    "amount": 50,
                    "currency": "USD",
                    "posted_time": t("2025-06-16 10:00"),
                    "source": "test",
                }
            ],
        )
        _insert(
            conn,
            "core.feedback",
            [
                {
                    "account_id": SHOP,
                    "marketplace_id": US,
                    "order_id": oid(4),
                    "feedback_date": date(2025, 6, 14),
                    "rating": 2,
                    "has_response": False,
                    "buyer_key": "b04",
                    "source": "test",
                },
                {
                    "account_id": SHOP,
                    "marketplace_id": US,
                    "order_id": oid(105),
                    "feedback_date": date(2025, 3, 5),
                    "rating": 1,
                    "has_response": False,
                    "buyer_key": "b05",
                    "source": "test",
                },
            ],
        )
        rows = [
            _tag("b09", "low_marketing_value"),
            _tag("b16", "repeat_buyer"),
            _tag("b17", "repeat_buyer"),
            _tag("b17", "high_value"),
            _tag("b18", "repeat_buyer", "2025-05-01 00:00", "2025-06-01 00:00"),
        ]
        columns = list(rows[0])
        conn.execute(
            sa.text(
                f"INSERT INTO marts.buyer_tags ({', '.join(columns)}) VALUES "  # noqa: S608
                f"({', '.join(':' + c for c in columns)})"
            ),
            rows,
        )
        # Another campaign already sent o19 its review request.
        conn.execute(
            sa.text(
                "INSERT INTO ops.campaign_sends (campaign, account_id, marketplace_id, order_id, "
                "buyer_key, channel, action, arm, status, anchor_time, anchor_source, due_at, "
                "give_up_at, planned_at, updated_at) VALUES ('older_campaign', :a, :m, :o, 'b19', "
                "'amazon_review_request', 'productReviewAndSellerFeedback', 'treatment', 'sent', "
                ":t, 'latest_delivery', :t, :t, :t, :t)"
            ),
            {"a": SHOP, "m": US, "o": oid(19), "t": t("2025-06-20 00:00")},
        )
    add_opt_out(wh, SHOP, "b08", channel="all", since=t("2025-06-01 00:00"), note="asked by e-mail")


@pytest.fixture
def wh(any_warehouse):
    build_world(any_warehouse)
    return any_warehouse


def campaign(name="c", channel="amazon_review_request", **extra) -> defs.Campaign:
    data = {
        "name": name,
        "channel": channel,
        "purpose": "review_request" if channel == "amazon_review_request" else "cross_sell",
        "trigger": {"event": "delivery", "days": 7},
        "limits": {"give_up_after_days": 35},
        "accounts": [SHOP],
        **extra,
    }
    return defs.Campaign.model_validate(data)


def plan(wh, *campaigns, as_of=AS_OF):
    file = defs.CampaignsFile(campaigns=tuple(campaigns))
    return plan_campaigns(wh, file, accounts=ACCOUNTS, as_of=as_of)


def rows(wh, name="c") -> dict[str, tuple]:
    with wh.connect() as conn:
        result = conn.execute(
            sa.text(
                "SELECT order_id, status, reason, arm FROM ops.campaign_sends WHERE campaign = :c"
            ),
            {"c": name},
        ).fetchall()
    return {r[0]: (r[1], r[2], r[3]) for r in result}


def planned(wh, name="c") -> set[str]:
    return {o for o, (status, _, _) in rows(wh, name).items() if status == "planned"}


def test_review_request_default_exclusions(wh):
    run = plan(wh, campaign(audience={"exclude_tags": ["low_marketing_value"]}))
    got = rows(wh)
    assert set(got) == DUE  # nothing before it is due, after give-up, or undelivered
    assert planned(wh) == CLEAN
    excluded = {o: reason for o, (status, reason, _) in got.items() if status == "excluded"}
    assert excluded == {
        oid(2): "returned",
        oid(3): "refunded",
        oid(4): "negative_feedback",
        oid(5): "negative_feedback",
        oid(6): "cancelled",
        oid(7): "business_orders",
        oid(8): "opted_out",
        oid(9): "tag_excluded",
        oid(19): "already_solicited",
    }
    assert all(arm is None for status, _, arm in got.values() if status == "excluded")
    assert all(arm == "treatment" for status, _, arm in got.values() if status == "planned")
    assert run.count("planned") == len(CLEAN)
    assert run.count("excluded", reason="returned") == 1
    with wh.connect() as conn:
        anchor = conn.execute(
            sa.text(
                "SELECT anchor_source, anchor_time, due_at, time_zone FROM ops.campaign_sends "
                "WHERE campaign = 'c' AND order_id = :o"
            ),
            {"o": oid(20)},
        ).one()
        logged = conn.execute(sa.text("SELECT step, status FROM ops.campaign_runs")).fetchall()
    assert anchor[0] == "shipment"
    assert anchor[1].astimezone(UTC) == t("2025-06-09 12:00")  # ship + 4 days transit
    assert anchor[2].astimezone(UTC) == t("2025-06-16 12:00")
    assert anchor[3] == "America/Phoenix"
    assert [tuple(r) for r in logged] == [("plan", "success")]


def test_rerun_changes_nothing(wh):
    c = campaign(audience={"exclude_tags": ["low_marketing_value"]})
    plan(wh, c)
    before = rows(wh)
    again = plan(wh, c)
    assert dict(again.counts) == {}
    assert rows(wh) == before


EXPORT = {"channel": "audience_export", "exclusions": []}
ALL_BUT_OPTED_OUT = DUE - {oid(8)}


@pytest.mark.parametrize(
    ("products", "expected"),
    [
        ({"scope": "all"}, ALL_BUT_OPTED_OUT),
        ({"scope": "only", "asins": [M1]}, {oid(13), oid(14)}),
        ({"scope": "only", "asins": [M1, X1]}, {oid(13), oid(14), oid(15)}),
        ({"scope": "except", "asins": [M1]}, ALL_BUT_OPTED_OUT - {oid(13), oid(14)}),
        ({"scope": "except", "asins": [T1, M1]}, {oid(15)}),
    ],
    ids=["all", "only", "only-two", "except", "except-two"],
)
def test_product_scope(wh, products, expected):
    plan(wh, campaign(products=products, **EXPORT))
    assert planned(wh) == expected
    got = rows(wh)
    assert {o for o, (s, r, _) in got.items() if r == "product_scope"} == (
        ALL_BUT_OPTED_OUT - expected
    )


@pytest.mark.parametrize(
    ("audience", "expected"),
    [
        ({"include_tags": ["repeat_buyer"]}, {oid(16), oid(17)}),
        ({"include_tags": ["repeat_buyer", "high_value"]}, {oid(16), oid(17)}),
        ({"include_tags": ["repeat_buyer", "high_value"], "include_mode": "all"}, {oid(17)}),
        ({"exclude_tags": ["high_value"]}, ALL_BUT_OPTED_OUT - {oid(17)}),
        ({"include_tags": ["repeat_buyer"], "exclude_tags": ["high_value"]}, {oid(16)}),
        (
            {"exclude_tags": ["low_marketing_value", "repeat_buyer"]},
            ALL_BUT_OPTED_OUT - {oid(9), oid(16), oid(17)},
        ),
    ],
    ids=["include", "include-any", "include-all", "exclude", "include-and-exclude", "exclude-two"],
)
def test_tags(wh, audience, expected):
    plan(wh, campaign(audience=audience, **EXPORT))
    assert planned(wh) == expected


def test_each_exclusion_can_be_chosen(wh):
    expected_by_exclusion = {
        "cancelled": {oid(6)},
        "returned": {oid(2)},
        "refunded": {oid(3)},
        "negative_feedback": {oid(4), oid(5)},
        "business_orders": {oid(7)},
        "already_solicited": set(),  # an export is not an Amazon action: o19 is not "solicited"
    }
    for i, (exclusion, expected) in enumerate(expected_by_exclusion.items()):
        name = f"x{i}"
        plan(wh, campaign(name=name, channel="audience_export", exclusions=[exclusion]))
        got = rows(wh, name)
        assert {o for o, (s, r, _) in got.items() if r == exclusion} == expected, exclusion
        # opted_out always applies
        assert got[oid(8)][:2] == ("excluded", "opted_out")


def test_fulfillment_channel_and_account_scope(wh):
    plan(wh, campaign(audience={"fulfillment_channels": ["MFN"]}, **EXPORT))
    assert planned(wh) == {oid(20)}
    jp = campaign(name="jp", accounts=[TEA], **EXPORT)
    plan(wh, jp)
    assert planned(wh, "jp") == {oid(1, "503")}


def test_holdout_is_deterministic_and_kept(wh):
    c = campaign(name="h", holdout=0.5, **EXPORT)
    plan(wh, c)
    got = rows(wh, "h")
    arms = {o: arm for o, (s, _, arm) in got.items() if s in ("planned", "held_out")}
    assert {s for s, _, _ in got.values()} == {"planned", "held_out", "excluded"}
    buyers = {o["order_id"]: o["buyer_key"] for o, _ in ORDERS}
    for order_id, arm in arms.items():
        assert arm == holdout_arm("h", buyers[order_id], order_id, 0.5)
        assert got[order_id][0] == ("held_out" if arm == "holdout" else "planned")
    plan(wh, c, as_of=AS_OF + timedelta(hours=3))
    assert rows(wh, "h") == got
    shares = [holdout_arm("share", f"buyer{i}", "x", 0.1) == "holdout" for i in range(20000)]
    assert 0.09 < sum(shares) / len(shares) < 0.11


def test_replanning_excludes_new_returns_and_expires(wh):
    c = campaign(audience={"exclude_tags": ["low_marketing_value"]})
    plan(wh, c)
    with wh.begin() as conn:
        _insert(
            conn,
            "core.returns",
            [
                {
                    "account_id": SHOP,
                    "marketplace_id": US,
                    "return_key": "r2",
                    "order_id": oid(1),
                    "quantity": 1,
                    "return_time": AS_OF + timedelta(hours=1),
                    "fulfillment_channel": "AFN",
                    "source": "test",
                }
            ],
        )
    run = plan(wh, c, as_of=AS_OF + timedelta(days=1))
    assert rows(wh)[oid(1)] == ("excluded", "returned", "treatment")  # keeps its arm
    assert run.count("excluded", reason="returned") == 1
    # 35 days after the promised delivery of 06-10 12:00 every planned row is given up
    # (o20's estimated delivery 06-09 too); o10 (delivered 06-25) has become due.
    run = plan(wh, c, as_of=t("2025-07-15 12:00"))
    got = rows(wh)
    assert {o for o, (s, r, _) in got.items() if s == "expired"} == CLEAN - {oid(1)}
    assert all(got[o][1] == "window_passed" for o in CLEAN - {oid(1)})
    assert run.count("expired") == len(CLEAN) - 1
    assert planned(wh) == {oid(10)}


def test_opt_outs_from_csv_exclude_buyers(wh, tmp_path):
    path = tmp_path / "opt_outs.csv"
    path.write_text(
        "account_id,buyer_key,channel,since,note\n"
        f"{SHOP},b13,amazon_review_request,2025-06-01,phone call\n"
        f"{SHOP},b14,audience_export,2025-06-01,\n"
        f"{SHOP},b08,all,2025-06-01,duplicate of the manual one\n",
        encoding="utf-8",
    )
    assert import_opt_outs_csv(wh, path) == 2
    assert import_opt_outs_csv(wh, path) == 0
    plan(wh, campaign(audience={"exclude_tags": ["low_marketing_value"]}))
    got = rows(wh)
    assert got[oid(13)][:2] == ("excluded", "opted_out")
    assert got[oid(14)][0] == "planned"  # opted out of exports only
    bad = tmp_path / "bad.csv"
    bad.write_text("account_id,buyer_key,channel\nshop-us,b1,carrier_pigeon\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 2"):
        import_opt_outs_csv(wh, bad)


# -- audience exports and the command line (no Amazon involved) ---------------------------------


def test_audience_export_writes_each_order_once_and_resolves_interruptions(wh, tmp_path):
    from sellerops.campaigns.sender import send_campaigns

    out = tmp_path / "exports"
    export = campaign(
        name="e",
        channel="audience_export",
        exclusions=[],
        audience={"include_tags": ["repeat_buyer"]},
        export={"format": "csv", "key": "buyer_key", "directory": str(out)},
    )
    file = defs.CampaignsFile(campaigns=(export,))
    dry = send_campaigns(wh, file, accounts=ACCOUNTS, as_of=AS_OF)
    assert dry.count("would_send") == 2 and not out.exists()

    run = send_campaigns(wh, file, accounts=ACCOUNTS, as_of=AS_OF, live=True)
    assert run.count("sent", reason="exported") == 2
    files = sorted(out.glob("*.csv"))
    assert len(files) == 1 and files[0].name.startswith(f"{SHOP}__{US}__")
    lines = files[0].read_text(encoding="utf-8").splitlines()
    assert lines == [
        "campaign,account_id,marketplace_id,buyer_key",
        f"e,{SHOP},{US},b16",
        f"e,{SHOP},{US},b17",
    ]
    again = send_campaigns(wh, file, accounts=ACCOUNTS, as_of=AS_OF, live=True)
    assert again.count("sent") == 0 and len(list(out.glob("*.csv"))) == 1

    # A worker that died after claiming: with its file written -> sent; without -> released.
    def interrupt(order_id: str, token: str) -> None:
        with wh.begin() as conn:
            conn.execute(
                sa.text(
                    "UPDATE ops.campaign_sends SET status = 'claimed', claim_token = :t, "
                    "claimed_at = :now WHERE campaign = 'e' AND order_id = :o"
                ),
                {"t": token, "o": order_id, "now": datetime.now(UTC) - timedelta(hours=1)},
            )

    interrupt(oid(16), "aaaa")
    (out / f"{SHOP}__{US}__aaaa.csv").write_text("campaign,account_id,marketplace_id,buyer_key\n")
    interrupt(oid(17), "bbbb")
    run = send_campaigns(wh, file, accounts=ACCOUNTS, as_of=AS_OF, live=True)
    assert run.count("resolved", reason="exported_before_interruption") == 1
    assert run.count("resolved", reason="released_not_exported") == 1
    assert run.count("sent", reason="exported") == 1  # o17, released, exported again
    got = rows(wh, "e")
    assert got[oid(16)][0] == got[oid(17)][0] == "sent"


def test_command_line_adapters(wh, tmp_path, capsys, monkeypatch):
    import argparse

    import yaml

    from sellerops.campaigns import cli_opt_out, cli_plan, cli_status

    path = tmp_path / "campaigns.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "campaigns": [
                    campaign(audience={"exclude_tags": ["low_marketing_value"]}).model_dump(
                        mode="json"
                    )
                ]
            }
        ),
        encoding="utf-8",
    )
    accounts = tmp_path / "accounts.yaml"
    accounts.write_text(
        yaml.safe_dump({"accounts": [a.model_dump(mode="json") for a in ACCOUNTS]}),
        encoding="utf-8",
    )
    args = argparse.Namespace(
        warehouse=wh.url.render_as_string(hide_password=False),
        campaigns_file=str(path),
        accounts=str(accounts),
        as_of="2025-06-30T12:00:00+00:00",
        campaign=None,
    )
    assert cli_plan(args) == 0
    assert "planned" in capsys.readouterr().out
    assert planned(wh) == CLEAN
    assert cli_status(argparse.Namespace(warehouse=args.warehouse, campaign=["c"])) == 0
    status = capsys.readouterr().out
    assert "excluded     returned" in status and "campaigns:plan:" in status
    opt = argparse.Namespace(
        warehouse=args.warehouse, csv=None, account=SHOP, buyer="b01", channel="all", note="phone"
    )
    assert cli_opt_out(opt) == 0 and "recorded" in capsys.readouterr().out
    assert cli_opt_out(opt) == 0 and "already opted out" in capsys.readouterr().out
    assert cli_plan(args) == 0
    assert rows(wh)[oid(1)][:2] == ("excluded", "opted_out")
