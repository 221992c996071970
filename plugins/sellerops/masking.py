"""Register secrets with Airflow's secrets masker as soon as SellerOps reads them.

Airflow masks a connection's ``password`` and its ``extra`` *as one JSON string*
when a task fetches the connection; a single value taken out of the extra (the
SP-API ``refresh_token``) is a different string and would be logged in clear.
Every place that reads a secret calls :func:`mask` with it, so task logs show
``***`` instead. Outside a task (CLI, tests) the masker still learns the value,
which costs nothing.

Imports of Airflow happen inside the functions: DAG files import nothing from here.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

log = logging.getLogger(__name__)

# Connection extra fields that hold secrets, wherever SellerOps reads them.
SECRET_EXTRA_FIELDS = frozenset(
    {"refresh_token", "client_secret", "lwa_client_secret", "password", "sqlalchemy_url"}
)


def mask(value: Any) -> None:
    """Tell Airflow's masker (task process and supervisor) to redact ``value``."""
    if not value or not isinstance(value, str):
        return
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:  # pragma: no cover - Airflow is always installed here
        return
    from urllib.parse import quote, quote_plus

    # The value as it appears in a form body or a URL, too (LWA token requests).
    for form in {value, quote(value, safe=""), quote_plus(value)}:
        mask_secret(form)


def mask_connection(conn: Any, extra: Mapping[str, Any] | None = None) -> None:
    """Mask a connection's password and the secret fields of its extra."""
    mask(getattr(conn, "password", None))
    for name, value in (extra or {}).items():
        if name in SECRET_EXTRA_FIELDS:
            mask(value)
            if name == "sqlalchemy_url":
                _mask_url_password(value)


def _mask_url_password(url: Any) -> None:
    try:
        from sqlalchemy.engine import make_url

        mask(make_url(str(url)).password)
    except Exception:  # noqa: BLE001 - not a URL: the whole string is masked already
        return
