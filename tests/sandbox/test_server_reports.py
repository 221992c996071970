"""Reports API 2021-06-30 and the report documents rendered from the World."""

from __future__ import annotations

import csv
import gzip
import io
import json
import zlib

import pytest

from sellerops.sandbox import reports as rpt
from tests.sandbox.conftest import ACME, BLUEBIRD, JP, US, build_small_world

REPORTS = "/reports/2021-06-30/reports"


def create(sandbox, report_type, start, end, marketplaces=(US,), account=ACME):
    body = {
        "reportType": report_type,
        "marketplaceIds": list(marketplaces),
        "dataStartTime": start,
        "dataEndTime": end,
    }
    return sandbox.post(REPORTS, json=body, account=account)


def finished(sandbox, report_id, account=ACME):
    sandbox.clock.advance(10)
    return sandbox.get(f"{REPORTS}/{report_id}", account=account).json()


def download(sandbox, document_id, account=ACME):
    meta = sandbox.get(f"/reports/2021-06-30/documents/{document_id}", account=account).json()
    assert meta["compressionAlgorithm"] == "GZIP"
    raw = sandbox.http.get(meta["url"])
    assert raw.status_code == 200
    assert raw.headers["content-type"] == "text/plain; charset=UTF-8"
    return gzip.decompress(raw.content).decode("utf-8")


def rows(text):
    return list(csv.DictReader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE))


def test_report_lifecycle(sandbox):
    response = create(sandbox, rpt.ALL_ORDERS, "2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z")
    assert response.status_code == 202
    report_id = response.json()["reportId"]
    states = []
    for step in (0, 2.5, 3):
        sandbox.clock.advance(step)
        states.append(sandbox.get(f"{REPORTS}/{report_id}").json())
    assert [s["processingStatus"] for s in states] == ["IN_QUEUE", "IN_PROGRESS", "DONE"]
    done = states[-1]
    assert done["dataStartTime"] == "2026-02-01T00:00:00+00:00"
    assert done["createdTime"] == "2026-03-01T00:02:00+00:00"
    assert done["processingEndTime"] == "2026-03-01T00:02:05+00:00"
    assert "reportDocumentId" not in states[0] and "reportDocumentId" not in states[1]
    assert done["reportDocumentId"].startswith("amzn1.spdoc.")
    # reports are private to the seller
    assert sandbox.get(f"{REPORTS}/{report_id}", account=BLUEBIRD).status_code == 404
    assert (
        sandbox.get(
            f"/reports/2021-06-30/documents/{done['reportDocumentId']}", account=BLUEBIRD
        ).status_code
        == 404
    )


def test_all_orders_report_layout(sandbox):
    report = finished(
        sandbox,
        create(sandbox, rpt.ALL_ORDERS, "2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z").json()[
            "reportId"
        ],
    )
    text = download(sandbox, report["reportDocumentId"])
    header = text.splitlines()[0].split("\t")
    assert header == list(rpt.ALL_ORDERS_COLUMNS) and len(header) == 32
    data = rows(text)
    assert [r["amazon-order-id"] for r in data] == [
        "111-0000005-0000005",
        "111-0000001-0000001",
        "111-0000001-0000001",
        "111-0000003-0000003",
        "111-0000004-0000004",
        "111-0000006-0000006",
    ]
    tent = data[1]
    assert tent["purchase-date"] == "2026-02-10T15:00:00+00:00"
    assert tent["last-updated-date"] == "2026-02-13T18:00:00+00:00"
    assert tent["order-status"] == "Shipped" and tent["fulfillment-channel"] == "Amazon"
    assert tent["sales-channel"] == "Amazon.com"
    assert tent["item-price"] == "149.99" and tent["item-promotion-discount"] == "-15.00"
    assert tent["promotion-ids"] == "PROMO-SPRING" and tent["is-business-order"] == "false"
    assert data[0]["order-status"] == "Cancelled" and data[-1]["order-status"] == "Pending"


