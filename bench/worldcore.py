"""The ``core`` contents of a sandbox World, built straight from its tables (benchmarks only).

The ingest path (SP-API pages, report files, mail -> parsers -> validation ->
loader) is what the tests check against the sandbox truth; benchmarks of the
loader and the models need the same *shape* of data at 1M-10M order lines
without spending an hour in the extractors. So this module maps World tables
to the six core datasets directly and vectorised, the way the extractors
would: Orders API orders and items (buyer e-mail key on FBM orders with BUYER
data, recipient key always, ship time only on shipped FBM orders), report-style
returns, Finances refunds, feedback by local marketplace date, and messages
keyed by the buyer's relay address. Text columns stay Arrow-backed ``str``
(the loader hands frames to Arrow either way), so 10M lines fit in memory.

It is not library code and not a second truth: the keys and statuses are what
the sources produce for the sandbox, but free-text fields (subject kinds,
return keys) are simplified.
"""

from __future__ import annotations

import gc
import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd

from sellerops import datasets, identity
from sellerops.sandbox.world import MARKETPLACES, World

PEPPER = identity.DEVELOPMENT_PEPPER.encode()
DATASET_ORDER = ("orders", "order_items", "returns", "refunds", "feedback", "messages")


def make_world(lines: int, *, days: int = 120, seed: int = 7, accounts=None) -> World:
    from sellerops.sandbox.generator import GeneratorConfig, generate

    options = {"seed": seed, "days": days, "order_lines": lines, "orders_per_day": None}
    if accounts is not None:
        options["accounts"] = tuple(accounts)
    return generate(GeneratorConfig(**options))


def _hmac_hex(messages: list[str | None]) -> list[str | None]:
    """HMAC-SHA256 hex under the development pepper, the inner/outer state computed once."""
    base = hmac.new(PEPPER, digestmod=hashlib.sha256)
    out: list[str | None] = []
    for message in messages:
        if message is None:
            out.append(None)
            continue
        h = base.copy()
        h.update(message.encode("utf-8"))
        out.append(h.hexdigest())
    return out


def _email_messages(emails: list[str]) -> list[str | None]:
    normalised = (identity.normalise_email(e) for e in emails)
    return [None if n is None else "email:" + n for n in normalised]


def buyer_keys(buyers: pd.DataFrame) -> pd.DataFrame:
    """buyer_id, email_key, recipient_key: the identity HMACs, once per buyer."""
    norm = identity.normalise_text
    recipients = []
    for name, postal, country in zip(
        buyers["name"].tolist(),
        buyers["postal_code"].tolist(),
        buyers["country_code"].tolist(),
        strict=True,
    ):
        name_n, postal_n = norm(name), norm(postal).replace(" ", "")
        recipients.append(
            f"recipient:{name_n}|{postal_n}|{norm(country)}" if name_n and postal_n else None
        )
    keys = pd.DataFrame(
        {
            "buyer_id": buyers["buyer_id"].to_numpy(),
            "email_key": pd.Series(
                _hmac_hex(_email_messages(buyers["email"].tolist())), dtype="str"
            ),
            "recipient_key": pd.Series(_hmac_hex(recipients), dtype="str"),
        }
    )
    # The same keys as sellerops.identity, checked on a sample.
    sample = buyers.head(50)
    expected_email = [identity.key_from_email(PEPPER, e) for e in sample["email"].tolist()]
    expected_recipient = [
        identity.key_from_recipient(PEPPER, n, p, c)
        for n, p, c in zip(
            sample["name"].tolist(),
            sample["postal_code"].tolist(),
            sample["country_code"].tolist(),
            strict=True,
        )
    ]
    got = keys.head(50)
    if (
        got["email_key"].tolist() != expected_email
        or got["recipient_key"].tolist() != expected_recipient
    ):
        raise AssertionError("bench buyer keys differ from sellerops.identity")
    return keys


_ORDERS_SQL = """
WITH totals AS (
    SELECT order_id,
           round(sum(item_price + shipping_price + item_tax - promotion_discount), 2) AS total,
           coalesce(string_agg(DISTINCT promotion_id, ',' ORDER BY promotion_id)
                    FILTER (WHERE promotion_id <> ''), '') AS promos
    FROM items GROUP BY order_id
), keyed AS (
    SELECT o.*, t.total, t.promos,
           CASE WHEN o.fulfillment_channel = 'MFN' AND o.buyer_info_available
                THEN k.email_key END AS email_key,
           k.recipient_key
    FROM orders AS o
    LEFT JOIN totals AS t USING (order_id)
    LEFT JOIN keys AS k USING (buyer_id)
)
SELECT account_id, marketplace_id, order_id, purchase_time, last_updated_time, order_status,
       fulfillment_channel, 'AMAZON' AS sales_channel, is_business_order,
       email_key AS buyer_email_key, recipient_key AS buyer_recipient_key,
       CASE WHEN email_key IS NOT NULL THEN 'buyer_email'
            WHEN recipient_key IS NOT NULL THEN 'recipient' ELSE 'none' END AS identity_source,
       ship_city, ship_state, ship_postal_code, ship_country,
       CASE WHEN fulfillment_channel = 'MFN' AND order_status = 'SHIPPED' THEN ship_time END
           AS ship_time,
       latest_delivery_time, currency, total AS order_total, coalesce(promos, '') AS promotion_ids,
       'orders_api' AS source
FROM keyed
ORDER BY purchase_time, order_id
"""

