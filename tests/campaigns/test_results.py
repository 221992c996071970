"""marts.campaign_results: the interval is right, and a planted uplift is recovered.

* Newcombe's hybrid score interval reproduces the published example, and covers the
  true difference about 95 % of the time in simulation (so "+x pp" is measured).
* A generated World is planned (holdout 50 %) and THEN given a known effect: treated
  buyers get extra seller feedback and extra repurchases with known probabilities,
  written into core tables. The mart's counts move by exactly the planted events, and
  its 95 % interval for the difference contains the planted effect (and excludes 0),
  while an outcome nobody touched (returns) shows no significant difference.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
import sqlalchemy as sa

from sellerops.accounts import Account
from sellerops.campaigns import definitions as defs
from sellerops.campaigns.planner import plan_campaigns
from sellerops.campaigns.results import (
    CI_METHOD,
    Comparison,
    compute_results,
    newcombe_interval,
    read_results,
    render_results,
    two_proportion_p_value,
    wilson_interval,
)
from sellerops.sandbox.generator import DEFAULT_ACCOUNTS
from sellerops.sandbox.service import make_world
from tests.campaigns.test_exactly_once import load_world

END = date(2026, 3, 1)
P_FEEDBACK = 0.15  # a treated buyer without feedback gets it with this probability
P_REPURCHASE = 0.10  # ... and a new order 30 days after the due time with this one


def test_wilson_and_newcombe_match_the_published_examples():
    # Newcombe (1998), single proportion: 81/263 -> 0.2553 to 0.3662 (score method).
    low, high = wilson_interval(81, 263)
    assert (round(low, 4), round(high, 4)) == (0.2553, 0.3662)
    # Newcombe (1998), difference of independent proportions, method 10:
    # 56/70 - 48/80 = 0.2000, 95 % CI 0.0524 to 0.3339.
    low, high = newcombe_interval(56, 70, 48, 80)
    assert (round(low, 4), round(high, 4)) == (0.0524, 0.3339)
    # Degenerate counts stay inside [-1, 1] and defined.
    low, high = newcombe_interval(0, 10, 0, 10)
    assert -1 <= low < 0 < high <= 1
    assert two_proportion_p_value(0, 10, 0, 10) == 1.0
    c = Comparison(treated_n=100, treated_x=30, holdout_n=100, holdout_x=20)
    assert c.difference == pytest.approx(0.1) and c.relative_uplift == pytest.approx(0.5)
    assert 0.1 < c.p_value < 0.12  # z = 1.633
    assert Comparison(0, 0, 10, 5).difference is None


def test_interval_covers_the_true_difference_95_percent_of_the_time():
    rng = np.random.default_rng(7)
    for p1, p2, n1, n2 in ((0.30, 0.20, 400, 400), (0.06, 0.04, 900, 100), (0.5, 0.5, 50, 50)):
        runs = 2000
        x1 = rng.binomial(n1, p1, runs)
        x2 = rng.binomial(n2, p2, runs)
        covered = 0
        for a, b in zip(x1, x2, strict=True):
            low, high = newcombe_interval(int(a), n1, int(b), n2)
            covered += low <= p1 - p2 <= high
        assert 0.93 <= covered / runs <= 0.975, (p1, p2, n1, n2, covered / runs)


# -- the planted uplift --------------------------------------------------------------------------


CAMPAIGN = defs.Campaign.model_validate(
    {
        "name": "planted",
        "channel": "audience_export",
        "purpose": "cross_sell",
        "trigger": {"event": "order", "days": 0},
        "exclusions": [],
        "limits": {"give_up_after_days": 61},
        "holdout": 0.5,
    }
)


def _accounts():
    return [
        Account(
            account_id=a.account_id,
            name=a.seller_name,
            spapi_conn_id=f"sellerops_spapi_{a.account_id.replace('-', '_')}",
            marketplaces=a.marketplace_ids,
            seller_time_zone=a.seller_time_zone,
        )
        for a in DEFAULT_ACCOUNTS
    ]


def _metric(rows, metric):
    return next(r for r in rows if r["metric"] == metric)


def _plant(wh, rng) -> dict[str, int]:
    """Give treated buyers extra feedback and repurchases; return how many buyers' outcomes
    flipped from no to yes (the realised effect), per metric."""
    with wh.connect() as conn:
        units = conn.execute(
            sa.text(
                "SELECT account_id, marketplace_id, buyer_key, order_id, due_at FROM "
                "ops.campaign_sends WHERE campaign = 'planted' AND arm = 'treatment' "
                "ORDER BY account_id, marketplace_id, buyer_key, due_at, order_id"
            )
        ).fetchall()
        feedback = {
            (r[0], r[1]): r[2]
            for r in conn.execute(
                sa.text("SELECT account_id, order_id, feedback_date FROM core.feedback")
            ).fetchall()
        }
        purchases = defaultdict(list)
        for account_id, marketplace_id, buyer_key, when in conn.execute(
            sa.text(
                "SELECT account_id, marketplace_id, buyer_key, purchase_time FROM core.orders "
                "WHERE order_status <> 'CANCELLED'"
            )
        ).fetchall():
            purchases[(account_id, marketplace_id, buyer_key)].append(when.astimezone(UTC))
    buyers = defaultdict(list)
    for account_id, marketplace_id, buyer_key, order_id, due_at in units:
        buyers[(account_id, marketplace_id, buyer_key)].append((order_id, due_at.astimezone(UTC)))
    new_feedback, new_orders = [], []
    flipped = {"feedback_30d": 0, "repurchase_90d": 0}
    for (account_id, marketplace_id, buyer_key), orders in sorted(buyers.items()):
        has_feedback = any(
            (day := feedback.get((account_id, o))) is not None
            and due.date() <= day <= (due + timedelta(days=30)).date()
            for o, due in orders
        )
        free = [(o, due) for o, due in orders if (account_id, o) not in feedback]
        if rng.random() < P_FEEDBACK and not has_feedback and free:
            order_id, due = free[0]
            new_feedback.append(
                {
                    "account_id": account_id,
                    "marketplace_id": marketplace_id,
                    "order_id": order_id,
                    "feedback_date": (due + timedelta(days=10)).date(),
                    "rating": 5,
                    "has_response": False,
                    "source": "planted",
                    "batch_id": "planted",
                    "loaded_at": datetime.now(UTC),
                }
            )
            flipped["feedback_30d"] += 1
        first_due = min(due for _, due in orders)
        bought_again = any(
            first_due < when <= first_due + timedelta(days=90)
            for when in purchases[(account_id, marketplace_id, buyer_key)]
        )
        if rng.random() < P_REPURCHASE:
            when = first_due + timedelta(days=30)
            new_orders.append(
                {
                    "account_id": account_id,
                    "marketplace_id": marketplace_id,
                    "order_id": f"999-{len(new_orders):07d}-0000000",
                    "purchase_time": when,
                    "last_updated_time": when,
                    "order_status": "SHIPPED",
                    "fulfillment_channel": "AFN",
                    "buyer_key": buyer_key,
                    "identity_source": "buyer_email",
                    "source": "planted",
                    "batch_id": "planted",
                    "loaded_at": datetime.now(UTC),
                }
            )
            flipped["repurchase_90d"] += int(not bought_again)
    with wh.begin() as conn:
        for table, rows in (("core.feedback", new_feedback), ("core.orders", new_orders)):
            columns = list(rows[0])
            conn.execute(
                sa.text(
                    f"INSERT INTO {table} ({', '.join(columns)}) VALUES "  # noqa: S608
                    f"({', '.join(':' + c for c in columns)})"
                ),
                rows,
            )
    return flipped


@pytest.fixture(scope="module")
def world():
    return make_world(seed=23, days=60, orders_per_day=20, end_date=END)


def test_planted_uplift_is_recovered_within_the_interval(any_warehouse, world):
    wh = any_warehouse
    load_world(wh, world)
    file = defs.CampaignsFile(campaigns=(CAMPAIGN,))
    as_of = world.end
    plan_campaigns(wh, file, accounts=_accounts(), as_of=as_of)
    later = as_of + timedelta(days=100)  # every window has passed

    # Before the effect: both arms alike; the mart counts what the data holds.
    before = compute_results(wh, file, as_of=later)
    assert {r["metric"] for r in before} == {"feedback_30d", "repurchase_90d", "return_30d"}
    for r in before:
        assert r["immature_buyers"] == 0
        assert r["treated_buyers"] > 1500 and r["holdout_buyers"] > 1500
        assert r["ci_method"] == CI_METHOD and r["holdout_share"] == 0.5
        assert r["ci_low"] <= 0 <= r["ci_high"]  # randomised arms, no effect yet
    immature = compute_results(wh, file, as_of=as_of)
    assert all(r["immature_buyers"] > 0 for r in immature)

    flipped = _plant(wh, np.random.default_rng(2024))
    after = compute_results(wh, file, as_of=later)
    stored = {r["metric"]: r for r in read_results(wh)}
    assert set(stored) == {r["metric"] for r in after}
    assert (
        stored["feedback_30d"]["treated_events"] == _metric(after, "feedback_30d")["treated_events"]
    )
    for metric in ("feedback_30d", "repurchase_90d"):
        b, a = _metric(before, metric), _metric(after, metric)
        # Exactly the planted outcomes moved, and only on the treated side.
        assert a["treated_events"] == b["treated_events"] + flipped[metric]
        assert (a["holdout_events"], a["holdout_buyers"]) == (
            b["holdout_events"],
            b["holdout_buyers"],
        )
        assert a["treated_buyers"] == b["treated_buyers"]
        # The planted effect on the treated (what they would have had without it vs with).
        planted = flipped[metric] / a["treated_buyers"]
        assert planted > 0.05
        assert a["ci_low"] <= planted <= a["ci_high"], (metric, planted, a)
        assert a["ci_low"] > 0 and a["p_value"] < 0.001
        assert a["difference"] == pytest.approx(a["treated_rate"] - a["holdout_rate"])
    returns = _metric(after, "return_30d")
    assert returns == {**_metric(before, "return_30d"), "computed_at": returns["computed_at"]}
    text = render_results(after)
    assert "planted" in text and "feedback_30d" in text and "pp" in text
