"""The DAGs on Airflow's CeleryExecutor, on the real PostgreSQL and Redis servers.

A scheduler, a dag-processor, an api-server and a Celery worker run as separate
processes (:mod:`sellerops.testing.airflow_stack`); the sandbox serves two seller
accounts. ``sellerops_ingest`` is triggered for a fixed data interval through the
REST API; its asset events start ``sellerops_models``, whose tag asset starts
``sellerops_campaigns`` (dry run). The warehouse must then hold exactly what the
in-process run of the same interval (the demo's and the CLI's code path) writes
into another warehouse: core, marts and tag tables row for row, and the same
campaign outcomes, with nothing sent to the sandbox.
"""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from sellerops import ingest, migrations
from sellerops.accounts import load_accounts
from sellerops.sandbox.service import make_world, sandbox_environment
from sellerops.testing.airflow_stack import AirflowStack, fresh_postgres_database
from sellerops.warehouse import connect

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

DAGS = ["sellerops_ingest", "sellerops_models", "sellerops_campaigns"]
DAYS = 12
# Columns that name a run, a batch or the wall-clock time of a write: they differ
# between any two runs of the same data and are left out of the comparison.
RUN_SPECIFIC = {
    "batch_id",
    "loaded_at",
    "run_id",
    "build_run_id",
    "built_at",
    "created_at",
    "updated_at",
    "claim_token",
    "claimed_at",
    "planned_at",
    "checked_at",
    "settled_at",
    "computed_at",
}


def _tables(wh, schemas: tuple[str, ...]) -> list[str]:
    """Every table and view of ``schemas``, as schema.name."""
    query = sa.text(
        "SELECT table_schema, table_name FROM information_schema.tables"
        " WHERE table_schema IN :schemas"
    ).bindparams(sa.bindparam("schemas", expanding=True))
    with wh.connect() as conn:
        rows = conn.execute(query, {"schemas": list(schemas)}).fetchall()
    return sorted(f"{schema}.{name}" for schema, name in rows)


def _columns(wh, table: str) -> list[str]:
    schema, name = table.split(".")
    query = sa.text(
        "SELECT column_name FROM information_schema.columns"
        " WHERE table_schema = :schema AND table_name = :name ORDER BY ordinal_position"
    )
    with wh.connect() as conn:
        rows = conn.execute(query, {"schema": schema, "name": name}).fetchall()
    return [r[0] for r in rows]


def _fingerprint(wh, table: str, where: str = "") -> tuple[int, str, list[str]]:
    """(rows, sha256 of the sorted rows, columns compared) without run-specific columns."""
    columns = [c for c in _columns(wh, table) if c not in RUN_SPECIFIC]
    select = ", ".join(f'"{c}"' for c in columns)
    with wh.connect() as conn:
        rows = conn.exec_driver_sql(f"SELECT {select} FROM {table} {where}").fetchall()  # noqa: S608
    text = "\n".join(sorted(repr(tuple(_norm(v) for v in row)) for row in rows))
    return len(rows), hashlib.sha256(text.encode()).hexdigest(), columns


def _norm(value):
    if isinstance(value, float):
        return f"{value:.9g}"
    return str(value)


def _in_process(wh, env, start: datetime, end: datetime, as_of: datetime, results_as_of) -> None:
    """What `sellerops ingest` / `build` / `campaigns send` (dry) / `campaigns results` do,
    one after the other; the campaign steps as of the times the DAG's run used."""
    from sellerops.campaigns.results import compute_results
    from sellerops.campaigns.sender import send_campaigns
    from sellerops.models.runner import build
    from sellerops.tags import load_rules, materialise_tags

    accounts = load_accounts(env.accounts_file)
    for account in accounts.accounts:
        for marketplace_id in account.marketplaces:
            ingest.ingest_window(wh, account, marketplace_id, start, end)
    build(wh, accounts=accounts, catalog_path=env.workdir / "catalog.csv")
    materialise_tags(wh, load_rules())
    send_campaigns(wh, accounts=accounts, as_of=as_of, live=False)
    compute_results(wh, as_of=results_as_of)


