"""Warehouse URL resolution and the DuckDB single-writer lock."""

from __future__ import annotations

import multiprocessing
import time

import pytest

from sellerops import migrations, warehouse


def test_default_is_duckdb_under_data_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("SELLEROPS_WAREHOUSE_URL", raising=False)
    monkeypatch.setenv("SELLEROPS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SELLEROPS_NO_AIRFLOW_CONNECTIONS", "1")
    url = warehouse.resolve_url()
    assert url.get_backend_name() == "duckdb"
    assert url.database == str(tmp_path / "sellerops.duckdb")


def test_environment_variable_wins(monkeypatch):
    monkeypatch.setenv("SELLEROPS_WAREHOUSE_URL", "postgresql://u:secret@db.example:5432/w")
    url = warehouse.resolve_url()
    assert url.drivername == "postgresql+psycopg"
    assert url.host == "db.example"


def test_airflow_connection_is_used(monkeypatch):
    monkeypatch.delenv("SELLEROPS_WAREHOUSE_URL", raising=False)
    monkeypatch.delenv("SELLEROPS_NO_AIRFLOW_CONNECTIONS", raising=False)
    monkeypatch.setenv(
        "AIRFLOW_CONN_SELLEROPS_WAREHOUSE",
        '{"conn_type": "postgres", "host": "warehouse.internal", "login": "etl", '
        '"password": "pw-123456", "port": 5432, "schema": "sellerops"}',
    )
    url = warehouse.resolve_url()
    assert (url.drivername, url.host, url.database, url.username) == (
        "postgresql+psycopg",
        "warehouse.internal",
        "sellerops",
        "etl",
    )


def test_unsupported_backend_is_a_clear_error():
    with pytest.raises(warehouse.WarehouseConfigError, match="unsupported warehouse 'sqlite'"):
        warehouse.resolve_url("sqlite:///x.db")


def test_bad_url_does_not_echo_password():
    with pytest.raises(warehouse.WarehouseConfigError) as info:
        warehouse.resolve_url("not a url with password hunter2")
    assert "hunter2" not in str(info.value)


def _hold_writer(url: str, seconds: float, ready) -> None:
    wh = warehouse.connect(url)
    with wh.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO ops.load_audit VALUES ('held', 'orders', 'a', 'm', "
            "'s', NULL, NULL, 0, 0, 0, 0, 0, 0, 'loaded', now(), NULL, NULL)"
        )
        ready.set()
        time.sleep(seconds)


def test_second_duckdb_process_waits_for_the_writer(tmp_path):
    url = f"duckdb:///{tmp_path / 'locked.duckdb'}"
    migrations.upgrade(warehouse.connect(url))
    ready = multiprocessing.get_context("spawn").Event()
    holder = multiprocessing.get_context("spawn").Process(
        target=_hold_writer, args=(url, 2.0, ready)
    )
    holder.start()
    assert ready.wait(60)
    started = time.monotonic()
    wh = warehouse.connect(url)
    with wh.begin() as conn:  # would raise DuckDB's lock error without the file lock
        count = conn.exec_driver_sql("SELECT count(*) FROM ops.load_audit").scalar()
    waited = time.monotonic() - started
    holder.join(30)
    assert holder.exitcode == 0
    assert count == 1
    assert waited > 0.5
