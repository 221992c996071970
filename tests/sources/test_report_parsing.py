"""Flat-file report parsing: by header name, any order, BOM, Shift-JIS, gzip; clear errors."""

from __future__ import annotations

import gzip

import pandas as pd
import pytest

from sellerops import identity
from sellerops.sources import reports

PEPPER = b"p"


def _write(path, text: str, encoding: str = "utf-8", gz: bool = False):
    data = text.encode(encoding)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def _rows(path):
    return [row for chunk in reports.read_rows(path) for row in chunk]


FBA = (
    "return-date\torder-id\tsku\tasin\tfnsku\tproduct-name\tquantity\tfulfillment-center-id\t"
    "detailed-disposition\treason\tstatus\tlicense-plate-number\tcustomer-comments\n"
    "2026-11-05T14:03:11+00:00\t111-2222222-3333333\tTENT-1\tB0ABCDEFGH\tX00ABC\tTent\t1\tPHX3\t"
    'SELLABLE\tUNWANTED_ITEM\tUnit returned to inventory\tLPNRR123\t=HYPERLINK("x")\n'
)


def test_fba_returns_with_bom_and_gzip(tmp_path):
    path = _write(tmp_path / "fba.tsv.gz", "\ufeff" + FBA, gz=True)
    frame = reports.returns_frame(_rows(path), reports.FBA_RETURNS, "acme-outdoor", "ATVPDKIKX0DER")
    row = frame.iloc[0]
    assert row["return_key"] == "fba:111-2222222-3333333:TENT-1:LPNRR123"
    assert row["quantity"] == 1
    assert row["return_time"] == pd.Timestamp("2026-11-05T14:03:11Z")
    assert (row["reason"], row["status"], row["fulfillment_channel"]) == (
        "UNWANTED_ITEM",
        "SELLABLE",
        "AFN",
    )


def test_mfn_returns_reordered_and_extra_columns(tmp_path):
    text = (
        "Return quantity\tMerchant SKU\tSomething New\tOrder ID\tReturn request date\t"
        "Amazon RMA ID\tReturn Reason\tReturn request status\tASIN\n"
        "2\tMUG-9\tx\t113-1234567-7654321\t11/03/2026\tDK3RZ9\tDEFECTIVE\tApproved\tB0MUG00001\n"
    )
    path = _write(tmp_path / "mfn.tsv", text)
    assert reports.header_of(path) >= set(reports.RETURNS_REQUIRED[reports.MFN_RETURNS])
    frame = reports.returns_frame(_rows(path), reports.MFN_RETURNS, "acme-outdoor", "ATVPDKIKX0DER")
    row = frame.iloc[0]
    assert row["return_key"] == "mfn:113-1234567-7654321:MUG-9:DK3RZ9"
    assert (row["quantity"], row["reason"], row["status"]) == (2, "DEFECTIVE", "Approved")
    assert row["return_time"] == pd.Timestamp("2026-11-03T00:00:00Z")


def test_feedback_shift_jis_and_email_scrubbed(tmp_path):
    text = (
        "Date\tRating\tComments\tResponse\tOrder ID\tRater Email\n"
        "11/20/26\t1\t最悪です。連絡先 taro@example.jp\t\t503-1234567-1234567\t"
        "q9w8e7@marketplace.amazon.co.jp\n"
        "11/21/26\t5\tすばらしい\tありがとうございます\t503-7654321-1234567\t\n"
    )
    path = _write(tmp_path / "feedback.tsv", text, encoding="shift_jis")
    frame = reports.feedback_frame(_rows(path), "acme-outdoor", "A1VC38T7YXB528", PEPPER)
    assert list(frame["rating"]) == [1, 5]
    assert list(frame["feedback_date"]) == [pd.Timestamp("2026-11-20"), pd.Timestamp("2026-11-21")]
    assert frame.iloc[0]["comments"] == "最悪です。連絡先 [e-mail removed]"
    assert frame.iloc[0]["buyer_key"] == identity.key_from_email(
        PEPPER, "q9w8e7@marketplace.amazon.co.jp"
    )
    assert frame.iloc[1]["buyer_key"] is None
    assert list(frame["has_response"]) == [False, True]