def test_all_orders_window_is_on_last_update_and_inclusive(small_world):
    text = rpt.render_report(
        small_world,
        ACME,
        rpt.ALL_ORDERS,
        [US, JP],
        rpt.pd.Timestamp("2026-01-09T20:00:00Z"),
        rpt.pd.Timestamp("2026-01-23T06:00:00Z"),
    ).text
    assert [r["amazon-order-id"] for r in rows(text)] == [
        "111-0000002-0000002",
        "250-0000008-0000008",
    ]
    jp = [r for r in rows(text) if r["currency"] == "JPY"][0]
    assert jp["item-price"] == "39600" and jp["sales-channel"] == "Amazon.co.jp"


def test_window_longer_than_amazon_allows_is_fatal(sandbox):
    report = finished(
        sandbox,
        create(sandbox, rpt.ALL_ORDERS, "2026-01-01T00:00:00Z", "2026-02-15T00:00:00Z").json()[
            "reportId"
        ],
    )
    assert report["processingStatus"] == "FATAL"
    error = json.loads(download(sandbox, report["reportDocumentId"]))
    assert error == {
        "errorDetails": "Date range exceeded. Report can be requested only upto 30 days"
    }
    report = finished(
        sandbox,
        create(sandbox, rpt.MFN_RETURNS, "2025-12-01T00:00:00Z", "2026-02-15T00:00:00Z").json()[
            "reportId"
        ],
    )
    assert report["processingStatus"] == "FATAL"
    assert "upto 60 days" in download(sandbox, report["reportDocumentId"])


def test_report_without_data_is_cancelled(sandbox):
    report = finished(
        sandbox,
        create(sandbox, rpt.FBA_RETURNS, "2026-01-01T00:00:00Z", "2026-01-31T00:00:00Z").json()[
            "reportId"
        ],
    )
    assert report["processingStatus"] == "CANCELLED"
    assert "reportDocumentId" not in report


def test_mfn_returns_report(sandbox):
    report = finished(
        sandbox,
        create(
            sandbox, rpt.MFN_RETURNS, "2026-01-01T00:00:00Z", "2026-02-28T00:00:00Z", (US, JP)
        ).json()["reportId"],
    )
    text = download(sandbox, report["reportDocumentId"])
    assert text.splitlines()[0].split("\t") == list(rpt.MFN_RETURNS_COLUMNS)
    data = rows(text)
    assert [r["Order ID"] for r in data] == ["111-0000002-0000002", "250-0000008-0000008"]
    us = data[0]
    assert us["Order date"] == "05-Jan-2026"
    assert us["Return request date"] == "24-Jan-2026"  # 03:30 UTC is still the 24th in New York
    assert us["Return Reason"] == "NOT_AS_DESCRIBED" and us["Label to be paid by"] == "Seller"
    assert (
        us["In policy"] == "Y"
        and us["Refunded Amount"] == "149.99"
        and us["Currency code"] == "USD"
    )
    assert us["Amazon RMA ID"].endswith("RMA") and us["Tracking ID"].isdigit()
    assert data[1]["Return request date"] == "02-Feb-2026"  # Tokyo time
    assert data[1]["Order Amount"] == "39600"


def test_fba_returns_report(sandbox):
    report = finished(
        sandbox,
        create(sandbox, rpt.FBA_RETURNS, "2026-02-01T00:00:00Z", "2026-02-28T00:00:00Z").json()[
            "reportId"
        ],
    )
    text = download(sandbox, report["reportDocumentId"])
    assert text.splitlines()[0].split("\t") == list(rpt.FBA_RETURNS_COLUMNS)
    (row,) = rows(text)
    assert row["return-date"] == "2026-02-20T14:00:00+00:00"
    assert row["order-id"] == "111-0000001-0000001" and row["sku"] == "ACME-LAMP-01"
    assert row["detailed-disposition"] == "DEFECTIVE" and row["reason"] == "DEFECTIVE"
    assert row["status"] == "Unit returned to inventory"
    assert (
        row["license-plate-number"].startswith("LPN")
        and row["fulfillment-center-id"] in rpt.FULFILLMENT_CENTERS[US]
    )


