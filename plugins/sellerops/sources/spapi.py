"""SP-API access through python-amazon-sp-api: credentials, quota pacing and retries.

Credentials come from an Airflow connection (or an ``AIRFLOW_CONN_<ID>``
environment variable, which Airflow reads the same way):

* ``login``: the LWA client id; ``password``: the LWA client secret;
* extra ``refresh_token``: the seller's refresh token;
* extra ``endpoint`` and ``token_url`` (optional): another SP-API endpoint and
  LWA token URL, which is how the sandbox marketplace is used;
* extra ``time_scale`` (optional, sandbox only): the sandbox clock's speed-up,
  so back-off waits shrink with it.

Every call goes through :meth:`SpApiSession.call`, which takes a token from the
(account, operation) bucket first (seeded from Amazon's documented rate and
burst, corrected by the ``x-amzn-RateLimit-Limit`` header), and retries with
exponential back-off and jitter on throttling (429), server errors (5xx),
timeouts and expired access tokens.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

log = logging.getLogger(__name__)

# Documented usage plans (requests per second, burst), from Amazon's API models.
USAGE_PLANS: dict[str, tuple[float, int]] = {
    "searchOrders": (0.0056, 20),
    "getOrder": (0.5, 30),
    "createReport": (0.0167, 15),
    "getReport": (2.0, 15),
    "getReportDocument": (0.0167, 15),
    "listFinancialEvents": (0.5, 30),
    "getSolicitationActionsForOrder": (1.0, 5),
    "createProductReviewAndSellerFeedbackSolicitation": (1.0, 5),
    "getMessagingActionsForOrder": (1.0, 5),
    "createConfirmDeliveryDetails": (1.0, 5),
    "createUnexpectedProblem": (1.0, 5),
    "CreateWarranty": (1.0, 5),
}


class _NoClientDumps(logging.Filter):
    """python-amazon-sp-api logs whole responses (buyer e-mails, names, addresses) and
    request headers (the access token) at DEBUG: never let those records through."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG


_CLIENT_LOGGER = "sp_api.base.client"
if not any(isinstance(f, _NoClientDumps) for f in logging.getLogger(_CLIENT_LOGGER).filters):
    logging.getLogger(_CLIENT_LOGGER).addFilter(_NoClientDumps())


class SpApiConfigError(RuntimeError):
    pass


class TransientApiError(RuntimeError):
    """A failure worth retrying: an empty or malformed answer, a corrupt document."""


@dataclass(frozen=True)
class SpApiCredentials:
    client_id: str
    client_secret: str = field(repr=False)
    refresh_token: str = field(repr=False)
    endpoint: str | None = None
    token_url: str | None = None
    time_scale: float = 1.0

    @classmethod
    def from_connection(cls, conn_id: str) -> SpApiCredentials:
        from airflow.sdk import BaseHook

        try:
            conn = BaseHook.get_connection(conn_id)
        except Exception as exc:
            raise SpApiConfigError(
                f"SP-API connection {conn_id!r} is not defined: create it in Airflow or set "
                f"AIRFLOW_CONN_{conn_id.upper()} (login = LWA client id, password = client "
                "secret, extra refresh_token)"
            ) from exc
        extra = conn.extra_dejson or {}
        from sellerops.masking import mask_connection

        mask_connection(conn, extra)  # task logs show *** for the secret and the token
        missing = [
            name
            for name, value in (
                ("login (LWA client id)", conn.login),
                ("password (LWA client secret)", conn.password),
                ("extra.refresh_token", extra.get("refresh_token")),
            )
            if not value
        ]
        if missing:
            raise SpApiConfigError(f"SP-API connection {conn_id!r} lacks {', '.join(missing)}")
        return cls(
            client_id=conn.login,
            client_secret=conn.password,
            refresh_token=extra["refresh_token"],
            endpoint=extra.get("endpoint"),
            token_url=extra.get("token_url"),
            time_scale=float(extra.get("time_scale", 1.0)),
        )


