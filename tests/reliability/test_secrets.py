"""Secrets and buyers' personal data never leave the places they belong.

A full demo run (sandbox SP-API and mailbox, ingest, models, tags, live campaigns,
report) runs with distinctive secret values set the way production sets them:
Airflow connections given as ``AIRFLOW_CONN_*`` environment variables (LWA client
id and secret, refresh tokens, the IMAP password) and the pepper from
``SELLEROPS_BUYER_PEPPER`` (and, for the DAG-task run, from the Airflow connection
``sellerops_buyer_pepper``). Then every secret -- raw, URL-encoded, base64 -- is
looked for in the captured logs (root logger at DEBUG, stdout, stderr), every
exception of runs with injected authentication failures, every value the DAG task
callables return (their XComs), every table and view of the warehouse (all columns
as text) and every file under the data directory. The buyers' e-mails and names
from the sandbox world are looked for in the same places (the sandbox serves no
street lines or phone numbers, so there are none to look for).
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import logging
import socket
import tempfile
import threading
import traceback
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
import sqlalchemy as sa

from sellerops import identity, ingest, migrations
from sellerops.accounts import load_accounts
from sellerops.sandbox import service
from sellerops.warehouse import connect

CLIENT_ID = "amzn1.application-oa2-client.LEAKCHECK-cid-4b1e"
CLIENT_SECRET = "amzn1.oa2-cs.v1.LEAKCHECK/client+secret=9f27"
REFRESH_SUFFIX = "LEAKCHECK/refresh+token=c3d8"
IMAP_PASSWORD = "LEAKCHECK/imap+password=71aa"
PEPPER = "LEAKCHECK/buyer+pepper=e5f0"

# The sandbox's own files play the outside world (the seller's mailbox, Amazon's
# records, the generator's answer key): they hold buyers' e-mails by design.
OUTSIDE_WORLD = ("sandbox", "sandbox_truth.json")


def refresh_token(account_id: str) -> str:
    return f"Atzr|{account_id}|{REFRESH_SUFFIX}"


def secret_values(account_ids) -> dict[str, str]:
    values = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "refresh_token_suffix": REFRESH_SUFFIX,
        "imap_password": IMAP_PASSWORD,
        "pepper": PEPPER,
    }
    for account_id in account_ids:
        values[f"refresh_token[{account_id}]"] = refresh_token(account_id)
    return values


def variants(value: str) -> set[str]:
    """The forms a secret takes on the way out: raw, URL-encoded, base64, JSON-escaped."""
    raw = value.encode()
    forms = {
        value,
        quote(value, safe=""),
        quote_plus(value),
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode(),
        base64.b64encode(raw).decode().rstrip("="),
        json.dumps(value)[1:-1],
        raw.hex(),
    }
    return {f for f in forms if len(f) >= 8}


class Scanner:
    """Looks for needles (each in all its forms) in text, bytes, tables and files."""

    def __init__(self, needles: dict[str, str], *, encoded: bool = True):
        self.needles = {
            name: sorted(variants(value) if encoded else {value}) for name, value in needles.items()
        }
        self.findings: dict[str, set[str]] = {}

    def _note(self, where: str, names: set[str]) -> None:
        if names:
            self.findings.setdefault(where, set()).update(names)

    def text(self, where: str, text: str) -> None:
        self._note(where, {n for n, forms in self.needles.items() if any(f in text for f in forms)})

    def data(self, where: str, data: bytes) -> None:
        self._note(
            where,
            {n for n, forms in self.needles.items() if any(f.encode() in data for f in forms)},
        )

    def warehouse(self, wh) -> int:
        """Every table and view of every schema, all columns as text; returns cells read."""
        cells = 0
        with wh.connect() as conn:
            relations = conn.exec_driver_sql(
                "SELECT table_schema, table_name FROM information_schema.tables "
                "WHERE table_schema NOT IN ('information_schema', 'pg_catalog')"
            ).fetchall()
            quote_id = conn.dialect.identifier_preparer.quote
            for schema, table in relations:
                name = f"{quote_id(schema)}.{quote_id(table)}"
                rows = conn.exec_driver_sql(f"SELECT * FROM {name}").fetchall()  # noqa: S608
                text = "\n".join("\t".join(str(v) for v in row) for row in rows)
                cells += sum(len(row) for row in rows)
                self.text(f"warehouse {schema}.{table}", text)
        return cells

    def files(self, root: Path, *, skip: tuple[str, ...] = ()) -> int:
        count = 0
        for path in sorted(root.rglob("*")):
            relative = path.relative_to(root)
            if not path.is_file() or (relative.parts and relative.parts[0] in skip):
                continue
            self.data(f"file {relative}", path.read_bytes())
            count += 1
        return count


def _configure_airflow_logging() -> None:
    """Let Airflow configure logging now: it replaces the root handlers when it does."""
    import airflow.settings  # noqa: F401 - loads the configuration and logging
    from airflow.sdk import BaseHook

    with contextlib.suppress(Exception):
        BaseHook.get_connection("sellerops_no_such_connection")


@pytest.fixture(scope="module", autouse=True)
def airflow_logging_configured():
    """Configure Airflow's logging before any test captures output, not inside one."""
    _configure_airflow_logging()


