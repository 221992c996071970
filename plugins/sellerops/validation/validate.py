"""Validate an extracted batch against its dataset's Great Expectations suite.

:func:`validate_batch` runs the suite from :mod:`sellerops.validation.suites` on one
batch (a DataFrame with exactly the dataset's columns, dtypes as documented
there) and splits it:

* ``valid`` -- the rows that passed every row-level expectation, in their original
  order and with their original index;
* ``quarantine`` -- one row per failing batch row with every reason it failed and
  its values as JSON with personal data masked (:func:`redact_row`);
* ``run`` -- the record for ``ops.validation_runs``.

Batch-level failures (columns missing, extra or out of order; a column of the
wrong dtype; a text column holding non-str values; a date column with a time of
day) raise :class:`BatchSchemaError`: they are bugs in an extractor, not bad rows.
Batches should be built with :func:`sellerops.frames.typed_frame`.

Duplicate natural keys: extractors append newer versions of a row later, so the
LAST occurrence of a key is kept and the earlier ones are quarantined with
"duplicate key (superseded by row N)". This holds even when the last occurrence
itself fails another expectation -- an older version is never loaded in place of
a newer one.

Great Expectations is imported on first use only (Airflow imports this package
while parsing DAG files) and one ephemeral GX context is kept per process.
pandas is imported lazily as well.
"""

from __future__ import annotations

import copy
import datetime as dt
import decimal
import functools
import hashlib
import json
import logging
import math
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from sellerops import datasets
from sellerops.validation import suites

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

QUARANTINE_COLUMNS = (
    "dataset",
    "batch_id",
    "account_id",
    "marketplace_id",
    "row_number",
    "reason",
    "values",
)

REDACTED = "[REDACTED]"
EMAIL_MASK = "[EMAIL]"


class ValidationError(RuntimeError):
    """Validation could not classify the batch."""


class BatchSchemaError(ValidationError):
    """The batch as a whole does not match the dataset contract (columns or types)."""


class QuarantineThresholdExceeded(ValidationError):
    """Too large a share of a batch was quarantined."""


@dataclass
class ValidationOutcome:
    """What :func:`validate_batch` found.

    ``valid``: the passing rows (original index, order and columns). ``quarantine``:
    one row per failing row, columns :data:`QUARANTINE_COLUMNS` (``row_number`` is the
    0-based position in the batch, ``values`` redacted JSON). ``run``: the
    ``ops.validation_runs`` record. ``docs_path``: this run's Data Docs page.
    """

    dataset: str
    batch_id: str
    valid: pd.DataFrame
    quarantine: pd.DataFrame
    run: dict[str, Any]
    docs_path: Path | None = None
    # GX's own result, for debugging; not part of the stable API.
    gx_result: Any = field(default=None, repr=False)

    @property
    def evaluated_rows(self) -> int:
        return int(self.run["evaluated_rows"])

    @property
    def quarantined_rows(self) -> int:
        return int(self.run["quarantined_rows"])

    @property
    def success(self) -> bool:
        return bool(self.run["success"])


# --------------------------------------------------------------------------- GX context


def import_gx():
    """Import Great Expectations with analytics off and its logging quiet."""
    os.environ["GX_ANALYTICS_ENABLED"] = "false"
    # Before the import: GX logs hundreds of INFO/DEBUG lines while importing.
    gx_logger = logging.getLogger("great_expectations")
    if gx_logger.level == logging.NOTSET:
        gx_logger.setLevel(logging.WARNING)
    import great_expectations as gx

    return gx


