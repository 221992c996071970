"""A real Airflow deployment on this machine, for end-to-end tests: CeleryExecutor on
PostgreSQL and Redis, every component in its own process.

:class:`AirflowStack` gives each run a fresh ``AIRFLOW_HOME``, a fresh PostgreSQL
metadata database (also the Celery result backend), an empty Redis database as the
Celery broker and free local ports, then runs ``airflow db migrate``, imports the
pools from ``include/pools.json`` and starts the api-server, the scheduler, the
dag-processor and a Celery worker, each in its own process group. It waits for
their health endpoints, talks to the REST API (``/api/v2``) to unpause and trigger
DAGs and to wait for runs, and on any failure raises :class:`StackError` whose
message holds the tail of every component's log and of the failed tasks' logs.
:meth:`AirflowStack.stop` terminates every process group and drops the database.

Typical use::

    with AirflowStack(tmp_path, env={"SELLEROPS_WAREHOUSE_URL": url}) as stack:
        stack.unpause("sellerops_ingest")
        run = stack.trigger("sellerops_ingest", logical_date=..., data_interval=(a, b))
        stack.wait_for_run("sellerops_ingest", run["dag_run_id"])
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[3]
PG_ADMIN_URL = os.environ.get(
    "SELLEROPS_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_HOST = os.environ.get("SELLEROPS_TEST_REDIS_HOST", "127.0.0.1")
REDIS_PORT = int(os.environ.get("SELLEROPS_TEST_REDIS_PORT", "6379"))
TERMINAL_STATES = {"success", "failed"}

# Variables of the calling process that must not reach the Airflow components.
_DROPPED = ("AIRFLOW__CORE__UNIT_TEST_MODE", "AIRFLOW_CONFIG", "AIRFLOW__CORE__SQL_ALCHEMY_CONN")


class StackError(AssertionError):
    """The stack did not start, or a DAG run failed; the message holds the logs."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _admin_engine():
    import sqlalchemy as sa

    return sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")


@contextlib.contextmanager
def fresh_postgres_database(prefix: str) -> Iterator[str]:
    """A new database on the PostgreSQL server; yields its SQLAlchemy URL, drops it after."""
    import sqlalchemy as sa

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = _admin_engine()
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield sa.engine.make_url(PG_ADMIN_URL).set(database=name).render_as_string(False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def _claim_redis_db() -> int:
    """An empty Redis database other than 0, marked as taken by this process."""
    import redis

    numbers = list(range(1, 16))
    secrets.SystemRandom().shuffle(numbers)
    for number in numbers:
        client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=number)
        try:
            # SET NX on an empty database: two concurrent stacks never share a broker.
            if client.dbsize() == 0 and client.set("sellerops:stack", str(os.getpid()), nx=True):
                return number
        finally:
            client.close()
    raise StackError(f"no empty Redis database among 1-15 on {REDIS_HOST}:{REDIS_PORT}")


def _release_redis_db(number: int) -> None:
    import redis

    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=number)
    try:
        client.flushdb()
    finally:
        client.close()


_NOISE = ("[http.access]", '"GET /health HTTP')


