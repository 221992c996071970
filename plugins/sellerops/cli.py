"""The ``sellerops`` command: the same library functions the DAGs call, without a scheduler."""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import UTC, date, datetime, timedelta

log = logging.getLogger("sellerops")


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _utc_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


# -- verbs ---------------------------------------------------------------------


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from sellerops import migrations, warehouse

    wh = warehouse.connect(args.warehouse)
    before, after = migrations.upgrade(wh, args.revision)
    if before == after:
        print(f"{wh.describe()}: already at revision {after}; nothing to do")
    else:
        print(f"{wh.describe()}: upgraded from {before or 'empty'} to {after}")
    return 0


def cmd_db_current(args: argparse.Namespace) -> int:
    from sellerops import migrations, warehouse

    wh = warehouse.connect(args.warehouse)
    print(f"{wh.describe()}: revision {migrations.current_revision(wh) or 'none'}")
    print(f"head revision: {migrations.head_revision()}")
    return 0


def cmd_sandbox_serve(args: argparse.Namespace) -> int:
    from sellerops.sandbox import service

    return service.serve_forever(
        host=args.host,
        port=args.port,
        seed=args.seed,
        end_date=args.end_date,
        days=args.days,
        orders_per_day=args.orders_per_day,
        time_scale=args.time_scale,
        maildir=args.maildir,
    )


def cmd_sandbox_truth(args: argparse.Namespace) -> int:
    from sellerops.sandbox import service

    path = service.write_truth_file(
        seed=args.seed,
        end_date=args.end_date,
        days=args.days,
        orders_per_day=args.orders_per_day,
        out=args.out,
    )
    print(f"ground truth written to {path}")
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from sellerops import ingest
    from sellerops.paths import data_docs_dir

    start = _utc_midnight(args.start)
    end = _utc_midnight(args.end) + timedelta(days=1)
    audits = ingest.ingest_range(
        account_id=args.account,
        marketplace_id=args.marketplace,
        start=start,
        end=end,
        datasets=args.dataset or None,
        accounts_file=args.accounts,
        warehouse_url=args.warehouse,
        window_days=args.window_days,
        docs_dir=data_docs_dir(),
    )
    for audit in audits:
        print(
            f"{audit.dataset:12} {audit.account_id}/{audit.marketplace_id}: extracted "
            f"{audit.extracted} = loaded {audit.loaded} + quarantined {audit.quarantined} "
            f"(inserted {audit.inserted}, updated {audit.updated})"
        )
    return 0


def cmd_import_report(args: argparse.Namespace) -> int:
    from sellerops import ingest

    audits = ingest.import_report_file(
        path=args.file,
        report_type=args.report_type,
        account_id=args.account,
        marketplace_id=args.marketplace,
        warehouse_url=args.warehouse,
        accounts_file=args.accounts,
        max_quarantine_share=args.max_quarantine_share,
    )
    for audit in audits:
        print(
            f"{audit.dataset}: extracted {audit.extracted} = loaded {audit.loaded} + "
            f"quarantined {audit.quarantined}"
        )
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    from sellerops.accounts import catalog_path, load_accounts
    from sellerops.models.runner import build
    from sellerops.tags import load_rules, materialise_tags
    from sellerops.warehouse import connect

    report_warehouse = connect(args.warehouse)
    report = build(
        report_warehouse,
        accounts=load_accounts(args.accounts),
        catalog_path=args.catalog or catalog_path(),
        full_refresh=args.full_refresh,
        reply_window_hours=args.reply_window_hours,
    )
    print(report.summary())
    tags = materialise_tags(report_warehouse, load_rules())
    print(tags.summary())
    return 0