class _GX:
    """The process's GX context with one data asset and suite per dataset."""

    def __init__(self) -> None:
        gx = import_gx()
        from great_expectations.data_context.types.base import (
            DataContextConfig,
            InMemoryStoreBackendDefaults,
            ProgressBarsConfig,
        )

        config = DataContextConfig(
            store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
            progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
            analytics_enabled=False,
        )
        self.context = gx.get_context(project_config=config, mode="ephemeral")
        self.datasource = self.context.data_sources.add_pandas("sellerops")
        self._batch_definitions: dict[str, Any] = {}
        self._suites: dict[str, Any] = {}
        self._docs_sites: dict[str, tuple[str, str]] = {}

    def suite(self, dataset_name: str):
        if dataset_name not in self._suites:
            self._suites[dataset_name] = self.context.suites.add(suites.build_suite(dataset_name))
        return self._suites[dataset_name]

    def batch_definition(self, dataset_name: str):
        if dataset_name not in self._batch_definitions:
            asset = self.datasource.add_dataframe_asset(dataset_name)
            self._batch_definitions[dataset_name] = asset.add_batch_definition_whole_dataframe(
                dataset_name
            )
        return self._batch_definitions[dataset_name]

    def docs_site(self, docs_dir: Path) -> tuple[str, str]:
        """(site name, results store name) of a Data Docs site rooted at ``docs_dir``.

        The site's validation results are kept in ``docs_dir/validation_results`` so
        the index lists every run written there, across processes.
        """
        key = str(docs_dir.resolve())
        if key not in self._docs_sites:
            digest = hashlib.sha1(key.encode()).hexdigest()[:12]
            store_name = f"sellerops_results_{digest}"
            site_name = f"sellerops_docs_{digest}"
            self.context.add_store(
                store_name,
                {
                    "class_name": "ValidationResultsStore",
                    "store_backend": {
                        "class_name": "TupleFilesystemStoreBackend",
                        "base_directory": str(docs_dir / "validation_results"),
                    },
                },
            )
            self.context.add_data_docs_site(
                site_name,
                {
                    "class_name": "SiteBuilder",
                    "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                    "store_backend": {
                        "class_name": "TupleFilesystemStoreBackend",
                        "base_directory": str(docs_dir),
                    },
                    "site_section_builders": {
                        "validations": {"source_store_name": store_name},
                        "profiling": {"source_store_name": store_name},
                    },
                },
            )
            self._docs_sites[key] = (site_name, store_name)
        return self._docs_sites[key]


_LOCK = threading.RLock()
_STATE: _GX | None = None


def _gx() -> _GX:
    global _STATE
    with _LOCK:
        if _STATE is None:
            _STATE = _GX()
        return _STATE


# --------------------------------------------------------------------------- validation


