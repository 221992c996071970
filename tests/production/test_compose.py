"""docker-compose.yaml is a valid Compose file, and it deploys what SellerOps needs.

The validator is Debian's ``docker-compose`` (``config -q`` checks the file against
the Compose Specification schema it ships and resolves every ``${...}``), installed
on demand by :mod:`sellerops.testing.system_packages`: a skip locally without it, a
failure on CI. The other checks read the parsed file: the services of Airflow's
official Celery deployment with their healthchecks, the warehouse in its own
database, the image built from the Dockerfile, and no secret written in the file.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from sellerops.testing.system_packages import require_debian_package

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yaml"
ENV_EXAMPLE = ROOT / ".env.example"

AIRFLOW_SERVICES = {
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
    "airflow-worker": "celery worker",
}
SECRET_NAME = re.compile(r"PASSWORD|SECRET|FERNET|PEPPER|TOKEN|_KEY$", re.IGNORECASE)
SUBSTITUTION = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*(:?[-?][^}]*)?\}$")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def _config(
    *args: str, env_file: str = ".env.example", variables: Path = ENV_EXAMPLE
) -> subprocess.CompletedProcess[str]:
    """``docker-compose config`` as after ``cp .env.example .env``: ``variables`` is the file
    ``${...}`` is substituted from, ``env_file`` the services' env_file (ENV_FILE_PATH)."""
    binary = require_debian_package("/usr/bin/docker-compose", "docker-compose")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("COMPOSE_", "DOCKER_", "POSTGRES_", "AIRFLOW", "SELLEROPS_"))
    }
    env["ENV_FILE_PATH"] = env_file
    command = [str(binary), "--project-directory", str(ROOT), "--env-file", str(variables)]
    return subprocess.run(  # fixed program and arguments
        [*command, "-f", str(COMPOSE), "config", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_compose_file_is_valid():
    result = _config("-q")
    assert result.returncode == 0, result.stdout + result.stderr


def test_resolved_file_reads_its_settings_from_the_env_file():
    result = _config()
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)
    env = resolved["services"]["airflow-scheduler"]["environment"]
    # From .env.example through env_file: the keys it sets reach every Airflow service.
    example = dict(
        line.split("=", 1)
        for line in ENV_EXAMPLE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    for key in ("AIRFLOW__CORE__FERNET_KEY", "SELLEROPS_BUYER_PEPPER"):
        assert key in example
        assert key in env
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    # A missing env file is an error, not a silently empty configuration.
    missing = _config("-q", env_file="no-such.env")
    assert missing.returncode != 0
    assert "no-such.env" in missing.stdout + missing.stderr


def test_database_password_is_required(tmp_path):
    empty = tmp_path / "empty.env"
    empty.write_text("")
    result = _config("-q", variables=empty)
    assert result.returncode != 0
    assert "POSTGRES_PASSWORD" in result.stdout + result.stderr
    resolved = yaml.safe_load(_config().stdout)
    password = re.search(r"^POSTGRES_PASSWORD=(\S+)$", ENV_EXAMPLE.read_text(), re.M).group(1)
    assert resolved["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"] == password
    conn = resolved["services"]["airflow-worker"]["environment"]["AIRFLOW_CONN_SELLEROPS_WAREHOUSE"]
    assert f"airflow:{password}@postgres" in conn


def test_services_of_the_celery_deployment_with_healthchecks(compose):
    services = compose["services"]
    for name, command in AIRFLOW_SERVICES.items():
        assert name in services, name
        assert services[name]["command"] == command
    for name in (*AIRFLOW_SERVICES, "postgres", "redis"):
        test = services[name]["healthcheck"]["test"]
        assert test and test[0] in ("CMD", "CMD-SHELL"), name
    assert services["airflow-init"]["environment"]["_AIRFLOW_DB_MIGRATE"] == "true"
    for name in AIRFLOW_SERVICES:
        needs = services[name]["depends_on"]
        assert needs["postgres"]["condition"] == "service_healthy"
        assert needs["redis"]["condition"] == "service_healthy"
        assert needs["airflow-init"]["condition"] == "service_completed_successfully"


def test_image_is_built_from_the_dockerfile_with_the_pins(compose):
    for name in (*AIRFLOW_SERVICES, "airflow-init"):
        assert compose["services"][name]["build"] == "."
    dockerfile = (ROOT / "Dockerfile").read_text()
    pinned = re.search(r"^apache-airflow==(\S+)", (ROOT / "requirements.txt").read_text(), re.M)
    assert pinned, "requirements.txt pins no apache-airflow"
    assert re.search(
        rf"^FROM apache/airflow:{re.escape(pinned.group(1))}-python3\.11$", dockerfile, re.M
    )
    assert re.search(r"pip install .*-r \S*requirements\.txt", dockerfile)


def test_warehouse_is_its_own_database(compose):
    env = compose["services"]["airflow-scheduler"]["environment"]
    metadata = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].rsplit("/", 1)[1]
    warehouse = env["AIRFLOW_CONN_SELLEROPS_WAREHOUSE"].rsplit("/", 1)[1]
    assert warehouse != metadata
    mounts = compose["services"]["postgres"]["volumes"]
    init = [m for m in mounts if "docker-entrypoint-initdb.d" in m]
    assert init, "nothing creates the warehouse database"
    script = ROOT / init[0].split(":")[0]
    assert re.search(rf"CREATE DATABASE {re.escape(warehouse)}\b", script.read_text(), re.I)
    assert "sellerops db upgrade" in compose["services"]["airflow-init"]["command"][-1]


def _environment_values(compose: dict):
    for name, service in compose["services"].items():
        for key, value in (service.get("environment") or {}).items():
            yield name, key, str(value)


def test_no_secret_is_written_in_the_file(compose):
    for service, key, value in _environment_values(compose):
        if SECRET_NAME.search(key):
            assert SUBSTITUTION.match(value), f"{service}: {key} is written in the file"
            assert re.match(r"^\$\{[^}]*:-\}$|^\$\{[^:}]*\}$|^\$\{[^}]*:\?", value) or (
                key.startswith("_AIRFLOW_WWW_USER")  # the official file's first-login user
            ), f"{service}: {key} has a default secret"
        # A password inside a URL comes from a variable too.
        for password in re.findall(r"://[^:/@\s]+:([^@\s]*)@", value):
            assert SUBSTITUTION.match(password), f"{service}: {key} has a password in its URL"
        # No seller credentials: SP-API and mailbox connections come from .env.
        assert not key.startswith(
            ("AIRFLOW_CONN_SELLEROPS_SPAPI", "AIRFLOW_CONN_SELLEROPS_MAILBOX")
        )
    env_example = ENV_EXAMPLE.read_text()
    for key in ("AIRFLOW__CORE__FERNET_KEY", "SELLEROPS_BUYER_PEPPER"):
        assert re.search(rf"^{key}=$", env_example, re.M), f".env.example ships a value for {key}"
