"""A small, fully specified seller world for the mart tests, written straight into ``core``.

Everything the mart tests expect is worked out by hand from the rows below; the
tests repeat the arithmetic in comments. All times are UTC.

Account ``acme-outdoor`` sells on Amazon.com (``ATVPDKIKX0DER``) and works in
``Asia/Shanghai`` (UTC+8 all year, so its local hour is the UTC hour + 8).
Account ``beta-jp`` sells on Amazon.co.jp and works in ``Asia/Tokyo``.

Catalogue (acme): A1 ``B000TENT01`` (SKU-TENT, Acme, Tents), A2 ``B000LAMP01``
(SKU-LAMP, Acme, Lighting), A3 ``B000MUGS01`` (SKU-MUG, Brew, Kitchen); A4
``B000MYST01`` (SKU-MYST) is not in the catalogue. Beta: ``B0JTEA0001``
(SKU-J-TEA, Sakura, Tea); ``B0JCUP0001`` (SKU-J-CUP) is not catalogued.

acme buyers and orders (revenue = item price - promotion discount)::

    B1 buyer-ca  Los Angeles CA 90012 (America/Los_Angeles)
       O1  2024-10-05 15:00  AFN  A1 x1  100.00                           -> 100
       O2  2024-11-20 18:00  AFN  A2 x3   60.00                           ->  60
       O3  2025-01-15 20:00  MFN  A1 x1  100.00 - 10.00 promo PROMO-JAN  ->  90
       O4  2025-03-20 15:00  AFN  A3 x3   30.00  UNSHIPPED (latest order = as_of)
    B2 buyer-az  Phoenix AZ 85004 (America/Phoenix, no DST)
       O5  2025-02-10 17:00  AFN  A2 x1   20.00
       O6  2025-02-25 03:00  AFN  A2 x1 20.00 + A4 x1 15.00              ->  35
    B3 buyer-fl  Pensacola FL 32501 (panhandle: America/Chicago)
       O7  2025-03-05 14:00  MFN  A3 x2   60.00
       O8  2025-03-06 10:00  MFN  A1 x1  100.00  CANCELLED
    B4 buyer-in  Gary IN 46402 (north-west Indiana: America/Chicago)
       O9  2024-11-10 12:00  AFN  A1 x1  100.00 - 20.00 promo PROMO-FALL ->  80
    B5 buyer-ny  New York NY 10001 (America/New_York)
       O10 2024-09-15 13:00  AFN  Non-Amazon (MCF)  A3 x1  30.00
    B6 buyer-presales  wrote one pre-sales question, never ordered
    (no buyer key)
       O11 2025-03-05 09:00  AFN  A2 x1  20.00, no address

Returns: R1 O9 A1 1u 2024-11-25 DEFECTIVE; R2 O2 A2 1u 2024-12-01 DEFECTIVE (no
refund: replaced); R3 O2 A2 1u 2024-12-05 NO_LONGER_NEEDED; R4 O6 A4 1u
2025-03-01 NOT_AS_DESCRIBED (the report left the ASIN out).
Refunds (posted): O9 80.00 2024-11-27; O2 20.00 2024-12-08; O6 15.00 2025-03-03;
O10 10.00 2024-09-28 (a refund without any return).
Feedback: O10 5* 2024-09-25; O9 2* 2024-11-26; O3 5* 2025-01-20; O5 4* 2025-02-20;
O7 1* 2025-03-12.

Messages (buyer -> seller, seller-local hour = UTC + 8)::

    T1 pre-sales  B6  m1 2025-03-10 14:00   reply 14:30             -> 30 min
    T2 pre-sales  B3  m2 2025-03-03 02:00   never answered
    T3 about O7   B3  m3 2025-03-09 02:00   reply 2025-03-09 20:00  -> 1080 min
                      (Sat 20:00 CST in Pensacola; DST starts 2025-03-09 08:00 UTC)
                      m4 2025-03-10 01:00   reply 01:15             -> 15 min
                      (Sun 20:00 CDT: the same local hour, one UTC hour earlier)
    T4 about O6   B2  m5 2025-02-26 16:00   reply 2025-02-27 18:00  -> 1560 min

beta-jp: J1 buyer-tokyo (東京都 154-0004) P1 2025-03-05 01:00 TEA x1 3000, P2
2025-03-15 02:00 TEA x2 6000; J2 buyer-osaka (大阪府 530-0001) P3 2025-03-18 05:00
CUP x1 3000.

The default as_of is the latest purchase time, O4's 2025-03-20 15:00 UTC.

:func:`insert_new_day` adds the next day's loads for the incremental tests.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import sqlalchemy as sa

from sellerops.accounts import Account

ACME = "acme-outdoor"
BETA = "beta-jp"
US = "ATVPDKIKX0DER"
JP = "A1VC38T7YXB528"

A1, A2, A3, A4 = "B000TENT01", "B000LAMP01", "B000MUGS01", "B000MYST01"
JTEA, JCUP = "B0JTEA0001", "B0JCUP0001"
B1, B2, B3, B4, B5, B6 = (
    "buyer-ca",
    "buyer-az",
    "buyer-fl",
    "buyer-in",
    "buyer-ny",
    "buyer-presales",
)
B7 = "buyer-tn"  # appears in the new day
J1, J2 = "buyer-tokyo", "buyer-osaka"

AS_OF = datetime(2025, 3, 20, 15, 0, tzinfo=UTC)
LOADED_AT = datetime(2025, 3, 21, 0, 0, tzinfo=UTC)
NEW_DAY_LOADED_AT = datetime(2025, 3, 22, 0, 0, tzinfo=UTC)


def order_id(n: int) -> str:
    return f"111-0000000-{n:07d}"


def jp_order_id(n: int) -> str:
    return f"503-0000000-{n:07d}"


ACCOUNTS = [
    Account(
        account_id=ACME,
        name="Acme Outdoor",
        spapi_conn_id="sellerops_spapi_acme",
        marketplaces=(US,),
        seller_time_zone="Asia/Shanghai",
    ),
    Account(
        account_id=BETA,
        name="Beta JP",
        spapi_conn_id="sellerops_spapi_beta",
        marketplaces=(JP,),
        seller_time_zone="Asia/Tokyo",
    ),
]

CATALOG_CSV = """account_id,marketplace_id,asin,sku,title,brand,category
acme-outdoor,ATVPDKIKX0DER,B000TENT01,SKU-TENT,Trail Tent,Acme,Tents
acme-outdoor,ATVPDKIKX0DER,B000LAMP01,SKU-LAMP,Camp Lantern,Acme,Lighting
acme-outdoor,ATVPDKIKX0DER,B000MUGS01,SKU-MUG,Enamel Mug,Brew,Kitchen
beta-jp,A1VC38T7YXB528,B0JTEA0001,SKU-J-TEA,Green Tea,Sakura,Tea
"""

SKU = {A1: "SKU-TENT", A2: "SKU-LAMP", A3: "SKU-MUG", A4: "SKU-MYST"}


def write_catalog(folder: Path) -> Path:
    path = Path(folder) / "catalog.csv"
    path.write_text(CATALOG_CSV, encoding="utf-8")
    return path


def t(text: str) -> datetime:
    """'2025-03-05 14:00' -> aware UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# -- rows ---------------------------------------------------------------------------------