def validate_batch(
    dataset_name: str,
    df: pd.DataFrame,
    *,
    window_start: dt.datetime | str,
    window_end: dt.datetime | str,
    batch_id: str,
    account_id: str | None = None,
    marketplace_id: str | None = None,
    docs_dir: str | os.PathLike[str] | None = None,
) -> ValidationOutcome:
    """Validate ``df`` as a batch of ``dataset_name`` extracted for [window_start, window_end).

    ``window_start``/``window_end`` must be timezone-aware (any zone; compared in UTC).
    For a ``date`` window column a date is inside the window when its day overlaps
    it. ``account_id``/``marketplace_id`` label the quarantine rows; when omitted,
    each row's own values are used. With ``docs_dir``, GX Data Docs for this run are
    written there and ``docs_path`` is the run's HTML page (``docs_dir/index.html``
    lists all runs written to the directory).
    """
    import numpy as np
    import pandas as pd

    dataset = datasets.get(dataset_name)
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"{dataset.name} batch {batch_id!r}: expected a DataFrame, got {type(df)}")
    if suites.ROW_COLUMN in df.columns:
        raise BatchSchemaError(
            f"{dataset.name} batch {batch_id!r}: column {suites.ROW_COLUMN!r} is reserved"
        )
    start, end = _window(window_start, window_end)
    params, shown = _window_parameters(dataset, start, end)

    frame = df.reset_index(drop=True)
    frame[suites.ROW_COLUMN] = np.arange(len(frame), dtype="int64")

    with _LOCK:
        state = _gx()
        suite = state.suite(dataset.name)
        batch = state.batch_definition(dataset.name).get_batch(
            batch_parameters={"dataframe": frame}
        )
        result = batch.validate(
            suite,
            expectation_parameters=params,
            result_format={
                "result_format": "COMPLETE",
                "unexpected_index_column_names": [suites.ROW_COLUMN],
                "return_unexpected_index_query": False,
            },
        )
    run_time = dt.datetime.now(dt.UTC)

    problems = _schema_problems(dataset, df, result)
    if problems:
        raise BatchSchemaError(
            f"{dataset.name} batch {batch_id!r} does not match the dataset contract: "
            + "; ".join(problems)
        )

    reasons: dict[int, list[str]] = {}
    failed: list[str] = []
    for res in _in_suite_order(suite, result.results):
        config = res.expectation_config
        if res.success:
            continue
        failed.append(_expectation_label(config))
        info = res.exception_info or {}
        if info.get("raised_exception"):
            raise ValidationError(
                f"{dataset.name} batch {batch_id!r}: {_expectation_label(config)} raised "
                f"{info.get('exception_message')}"
            )
        rows = _unexpected_rows(res.result)
        if config.type == "expect_compound_columns_to_be_unique":
            for row, reason in _superseded(frame, list(config.kwargs["column_list"]), rows):
                reasons.setdefault(row, []).append(reason)
            continue
        reason = str(config.meta.get("reason") or _expectation_label(config))
        for name, value in shown.items():
            reason = reason.replace("{" + name + "}", value)
        for row in rows:
            reasons.setdefault(row, []).append(reason)

    bad = np.zeros(len(frame), dtype=bool)
    bad_rows = sorted(reasons)
    bad[bad_rows] = True
    valid = df.iloc[~bad]
    quarantine = _quarantine_frame(
        dataset, frame, bad_rows, reasons, batch_id, account_id, marketplace_id
    )

    docs_path = None
    if docs_dir is not None:
        docs_path = _build_docs(Path(docs_dir), suite.name, result, batch_id, run_time)

    log.info(
        "%s batch %s: %d rows, %d quarantined%s",
        dataset.name,
        batch_id,
        len(frame),
        len(bad_rows),
        f" ({', '.join(failed)})" if failed else "",
    )
    run = {
        "batch_id": batch_id,
        "dataset": dataset.name,
        "suite_name": suite.name,
        "success": bool(result.success) and not bad_rows,
        "evaluated_rows": len(frame),
        "quarantined_rows": len(bad_rows),
        "expectations": len(suite.expectations),
        "failed_expectations": failed,
        "run_time": run_time,
        "data_docs_path": str(docs_path) if docs_path is not None else None,
    }
    return ValidationOutcome(
        dataset=dataset.name,
        batch_id=batch_id,
        valid=valid,
        quarantine=quarantine,
        run=run,
        docs_path=docs_path,
        gx_result=result,
    )


def check_threshold(outcome: ValidationOutcome, max_share: float) -> float:
    """Raise :class:`QuarantineThresholdExceeded` if more than ``max_share`` of the rows
    were quarantined; return the quarantined share otherwise."""
    if not 0 <= max_share <= 1:
        raise ValueError(f"max_share must be between 0 and 1, got {max_share}")
    evaluated = outcome.evaluated_rows
    quarantined = outcome.quarantined_rows
    share = quarantined / evaluated if evaluated else 0.0
    if share > max_share:
        raise QuarantineThresholdExceeded(
            f"{outcome.dataset} batch {outcome.batch_id!r}: {quarantined} of {evaluated} rows "
            f"quarantined ({share:.2%}), more than the allowed {max_share:.2%}"
        )
    return share


