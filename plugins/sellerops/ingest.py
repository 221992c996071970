"""Extract -> validate -> load for one account, marketplace and window.

The DAG ``sellerops_ingest`` calls :func:`ingest_window` once per (account,
marketplace, dataset group) for its data interval; ``sellerops ingest`` calls
:func:`ingest_range`, which walks a range day by day through the same function.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd

from sellerops import datasets, identity
from sellerops.accounts import MARKETPLACES, Account, load_accounts
from sellerops.datasets import Dataset
from sellerops.frames import typed_frame
from sellerops.identity_resolution import resolve_identities
from sellerops.load import LoadAudit, load_batch, new_batch_id
from sellerops.warehouse import Warehouse, connect

log = logging.getLogger(__name__)

# What one ingest task extracts: a group reads one source and may feed several datasets.
# The daily run reads GROUPS; "orders_report" backfills order history from reports.
GROUPS = ("orders", "returns", "refunds", "feedback", "messages")
MAX_WINDOW_DAYS = 30  # the all-orders report's limit; every other source allows more
DEFAULT_MAX_QUARANTINE_SHARE = 0.05


class BatchRejected(RuntimeError):
    """Too large a share of a batch failed validation; it was quarantined whole."""


@dataclass
class Batch:
    dataset: Dataset
    frame: pd.DataFrame
    source: str
    window_start: datetime
    window_end: datetime
    # Rows the extractor itself could not read (row_number, reason, values).
    rejected: pd.DataFrame = field(default_factory=pd.DataFrame)


@dataclass
class IngestContext:
    account: Account
    marketplace_id: str
    start: datetime
    end: datetime
    pepper: bytes
    workdir: Path
    spapi_session: object | None = None

    @property
    def zone(self) -> str:
        """The marketplace's time zone, in which reports write bare dates."""
        return MARKETPLACES[self.marketplace_id][2]

    def local_days(self) -> tuple[date, date]:
        """First and last local date the window [start, end) touches."""
        zone = ZoneInfo(self.zone)
        return (
            self.start.astimezone(zone).date(),
            (self.end - timedelta(microseconds=1)).astimezone(zone).date(),
        )

    def session(self):
        if self.spapi_session is None:
            from sellerops.sources.spapi import SpApiCredentials, SpApiSession

            credentials = SpApiCredentials.from_connection(self.account.spapi_conn_id)
            self.spapi_session = SpApiSession(self.account.account_id, credentials)
        return self.spapi_session


# -- extractors per group ---------------------------------------------------------


def _orders(ctx: IngestContext) -> list[Batch]:
    from sellerops.sources.orders import SOURCE, extract_orders

    orders, items = extract_orders(
        ctx.session(), ctx.account.account_id, ctx.marketplace_id, ctx.start, ctx.end, ctx.pepper
    )
    return [
        Batch(datasets.ORDERS, orders, SOURCE, ctx.start, ctx.end),
        Batch(datasets.ORDER_ITEMS, items, SOURCE, ctx.start, ctx.end),
    ]


def _report_rows(
    ctx: IngestContext, report_type: str
) -> tuple[list[dict], pd.DataFrame, Path | None]:
    """(readable rows, rejected rows for quarantine, file) of one report for the window."""
    from sellerops.sources.reports import ALL_ORDERS, flag_order_siblings, read_rows, request_report

    download = request_report(
        ctx.session(), ctx.marketplace_id, report_type, ctx.start, ctx.end, workdir=ctx.workdir
    )
    if download.path is None:
        return [], pd.DataFrame(), None
    rows = [
        row
        for chunk in read_rows(
            download.path, marketplace_id=ctx.marketplace_id, report_type=report_type
        )
        for row in chunk
    ]
    if report_type == ALL_ORDERS:
        flag_order_siblings(rows, "amazon-order-id")
    good, rejected = _split_problem_rows(rows, download.path)
    return good, rejected, download.path


def _orders_report(ctx: IngestContext) -> list[Batch]:
    """History backfill: orders and items from the all-orders report (windows <= 30 days)."""
    from sellerops.sources import reports

    rows, rejected, path = _report_rows(ctx, reports.ALL_ORDERS)
    if path is not None:
        reports.require_columns(
            path, reports.ALL_ORDERS, reports.header_of(path), reports.ALL_ORDERS_REQUIRED
        )
    orders, items = reports.all_orders_frames(
        rows, ctx.account.account_id, ctx.marketplace_id, ctx.pepper, reports.ALL_ORDERS
    )
    return [
        Batch(datasets.ORDERS, orders, reports.ALL_ORDERS, ctx.start, ctx.end, rejected=rejected),
        Batch(datasets.ORDER_ITEMS, items, reports.ALL_ORDERS, ctx.start, ctx.end),
    ]


