"""Idempotent loads: raw landing (append-only), then MERGE into ``core`` by natural key.

One batch is one dataset for one account, marketplace and window. In a single
transaction the loader

1. appends every extracted row to ``raw.<dataset>`` with the batch id;
2. upserts the valid rows into ``core.<dataset>`` by the dataset's natural key;
   a row only replaces a stored one that is not newer (``version_column``) and
   differs, so re-running a day changes nothing; a null in a nullable column
   keeps the stored value (sources differ in what they carry);
3. writes the quarantined rows to ``ops.quarantine``, the validation result to
   ``ops.validation_runs``, and one line to ``ops.load_audit`` where
   ``extracted = loaded + quarantined`` and ``loaded = inserted + updated + unchanged``.

Bulk paths only: DuckDB scans the batch as an Arrow table; PostgreSQL receives
it through ``COPY ... FROM STDIN`` (psycopg 3) into a temporary table. A batch
with nothing quarantined (the usual case) is staged once for both steps; on
PostgreSQL the inserted/updated counts come back from the upsert itself
(``RETURNING (xmax = 0)``), on DuckDB from a counting join before it.
"""

from __future__ import annotations

import io
import json
import logging
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import pandas as pd
import sqlalchemy as sa

from sellerops.datasets import Dataset
from sellerops.warehouse import Warehouse, xact_lock

log = logging.getLogger(__name__)

SQL_TYPES = {
    "text": "VARCHAR",
    "int": "BIGINT",
    "money": "NUMERIC(18, 4)",
    "bool": "BOOLEAN",
    "timestamp": "TIMESTAMPTZ",
    "date": "DATE",
}


@dataclass
class LoadAudit:
    batch_id: str
    dataset: str
    account_id: str
    marketplace_id: str
    source: str
    window_start: datetime | None
    window_end: datetime | None
    extracted: int
    loaded: int
    quarantined: int
    inserted: int
    updated: int
    unchanged: int
    status: str
    started_at: datetime
    finished_at: datetime | None = None
    detail: str | None = None