def test_feedback_report_dates_and_text(sandbox):
    report = finished(
        sandbox,
        create(
            sandbox, rpt.SELLER_FEEDBACK, "2026-01-01T00:00:00Z", "2026-03-01T00:00:00Z", (US, JP)
        ).json()["reportId"],
    )
    text = download(sandbox, report["reportDocumentId"])
    assert text.splitlines()[0] == "Date\tRating\tComments\tResponse\tOrder ID\tRater Email"
    data = rows(text)
    assert [(r["Date"], r["Rating"], r["Order ID"]) for r in data] == [
        ("1/12/26", "2", "111-0000002-0000002"),
        ("2026/02/10", "4", "250-0000007-0000007"),
        ("2/14/26", "5", "111-0000001-0000001"),
    ]
    assert data[0]["Comments"] == "Arrived late; box was damaged"  # no line breaks in a flat file
    assert data[0]["Response"] == "Sorry to hear that \u2014 we sent a replacement."
    assert data[1]["Comments"] == "良い商品です"


def test_product_titles_with_tabs_stay_one_column(small_world):
    text = rpt.render_report(
        small_world,
        BLUEBIRD,
        rpt.ALL_ORDERS,
        [US],
        rpt.pd.Timestamp("2026-02-01T00:00:00Z"),
        rpt.pd.Timestamp("2026-02-28T00:00:00Z"),
    ).text
    for line in text.splitlines():
        assert len(line.split("\t")) == 32
    assert "Bluebird Stoneware Mug Set of 4" in text


@pytest.mark.parametrize(
    "body, fragment",
    [
        ({"marketplaceIds": [US]}, "reportType is required"),
        ({"reportType": rpt.ALL_ORDERS}, "marketplaceIds is required"),
        ({"reportType": rpt.ALL_ORDERS, "marketplaceIds": []}, "marketplaceIds is required"),
        ({"reportType": "GET_MERCHANT_LISTINGS_ALL_DATA", "marketplaceIds": [US]}, "not supported"),
        ({"reportType": rpt.ALL_ORDERS, "marketplaceIds": ["A1PA6795UKMFR9"]}, "marketplaceIds"),
        (
            {"reportType": rpt.ALL_ORDERS, "marketplaceIds": [US], "dataStartTime": "soon"},
            "ISO 8601",
        ),
        (
            {
                "reportType": rpt.ALL_ORDERS,
                "marketplaceIds": [US],
                "dataEndTime": "2026-03-02T00:00:00Z",
            },
            "prior to or equal to the current",
        ),
        (
            {
                "reportType": rpt.ALL_ORDERS,
                "marketplaceIds": [US],
                "dataStartTime": "2026-02-02T00:00:00Z",
                "dataEndTime": "2026-02-01T00:00:00Z",
            },
            "prior to or equal to dataEndTime",
        ),
    ],
)
def test_invalid_create_report(sandbox, body, fragment):
    response = sandbox.post(REPORTS, json=body)
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["code"] == "InvalidInput"
    assert fragment in error["message"] + " " + error["details"]


def test_cancel_only_in_queue(sandbox):
    first = create(
        sandbox, rpt.SELLER_FEEDBACK, "2026-01-01T00:00:00Z", "2026-03-01T00:00:00Z"
    ).json()["reportId"]
    assert sandbox.delete(f"{REPORTS}/{first}").status_code == 200
    assert sandbox.get(f"{REPORTS}/{first}").json()["processingStatus"] == "CANCELLED"
    second = create(
        sandbox, rpt.SELLER_FEEDBACK, "2026-01-01T00:00:00Z", "2026-03-01T00:00:00Z"
    ).json()["reportId"]
    sandbox.clock.advance(10)
    refused = sandbox.delete(f"{REPORTS}/{second}")
    assert refused.status_code == 400
    assert sandbox.get(f"{REPORTS}/{second}").json()["processingStatus"] == "DONE"


def test_get_reports_lists_newest_first_with_paging(sandbox):
    ids = []
    for _ in range(3):
        ids.append(
            create(
                sandbox, rpt.SELLER_FEEDBACK, "2026-01-01T00:00:00Z", "2026-03-01T00:00:00Z"
            ).json()["reportId"]
        )
        sandbox.clock.advance(1)
    create(sandbox, rpt.FBA_RETURNS, "2026-02-01T00:00:00Z", "2026-02-28T00:00:00Z")
    first = sandbox.get(REPORTS, params={"reportTypes": rpt.SELLER_FEEDBACK, "pageSize": 2}).json()
    assert [r["reportId"] for r in first["reports"]] == ids[::-1][:2]
    second = sandbox.get(REPORTS, params={"nextToken": first["nextToken"]}).json()
    assert [r["reportId"] for r in second["reports"]] == ids[:1]
    assert "nextToken" not in second
    assert sandbox.get(REPORTS).status_code == 400  # reportTypes or nextToken is required
    mixed = sandbox.get(REPORTS, params={"nextToken": first["nextToken"], "pageSize": 5})
    assert mixed.status_code == 400