CA = ("Los Angeles", "CA", "90012", "US")
AZ = ("Phoenix", "AZ", "85004", "US")
FL = ("Pensacola", "FL", "32501", "US")
IN = ("Gary", "IN", "46402", "US")
NY = ("New York", "NY", "10001", "US")
TN = ("Knoxville", "TN", "37902", "US")
TOKYO = ("世田谷区", "東京都", "154-0004", "JP")
OSAKA = ("大阪市北区", "大阪府", "530-0001", "JP")
NOWHERE = (None, None, None, None)


def _order(
    n, buyer, when, status, channel, address, lines, *, sales="Amazon.com", promo="", acct=ACME
):
    """An order row and its item rows. lines: (asin, qty, price, discount, promo ids)."""
    mkt = US if acct == ACME else JP
    oid = order_id(n) if acct == ACME else jp_order_id(n)
    currency = "USD" if acct == ACME else "JPY"
    city, state, postal, country = address
    order = {
        "account_id": acct,
        "marketplace_id": mkt,
        "order_id": oid,
        "purchase_time": t(when),
        "last_updated_time": t(when),
        "order_status": status,
        "fulfillment_channel": channel,
        "sales_channel": sales,
        "is_business_order": False,
        "buyer_key": buyer,
        "identity_source": "buyer_email" if buyer else "none",
        "ship_city": city,
        "ship_state": state,
        "ship_postal_code": postal,
        "ship_country": country,
        "currency": currency,
        "order_total": sum(price - discount for _, _, price, discount, _ in lines),
        "promotion_ids": promo,
        "source": "orders_api",
    }
    items = [
        {
            "account_id": acct,
            "marketplace_id": mkt,
            "order_id": oid,
            "sku": SKU.get(asin, {JTEA: "SKU-J-TEA", JCUP: "SKU-J-CUP"}.get(asin)),
            "asin": asin,
            "quantity": qty,
            "item_price": price,
            "promotion_discount": discount,
            "promotion_ids": promo_ids,
            "currency": currency,
            "last_updated_time": t(when),
            "source": "orders_api",
        }
        for asin, qty, price, discount, promo_ids in lines
    ]
    return order, items