def cmd_tags(args: argparse.Namespace) -> int:
    from sellerops import warehouse
    from sellerops.tags import manual

    wh = warehouse.connect(args.warehouse)
    if args.tags_verb == "import":
        print(manual.import_manual_tags_csv(wh, args.file, added_by=args.by).summary())
        return 0
    if args.tags_verb == "add":
        changes = manual.add_manual_tag(
            wh,
            args.account,
            args.buyer_key,
            args.tag,
            note=args.note,
            marketplace_id=args.marketplace,
            added_by=args.by,
        )
    else:
        changes = manual.remove_manual_tag(
            wh,
            args.account,
            args.buyer_key,
            args.tag,
            note=args.note,
            marketplace_id=args.marketplace,
            removed_by=args.by,
        )
    for change in changes:
        print(change.describe())
    return 0


def cmd_buyer_show(args: argparse.Namespace) -> int:
    from sellerops import warehouse
    from sellerops.tags.profile import buyer_show

    print(buyer_show(warehouse.connect(args.warehouse), args.account, args.buyer_key), end="")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from sellerops.paths import data_dir
    from sellerops.report import write_report
    from sellerops.warehouse import connect

    paths = write_report(
        connect(args.warehouse),
        args.out or data_dir() / "report.html",
        accounts=args.account or None,
    )
    for path in paths:
        print(f"report written: {path}")
    return 0


def cmd_privacy_purge(args: argparse.Namespace) -> int:
    from sellerops import privacy, warehouse

    now = datetime.fromisoformat(args.as_of) if args.as_of else None
    if now is not None and now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    report = privacy.purge(warehouse.connect(args.warehouse), now)
    print(report.summary())
    return 0


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def cmd_history(args: argparse.Namespace) -> int:
    from sellerops.history import format_history, run_history
    from sellerops.warehouse import connect

    since = datetime.now(UTC) - timedelta(days=args.days)
    print(format_history(run_history(connect(args.warehouse), since=since, limit=args.limit)))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from sellerops import demo

    return demo.run(days=args.days, seed=args.seed, orders_per_day=args.orders_per_day)


