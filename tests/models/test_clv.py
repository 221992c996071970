"""BG/NBD and Gamma-Gamma (sellerops.models.clv) validated on the CDNOW sample.

Published estimates on the CDNOW 2,357-customer sample, 39-week calibration:

* BG/NBD: r = 0.243, alpha = 4.414, a = 0.793, b = 2.426, LL = -9582.4 --
  Fader, Hardie & Lee (2005), "'Counting Your Customers' the Easy Way",
  Marketing Science 24(2), 275-284 (also lifetimes' test_params_out_is_close_to_Hardie_paper).
* Gamma-Gamma on the 946 repeat customers: p = 6.25, q = 3.74, gamma = 15.44 --
  Fader & Hardie (2013), "The Gamma-Gamma Model of Monetary Value" (note 025),
  the model of Fader, Hardie & Lee (2005), "RFM and CLV", JMR 42(4).  (The
  lifetimes docs print v = 15.45 for the same data; both are within 0.1 % of
  our 15.4477.)
* E[Y(39) | x=2, t_x=30.43, T=38.86] = 1.226 at the published parameters --
  customer 1 of the sample, from Hardie's BG/NBD Excel implementation
  ("Implementing the BG/NBD Model for Customer Base Analysis in Excel", note
  004), the figure lifetimes' test_conditional_expectation_returns_same_value_
  as_Hardie_excel_sheet checks.  It is taken from that spreadsheet, not from
  the text of the 2005 paper.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import special

from sellerops.models import clv

FIXTURES = Path(__file__).parent / "fixtures"
CALIBRATION_END = pd.Timestamp("1997-09-30")
PUBLISHED_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PUBLISHED_GG = {"p": 6.25, "q": 3.74, "v": 15.44}
PUBLISHED = clv.BgNbdParams(log_likelihood=float("nan"), **PUBLISHED_BGNBD)


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    return pd.read_csv(FIXTURES / "cdnow_summary.csv", comment="#", index_col="customer_id")


@pytest.fixture(scope="module")
def cdnow_transactions() -> pd.DataFrame:
    frame = pd.read_csv(
        FIXTURES / "cdnow_calibration_transactions.csv", comment="#", dtype={"date": str}
    )
    frame["date"] = pd.to_datetime(frame["date"], format="%Y%m%d")
    return frame


@pytest.fixture(scope="module")
def bgnbd(cdnow: pd.DataFrame) -> clv.BgNbdParams:
    return clv.fit_bgnbd(cdnow["frequency"], cdnow["recency"], cdnow["T"])


@pytest.fixture(scope="module")
def gamma_gamma(cdnow: pd.DataFrame) -> clv.GammaGammaParams:
    return clv.fit_gamma_gamma(cdnow["frequency"], cdnow["monetary_value"])


def _eq10_direct(params: clv.BgNbdParams, t, x, t_x, T):
    """FHL (2005) eq. (10) exactly as printed (no Euler transformation)."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    z = t / (alpha + T + t)
    head = (a + b + x - 1) / (a - 1)
    tail = 1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * special.hyp2f1(
        r + x, b + x, a + b + x - 1, z
    )
    denom = 1 + (x > 0) * a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x)
    return head * tail / denom


# --- the data ---------------------------------------------------------------


def test_fixture_is_the_published_sample(cdnow: pd.DataFrame) -> None:
    assert len(cdnow) == 2357
    assert int((cdnow["frequency"] > 0).sum()) == 946
    assert cdnow.loc[1].tolist() == [2, 30.43, 38.86, 22.35]