_ITEMS_SQL = """
SELECT i.account_id, i.marketplace_id, i.order_id, i.sku, i.order_item_id, i.asin, i.quantity,
       i.item_price, i.item_tax, i.shipping_price, i.promotion_discount,
       i.promotion_id AS promotion_ids, i.currency, o.last_updated_time, 'orders_api' AS source
FROM items AS i JOIN orders AS o USING (order_id)
ORDER BY o.purchase_time, i.order_id, i.order_item_id
"""

_RETURNS_SQL = """
SELECT account_id, marketplace_id,
       CASE WHEN fulfillment_channel = 'AFN' THEN 'fba:' ELSE 'mfn:' END
           || order_id || ':' || sku || ':' || return_id AS return_key,
       order_id, sku, asin, quantity, return_time, reason, status, fulfillment_channel,
       CASE WHEN fulfillment_channel = 'AFN' THEN 'GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA'
            ELSE 'GET_FLAT_FILE_RETURNS_DATA_BY_RETURN_DATE' END AS source
FROM returns ORDER BY return_time, return_id
"""

_REFUNDS_SQL = """
SELECT account_id, marketplace_id, adjustment_id, order_id, sku, quantity, amount, currency,
       posted_time, 'finances_api' AS source
FROM refunds ORDER BY posted_time, adjustment_id
"""

_FEEDBACK_SQL = """
SELECT f.account_id, f.marketplace_id, f.order_id,
       CAST(CAST(f.feedback_time AT TIME ZONE z.zone AS DATE) AS TIMESTAMP) AS feedback_date,
       f.rating, NULLIF(f.comments, '') AS comments, f.response <> '' AS has_response,
       r.rater_key AS buyer_key, 'GET_SELLER_FEEDBACK_DATA' AS source
FROM feedback AS f
JOIN zones AS z USING (marketplace_id)
LEFT JOIN raters AS r USING (rater_email)
ORDER BY f.feedback_time, f.order_id
"""

_MESSAGES_SQL = """
SELECT m.account_id, m.marketplace_id, m.message_id, m.thread_id AS thread_key,
       NULLIF(m.order_id, '') AS order_id, m.direction, m.sent_time, k.email_key AS buyer_key,
       CASE WHEN m.order_id = '' THEN 'presales_inquiry' ELSE 'order_inquiry' END
           AS subject_kind,
       false AS has_attachment, length(m.body) AS body_chars, 'maildir' AS source
FROM messages AS m LEFT JOIN keys AS k USING (buyer_id)
ORDER BY m.sent_time, m.message_id
"""

_SQL = {
    "orders": _ORDERS_SQL,
    "order_items": _ITEMS_SQL,
    "returns": _RETURNS_SQL,
    "refunds": _REFUNDS_SQL,
    "feedback": _FEEDBACK_SQL,
    "messages": _MESSAGES_SQL,
}


def core_frames(world: World) -> dict[str, pd.DataFrame]:
    """The six core datasets of ``world`` (columns and order of :mod:`sellerops.datasets`).

    The joins and aggregations run in an in-memory DuckDB over the World's
    frames; the frames come back Arrow-backed (``str`` text columns).
    """
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    keys = buyer_keys(world.buyers)
    raters = world.feedback[["rater_email"]].drop_duplicates()
    raters = raters.assign(
        rater_key=pd.Series(
            _hmac_hex(_email_messages(raters["rater_email"].tolist())),
            index=raters.index,
            dtype="str",
        )
    )
    zones = pd.DataFrame(
        {
            "marketplace_id": list(MARKETPLACES),
            "zone": [m["default_time_zone"] for m in MARKETPLACES.values()],
        }
    )
    for name, frame in (
        ("orders", world.orders),
        ("items", world.order_items),
        ("returns", world.returns),
        ("refunds", world.refunds),
        ("feedback", world.feedback),
        ("messages", world.messages),
        ("keys", keys),
        ("raters", raters),
        ("zones", zones),
    ):
        con.register(name, frame)
    frames: dict[str, pd.DataFrame] = {}
    for name, sql in _SQL.items():
        table = con.execute(sql).fetch_arrow_table()
        frame = table.to_pandas()
        del table
        for column in datasets.get(name).columns:
            if column.type == "int":
                frame[column.name] = frame[column.name].astype("Int64")
            elif column.type == "bool":
                frame[column.name] = frame[column.name].astype("boolean")
            elif column.type == "timestamp":
                frame[column.name] = frame[column.name].dt.tz_convert("UTC")
        expected = datasets.get(name).column_names
        if list(frame.columns) != expected:
            raise AssertionError(f"{name}: columns {list(frame.columns)} != {expected}")
        frames[name] = frame
    con.close()
    gc.collect()
    return frames


