"""Typed pandas frames for the datasets: every extractor hands over frames built here.

Logical type -> pandas dtype: text -> object (str or None), int -> Int64,
money -> float64 (rounded to 4 decimals), bool -> boolean, timestamp ->
datetime64[us, UTC], date -> datetime64[s] (midnight, no zone).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from sellerops.datasets import Dataset


def _coerce_column(series: pd.Series, type_: str) -> pd.Series:
    if type_ == "text":
        return series.astype(object).where(series.notna(), None)
    if type_ == "int":
        return pd.to_numeric(series, errors="coerce").astype("Int64")
    if type_ == "money":
        return pd.to_numeric(series, errors="coerce").astype("float64").round(4)
    if type_ == "bool":
        return series.astype("boolean")
    if type_ == "timestamp":
        return pd.to_datetime(series, utc=True, errors="coerce", format="ISO8601").astype(
            "datetime64[us, UTC]"
        )
    if type_ == "date":
        return pd.to_datetime(series, errors="coerce").dt.normalize().astype("datetime64[s]")
    raise ValueError(f"unknown logical type {type_!r}")


def typed_frame(dataset: Dataset, data: pd.DataFrame | Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """A frame with exactly the dataset's columns, in order, with the documented dtypes."""
    frame = data if isinstance(data, pd.DataFrame) else pd.DataFrame.from_records(list(data))
    missing = [c for c in dataset.column_names if c not in frame.columns]
    if missing and len(frame):
        raise ValueError(f"{dataset.name}: rows lack columns {missing}")
    out = pd.DataFrame(index=frame.index)
    for column in dataset.columns:
        values = frame[column.name] if column.name in frame else pd.Series([], dtype=object)
        out[column.name] = _coerce_column(values, column.type)
    return out.reset_index(drop=True)


def empty_frame(dataset: Dataset) -> pd.DataFrame:
    return typed_frame(dataset, pd.DataFrame(columns=dataset.column_names))