@dataclass(frozen=True)
class _Marketplace:
    """Duck-types ``sp_api.base.Marketplaces`` for a custom endpoint."""

    endpoint: str
    marketplace_id: str
    region: str = "us-east-1"


def _token_client_class(token_url: str):
    from sp_api.auth import AccessTokenClient

    parsed = urlparse(token_url)

    class _CustomTokenClient(AccessTokenClient):
        scheme = f"{parsed.scheme}://"
        host = parsed.netloc
        path = parsed.path or "/auth/o2/token"

    return _CustomTokenClient


class TokenBucket:
    """Amazon's usage plan as a token bucket; thread-safe.

    Amazon's bucket refills from when a request *arrives*; ours can only see when
    we *send* it. A request taken from a full bucket (the first of a burst) may
    arrive much later than it was sent (the first call of a session also fetches
    the access token), so crediting refill from the send would promise tokens
    Amazon has not granted yet. Such a request leaves the bucket unanchored until
    :meth:`settle` is called with its response: refill then counts from the
    response, never earlier than Amazon's own.
    """

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic):
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._updated = clock()
        self._unanchored = False
        self._lock = threading.Lock()

    def set_rate(self, rate: float) -> None:
        with self._lock:
            self._refill()
            self.rate = rate

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    def reserve(self) -> float:
        """Take one token; return how long to wait before using it."""
        with self._lock:
            self._refill()
            if self._tokens >= self.burst:
                self._unanchored = True
            self._tokens -= 1.0
            if self._tokens >= 0:
                return 0.0
            return -self._tokens / self.rate

    def settle(self) -> None:
        """A response came back: if it was the first from a full bucket, refill from now."""
        with self._lock:
            if self._unanchored:
                self._updated = max(self._updated, self._clock())
                self._unanchored = False

    def drain(self) -> None:
        """After a 429 the server's bucket is empty: make ours agree."""
        with self._lock:
            self._refill()
            self._tokens = min(self._tokens, 0.0)
            self._unanchored = False


@dataclass
class CallStats:
    calls: int = 0
    throttled: int = 0
    retried: int = 0
    waited_seconds: float = 0.0