def test_document_url_expires_after_five_minutes(sandbox):
    report = finished(
        sandbox,
        create(sandbox, rpt.SELLER_FEEDBACK, "2026-01-01T00:00:00Z", "2026-03-01T00:00:00Z").json()[
            "reportId"
        ],
    )
    meta = sandbox.get(f"/reports/2021-06-30/documents/{report['reportDocumentId']}").json()
    sandbox.clock.advance(301)
    expired = sandbox.http.get(meta["url"])
    assert expired.status_code == 403 and b"Request has expired" in expired.content


def test_content_encoding_header_on_request(sandbox):
    report = finished(
        sandbox,
        create(sandbox, rpt.SELLER_FEEDBACK, "2026-01-01T00:00:00Z", "2026-03-01T00:00:00Z").json()[
            "reportId"
        ],
    )
    meta = sandbox.get(
        f"/reports/2021-06-30/documents/{report['reportDocumentId']}",
        params={"enableContentEncodingUrlHeader": "true"},
    ).json()
    response = sandbox.http.get(meta["url"])
    assert response.headers["content-encoding"] == "gzip"
    assert response.text.startswith("Date\tRating")  # httpx decompressed it


def test_document_faults(sandbox):
    report = finished(
        sandbox,
        create(sandbox, rpt.SELLER_FEEDBACK, "2026-01-01T00:00:00Z", "2026-03-01T00:00:00Z").json()[
            "reportId"
        ],
    )
    meta = sandbox.get(f"/reports/2021-06-30/documents/{report['reportDocumentId']}").json()
    sandbox.state.faults.configure(
        {
            "rules": [
                {"kind": "truncated_document", "count": 1},
                {"kind": "corrupt_document", "count": 1},
            ]
        }
    )
    with pytest.raises((zlib.error, EOFError, gzip.BadGzipFile)):
        zlib.decompress(sandbox.http.get(meta["url"]).content, 15 + 32)
    with pytest.raises((zlib.error, EOFError, gzip.BadGzipFile)):
        zlib.decompress(sandbox.http.get(meta["url"]).content, 15 + 32)
    good = zlib.decompress(sandbox.http.get(meta["url"]).content, 15 + 32)
    assert good.startswith(b"Date\tRating")


def test_fatal_report_fault(sandbox):
    sandbox.state.faults.configure(
        {"rules": [{"kind": "fatal_report", "report_type": rpt.FBA_RETURNS, "count": 1}]}
    )
    feedback = finished(
        sandbox,
        create(sandbox, rpt.SELLER_FEEDBACK, "2026-01-01T00:00:00Z", "2026-03-01T00:00:00Z").json()[
            "reportId"
        ],
    )
    assert feedback["processingStatus"] == "DONE"
    fatal = finished(
        sandbox,
        create(sandbox, rpt.FBA_RETURNS, "2026-02-01T00:00:00Z", "2026-02-28T00:00:00Z").json()[
            "reportId"
        ],
    )
    assert fatal["processingStatus"] == "FATAL"
    again = finished(
        sandbox,
        create(sandbox, rpt.FBA_RETURNS, "2026-02-01T00:00:00Z", "2026-02-28T00:00:00Z").json()[
            "reportId"
        ],
    )
    assert again["processingStatus"] == "DONE"


def test_every_report_renders_from_the_world():
    world = build_small_world()
    start, end = rpt.pd.Timestamp("2026-01-01T00:00:00Z"), rpt.pd.Timestamp("2026-01-30T00:00:00Z")
    for report_type in rpt.REPORT_TYPES:
        rendered = rpt.render_report(world, ACME, report_type, [US, JP], start, end)
        for line in rendered.text.splitlines():
            assert len(line.split("\t")) == len(rendered.columns)