def _returns(ctx: IngestContext) -> list[Batch]:
    from sellerops.sources import reports

    batches = []
    for report_type in (reports.MFN_RETURNS, reports.FBA_RETURNS):
        rows, rejected, path = _report_rows(ctx, report_type)
        if path is not None:
            reports.require_columns(
                path, report_type, reports.header_of(path), reports.RETURNS_REQUIRED[report_type]
            )
        frame = reports.returns_frame(
            rows, report_type, ctx.account.account_id, ctx.marketplace_id, zone=ctx.zone
        )
        window_start, window_end = ctx.start, ctx.end
        if report_type == reports.MFN_RETURNS:
            # Bare local dates, read as local midnight: whole local days of the window.
            first_day, last_day = ctx.local_days()
            zone = ZoneInfo(ctx.zone)
            window_start = datetime.combine(first_day, time.min, tzinfo=zone).astimezone(UTC)
            window_end = datetime.combine(
                last_day + timedelta(days=1), time.min, tzinfo=zone
            ).astimezone(UTC)
        batches.append(
            Batch(datasets.RETURNS, frame, report_type, window_start, window_end, rejected=rejected)
        )
    return batches


def _refunds(ctx: IngestContext) -> list[Batch]:
    from sellerops.sources.refunds import SOURCE, extract_refunds

    frame, window_start = extract_refunds(
        ctx.session(), ctx.account.account_id, ctx.marketplace_id, ctx.start, ctx.end
    )
    return [Batch(datasets.REFUNDS, frame, SOURCE, window_start, ctx.end)]


def _feedback(ctx: IngestContext) -> list[Batch]:
    from sellerops.sources import reports

    rows, rejected, path = _report_rows(ctx, reports.SELLER_FEEDBACK)
    if path is not None:
        reports.require_columns(
            path, reports.SELLER_FEEDBACK, reports.header_of(path), reports.FEEDBACK_REQUIRED
        )
    frame = reports.feedback_frame(rows, ctx.account.account_id, ctx.marketplace_id, ctx.pepper)
    # feedback_date is a bare local date: check it against the window's local dates.
    first_day, last_day = ctx.local_days()
    window_start = datetime.combine(first_day, time.min, tzinfo=UTC)
    window_end = datetime.combine(last_day + timedelta(days=1), time.min, tzinfo=UTC)
    return [
        Batch(
            datasets.FEEDBACK,
            frame,
            reports.SELLER_FEEDBACK,
            window_start,
            window_end,
            rejected=rejected,
        )
    ]


def _read_mailbox(ctx: IngestContext):
    """Records from the account's mailbox connection: IMAP, or a local Maildir (extra.maildir)."""
    from airflow.sdk import BaseHook

    from sellerops.masking import mask_connection
    from sellerops.sources import mailbox

    conn = BaseHook.get_connection(ctx.account.mailbox_conn_id)
    extra = conn.extra_dejson or {}
    mask_connection(conn, extra)  # the IMAP password: *** in task logs
    options = {
        "seller_addresses": set(ctx.account.seller_addresses),
        "pepper": ctx.pepper,
        "since": ctx.start,
        "until": ctx.end,
    }
    if extra.get("maildir"):
        return mailbox.read_maildir(extra["maildir"], **options), "maildir"
    if not conn.host or not conn.login:
        raise ValueError(
            f"mailbox connection {ctx.account.mailbox_conn_id!r} needs host and login "
            "(IMAP) or extra.maildir (a local Maildir)"
        )
    records = mailbox.read_imap(
        conn.host,
        int(conn.port or (993 if extra.get("ssl", True) else 143)),
        conn.login,
        conn.password or "",
        ssl=bool(extra.get("ssl", True)),
        starttls=bool(extra.get("starttls", False)),
        folders=tuple(extra.get("folders", ("INBOX", "Sent"))),
        **options,
    )
    return records, "imap"


