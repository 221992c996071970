"""The KPI report end to end: sandbox -> warehouse -> marts -> HTML -> headless Chromium.

A small sandbox world (2 accounts x 2 marketplaces, 20 days) is ingested into a
DuckDB warehouse, the models and buyer tags are built, and the report is written.
Each page must have every chart section, carry no buyer key and nothing fetched
from elsewhere, and render in Debian's Chromium (installed by the test when
missing; a failure on CI) with every chart drawn and no console error or warning.
A full-page screenshot of each page is saved under the test's tmp folder and its
path printed (``pytest -s`` or ``-rA`` shows it).

The browser is driven over the DevTools protocol (a websocket, ``websockets``):
console messages, uncaught exceptions, browser log entries (CSP violations,
failed loads) and every network request are recorded while the page loads.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import queue
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from sellerops import identity, ingest, migrations, warehouse
from sellerops.accounts import load_accounts
from sellerops.models.runner import build
from sellerops.report import CHART_KEYS, write_report
from sellerops.sandbox.service import (
    SANDBOX_CLIENT_SECRET,
    make_world,
    sandbox_environment,
)
from sellerops.sources.spapi import SpApiCredentials, SpApiSession
from sellerops.testing.system_packages import require_debian_package

CHROMIUM = "/usr/bin/chromium"
PEPPER = identity.DEVELOPMENT_PEPPER.encode()
RENDER_TIMEOUT = 90.0


# -- the report over a sandbox warehouse ------------------------------------------------


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> SimpleNamespace:
    root = tmp_path_factory.mktemp("report")
    wh = warehouse.connect(f"duckdb:///{root / 'warehouse.duckdb'}")
    migrations.upgrade(wh)
    world = make_world(seed=11, days=20, orders_per_day=5)
    with sandbox_environment(root / "sandbox", world=world) as env:
        accounts = load_accounts(env.accounts_file)
        for account in accounts.accounts:
            session = SpApiSession(
                account.account_id, SpApiCredentials.from_connection(account.spapi_conn_id)
            )
            for marketplace_id in account.marketplaces:
                ingest.ingest_window(
                    wh,
                    account,
                    marketplace_id,
                    world.start,
                    world.end,
                    pepper=PEPPER,
                    spapi_session=session,
                )
        build(wh, accounts=accounts, catalog_path=env.workdir / "catalog.csv")
        secrets = [SANDBOX_CLIENT_SECRET, PEPPER.decode()]
        for value in env.connections.values():
            connection = json.loads(value)
            secrets += [connection.get("password"), connection["extra"].get("refresh_token")]
        secrets = [s for s in secrets if s]
    from sellerops.tags.materialise import materialise_tags

    materialise_tags(wh)
    out = root / "out" / "report.html"
    paths = write_report(wh, out)
    yield SimpleNamespace(
        wh=wh, root=root, out=out, paths=paths, accounts=accounts, secrets=secrets
    )
    wh.dispose()


def _rows(wh, sql: str) -> list[tuple]:
    with wh.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql(sql).fetchall()]


def test_one_page_per_account_and_an_index(report):
    ids = [a.account_id for a in report.accounts.accounts]
    assert len(ids) == 2
    assert report.paths == [
        *(report.out.parent / f"report-{a}.html" for a in sorted(ids)),
        report.out,
    ]
    index = report.out.read_text(encoding="utf-8")
    for account_id in ids:
        assert f'href="report-{account_id}.html"' in index


def test_every_page_has_every_chart_and_nothing_private_or_remote(report):
    buyer_keys = {k for (k,) in _rows(report.wh, "SELECT buyer_key FROM core.buyer_facts")}
    order_ids = {k for (k,) in _rows(report.wh, "SELECT order_id FROM core.orders")}
    assert len(buyer_keys) > 100 and len(order_ids) > 100
    for path in report.paths:
        text = path.read_text(encoding="utf-8")
        # Self-contained: no element of the page (outside the inlined scripts) loads
        # anything, no script has a src, and the page tells the browser to fetch nothing.
        markup = re.sub(r"(<script\b[^>]*>).*?</script>", r"\1</script>", text, flags=re.S)
        assert not re.search(r"\ssrc\s*=", markup, re.IGNORECASE)
        assert not re.search(r"<link\b", markup, re.IGNORECASE)
        csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', markup)
        assert csp and html.unescape(csp.group(1)).startswith("default-src 'none';")
        assert "cdn.jsdelivr" not in text and "unpkg.com" not in text
        # Aggregates only: no buyer key, no order id, no credential.
        words = set(re.findall(r"[A-Za-z0-9+/=_-]{12,}", text))
        assert not words & buyer_keys
        assert not [o for o in order_ids if o in text]
        assert not [s for s in report.secrets if s in text]
        assert "refresh_token" not in text
    for path in report.paths[:-1]:
        text = path.read_text(encoding="utf-8")
        sections = re.findall(r'data-chart="([a-z_]+)"', text)
        assert sections == list(CHART_KEYS)
        for key in CHART_KEYS:
            spec = re.search(
                rf'<script type="application/json" id="spec-{key}">(.*?)</script>', text, re.S
            )
            assert spec, key
            parsed = json.loads(spec.group(1))
            assert parsed["$schema"].startswith("https://vega.github.io/schema/vega-lite/v6")
        assert "window.vegaEmbed=" in text  # the inlined bundle
    # The sandbox has messages, orders, returns and tags: those charts have data.
    first = report.paths[0].read_text(encoding="utf-8")
    for key in ("message_heat_map", "orders_by_region", "returns_by_asin", "tag_group_sizes"):
        assert f'data-chart="{key}" data-spec="spec-{key}" data-empty="false"' in first


def test_pages_render_in_headless_chromium(report, tmp_path):
    chromium = require_debian_package(CHROMIUM, "chromium")
    with Chromium(chromium, tmp_path / "profile") as browser:
        for path in report.paths:
            is_index = path == report.out
            shot = tmp_path / f"{path.stem}.png"
            result = browser.render(path, shot, wait_for_charts=not is_index)
            print(f"screenshot: {shot} ({result.width}x{result.height})")
            assert result.errors == [], f"{path.name}: {result.errors}"
            assert result.warnings == [], f"{path.name}: {result.warnings}"
            assert result.remote_requests == [], f"{path.name} fetched {result.remote_requests}"
            assert shot.stat().st_size > 10_000
            if is_index:
                continue
            assert result.status == "rendered"
            assert result.charts_rendered == len(CHART_KEYS)
            # One SVG per chart, each with drawn marks (not just axes).
            assert [c["key"] for c in result.charts] == list(CHART_KEYS)
            for chart in result.charts:
                assert chart["rendered"] == "true", chart
                assert chart["svgs"] == 1, chart
                assert chart["marks"] > 0, chart
    assert (tmp_path / f"{report.paths[0].stem}.png").exists()


# -- a small DevTools-protocol client ----------------------------------------------------


class RenderResult(SimpleNamespace):
    status: str | None
    charts_rendered: int
    charts: list[dict[str, Any]]
    errors: list[str]
    warnings: list[str]
    remote_requests: list[str]
    width: int
    height: int


CHART_PROBE = """
(() => Array.from(document.querySelectorAll('[data-chart]')).map(el => ({
  key: el.getAttribute('data-chart'),
  rendered: el.getAttribute('data-rendered'),
  svgs: el.querySelectorAll('svg.marks').length,
  marks: el.querySelectorAll('svg.marks g.role-mark > *').length,
})))()
"""


class Chromium:
    """Headless Chromium with one websocket to its DevTools endpoint."""

    def __init__(self, binary: Path, profile: Path) -> None:
        self.binary = binary
        self.profile = profile
        self.process: subprocess.Popen[str] | None = None
        self.ws = None
        self._next_id = 0
        self._events: list[dict[str, Any]] = []

    def __enter__(self) -> Chromium:
        from websockets.sync.client import connect

        self.profile.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                str(self.binary),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--hide-scrollbars",
                "--mute-audio",
                f"--user-data-dir={self.profile}",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its own process group, ended as one in __exit__
        )
        lines: queue.Queue[str] = queue.Queue()

        def pump() -> None:
            assert self.process is not None and self.process.stderr is not None
            for line in self.process.stderr:
                lines.put(line)

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + 60
        url = None
        seen = []
        while url is None and time.monotonic() < deadline:
            try:
                line = lines.get(timeout=1)
            except queue.Empty:
                if self.process.poll() is not None:
                    break
                continue
            seen.append(line)
            match = re.search(r"DevTools listening on (ws://\S+)", line)
            url = match.group(1) if match else None
        if url is None:
            self.__exit__(None, None, None)
            raise RuntimeError(
                "Chromium did not start its DevTools endpoint:\n" + "".join(seen[-20:])
            )
        self.ws = connect(url, max_size=None, open_timeout=30)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.ws is not None:
            self.ws.close()
            self.ws = None
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=15)

    # -- protocol ------------------------------------------------------------------

    def call(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        assert self.ws is not None
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self.ws.send(json.dumps(message))
        deadline = time.monotonic() + RENDER_TIMEOUT
        while True:
            reply = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                self._events.append(reply)

    @contextmanager
    def _page(self) -> Iterator[str]:
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        try:
            yield session
        finally:
            self.call("Target.closeTarget", {"targetId": target})

    def _evaluate(self, session: str, expression: str) -> Any:
        result = self.call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            session,
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"evaluate failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def render(self, path: Path, screenshot: Path, *, wait_for_charts: bool = True) -> RenderResult:
        """Load ``path``, wait until its charts settled, record problems, save a screenshot."""
        self._events.clear()
        with self._page() as session:
            for domain in ("Runtime", "Log", "Network", "Page"):
                self.call(f"{domain}.enable", {}, session)
            self.call(
                "Emulation.setDeviceMetricsOverride",
                {"width": 1400, "height": 1000, "deviceScaleFactor": 1, "mobile": False},
                session,
            )
            self.call("Page.navigate", {"url": path.resolve().as_uri()}, session)
            status = None
            deadline = time.monotonic() + RENDER_TIMEOUT
            while time.monotonic() < deadline:
                ready = self._evaluate(session, "document.readyState")
                status = self._evaluate(
                    session, "document.documentElement.getAttribute('data-report-status')"
                )
                if ready == "complete" and (status or not wait_for_charts):
                    break
                time.sleep(0.25)
            charts = self._evaluate(session, CHART_PROBE) or []
            rendered = int(
                self._evaluate(
                    session, "document.documentElement.getAttribute('data-charts-rendered') || 0"
                )
            )
            time.sleep(0.5)  # let late console messages arrive
            self._evaluate(session, "1")
            metrics = self.call("Page.getLayoutMetrics", {}, session)
            size = metrics.get("cssContentSize") or metrics["contentSize"]
            width, height = 1400, min(int(math.ceil(size["height"])), 16_000)
            self.call(
                "Emulation.setDeviceMetricsOverride",
                {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
                session,
            )
            shot = self.call(
                "Page.captureScreenshot",
                {"format": "png", "captureBeyondViewport": True, "fromSurface": True},
                session,
            )
            screenshot.write_bytes(base64.b64decode(shot["data"]))
        errors, warnings, remote = self._problems()
        return RenderResult(
            status=status,
            charts_rendered=rendered,
            charts=charts,
            errors=errors,
            warnings=warnings,
            remote_requests=remote,
            width=width,
            height=height,
        )

    def _problems(self) -> tuple[list[str], list[str], list[str]]:
        errors, warnings, remote = [], [], []
        for event in self._events:
            method, params = event["method"], event.get("params", {})
            if method == "Runtime.consoleAPICalled":
                text = " ".join(
                    str(a.get("value", a.get("description", ""))) for a in params.get("args", [])
                )
                if params.get("type") in ("error", "assert"):
                    errors.append(f"console.{params['type']}: {text}")
                elif params.get("type") == "warning":
                    warnings.append(f"console.warn: {text}")
            elif method == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails", {})
                errors.append(
                    "uncaught: "
                    + str(details.get("exception", {}).get("description") or details.get("text"))
                )
            elif method == "Log.entryAdded":
                entry = params.get("entry", {})
                if entry.get("level") == "error":
                    errors.append(f"log: {entry.get('text')} {entry.get('url', '')}".strip())
                elif entry.get("level") == "warning":
                    warnings.append(f"log: {entry.get('text')}")
            elif method == "Network.requestWillBeSent":
                url = params.get("request", {}).get("url", "")
                if not url.startswith(("file:", "data:", "blob:", "about:")):
                    remote.append(url)
        return errors, warnings, remote
