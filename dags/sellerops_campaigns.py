"""
### SellerOps campaigns

Policy-safe buyer campaigns from `include/campaigns.yaml`: review requests (Amazon's
Solicitations API), permitted buyer-seller messages (Messaging API) and audience
exports for channels where marketing is allowed.

* **Schedule**: whenever the buyer tags are refreshed (the `marts.buyer_tags` asset),
  so campaigns always see fresh tags.
* **plan**: one outbox row per campaign x order in `ops.campaign_sends` (unique);
  exclusions (cancelled, returned, refunded, negative feedback, already solicited,
  opted out, business orders), tags, product scope, and a deterministic holdout.
* **send**: one mapped task per seller account (Amazon's quotas are per account, so
  accounts send in parallel, bounded by the `sellerops_spapi` pool). Interrupted sends
  from earlier runs are resolved by asking Amazon, never by sending blind; each row
  is claimed, checked with Amazon (`getSolicitationActionsForOrder` /
  `getMessagingActionsForOrder`) right before the send, sent within the operation's
  quota and settled: sent, ineligible, excluded, held out, failed with Amazon's error. **Dry run until a campaign is `live: true`.**
* **results**: `marts.campaign_results`, treated vs held-out buyers with a 95 %
  confidence interval.
* The run report (counts by outcome and reason) is in the task log and in
  `ops.campaign_runs`. **Same code as the CLI**: `sellerops campaigns plan|send|status`.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import dag, task

from sellerops.assets import BUYER_TAGS


@dag(
    dag_id="sellerops_campaigns",
    schedule=[BUYER_TAGS],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["sellerops", "campaigns"],
    doc_md=__doc__,
    default_args={
        "owner": "sellerops",
        "retries": 2,
        "retry_delay": timedelta(minutes=5),
    },
)
def sellerops_campaigns():
    @task
    def plan(run_id=None) -> dict:
        """Bring the outbox up to date for every campaign (no Amazon calls)."""
        from sellerops.campaigns.planner import run_plan_task

        return run_plan_task(run_id)

    @task
    def account_ids() -> list[str]:
        """Every configured seller account: one send task each (each has its own quotas)."""
        from sellerops.accounts import load_accounts

        return [account.account_id for account in load_accounts().accounts]

    @task(pool="sellerops_spapi")
    def send(account_id: str, run_id=None) -> dict:
        """Resolve interrupted sends, then check eligibility and send (live campaigns only)."""
        from sellerops.campaigns.sender import run_send_task

        return run_send_task(run_id, account_id=account_id)

    @task
    def results(run_id=None) -> dict:
        """Recompute marts.campaign_results (treated vs held out)."""
        from sellerops.campaigns.results import run_results_task

        return run_results_task(run_id)

    plan() >> send.expand(account_id=account_ids()) >> results()


sellerops_campaigns()
