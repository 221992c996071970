"""Write the KPI report: one self-contained HTML page per seller account, plus an index.

:func:`write_report` reads the marts (:mod:`sellerops.report.charts`) and writes
pages that open offline: the Vega, Vega-Lite and vega-embed JavaScript is inlined
into every page, the chart specs carry their data inline, and a
Content-Security-Policy forbids the page to fetch anything. The JavaScript comes
from the installed ``vl-convert-python`` package (the Vega project's own bundle,
the one Altair uses for ``chart.save(..., inline=True)``), matched to the Vega-Lite
version of the installed Altair; nothing is vendored in this repository.

Once every chart's ``vegaEmbed`` promise has settled the page sets
``data-report-status`` on ``<html>`` to ``rendered`` (or ``failed``) and
``data-charts-rendered`` to the number of charts drawn, which is what the
headless-browser test waits for.
"""

from __future__ import annotations

import functools
import html
import json
import logging
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from sellerops.report import charts as report_charts
from sellerops.report.charts import Chart, query, records, relation_exists

log = logging.getLogger(__name__)

VEGA_PACKAGE = "vl-convert-python"
_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")
# Nothing is fetched: scripts and styles are inline, exported images are data/blob URLs.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; "
    "style-src 'unsafe-inline'; img-src data: blob:; font-src data:"
)


class ReportError(RuntimeError):
    """The report cannot be written (no marts yet, unknown account, no Vega bundle)."""


# -- the JavaScript ------------------------------------------------------------------------


@dataclass(frozen=True)
class VegaBundle:
    """Vega + Vega-Lite + vega-embed as one classic script, and where it came from."""

    javascript: str
    vega_lite_version: str
    vega_version: str
    vega_embed_version: str
    source: str

    def describe(self) -> str:
        return (
            f"Vega-Lite {self.vega_lite_version}, Vega {self.vega_version}, "
            f"vega-embed {self.vega_embed_version} (from {self.source})"
        )


def _altair_vega_lite_version() -> str:
    """'6.4' for Altair's Vega-Lite schema v6.4.x."""
    from altair.vegalite import SCHEMA_VERSION

    return ".".join(SCHEMA_VERSION.lstrip("v").split(".")[:2])


@functools.lru_cache(maxsize=2)
def vega_bundle(vega_lite_version: str | None = None) -> VegaBundle:
    """The Vega JavaScript bundle from the installed ``vl-convert-python``.

    ``vega_lite_version`` ('6.4') defaults to the Vega-Lite version of the installed
    Altair, so the specs Altair writes are rendered by the library they were
    written for. Raises :class:`ReportError` when the package is missing.
    """
    try:
        import vl_convert
    except ImportError as exc:
        raise ReportError(
            f"the HTML report inlines the Vega JavaScript shipped in the {VEGA_PACKAGE} "
            f"package, which is not installed: pip install {VEGA_PACKAGE}"
        ) from exc
    wanted = vega_lite_version or _altair_vega_lite_version()
    available = list(vl_convert.get_vegalite_versions())
    if wanted not in available:
        newest = available[-1]
        log.warning(
            "%s has no Vega-Lite %s (it has %s); using %s",
            VEGA_PACKAGE,
            wanted,
            ", ".join(available),
            newest,
        )
        wanted = newest
    javascript = vl_convert.javascript_bundle(vl_version=wanted)
    if "<!--" in javascript:
        raise ReportError("the Vega bundle contains '<!--' and cannot be inlined safely")
    # '</script' would end the inline script early; '<\/' means the same inside JS
    # strings, regular expressions and comments, the only places it can occur.
    javascript = re.sub(r"</(script)", r"<\\/\1", javascript, flags=re.IGNORECASE)
    try:
        package_version = metadata.version(VEGA_PACKAGE)
    except metadata.PackageNotFoundError:  # pragma: no cover - imported but not installed
        package_version = "unknown"
    return VegaBundle(
        javascript=javascript,
        vega_lite_version=wanted,
        vega_version=vl_convert.get_vega_version(),
        vega_embed_version=vl_convert.get_vega_embed_version(),
        source=f"{VEGA_PACKAGE} {package_version}",
    )


