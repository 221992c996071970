"""`sellerops import-report`: a Seller Central file through the same parsers, checks and loader."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from sellerops import cli, identity, migrations, warehouse

ACCOUNTS = """
accounts:
  - account_id: acme-outdoor
    name: Acme Outdoor
    spapi_conn_id: sellerops_spapi_acme
    marketplaces: [ATVPDKIKX0DER]
    seller_time_zone: Asia/Shanghai
"""

HEADER = (
    "order-id\torder-item-id\tpurchase-date\tpayments-date\tbuyer-email\tbuyer-name\t"
    "buyer-phone-number\tsku\tproduct-name\tquantity-purchased\tcurrency\titem-price\titem-tax\t"
    "shipping-price\tshipping-tax\tship-service-level\trecipient-name\tship-address-1\t"
    "ship-address-2\tship-address-3\tship-city\tship-state\tship-postal-code\tship-country\t"
    "ship-phone-number\tdelivery-start-date\tdelivery-end-date\tdelivery-time-zone\t"
    "delivery-Instructions\tsales-channel\n"
)


def _line(order, item, sku, qty, price, email="zoe.q@marketplace.amazon.com"):
    return (
        f"{order}\t{item}\t2026-11-02T18:20:00+00:00\t2026-11-02T18:25:00+00:00\t{email}\t"
        f"Zoë Quinn\t+1 555 0100\t{sku}\tTrail Mug\t{qty}\tUSD\t{price}\t0.80\t4.99\t0.00\t"
        "Standard\tZoë Quinn\t12 Elm Street\tApt 4\t\tPortland\tOR\t97205\tUS\t+1 555 0101\t"
        "2026-11-05T08:00:00+00:00\t2026-11-08T07:59:59+00:00\tPacific\tLeave at door\tAmazon.com\n"
    )


@pytest.fixture
def setup(tmp_path):
    accounts = tmp_path / "accounts.yaml"
    accounts.write_text(ACCOUNTS)
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    migrations.upgrade(warehouse.connect(url))
    return accounts, url


def test_shipping_report_keys_buyers_and_drops_personal_columns(tmp_path, setup, capsys):
    accounts, url = setup
    report = tmp_path / "orders.txt"
    report.write_text(
        HEADER
        + _line("111-0000000-0000001", "11111111111111", "MUG-1", 2, "24.00")
        + _line("111-0000000-0000001", "11111111111112", "MUG-2", 1, "12.00")
        + "111-0000000-0000002\tbroken line\n"
        + _line("111-0000000-0000003", "11111111111113", "MUG-1", 1, "12.00", email="")
    )
    code = cli.main(
        [
            "--warehouse", url, "import-report", str(report),
            "--report-type", "GET_FLAT_FILE_ORDER_REPORT_DATA_SHIPPING",
            "--account", "acme-outdoor", "--marketplace", "ATVPDKIKX0DER",
            "--accounts", str(accounts), "--max-quarantine-share", "0.5",
        ]
    )  # fmt: skip
    assert code == 0
    wh = warehouse.connect(url)
    with wh.connect() as conn:
        orders = conn.execute(
            sa.text(
                "SELECT order_id, order_status, fulfillment_channel, buyer_key, identity_source, "
                "ship_city, CAST(order_total AS DOUBLE) FROM core.orders ORDER BY order_id"
            )
        ).fetchall()
        audit = conn.execute(
            sa.text(
                "SELECT dataset, extracted, loaded, quarantined FROM ops.load_audit "
                "ORDER BY dataset"
            )
        ).fetchall()
        reason = conn.execute(sa.text("SELECT reason FROM ops.quarantine")).scalar()
        dump = " ".join(
            str(v)
            for table in ("raw.orders", "core.orders", "raw.order_items", "ops.quarantine")
            for row in conn.execute(sa.text(f"SELECT * FROM {table}")).fetchall()  # noqa: S608
            for v in row
        )
    pepper = identity.load_pepper()
    email_key = identity.key_from_email(pepper, "zoe.q@marketplace.amazon.com")
    recipient_key = identity.key_from_recipient(pepper, "Zoë Quinn", "97205", "US")
    # Order 3 has no e-mail; its recipient is the same buyer, linked through order 1.
    with wh.connect() as conn:
        aliases = conn.execute(sa.text("SELECT alias_key, buyer_key FROM core.buyer_aliases")).all()
    assert aliases == [(recipient_key, email_key)]
    assert orders == [
        ("111-0000000-0000001", "UNSHIPPED", "MFN", email_key, "buyer_email", "Portland",
         24.0 + 0.8 + 4.99 + 12.0 + 0.8 + 4.99),
        ("111-0000000-0000003", "UNSHIPPED", "MFN", email_key, "recipient", "Portland",
         12.0 + 0.8 + 4.99),
    ]  # fmt: skip
    # 3 orders lines' orders (1 broken) and 3 item lines.
    assert audit == [("order_items", 3, 3, 0), ("orders", 3, 2, 1)]
    assert reason == "orders.txt: line 4 has 2 fields, the header has 30"
    for personal in ("Zoë", "Quinn", "Elm Street", "555 0100", "zoe.q@", "Leave at door"):
        assert personal not in dump
    assert "extracted 3 = loaded 2 + quarantined 1" in capsys.readouterr().out


def test_unknown_report_type_is_a_clear_error(tmp_path, setup, capsys):
    accounts, url = setup
    report = tmp_path / "x.txt"
    report.write_text("a\tb\n1\t2\n")
    code = cli.main(
        [
            "--warehouse", url, "import-report", str(report), "--report-type", "GET_NOPE",
            "--account", "acme-outdoor", "--marketplace", "ATVPDKIKX0DER",
            "--accounts", str(accounts),
        ]
    )  # fmt: skip
    assert code == 1
    assert "unsupported report type 'GET_NOPE'" in capsys.readouterr().err


def test_wrong_file_names_missing_columns(tmp_path, setup, capsys):
    accounts, url = setup
    report = tmp_path / "feedback.txt"
    report.write_text("Date\tComments\n11/20/26\tok\n")
    code = cli.main(
        [
            "--warehouse", url, "import-report", str(report),
            "--report-type", "GET_SELLER_FEEDBACK_DATA",
            "--account", "acme-outdoor", "--marketplace", "ATVPDKIKX0DER",
            "--accounts", str(accounts),
        ]
    )  # fmt: skip
    assert code == 1
    err = capsys.readouterr().err
    assert str(report) in err and "missing column(s) rating, order-id" in err
