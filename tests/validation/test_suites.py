"""The expectation suites: built from the dataset contract, exported to include/expectations."""

from __future__ import annotations

import json

import pytest

from sellerops import datasets
from sellerops.sandbox import world
from sellerops.validation import suites
from sellerops.validation.validate import import_gx

ALL = list(datasets.DATASETS)


def by_type(dataset_name: str, type_: str) -> list[dict]:
    return [s for s in suites.expectation_specs(dataset_name) if s["type"] == type_]


def for_column(dataset_name: str, type_: str, column: str) -> list[dict]:
    return [s for s in by_type(dataset_name, type_) if s["kwargs"].get("column") == column]


# --------------------------------------------------------------------------- exported JSON


@pytest.mark.parametrize("dataset_name", ALL)
def test_checked_in_json_equals_the_built_suite(dataset_name):
    path = suites.EXPECTATIONS_DIR / f"{dataset_name}.json"
    assert path.is_file(), f"{path} missing: run `python -m sellerops.validation.suites`"
    assert path.read_text(encoding="utf-8") == suites.suite_json(dataset_name), (
        f"{path} is stale: run `python -m sellerops.validation.suites` and commit the diff"
    )


def test_no_stale_json_files():
    names = {p.stem for p in suites.EXPECTATIONS_DIR.glob("*.json")}
    assert names == set(ALL)


def test_export_suites_writes_every_dataset(tmp_path):
    paths = suites.export_suites(tmp_path / "out")
    assert sorted(p.name for p in paths) == sorted(f"{name}.json" for name in ALL)
    for path in paths:
        assert path.read_text(encoding="utf-8") == suites.suite_json(path.stem)


@pytest.mark.parametrize("dataset_name", ALL)
def test_json_loads_back_into_an_equal_gx_suite(dataset_name):
    gx = import_gx()
    data = json.loads(suites.suite_json(dataset_name))
    loaded = gx.ExpectationSuite(**data)
    built = suites.build_suite(dataset_name)
    assert loaded.name == built.name == suites.suite_name(dataset_name)
    assert [e.configuration for e in loaded.expectations] == [
        e.configuration for e in built.expectations
    ]
    assert len(loaded.expectations) == len(suites.expectation_specs(dataset_name))


def test_suite_json_is_deterministic():
    assert suites.suite_json("orders") == suites.suite_json("orders")
    assert '"id"' not in suites.suite_json("orders")


# --------------------------------------------------------------------------- contract rules


@pytest.mark.parametrize("dataset_name", ALL)
def test_columns_types_and_nulls_follow_the_contract(dataset_name):
    dataset = datasets.get(dataset_name)
    (columns,) = by_type(dataset_name, "expect_table_columns_to_match_ordered_list")
    assert columns["kwargs"]["column_list"] == [*dataset.column_names, suites.ROW_COLUMN]
    assert columns["meta"]["level"] == "batch"

    types = {
        s["kwargs"]["column"]: s["kwargs"]["type_"]
        for s in by_type(dataset_name, "expect_column_type_to_be")
    }
    assert types == {c.name: suites.PANDAS_DTYPES[c.type] for c in dataset.columns}

    not_null = {
        s["kwargs"]["column"] for s in by_type(dataset_name, "expect_column_values_to_not_be_null")
    }
    assert not_null == {c.name for c in dataset.columns if not c.nullable}


@pytest.mark.parametrize("dataset_name", ALL)
def test_every_expectation_has_a_level_and_row_ones_a_reason(dataset_name):
    for spec in suites.expectation_specs(dataset_name):
        assert spec["meta"]["level"] in ("batch", "row")
        if spec["meta"]["level"] == "row":
            assert spec["meta"]["reason"]


@pytest.mark.parametrize("dataset_name", ALL)
def test_natural_key_unique(dataset_name):
    dataset = datasets.get(dataset_name)
    (unique,) = by_type(dataset_name, "expect_compound_columns_to_be_unique")
    assert unique["kwargs"]["column_list"] == list(dataset.key)
    assert unique["kwargs"]["ignore_row_if"] == "any_value_is_missing"
    assert suites.expectation_specs(dataset_name)[-1]["type"] == unique["type"]