class _AllLevels:
    """Every logger, existing or created later, at DEBUG and enabled; restored after."""

    def __enter__(self):
        self.saved = {}
        self.original_get_logger = logging.Manager.getLogger
        manager = logging.Logger.manager

        def get_logger(manager_self, name):
            logger = self.original_get_logger(manager_self, name)
            self._lower(logger)
            return logger

        logging.Manager.getLogger = get_logger
        for logger in [logging.getLogger(), *manager.loggerDict.values()]:
            if isinstance(logger, logging.Logger):
                self._lower(logger)
        return self

    def _lower(self, logger: logging.Logger) -> None:
        if logger.name not in self.saved:
            self.saved[logger.name] = (logger, logger.level, logger.disabled)
        if logger.level > logging.DEBUG or logger is logging.getLogger():
            logger.setLevel(logging.DEBUG)
        logger.disabled = False

    def __exit__(self, *exc):
        logging.Manager.getLogger = self.original_get_logger
        for logger, level, disabled in self.saved.values():
            logger.setLevel(level)
            logger.disabled = disabled


@contextlib.contextmanager
def captured_logs():
    """Every log record of every logger at DEBUG, formatted with tracebacks."""
    _configure_airflow_logging()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        with _AllLevels():
            yield stream
            # Nothing replaced the handler midway (the capture is complete).
            assert handler in root.handlers and root.level == logging.DEBUG
    finally:
        root.removeHandler(handler)


def _with_secrets(values: dict[str, str], imap: tuple[str, int] | None = None) -> dict[str, str]:
    """The sandbox's connection variables, rewritten to carry the known secret values."""
    out = dict(values)
    for key, text in values.items():
        if not key.startswith("AIRFLOW_CONN_"):
            continue
        conn = json.loads(text)
        extra = conn.setdefault("extra", {})
        if key.startswith("AIRFLOW_CONN_SELLEROPS_SPAPI_"):
            account_id = extra["refresh_token"].split("|")[1]
            conn["login"] = CLIENT_ID
            conn["password"] = CLIENT_SECRET
            extra["refresh_token"] = refresh_token(account_id)
        elif key.startswith("AIRFLOW_CONN_SELLEROPS_MAILBOX_"):
            conn["login"] = "seller@example.com"
            conn["password"] = IMAP_PASSWORD
            if imap is not None:  # read over IMAP instead of the Maildir
                conn.update(conn_type="imap", host=imap[0], port=imap[1])
                extra.pop("maildir", None)
                extra["ssl"] = False
        out[key] = json.dumps(conn)
    return out


@pytest.fixture
def secret_connections(monkeypatch):
    """Every sandbox environment started in the test carries the known secrets."""
    original = service._environment
    state = {"imap": None, "worlds": []}

    def environment(values):
        return original(_with_secrets(values, state["imap"]))

    original_make_world = service.make_world

    def make_world(**options):
        world = original_make_world(**options)
        state["worlds"].append(world)
        return world

    monkeypatch.setattr(service, "_environment", environment)
    monkeypatch.setattr(service, "make_world", make_world)
    from sellerops.sandbox.client import clear_token_cache

    clear_token_cache()
    yield state
    clear_token_cache()


def _buyer_values(world) -> dict[str, str]:
    buyers = world.buyers
    values = {f"email {e}": e for e in buyers["email"]}
    # Names shorter than 6 characters are common substrings; every generated name is longer.
    values.update({f"name {n}": n for n in buyers["name"] if len(n) >= 6})
    return values