def _tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a log, without access-log lines."""
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"({exc})"
    kept = [line for line in text.splitlines() if not any(n in line for n in _NOISE)]
    return "\n".join(kept[-lines:])


@dataclass
class Component:
    name: str
    args: list[str]
    log_path: Path
    process: subprocess.Popen | None = None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


@dataclass
class AirflowStack:
    """Airflow's scheduler, dag-processor, api-server and a Celery worker, on real servers."""

    workdir: Path
    env: Mapping[str, str] = field(default_factory=dict)
    dags_folder: Path = PROJECT_ROOT / "dags"
    plugins_folder: Path = PROJECT_ROOT / "plugins"
    pools_file: Path = PROJECT_ROOT / "include" / "pools.json"
    worker_concurrency: int = 4
    start_timeout: float = 240.0
    components: list[Component] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.workdir = Path(self.workdir)
        self.home = self.workdir / "airflow_home"
        self.logs = self.workdir / "component_logs"
        self._exit = contextlib.ExitStack()
        self.redis_db: int | None = None
        self.metadata_url = ""
        self.api_port = self.scheduler_port = 0

    # -- set-up -----------------------------------------------------------------------

    def __enter__(self) -> AirflowStack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def _environment(self) -> dict[str, str]:
        import sqlalchemy as sa

        url = sa.engine.make_url(self.metadata_url)
        sync_url = url.set(drivername="postgresql+psycopg2").render_as_string(False)
        backend_url = "db+" + url.set(drivername="postgresql").render_as_string(False)
        from cryptography.fernet import Fernet

        env = {k: v for k, v in os.environ.items() if k not in _DROPPED}
        env.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
                "AIRFLOW__CORE__PLUGINS_FOLDER": str(self.plugins_folder),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
                "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
                # Every call to the REST API is an admin's (local test deployment only).
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sync_url,
                "AIRFLOW__CELERY__BROKER_URL": f"redis://{REDIS_HOST}:{REDIS_PORT}/{self.redis_db}",
                "AIRFLOW__CELERY__RESULT_BACKEND": backend_url,
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(self.worker_concurrency),
                # No more tasks queued than the worker runs at once: a task's execution
                # token is issued when it is queued and expires after
                # [execution_api] jwt_expiration_time (600 s), so a task left waiting in
                # the broker on a slow machine would fail with "Invalid auth token".
                "AIRFLOW__CORE__PARALLELISM": str(self.worker_concurrency),
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(self.api_port),
                "AIRFLOW__API__BASE_URL": self.api_url,
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
                "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "True",
                "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST": "127.0.0.1",
                "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(self.scheduler_port),
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.env)
        return env

    def _airflow(self, *args: str, timeout: float = 300.0) -> str:
        command = [str(Path(sys.executable).with_name("airflow")), *args]
        result = subprocess.run(
            command,
            env=self._env,
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise StackError(
                f"`airflow {' '.join(args)}` failed (exit {result.returncode}):\n"
                + "\n".join((result.stdout + result.stderr).splitlines()[-40:])
            )
        return result.stdout

    def start(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        self.redis_db = _claim_redis_db()
        self._exit.callback(_release_redis_db, self.redis_db)
        self.metadata_url = self._exit.enter_context(fresh_postgres_database("sellerops_airflow"))
        self.api_port, self.scheduler_port = free_port(), free_port()
        self._env = self._environment()
        self._airflow("db", "migrate", timeout=600)
        if self.pools_file.is_file():
            self._airflow("pools", "import", str(self.pools_file))
        worker_name = f"sellerops-test-{uuid.uuid4().hex[:8]}@%h"
        for name, args in (
            ("api-server", ["api-server", "--port", str(self.api_port), "--workers", "1"]),
            ("scheduler", ["scheduler"]),
            ("dag-processor", ["dag-processor"]),
            ("celery-worker", ["celery", "worker", "--celery-hostname", worker_name]),
        ):
            self._spawn(name, args)
        deadline = time.monotonic() + self.start_timeout
        self._wait_http(f"{self.api_url}/api/v2/monitor/health", deadline)
        self._wait_http(f"http://127.0.0.1:{self.scheduler_port}/health", deadline)
        self._wait_worker(deadline)

    def _spawn(self, name: str, args: list[str]) -> None:
        log_path = self.logs / f"{name}.log"
        command = [str(Path(sys.executable).with_name("airflow")), *args]
        handle = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self._exit.callback(handle.close)
        component = Component(name, command, log_path)
        component.process = subprocess.Popen(  # fixed program, own arguments
            command,
            env=self._env,
            cwd=PROJECT_ROOT,
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.components.append(component)

    def _check_alive(self) -> None:
        dead = [c for c in self.components if not c.alive()]
        if dead:
            names = ", ".join(f"{c.name} (exit {c.process.returncode})" for c in dead)
            raise StackError(f"Airflow component exited: {names}\n{self.diagnostics()}")

    def _wait_http(self, url: str, deadline: float) -> None:
        import httpx

        last = "no answer"
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                response = httpx.get(url, timeout=5)
                if response.status_code == 200:
                    return
                last = f"HTTP {response.status_code}: {response.text[:200]}"
            except httpx.HTTPError as exc:
                last = repr(exc)
            time.sleep(1)
        raise StackError(f"{url} not healthy in time ({last})\n{self.diagnostics()}")

    def _wait_worker(self, deadline: float) -> None:
        """The Celery worker is ready once it has logged ``<hostname> ready.``."""
        worker = next(c for c in self.components if c.name == "celery-worker")
        while time.monotonic() < deadline:
            self._check_alive()
            if " ready." in worker.log_path.read_text(errors="replace"):
                return
            time.sleep(1)
        raise StackError(f"the Celery worker did not become ready\n{self.diagnostics()}")

    # -- tear-down --------------------------------------------------------------------

    def stop(self) -> None:
        """Terminate every component's process group, then drop the database and broker."""
        for component in reversed(self.components):
            _terminate_group(component.process)
        self._exit.close()

    # -- REST API ---------------------------------------------------------------------

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        import httpx

        response = httpx.request(method, f"{self.api_url}/api/v2{path}", timeout=30, **kwargs)
        if response.status_code >= 400:
            raise StackError(f"{method} {path}: HTTP {response.status_code} {response.text[:500]}")
        return response.json() if response.content else None

    def wait_for_dags(self, dag_ids: list[str], timeout: float = 180.0) -> None:
        """Until the dag-processor has parsed every DAG of ``dag_ids`` without import errors."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            errors = self.api("GET", "/importErrors")["import_errors"]
            if errors:
                text = "\n".join(f"{e['filename']}: {e['stack_trace']}" for e in errors)
                raise StackError(f"DAG import errors:\n{text}")
            known = {d["dag_id"] for d in self.api("GET", "/dags", params={"limit": 100})["dags"]}
            if set(dag_ids) <= known:
                return
            time.sleep(2)
        raise StackError(f"DAGs {dag_ids} not parsed in time\n{self.diagnostics()}")

    def unpause(self, dag_id: str) -> None:
        self.api("PATCH", f"/dags/{dag_id}", json={"is_paused": False})

    def trigger(
        self,
        dag_id: str,
        *,
        logical_date: datetime,
        data_interval: tuple[datetime, datetime] | None = None,
    ) -> dict:
        body: dict[str, Any] = {"logical_date": logical_date.isoformat()}
        if data_interval:
            body["data_interval_start"] = data_interval[0].isoformat()
            body["data_interval_end"] = data_interval[1].isoformat()
        return self.api("POST", f"/dags/{dag_id}/dagRuns", json=body)

    def runs(self, dag_id: str) -> list[dict]:
        return self.api(
            "GET", f"/dags/{dag_id}/dagRuns", params={"limit": 100, "order_by": "run_after"}
        )["dag_runs"]

    def queued_asset_events(self, dag_id: str) -> int:
        import httpx

        response = httpx.get(f"{self.api_url}/api/v2/dags/{dag_id}/assets/queuedEvents", timeout=30)
        if response.status_code == 404:
            return 0
        response.raise_for_status()
        return int(response.json().get("total_entries", 0))

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 1500.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            run = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}")
            if run["state"] == "success":
                return run
            if run["state"] == "failed":
                raise StackError(f"{dag_id} run {run_id} failed\n{self.diagnostics()}")
            time.sleep(3)
        raise StackError(f"{dag_id} run {run_id} not finished in time\n{self.diagnostics()}")

    def wait_until_settled(self, dag_id: str, after: str, timeout: float = 1500.0) -> list[dict]:
        """Wait for the asset-triggered runs of ``dag_id``: at least one queued after the
        ISO time ``after``, none queued or running, no asset events waiting (a run and the
        events it consumes change in one transaction); raise if one failed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            runs = self.runs(dag_id)
            failed = [r["dag_run_id"] for r in runs if r["state"] == "failed"]
            if failed:
                raise StackError(f"{dag_id} runs failed: {failed}\n{self.diagnostics()}")
            late = [r for r in runs if r.get("queued_at") and _time(r["queued_at"]) >= _time(after)]
            if (
                late
                and all(r["state"] in TERMINAL_STATES for r in runs)
                and self.queued_asset_events(dag_id) == 0
            ):
                return runs
            time.sleep(3)
        raise StackError(f"{dag_id}: runs not settled in time\n{self.diagnostics()}")

    # -- diagnostics ------------------------------------------------------------------

    def diagnostics(self, lines: int = 40) -> str:
        parts = []
        for component in self.components:
            state = "running" if component.alive() else f"exited {component.process.returncode}"
            parts.append(
                f"----- {component.name} ({state}), last {lines} lines of {component.log_path}"
            )
            parts.append(_tail(component.log_path, lines))
        task_logs = sorted(
            (p for p in (self.home / "logs").rglob("*.log") if p.is_file()),
            key=lambda p: p.stat().st_mtime,
        )
        failing = [p for p in task_logs if "error" in p.read_text(errors="replace").lower()]
        for path in failing[-3:]:
            parts.append(f"----- task log {path.relative_to(self.home)}")
            parts.append(_tail(path, lines))
        return "\n".join(parts)


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _terminate_group(process: subprocess.Popen | None, grace: float = 20.0) -> None:
    """SIGTERM the process group led by ``process``, then SIGKILL whatever is left of it."""
    if process is None:
        return
    pgid = process.pid  # start_new_session=True: the component leads its own group
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace)
    # Children (the Celery pool, task supervisors) may outlive their parent.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)