ORDERS = [
    _order(1, B1, "2024-10-05 15:00", "SHIPPED", "AFN", CA, [(A1, 1, 100, 0, "")]),
    _order(2, B1, "2024-11-20 18:00", "SHIPPED", "AFN", CA, [(A2, 3, 60, 0, "")]),
    _order(
        3,
        B1,
        "2025-01-15 20:00",
        "SHIPPED",
        "MFN",
        CA,
        [(A1, 1, 100, 10, "PROMO-JAN")],
        promo="PROMO-JAN",
    ),
    _order(4, B1, "2025-03-20 15:00", "UNSHIPPED", "AFN", CA, [(A3, 3, 30, 0, "")]),
    _order(5, B2, "2025-02-10 17:00", "SHIPPED", "AFN", AZ, [(A2, 1, 20, 0, "")]),
    _order(
        6, B2, "2025-02-25 03:00", "SHIPPED", "AFN", AZ, [(A2, 1, 20, 0, ""), (A4, 1, 15, 0, "")]
    ),
    _order(7, B3, "2025-03-05 14:00", "SHIPPED", "MFN", FL, [(A3, 2, 60, 0, "")]),
    _order(8, B3, "2025-03-06 10:00", "CANCELLED", "MFN", FL, [(A1, 1, 100, 0, "")]),
    _order(
        9,
        B4,
        "2024-11-10 12:00",
        "SHIPPED",
        "AFN",
        IN,
        [(A1, 1, 100, 20, "PROMO-FALL")],
        promo="PROMO-FALL",
    ),
    _order(
        10, B5, "2024-09-15 13:00", "SHIPPED", "AFN", NY, [(A3, 1, 30, 0, "")], sales="Non-Amazon"
    ),
    _order(11, None, "2025-03-05 09:00", "SHIPPED", "AFN", NOWHERE, [(A2, 1, 20, 0, "")]),
    _order(
        1,
        J1,
        "2025-03-05 01:00",
        "SHIPPED",
        "AFN",
        TOKYO,
        [(JTEA, 1, 3000, 0, "")],
        sales="Amazon.co.jp",
        acct=BETA,
    ),
    _order(
        2,
        J1,
        "2025-03-15 02:00",
        "SHIPPED",
        "AFN",
        TOKYO,
        [(JTEA, 2, 6000, 0, "")],
        sales="Amazon.co.jp",
        acct=BETA,
    ),
    _order(
        3,
        J2,
        "2025-03-18 05:00",
        "SHIPPED",
        "MFN",
        OSAKA,
        [(JCUP, 1, 3000, 0, "")],
        sales="Amazon.co.jp",
        acct=BETA,
    ),
]


def _return(key, n, asin, when, reason, *, with_asin=True):
    return {
        "account_id": ACME,
        "marketplace_id": US,
        "return_key": key,
        "order_id": order_id(n),
        "sku": SKU[asin],
        "asin": asin if with_asin else None,
        "quantity": 1,
        "return_time": t(when),
        "reason": reason,
        "status": "Unit returned to inventory",
        "fulfillment_channel": "AFN",
        "source": "GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA",
    }


RETURNS = [
    _return("fba:9:tent:LPN1", 9, A1, "2024-11-25 10:00", "DEFECTIVE"),
    _return("fba:2:lamp:LPN2", 2, A2, "2024-12-01 10:00", "DEFECTIVE"),
    _return("fba:2:lamp:LPN3", 2, A2, "2024-12-05 10:00", "NO_LONGER_NEEDED"),
    _return("fba:6:myst:LPN4", 6, A4, "2025-03-01 10:00", "NOT_AS_DESCRIBED", with_asin=False),
]