@pytest.mark.parametrize("dataset_name", ALL)
def test_order_id_pattern_on_every_order_id_column(dataset_name):
    (regex,) = for_column(dataset_name, "expect_column_values_to_match_regex", "order_id")
    assert regex["kwargs"]["regex"] == r"^\d{3}-\d{7}-\d{7}$"


@pytest.mark.parametrize("dataset_name", ALL)
def test_window_column_between_window_parameters(dataset_name):
    dataset = datasets.get(dataset_name)
    (window,) = for_column(
        dataset_name, "expect_column_values_to_be_between", dataset.window_column
    )
    assert window["kwargs"] == {
        "column": dataset.window_column,
        "min_value": {"$PARAMETER": "window_start"},
        "max_value": {"$PARAMETER": "window_end"},
        "strict_max": True,
    }


@pytest.mark.parametrize(
    ("dataset_name", "column", "kwargs"),
    [
        ("order_items", "quantity", {"min_value": 1}),
        ("returns", "quantity", {"min_value": 0}),
        ("refunds", "quantity", {"min_value": 0}),
        ("refunds", "amount", {"min_value": 0, "strict_min": True}),
        ("feedback", "rating", {"min_value": 1, "max_value": 5}),
        ("orders", "order_total", {"min_value": 0}),
        ("order_items", "item_price", {"min_value": 0}),
        ("order_items", "promotion_discount", {"min_value": 0}),
        ("messages", "body_chars", {"min_value": 0}),
    ],
)
def test_numeric_ranges(dataset_name, column, kwargs):
    (spec,) = for_column(dataset_name, "expect_column_values_to_be_between", column)
    assert spec["kwargs"] == {"column": column, **kwargs}


@pytest.mark.parametrize("dataset_name", ALL)
def test_value_sets_on_every_dataset_with_the_column(dataset_name):
    dataset = datasets.get(dataset_name)
    expected = {
        "marketplace_id": suites.MARKETPLACE_IDS,
        "currency": suites.CURRENCIES,
        "order_status": suites.ORDER_STATUSES,
        "fulfillment_channel": {"AFN", "MFN"},
        "direction": {"buyer", "seller"},
        "identity_source": {"buyer_email", "recipient", "none"},
        "subject_kind": suites.SUBJECT_KINDS,
    }
    for column, values in expected.items():
        specs = for_column(dataset_name, "expect_column_values_to_be_in_set", column)
        if column in dataset.column_names:
            (spec,) = specs
            assert spec["kwargs"]["value_set"] == sorted(values)
        else:
            assert specs == []


def test_value_sets_content():
    required = [
        "USD",
        "JPY",
        "CAD",
        "MXN",
        "BRL",
        "GBP",
        "EUR",
        "SEK",
        "PLN",
        "TRY",
        "AED",
        "INR",
        "SGD",
        "AUD",
        "EGP",
        "SAR",
    ]
    assert set(required) <= suites.CURRENCIES
    assert {
        "PENDING_AVAILABILITY",
        "PENDING",
        "UNSHIPPED",
        "PARTIALLY_SHIPPED",
        "SHIPPED",
        "CANCELLED",
        "UNFULFILLABLE",
    } == suites.ORDER_STATUSES
    assert {"ATVPDKIKX0DER", "A2EUQ1WTGCTBG2", "A1F83G8C2ARO7P", "A1PA6795UKMFR9"} <= (
        suites.MARKETPLACE_IDS
    )
    assert len(suites.MARKETPLACE_IDS) == 23
    # The sandbox's marketplaces are known, with the same currency.
    for marketplace_id, info in world.MARKETPLACES.items():
        assert suites.MARKETPLACES[marketplace_id][1] == info["currency"]


def test_pandas_dtypes_cover_every_logical_type():
    used = {c.type for d in datasets.DATASETS.values() for c in d.columns}
    assert used <= set(suites.PANDAS_DTYPES)


def test_unknown_dataset():
    with pytest.raises(KeyError, match="unknown dataset"):
        suites.expectation_specs("invoices")