def test_missing_required_column_names_file_and_column(tmp_path):
    path = _write(tmp_path / "broken.tsv", "Date\tComments\n11/20/26\tok\n")
    with pytest.raises(reports.ReportFileError) as info:
        reports.require_columns(
            path,
            reports.SELLER_FEEDBACK,
            reports.header_of(path),
            reports.FEEDBACK_REQUIRED,
        )
    assert str(path) in str(info.value)
    assert "rating, order-id" in str(info.value)


def test_short_line_is_flagged_with_its_number(tmp_path):
    path = _write(tmp_path / "short.tsv", "Date\tRating\tOrder ID\n11/20/26\t5\n")
    (row,) = _rows(path)
    assert row["__problem"] == "line 2 has 2 fields, the header has 3"


def test_empty_file_has_no_rows(tmp_path):
    path = _write(tmp_path / "empty.tsv", "")
    assert _rows(path) == []


def test_all_orders_report_rows_become_orders_and_items(tmp_path):
    header = (
        "amazon-order-id\tpurchase-date\tlast-updated-date\torder-status\tfulfillment-channel\t"
        "sales-channel\tsku\tasin\tquantity\tcurrency\titem-price\titem-tax\tshipping-price\t"
        "shipping-tax\titem-promotion-discount\tship-city\tship-state\tship-postal-code\t"
        "ship-country\tpromotion-ids\tis-business-order\n"
    )
    line = (
        "114-0000000-0000001\t2026-11-01T10:00:00+00:00\t2026-11-02T10:00:00+00:00\tShipped\t"
        "Amazon\tAmazon.com\t{sku}\tB0{sku}\t{qty}\tUSD\t{price}\t1.00\t0.00\t0.00\t{disc}\t"
        "Miami\tFL\t33101\tUS\t{promo}\tfalse\n"
    )
    text = (
        header
        + line.format(sku="A1", qty=2, price="20.00", disc="0", promo="")
        + line.format(sku="B2", qty=1, price="15.00", disc="-5.00", promo="FALL5")
    )
    path = _write(tmp_path / "orders.tsv", text)
    orders, items = reports.all_orders_frames(
        _rows(path), "acme-outdoor", "ATVPDKIKX0DER", PEPPER, reports.ALL_ORDERS
    )
    assert len(orders) == 1 and len(items) == 2
    order = orders.iloc[0]
    assert (order["order_status"], order["fulfillment_channel"]) == ("SHIPPED", "AFN")
    assert order["order_total"] == pytest.approx(20 + 1 + 15 + 1 - 5)
    assert order["promotion_ids"] == "FALL5"
    assert (order["buyer_email_key"], order["buyer_recipient_key"]) == (None, None)
    assert order["identity_source"] == "none"
    assert list(items["quantity"]) == [2, 1]
    assert list(items["promotion_discount"]) == [0.0, 5.0]


def test_long_reads_log_progress(tmp_path, caplog):
    import logging
    import re

    from sellerops.sources.reports import read_rows

    path = tmp_path / "report.txt"
    lines = ["order-id\tsku"] + [f"111-0000000-{n:07d}\tSKU-{n}" for n in range(10)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with caplog.at_level(logging.INFO, logger="sellerops.sources.reports"):
        chunks = list(read_rows(path, chunk_rows=4))
    assert [len(c) for c in chunks] == [4, 4, 2]
    progress = [r.getMessage() for r in caplog.records if "lines read" in r.getMessage()]
    size = path.stat().st_size
    assert progress[-1] == f"report.txt: 11 lines read (100% of {size} bytes)"
    assert [int(m.split(":")[1].split()[0]) for m in progress] == [5, 9, 11]
    shares = [int(re.search(r"(\d+)% of", m).group(1)) for m in progress]
    assert shares == sorted(shares) and all(0 < s <= 100 for s in shares)
