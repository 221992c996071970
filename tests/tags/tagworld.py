"""A small hand-built seller world for the buyer-tag tests, written straight into ``core``.

Every default tag of ``include/tags.yaml`` has buyers that must carry it and
near misses that must not; the expected sets are worked out by hand below
(``EXPECTED``). All times are UTC. The default as_of is the latest purchase,
2025-06-30 12:00 (b20's last order): a buyer is at_risk when the last order is more
than 90 days before 2025-06-30 (on or before 2025-03-31) and churned when more
than 180 (before 2025-01-01).

Account ``shop-us`` (Amazon.com). Catalogue: T1 tent and L1 lantern (brand Acme),
M1 mug and K1 kettle (brand Brew); X1 is not catalogued. Addresses: CA (Pacific),
AZ and El Paso TX (Mountain), Pensacola FL and Houston TX (Central), NY (Eastern),
Anchorage AK (Alaska), Honolulu HI (Hawaii), San Juan PR (Atlantic).

=====  =========================================================================
b01    CA  05-01 T1 x3 promo; 06-10 L1 x1      discount_responsive, brand (Acme)
b02    AZ  05-02 T1 x2 promo; 06-11 M1 x1      only 2 units at a discount
b03    NY  06-01 T1 x3 promo                   discounted bulk, never came back
b04    FL  05-05 M1 x1 promo; 06-05 M1 x4      discount and bulk in different orders
b05    TX  06-02 K1; 2-star feedback           low_marketing_value
b06    ElP 06-03 K1; 3-star feedback           neutral, not negative
b07    AK  01-10 L1; 03-15 L1                  at_risk (107 days), brand (Acme)
b08    HI  04-01 M1                            90 days: not yet at risk
b09    PR  2024-12-01 T1                       churned, Atlantic
b10    CA  06-04 T1, returned and refunded     returner only
b11    NY  06-05 L1, refunded, no return       refunded_without_return
b12    CA  05-10 M1 refunded; 06-06 K1 returned  both, brand (Brew)
b13    -   pre-sales question only             presales_no_order
b14    NY  pre-sales question, then 05-03 T1
b15    NY  pre-sales question, 06-02 T1 CANCELLED
b16    AZ  05-20 T1; 06-20 M1                  two brands, one order each
b17    NY  06-21 T1 + L1 in one order          one order of Acme
b18    TX  06-22 X1; 06-25 X1                  no brand known
b19    FL  06-10 T1 CANCELLED; 06-23 T1        one placed order of Acme
b20    CA  02-10 .. 06-30 T1 x1 five times     high_value (RFM 555), brand (Acme)
=====  =========================================================================

RFM among the 18 shop-us buyers with orders: score = 1 + floor(5 (rank - 1) / 18).
Ten buyers have 1 order (rank 1: F=1), seven have 2 (rank 11: F=3), b20 has 5
(rank 18: F=5), so b20 is the only champion; its revenue (500) and last order are
the highest (M=5, R=5).

Account ``tea-jp`` (Amazon.co.jp) has a buyer with the same key ``b01`` (one
discounted 3-unit order: must not get discount_responsive from shop-us's orders)
and ``jp2`` with two Sakura orders (repeat_buyer, brand_loyalist).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import sqlalchemy as sa

from sellerops.accounts import Account

SHOP = "shop-us"
TEA = "tea-jp"
US = "ATVPDKIKX0DER"
JP = "A1VC38T7YXB528"

T1, L1, M1, K1, X1 = "B0TENT0001", "B0LAMP0001", "B0MUG00001", "B0KETL0001", "B0MYST0001"
J1 = "B0JTEA0001"
SKU = {
    T1: "SKU-TENT",
    L1: "SKU-LAMP",
    M1: "SKU-MUG",
    K1: "SKU-KETTLE",
    X1: "SKU-MYST",
    J1: "SKU-TEA",
}
PRICE = {T1: 100, L1: 50, M1: 15, K1: 40, X1: 10, J1: 1000}

AS_OF = datetime(2025, 6, 30, 12, 0, tzinfo=UTC)
LOADED_AT = datetime(2025, 7, 1, 0, 0, tzinfo=UTC)

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

CATALOG_CSV = f"""account_id,marketplace_id,asin,sku,title,brand,category
{SHOP},{US},{T1},SKU-TENT,Trail Tent,Acme,Tents
{SHOP},{US},{L1},SKU-LAMP,Camp Lantern,Acme,Lighting
{SHOP},{US},{M1},SKU-MUG,Enamel Mug,Brew,Kitchen
{SHOP},{US},{K1},SKU-KETTLE,Camp Kettle,Brew,Kitchen
{TEA},{JP},{J1},SKU-TEA,Green Tea,Sakura,Tea
"""


def write_catalog(folder: Path) -> Path:
    path = Path(folder) / "tag_catalog.csv"
    path.write_text(CATALOG_CSV, encoding="utf-8")
    return path


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


CA = ("Los Angeles", "CA", "90012", "US")
AZ = ("Phoenix", "AZ", "85004", "US")
ELP = ("El Paso", "TX", "79901", "US")
FL = ("Pensacola", "FL", "32501", "US")
TX = ("Houston", "TX", "77002", "US")
NY = ("New York", "NY", "10001", "US")
AK = ("Anchorage", "AK", "99501", "US")
HI = ("Honolulu", "HI", "96813", "US")
PR = ("San Juan", "PR", "00901", "US")
TOKYO = ("Setagaya", "Tokyo", "154-0004", "JP")


def _oid(account: str, n: int) -> str:
    return f"{'111' if account == SHOP else '503'}-0000000-{n:07d}"


def order(
    n: int,
    buyer: str | None,
    when: str,
    address: tuple,
    lines: list[tuple],
    *,
    status: str = "SHIPPED",
    account: str = SHOP,
    promo: str = "",
) -> tuple[dict, list[dict]]:
    """An order row and its lines; lines are (asin, quantity, discount)."""
    marketplace = US if account == SHOP else JP
    currency = "USD" if account == SHOP else "JPY"
    oid = _oid(account, n)
    city, state, postal, country = address
    items = [
        {
            "account_id": account,
            "marketplace_id": marketplace,
            "order_id": oid,
            "sku": SKU[asin],
            "asin": asin,
            "quantity": qty,
            "item_price": PRICE[asin] * qty,
            "promotion_discount": discount,
            "promotion_ids": promo if discount else "",
            "currency": currency,
            "last_updated_time": t(when),
            "source": "orders_api",
        }
        for asin, qty, discount in lines
    ]
    row = {
        "account_id": account,
        "marketplace_id": marketplace,
        "order_id": oid,
        "purchase_time": t(when),
        "last_updated_time": t(when),
        "order_status": status,
        "fulfillment_channel": "AFN",
        "sales_channel": "Amazon.com" if account == SHOP else "Amazon.co.jp",
        "is_business_order": False,
        "buyer_key": buyer,
        "identity_source": "buyer_email" if buyer else "none",
        "ship_city": city,
        "ship_state": state,
        "ship_postal_code": postal,
        "ship_country": country,
        "currency": currency,
        "order_total": sum(i["item_price"] - i["promotion_discount"] for i in items),
        "promotion_ids": promo,
        "source": "orders_api",
    }
    return row, items


ORDERS = [
    order(1, "b01", "2025-05-01 10:00", CA, [(T1, 3, 30)], promo="PROMO-MAY"),
    order(2, "b01", "2025-06-10 10:00", CA, [(L1, 1, 0)]),
    order(3, "b02", "2025-05-02 10:00", AZ, [(T1, 2, 20)], promo="PROMO-MAY"),
    order(4, "b02", "2025-06-11 10:00", AZ, [(M1, 1, 0)]),
    order(5, "b03", "2025-06-01 10:00", NY, [(T1, 3, 30)], promo="PROMO-JUN"),
    order(6, "b04", "2025-05-05 10:00", FL, [(M1, 1, 5)], promo="PROMO-MAY"),
    order(7, "b04", "2025-06-05 10:00", FL, [(M1, 4, 0)]),
    order(8, "b05", "2025-06-02 10:00", TX, [(K1, 1, 0)]),
    order(9, "b06", "2025-06-03 10:00", ELP, [(K1, 1, 0)]),
    order(10, "b07", "2025-01-10 10:00", AK, [(L1, 1, 0)]),
    order(11, "b07", "2025-03-15 10:00", AK, [(L1, 1, 0)]),
    order(12, "b08", "2025-04-01 10:00", HI, [(M1, 1, 0)]),
    order(13, "b09", "2024-12-01 10:00", PR, [(T1, 1, 0)]),
    order(14, "b10", "2025-06-04 10:00", CA, [(T1, 1, 0)]),
    order(15, "b11", "2025-06-05 10:00", NY, [(L1, 1, 0)]),
    order(16, "b12", "2025-05-10 10:00", CA, [(M1, 1, 0)]),
    order(17, "b12", "2025-06-06 10:00", CA, [(K1, 1, 0)]),
    order(18, "b14", "2025-05-03 10:00", NY, [(T1, 1, 0)]),
    order(19, "b15", "2025-06-02 10:00", NY, [(T1, 1, 0)], status="CANCELLED"),
    order(20, "b16", "2025-05-20 10:00", AZ, [(T1, 1, 0)]),
    order(21, "b16", "2025-06-20 10:00", AZ, [(M1, 1, 0)]),
    order(22, "b17", "2025-06-21 10:00", NY, [(T1, 1, 0), (L1, 1, 0)]),
    order(23, "b18", "2025-06-22 10:00", TX, [(X1, 1, 0)]),
    order(24, "b18", "2025-06-25 10:00", TX, [(X1, 1, 0)]),
    order(25, "b19", "2025-06-10 10:00", FL, [(T1, 1, 0)], status="CANCELLED"),
    order(26, "b19", "2025-06-23 10:00", FL, [(T1, 1, 0)]),
    order(27, "b20", "2025-02-10 10:00", CA, [(T1, 1, 0)]),
    order(28, "b20", "2025-03-10 10:00", CA, [(T1, 1, 0)]),
    order(29, "b20", "2025-04-10 10:00", CA, [(T1, 1, 0)]),
    order(30, "b20", "2025-05-10 10:00", CA, [(T1, 1, 0)]),
    order(31, "b20", "2025-06-30 12:00", CA, [(T1, 1, 0)]),
    order(1, "b01", "2025-06-15 01:00", TOKYO, [(J1, 3, 300)], account=TEA, promo="JP-SALE"),
    order(2, "jp2", "2025-05-15 01:00", TOKYO, [(J1, 1, 0)], account=TEA),
    order(3, "jp2", "2025-06-16 01:00", TOKYO, [(J1, 1, 0)], account=TEA),
]


def _return(key: str, n: int, asin: str, when: str, reason: str) -> dict:
    return {
        "account_id": SHOP,
        "marketplace_id": US,
        "return_key": key,
        "order_id": _oid(SHOP, n),
        "sku": SKU[asin],
        "asin": asin,
        "quantity": 1,
        "return_time": t(when),
        "reason": reason,
        "status": "Unit returned to inventory",
        "fulfillment_channel": "AFN",
        "source": "GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA",
    }


RETURNS = [
    _return("fba:14:tent", 14, T1, "2025-06-15 10:00", "DEFECTIVE"),
    _return("fba:17:kettle", 17, K1, "2025-06-20 10:00", "NO_LONGER_NEEDED"),
]


def _refund(adjustment: str, n: int, asin: str, amount: float, when: str) -> dict:
    return {
        "account_id": SHOP,
        "marketplace_id": US,
        "adjustment_id": adjustment,
        "order_id": _oid(SHOP, n),
        "sku": SKU[asin],
        "quantity": 1,
        "amount": amount,
        "currency": "USD",
        "posted_time": t(when),
        "source": "finances_api",
    }


REFUNDS = [
    _refund("ADJ-10", 14, T1, 100, "2025-06-16 08:00"),
    _refund("ADJ-11", 15, L1, 50, "2025-06-12 08:00"),
    _refund("ADJ-12", 16, M1, 15, "2025-05-20 08:00"),
]


def _feedback(n: int, day: str, rating: int, buyer: str) -> dict:
    return {
        "account_id": SHOP,
        "marketplace_id": US,
        "order_id": _oid(SHOP, n),
        "feedback_date": date.fromisoformat(day),
        "rating": rating,
        "comments": None,
        "has_response": False,
        "buyer_key": buyer,
        "source": "GET_SELLER_FEEDBACK_DATA",
    }


FEEDBACK = [
    _feedback(8, "2025-06-08", 2, "b05"),
    _feedback(9, "2025-06-09", 3, "b06"),
    _feedback(31, "2025-06-30", 5, "b20"),
    _feedback(1, "2025-05-10", 5, "b01"),
]


def _message(mid, thread, direction, when, buyer, n=None, kind="order_inquiry") -> dict:
    return {
        "account_id": SHOP,
        "marketplace_id": US,
        "message_id": mid,
        "thread_key": thread,
        "order_id": _oid(SHOP, n) if n else None,
        "direction": direction,
        "sent_time": t(when),
        "buyer_key": buyer,
        "subject_kind": kind,
        "has_attachment": False,
        "body_chars": 80,
        "source": "maildir",
    }


MESSAGES = [
    _message("q13", "T13", "buyer", "2025-06-20 15:00", "b13", kind="presales_inquiry"),
    _message("q14", "T14", "buyer", "2025-05-01 15:00", "b14", kind="presales_inquiry"),
    _message("r14", "T14", "seller", "2025-05-01 15:20", "b14", kind="presales_inquiry"),
    _message("q15", "T15", "buyer", "2025-06-01 15:00", "b15", kind="presales_inquiry"),
    _message("q05", "T05", "buyer", "2025-06-09 15:00", "b05", 8),
    _message("r05", "T05", "seller", "2025-06-09 18:00", "b05", 8),
    _message("q05b", "T05", "buyer", "2025-06-10 09:00", "b05", 8),
]

# Tag -> the (account, buyer) pairs that must carry it, exactly.
EXPECTED: dict[str, set[tuple[str, str]]] = {
    "discount_responsive": {(SHOP, "b01")},
    "low_marketing_value": {(SHOP, "b05")},
    "repeat_buyer": {
        *((SHOP, b) for b in ("b01", "b02", "b04", "b07", "b12", "b16", "b18", "b20")),
        (TEA, "jp2"),
    },
    "high_value": {(SHOP, "b20")},
    "at_risk": {(SHOP, "b07")},
    "returner": {(SHOP, "b10"), (SHOP, "b12")},
    "refunded_without_return": {(SHOP, "b11"), (SHOP, "b12")},
    "presales_no_order": {(SHOP, "b13")},
    "brand_loyalist": {
        *((SHOP, b) for b in ("b01", "b04", "b07", "b12", "b20")),
        (TEA, "jp2"),
    },
    "tz_eastern": {(SHOP, b) for b in ("b03", "b11", "b14", "b17")},
    "tz_central": {(SHOP, b) for b in ("b04", "b05", "b18", "b19")},
    "tz_mountain": {(SHOP, b) for b in ("b02", "b06", "b16")},
    "tz_pacific": {(SHOP, b) for b in ("b01", "b10", "b12", "b20")},
    "tz_alaska_hawaii": {(SHOP, "b07"), (SHOP, "b08")},
}


# -- writing ---------------------------------------------------------------------------------

KEYS = {
    "core.orders": ("account_id", "order_id"),
    "core.order_items": ("account_id", "order_id", "sku"),
    "core.returns": ("account_id", "return_key"),
    "core.refunds": ("account_id", "adjustment_id"),
    "core.feedback": ("account_id", "order_id"),
    "core.messages": ("account_id", "message_id"),
}


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
    """Insert or replace rows by primary key, the way the loader leaves them in core."""
    if not rows:
        return
    columns = _columns(conn, table)
    keys = KEYS[table]
    others = [c for c in columns if c not in keys]
    conn.execute(
        sa.text(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES "  # noqa: S608 - test helper
            f"({', '.join(':' + c for c in columns)}) ON CONFLICT ({', '.join(keys)}) "
            f"DO UPDATE SET {', '.join(f'{c} = EXCLUDED.{c}' for c in others)}"
        ),
        [
            {c: row.get(c) for c in columns} | {"batch_id": batch_id, "loaded_at": loaded_at}
            for row in rows
        ],
    )


def insert_world(wh) -> None:
    with wh.begin() as conn:
        upsert(conn, "core.orders", [o for o, _ in ORDERS], batch_id="tags", loaded_at=LOADED_AT)
        upsert(
            conn,
            "core.order_items",
            [i for _, items in ORDERS for i in items],
            batch_id="tags",
            loaded_at=LOADED_AT,
        )
        for table, rows in (
            ("core.returns", RETURNS),
            ("core.refunds", REFUNDS),
            ("core.feedback", FEEDBACK),
            ("core.messages", MESSAGES),
        ):
            upsert(conn, table, rows, batch_id="tags", loaded_at=LOADED_AT)


def fetch(wh, sql: str, **params) -> list[dict]:
    with wh.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.text(sql), params)]


# -- the next days, for the history tests ------------------------------------------------------

NEW_DAY_AS_OF = datetime(2025, 7, 2, 12, 0, tzinfo=UTC)
NEW_DAY_LOADED_AT = datetime(2025, 7, 3, 0, 0, tzinfo=UTC)


def new_day_rows() -> dict[str, list[dict]]:
    """Loads of 2025-07-01/02; the new as_of is b21's order, 2025-07-02 12:00.

    * b07 (at_risk) orders again 07-02 10:00 (L1): leaves at_risk.
    * b08 orders M1 again 07-01: repeat_buyer and brand_loyalist (Brew twice).
    * b11 returns the lantern 07-01: returner, no longer refunded_without_return.
    * new buyer b21 in NY, 07-02 12:00, T1 x3 with a promotion: tz_eastern only.
    """
    orders = [
        order(32, "b07", "2025-07-02 10:00", AK, [(L1, 1, 0)]),
        order(33, "b08", "2025-07-01 10:00", HI, [(M1, 1, 0)]),
        order(34, "b21", "2025-07-02 12:00", NY, [(T1, 3, 30)], promo="PROMO-JUL"),
    ]
    return {
        "core.orders": [o for o, _ in orders],
        "core.order_items": [i for _, items in orders for i in items],
        "core.returns": [_return("fba:15:lamp", 15, L1, "2025-07-01 10:00", "DEFECTIVE")],
    }


def insert_new_day(wh) -> None:
    with wh.begin() as conn:
        for table, rows in new_day_rows().items():
            upsert(conn, table, rows, batch_id="tags-day-2", loaded_at=NEW_DAY_LOADED_AT)