class SpApiSession:
    """Clients, buckets and retry policy for one seller account."""

    def __init__(
        self,
        account_id: str,
        credentials: SpApiCredentials,
        *,
        max_attempts: int = 8,
        base_delay: float = 2.0,
        max_delay: float = 120.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        seed: int | None = None,
        timeout: float = 60.0,
    ):
        self.account_id = account_id
        self.credentials = credentials
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._sleep = sleep
        self._clock = clock
        self.timeout = timeout
        self._random = random.Random(seed)
        self._buckets: dict[str, TokenBucket] = {}
        self.stats: dict[str, CallStats] = {}

    # -- clients ---------------------------------------------------------------
    def client(self, api_class, marketplace_id: str, **kwargs):
        """An instance of an ``sp_api.api`` client class for this account and marketplace."""
        creds = {
            "lwa_app_id": self.credentials.client_id,
            "lwa_client_secret": self.credentials.client_secret,
            "refresh_token": self.credentials.refresh_token,
        }
        options: dict[str, Any] = {
            "credentials": creds,
            "timeout": kwargs.pop("timeout", self.timeout),
        }
        if self.credentials.endpoint:
            options["marketplace"] = _Marketplace(
                self.credentials.endpoint.rstrip("/"), marketplace_id
            )
        else:
            from sp_api.base import Marketplaces

            matches = [m for m in Marketplaces if m.marketplace_id == marketplace_id]
            if not matches:
                raise SpApiConfigError(
                    f"python-amazon-sp-api knows no marketplace {marketplace_id}"
                )
            options["marketplace"] = matches[0]
        if self.credentials.token_url:
            options["auth_token_client_class"] = _token_client_class(self.credentials.token_url)
        options.update(kwargs)
        return api_class(**options)

    # -- pacing ------------------------------------------------------------------
    def bucket(self, operation: str) -> TokenBucket:
        if operation not in self._buckets:
            rate, burst = USAGE_PLANS.get(operation, (1.0, 1))
            self._buckets[operation] = TokenBucket(
                rate * self.credentials.time_scale, burst, clock=self._clock
            )
        return self._buckets[operation]

    def _note_rate_header(self, operation: str, headers) -> None:
        if not headers:
            return
        value = headers.get("x-amzn-RateLimit-Limit")
        try:
            rate = float(value) if value else None
        except (TypeError, ValueError):
            rate = None
        if rate and rate > 0:
            bucket = self.bucket(operation)
            if abs(bucket.rate - rate) > 1e-12:
                log.debug("%s: rate limit header says %s req/s", operation, rate)
                bucket.set_rate(rate)

    def _backoff(self, attempt: int) -> float:
        delay = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        delay = self._random.uniform(delay / 2, delay)  # "equal jitter"
        return delay / self.credentials.time_scale

    # -- calls -------------------------------------------------------------------
    def call(self, operation: str, fn: Callable[..., Any], *args, **kwargs):
        """Call ``fn`` (an sp_api client method) within the quota, retrying transient errors."""
        from sp_api.base import exceptions as spx

        stats = self.stats.setdefault(operation, CallStats())
        attempt = 0
        while True:
            attempt += 1
            wait = self.bucket(operation).reserve()
            if wait > 0:
                stats.waited_seconds += wait
                self._sleep(wait)
            stats.calls += 1
            try:
                try:
                    response = fn(*args, **kwargs)
                finally:
                    self.bucket(operation).settle()
            except spx.SellingApiRequestThrottledException as exc:
                stats.throttled += 1
                self.bucket(operation).drain()
                self._note_rate_header(operation, exc.headers)
                error: Exception = exc
            except spx.SellingApiForbiddenException as exc:
                if not _is_expired_token(exc):
                    raise
                _forget_access_tokens()
                error = exc
            except (
                spx.SellingApiServerException,
                spx.SellingApiTemporarilyUnavailableException,
                spx.SellingApiGatewayTimeoutException,
                TransientApiError,
            ) as exc:
                error = exc
            except Exception as exc:
                if not _is_network_error(exc):
                    raise
                error = exc
            else:
                self._note_rate_header(operation, getattr(response, "headers", None))
                return response
            if attempt >= self.max_attempts:
                raise RuntimeError(
                    f"{self.account_id}: {operation} failed after {attempt} attempts: "
                    f"{_describe(error)}"
                ) from error
            stats.retried += 1
            delay = self._backoff(attempt)
            log.warning(
                "%s: %s attempt %d failed (%s); retrying in %.1f s",
                self.account_id,
                operation,
                attempt,
                _describe(error),
                delay,
            )
            self._sleep(delay)


def _describe(error: Exception) -> str:
    code = getattr(error, "code", None)
    message = getattr(error, "message", None) or str(error)
    return f"{type(error).__name__} {code or ''} {message}".strip()


def _is_expired_token(exc) -> bool:
    details = " ".join(
        str(e.get(k, "")) for e in (exc.error or []) if isinstance(e, dict) for k in e
    )
    # Expired, revoked or unknown access tokens heal with a fresh token; other 403s
    # (an action Amazon does not offer, a missing role) must not be retried.
    text = details.lower()
    return "token" in text and any(
        w in text for w in ("expired", "revoked", "invalid", "malformed")
    )


def _forget_access_tokens() -> None:
    """python-amazon-sp-api caches access tokens for ~53 min; drop them to refresh."""
    from sp_api.auth import access_token_client

    access_token_client.cache.clear()
    access_token_client.grantless_cache.clear()


def _is_network_error(exc: Exception) -> bool:
    import zlib

    import httpx

    return isinstance(exc, httpx.TransportError | zlib.error | EOFError)