def test_rfm_summary_from_the_transaction_log_matches_the_shipped_summary(
    cdnow: pd.DataFrame, cdnow_transactions: pd.DataFrame
) -> None:
    summary = clv.rfm_summary(
        cdnow_transactions,
        customer_col="customer_id",
        time_col="date",
        value_col="dollar_value",
        observation_end=CALIBRATION_END,
        time_unit_days=7,
    )
    assert summary.attrs["time_unit_days"] == 7
    assert list(summary.columns) == ["frequency", "recency", "T", "monetary_value"]
    assert summary.index.tolist() == cdnow.index.tolist()
    # x is exact; t_x and T (weeks) and m_x (USD) are rounded to 2 decimals in the file.
    assert (summary["frequency"] == cdnow["frequency"]).all()
    np.testing.assert_allclose(summary["recency"], cdnow["recency"], atol=0.005 + 1e-9)
    np.testing.assert_allclose(summary["T"], cdnow["T"], atol=0.005 + 1e-9)
    np.testing.assert_allclose(
        summary["monetary_value"], cdnow["monetary_value"], atol=0.005 + 1e-9
    )


def test_rfm_summary_by_hand() -> None:
    tx = pd.DataFrame(
        {
            "buyer": ["a", "a", "a", "a", "b", "c", None, "c"],
            "at": pd.to_datetime(
                [
                    "2024-01-01 09:00",
                    "2024-01-01 18:00",  # same day: one purchase of 10 + 5
                    "2024-01-11 10:00",
                    "2024-02-20 10:00",  # after observation_end: ignored
                    "2024-01-05 12:00",
                    "2024-01-02 00:00",
                    "2024-01-03 00:00",  # no buyer: ignored
                    "2024-01-09 23:59",
                ]
            ),
            "value": [10.0, 5.0, 30.0, 99.0, 7.0, 4.0, 1.0, 6.0],
        }
    )
    out = clv.rfm_summary(tx, "buyer", "at", "value", observation_end="2024-01-31 08:00")
    assert out.index.tolist() == ["a", "b", "c"]
    assert out["frequency"].tolist() == [1, 0, 1]
    assert out["recency"].tolist() == [10.0, 0.0, 7.0]
    assert out["T"].tolist() == [30.0, 26.0, 29.0]
    assert out["monetary_value"].tolist() == [30.0, 0.0, 6.0]
    weeks = clv.rfm_summary(tx, "buyer", "at", None, "2024-01-31", time_unit_days=7)
    assert weeks.loc["a", "recency"] == pytest.approx(10 / 7)
    assert (weeks["monetary_value"] == 0).all()


# --- BG/NBD -----------------------------------------------------------------


def test_bgnbd_reproduces_the_published_cdnow_estimates(bgnbd: clv.BgNbdParams) -> None:
    for name, published in PUBLISHED_BGNBD.items():
        fitted = getattr(bgnbd, name)
        assert fitted == pytest.approx(published, rel=0.02), name
        # In fact to the 3 decimals the paper prints.
        assert round(fitted, 3) == published, name
    assert bgnbd.log_likelihood == pytest.approx(-9582.4, abs=0.1)


def test_bgnbd_maximum_beats_the_published_point(cdnow: pd.DataFrame, bgnbd) -> None:
    at_published = clv.bgnbd_log_likelihood(
        PUBLISHED, cdnow["frequency"], cdnow["recency"], cdnow["T"]
    )
    assert bgnbd.log_likelihood >= at_published
    assert at_published == pytest.approx(bgnbd.log_likelihood, abs=0.01)


def test_conditional_expectation_matches_hardies_spreadsheet() -> None:
    value = clv.expected_purchases(PUBLISHED, 39, 2, 30.43, 38.86)
    assert float(value) == pytest.approx(1.226, abs=5e-4)


def test_p_alive_facts(bgnbd: clv.BgNbdParams) -> None:
    # No repeat purchase: BG/NBD customers can only drop out right after a purchase.
    assert clv.p_alive(bgnbd, [0, 0], [0, 0], [1.0, 500.0]).tolist() == [1.0, 1.0]
    # By hand: 1 / (1 + a/(b+x-1) * ((alpha+T)/(alpha+t_x))^(r+x)).
    r, alpha, a, b = 0.243, 4.414, 0.793, 2.426
    by_hand = 1 / (1 + a / (b + 1) * ((alpha + 38.86) / (alpha + 30.43)) ** (r + 2))
    assert float(clv.p_alive(PUBLISHED, 2, 30.43, 38.86)) == pytest.approx(by_hand, rel=1e-12)
    # Longer silence since the last purchase -> less likely alive.
    silence = clv.p_alive(bgnbd, 3, 10.0, np.array([10.0, 20.0, 40.0, 80.0]))
    assert silence[0] > silence[1] > silence[2] > silence[3] > 0
    # A buyer whose last purchase is right now is alive with probability < 1 but close.
    assert 0.5 < float(clv.p_alive(bgnbd, 10, 38.0, 38.0)) < 1.0


