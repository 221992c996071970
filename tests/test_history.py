"""``sellerops history``: the ops tables read back as a run history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from sellerops import cli
from sellerops.history import format_history, run_history

NOW = datetime.now(UTC).replace(microsecond=0)


def _fill(wh) -> None:
    def load(batch, started, dataset, extracted, quarantined):
        return {
            "batch_id": batch, "dataset": dataset, "account_id": "acme", "marketplace_id": "US1",
            "source": "orders_api", "window_start": None, "window_end": None,
            "extracted": extracted, "loaded": extracted - quarantined, "quarantined": quarantined,
            "inserted": extracted - quarantined, "updated": 0, "unchanged": 0, "status": "loaded",
            "started_at": started, "finished_at": started + timedelta(seconds=3), "detail": None,
        }  # fmt: skip

    loads = [
        load("b-old", NOW - timedelta(days=9), "orders", 10, 0),
        load("b-1", NOW - timedelta(hours=5), "orders", 120, 2),
        load("b-2", NOW - timedelta(hours=1), "returns", 7, 0),
    ]
    with wh.begin() as conn:
        columns = list(loads[0])
        conn.execute(
            sa.text(
                f"INSERT INTO ops.load_audit ({', '.join(columns)}) "  # noqa: S608
                f"VALUES ({', '.join(':' + c for c in columns)})"
            ),
            loads,
        )
        conn.execute(
            sa.text(
                "INSERT INTO ops.validation_runs (batch_id, dataset, suite_name, success, "
                "evaluated_rows, quarantined_rows, expectations, failed_expectations, run_time) "
                "VALUES ('b-1', 'orders', 'orders_suite', false, 120, 2, 14, "
                "'expect_column_values_to_not_be_null(order_id)', :t)"
            ),
            {"t": NOW - timedelta(hours=5)},
        )
        conn.execute(
            sa.text(
                "INSERT INTO ops.model_runs (run_id, started_at, finished_at, status, mode, reason) "
                "VALUES ('m-1', :s, :f, 'success', 'incremental', 'new data')"
            ),
            {"s": NOW - timedelta(minutes=50), "f": NOW - timedelta(minutes=49)},
        )
        conn.execute(
            sa.text(
                "INSERT INTO ops.campaign_runs (run_id, step, started_at, finished_at, as_of, "
                "status, live_campaigns, error) VALUES ('c-1', 'send', :s, :f, :s, 'failed', "
                "'review_7d', 'TimeoutError: no answer')"
            ),
            {"s": NOW - timedelta(minutes=30), "f": NOW - timedelta(minutes=29)},
        )


def test_history_is_newest_first_within_the_window(any_warehouse):
    _fill(any_warehouse)
    history = run_history(any_warehouse, since=NOW - timedelta(days=7))
    loads = history["Loads"]
    assert [r["dataset"] for r in loads] == ["returns", "orders"]  # b-old is 9 days old
    assert (loads[1]["extracted"], loads[1]["loaded"], loads[1]["quarantined"]) == (120, 118, 2)
    assert [r["suite_name"] for r in history["Validations"]] == ["orders_suite"]
    assert history["Validations"][0]["success"] in (False, 0)
    assert [r["mode"] for r in history["Model builds"]] == ["incremental"]
    assert [(r["step"], r["status"]) for r in history["Campaign runs"]] == [("send", "failed")]
    assert len(run_history(any_warehouse, since=NOW - timedelta(days=30))["Loads"]) == 3
    assert len(run_history(any_warehouse, since=NOW - timedelta(days=30), limit=1)["Loads"]) == 1

    text = format_history(history)
    assert "Loads (ops.load_audit, newest first, UTC): 2" in text
    assert (NOW - timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S") in text
    assert "TimeoutError: no answer" in text
    # Columns line up: every data row of a section starts its columns where the header does.
    block = text.split("\n\n")[0].splitlines()
    header, first = block[1], block[2]
    assert header.index("account_id") == first.index("acme")


def test_cli_prints_the_history_and_rejects_a_bad_limit(duckdb_warehouse, capsys):
    _fill(duckdb_warehouse)
    url = duckdb_warehouse.url.render_as_string(hide_password=False)
    duckdb_warehouse.dispose()
    assert cli.main(["--warehouse", url, "history", "--days", "30"]) == 0
    out = capsys.readouterr().out
    assert "Loads (ops.load_audit, newest first, UTC): 3" in out
    assert "Campaign runs (ops.campaign_runs, newest first, UTC): 1" in out
    with pytest.raises(SystemExit):
        cli.main(["--warehouse", url, "history", "--limit", "0"])
    assert "must be at least 1" in capsys.readouterr().err