def _run_dag_task_callables(tmp: Path, monkeypatch) -> list:
    """The DAG tasks' callables in DAG order over a small sandbox; their return values."""
    from sellerops.assets import INGEST_TASKS
    from sellerops.campaigns.planner import run_plan_task
    from sellerops.campaigns.results import run_results_task
    from sellerops.campaigns.sender import run_send_task
    from sellerops.dag_tasks import run_build, run_ingest
    from sellerops.report import write_report
    from sellerops.tags.materialise import run_tags_task

    # The pepper from the Airflow connection this time, not the environment.
    monkeypatch.delenv(identity.PEPPER_ENV, raising=False)
    monkeypatch.setenv(
        "AIRFLOW_CONN_SELLEROPS_BUYER_PEPPER",
        json.dumps({"conn_type": "generic", "password": PEPPER}),
    )
    assert identity.load_pepper() == PEPPER.encode()
    monkeypatch.setenv("SELLEROPS_WAREHOUSE_URL", f"duckdb:///{tmp / 'dag.duckdb'}")
    migrations.upgrade(connect())
    xcoms: list = []
    world = service.make_world(seed=11, days=10, orders_per_day=3)
    with service.sandbox_environment(tmp / "dag-sandbox", world=world):
        units = load_accounts().quota_units()  # the quota_units task
        xcoms.append(units)
        for spec in INGEST_TASKS.values():
            for unit in units:
                xcoms.append(run_ingest(spec["groups"], unit, world.start, world.end))
        xcoms.append(run_build())
        xcoms.append(run_tags_task())
        xcoms.append(run_plan_task("scheduled__leakcheck"))
        xcoms.append(run_send_task("scheduled__leakcheck"))
        xcoms.append(run_results_task("scheduled__leakcheck"))
        from sellerops.paths import data_dir

        xcoms.append([str(p) for p in write_report(connect(), data_dir() / "report.html")])
        from sellerops.privacy import run_purge_task

        (tmp / "tmp").mkdir()
        monkeypatch.setattr(tempfile, "tempdir", str(tmp / "tmp"))  # not the shared /tmp
        xcoms.append(run_purge_task())  # sellerops_maintenance
    return xcoms


def _auth_failures(tmp: Path, state) -> list[str]:
    """Exceptions (with their chains) from runs whose credentials are refused."""
    from sellerops.sources.spapi import SpApiCredentials, SpApiSession

    texts: list[str] = []
    world = service.make_world(seed=5, days=3, orders_per_day=2)

    def record(exc: BaseException) -> None:
        texts.append("".join(traceback.format_exception(exc)))
        texts.append(repr(exc))
        texts.append(repr(getattr(exc, "__dict__", {})))

    # 1. The refresh token is refused by LWA (invalid_grant).
    with service.sandbox_environment(tmp / "auth-sandbox", world=world) as env:
        accounts = load_accounts(env.accounts_file)
        account = accounts.accounts[0]
        credentials = SpApiCredentials.from_connection(account.spapi_conn_id)
        # The known secrets really are what the pipeline reads from the connections.
        assert (credentials.client_id, credentials.client_secret, credentials.refresh_token) == (
            CLIENT_ID,
            CLIENT_SECRET,
            refresh_token(account.account_id),
        )
        bad = SpApiCredentials(
            client_id=credentials.client_id,
            client_secret=credentials.client_secret,
            refresh_token=REFRESH_SUFFIX,  # not an Atzr| token: LWA answers invalid_grant
            endpoint=credentials.endpoint,
            token_url=credentials.token_url,
            time_scale=credentials.time_scale,
        )
        session = SpApiSession(account.account_id, bad, max_attempts=2, base_delay=0.01)
        wh = connect(f"duckdb:///{tmp / 'auth.duckdb'}")
        migrations.upgrade(wh)
        with pytest.raises(Exception) as refused:
            ingest.ingest_window(
                wh,
                account,
                account.marketplaces[0],
                world.end - timedelta(days=1),
                world.end,
                groups=["orders"],
                pepper=PEPPER.encode(),
                spapi_session=session,
            )
        record(refused.value)

    # 2. The IMAP server refuses the password.
    with fake_imap_refusing_login() as (host, port, logins):
        state["imap"] = (host, port)
        try:
            with service.sandbox_environment(tmp / "imap-sandbox", world=world) as env:
                account = load_accounts(env.accounts_file).accounts[0]
                with pytest.raises(Exception) as refused:
                    ingest.ingest_window(
                        wh,
                        account,
                        account.marketplaces[0],
                        world.end - timedelta(days=1),
                        world.end,
                        groups=["messages"],
                        pepper=PEPPER.encode(),
                    )
                record(refused.value)
        finally:
            state["imap"] = None
    assert len(texts) == 6 and "AUTHENTICATIONFAILED" in texts[3]
    assert len(logins) == 1 and IMAP_PASSWORD in logins[0]  # the password was really sent
    return texts