def _messages(ctx: IngestContext) -> list[Batch]:
    from sellerops.sources import mailbox

    if not ctx.account.mailbox_conn_id:
        log.info("%s has no mailbox connection; no messages", ctx.account.account_id)
        return []
    records, source = _read_mailbox(ctx)
    frame, rejected = mailbox.to_dataframe(records, ctx.account.account_id)
    frame = frame[frame["marketplace_id"] == ctx.marketplace_id].copy()
    frame["source"] = source
    frame = typed_frame(datasets.MESSAGES, frame)
    # Mail that could not be read has no marketplace: it is quarantined once, under
    # the account's first marketplace.
    if len(rejected) and ctx.marketplace_id != ctx.account.marketplaces[0]:
        rejected = rejected.iloc[0:0]
    return [
        Batch(
            datasets.MESSAGES,
            frame,
            source,
            ctx.start,
            ctx.end,
            rejected=rejected,
        )
    ]


EXTRACTORS: dict[str, Callable[[IngestContext], list[Batch]]] = {
    "orders": _orders,
    "orders_report": _orders_report,
    "returns": _returns,
    "refunds": _refunds,
    "feedback": _feedback,
    "messages": _messages,
}


# -- validate and load --------------------------------------------------------------


def process_batch(
    warehouse: Warehouse,
    batch: Batch,
    *,
    account_id: str,
    marketplace_id: str,
    max_quarantine_share: float = DEFAULT_MAX_QUARANTINE_SHARE,
    docs_dir: Path | None = None,
) -> LoadAudit:
    """Validate one batch, then land and merge it; reject it whole past the threshold."""
    from sellerops.validation.validate import validate_batch

    started = datetime.now(UTC)
    batch_id = new_batch_id(batch.dataset.name, account_id, marketplace_id)
    frame = batch.frame.reset_index(drop=True)
    outcome = validate_batch(
        batch.dataset.name,
        frame,
        window_start=batch.window_start,
        window_end=batch.window_end,
        batch_id=batch_id,
        account_id=account_id,
        marketplace_id=marketplace_id,
        docs_dir=docs_dir,
    )
    valid, quarantine = outcome.valid, outcome.quarantine
    extracted = frame
    if len(batch.rejected):
        # Unreadable source rows count as extracted and quarantined, never as lost.
        offset = len(frame)
        rejected = batch.rejected.reset_index(drop=True).copy()
        if "values" not in rejected:
            context = [c for c in rejected.columns if c not in ("reason", "account_id")]
            rejected["values"] = [
                json.dumps(row, default=str, ensure_ascii=False)
                for row in rejected[context].to_dict("records")
            ]
        rejected["row_number"] = range(offset, offset + len(rejected))
        rejected["dataset"] = batch.dataset.name
        rejected["batch_id"] = batch_id
        rejected["account_id"] = account_id
        rejected["marketplace_id"] = marketplace_id
        quarantine = pd.concat([quarantine, rejected], ignore_index=True)
        placeholder = pd.DataFrame(index=range(len(rejected)), columns=frame.columns)
        placeholder["account_id"] = account_id
        placeholder["marketplace_id"] = marketplace_id
        extracted = pd.concat([frame, placeholder.astype(frame.dtypes)], ignore_index=True)
    share = len(quarantine) / len(extracted) if len(extracted) else 0.0
    rejected_whole = share > max_quarantine_share
    detail = None
    if rejected_whole:
        detail = (
            f"{len(quarantine)} of {len(extracted)} rows failed validation "
            f"({share:.1%} > {max_quarantine_share:.1%}); batch quarantined whole"
        )
        extra = valid.copy()
        extra_q = pd.DataFrame(
            {
                "dataset": batch.dataset.name,
                "batch_id": batch_id,
                "account_id": account_id,
                "marketplace_id": marketplace_id,
                "row_number": [int(i) for i in valid.index],
                "reason": "batch rejected: " + detail,
                "values": None,
            }
        )
        quarantine = pd.concat([quarantine, extra_q], ignore_index=True)
        valid = extra.iloc[0:0]
    audit = load_batch(
        warehouse,
        batch.dataset,
        extracted,
        valid,
        quarantine,
        batch_id=batch_id,
        account_id=account_id,
        marketplace_id=marketplace_id,
        source=batch.source,
        window_start=batch.window_start,
        window_end=batch.window_end,
        validation_run=outcome.run,
        started_at=started,
        detail=detail,
    )
    if rejected_whole:
        raise BatchRejected(f"{batch_id}: {detail}")
    return audit