# -- loading ---------------------------------------------------------------------------------


_NO_QUARANTINE = pd.DataFrame(columns=["row_number", "reason", "values"])


def load_frames(
    warehouse,
    frames: dict[str, pd.DataFrame],
    *,
    chunk_rows: int = 2_000_000,
    source: str = "bench",
) -> dict[str, int]:
    """Load core frames with the library loader (``load_batch``), in chunks; rows per dataset."""
    from sellerops.load import load_batch, new_batch_id

    loaded: dict[str, int] = {}
    for name in DATASET_ORDER:
        frame = frames.get(name)
        if frame is None or not len(frame):
            continue
        dataset = datasets.get(name)
        for start in range(0, len(frame), chunk_rows):
            chunk = frame.iloc[start : start + chunk_rows]
            load_batch(
                warehouse,
                dataset,
                chunk,
                chunk,
                _NO_QUARANTINE,
                batch_id=new_batch_id(name, "bench", "all"),
                account_id="bench",
                marketplace_id="all",
                source=source,
                window_start=None,
                window_end=None,
            )
        loaded[name] = loaded.get(name, 0) + len(frame)
    return loaded


def resolve_all(warehouse, account_ids: Iterable[str]) -> None:
    from sellerops.identity_resolution import resolve_identities

    for account_id in account_ids:
        resolve_identities(warehouse, account_id)


# -- what the model build needs besides core ---------------------------------------------------


@dataclass(frozen=True)
class BuildInputs:
    accounts: list
    catalog_path: Path


def build_inputs(world: World, folder: Path) -> BuildInputs:
    """The accounts (seller time zones) and the catalogue CSV of ``world``."""
    from sellerops.accounts import Account

    accounts = [
        Account(
            account_id=a.account_id,
            name=a.seller_name,
            spapi_conn_id="sellerops_spapi_" + a.account_id.replace("-", "_"),
            marketplaces=tuple(a.marketplace_ids),
            seller_time_zone=a.seller_time_zone,
        )
        for a in world.accounts
    ]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "catalog.csv"
    columns = ["account_id", "marketplace_id", "asin", "sku", "title", "brand", "category"]
    world.products[columns].to_csv(path, index=False)
    return BuildInputs(accounts, path)


# -- one new day on top of a history -------------------------------------------------------------

TIME_COLUMN = {
    "orders": "last_updated_time",
    "order_items": "last_updated_time",
    "returns": "return_time",
    "refunds": "posted_time",
    "feedback": "feedback_date",
    "messages": "sent_time",
}


def split_last_day(
    frames: dict[str, pd.DataFrame], cut: datetime
) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    """(history before ``cut``, the day from ``cut``) as a daily load would see them.

    Rows whose time is before ``cut`` are history. An order purchased before
    ``cut`` but last updated after it is in the history in an earlier version
    (UNSHIPPED, not shipped, last updated at purchase) and in the new day in
    its final one, so the new day both inserts and updates orders.
    """
    cut_ts = pd.Timestamp(cut)
    history: dict[str, pd.DataFrame] = {}
    new_day: dict[str, pd.DataFrame] = {}
    orders = frames["orders"]
    updated_late = orders["last_updated_time"] >= cut_ts
    purchased_before = orders["purchase_time"] < cut_ts
    earlier = orders[updated_late & purchased_before].copy()
    earlier["order_status"] = "UNSHIPPED"
    earlier["ship_time"] = pd.NaT
    earlier["last_updated_time"] = earlier["purchase_time"]
    history["orders"] = pd.concat([orders[~updated_late], earlier], ignore_index=True)
    new_day["orders"] = orders[updated_late].reset_index(drop=True)

    items = frames["order_items"]
    purchase = items["order_id"].map(orders.set_index("order_id")["purchase_time"])
    items_late = items["last_updated_time"] >= cut_ts
    earlier_items = items[items_late & (purchase < cut_ts)].copy()
    earlier_items["last_updated_time"] = purchase[items_late & (purchase < cut_ts)]
    history["order_items"] = pd.concat([items[~items_late], earlier_items], ignore_index=True)
    new_day["order_items"] = items[items_late].reset_index(drop=True)

    for name in ("returns", "refunds", "feedback", "messages"):
        frame = frames[name]
        column = frame[TIME_COLUMN[name]]
        bound = cut_ts.tz_localize(None) if column.dt.tz is None else cut_ts
        late = column >= bound
        history[name] = frame[~late].reset_index(drop=True)
        new_day[name] = frame[late].reset_index(drop=True)
    return history, new_day
