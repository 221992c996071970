"""Campaigns: policy-safe, exactly-once sends triggered by fresh tags, with a holdout.

* :mod:`sellerops.campaigns.definitions` - the campaigns file (``include/campaigns.yaml``),
  validated by pydantic: channels, purposes (promotional ones rejected on Amazon's
  channels), triggers, audience, product scope, exclusions, limits, holdout;
* :mod:`sellerops.campaigns.planner` - the outbox ``ops.campaign_sends`` (one row per
  campaign x order), exclusions, the holdout draw, opt-outs;
* :mod:`sellerops.campaigns.sender` - claim, ask Amazon, send, settle; interrupted
  sends resolved by asking Amazon (the state machine is documented there);
* :mod:`sellerops.campaigns.channels` - Solicitations and Messaging through
  ``SpApiSession``, audience files;
* :mod:`sellerops.campaigns.results` - ``marts.campaign_results``;
* :mod:`sellerops.campaigns.report` - the run report (``ops.campaign_runs``) and status.

The names below are imported lazily so that ``import sellerops.campaigns`` stays cheap;
the ``cli_*`` functions are the ``sellerops campaigns ...`` commands.
"""

from __future__ import annotations

import argparse
from typing import Any

_EXPORTS = {
    "Campaign": "definitions",
    "CampaignsError": "definitions",
    "CampaignsFile": "definitions",
    "load_campaigns": "definitions",
    "parse_campaigns": "definitions",
    "lint_message_text": "definitions",
    "plan_campaigns": "planner",
    "holdout_arm": "planner",
    "add_opt_out": "planner",
    "import_opt_outs_csv": "planner",
    "run_plan_task": "planner",
    "send_campaigns": "sender",
    "run_send_task": "sender",
    "OutboxRow": "sender",
    "compute_results": "results",
    "read_results": "results",
    "render_results": "results",
    "run_results_task": "results",
    "CampaignRun": "report",
    "campaign_status": "report",
}

__all__ = sorted([*_EXPORTS, "cli_plan", "cli_send", "cli_status", "cli_opt_out", "cli_results"])


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'sellerops.campaigns' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f"sellerops.campaigns.{module}"), name)


# -- command line (wired into sellerops.cli) -------------------------------------------------------


def _names(args: argparse.Namespace) -> list[str] | None:
    return list(getattr(args, "campaign", None) or []) or None


def cli_plan(args: argparse.Namespace) -> int:
    """``sellerops campaigns plan``: bring the outbox up to date; print the report."""
    from sellerops.campaigns.planner import plan_campaigns

    run = plan_campaigns(
        getattr(args, "warehouse", None),
        getattr(args, "campaigns_file", None),
        accounts=getattr(args, "accounts", None),
        as_of=getattr(args, "as_of", None),
        campaigns=_names(args),
    )
    print(run.summary())
    return 0 if run.status == "success" else 1


def cli_send(args: argparse.Namespace) -> int:
    """``sellerops campaigns send``: resolve, plan, send (dry run unless live); print the report."""
    from sellerops.campaigns.results import compute_results, render_results
    from sellerops.campaigns.sender import send_campaigns

    live: Any = None
    if getattr(args, "dry_run", False):
        live = False
    elif getattr(args, "live", None):
        live = list(args.live)
    run = send_campaigns(
        getattr(args, "warehouse", None),
        getattr(args, "campaigns_file", None),
        accounts=getattr(args, "accounts", None),
        as_of=getattr(args, "as_of", None),
        campaigns=_names(args),
        live=live,
    )
    print(run.summary())
    rows = compute_results(
        getattr(args, "warehouse", None),
        getattr(args, "campaigns_file", None),
        as_of=getattr(args, "as_of", None),
    )
    print(render_results(rows))
    return 0 if run.status == "success" else 1


def cli_status(args: argparse.Namespace) -> int:
    """``sellerops campaigns status``: the outbox by status and reason, the last runs, results."""
    from sellerops.campaigns.planner import get_warehouse
    from sellerops.campaigns.report import campaign_status
    from sellerops.campaigns.results import read_results, render_results

    wh = get_warehouse(getattr(args, "warehouse", None))
    print(campaign_status(wh, _names(args)))
    print(render_results(read_results(wh, _names(args))))
    return 0


def cli_results(args: argparse.Namespace) -> int:
    """``sellerops campaigns results``: recompute marts.campaign_results and print it."""
    from sellerops.campaigns.results import compute_results, render_results

    rows = compute_results(
        getattr(args, "warehouse", None),
        getattr(args, "campaigns_file", None),
        as_of=getattr(args, "as_of", None),
        campaigns=_names(args),
    )
    print(render_results(rows))
    return 0


def cli_opt_out(args: argparse.Namespace) -> int:
    """``sellerops campaigns opt-out``: record one opt-out, or import a CSV of them."""
    from sellerops.campaigns.planner import add_opt_out, get_warehouse, import_opt_outs_csv

    wh = get_warehouse(getattr(args, "warehouse", None))
    if getattr(args, "csv", None):
        added = import_opt_outs_csv(wh, args.csv)
        print(f"{added} opt-out(s) recorded from {args.csv}")
        return 0
    if not (getattr(args, "account", None) and getattr(args, "buyer", None)):
        print("sellerops campaigns opt-out: give --account and --buyer, or --csv FILE")
        return 2
    added = add_opt_out(wh, args.account, args.buyer, channel=args.channel, note=args.note)
    print("opt-out recorded" if added else "already opted out: nothing changed")
    return 0