@contextlib.contextmanager
def fake_imap_refusing_login():
    """A minimal IMAP server on 127.0.0.1 that answers every LOGIN with NO."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    server.settimeout(0.2)
    stop = threading.Event()
    logins: list[str] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                client, _ = server.accept()
            except OSError:
                continue
            with client, client.makefile("rwb") as stream:
                stream.write(b"* OK IMAP4rev1 fake ready\r\n")
                stream.flush()
                for line in stream:
                    tag, _, command = line.decode().strip().partition(" ")
                    verb = command.split(" ", 1)[0].upper()
                    if verb == "CAPABILITY":
                        stream.write(b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n")
                        stream.write(f"{tag} OK CAPABILITY completed\r\n".encode())
                    elif verb == "LOGIN":
                        logins.append(command)
                        stream.write(
                            f"{tag} NO [AUTHENTICATIONFAILED] Authentication failed.\r\n".encode()
                        )
                    elif verb == "LOGOUT":
                        stream.write(b"* BYE\r\n" + f"{tag} OK LOGOUT completed\r\n".encode())
                        stream.flush()
                        break
                    else:
                        stream.write(f"{tag} BAD unsupported\r\n".encode())
                    stream.flush()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        host, port = server.getsockname()
        yield host, port, logins
    finally:
        stop.set()
        thread.join(timeout=5)
        server.close()


def test_full_run_leaks_no_secret_and_no_personal_data(
    secret_connections, tmp_path, monkeypatch, capfd
):
    from sellerops import demo

    data = tmp_path / "data"
    monkeypatch.setenv("SELLEROPS_DATA_DIR", str(data))
    monkeypatch.setenv(identity.PEPPER_ENV, PEPPER)
    monkeypatch.delenv("SELLEROPS_WAREHOUSE_URL", raising=False)
    with captured_logs() as logs:
        # The pepper the way production loads it: from the environment.
        assert demo.run(days=14, seed=3, orders_per_day=4, pepper=identity.load_pepper()) == 0
        xcoms = _run_dag_task_callables(tmp_path, monkeypatch)
        exceptions = _auth_failures(tmp_path, secret_connections)
    out, err = capfd.readouterr()
    demo_world = secret_connections["worlds"][0]
    account_ids = [a.account_id for a in demo_world.accounts]

    secrets = Scanner(secret_values(account_ids))
    personal = Scanner(_buyer_values(demo_world), encoded=False)
    for scanner in (secrets, personal):
        scanner.text("logs", logs.getvalue())
        scanner.text("stdout", out)
        scanner.text("stderr", err)
        scanner.text("XComs", json.dumps(xcoms, default=str))
    for index, text in enumerate(exceptions):
        secrets.text(f"exception {index}", text)

    wh = connect(f"duckdb:///{data / 'sellerops.duckdb'}")
    cells = secrets.warehouse(wh)
    personal.warehouse(wh)
    dag_wh = connect(f"duckdb:///{tmp_path / 'dag.duckdb'}")
    secrets.warehouse(dag_wh)
    files = secrets.files(data)
    personal.files(data, skip=OUTSIDE_WORLD)

    # The scans looked at real material: a full warehouse, the report, the exports.
    assert cells > 10_000
    assert (data / "report.html").exists()
    assert list((data / "campaigns" / "exports").rglob("*.csv"))
    assert list((data / "data_docs").rglob("*.html"))
    assert files > 20
    assert len(logs.getvalue()) > 10_000 and "searchOrders" in logs.getvalue()
    assert len(xcoms) > 10 and any(isinstance(x, list) and x and "batch_id" in x[0] for x in xcoms)
    assert len(personal.needles) > 100
    # The buyers were keyed with the known pepper (it was really in use).
    with wh.connect() as conn:
        email_keys = {r[0] for r in conn.exec_driver_sql("SELECT buyer_email_key FROM core.orders")}
    expected = {identity.key_from_email(PEPPER.encode(), e) for e in demo_world.buyers["email"]}
    assert len(email_keys & expected) > 10

    assert secrets.findings == {}
    assert personal.findings == {}


# -- the scanner itself ------------------------------------------------------------------------


def test_scan_finds_a_secret_planted_in_a_log_record():
    scanner = Scanner(secret_values(["acme-outdoor"]))
    with captured_logs() as logs:
        logging.getLogger("sellerops.ingest").debug("token request %s", {"rt": REFRESH_SUFFIX})
        logging.getLogger("httpx").debug("body client_secret=%s", quote_plus(CLIENT_SECRET))
        logging.getLogger("x").info("auth %s", base64.b64encode(PEPPER.encode()).decode())
    scanner.text("logs", logs.getvalue())
    assert scanner.findings == {"logs": {"refresh_token_suffix", "client_secret", "pepper"}}


def test_scan_finds_secrets_and_buyers_in_tables_and_files(duckdb_warehouse, tmp_path):
    with duckdb_warehouse.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO ops.quarantine (batch_id, dataset, row_number, reason, row_values, "
                "quarantined_at) VALUES ('b1', 'orders', 0, 'bad', :v, CURRENT_TIMESTAMP)"
            ),
            {"v": json.dumps({"note": "Jane Example-Buyer", "rt": refresh_token("acme-outdoor")})},
        )
    (tmp_path / "files" / "campaigns").mkdir(parents=True)
    (tmp_path / "files" / "campaigns" / "x.csv").write_text(quote(IMAP_PASSWORD, safe=""))
    (tmp_path / "files" / "sandbox").mkdir()
    (tmp_path / "files" / "sandbox" / "mail").write_text("jane@example.test")

    secrets = Scanner(secret_values(["acme-outdoor"]))
    assert secrets.warehouse(duckdb_warehouse) >= 8
    secrets.files(tmp_path / "files")
    personal = Scanner({"email": "jane@example.test", "name": "Jane Example-Buyer"}, encoded=False)
    personal.warehouse(duckdb_warehouse)
    personal.files(tmp_path / "files", skip=("sandbox",))
    assert secrets.findings == {
        "warehouse ops.quarantine": {"refresh_token_suffix", "refresh_token[acme-outdoor]"},
        "file campaigns/x.csv": {"imap_password"},
    }
    assert personal.findings == {"warehouse ops.quarantine": {"name"}}


# -- Airflow's masking ---------------------------------------------------------------------------


def test_connection_secrets_are_masked_in_airflow_task_logs(monkeypatch):
    """Reading the connections registers every secret with Airflow's masker: a task log
    line through Airflow's masking processor (and its stdlib filter) shows ***."""
    from airflow.sdk._shared.secrets_masker import _secrets_masker
    from airflow.sdk.log import mask_logs

    from sellerops.sources.spapi import SpApiCredentials

    monkeypatch.setenv(
        "AIRFLOW_CONN_SELLEROPS_SPAPI_MASKCHECK",
        json.dumps(
            {
                "conn_type": "generic",
                "login": CLIENT_ID,
                "password": CLIENT_SECRET,
                "extra": {"refresh_token": refresh_token("maskcheck")},
            }
        ),
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_SELLEROPS_MAILBOX_MASKCHECK",
        json.dumps(
            {
                "conn_type": "imap",
                "host": "127.0.0.1",
                "login": "seller@example.com",
                "password": IMAP_PASSWORD,
            }
        ),
    )
    monkeypatch.setenv(identity.PEPPER_ENV, PEPPER)
    _secrets_masker().reset_masker()

    credentials = SpApiCredentials.from_connection("sellerops_spapi_maskcheck")
    assert credentials.refresh_token == refresh_token("maskcheck")
    assert identity.load_pepper() == PEPPER.encode()
    # The mailbox connection as ingest reads it (the IMAP read itself is not needed).
    from sellerops.accounts import Account

    account = Account(
        account_id="maskcheck",
        name="Mask check",
        spapi_conn_id="sellerops_spapi_maskcheck",
        marketplaces=("ATVPDKIKX0DER",),
        seller_time_zone="UTC",
        mailbox_conn_id="sellerops_mailbox_maskcheck",
    )
    ctx = ingest.IngestContext(account, "ATVPDKIKX0DER", None, None, b"", Path("."))
    monkeypatch.setattr("sellerops.sources.mailbox.read_imap", lambda *a, **k: iter(()))
    ingest._read_mailbox(ctx)

    for name, value in {
        "client_secret": CLIENT_SECRET,
        "refresh_token": refresh_token("maskcheck"),
        "refresh_token_in_a_form": "grant_type=refresh_token&refresh_token="
        + quote_plus(refresh_token("maskcheck")),
        "imap_password": IMAP_PASSWORD,
        "pepper": PEPPER,
    }.items():
        line = f"task says {name}: {value} (end)"
        event = mask_logs(None, "info", {"event": line})["event"]
        assert event.startswith(f"task says {name}: ") and "***" in event, event
        assert value not in event and "LEAKCHECK" not in event, event

        record = logging.LogRecord("sellerops", logging.INFO, __file__, 1, line, None, None)
        masker = _secrets_masker()
        enabled = masker.is_log_masking_enabled()
        masker.enable_log_masking()  # as the task runner does
        try:
            masker.filter(record)
        finally:
            if not enabled:
                masker.disable_log_masking()
        assert "LEAKCHECK" not in record.getMessage() and "***" in record.getMessage()