def _refund(adjustment, n, asin, amount, when, quantity=1):
    return {
        "account_id": ACME,
        "marketplace_id": US,
        "adjustment_id": adjustment,
        "order_id": order_id(n),
        "sku": SKU[asin],
        "quantity": quantity,
        "amount": amount,
        "currency": "USD",
        "posted_time": t(when),
        "source": "finances_api",
    }


REFUNDS = [
    _refund("ADJ-1", 9, A1, 80, "2024-11-27 08:00"),
    _refund("ADJ-2", 2, A2, 20, "2024-12-08 08:00"),
    _refund("ADJ-3", 6, A4, 15, "2025-03-03 08:00"),
    _refund("ADJ-4", 10, A3, 10, "2024-09-28 08:00", quantity=None),
]


def _feedback(n, day, rating, buyer):
    return {
        "account_id": ACME,
        "marketplace_id": US,
        "order_id": order_id(n),
        "feedback_date": date.fromisoformat(day),
        "rating": rating,
        "comments": None,
        "has_response": False,
        "buyer_key": buyer,
        "source": "GET_SELLER_FEEDBACK_DATA",
    }


FEEDBACK = [
    _feedback(10, "2024-09-25", 5, B5),
    _feedback(9, "2024-11-26", 2, B4),
    _feedback(3, "2025-01-20", 5, B1),
    _feedback(5, "2025-02-20", 4, B2),
    _feedback(7, "2025-03-12", 1, B3),
]


def _message(mid, thread, direction, when, buyer, n=None, kind="order_inquiry"):
    return {
        "account_id": ACME,
        "marketplace_id": US,
        "message_id": mid,
        "thread_key": thread,
        "order_id": order_id(n) if n else None,
        "direction": direction,
        "sent_time": t(when),
        "buyer_key": buyer,
        "subject_kind": kind,
        "has_attachment": False,
        "body_chars": 100,
        "source": "maildir",
    }


MESSAGES = [
    _message("m1", "T1", "buyer", "2025-03-10 14:00", B6, kind="presales_inquiry"),
    _message("s1", "T1", "seller", "2025-03-10 14:30", B6, kind="presales_inquiry"),
    _message("m2", "T2", "buyer", "2025-03-03 02:00", B3, kind="presales_inquiry"),
    _message("m3", "T3", "buyer", "2025-03-09 02:00", B3, 7),
    _message("s3", "T3", "seller", "2025-03-09 20:00", B3, 7),
    _message("m4", "T3", "buyer", "2025-03-10 01:00", B3, 7),
    _message("s4", "T3", "seller", "2025-03-10 01:15", B3, 7),
    _message("m5", "T4", "buyer", "2025-02-26 16:00", B2, 6, kind="return"),
    _message("s5", "T4", "seller", "2025-02-27 18:00", B2, 6, kind="return"),
]


# -- writing ----------------------------------------------------------------------------------


def _columns(conn, table: str) -> list[str]:
    schema, name = table.split(".")
    rows = conn.execute(
        sa.text(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = :s "
            "AND table_name = :t ORDER BY ordinal_position"
        ),
        {"s": schema, "t": name},
    ).fetchall()
    return [r[0] for r in rows]


def upsert(conn, table: str, rows: list[dict], *, batch_id: str, loaded_at: datetime) -> None:
    """Insert (or replace, by primary key) rows the way the loader leaves them in core."""
    if not rows:
        return
    columns = _columns(conn, table)
    keys = {
        "core.orders": ("account_id", "order_id"),
        "core.order_items": ("account_id", "order_id", "sku"),
        "core.returns": ("account_id", "return_key"),
        "core.refunds": ("account_id", "adjustment_id"),
        "core.feedback": ("account_id", "order_id"),
        "core.messages": ("account_id", "message_id"),
    }[table]
    others = [c for c in columns if c not in keys]
    full = [
        {c: row.get(c) for c in columns} | {"batch_id": batch_id, "loaded_at": loaded_at}
        for row in rows
    ]
    conn.execute(
        sa.text(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES "  # noqa: S608 - test helper
            f"({', '.join(':' + c for c in columns)}) ON CONFLICT ({', '.join(keys)}) "
            f"DO UPDATE SET {', '.join(f'{c} = EXCLUDED.{c}' for c in others)}"
        ),
        full,
    )