def new_batch_id(dataset: str, account_id: str, marketplace_id: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return f"{dataset}:{account_id}:{marketplace_id}:{stamp}:{uuid.uuid4().hex[:8]}"


def _arrow(frame: pd.DataFrame):
    import pyarrow as pa

    return pa.Table.from_pandas(frame, preserve_index=False)


class _Stage:
    """A batch made visible to SQL as a relation, the bulk way for each dialect."""

    def __init__(self, warehouse: Warehouse, conn: sa.Connection, dataset: Dataset, name: str):
        self.warehouse = warehouse
        self.conn = conn
        self.dataset = dataset
        self.name = name

    def put(self, frame: pd.DataFrame) -> None:
        if self.warehouse.is_duckdb:
            self.conn.connection.driver_connection.register(self.name, _arrow(frame))
            return
        columns = ", ".join(f"{c.name} {SQL_TYPES[c.type]}" for c in self.dataset.columns)
        self.conn.exec_driver_sql(f"CREATE TEMP TABLE {self.name} ({columns}) ON COMMIT DROP")
        copy_frame(self.conn, self.name, frame)

    def drop(self) -> None:
        if self.warehouse.is_duckdb:
            self.conn.connection.driver_connection.unregister(self.name)


def _utc_text_timestamps(table):
    """Zoned timestamp columns as ``YYYY-MM-DD HH:MM:SS.ffffff+00`` text.

    Arrow's CSV writer formats zoned timestamps ~15x slower than naive ones (it
    converts each value through the zone); Arrow stores them in UTC, so the naive
    cast plus an explicit ``+00`` is the same instant, read the same by
    PostgreSQL whatever the session's TimeZone.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    columns = []
    for field, column in zip(table.schema, table.columns, strict=True):
        if pa.types.is_timestamp(field.type) and field.type.tz is not None:
            text = column.cast(pa.timestamp(field.type.unit)).cast(pa.string())
            column = pc.binary_join_element_wise(text, pa.scalar("+00"), "")
        columns.append(column)
    return pa.table(columns, names=table.column_names)


def copy_frame(conn: sa.Connection, table: str, frame: pd.DataFrame, chunk_rows: int = 200_000):
    """Stream a frame into a PostgreSQL table with COPY (CSV written by Arrow).

    A writer thread sends each chunk while the next one is encoded, so the
    client's encoding overlaps the server's parsing.
    """
    import pyarrow.csv as pacsv
    from psycopg.copy import QueuedLibpqWriter

    raw = conn.connection.driver_connection
    columns = ", ".join(frame.columns)
    options = pacsv.WriteOptions(include_header=False, quoting_style="needed")
    statement = f"COPY {table} ({columns}) FROM STDIN (FORMAT csv)"
    with (
        raw.cursor() as cursor,
        cursor.copy(statement, writer=QueuedLibpqWriter(cursor)) as copy,
    ):
        for start in range(0, len(frame), chunk_rows):
            buffer = io.BytesIO()
            chunk = _utc_text_timestamps(_arrow(frame.iloc[start : start + chunk_rows]))
            pacsv.write_csv(chunk, buffer, write_options=options)
            copy.write(buffer.getvalue())


def _select_cast(dataset: Dataset) -> str:
    return ", ".join(f"CAST({c.name} AS {SQL_TYPES[c.type]}) AS {c.name}" for c in dataset.columns)


def _merge_counts(conn, dataset: Dataset, stage: str) -> tuple[int, int, int]:
    """(inserted, updated, unchanged) the upsert of ``stage`` is about to make."""
    key_join = " AND ".join(f"t.{k} = s.{k}" for k in dataset.key)
    changed = _changed_predicate(dataset, "t", "s")
    row = conn.exec_driver_sql(
        f"""
        SELECT
            COUNT(*) FILTER (WHERE t.{dataset.key[0]} IS NULL),
            COUNT(*) FILTER (WHERE t.{dataset.key[0]} IS NOT NULL AND {changed}),
            COUNT(*) FILTER (WHERE t.{dataset.key[0]} IS NOT NULL AND NOT ({changed}))
        FROM (SELECT {_select_cast(dataset)} FROM {stage}) AS s
        LEFT JOIN {dataset.core_table} AS t ON {key_join}
        """  # noqa: S608 - identifiers come from the fixed dataset contract
    ).one()
    return int(row[0]), int(row[1]), int(row[2])


def _merged_value(dataset: Dataset, column: str, target: str, source: str) -> str:
    """The value a merge keeps: a nullable column never loses a known value to a null.

    Sources differ in what they carry (the all-orders report has no buyer keys, the
    shipping report no ASIN): a later row from a poorer source must not erase them.
    """
    if dataset.column(column).nullable:
        return f"COALESCE({source}.{column}, {target}.{column})"
    return f"{source}.{column}"


def _changed_predicate(dataset: Dataset, target: str, source: str) -> str:
    others = [c for c in dataset.column_names if c not in dataset.key]
    differs = " OR ".join(
        f"{target}.{c} IS DISTINCT FROM {_merged_value(dataset, c, target, source)}" for c in others
    )
    if dataset.version_column:
        v = dataset.version_column
        return f"({target}.{v} <= {source}.{v} AND ({differs}))"
    return f"({differs})"


def land_raw_sql(dataset: Dataset, stage: str) -> str:
    """Append a staged batch to ``raw.<dataset>`` (binds ``:batch_id``, ``:now``)."""
    columns = ", ".join(dataset.column_names)
    return (
        f"INSERT INTO {dataset.raw_table} (batch_id, extracted_at, {columns}) "  # noqa: S608
        f"SELECT :batch_id, :now, {_select_cast(dataset)} FROM {stage}"
    )


def upsert_sql(dataset: Dataset, stage: str, *, returning_counts: bool = False) -> str:
    """Upsert a staged batch into ``core.<dataset>`` by its natural key.

    A stored row is replaced only when the staged one is not older and differs; a
    null in a nullable column keeps the stored value. With ``returning_counts``
    (PostgreSQL) the statement returns one row (inserted, updated): a row whose
    ``xmax`` is 0 was inserted, one the ``DO UPDATE`` rewrote was updated, and rows
    the ``WHERE`` left alone are not returned.
    """
    columns = ", ".join(dataset.column_names)
    others = [c for c in dataset.column_names if c not in dataset.key]
    updates = ", ".join(
        [f"{c} = {_merged_value(dataset, c, 't', 'EXCLUDED')}" for c in others]
        + ["batch_id = EXCLUDED.batch_id", "loaded_at = EXCLUDED.loaded_at"]
    )
    sql = (
        f"INSERT INTO {dataset.core_table} AS t ({columns}, batch_id, loaded_at) "  # noqa: S608
        f"SELECT {_select_cast(dataset)}, :batch_id, :now FROM {stage} "
        f"ON CONFLICT ({', '.join(dataset.key)}) DO UPDATE SET {updates} "
        f"WHERE {_changed_predicate(dataset, 't', 'EXCLUDED')}"
    )
    if not returning_counts:
        return sql
    return (
        f"WITH upserted AS ({sql} RETURNING (xmax = 0) AS inserted) "  # noqa: S608
        "SELECT COUNT(*) FILTER (WHERE inserted), COUNT(*) FILTER (WHERE NOT inserted) "
        "FROM upserted"
    )


def load_batch(
    warehouse: Warehouse,
    dataset: Dataset,
    extracted: pd.DataFrame,
    valid: pd.DataFrame,
    quarantine: pd.DataFrame,
    *,
    batch_id: str,
    account_id: str,
    marketplace_id: str,
    source: str,
    window_start: datetime | None,
    window_end: datetime | None,
    validation_run: dict | None = None,
    started_at: datetime | None = None,
    detail: str | None = None,
) -> LoadAudit:
    """Land, merge and audit one validated batch in one transaction."""
    if len(valid) + len(quarantine) != len(extracted):
        raise ValueError(
            f"{batch_id}: {len(extracted)} extracted rows but {len(valid)} valid + "
            f"{len(quarantine)} quarantined"
        )
    now = datetime.now(UTC)
    audit = LoadAudit(
        batch_id=batch_id,
        dataset=dataset.name,
        account_id=account_id,
        marketplace_id=marketplace_id,
        source=source,
        window_start=window_start,
        window_end=window_end,
        extracted=len(extracted),
        loaded=len(valid),
        quarantined=len(quarantine),
        inserted=0,
        updated=0,
        unchanged=0,
        status="loaded",
        started_at=started_at or now,
        detail=detail,
    )
    params = {"batch_id": batch_id, "now": now}
    with warehouse.begin() as conn:
        # Two runs of the same day (a manual trigger during a scheduled run) load the
        # same keys: one at a time per account, or both would count the same inserts.
        xact_lock(conn, f"sellerops:load:{account_id}")
        stage_name = f"stage_{dataset.name}_{uuid.uuid4().hex[:8]}"
        # Nothing quarantined: the valid rows are the extracted ones, staged once.
        one_stage = len(quarantine) == 0 and valid[dataset.column_names].equals(
            extracted[dataset.column_names]
        )
        stage = None
        if len(extracted):
            stage = _Stage(warehouse, conn, dataset, stage_name)
            stage.put(extracted[dataset.column_names])
            conn.execute(sa.text(land_raw_sql(dataset, stage.name)), params)
            if not one_stage:
                stage.drop()
                stage = None
        if len(valid):
            if stage is None:
                stage = _Stage(warehouse, conn, dataset, stage_name + "_valid")
                stage.put(valid[dataset.column_names])
            if warehouse.is_duckdb:
                audit.inserted, audit.updated, audit.unchanged = _merge_counts(
                    conn, dataset, stage.name
                )
                conn.execute(sa.text(upsert_sql(dataset, stage.name)), params)
            else:
                inserted, updated = conn.execute(
                    sa.text(upsert_sql(dataset, stage.name, returning_counts=True)), params
                ).one()
                audit.inserted, audit.updated = int(inserted), int(updated)
                audit.unchanged = len(valid) - audit.inserted - audit.updated
        if stage is not None:
            stage.drop()
        if len(quarantine):
            _insert_quarantine(conn, quarantine, batch_id, dataset.name, now)
        if validation_run:
            _insert_validation_run(conn, validation_run)
        audit.finished_at = datetime.now(UTC)
        conn.execute(sa.text(_insert_sql("ops.load_audit", asdict(audit))), asdict(audit))
    log.info(
        "%s: extracted %d = loaded %d (inserted %d, updated %d, unchanged %d) + quarantined %d",
        batch_id,
        audit.extracted,
        audit.loaded,
        audit.inserted,
        audit.updated,
        audit.unchanged,
        audit.quarantined,
    )
    return audit


def _insert_sql(table: str, row: dict) -> str:
    names = list(row)
    return (
        f"INSERT INTO {table} ({', '.join(names)}) "  # noqa: S608 - fixed identifiers
        f"VALUES ({', '.join(':' + n for n in names)})"
    )


def _insert_quarantine(conn, quarantine: pd.DataFrame, batch_id: str, dataset: str, now) -> None:
    rows = [
        {
            "batch_id": batch_id,
            "dataset": dataset,
            "account_id": r.get("account_id"),
            "marketplace_id": r.get("marketplace_id"),
            "row_number": int(r["row_number"]),
            "reason": str(r["reason"]),
            "row_values": r.get("values")
            if isinstance(r.get("values"), str)
            else json.dumps(r.get("values"), default=str),
            "quarantined_at": now,
        }
        for r in quarantine.to_dict("records")
    ]
    conn.execute(sa.text(_insert_sql("ops.quarantine", rows[0])), rows)


def _insert_validation_run(conn, run: dict) -> None:
    row = {
        "batch_id": run["batch_id"],
        "dataset": run["dataset"],
        "suite_name": run["suite_name"],
        "success": bool(run["success"]),
        "evaluated_rows": int(run["evaluated_rows"]),
        "quarantined_rows": int(run["quarantined_rows"]),
        "expectations": int(run["expectations"]),
        "failed_expectations": json.dumps(list(run.get("failed_expectations") or [])),
        "run_time": run["run_time"],
        "data_docs_path": run.get("data_docs_path"),
    }
    conn.execute(sa.text(_insert_sql("ops.validation_runs", row)), row)
