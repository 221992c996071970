"""Fixtures of the buyer-tag tests: the hand-built tag world, built once per database.

``tagworld`` (this folder) is put on ``sys.path`` like ``tests/models`` does with
``handmade``. The world is written and the models built once per test session and
database into a template (a DuckDB file, a PostgreSQL template database); every
test gets a fresh copy, so tests may write freely.
"""

from __future__ import annotations

import shutil
import sys
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import tagworld  # noqa: E402 - needs the path above

from sellerops import migrations, warehouse  # noqa: E402
from sellerops.models import runner  # noqa: E402


def _build(wh, folder: Path) -> None:
    migrations.upgrade(wh)
    tagworld.insert_world(wh)
    runner.build(wh, accounts=tagworld.ACCOUNTS, catalog_path=tagworld.write_catalog(folder))


@pytest.fixture(scope="session")
def _duckdb_template(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tagworld")
    path = folder / "template.duckdb"
    wh = warehouse.connect(f"duckdb:///{path}")
    with wh.engine.connect() as conn:
        conn.exec_driver_sql("SELECT 1")
    _build(wh, folder)
    with wh.engine.connect() as conn:
        conn.exec_driver_sql("CHECKPOINT")
    wh.dispose()
    return path


def _admin(server_url: str) -> sa.Engine:
    return sa.create_engine(server_url, isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def _pg_template(pg_server_url, tmp_path_factory):
    name = f"sellerops_tagtmpl_{uuid.uuid4().hex[:8]}"
    admin = _admin(pg_server_url)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.engine.make_url(pg_server_url).set(database=name)
    wh = warehouse.connect(url.render_as_string(hide_password=False))
    _build(wh, tmp_path_factory.mktemp("tagworld_pg"))
    wh.dispose()
    yield name
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture(params=["duckdb", "postgres"])
def world(request, tmp_path):
    """A fresh warehouse holding the tag world with its models built (DuckDB and PostgreSQL)."""
    if request.param == "duckdb":
        template = request.getfixturevalue("_duckdb_template")
        target = tmp_path / "world.duckdb"
        shutil.copyfile(template, target)
        wal = template.with_name(template.name + ".wal")
        if wal.exists():
            shutil.copyfile(wal, target.with_name(target.name + ".wal"))
        wh = warehouse.connect(f"duckdb:///{target}")
        yield wh
        wh.dispose()
        return
    template = request.getfixturevalue("_pg_template")
    server_url = request.getfixturevalue("pg_server_url")
    name = f"sellerops_tags_{uuid.uuid4().hex[:8]}"
    admin = _admin(server_url)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    url = sa.engine.make_url(server_url).set(database=name)
    wh = warehouse.connect(url.render_as_string(hide_password=False))
    yield wh
    wh.dispose()
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()