def ingest_window(
    warehouse: Warehouse,
    account: Account,
    marketplace_id: str,
    start: datetime,
    end: datetime,
    *,
    groups: Iterable[str] = GROUPS,
    pepper: bytes | None = None,
    spapi_session=None,
    docs_dir: Path | None = None,
    max_quarantine_share: float = DEFAULT_MAX_QUARANTINE_SHARE,
) -> list[LoadAudit]:
    """Extract, validate and load the given dataset groups for [start, end)."""
    if marketplace_id not in account.marketplaces:
        raise ValueError(
            f"account {account.account_id} does not sell on {marketplace_id}; "
            f"its marketplaces: {', '.join(account.marketplaces)}"
        )
    pepper = pepper or identity.load_pepper()
    audits = []
    with tempfile.TemporaryDirectory(prefix="sellerops-ingest-") as workdir:
        ctx = IngestContext(
            account, marketplace_id, start, end, pepper, Path(workdir), spapi_session
        )
        for group in groups:
            if group not in EXTRACTORS:
                raise ValueError(f"unknown dataset group {group!r}; known: {', '.join(GROUPS)}")
            log.info(
                "%s %s %s: extracting %s .. %s",
                account.account_id,
                marketplace_id,
                group,
                start.isoformat(),
                end.isoformat(),
            )
            for batch in EXTRACTORS[group](ctx):
                audits.append(
                    process_batch(
                        warehouse,
                        batch,
                        account_id=account.account_id,
                        marketplace_id=marketplace_id,
                        docs_dir=docs_dir,
                        max_quarantine_share=max_quarantine_share,
                    )
                )
        if {"orders", "messages", "feedback"} & set(groups):
            resolve_identities(warehouse, account.account_id)
    return audits


def windows(start: datetime, end: datetime, days: int = 1) -> list[tuple[datetime, datetime]]:
    """[start, end) cut into consecutive windows of ``days`` days (the last may be shorter)."""
    if not 1 <= days <= MAX_WINDOW_DAYS:
        raise ValueError(f"window of {days} days: use 1 to {MAX_WINDOW_DAYS}")
    out = []
    cursor = start
    while cursor < end:
        out.append((cursor, min(cursor + timedelta(days=days), end)))
        cursor += timedelta(days=days)
    return out


def ingest_range(
    *,
    account_id: str,
    marketplace_id: str | None,
    start: datetime,
    end: datetime,
    datasets: Iterable[str] | None = None,
    accounts_file: str | None = None,
    warehouse_url: str | None = None,
    pepper: bytes | None = None,
    window_days: int = 1,
    docs_dir: Path | None = None,
) -> list[LoadAudit]:
    """``sellerops ingest``: [start, end) in windows, for one account (all or one marketplace)."""
    from sellerops.sources.spapi import SpApiCredentials, SpApiSession

    spans = windows(start, end, window_days)  # bad input fails before anything runs
    account = load_accounts(accounts_file).get(account_id)
    marketplaces = [marketplace_id] if marketplace_id else list(account.marketplaces)
    warehouse = connect(warehouse_url)
    # One session per account: its token buckets carry over from window to window.
    session = SpApiSession(account_id, SpApiCredentials.from_connection(account.spapi_conn_id))
    audits = []
    try:
        for index, (window_start, window_end) in enumerate(spans, 1):
            for marketplace in marketplaces:
                audits += ingest_window(
                    warehouse,
                    account,
                    marketplace,
                    window_start,
                    window_end,
                    groups=list(datasets or GROUPS),
                    pepper=pepper,
                    spapi_session=session,
                    docs_dir=docs_dir,
                )
            log.info("ingest %s: window %d of %d done", account_id, index, len(spans))
    finally:
        if docs_dir is not None:
            from sellerops.validation.validate import build_docs_index

            build_docs_index(docs_dir)  # once per run, failed runs included
    return audits


# -- report files downloaded from Seller Central ---------------------------------------

# The whole span a hand-downloaded file may cover: its rows are checked for shape, not window.
_FILE_WINDOW = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))