def _window(start: Any, end: Any):
    import pandas as pd

    bounds = []
    for name, value in (("window_start", start), ("window_end", end)):
        ts = pd.Timestamp(value)
        if ts.tzinfo is None:
            raise ValueError(f"{name} must be timezone-aware, got {value!r}")
        # Batch timestamps have microsecond resolution; a sub-microsecond bound is
        # equivalent to the next microsecond for them.
        bounds.append(ts.tz_convert("UTC").ceil("us"))
    if not bounds[0] < bounds[1]:
        raise ValueError(f"empty window [{start}, {end})")
    return bounds[0], bounds[1]


def _window_parameters(dataset: datasets.Dataset, start, end) -> tuple[dict, dict[str, str]]:
    """GX suite parameters for the window, and their display form for reasons."""
    if dataset.column(dataset.window_column).type == "date":
        # A date is inside the window when its day overlaps it.
        first = start.floor("D").tz_localize(None)
        stop = end.ceil("D").tz_localize(None)
        params = {suites.WINDOW_START: first, suites.WINDOW_END: stop}
        shown = {suites.WINDOW_START: f"{first:%Y-%m-%d}", suites.WINDOW_END: f"{stop:%Y-%m-%d}"}
    else:
        # GX parses string bounds with dateutil and compares them with the tz-aware
        # column; a fixed-width format keeps its min <= max string check meaningful.
        params = {
            suites.WINDOW_START: f"{start:%Y-%m-%dT%H:%M:%S.%f}+00:00",
            suites.WINDOW_END: f"{end:%Y-%m-%dT%H:%M:%S.%f}+00:00",
        }
        shown = {suites.WINDOW_START: start.isoformat(), suites.WINDOW_END: end.isoformat()}
    return params, shown


def _unexpected_rows(result: dict) -> list[int]:
    """The ``__row`` values of a map expectation's failing rows.

    With ``exclude_unexpected_values`` GX returns ``[{"__row": [r1, r2, ...]}]``
    (one dict of lists, much faster to build); without it, one dict per row.
    """
    rows: list[int] = []
    for item in result.get("unexpected_index_list") or []:
        value = item[suites.ROW_COLUMN]
        if isinstance(value, list | tuple):
            rows.extend(int(v) for v in value)
        else:
            rows.append(int(value))
    return rows


def _in_suite_order(suite, results) -> list:
    """GX returns results grouped by its metric graph; put them back in suite order."""
    position = {exp.id: i for i, exp in enumerate(suite.expectations)}
    return sorted(results, key=lambda res: position.get(res.expectation_config.id, len(position)))


def _expectation_label(config) -> str:
    kwargs = config.kwargs
    target = kwargs.get("column") or ",".join(kwargs.get("column_list") or ())
    return f"{config.type}({target})" if target else config.type


def _schema_problems(dataset: datasets.Dataset, df: pd.DataFrame, result) -> list[str]:
    """Why the batch as a whole is invalid; empty if it is not."""
    problems: list[str] = []
    expected = dataset.column_names
    actual = [str(c) for c in df.columns]
    columns_ok = True
    wrong_dtype: set[str] = set()
    for res in result.results:
        config = res.expectation_config
        if config.meta.get("level") != "batch":
            continue
        info = res.exception_info or {}
        if config.type == "expect_table_columns_to_match_ordered_list":
            if res.success and not info.get("raised_exception"):
                continue
            columns_ok = False
            missing = [c for c in expected if c not in actual]
            extra = [c for c in actual if c not in expected]
            if missing:
                problems.append(f"missing columns {missing}")
            if extra:
                problems.append(f"unexpected columns {extra}")
            duplicated = sorted({c for c in actual if actual.count(c) > 1})
            if duplicated:
                problems.append(f"duplicated columns {duplicated}")
            if not missing and not extra and not duplicated:
                problems.append(f"columns out of order: expected {expected}, got {actual}")
        elif config.type == "expect_column_type_to_be":
            column = config.kwargs["column"]
            if column not in actual:
                continue  # reported as missing
            if info.get("raised_exception"):
                problems.append(f"{column}: type check raised {info.get('exception_message')}")
            elif not res.success:
                wrong_dtype.add(column)
                observed = (res.result or {}).get("observed_value", str(df[column].dtype))
                problems.append(f"{column} is {observed}, expected {config.kwargs['type_']}")
    value_problems = _value_type_problems(dataset, df, wrong_dtype) if columns_ok else []
    problems.extend(value_problems)
    if wrong_dtype or value_problems:
        problems.append("see sellerops.frames.typed_frame for the batch dtypes")
    if not problems and columns_ok:
        for column in dataset.columns:
            if column.type != "date":
                continue
            values = df[column.name]
            with_time = values.notna() & (values != values.dt.normalize())
            if bool(with_time.any()):
                rows = [int(i) for i in with_time.to_numpy().nonzero()[0][:5]]
                problems.append(
                    f"{column.name} is a date column but has a time of day (row positions {rows})"
                )
    return problems


