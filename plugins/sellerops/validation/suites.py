"""One Great Expectations suite per dataset, built in code from :mod:`sellerops.datasets`.

The suites are the executable form of the dataset contract plus the business
rules below. They are also exported as JSON into ``include/expectations/`` by
:func:`export_suites` (``python -m sellerops.validation.suites``); those files
are checked in, and a test asserts they equal what this module builds, so a
change to a rule shows up in review as a diff of the JSON.

Batch representation: the dtypes :func:`sellerops.frames.typed_frame` produces
(every extractor builds its frames there), checked by the suites'
``expect_column_type_to_be``:

==========  ==========================  =============================================
logical     pandas dtype                notes
==========  ==========================  =============================================
text        ``object``                  Python ``str`` or None (the values are
                                        checked by validation, vectorised)
int         ``Int64``                   nullable integer
money       ``float64``                 rounded to 4 decimals; NUMERIC(18,4) in SQL
bool        ``boolean``                 nullable boolean, also for non-null columns
timestamp   ``datetime64[us, UTC]``     tz-aware UTC, microseconds
date        ``datetime64[s]``           tz-naive midnight: a calendar date, no time
                                        of day (checked by validation)
==========  ==========================  =============================================

Every expectation carries ``meta.level``: ``batch`` expectations (column set,
column types) make the whole batch invalid; ``row`` expectations send the
failing rows to quarantine with ``meta.reason`` as the reason text (the window
reason has ``{window_start}``/``{window_end}`` placeholders). The window bounds
are suite parameters (``$PARAMETER``) supplied at validation time.

The column-list expectation ends with ``__row``: validation adds that column (the
row's 0-based position) so GX's ``unexpected_index_column_names`` can map failures
back to rows. The key-uniqueness expectation comes last; validation keeps the last
occurrence of a duplicated key and quarantines the earlier ones. The exported JSON
records the GX version in ``meta``: after upgrading GX, re-export and commit.

This module imports neither pandas nor Great Expectations at import time:
Airflow imports the package while parsing DAG files.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sellerops import datasets
from sellerops.paths import INCLUDE_DIR

if TYPE_CHECKING:
    import great_expectations as gx

# Column added to a batch while it is validated: the row's 0-based position,
# used as GX's ``unexpected_index_column_names`` to map failures back to rows.
ROW_COLUMN = "__row"

EXPECTATIONS_DIR = INCLUDE_DIR / "expectations"
SUITE_PREFIX = "sellerops."

WINDOW_START = "window_start"
WINDOW_END = "window_end"

# Logical type -> the exact pandas dtype a batch column must have.
PANDAS_DTYPES: dict[str, str] = {
    "text": "object",
    "int": "Int64",
    "money": "float64",
    "bool": "boolean",
    "timestamp": "datetime64[us, UTC]",
    "date": "datetime64[s]",
}

ORDER_ID_PATTERN = r"^\d{3}-\d{7}-\d{7}$"

# Amazon marketplace ids (SP-API "Marketplace IDs") -> (country code, currency).
MARKETPLACES: dict[str, tuple[str, str]] = {
    # North America
    "A2EUQ1WTGCTBG2": ("CA", "CAD"),
    "ATVPDKIKX0DER": ("US", "USD"),
    "A1AM78C64UM0Y8": ("MX", "MXN"),
    "A2Q3Y263D00KWC": ("BR", "BRL"),
    # Europe
    "A28R8C7NBKEWEA": ("IE", "EUR"),
    "A1RKKUPIHCS9HS": ("ES", "EUR"),
    "A1F83G8C2ARO7P": ("UK", "GBP"),
    "A13V1IB3VIYZZH": ("FR", "EUR"),
    "AMEN7PMS3EDWL": ("BE", "EUR"),
    "A1805IZSGTT6HS": ("NL", "EUR"),
    "A1PA6795UKMFR9": ("DE", "EUR"),
    "APJ6JRA9NG5V4": ("IT", "EUR"),
    "A2NODRKZP88ZB9": ("SE", "SEK"),
    "AE08WJ6YKNBMC": ("ZA", "ZAR"),
    "A1C3SOZRARQ6R3": ("PL", "PLN"),
    "ARBP9OOSHTCHU": ("EG", "EGP"),
    "A33AVAJ2PDY3EV": ("TR", "TRY"),
    "A17E79C6D8DWNP": ("SA", "SAR"),
    "A2VIGQ35RCS4UG": ("AE", "AED"),
    "A21TJRUUN4KGV": ("IN", "INR"),
    # Far East
    "A19VAU5U5O7RUS": ("SG", "SGD"),
    "A39IBJ37TRP1C6": ("AU", "AUD"),
    "A1VC38T7YXB528": ("JP", "JPY"),
}
MARKETPLACE_IDS = frozenset(MARKETPLACES)

# ISO 4217 codes of the marketplaces' currencies.
CURRENCIES = frozenset(currency for _, currency in MARKETPLACES.values())

ORDER_STATUSES = frozenset(
    {
        "PENDING_AVAILABILITY",
        "PENDING",
        "UNSHIPPED",
        "PARTIALLY_SHIPPED",
        "SHIPPED",
        "CANCELLED",
        "UNFULFILLABLE",
    }
)
FULFILLMENT_CHANNELS = frozenset({"AFN", "MFN"})
DIRECTIONS = frozenset({"buyer", "seller"})
IDENTITY_SOURCES = frozenset({"buyer_email", "recipient", "none"})
SUBJECT_KINDS = frozenset({"presales_inquiry", "order_inquiry", "return", "other"})

# Value sets checked on every dataset that has the column: column -> (values, what they are).
_VALUE_SETS: dict[str, tuple[frozenset[str], str]] = {
    "marketplace_id": (MARKETPLACE_IDS, "a known Amazon marketplace id"),
    "currency": (CURRENCIES, "a known ISO 4217 currency code"),
    "order_status": (ORDER_STATUSES, "a known order status"),
    "fulfillment_channel": (FULFILLMENT_CHANNELS, "AFN or MFN"),
    "direction": (DIRECTIONS, "buyer or seller"),
    "identity_source": (IDENTITY_SOURCES, "buyer_email, recipient or none"),
    "subject_kind": (SUBJECT_KINDS, "a known subject kind"),
}

# Numeric ranges: (dataset, column) -> (min, max, strict_min, reason). None = any dataset.
_RANGES: dict[tuple[str | None, str], tuple[float | None, float | None, bool, str]] = {
    (None, "quantity"): (0, None, False, "quantity < 0"),
    ("order_items", "quantity"): (1, None, False, "quantity < 1"),
    ("refunds", "amount"): (0, None, True, "amount <= 0"),
    ("feedback", "rating"): (1, 5, False, "rating not in 1..5"),
    ("messages", "body_chars"): (0, None, False, "body_chars < 0"),
}


def suite_name(dataset_name: str) -> str:
    return f"{SUITE_PREFIX}{datasets.get(dataset_name).name}"


def _expectation(kind: str, level: str, reason: str | None = None, /, **kwargs: Any) -> dict:
    meta: dict[str, Any] = {"level": level}
    if reason is not None:
        meta["reason"] = reason
    return {"type": kind, "kwargs": kwargs, "meta": meta}


def _range_for(dataset: datasets.Dataset, column: datasets.Column):
    if (dataset.name, column.name) in _RANGES:
        return _RANGES[(dataset.name, column.name)]
    if (None, column.name) in _RANGES:
        return _RANGES[(None, column.name)]
    if column.type == "money":
        return (0, None, False, f"{column.name} < 0")
    return None


def expectation_specs(dataset_name: str) -> list[dict]:
    """The suite's expectations as plain dicts (type, kwargs, meta), in evaluation order.

    Pure Python, no Great Expectations import; :func:`build_suite` turns these into
    GX objects.
    """
    dataset = datasets.get(dataset_name)
    specs: list[dict] = [
        _expectation(
            "expect_table_columns_to_match_ordered_list",
            "batch",
            column_list=[*dataset.column_names, ROW_COLUMN],
        )
    ]
    for column in dataset.columns:
        specs.append(
            _expectation(
                "expect_column_type_to_be",
                "batch",
                column=column.name,
                type_=PANDAS_DTYPES[column.type],
            )
        )
    for column in dataset.columns:
        if not column.nullable:
            specs.append(
                _expectation(
                    "expect_column_values_to_not_be_null",
                    "row",
                    f"{column.name} is null",
                    column=column.name,
                )
            )
    for column in dataset.columns:
        name = column.name
        if name == "order_id":
            specs.append(
                _expectation(
                    "expect_column_values_to_match_regex",
                    "row",
                    f"{name} does not match {ORDER_ID_PATTERN}",
                    column=name,
                    regex=ORDER_ID_PATTERN,
                )
            )
        if name == dataset.window_column:
            specs.append(
                _expectation(
                    "expect_column_values_to_be_between",
                    "row",
                    f"{name} outside the window [{{{WINDOW_START}}}, {{{WINDOW_END}}})",
                    column=name,
                    min_value={"$PARAMETER": WINDOW_START},
                    max_value={"$PARAMETER": WINDOW_END},
                    strict_max=True,
                )
            )
        if name in _VALUE_SETS:
            values, what = _VALUE_SETS[name]
            specs.append(
                _expectation(
                    "expect_column_values_to_be_in_set",
                    "row",
                    f"{name} is not {what}",
                    column=name,
                    value_set=sorted(values),
                )
            )
        if column.type in ("int", "money"):
            bounds = _range_for(dataset, column)
            if bounds is not None:
                low, high, strict_min, reason = bounds
                kwargs: dict[str, Any] = {"column": name}
                if low is not None:
                    kwargs["min_value"] = low
                if high is not None:
                    kwargs["max_value"] = high
                if strict_min:
                    kwargs["strict_min"] = True
                specs.append(
                    _expectation("expect_column_values_to_be_between", "row", reason, **kwargs)
                )
    # Last, so a row's own failures come first in its reason.
    specs.append(
        _expectation(
            "expect_compound_columns_to_be_unique",
            "row",
            "duplicate key",
            column_list=list(dataset.key),
            ignore_row_if="any_value_is_missing",
        )
    )
    return specs


def build_suite(dataset_name: str) -> gx.ExpectationSuite:
    """The dataset's suite as a (not yet saved) GX ``ExpectationSuite``."""
    from sellerops.validation.validate import import_gx

    gx = import_gx()
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    dataset = datasets.get(dataset_name)
    specs = expectation_specs(dataset_name)
    suite = gx.ExpectationSuite(
        name=suite_name(dataset_name),
        expectations=[
            ExpectationConfiguration(type=spec["type"], kwargs=spec["kwargs"], meta=spec["meta"])
            for spec in specs
        ],
        notes=(
            f"Built by sellerops.validation.suites from sellerops.datasets ({dataset.name}); "
            "regenerate with `python -m sellerops.validation.suites`."
        ),
    )
    # GX logs and drops an invalid configuration instead of raising.
    if len(suite.expectations) != len(specs):
        raise ValueError(f"{suite.name}: GX rejected some expectations; see the log")
    return suite


def suite_json(dataset_name: str) -> str:
    """The exported JSON text of the dataset's suite (what ``include/expectations`` holds)."""
    data = build_suite(dataset_name).to_json_dict()
    data.pop("id", None)
    for expectation in data.get("expectations", []):
        expectation.pop("id", None)
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def export_suites(directory: str | os.PathLike[str] | None = None) -> list[Path]:
    """Write ``<dataset>.json`` for every dataset into ``directory``; return the paths."""
    target = Path(directory) if directory is not None else EXPECTATIONS_DIR
    target.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in datasets.DATASETS:
        path = target / f"{name}.json"
        path.write_text(suite_json(name), encoding="utf-8")
        paths.append(path)
    return paths


if __name__ == "__main__":  # pragma: no cover
    for written in export_suites(sys.argv[1] if len(sys.argv) > 1 else None):
        print(written)