def _file_chunks(
    path: Path,
    order_column: str | None,
    *,
    marketplace_id: str | None = None,
    report_type: str | None = None,
) -> Iterable[list[dict]]:
    """Chunks of rows; with ``order_column``, an order's lines never straddle two chunks.

    A file with a header and no rows gives one empty chunk, so it is audited as 0 rows.
    """
    from sellerops.sources.reports import read_rows

    pending: list[dict] = []
    read_any = False
    for chunk in read_rows(path, marketplace_id=marketplace_id, report_type=report_type):
        read_any = True
        if pending and order_column:
            # The next chunk exists: hand over the last order's lines with it.
            last = pending[-1].get(order_column)
            cut = len(pending)
            while cut > 0 and pending[cut - 1].get(order_column) == last:
                cut -= 1
            if cut > 0:
                yield pending[:cut]
                pending = pending[cut:]
        elif pending:
            yield pending
            pending = []
        pending = pending + chunk
    if pending or not read_any:
        yield pending


def _split_problem_rows(rows: list[dict], path: Path) -> tuple[list[dict], pd.DataFrame]:
    good = [r for r in rows if "__problem" not in r]
    bad = [r for r in rows if "__problem" in r]
    from sellerops.validation.validate import redact_row

    rejected = pd.DataFrame(
        {
            "reason": [f"{path.name}: {r['__problem']}" for r in bad],
            "values": [
                json.dumps(redact_row({k: v for k, v in r.items() if not k.startswith("__")}))
                for r in bad
            ],
        }
    )
    return good, rejected


def import_report_file(
    *,
    path: str | Path,
    report_type: str,
    account_id: str,
    marketplace_id: str,
    warehouse_url: str | None = None,
    accounts_file: str | None = None,
    pepper: bytes | None = None,
    max_quarantine_share: float = DEFAULT_MAX_QUARANTINE_SHARE,
) -> list[LoadAudit]:
    """``sellerops import-report``: load a report file through the same parsers and checks."""
    from sellerops.sources import reports

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such report file: {path}")
    account = load_accounts(accounts_file).get(account_id)
    if marketplace_id not in account.marketplaces:
        raise ValueError(f"account {account_id} does not sell on {marketplace_id}")
    pepper = pepper or identity.load_pepper()
    zone = MARKETPLACES[marketplace_id][2]
    present = reports.header_of(path, marketplace_id=marketplace_id)
    required = {
        reports.ALL_ORDERS: reports.ALL_ORDERS_REQUIRED,
        reports.ORDERS_SHIPPING: reports.SHIPPING_REQUIRED,
        reports.MFN_RETURNS: reports.RETURNS_REQUIRED[reports.MFN_RETURNS],
        reports.FBA_RETURNS: reports.RETURNS_REQUIRED[reports.FBA_RETURNS],
        reports.SELLER_FEEDBACK: reports.FEEDBACK_REQUIRED,
    }
    if report_type not in required:
        raise ValueError(
            f"unsupported report type {report_type!r}; supported: {', '.join(sorted(required))}"
        )
    reports.require_columns(path, report_type, present, required[report_type])
    order_column = {
        reports.ALL_ORDERS: "amazon-order-id",
        reports.ORDERS_SHIPPING: "order-id",
    }.get(report_type)
    warehouse = connect(warehouse_url)
    audits: list[LoadAudit] = []
    for rows in _file_chunks(
        path, order_column, marketplace_id=marketplace_id, report_type=report_type
    ):
        if order_column:
            reports.flag_order_siblings(rows, order_column)
        good, rejected = _split_problem_rows(rows, path)
        if order_column:
            orders, items = reports.all_orders_frames(
                good, account_id, marketplace_id, pepper, report_type
            )
            batches = [
                Batch(datasets.ORDERS, orders, report_type, *_FILE_WINDOW, rejected=rejected),
                Batch(datasets.ORDER_ITEMS, items, report_type, *_FILE_WINDOW),
            ]
        elif report_type == reports.SELLER_FEEDBACK:
            frame = reports.feedback_frame(good, account_id, marketplace_id, pepper)
            batches = [
                Batch(datasets.FEEDBACK, frame, report_type, *_FILE_WINDOW, rejected=rejected)
            ]
        else:
            frame = reports.returns_frame(good, report_type, account_id, marketplace_id, zone=zone)
            batches = [
                Batch(datasets.RETURNS, frame, report_type, *_FILE_WINDOW, rejected=rejected)
            ]
        for batch in batches:
            audits.append(
                process_batch(
                    warehouse,
                    batch,
                    account_id=account_id,
                    marketplace_id=marketplace_id,
                    max_quarantine_share=max_quarantine_share,
                )
            )
        log.info("%s: %d rows read so far", path.name, sum(a.extracted for a in audits))
    resolve_identities(warehouse, account_id)
    return audits
