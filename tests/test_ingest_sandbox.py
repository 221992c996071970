"""Ingest against the sandbox seller accounts: the warehouse equals the sandbox's ground truth.

2 accounts x 2 marketplaces x 30 days, on DuckDB and on PostgreSQL. Then the same
window again and a daily backfill over part of it: every core table is unchanged,
byte for byte (checksums include batch_id and loaded_at, so not even a rewrite of an
unchanged row passes).
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest

from sellerops import identity, ingest
from sellerops.accounts import load_accounts
from sellerops.models.runner import build
from sellerops.sandbox.service import make_world, sandbox_environment
from sellerops.sandbox.truth import compute_truth
from sellerops.sources.spapi import SpApiCredentials, SpApiSession

CORE = ("orders", "order_items", "returns", "refunds", "feedback", "messages")
PEPPER = identity.DEVELOPMENT_PEPPER.encode()


@pytest.fixture(scope="module")
def world():
    return make_world(seed=7, days=30, orders_per_day=6)


def _checksums(wh) -> dict[str, str]:
    sums = {}
    with wh.connect() as conn:
        for table in (*CORE, "buyer_aliases"):
            rows = conn.exec_driver_sql(
                f"SELECT * FROM core.{table}"  # noqa: S608 - fixed names
            ).fetchall()
            text = "\n".join(sorted(repr(tuple(str(v) for v in row)) for row in rows))
            sums[table] = hashlib.sha256(text.encode()).hexdigest()
    return sums


def _counts(wh) -> dict[str, int]:
    with wh.connect() as conn:
        return {
            f"core.{t}": conn.exec_driver_sql(f"SELECT count(*) FROM core.{t}").scalar()  # noqa: S608
            for t in CORE
        }


def _ingest(wh, env, start, end, pairs=None):
    accounts = load_accounts(env.accounts_file)
    audits = []
    for account in accounts.accounts:
        session = SpApiSession(
            account.account_id, SpApiCredentials.from_connection(account.spapi_conn_id)
        )
        for marketplace_id in account.marketplaces:
            if pairs and (account.account_id, marketplace_id) not in pairs:
                continue
            audits += ingest.ingest_window(
                wh, account, marketplace_id, start, end, pepper=PEPPER, spapi_session=session
            )
    return audits


def test_warehouse_equals_truth_and_reruns_change_nothing(any_warehouse, world, tmp_path):
    """Ingest, check against the truth, rerun and backfill, then build the models and
    check the headline KPIs against the truth too (one ingest per database)."""
    truth = compute_truth(world)
    with sandbox_environment(tmp_path, world=world) as env:
        audits = _ingest(any_warehouse, env, world.start, world.end)
        assert _counts(any_warehouse) == truth["totals"]
        assert all(a.extracted == a.loaded + a.quarantined for a in audits)
        assert sum(a.quarantined for a in audits) == 0

        # Buyers: the resolved keys count exactly the truth's buyers and repeat buyers.
        with any_warehouse.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT account_id, marketplace_id, count(*), "
                "sum(CASE WHEN n >= 2 THEN 1 ELSE 0 END) FROM ("
                " SELECT account_id, marketplace_id, buyer_key, count(DISTINCT order_id) AS n"
                " FROM core.orders WHERE order_status <> 'CANCELLED' AND buyer_key IS NOT NULL"
                " GROUP BY account_id, marketplace_id, buyer_key) AS b"
                " GROUP BY account_id, marketplace_id"
            ).fetchall()
        for account_id, marketplace_id, buyers, repeat in rows:
            kpis = truth["kpis"][account_id][marketplace_id]
            assert (buyers, int(repeat)) == (kpis["buyers_with_orders"], kpis["repeat_buyers"])

        before = _checksums(any_warehouse)
        again = _ingest(any_warehouse, env, world.start, world.end)
        assert sum(a.inserted + a.updated for a in again) == 0
        assert _checksums(any_warehouse) == before

        # A daily backfill of the last three days for one partition.
        pair = {("acme-outdoor", "ATVPDKIKX0DER")}
        for day in range(3, 0, -1):
            start = world.end - timedelta(days=day)
            _ingest(any_warehouse, env, start, start + timedelta(days=1), pairs=pair)
        assert _checksums(any_warehouse) == before

        build(
            any_warehouse,
            accounts=load_accounts(env.accounts_file),
            catalog_path=env.workdir / "catalog.csv",
        )
    _assert_headline_kpis(any_warehouse, truth)


def _rows(wh, sql: str) -> list[tuple]:
    with wh.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql(sql).fetchall()]


def _assert_headline_kpis(wh, truth) -> None:
    """The marts' headline KPIs equal the sandbox truth: counts exactly, rates to 1e-9."""
    checked = 0
    profile = _rows(
        wh,
        "SELECT account_id, marketplace_id, "
        "SUM(CASE WHEN orders >= 1 THEN 1 ELSE 0 END), SUM(CASE WHEN orders >= 2 THEN 1 ELSE 0 END) "
        "FROM marts.buyer_profile GROUP BY account_id, marketplace_id",
    )
    for account_id, marketplace_id, buyers, repeat in profile:
        k = truth["kpis"][account_id][marketplace_id]
        assert (int(buyers), int(repeat)) == (k["buyers_with_orders"], k["repeat_buyers"])
        assert abs(int(repeat) / int(buyers) - k["repurchase_rate"]) < 1e-9
        checked += 1
    returns = _rows(
        wh,
        "SELECT account_id, marketplace_id, SUM(orders), SUM(ordered_units), "
        "SUM(returned_units), SUM(refunded_orders), SUM(refunded_without_return_orders) "
        "FROM marts.returns_by_month GROUP BY account_id, marketplace_id",
    )
    for account_id, marketplace_id, orders, units, returned, refunded, without in returns:
        k = truth["kpis"][account_id][marketplace_id]
        assert [int(orders), int(units), int(returned), int(refunded), int(without)] == [
            k["orders_non_cancelled"],
            k["units_ordered"],
            k["units_returned"],
            k["orders_refunded"],
            k["orders_refunded_without_return"],
        ]
        assert abs(int(returned) / int(units) - k["return_rate"]) < 1e-9
        assert abs(int(refunded) / int(orders) - k["refund_rate"]) < 1e-9
        assert abs(int(without) / int(orders) - k["refund_without_return_rate"]) < 1e-9
    feedback = _rows(
        wh,
        "SELECT account_id, marketplace_id, negative_feedback, negative_feedback_rate "
        "FROM marts.feedback_summary WHERE window_days = 365",
    )
    for account_id, marketplace_id, negative, rate in feedback:
        k = truth["kpis"][account_id][marketplace_id]
        assert int(negative) == k["orders_negative_feedback"]
        assert abs(float(rate) - k["negative_feedback_rate"]) < 1e-9
    replies = _rows(
        wh,
        "SELECT account_id, marketplace_id, COUNT(first_reply_minutes), "
        "SUM(CASE WHEN first_reply_minutes IS NULL THEN 1 ELSE 0 END), "
        "percentile_cont(0.5) WITHIN GROUP (ORDER BY first_reply_minutes), "
        "SUM(CASE WHEN is_presales AND is_thread_opener THEN 1 ELSE 0 END) "
        "FROM core.message_replies GROUP BY account_id, marketplace_id",
    )
    for account_id, marketplace_id, answered, unanswered, median, presales in replies:
        k = truth["kpis"][account_id][marketplace_id]
        assert (int(answered), int(unanswered)) == (
            k["first_reply"]["answered"],
            k["first_reply"]["unanswered"],
        )
        assert abs(float(median) - k["first_reply"]["median_minutes"]) < 1e-9
        assert int(presales) == k["presales_inquiries"]
    assert checked == 4 and len(returns) == 4 and len(feedback) == 4 and len(replies) == 4


def test_no_buyer_email_or_name_reaches_warehouse_or_logs(
    duckdb_warehouse, world, tmp_path, caplog
):
    caplog.set_level("DEBUG")
    with sandbox_environment(tmp_path, world=world) as env:
        _ingest(duckdb_warehouse, env, world.end - timedelta(days=10), world.end)
    dump = []
    with duckdb_warehouse.connect() as conn:
        tables = conn.exec_driver_sql(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables "
            "WHERE table_schema IN ('raw', 'core', 'ops', 'marts')"
        ).fetchall()
        for (table,) in tables:
            for row in conn.exec_driver_sql(f"SELECT * FROM {table}").fetchall():  # noqa: S608
                dump.extend(str(v) for v in row)
    text = "\n".join(dump) + "\n" + caplog.text
    assert len(dump) > 1000
    emails = [e for e in world.buyers["email"]]
    names = [n for n in world.buyers["name"] if len(n) >= 8]
    leaked = [v for v in emails + names if v in text]
    assert leaked == []