# -- accounts --------------------------------------------------------------------------


@dataclass(frozen=True)
class AccountInfo:
    account_id: str
    name: str | None = None
    seller_time_zone: str | None = None

    @property
    def display_name(self) -> str:
        return self.name or self.account_id


def known_accounts(conn: sa.Connection) -> list[AccountInfo]:
    """Accounts in ``core.accounts`` or with rows in ``marts.kpi_daily``, by id."""
    if not relation_exists(conn, "marts.kpi_daily"):
        raise ReportError("the warehouse has no marts yet: run `sellerops build` first")
    names: dict[str, AccountInfo] = {}
    if relation_exists(conn, "core.accounts"):
        for r in records(
            query(conn, "SELECT account_id, name, seller_time_zone FROM core.accounts")
        ):
            names[r["account_id"]] = AccountInfo(r["account_id"], r["name"], r["seller_time_zone"])
    for r in records(query(conn, "SELECT DISTINCT account_id FROM marts.kpi_daily")):
        names.setdefault(r["account_id"], AccountInfo(r["account_id"]))
    return [names[k] for k in sorted(names)]


def _account_ids(accounts: Any) -> list[str] | None:
    """Account ids from None, an AccountsFile, Accounts, or strings."""
    if accounts is None:
        return None
    if hasattr(accounts, "accounts"):  # an AccountsFile
        accounts = accounts.accounts
    if isinstance(accounts, str):
        accounts = [accounts]
    return [a if isinstance(a, str) else a.account_id for a in accounts]


def _select_accounts(known: list[AccountInfo], wanted: list[str] | None) -> list[AccountInfo]:
    if wanted is None:
        if not known:
            raise ReportError("the warehouse has no accounts yet: ingest and build first")
        return known
    by_id = {a.account_id: a for a in known}
    unknown = [a for a in wanted if a not in by_id]
    if unknown:
        raise ReportError(
            f"no data for account(s) {', '.join(unknown)} in the warehouse; "
            f"known: {', '.join(by_id) or 'none'}"
        )
    return [by_id[a] for a in dict.fromkeys(wanted)]


def _as_of(conn: sa.Connection) -> datetime | None:
    if not relation_exists(conn, "staging.build_params"):
        return None
    value = conn.execute(sa.text("SELECT MAX(as_of) FROM staging.build_params")).scalar()
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return None


# -- writing ---------------------------------------------------------------------------


def output_paths(
    out: str | os.PathLike[str], account_ids: list[str]
) -> tuple[list[Path], Path | None]:
    """Where the pages go: ``(account pages, index or None)``.

    ``out`` ending in ``.html`` is a file: one account is written there; with several,
    each account goes to ``<stem>-<account>.html`` beside it and ``out`` is the index.
    Otherwise ``out`` is a folder holding ``report-<account>.html`` per account and,
    with several accounts, ``index.html``.
    """
    out = Path(out)
    if out.suffix.lower() in (".html", ".htm"):
        if len(account_ids) == 1:
            return [out], None
        folder, stem, index = out.parent, out.stem, out
    else:
        folder, stem, index = out, "report", out / "index.html"
    pages = [folder / f"{stem}-{_SAFE_NAME.sub('_', a)}.html" for a in account_ids]
    return pages, (index if len(account_ids) > 1 else None)