def test_expected_purchases_facts(bgnbd: clv.BgNbdParams, cdnow: pd.DataFrame) -> None:
    t = np.array([0.0, 1.0, 13.0, 39.0, 52.0, 520.0])
    values = clv.expected_purchases(bgnbd, t, 2, 30.43, 38.86)
    assert values[0] == 0.0
    assert np.all(np.diff(values) > 0)
    # Vectorised over customers, identical to eq. (10) as printed.
    x, t_x, T = (cdnow[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    ours = clv.expected_purchases(bgnbd, 39.0, x, t_x, T)
    np.testing.assert_allclose(ours, _eq10_direct(bgnbd, 39.0, x, t_x, T), rtol=1e-9)
    # More past purchases at the same recency -> more expected purchases.
    heavy = clv.expected_purchases(bgnbd, 39.0, [1, 5, 20], [30.0] * 3, [38.86] * 3)
    assert heavy[0] < heavy[1] < heavy[2]
    # A very heavy buyer who just bought: eq. (10) as printed overflows to NaN
    # (hyp2f1 with parameters ~ x); the Euler-transformed form stays finite and
    # agrees with it where both work.
    heavy_args = (39.0, np.array([200.0, 2000.0]), np.array([38.86] * 2), np.array([38.86] * 2))
    with np.errstate(all="ignore"):
        direct = _eq10_direct(bgnbd, *heavy_args)
    ours = clv.expected_purchases(bgnbd, *heavy_args)
    assert np.isnan(direct[1]) and np.isfinite(ours[1]) and ours[1] > 1000
    assert ours[0] == pytest.approx(direct[0], rel=1e-9)
    # The same heavy buyer, silent for the last 0.36 weeks (~18 purchases' worth),
    # is most likely gone: BG/NBD says so.
    assert float(clv.p_alive(bgnbd, 2000, 38.5, 38.86)) < 1e-3
    # t < 0 is NaN.
    assert np.isnan(clv.expected_purchases(bgnbd, -1.0, 2, 30.43, 38.86))


def test_expected_purchases_is_continuous_through_a_equal_one() -> None:
    at_one = clv.BgNbdParams(r=0.243, alpha=4.414, a=1.0, b=2.426, log_likelihood=0.0)
    near = clv.BgNbdParams(r=0.243, alpha=4.414, a=1.001, b=2.426, log_likelihood=0.0)
    args = (39.0, [0, 2, 10], [0.0, 30.43, 35.0], [38.86] * 3)
    ours = clv.expected_purchases(at_one, *args)
    assert np.all(np.isfinite(ours))
    np.testing.assert_allclose(ours, clv.expected_purchases(near, *args), rtol=2e-3)


def test_time_unit_only_rescales_alpha(cdnow: pd.DataFrame, bgnbd) -> None:
    in_days = clv.fit_bgnbd(cdnow["frequency"], cdnow["recency"] * 7, cdnow["T"] * 7)
    assert in_days.alpha == pytest.approx(7 * bgnbd.alpha, rel=1e-4)
    for name in ("r", "a", "b"):
        assert getattr(in_days, name) == pytest.approx(getattr(bgnbd, name), rel=1e-4)


def test_fit_bgnbd_refuses_unidentified_or_bad_data() -> None:
    with pytest.raises(clv.ClvFitError, match="needs"):
        clv.fit_bgnbd([0, 1, 2], [0, 1, 2], [3, 3, 3])
    with pytest.raises(clv.ClvFitError, match="recency must not exceed T"):
        clv.fit_bgnbd([1] * 30, [5.0] * 30, [4.0] * 30)
    # Everybody buys right up to the end: nobody is seen to drop out, the MLE
    # heads for a -> 0 / b -> infinity.
    x = np.arange(1, 41, dtype=float)
    with pytest.raises(clv.ClvFitError, match="do not identify"):
        clv.fit_bgnbd(x, np.full(40, 50.0), np.full(40, 50.0))


# --- Gamma-Gamma ------------------------------------------------------------


def test_gamma_gamma_reproduces_the_published_cdnow_estimates(gamma_gamma) -> None:
    for name, published in PUBLISHED_GG.items():
        assert getattr(gamma_gamma, name) == pytest.approx(published, rel=0.02), name
    assert round(gamma_gamma.p, 2) == 6.25
    assert round(gamma_gamma.q, 2) == 3.74


def test_gamma_gamma_ignores_one_time_buyers(cdnow: pd.DataFrame, gamma_gamma) -> None:
    repeat = cdnow[cdnow["frequency"] > 0]
    refit = clv.fit_gamma_gamma(repeat["frequency"], repeat["monetary_value"])
    assert refit.log_likelihood == pytest.approx(gamma_gamma.log_likelihood, abs=1e-6)
    assert refit.p == pytest.approx(gamma_gamma.p, rel=1e-6)


def test_expected_average_value(gamma_gamma) -> None:
    p, q, v = gamma_gamma.p, gamma_gamma.q, gamma_gamma.v
    out = clv.expected_average_value(gamma_gamma, [0, 2, 2, 50], [0.0, 22.35, 22.35, 40.0])
    assert out[0] == pytest.approx(p * v / (q - 1))  # population mean, ~35 USD
    assert out[1] == pytest.approx(p * (v + 2 * 22.35) / (2 * p + q - 1))
    # Shrinkage: between the customer's own mean and the population mean...
    assert 22.35 < out[1] < out[0]
    # ...and closer to the own mean the more transactions back it.
    assert abs(out[3] - 40.0) < 1.0
    assert np.isnan(clv.expected_average_value(gamma_gamma, 3, -5.0))


def test_fit_gamma_gamma_too_few_repeat_buyers() -> None:
    with pytest.raises(clv.ClvFitError, match="needs"):
        clv.fit_gamma_gamma([0, 0, 1, 2], [0, 0, 10.0, 12.0])


# --- predict_buyers ---------------------------------------------------------


def test_predict_buyers_on_cdnow_in_days(cdnow: pd.DataFrame, bgnbd, gamma_gamma) -> None:
    days = cdnow.assign(recency=cdnow["recency"] * 7, T=cdnow["T"] * 7)
    out = clv.predict_buyers(days)
    assert list(out.columns) == ["p_alive", "expected_orders_90d", "predicted_value_365d"]
    assert out.index.equals(cdnow.index)
    assert not out.isna().any().any()
    assert out["p_alive"].between(0, 1).all()
    assert out.attrs["clv"]["fallback"] == []
    assert out.attrs["clv"]["bgnbd"]["alpha"] == pytest.approx(7 * bgnbd.alpha, rel=1e-4)
    # Same numbers as the weekly model at 90/7 and 365/7 weeks.
    x, t_x, T, m = (
        cdnow[c].to_numpy(float) for c in ("frequency", "recency", "T", "monetary_value")
    )
    np.testing.assert_allclose(
        out["expected_orders_90d"], clv.expected_purchases(bgnbd, 90 / 7, x, t_x, T), rtol=1e-3
    )
    value = clv.expected_purchases(bgnbd, 365 / 7, x, t_x, T) * clv.expected_average_value(
        gamma_gamma, x, m
    )
    np.testing.assert_allclose(out["predicted_value_365d"], value, rtol=1e-3)
    # Customer 1 (x=2, t_x=30.43 wk): orders over 90 days < over 365 days.
    assert 0 < out.loc[1, "expected_orders_90d"] < value[0] / 20


def test_predict_buyers_falls_back_on_small_data(caplog: pytest.LogCaptureFixture) -> None:
    summary = pd.DataFrame(
        {
            "frequency": [0, 1, 3, 2],
            "recency": [0.0, 10.0, 30.0, 5.0],
            "T": [40.0, 40.0, 31.0, 100.0],
            "monetary_value": [0.0, 20.0, 15.0, 30.0],
        },
        index=pd.Index(["w", "x", "y", "z"], name="buyer_id"),
    )
    with caplog.at_level(logging.WARNING, logger="sellerops.models.clv"):
        out = clv.predict_buyers(summary)
    assert "BG/NBD fit failed" in caplog.text
    assert out["expected_orders_90d"].isna().all()
    assert out["predicted_value_365d"].isna().all()
    # Heuristic: exp(-(T - recency) / gap); gap = recency / frequency, or the
    # median repeat gap (median of 10, 10, 2.5 = 10) for one-time buyers.
    expected = [math.exp(-40 / 10), math.exp(-30 / 10), math.exp(-1 / 10), math.exp(-95 / 2.5)]
    np.testing.assert_allclose(out["p_alive"], expected)
    assert out.attrs["clv"]["bgnbd"] is None and out.attrs["clv"]["fallback"]


def test_predict_buyers_without_enough_spend_data(cdnow: pd.DataFrame, caplog) -> None:
    no_money = cdnow.assign(monetary_value=0.0)
    with caplog.at_level(logging.WARNING, logger="sellerops.models.clv"):
        out = clv.predict_buyers(no_money, time_unit_days=7)
    assert "Gamma-Gamma fit failed" in caplog.text
    assert out["predicted_value_365d"].isna().all()
    assert out["expected_orders_90d"].notna().all() and out["p_alive"].notna().all()


def test_predict_buyers_survives_bad_rows(cdnow: pd.DataFrame, caplog) -> None:
    bad = cdnow.head(300).copy()
    bad.loc[1, "recency"] = 99.0  # recency > T
    bad.loc[2, "frequency"] = np.nan
    bad.loc[3, "T"] = -1.0
    with caplog.at_level(logging.WARNING, logger="sellerops.models.clv"):
        out = clv.predict_buyers(bad, time_unit_days=7)
    assert "3 of 300 buyers have invalid RFM values" in caplog.text
    assert out.loc[[1, 2, 3]].isna().all().all()
    assert out.drop(index=[1, 2, 3]).notna().all().all()


def test_predict_buyers_degenerate_inputs(caplog) -> None:
    empty = clv.predict_buyers(
        pd.DataFrame(columns=["frequency", "recency", "T", "monetary_value"])
    )
    assert empty.empty and list(empty.columns) == [
        "p_alive",
        "expected_orders_90d",
        "predicted_value_365d",
    ]
    with caplog.at_level(logging.WARNING, logger="sellerops.models.clv"):
        out = clv.predict_buyers(pd.DataFrame({"frequency": [1, 2]}))
    assert out.isna().all().all() and "lacks columns" in caplog.text


def test_predict_buyers_warns_on_unit_mismatch(cdnow_transactions, caplog) -> None:
    weekly = clv.rfm_summary(
        cdnow_transactions, "customer_id", "date", "dollar_value", CALIBRATION_END, 7
    )
    with caplog.at_level(logging.WARNING, logger="sellerops.models.clv"):
        clv.predict_buyers(weekly)  # default time_unit_days=1
    assert "time_unit_days=7" in caplog.text


def test_predict_buyers_contains_unexpected_errors(
    cdnow: pd.DataFrame, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(clv, "fit_gamma_gamma", broken)
    with caplog.at_level(logging.WARNING, logger="sellerops.models.clv"):
        out = clv.predict_buyers(cdnow, time_unit_days=7)
    assert "Gamma-Gamma fit failed (boom)" in caplog.text
    assert any(record.exc_info for record in caplog.records)
    assert out["predicted_value_365d"].isna().all() and out["p_alive"].notna().all()
    with pytest.raises(ValueError, match="positive"):
        clv.predict_buyers(cdnow, time_unit_days=0)