def insert_handmade(wh) -> None:
    """Write the whole hand-built world into the core tables of ``wh``."""
    with wh.begin() as conn:
        upsert(
            conn,
            "core.orders",
            [o for o, _ in ORDERS],
            batch_id="handmade",
            loaded_at=LOADED_AT,
        )
        upsert(
            conn,
            "core.order_items",
            [i for _, items in ORDERS for i in items],
            batch_id="handmade",
            loaded_at=LOADED_AT,
        )
        for table, rows in (
            ("core.returns", RETURNS),
            ("core.refunds", REFUNDS),
            ("core.feedback", FEEDBACK),
            ("core.messages", MESSAGES),
        ):
            upsert(conn, table, rows, batch_id="handmade", loaded_at=LOADED_AT)


# -- the next day, for the incremental tests ------------------------------------------------


def new_day_rows() -> dict[str, list[dict]]:
    """Loads of 2025-03-21 (loaded_at 2025-03-22 00:00), touching some buyers and days only.

    * O12: B4 (at risk) orders again, 2025-03-21 10:00, A2 x1 20.00.
    * O13: new buyer B7 in Knoxville TN 37902 (East Tennessee: America/New_York),
      2025-03-21 12:00, A3 x2 60.00.
    * O4 (B1) is shipped: only its status changes.
    * O5 (B2's first order) turns out CANCELLED: B2's first order is now O6, so
      2025-02-10 loses its new buyer and B2 is new on 2025-02-25 instead.
    * O11 is matched to B6 (who only wrote before): B6 gets an order and 2025-03-05
      gets a second buyer.
    * T2 (B3's pre-sales question of 2025-03-03) finally gets a reply 2025-03-21 09:00.
    * O7 is refunded in full (60.00) 2025-03-21; O4 gets 4-star feedback 2025-03-21.
    B5 (buyer-ny) and the beta-jp account are not touched.
    """
    orders = {o["order_id"]: (o, items) for o, items in ORDERS}
    o12, o12_items = _order(12, B4, "2025-03-21 10:00", "SHIPPED", "AFN", IN, [(A2, 1, 20, 0, "")])
    o13, o13_items = _order(13, B7, "2025-03-21 12:00", "SHIPPED", "MFN", TN, [(A3, 2, 60, 0, "")])
    o4 = dict(
        orders[order_id(4)][0], order_status="SHIPPED", last_updated_time=t("2025-03-21 08:00")
    )
    o5 = dict(
        orders[order_id(5)][0], order_status="CANCELLED", last_updated_time=t("2025-03-21 08:00")
    )
    o11 = dict(orders[order_id(11)][0], buyer_key=B6, identity_source="buyer_email")
    return {
        "core.orders": [o12, o13, o4, o5, o11],
        "core.order_items": [*o12_items, *o13_items],
        "core.messages": [_message("s2", "T2", "seller", "2025-03-21 09:00", B3)],
        "core.refunds": [_refund("ADJ-5", 7, A3, 60, "2025-03-21 18:00", quantity=2)],
        "core.feedback": [_feedback(4, "2025-03-21", 4, B1)],
    }


def insert_new_day(wh) -> None:
    with wh.begin() as conn:
        for table, rows in new_day_rows().items():
            upsert(conn, table, rows, batch_id="handmade-day-2", loaded_at=NEW_DAY_LOADED_AT)


# -- reading results ----------------------------------------------------------------------


def fetch(wh, sql: str, **params) -> list[dict]:
    """Rows of a query as dicts, numbers as float/int, dates and times as Python objects."""
    with wh.connect() as conn:
        result = conn.execute(sa.text(sql), params)
        return [{k: _plain(v) for k, v in r._mapping.items()} for r in result]


def _plain(value):
    from decimal import Decimal

    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC)
    return value


def same(actual, expected, *, tol: float = 1e-9) -> bool:
    if isinstance(expected, float) or isinstance(actual, float):
        if actual is None or expected is None:
            return actual is expected
        return abs(float(actual) - float(expected)) <= tol
    return actual == expected


def assert_row(actual: dict, expected: dict, label: str = "") -> None:
    """Every expected column equals the actual one (floats to 1e-9)."""
    wrong = {
        column: (actual.get(column, "<missing>"), value)
        for column, value in expected.items()
        if not same(actual.get(column), value)
    }
    assert not wrong, f"{label}: (actual, expected) differ: {wrong}"


def by_key(rows: list[dict], *columns: str) -> dict:
    out = {}
    for row in rows:
        key = tuple(row[c] for c in columns)
        key = key[0] if len(key) == 1 else key
        assert key not in out, f"duplicate key {key}"
        out[key] = row
    return out