def write_report(
    warehouse: Any,
    out: str | os.PathLike[str],
    *,
    accounts: Any = None,
    generated_at: datetime | None = None,
) -> list[Path]:
    """Write one self-contained HTML page per account (and an index when several).

    ``warehouse`` is a :class:`sellerops.warehouse.Warehouse` whose models are built.
    ``out`` is a ``.html`` file or a folder (see :func:`output_paths`). ``accounts``
    limits the report to these accounts (ids, :class:`~sellerops.accounts.Account`
    objects or an ``AccountsFile``); default: every account in the warehouse.
    Returns the account pages in account order, then the index if one was written.
    """
    generated_at = generated_at or datetime.now(UTC).replace(microsecond=0)
    bundle = vega_bundle()
    with warehouse.connect() as conn:
        selected = _select_accounts(known_accounts(conn), _account_ids(accounts))
        as_of = _as_of(conn)
        rendered = []
        for info in selected:
            summary = report_charts.account_summary(conn, info.account_id)
            charts = report_charts.account_charts(conn, info.account_id)
            rendered.append((info, summary, charts))
    pages, index = output_paths(out, [info.account_id for info, _, _ in rendered])
    written = []
    for (info, summary, charts), path in zip(rendered, pages, strict=True):
        page = render_account_page(
            info, summary, charts, bundle=bundle, as_of=as_of, generated_at=generated_at
        )
        _write_atomic(path, page)
        written.append(path)
        log.info("report for %s: %s (%d charts)", info.account_id, path, len(charts))
    if index is not None:
        entries = [
            (info, summary, path) for (info, summary, _), path in zip(rendered, pages, strict=True)
        ]
        _write_atomic(index, render_index(entries, index, as_of=as_of, generated_at=generated_at))
        written.append(index)
        log.info("report index: %s", index)
    return written


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


# -- HTML --------------------------------------------------------------------------------

CSS = """
:root { color-scheme: light; --ink: #1f2933; --muted: #5f6b7a; --line: #dde3ea; --accent: #2563eb; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans",
  "DejaVu Sans", sans-serif; color: var(--ink); background: #f5f7fa; }
main { max-width: 1300px; margin: 0 auto; padding: 24px 28px 48px; }
header h1 { font-size: 26px; margin: 0 0 4px; }
header p { margin: 2px 0; color: var(--muted); }
nav { margin: 16px 0 8px; display: flex; flex-wrap: wrap; gap: 6px 14px; }
nav a { color: var(--accent); text-decoration: none; }
nav a:hover { text-decoration: underline; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px;
  padding: 16px 20px 18px; margin: 18px 0; overflow-x: auto; }
section h2 { font-size: 18px; margin: 0 0 4px; }
p.description { margin: 0 0 12px; color: var(--muted); max-width: 980px; }
ul.notes { margin: 10px 0 0; padding-left: 18px; color: var(--ink); }
table.summary { border-collapse: collapse; width: 100%; font-size: 13px; }
table.summary th, table.summary td { padding: 6px 8px; border-bottom: 1px solid var(--line);
  text-align: right; white-space: nowrap; }
table.summary th:first-child, table.summary td:first-child { text-align: left; }
table.summary thead th { color: var(--muted); font-weight: 600; white-space: normal;
  vertical-align: bottom; }
table.summary small { color: var(--muted); }
table.summary .left { text-align: left; }
.chart { min-height: 40px; }
.chart[data-rendered="error"] { color: #b91c1c; }
footer { color: var(--muted); font-size: 12px; margin-top: 28px; }
.vega-embed { width: auto; }
@media print { body { background: #fff; } section { break-inside: avoid; border: 0; } nav { display: none; } }
"""