def test_dags_on_celery_match_the_in_process_run(tmp_path):
    started = time.monotonic()
    # The world runs to tomorrow; the interval loaded is the DAYS days that end where
    # sellerops_ingest's next scheduled interval ends (today or yesterday, 04:00 UTC).
    world = make_world(
        seed=23,
        days=DAYS + 4,
        orders_per_day=4,
        end_date=datetime.now(UTC).date() + timedelta(days=1),
    )
    assert len(world.accounts) == 2

    with (
        sandbox_environment(tmp_path / "sandbox", world=world) as env,
        fresh_postgres_database("sellerops_wh_celery") as celery_url,
        fresh_postgres_database("sellerops_wh_inproc") as inproc_url,
    ):
        celery_wh = connect(celery_url)
        migrations.upgrade(celery_wh)
        stack_env = {
            "AIRFLOW_CONN_SELLEROPS_WAREHOUSE": sa.engine.make_url(celery_url)
            .set(drivername="postgresql")
            .render_as_string(False),
            "SELLEROPS_DATA_DIR": str(tmp_path / "airflow_data"),
        }
        with AirflowStack(tmp_path / "stack", env=stack_env) as stack:
            stack.wait_for_dags(DAGS)
            # Triggered while paused, for the logical date the scheduler would start on
            # unpausing: the scheduler sees that run exists and creates no other.
            dag = stack.api("GET", "/dags/sellerops_ingest")
            logical_date = datetime.fromisoformat(dag["next_dagrun_logical_date"])
            end = datetime.fromisoformat(dag["next_dagrun_data_interval_end"])
            start = end - timedelta(days=DAYS)
            assert world.start <= start and end <= world.end
            run = stack.trigger(
                "sellerops_ingest", logical_date=logical_date, data_interval=(start, end)
            )
            assert datetime.fromisoformat(run["data_interval_start"]) == start
            assert datetime.fromisoformat(run["data_interval_end"]) == end
            for dag_id in DAGS:
                stack.unpause(dag_id)
            done = stack.wait_for_run("sellerops_ingest", run["dag_run_id"])
            assert [r["dag_run_id"] for r in stack.runs("sellerops_ingest")] == [run["dag_run_id"]]
            # The models run on every asset event (core tables), the campaigns on every
            # tag refresh: wait until each has run after the ingest began and is idle.
            models = stack.wait_until_settled("sellerops_models", after=done["start_date"])
            campaigns = stack.wait_until_settled("sellerops_campaigns", after=done["start_date"])
            assert all(r["state"] == "success" for r in models + campaigns)
            stack_seconds = time.monotonic() - started

        # Dry run: the sandbox accepted no solicitation and no message.
        assert env.sends() == []

        with celery_wh.connect() as conn:
            as_of = conn.exec_driver_sql(
                "SELECT max(as_of) FROM ops.campaign_runs WHERE step = 'send'"
            ).scalar()
            results_as_of = conn.exec_driver_sql(
                "SELECT max(as_of) FROM marts.campaign_results"
            ).scalar()
        assert as_of is not None, "the campaigns DAG recorded no send run"

        inproc_wh = connect(inproc_url)
        migrations.upgrade(inproc_wh)
        _in_process(inproc_wh, env, start, end, as_of, results_as_of or as_of)

        tables = _tables(celery_wh, ("core", "marts"))
        assert tables == _tables(inproc_wh, ("core", "marts"))
        assert {"core.orders", "marts.buyer_profile", "marts.buyer_tags"} <= set(tables)
        differences = {}
        for table in tables:
            got, want = _fingerprint(celery_wh, table), _fingerprint(inproc_wh, table)
            if got != want:
                differences[table] = f"celery {got[:2]} vs in-process {want[:2]}"
        assert not differences, differences
        with celery_wh.connect() as conn:
            orders = conn.exec_driver_sql("SELECT count(*) FROM core.orders").scalar()
        assert orders > 0

        outbox = "SELECT campaign, account_id, order_id, status, reason FROM ops.campaign_sends"
        with celery_wh.connect() as c1, inproc_wh.connect() as c2:
            got = sorted(tuple(r) for r in c1.exec_driver_sql(outbox).fetchall())
            want = sorted(tuple(r) for r in c2.exec_driver_sql(outbox).fetchall())
        assert got == want
        assert got, "no campaign outbox rows: the comparison would prove nothing"
        celery_wh.dispose()
        inproc_wh.dispose()
    print(f"Celery stack: {stack_seconds:.0f} s, whole test {time.monotonic() - started:.0f} s")