def _value_type_problems(
    dataset: datasets.Dataset, df: pd.DataFrame, wrong_dtype: set[str]
) -> list[str]:
    """Text columns are object dtype, which can hold anything: their values must be str."""
    import pandas as pd

    problems = []
    for column in dataset.columns:
        if column.type != "text" or column.name in wrong_dtype:
            continue
        values = df[column.name]
        if pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
            continue
        bad = values.notna() & ~values.map(lambda v: isinstance(v, str)).astype(bool)
        positions = bad.to_numpy().nonzero()[0]
        seen = sorted({type(v).__name__ for v in values[bad]})
        problems.append(
            f"{column.name} holds values that are not str ({', '.join(seen)}; "
            f"row positions {[int(i) for i in positions[:5]]})"
        )
    return problems


def _superseded(frame: pd.DataFrame, key: list[str], rows: list[int]) -> list[tuple[int, str]]:
    """(row, reason) for the rows GX flagged as duplicate keys that are not the last one."""
    if not rows:
        return []
    flagged = frame.iloc[sorted(rows)][[*key, suites.ROW_COLUMN]]
    last = flagged.groupby(key, sort=False, dropna=False)[suites.ROW_COLUMN].transform("max")
    out = []
    for row, last_row in zip(flagged[suites.ROW_COLUMN], last, strict=True):
        if row != last_row:
            out.append((int(row), f"duplicate key (superseded by row {int(last_row)})"))
    return out


def _quarantine_frame(
    dataset: datasets.Dataset,
    frame: pd.DataFrame,
    bad_rows: list[int],
    reasons: dict[int, list[str]],
    batch_id: str,
    account_id: str | None,
    marketplace_id: str | None,
) -> pd.DataFrame:
    import pandas as pd

    rows = frame.iloc[bad_rows].drop(columns=[suites.ROW_COLUMN])
    n = len(rows)

    # Text columns are object dtype holding str or None, like the batches (frames.py).
    def text(values: list) -> pd.Series:
        return pd.Series(values, dtype="object")

    def label(given: str | None, column: str) -> pd.Series:
        if given is not None:
            return text([given] * n)
        if column in rows.columns:
            return text([None if _plain(v) is None else str(v) for v in rows[column]])
        return text([None] * n)

    return pd.DataFrame(
        {
            "dataset": text([dataset.name] * n),
            "batch_id": text([batch_id] * n),
            "account_id": label(account_id, "account_id"),
            "marketplace_id": label(marketplace_id, "marketplace_id"),
            "row_number": pd.Series(bad_rows, dtype="int64"),
            "reason": text(["; ".join(reasons[row]) for row in bad_rows]),
            "values": text(frame_json(rows, dataset)),
        },
        columns=list(QUARANTINE_COLUMNS),
    )


# --------------------------------------------------------------------------- docs


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "batch"