BOOTSTRAP_JS = """
(function () {
  "use strict";
  var root = document.documentElement;
  var holders = Array.prototype.slice.call(document.querySelectorAll("[data-chart]"));
  root.setAttribute("data-charts-expected", String(holders.length));
  if (typeof window.vegaEmbed !== "function") {
    root.setAttribute("data-report-status", "failed");
    console.error("SellerOps report: the Vega bundle did not load");
    return;
  }
  var jobs = holders.map(function (el) {
    var key = el.getAttribute("data-chart");
    var spec;
    try {
      spec = JSON.parse(document.getElementById(el.getAttribute("data-spec")).textContent);
    } catch (error) {
      return Promise.reject(error);
    }
    return window.vegaEmbed(el, spec, {
      renderer: "svg",
      downloadFileName: el.getAttribute("data-download-name") || key,
      actions: { export: true, source: false, compiled: false, editor: false }
    }).then(function (result) {
      el.setAttribute("data-rendered", "true");
      return result;
    }).catch(function (error) {
      el.setAttribute("data-rendered", "error");
      el.textContent = "This chart could not be drawn: " + error;
      console.error("SellerOps report: chart " + key + " failed", error);
      throw error;
    });
  });
  Promise.allSettled(jobs).then(function (outcomes) {
    var drawn = outcomes.filter(function (o) { return o.status === "fulfilled"; }).length;
    root.setAttribute("data-charts-rendered", String(drawn));
    root.setAttribute("data-report-status", drawn === holders.length ? "rendered" : "failed");
  });
})();
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _json_for_script(value: Any) -> str:
    """JSON safe inside <script type="application/json">: no '<' can end the element."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _money(value: Any, currency: str | None) -> str:
    if value is None:
        return "n/a"
    digits = 0 if currency in ("JPY",) else 2
    return f"{float(value):,.{digits}f} {currency or ''}".strip()


def _int(value: Any) -> str:
    return "n/a" if value is None else f"{int(value):,}"


def _pct(value: Any, digits: int = 1) -> str:
    return "n/a" if value is None else f"{100 * float(value):.{digits}f}%"


def _minutes(value: Any) -> str:
    if value is None:
        return "n/a"
    minutes = float(value)
    return f"{minutes:.0f} min" if minutes < 120 else f"{minutes / 60:.1f} h"


def _when(value: datetime | None) -> str:
    return "n/a" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _summary_table(summary: Any) -> str:
    rows = records(summary)
    if not rows:
        return '<p class="description">No orders, returns, feedback or messages yet.</p>'
    head = (
        "<tr><th>Marketplace</th><th>Period</th><th>Orders</th><th>Revenue</th><th>Buyers</th>"
        "<th>Repurchase</th><th>Return rate</th><th>Refund rate</th>"
        "<th>Negative feedback 30 d</th><th>Median first reply</th><th>Replied in 24 h</th></tr>"
    )
    body = []
    for r in rows:
        body.append(
            "<tr>"
            f"<td>{_e(r['country_code'] or r['marketplace_id'])}<br>"
            f"<small>{_e(r['marketplace_id'])}</small></td>"
            f"<td>{_e(r['first_day'])}<br>– {_e(r['last_day'])}</td>"
            f"<td>{_int(r['orders'])}</td>"
            f"<td>{_e(_money(r['revenue'], r['currency']))}</td>"
            f"<td>{_int(r['buyers'])}</td>"
            f"<td>{_pct(r['repurchase_rate'])}</td>"
            f"<td>{_pct(r['return_rate'])}</td>"
            f"<td>{_pct(r['refund_rate'])}</td>"
            f"<td>{_pct(r['negative_feedback_rate_30d'], 2)}</td>"
            f"<td>{_minutes(r['median_first_reply_minutes'])}</td>"
            f"<td>{_pct(r['replied_within_24h_share'], 0)}</td>"
            "</tr>"
        )
    return f'<table class="summary"><thead>{head}</thead><tbody>{"".join(body)}</tbody></table>'


def _chart_section(chart: Chart, account_id: str) -> str:
    spec_id = f"spec-{chart.key}"
    notes = "".join(f"<li>{_e(n)}</li>" for n in chart.notes if not chart.empty)
    return (
        f'<section id="section-{_e(chart.key)}" class="chart-section">'
        f"<h2>{_e(chart.title)}</h2>"
        f'<p class="description">{_e(chart.description)}</p>'
        f'<div class="chart" id="chart-{_e(chart.key)}" data-chart="{_e(chart.key)}" '
        f'data-spec="{_e(spec_id)}" data-empty="{"true" if chart.empty else "false"}" '
        f'data-download-name="{_e(_SAFE_NAME.sub("_", account_id))}-{_e(chart.key)}"></div>'
        + (f'<ul class="notes">{notes}</ul>' if notes else "")
        + f'<script type="application/json" id="{_e(spec_id)}">{_json_for_script(chart.spec())}</script>'
        "</section>"
    )


