"""A small hand-built World for the sandbox server tests.

Two sellers: ``acme-outdoor`` (Asia/Shanghai; sells in the US and Japan) and
``bluebird-home`` (America/Los_Angeles; US only). The World ends 2026-03-01 00:00
UTC; the sandbox clock starts two minutes later. Orders are chosen to exercise the
rules: AFN and MFN, every status, a business order, orders whose buyer data is
withheld, orders delivered 16/22/13/7 days before the end (review solicitation
allowed), 2 days before (too early) and 51 days before (too late).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pandas as pd
import pytest
from sp_api.auth import access_token_client

from sellerops.sandbox.server import ManualClock, SandboxURL, running_server
from sellerops.sandbox.world import COLUMNS, SandboxAccount, World

US = "ATVPDKIKX0DER"
JP = "A1VC38T7YXB528"
ACME = "acme-outdoor"
BLUEBIRD = "bluebird-home"
WORLD_START = datetime(2026, 1, 1, tzinfo=UTC)
WORLD_END = datetime(2026, 3, 1, tzinfo=UTC)
SANDBOX_NOW = WORLD_END + timedelta(minutes=2)

INT_COLUMNS = {"buyer_id", "quantity", "rating"}
FLOAT_COLUMNS = {
    "unit_price",
    "item_price",
    "item_tax",
    "shipping_price",
    "promotion_discount",
    "amount",
}
BOOL_COLUMNS = {"is_business_order", "buyer_info_available", "is_late", "with_return"}
TIME_COLUMNS = {
    "purchase_time",
    "last_updated_time",
    "ship_time",
    "latest_delivery_time",
    "delivery_time",
    "cancel_time",
    "return_time",
    "refund_time",
    "posted_time",
    "feedback_time",
    "sent_time",
}


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def frame(table: str, rows: list[dict]) -> pd.DataFrame:
    columns = list(COLUMNS[table])
    df = pd.DataFrame(rows, columns=columns)
    for col in columns:
        if col in TIME_COLUMNS:
            df[col] = pd.to_datetime(df[col], utc=True).astype("datetime64[us, UTC]")
        elif col in INT_COLUMNS:
            df[col] = df[col].astype("int64")
        elif col in FLOAT_COLUMNS:
            df[col] = df[col].astype("float64")
        elif col in BOOL_COLUMNS:
            df[col] = df[col].astype("bool")
        else:
            df[col] = df[col].astype(str)
    return df


def _order(
    account,
    mid,
    order_id,
    buyer_id,
    purchase,
    status,
    channel,
    *,
    ship=None,
    delivery=None,
    cancel=None,
    business=False,
    buyer_info=True,
    place=("Seattle", "WA", "98101", "US", "America/Los_Angeles"),
):
    purchase_t = t(purchase)
    times = [purchase_t] + [t(x) for x in (ship, delivery, cancel) if x]
    city, state, postal, country, zone = place
    return {
        "account_id": account,
        "marketplace_id": mid,
        "order_id": order_id,
        "buyer_id": buyer_id,
        "purchase_time": purchase_t,
        "last_updated_time": max(times),
        "order_status": status,
        "fulfillment_channel": channel,
        "sales_channel": "Amazon.com" if mid == US else "Amazon.co.jp",
        "is_business_order": business,
        "buyer_info_available": buyer_info,
        "ship_city": city,
        "ship_state": state,
        "ship_postal_code": postal,
        "ship_country": country,
        "ship_time_zone": zone,
        "ship_time": t(ship) if ship else None,
        "latest_delivery_time": purchase_t + timedelta(days=5),
        "delivery_time": t(delivery) if delivery else None,
        "cancel_time": t(cancel) if cancel else None,
        "currency": "USD" if mid == US else "JPY",
    }


def _item(
    account,
    mid,
    order_id,
    item_id,
    asin,
    sku,
    qty,
    unit,
    *,
    tax=0.0,
    shipping=0.0,
    discount=0.0,
    promo="",
):
    cur = "USD" if mid == US else "JPY"
    return {
        "account_id": account,
        "marketplace_id": mid,
        "order_id": order_id,
        "order_item_id": item_id,
        "asin": asin,
        "sku": sku,
        "quantity": qty,
        "unit_price": unit,
        "item_price": round(unit * qty, 2),
        "item_tax": tax,
        "shipping_price": shipping,
        "promotion_discount": discount,
        "promotion_id": promo,
        "currency": cur,
    }


TOKYO = ("Shibuya-ku", "Tokyo", "150-0002", "JP", "Asia/Tokyo")
OSAKA = ("Osaka-shi", "Osaka", "530-0001", "JP", "Asia/Tokyo")
PORTLAND = ("Portland", "OR", "97201", "US", "America/Los_Angeles")
BOSTON = ("Boston", "MA", "02108", "US", "America/New_York")


def build_small_world() -> World:
    accounts = [
        SandboxAccount(
            ACME,
            "A2ACMEOUTDOOR01",
            "Acme Outdoor",
            "ops@acme-outdoor.example",
            "Asia/Shanghai",
            (US, JP),
        ),
        SandboxAccount(
            BLUEBIRD,
            "A3BLUEBIRDHOME1",
            "Bluebird Home",
            "hello@bluebird-home.example",
            "America/Los_Angeles",
            (US,),
        ),
    ]
    products = [
        dict(
            account_id=ACME,
            marketplace_id=US,
            asin="B0ACME0001",
            sku="ACME-TENT-2P",
            title="Acme Trail 2-Person Tent",
            brand="Acme",
            category="Sports & Outdoors",
            unit_price=149.99,
            currency="USD",
        ),
        dict(
            account_id=ACME,
            marketplace_id=US,
            asin="B0ACME0002",
            sku="ACME-LAMP-01",
            title="Acme Rechargeable Camp Lantern",
            brand="Acme",
            category="Sports & Outdoors",
            unit_price=24.99,
            currency="USD",
        ),
        dict(
            account_id=ACME,
            marketplace_id=JP,
            asin="B0ACME0001",
            sku="ACME-TENT-2P-JP",
            title="アクメ トレイル 2人用テント",
            brand="Acme",
            category="Sports & Outdoors",
            unit_price=19800.0,
            currency="JPY",
        ),
        dict(
            account_id=BLUEBIRD,
            marketplace_id=US,
            asin="B0BLUE0001",
            sku="BB-MUG-SET",
            title="Bluebird Stoneware Mug Set\tof 4",
            brand="Bluebird",
            category="Home & Kitchen",
            unit_price=34.50,
            currency="USD",
        ),
        dict(
            account_id=BLUEBIRD,
            marketplace_id=US,
            asin="B0BLUE0002",
            sku="BB-THROW-01",
            title="Bluebird Knit Throw Blanket",
            brand="Bluebird",
            category="Home & Kitchen",
            unit_price=59.00,
            currency="USD",
        ),
    ]
    buyers = [
        dict(
            account_id=ACME,
            marketplace_id=US,
            buyer_id=1,
            email="0x3k9q1@marketplace.amazon.com",
            name="Jane Doe",
            state="WA",
            city="Seattle",
            postal_code="98101",
            country_code="US",
            time_zone="America/Los_Angeles",
        ),
        dict(
            account_id=ACME,
            marketplace_id=US,
            buyer_id=2,
            email="7hd82ks@marketplace.amazon.com",
            name="José Álvarez",
            state="MA",
            city="Boston",
            postal_code="02108",
            country_code="US",
            time_zone="America/New_York",
        ),
        dict(
            account_id=ACME,
            marketplace_id=US,
            buyer_id=3,
            email="p0w9zz1@marketplace.amazon.com",
            name="Sam Lee",
            state="OR",
            city="Portland",
            postal_code="97201",
            country_code="US",
            time_zone="America/Los_Angeles",
        ),
        dict(
            account_id=ACME,
            marketplace_id=JP,
            buyer_id=4,
            email="kq2m8x0@marketplace.amazon.co.jp",
            name="山田 太郎",
            state="Tokyo",
            city="Shibuya-ku",
            postal_code="150-0002",
            country_code="JP",
            time_zone="Asia/Tokyo",
        ),
        dict(
            account_id=ACME,
            marketplace_id=JP,
            buyer_id=5,
            email="zz81mcq@marketplace.amazon.co.jp",
            name="佐藤 花子",
            state="Osaka",
            city="Osaka-shi",
            postal_code="530-0001",
            country_code="JP",
            time_zone="Asia/Tokyo",
        ),
        dict(
            account_id=BLUEBIRD,
            marketplace_id=US,
            buyer_id=6,
            email="m4r7qq2@marketplace.amazon.com",
            name="Priya Patel",
            state="OR",
            city="Portland",
            postal_code="97201",
            country_code="US",
            time_zone="America/Los_Angeles",
        ),
    ]
    orders = [
        _order(
            ACME,
            US,
            "111-0000001-0000001",
            1,
            "2026-02-10T15:00:00",
            "SHIPPED",
            "AFN",
            ship="2026-02-11T10:00:00",
            delivery="2026-02-13T18:00:00",
        ),
        _order(
            ACME,
            US,
            "111-0000002-0000002",
            2,
            "2026-01-05T12:00:00",
            "SHIPPED",
            "MFN",
            ship="2026-01-06T09:00:00",
            delivery="2026-01-09T20:00:00",
            business=True,
            place=BOSTON,
        ),
        _order(
            ACME,
            US,
            "111-0000003-0000003",
            1,
            "2026-02-24T08:00:00",
            "SHIPPED",
            "MFN",
            ship="2026-02-25T09:00:00",
            delivery="2026-02-27T17:00:00",
            buyer_info=False,
        ),
        _order(
            ACME,
            US,
            "111-0000004-0000004",
            3,
            "2026-02-28T10:00:00",
            "UNSHIPPED",
            "MFN",
            place=PORTLAND,
        ),
        _order(
            ACME,
            US,
            "111-0000005-0000005",
            2,
            "2026-02-01T04:00:00",
            "CANCELLED",
            "AFN",
            cancel="2026-02-01T05:00:00",
            place=BOSTON,
        ),
        _order(
            ACME,
            US,
            "111-0000006-0000006",
            3,
            "2026-02-28T23:30:00",
            "PENDING",
            "AFN",
            buyer_info=False,
            place=PORTLAND,
        ),
        _order(
            ACME,
            JP,
            "250-0000007-0000007",
            4,
            "2026-02-05T01:00:00",
            "SHIPPED",
            "AFN",
            ship="2026-02-06T02:00:00",
            delivery="2026-02-07T03:00:00",
            place=TOKYO,
        ),
        _order(
            ACME,
            JP,
            "250-0000008-0000008",
            5,
            "2026-01-20T05:00:00",
            "SHIPPED",
            "MFN",
            ship="2026-01-21T01:00:00",
            delivery="2026-01-23T06:00:00",
            place=OSAKA,
        ),
        _order(
            BLUEBIRD,
            US,
            "112-0000009-0000009",
            6,
            "2026-02-12T16:00:00",
            "SHIPPED",
            "MFN",
            ship="2026-02-13T16:00:00",
            delivery="2026-02-16T19:00:00",
            place=PORTLAND,
        ),
        _order(
            BLUEBIRD,
            US,
            "112-0000010-0000010",
            6,
            "2026-02-20T16:00:00",
            "SHIPPED",
            "AFN",
            ship="2026-02-20T22:00:00",
            delivery="2026-02-22T19:00:00",
            place=PORTLAND,
        ),
        _order(
            BLUEBIRD,
            US,
            "112-0000011-0000011",
            6,
            "2026-01-15T16:00:00",
            "SHIPPED",
            "MFN",
            ship="2026-01-16T16:00:00",
            delivery="2026-01-19T19:00:00",
            place=PORTLAND,
        ),
    ]
    items = [
        _item(
            ACME,
            US,
            "111-0000001-0000001",
            "10000000000011",
            "B0ACME0001",
            "ACME-TENT-2P",
            1,
            149.99,
            tax=13.5,
            discount=15.0,
            promo="PROMO-SPRING",
        ),
        _item(
            ACME,
            US,
            "111-0000001-0000001",
            "10000000000012",
            "B0ACME0002",
            "ACME-LAMP-01",
            2,
            24.99,
            tax=4.5,
        ),
        _item(
            ACME,
            US,
            "111-0000002-0000002",
            "10000000000021",
            "B0ACME0001",
            "ACME-TENT-2P",
            1,
            149.99,
            tax=9.75,
            shipping=8.99,
        ),
        _item(
            ACME,
            US,
            "111-0000003-0000003",
            "10000000000031",
            "B0ACME0002",
            "ACME-LAMP-01",
            1,
            24.99,
            tax=2.25,
            shipping=4.99,
        ),
        _item(
            ACME,
            US,
            "111-0000004-0000004",
            "10000000000041",
            "B0ACME0002",
            "ACME-LAMP-01",
            3,
            24.99,
            tax=6.0,
            shipping=4.99,
        ),
        _item(
            ACME,
            US,
            "111-0000005-0000005",
            "10000000000051",
            "B0ACME0001",
            "ACME-TENT-2P",
            1,
            149.99,
            tax=12.0,
        ),
        _item(
            ACME,
            US,
            "111-0000006-0000006",
            "10000000000061",
            "B0ACME0002",
            "ACME-LAMP-01",
            1,
            24.99,
        ),
        _item(
            ACME,
            JP,
            "250-0000007-0000007",
            "25000000000071",
            "B0ACME0001",
            "ACME-TENT-2P-JP",
            1,
            19800.0,
            tax=1800.0,
        ),
        _item(
            ACME,
            JP,
            "250-0000008-0000008",
            "25000000000081",
            "B0ACME0001",
            "ACME-TENT-2P-JP",
            2,
            19800.0,
            tax=3600.0,
            shipping=800.0,
            discount=1000.0,
            promo="JP-WINTER",
        ),
        _item(
            BLUEBIRD,
            US,
            "112-0000009-0000009",
            "11200000000091",
            "B0BLUE0001",
            "BB-MUG-SET",
            1,
            34.50,
            tax=2.76,
            shipping=5.99,
        ),
        _item(
            BLUEBIRD,
            US,
            "112-0000010-0000010",
            "11200000000101",
            "B0BLUE0002",
            "BB-THROW-01",
            1,
            59.00,
            tax=4.72,
        ),
        _item(
            BLUEBIRD,
            US,
            "112-0000011-0000011",
            "11200000000111",
            "B0BLUE0001",
            "BB-MUG-SET",
            2,
            34.50,
            tax=5.52,
            shipping=5.99,
        ),
    ]
    returns = [
        dict(
            account_id=ACME,
            marketplace_id=US,
            return_id="R0001",
            order_id="111-0000001-0000001",
            order_item_id="10000000000012",
            asin="B0ACME0002",
            sku="ACME-LAMP-01",
            quantity=1,
            return_time=t("2026-02-20T14:00:00"),
            reason="DEFECTIVE",
            fulfillment_channel="AFN",
            status="Unit returned to inventory",
            is_late=False,
        ),
        dict(
            account_id=ACME,
            marketplace_id=US,
            return_id="R0002",
            order_id="111-0000002-0000002",
            order_item_id="10000000000021",
            asin="B0ACME0001",
            sku="ACME-TENT-2P",
            quantity=1,
            return_time=t("2026-01-25T03:30:00"),
            reason="NOT_AS_DESCRIBED",
            fulfillment_channel="MFN",
            status="Approved",
            is_late=False,
        ),
        dict(
            account_id=ACME,
            marketplace_id=JP,
            return_id="R0003",
            order_id="250-0000008-0000008",
            order_item_id="25000000000081",
            asin="B0ACME0001",
            sku="ACME-TENT-2P-JP",
            quantity=1,
            return_time=t("2026-02-01T16:00:00"),
            reason="UNWANTED_ITEM",
            fulfillment_channel="MFN",
            status="Approved",
            is_late=False,
        ),
        dict(
            account_id=BLUEBIRD,
            marketplace_id=US,
            return_id="R0004",
            order_id="112-0000011-0000011",
            order_item_id="11200000000111",
            asin="B0BLUE0001",
            sku="BB-MUG-SET",
            quantity=2,
            return_time=t("2026-01-28T18:00:00"),
            reason="DAMAGED_BY_CARRIER",
            fulfillment_channel="MFN",
            status="Approved",
            is_late=True,
        ),
    ]
    refunds = [
        dict(
            account_id=ACME,
            marketplace_id=US,
            adjustment_id="ADJ0001",
            order_id="111-0000001-0000001",
            order_item_id="10000000000012",
            sku="ACME-LAMP-01",
            quantity=1,
            amount=24.99,
            currency="USD",
            refund_time=t("2026-02-21T10:00:00"),
            posted_time=t("2026-02-22T08:00:00"),
            with_return=True,
        ),
        dict(
            account_id=ACME,
            marketplace_id=US,
            adjustment_id="ADJ0002",
            order_id="111-0000002-0000002",
            order_item_id="10000000000021",
            sku="ACME-TENT-2P",
            quantity=1,
            amount=149.99,
            currency="USD",
            refund_time=t("2026-01-26T10:00:00"),
            posted_time=t("2026-01-27T09:00:00"),
            with_return=True,
        ),
        dict(
            account_id=ACME,
            marketplace_id=JP,
            adjustment_id="ADJ0003",
            order_id="250-0000008-0000008",
            order_item_id="25000000000081",
            sku="ACME-TENT-2P-JP",
            quantity=1,
            amount=19800.0,
            currency="JPY",
            refund_time=t("2026-02-02T01:00:00"),
            posted_time=t("2026-02-03T01:00:00"),
            with_return=True,
        ),
        dict(
            account_id=ACME,
            marketplace_id=US,
            adjustment_id="ADJ0004",
            order_id="111-0000003-0000003",
            order_item_id="10000000000031",
            sku="ACME-LAMP-01",
            quantity=1,
            amount=5.0,
            currency="USD",
            refund_time=t("2026-02-28T20:00:00"),
            posted_time=t("2026-02-28T23:00:00"),
            with_return=False,
        ),
        dict(
            account_id=BLUEBIRD,
            marketplace_id=US,
            adjustment_id="ADJ0005",
            order_id="112-0000011-0000011",
            order_item_id="11200000000111",
            sku="BB-MUG-SET",
            quantity=2,
            amount=69.00,
            currency="USD",
            refund_time=t("2026-01-29T10:00:00"),
            posted_time=t("2026-01-30T10:00:00"),
            with_return=True,
        ),
        dict(
            account_id=BLUEBIRD,
            marketplace_id=US,
            adjustment_id="ADJ0006",
            order_id="112-0000009-0000009",
            order_item_id="11200000000091",
            sku="BB-MUG-SET",
            quantity=0,
            amount=10.00,
            currency="USD",
            refund_time=t("2026-02-20T10:00:00"),
            posted_time=t("2026-02-21T10:00:00"),
            with_return=False,
        ),
    ]
    feedback = [
        dict(
            account_id=ACME,
            marketplace_id=US,
            order_id="111-0000001-0000001",
            feedback_time=t("2026-02-15T04:00:00"),
            rating=5,
            comments="Great tent, easy to pitch!",
            response="",
            rater_email="0x3k9q1@marketplace.amazon.com",
        ),
        dict(
            account_id=ACME,
            marketplace_id=US,
            order_id="111-0000002-0000002",
            feedback_time=t("2026-01-12T22:00:00"),
            rating=2,
            comments="Arrived late;\nbox was damaged",
            response="Sorry to hear that \u2014 we sent a replacement.",
            rater_email="7hd82ks@marketplace.amazon.com",
        ),
        dict(
            account_id=ACME,
            marketplace_id=JP,
            order_id="250-0000007-0000007",
            feedback_time=t("2026-02-09T16:00:00"),
            rating=4,
            comments="良い商品です",
            response="",
            rater_email="kq2m8x0@marketplace.amazon.co.jp",
        ),
        dict(
            account_id=BLUEBIRD,
            marketplace_id=US,
            order_id="112-0000009-0000009",
            feedback_time=t("2026-02-18T01:00:00"),
            rating=1,
            comments="One mug cracked",
            response="",
            rater_email="m4r7qq2@marketplace.amazon.com",
        ),
    ]
    messages = [
        dict(
            account_id=ACME,
            marketplace_id=US,
            message_id="msg-0001@marketplace.amazon.com",
            thread_id="T1",
            order_id="",
            buyer_id=3,
            direction="buyer",
            sent_time=t("2026-02-26T12:00:00"),
            subject="Is the tent waterproof?",
            body="Hi, is the tent waterproof?",
            in_reply_to="",
            asin="B0ACME0001",
        ),
        dict(
            account_id=ACME,
            marketplace_id=US,
            message_id="msg-0002@marketplace.amazon.com",
            thread_id="T1",
            order_id="",
            buyer_id=3,
            direction="seller",
            sent_time=t("2026-02-26T15:00:00"),
            subject="Re: Is the tent waterproof?",
            body="Yes, 3000 mm rated.",
            in_reply_to="msg-0001@marketplace.amazon.com",
            asin="B0ACME0001",
        ),
        dict(
            account_id=BLUEBIRD,
            marketplace_id=US,
            message_id="msg-0003@marketplace.amazon.com",
            thread_id="T2",
            order_id="112-0000009-0000009",
            buyer_id=6,
            direction="buyer",
            sent_time=t("2026-02-17T09:00:00"),
            subject="Cracked mug",
            body="One of the mugs arrived cracked.",
            in_reply_to="",
            asin="",
        ),
    ]
    world = World(
        seed=0,
        start=WORLD_START,
        end=WORLD_END,
        accounts=accounts,
        tables={
            "products": frame("products", products),
            "buyers": frame("buyers", buyers),
            "orders": frame("orders", orders),
            "order_items": frame("order_items", items),
            "returns": frame("returns", returns),
            "refunds": frame("refunds", refunds),
            "feedback": frame("feedback", feedback),
            "messages": frame("messages", messages),
        },
    )
    world.check()
    return world


@pytest.fixture(scope="session")
def small_world() -> World:
    return build_small_world()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(SANDBOX_NOW)


@pytest.fixture(autouse=True)
def _fresh_token_cache():
    """python-amazon-sp-api caches access tokens per refresh token across servers."""
    access_token_client.cache.clear()
    access_token_client.grantless_cache.clear()
    yield
    access_token_client.cache.clear()
    access_token_client.grantless_cache.clear()


class Session:
    """A plain-HTTP client of a running sandbox, with one access token per account."""

    def __init__(self, url: SandboxURL, clock: ManualClock, http: httpx.Client | None = None):
        self.url = url
        self.clock = clock
        # creating an httpx.Client builds an SSL context (~50 ms): share one when possible
        self.http = http or httpx.Client(base_url=url, timeout=10)
        self._tokens: dict[str, str] = {}

    @property
    def state(self):
        return self.url.state

    def new_token(self, account: str = ACME) -> str:
        response = self.http.post(
            "/auth/o2/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": f"Atzr|{account}|tests",
                "client_id": "amzn1.application-oa2-client.tests",
                "client_secret": "secret",
            },
        )
        response.raise_for_status()
        return response.json()["access_token"]

    def token(self, account: str = ACME) -> str:
        if account not in self._tokens:
            self._tokens[account] = self.new_token(account)
        return self._tokens[account]

    def forget_tokens(self) -> None:
        self._tokens.clear()

    def request(
        self, method: str, path: str, *, account: str = ACME, token: str | None = None, **kwargs
    ) -> httpx.Response:
        headers = {"x-amz-access-token": token or self.token(account)}
        headers.update(kwargs.pop("headers", None) or {})
        return self.http.request(method, path, headers=headers, **kwargs)

    def get(self, path: str, **kwargs) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def delete(self, path: str, **kwargs) -> httpx.Response:
        return self.request("DELETE", path, **kwargs)

    def refill(self) -> None:
        """Refill every token bucket (tests that make more calls than a burst)."""
        self.state.limiter.reset()


@pytest.fixture(scope="module")
def _shared_sandbox(small_world):
    """One server per test module; ``sandbox`` resets it before every test."""
    clock = ManualClock(SANDBOX_NOW)
    with (
        running_server(small_world, clock=clock) as url,
        httpx.Client(base_url=url, timeout=10) as http,
    ):
        yield url, clock, http


@pytest.fixture
def sandbox(_shared_sandbox):
    """A freshly reset sandbox (clock at SANDBOX_NOW, no tokens/reports/sends/faults)."""
    url, clock, http = _shared_sandbox
    clock.set(SANDBOX_NOW)
    url.state.reset()
    return Session(url, clock, http)