def _build_docs(docs_dir: Path, suite_name: str, result, batch_id: str, run_time) -> Path:
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    docs_dir.mkdir(parents=True, exist_ok=True)
    # The page shows the partial lists; the full per-row lists can be huge.
    stored = copy.deepcopy(result)
    for res in stored.results:
        for name in ("unexpected_list", "unexpected_index_list", "unexpected_index_query"):
            (res.result or {}).pop(name, None)
    with _LOCK:
        state = _gx()
        site_name, store_name = state.docs_site(docs_dir)
        key = ValidationResultIdentifier(
            expectation_suite_identifier=ExpectationSuiteIdentifier(name=suite_name),
            run_id=RunIdentifier(run_name=_safe_name(batch_id), run_time=run_time),
            batch_identifier=_safe_name(batch_id),
        )
        state.context.stores[store_name].set(key, stored)
        # This batch's page only: the index page reads every stored result, so building
        # it per batch costs O(results) each time; runs call build_docs_index once.
        state.context.build_data_docs(
            site_names=[site_name], resource_identifiers=[key], build_index=False
        )
        urls = state.context.get_docs_sites_urls(resource_identifier=key, site_name=site_name)
    url = urls[0]["site_url"] if urls and urls[0].get("site_url") else None
    if url is None:
        return docs_dir / "index.html"
    return Path(unquote(urlparse(url).path))


def build_docs_index(docs_dir: str | os.PathLike[str]) -> Path:
    """Rebuild the Data Docs index page of ``docs_dir`` (every stored validation run).

    :func:`validate_batch` writes each batch's page but not the index, which reads
    every stored result: a run builds it once at its end (``sellerops ingest``, the
    ingest DAG's ``summarise`` task, the demo).
    """
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    docs_dir = Path(docs_dir)
    docs_dir.mkdir(parents=True, exist_ok=True)
    # A resource list naming nothing stored: no page is re-rendered, only the index.
    nothing = ValidationResultIdentifier(
        expectation_suite_identifier=ExpectationSuiteIdentifier(name="sellerops_index_only"),
        run_id=RunIdentifier(run_name="index_only"),
        batch_identifier="index_only",
    )
    with _LOCK:
        state = _gx()
        site_name, _ = state.docs_site(docs_dir)
        state.context.build_data_docs(site_names=[site_name], resource_identifiers=[nothing])
    return docs_dir / "index.html"


# --------------------------------------------------------------------------- PII

_EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
# Substrings of a normalized key (lower case, letters and digits only) that mark personal data.
_PII_PARTS = (
    "email",
    "phone",
    "mobile",
    "fax",
    "address",
    "recipient",
    "street",
    "birth",
    "passport",
    "taxregistration",
    "vatnumber",
)
# Whole normalized keys that carry free text or mail headers (which can hold names).
_PII_KEYS = frozenset(
    {"body", "bodytext", "bodyhtml", "html", "text", "subject", "from", "to", "cc", "bcc"}
    | {"replyto", "sender", "contact", "customer", "buyer", "ip"}
)
# A "...name" key is personal unless it names one of these things.
_NOT_PERSON = (
    "product",
    "item",
    "brand",
    "file",
    "report",
    "category",
    "marketplace",
    "channel",
    "carrier",
    "service",
    "column",
    "dataset",
    "host",
    "domain",
    "program",
)


@functools.lru_cache(maxsize=4096)
def is_personal_key(key: str) -> bool:
    """True when a column/field name suggests personal data (buyer_name, BuyerEmail, ...).

    Matches e-mail, phone, fax, address (lines), recipient, street, names of people
    (``buyer-name``, ``RecipientName``, ``name``; not ``product-name``), free text that
    can quote a buyer (``body``, ``subject``) and mail headers (``from``, ``to``).
    The dataset columns carry none of these; ``buyer_key`` (a pseudonymous HMAC) and
    the ship-to city/state/postal code/country are kept.
    """
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", str(key)).lower()
    tokens = [t for t in re.split(r"[^a-z0-9]+", spaced) if t]
    joined = "".join(tokens)
    if joined in _PII_KEYS or any(part in joined for part in _PII_PARTS):
        return True
    if "name" in tokens or joined.endswith("name"):
        return not any(joined.startswith(thing) for thing in _NOT_PERSON)
    return False