# -- parser --------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sellerops",
        description=(
            "SellerOps: extract Amazon seller data (orders, returns, refunds, feedback, "
            "buyer messages), validate it, load it into the warehouse, model KPIs and "
            "buyer tags, and trigger policy-safe campaigns."
        ),
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    parser.add_argument(
        "--warehouse",
        metavar="URL",
        help="SQLAlchemy URL of the warehouse (default: $SELLEROPS_WAREHOUSE_URL, the Airflow "
        "connection sellerops_warehouse, or data/sellerops.duckdb)",
    )
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)

    db = verbs.add_parser("db", help="warehouse schema migrations (Alembic)")
    db_verbs = db.add_subparsers(dest="db_verb", metavar="ACTION", required=True)
    up = db_verbs.add_parser("upgrade", help="create or upgrade the warehouse schemas")
    up.add_argument("--revision", default="head", help="target revision (default: head)")
    up.set_defaults(func=cmd_db_upgrade)
    cur = db_verbs.add_parser("current", help="show the warehouse's schema revision")
    cur.set_defaults(func=cmd_db_current)

    sandbox = verbs.add_parser("sandbox", help="the simulated Amazon seller account")
    sb_verbs = sandbox.add_subparsers(dest="sandbox_verb", metavar="ACTION", required=True)
    for name, func, help_text in (
        ("serve", cmd_sandbox_serve, "serve SP-API over HTTP from a generated seller world"),
        ("truth", cmd_sandbox_truth, "write the ground truth of a generated world as JSON"),
    ):
        p = sb_verbs.add_parser(name, help=help_text)
        p.add_argument("--seed", type=int, default=42, help="generator seed (default 42)")
        p.add_argument(
            "--end-date",
            type=_date,
            default=None,
            help="history ends at this date (default: today)",
        )
        p.add_argument("--days", type=int, default=120, help="days of history (default 120)")
        p.add_argument(
            "--orders-per-day",
            type=float,
            default=None,
            help="orders per day per account and marketplace",
        )
        p.set_defaults(func=func)
        if name == "serve":
            p.add_argument("--host", default="127.0.0.1")
            p.add_argument("--port", type=int, default=8765)
            p.add_argument(
                "--time-scale", type=float, default=1.0, help="run the clock K times faster"
            )
            p.add_argument("--maildir", help="also write each account's mail into this folder")
        else:
            p.add_argument("--out", default="truth.json", help="output file")

    ingest = verbs.add_parser("ingest", help="extract, validate and load a date range")
    ingest.add_argument("--account", required=True, help="account id from the accounts file")
    ingest.add_argument("--marketplace", help="marketplace id (default: all of the account's)")
    ingest.add_argument("--start", type=_date, required=True, help="first day (UTC), YYYY-MM-DD")
    ingest.add_argument("--end", type=_date, required=True, help="last day (UTC), inclusive")
    ingest.add_argument(
        "--dataset",
        action="append",
        choices=["orders", "orders_report", "returns", "refunds", "feedback", "messages"],
        help="only these datasets (repeatable; default all but orders_report, the report-based "
        "history backfill of orders)",
    )
    ingest.add_argument(
        "--window-days",
        type=int,
        default=1,
        help="days per extraction window, 1 to 30 (default 1; backfills go faster with 30)",
    )
    ingest.add_argument("--accounts", help="accounts file (default include/accounts.yaml)")
    ingest.set_defaults(func=cmd_ingest)

    report = verbs.add_parser(
        "import-report", help="load a report file downloaded from Seller Central"
    )
    report.add_argument("file", help="the report file (tab-separated, optionally gzip)")
    report.add_argument("--report-type", required=True, help="e.g. GET_SELLER_FEEDBACK_DATA")
    report.add_argument("--account", required=True)
    report.add_argument("--marketplace", required=True)
    report.add_argument("--accounts", help="accounts file (default include/accounts.yaml)")
    report.add_argument(
        "--max-quarantine-share",
        type=float,
        default=0.05,
        help="reject a chunk whole when more than this share of its rows fail (default 0.05)",
    )
    report.set_defaults(func=cmd_import_report)

    build_cmd = verbs.add_parser("build", help="build the SQL models, buyer tags and KPI marts")
    build_cmd.add_argument("--accounts", help="accounts file (default include/accounts.yaml)")
    build_cmd.add_argument(
        "--catalog", help="product catalogue CSV (default include/catalog.csv if present)"
    )
    build_cmd.add_argument(
        "--full-refresh", action="store_true", help="rebuild everything, not just what changed"
    )
    build_cmd.add_argument(
        "--reply-window-hours",
        type=int,
        default=4,
        help="length of the reply window marts.reply_window looks for (1-24, default 4)",
    )
    build_cmd.set_defaults(func=cmd_build)

    from sellerops import campaigns as cmp  # light: heavy modules load inside the functions

    camp = verbs.add_parser("campaigns", help="plan, send and report campaigns")
    cv = camp.add_subparsers(dest="campaigns_verb", metavar="ACTION", required=True)
    for name, func, text in (
        ("plan", cmp.cli_plan, "update the outbox ops.campaign_sends (no Amazon calls)"),
        ("send", cmp.cli_send, "resolve, plan, check with Amazon and send (dry run unless live)"),
        ("status", cmp.cli_status, "outbox by status and reason, last runs, results"),
        ("results", cmp.cli_results, "recompute marts.campaign_results"),
    ):
        p = cv.add_parser(name, help=text)
        p.add_argument("--campaign", action="append", help="only this campaign (repeatable)")
        if name != "status":
            p.add_argument("--campaigns-file", help="default include/campaigns.yaml")
            p.add_argument("--accounts", help="accounts file (default include/accounts.yaml)")
            p.add_argument("--as-of", help="the run's now, ISO date or date-time (default: now)")
        if name == "send":
            mode = p.add_mutually_exclusive_group()
            mode.add_argument("--dry-run", action="store_true", help="send nothing")
            mode.add_argument(
                "--live",
                action="append",
                metavar="CAMPAIGN",
                help="send this campaign live for this run (repeatable)",
            )
        p.set_defaults(func=func)
    opt = cv.add_parser("opt-out", help="record a buyer's opt-out, or import a CSV of them")
    opt.add_argument("--account")
    opt.add_argument("--buyer")
    opt.add_argument(
        "--channel",
        default="all",
        choices=["all", "amazon_review_request", "amazon_message", "audience_export"],
    )
    opt.add_argument("--note")
    opt.add_argument("--csv", help="account_id,buyer_key[,channel,since,note]")
    opt.set_defaults(func=cmp.cli_opt_out)

    report_cmd = verbs.add_parser("report", help="write the HTML KPI report (one page per account)")
    report_cmd.add_argument(
        "--out",
        metavar="PATH",
        help="a .html file or a folder (default data/report.html); with several accounts each "
        "gets <stem>-<account>.html beside it and PATH is the index",
    )
    report_cmd.add_argument(
        "--account",
        action="append",
        metavar="A",
        help="only this account (repeatable; default: every account in the warehouse)",
    )
    report_cmd.set_defaults(func=cmd_report)

    tags = verbs.add_parser("tags", help="add or remove manual buyer tags")
    tag_verbs = tags.add_subparsers(dest="tags_verb", metavar="ACTION", required=True)
    for name, help_text in (("add", "tag a buyer by hand"), ("remove", "remove a manual tag")):
        p = tag_verbs.add_parser(name, help=help_text)
        p.add_argument("--account", required=True, help="account id")
        p.add_argument("--buyer-key", required=True, help="the buyer's key (as in buyer show)")
        p.add_argument("--tag", required=True, help="lowercase letters, digits and _")
        p.add_argument("--note", help="why; shown as the tag's reason")
        p.add_argument("--marketplace", help="default: every marketplace where the buyer is known")
        p.add_argument("--by", help="who (default: the login name)")
        p.set_defaults(func=cmd_tags)
    imp = tag_verbs.add_parser("import", help="add or remove manual tags listed in a CSV file")
    imp.add_argument(
        "file", help="CSV: account_id,buyer_key,tag[,marketplace_id,note,action,added_by]"
    )
    imp.add_argument("--by", help="added_by for lines without one (default: the login name)")
    imp.set_defaults(func=cmd_tags)

    buyer = verbs.add_parser("buyer", help="show one buyer's profile")
    buyer_verbs = buyer.add_subparsers(dest="buyer_verb", metavar="ACTION", required=True)
    show = buyer_verbs.add_parser(
        "show", help="orders, amounts, categories, feedback, messages, tags with reasons"
    )
    show.add_argument("--account", required=True)
    show.add_argument("--buyer-key", required=True)
    show.set_defaults(func=cmd_buyer_show)

    demo = verbs.add_parser(
        "demo", help="run the whole pipeline over the built-in sandbox into data/"
    )
    demo.add_argument("--days", type=int, default=60, help="days of history to ingest")
    demo.add_argument("--seed", type=int, default=42)
    demo.add_argument("--orders-per-day", type=float, default=25.0)
    demo.set_defaults(func=cmd_demo)

    history = verbs.add_parser(
        "history", help="recent loads, validations, model builds and campaign runs (ops tables)"
    )
    history.add_argument("--days", type=_positive_int, default=7, help="look back N days (7)")
    history.add_argument(
        "--limit", type=_positive_int, default=50, help="at most N rows per table (50)"
    )
    history.set_defaults(func=cmd_history)

    privacy = verbs.add_parser("privacy", help="buyer-data retention (see docs/data_map.md)")
    privacy_verbs = privacy.add_subparsers(dest="privacy_verb", metavar="ACTION", required=True)
    purge = privacy_verbs.add_parser(
        "purge",
        help="redact quarantined values and delete export files, Data Docs pages and stale "
        "ingest folders 30 days after delivery",
    )
    purge.add_argument("--as-of", help="the purge's now, ISO date or date-time (default: now)")
    purge.set_defaults(func=cmd_privacy_purge)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("httpx", "sp_api", "great_expectations", "alembic", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if args.verbose:
            raise
        print(f"sellerops {args.verb}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