def render_account_page(
    info: AccountInfo,
    summary: Any,
    charts: list[Chart],
    *,
    bundle: VegaBundle,
    as_of: datetime | None,
    generated_at: datetime,
) -> str:
    """The HTML of one account's page (everything inline)."""
    marketplaces = ", ".join(r["label"] for r in records(summary)) or "none yet"
    nav = "".join(f'<a href="#section-{_e(c.key)}">{_e(c.title)}</a>' for c in charts)
    sections = "".join(_chart_section(c, info.account_id) for c in charts)
    title = f"SellerOps KPI report: {info.display_name}"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{_e(CONTENT_SECURITY_POLICY)}">
<meta name="generator" content="SellerOps report; {_e(bundle.describe())}">
<title>{_e(title)}</title>
<style>{CSS}</style>
</head>
<body data-account="{_e(info.account_id)}" data-chart-count="{len(charts)}">
<main>
<header>
<h1>{_e(info.display_name)}</h1>
<p>Account <strong>{_e(info.account_id)}</strong> · seller time zone {_e(info.seller_time_zone or "UTC")} · marketplaces: {_e(marketplaces)}</p>
<p>Data as of {_e(_when(as_of))} · generated {_e(_when(generated_at))}</p>
</header>
<noscript><p><strong>This report draws its charts with JavaScript; enable it to see them.</strong></p></noscript>
<nav>{nav}</nav>
<section id="section-summary"><h2>Headline figures</h2>
<p class="description">All history in the warehouse, non-cancelled orders; revenue is item price less promotions.</p>
{_summary_table(summary)}</section>
{sections}
<footer>SellerOps KPI report, built from the warehouse marts (aggregates only: no buyer is identifiable here).
Charts: {_e(bundle.describe())}, inlined in this file, so it opens without a network connection.</footer>
</main>
<script>
{bundle.javascript}
</script>
<script>{BOOTSTRAP_JS}</script>
</body>
</html>
"""


def render_index(
    entries: Iterable[tuple[AccountInfo, Any, Path]],
    index_path: Path,
    *,
    as_of: datetime | None,
    generated_at: datetime,
) -> str:
    """The index page linking every account's page (no JavaScript)."""
    rows = []
    for info, summary, path in entries:
        link = os.path.relpath(path, index_path.parent)
        for i, r in enumerate(records(summary) or [None]):
            first = i == 0
            rows.append(
                "<tr>"
                + (
                    f'<td><a href="{_e(link)}">{_e(info.display_name)}</a><br>'
                    f"<small>{_e(info.account_id)}</small></td>"
                    if first
                    else "<td></td>"
                )
                + (
                    f'<td class="left">{_e(r["label"])}</td><td>{_int(r["orders"])}</td>'
                    f"<td>{_e(_money(r['revenue'], r['currency']))}</td>"
                    f"<td>{_int(r['buyers'])}</td><td>{_pct(r['return_rate'])}</td>"
                    f"<td>{_pct(r['negative_feedback_rate_30d'], 2)}</td>"
                    if r
                    else '<td colspan="6">no data yet</td>'
                )
                + "</tr>"
            )
    head = (
        '<tr><th>Account</th><th class="left">Marketplace</th><th>Orders</th><th>Revenue</th><th>Buyers</th>'
        "<th>Return rate</th><th>Negative feedback 30 d</th></tr>"
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{_e(CONTENT_SECURITY_POLICY)}">
<title>SellerOps KPI reports</title>
<style>{CSS}</style>
</head>
<body data-report-index="true">
<main>
<header><h1>SellerOps KPI reports</h1>
<p>Data as of {_e(_when(as_of))} · generated {_e(_when(generated_at))}</p></header>
<section><h2>Accounts</h2>
<table class="summary"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table></section>
<footer>One self-contained page per seller account; each opens without a network connection.</footer>
</main>
</body>
</html>
"""