def redact_row(row: dict) -> dict:
    """A copy of ``row`` safe to store: personal fields masked, e-mail addresses removed.

    Fields whose name suggests personal data (:func:`is_personal_key`) are replaced by
    ``[REDACTED]`` (kept as None when empty); nested dicts and lists are redacted the
    same way; e-mail addresses inside any other text are replaced by ``[EMAIL]``.
    """
    return {key: _redact_value(key, value) for key, value in row.items()}


def _redact_value(key: Any, value: Any) -> Any:
    if is_personal_key(str(key)):
        return None if _plain(value) is None else REDACTED
    if isinstance(value, dict):
        return redact_row(value)
    if isinstance(value, list | tuple):
        return [_redact_value("", item) for item in value]
    if isinstance(value, str) and "@" in value:
        return _EMAIL_RE.sub(EMAIL_MASK, value)
    return value


def redact_frame(df: pd.DataFrame) -> pd.DataFrame:
    """:func:`redact_row` applied to every row of ``df``, column by column."""
    import pandas as pd

    out = df.copy()
    for column in out.columns:
        values = out[column]
        if is_personal_key(str(column)):
            out[column] = pd.Series(
                [REDACTED if present else None for present in values.notna()],
                index=out.index,
                dtype="object",
            )
        elif isinstance(values.dtype, pd.StringDtype):
            if bool(values.str.contains("@", regex=False).any()):
                out[column] = values.str.replace(_EMAIL_RE.pattern, EMAIL_MASK, regex=True)
        elif values.dtype == object:
            out[column] = values.map(lambda value, key=column: _redact_value(key, value))
    return out


def frame_json(df: pd.DataFrame, dataset: datasets.Dataset | None = None) -> list[str]:
    """One JSON object per row of ``df``, redacted (see :func:`row_json`)."""
    import pandas as pd

    if df.empty:
        return []
    out = redact_frame(df)
    for column in out.columns:
        values = out[column]
        if isinstance(values.dtype, pd.DatetimeTZDtype):
            out[column] = values.dt.tz_convert("UTC").dt.strftime(_UTC_FORMAT)
        elif pd.api.types.is_datetime64_dtype(values.dtype):
            logical = None
            if dataset is not None and column in dataset.column_names:
                logical = dataset.column(column).type
            out[column] = values.dt.strftime("%Y-%m-%d" if logical == "date" else _NAIVE_FORMAT)
        elif values.dtype == object:
            out[column] = values.map(_jsonable)
    text = out.to_json(orient="records", lines=True, force_ascii=False, double_precision=15)
    # JSON escapes newlines inside strings, so "\n" only separates records.
    return text.rstrip("\n").split("\n")


_UTC_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_NAIVE_FORMAT = "%Y-%m-%dT%H:%M:%S.%f"


def row_json(row: dict) -> str:
    """The redacted row as JSON text (times ISO 8601 in UTC, missing values null)."""
    return json.dumps(_jsonable(redact_row(row)), ensure_ascii=False, allow_nan=False)


def _plain(value: Any) -> Any:
    """Missing values (None, NaN, NaT, pd.NA) -> None; numpy scalars -> Python scalars."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else value
    import numpy as np
    import pandas as pd

    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.datetime64):
        return None if np.isnat(value) else pd.Timestamp(value)
    if isinstance(value, np.generic):
        return _plain(value.item())
    return value


def _jsonable(value: Any) -> Any:
    value = _plain(value)
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            return value.astimezone(dt.UTC).strftime(_UTC_FORMAT)
        return value.strftime(_NAIVE_FORMAT)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)
