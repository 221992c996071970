"""The sandbox marketplace: a local HTTP server that speaks SP-API from a World.

``create_app(world)`` returns a FastAPI app serving, with Amazon's paths, parameters,
JSON shapes, status codes and usage plans:

* LWA ``POST /auth/o2/token`` (refresh_token and client_credentials grants);
* Orders 2026-01-01 ``searchOrders``, ``getOrder``;
* Reports 2021-06-30 ``createReport``, ``getReport``, ``getReports``,
  ``cancelReport``, ``getReportDocument`` (+ the pre-signed document URL
  ``GET /sandbox-documents/{id}``), report types in :mod:`sandbox.reports`;
* Finances v0 ``listFinancialEvents`` (refunds, as ``RefundEventList``);
* Solicitations v1 ``getSolicitationActionsForOrder`` and
  ``createProductReviewAndSellerFeedbackSolicitation``;
* Messaging v1 ``getMessagingActionsForOrder``, ``GetAttributes`` and the message
  POSTs (``confirmDeliveryDetails``, ``unexpectedProblem``, ``warranty``,
  ``confirmOrderDetails``, ... ).

Sandbox-only endpoints, outside the SP-API paths, for tests and the demo:
``GET /sandbox/sends`` (every accepted solicitation/message; filters ``accountId``,
``amazonOrderId``), ``GET|POST|DELETE /sandbox/faults`` (see :mod:`sandbox.faults`),
``GET /sandbox/clock`` (sandbox now; ``POST {"advanceSeconds": n}`` moves a
:class:`ManualClock`) and ``POST /sandbox/reset`` (forget tokens, reports, sends,
buckets and faults).

Accounts. ``POST /auth/o2/token`` accepts any refresh token that starts with
``Atzr|`` (or only those in ``allowed_refresh_tokens``; others get 400
``invalid_grant``) and any non-empty client id/secret. A refresh token of the form
``Atzr|<account_id>|<anything>`` addresses that sandbox account (seller); a token
that names no account of the World addresses the World's first account. The access
token returned (``Atza|...``) carries that account: every SP-API call made with it
sees only that seller's data.

Time. The sandbox has its own clock, "now": by default it starts at ``World.end +
2 minutes`` (so that ``now - 2 minutes``, the latest time Amazon lets you query,
is exactly the end of the World) and runs ``time_scale`` times faster than real
time. Every duration is measured on that clock: access tokens live 3600 sandbox
seconds, reports spend ``report_queue_seconds`` IN_QUEUE then
``report_processing_seconds`` IN_PROGRESS, pagination tokens live 24 hours and
buckets refill at the documented rate per sandbox second -- so with
``time_scale=K`` rates are K times higher and durations K times shorter in real
time; the ``x-amzn-RateLimit-Limit`` header advertises ``rate * time_scale``.
Pass ``clock`` (a callable returning an aware UTC datetime, e.g. :class:`ManualClock`)
to drive time yourself. Every response carries the sandbox time in its ``Date``
header (when served by :func:`running_server` / :func:`serve`).

Expired access tokens. A call with an expired access token (natural expiry or the
``expired_token`` fault) gets 403 ``{"errors": [{"code": "Unauthorized", "message":
"Access to requested resource is denied.", "details": "The access token you
provided has expired."}]}``. python-amazon-sp-api caches access tokens for ~3200 s
(real time) in the module-level ``sp_api.auth.access_token_client.cache``, keyed by
refresh token, so it keeps sending the expired token: on that 403, clear the cache
(``sellerops.sandbox.client.clear_token_cache()``) and retry; the client then asks
``/auth/o2/token`` for a new token. Access tokens belong to one server instance: a
token from an earlier sandbox process gets 403 "revoked, malformed or invalid"
and is recovered the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
import socket
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qs, urlencode

import pandas as pd
from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from sellerops.sandbox import reports as rpt
from sellerops.sandbox.faults import DOWNLOAD_OPERATION, Faults, corrupt_gzip, truncate_gzip
from sellerops.sandbox.ratelimit import RateLimiter, load_usage_plans
from sellerops.sandbox.world import MARKETPLACES, SandboxAccount, World

JSON = "application/json"
HAL = "application/hal+json"
ACCESS_TOKEN_LIFETIME = 3600
TWO_MINUTES = timedelta(minutes=2)
DOCUMENT_URL_LIFETIME = timedelta(minutes=5)
REPORT_RETENTION = timedelta(days=90)
FINANCES_MAX_SPAN = timedelta(days=180)

MSG_ACCESS_DENIED = "Access to requested resource is denied."
DETAIL_EXPIRED = "The access token you provided has expired."
DETAIL_INVALID = "The access token you provided is revoked, malformed or invalid."
DETAIL_MISSING = "Access token is missing in the request header."
MSG_QUOTA = "You exceeded your quota for the requested resource."
MSG_NEXT_TOKEN_UNDECODABLE = (
    "We could not decode your {name}. Possible reasons include: a transmission error, "
    "improper quoting or a truncation problem."
)
MSG_SOLICITATION_UNAVAILABLE = "The requested solicitation is not available for this amazonOrderId."
MSG_SOLICITATION_WINDOW = (
    "You can\u2019t use this feature to request a review outside the 5-30 day range "
    "after the order delivery date."
)
MSG_MESSAGE_UNAVAILABLE = "The requested message type is not available for this amazonOrderId."

ORDER_ID_RE = re.compile(r"^\d{3}-\d{7}-\d{7}$")
INCLUDED_DATA = (
    "BUYER",
    "RECIPIENT",
    "PROCEEDS",
    "EXPENSE",
    "PROMOTION",
    "CANCELLATION",
    "FULFILLMENT",
    "PACKAGES",
    "TAX",
    "PAYMENT",
    "FULFILLMENT_ORDERS",
)
FULFILLMENT_STATUSES = (
    "PENDING_AVAILABILITY",
    "PENDING",
    "UNSHIPPED",
    "PARTIALLY_SHIPPED",
    "SHIPPED",
    "CANCELLED",
    "UNFULFILLABLE",
)
FULFILLED_BY = {"AFN": "AMAZON", "MFN": "MERCHANT"}
PROCESSING_STATUSES = ("CANCELLED", "DONE", "FATAL", "IN_PROGRESS", "IN_QUEUE")
CARRIERS = {
    "ATVPDKIKX0DER": ("USPS", "USPS Ground Advantage"),
    "A1VC38T7YXB528": ("Yamato Transport", "TA-Q-BIN"),
}
LOCALES = {"US": "en-US", "JP": "ja-JP"}
REGIONS = {"US": "us-east-1", "JP": "us-west-2"}

# message path segment -> (operationId, max text length or None when no text)
MESSAGE_ACTIONS: dict[str, tuple[str, int | None]] = {
    "confirmCustomizationDetails": ("confirmCustomizationDetails", 800),
    "confirmDeliveryDetails": ("createConfirmDeliveryDetails", 2000),
    "legalDisclosure": ("createLegalDisclosure", None),
    "confirmOrderDetails": ("createConfirmOrderDetails", 2000),
    "confirmServiceDetails": ("createConfirmServiceDetails", 2000),
    "warranty": ("CreateWarranty", None),
    "digitalAccessKey": ("createDigitalAccessKey", 400),
    "unexpectedProblem": ("createUnexpectedProblem", 2000),
    "invoice": ("sendInvoice", None),
}


# --------------------------------------------------------------------------- clocks


class ManualClock:
    """A sandbox clock that only moves when told to (for tests)."""

    def __init__(self, start: datetime):
        self._now = _utc(start)
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float = 0.0, **delta: float) -> datetime:
        with self._lock:
            self._now += timedelta(seconds=seconds, **delta)
            return self._now

    def set(self, when: datetime) -> None:
        with self._lock:
            self._now = _utc(when)


class ScaledClock:
    """Sandbox time starting at ``start`` and running ``time_scale`` times real time."""

    def __init__(
        self,
        start: datetime,
        time_scale: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        if time_scale <= 0:
            raise ValueError("time_scale must be > 0")
        self.start = _utc(start)
        self.time_scale = float(time_scale)
        self._monotonic = monotonic
        self._t0 = monotonic()

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=(self._monotonic() - self._t0) * self.time_scale)


# --------------------------------------------------------------------------- helpers


def _utc(value: datetime | pd.Timestamp) -> datetime:
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def iso_z(dt: datetime) -> str:
    """Orders/Finances timestamps: ``2026-02-10T15:00:00Z``."""
    return _utc(dt).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_offset(dt: datetime) -> str:
    """Reports timestamps: ``2026-02-10T15:00:00+00:00``."""
    return _utc(dt).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def parse_datetime(value: str) -> datetime:
    """ISO 8601 date or date-time; naive values are UTC."""
    text = value.strip()
    if not text:
        raise ValueError("empty date-time")
    return _utc(datetime.fromisoformat(text))


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: str = ""):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


def invalid(message: str, details: str = "") -> ApiError:
    return ApiError(400, "InvalidInput", message, details)


def not_found(message: str, details: str = "") -> ApiError:
    return ApiError(404, "NotFound", message, details)


def errors_body(code: str, message: str, details: str = "") -> dict[str, Any]:
    return {"errors": [{"code": code, "message": message, "details": details}]}


def error_response(
    status: int,
    code: str,
    message: str,
    details: str = "",
    *,
    media_type: str = JSON,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        errors_body(code, message, details),
        status_code=status,
        media_type=media_type,
        headers=dict(headers or {}),
    )


def _list_param(request: Request, name: str) -> list[str] | None:
    """An array query parameter, as CSV (``a,b``) or repeated (``name=a&name=b``)."""
    raw = request.query_params.getlist(name)
    if not raw:
        return None
    return [v.strip() for item in raw for v in item.split(",") if v.strip()]


def _dt_param(request: Request, name: str) -> datetime | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        return parse_datetime(raw)
    except ValueError:
        raise invalid(f"Invalid {name}: {raw!r} is not an ISO 8601 date-time.") from None


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise invalid(f"Invalid {name}: must be an integer between {low} and {high}.")
    return value


def _enum_list(
    request: Request, name: str, allowed: Iterable[str], max_items: int | None = None
) -> list[str]:
    values = _list_param(request, name) or []
    allowed = tuple(allowed)
    bad = [v for v in values if v not in allowed]
    if bad:
        raise invalid(
            f"Invalid {name}: {', '.join(bad)}.", f"Allowed values: {', '.join(allowed)}."
        )
    if max_items is not None and len(values) > max_items:
        raise invalid(f"Invalid {name}: at most {max_items} values are allowed.")
    return values


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts of plain Python values; aware UTC datetimes, None for NaT."""
    columns: dict[str, list[Any]] = {}
    for col in df.columns:
        series = df[col]
        if isinstance(series.dtype, pd.DatetimeTZDtype):
            columns[col] = [None if v is pd.NaT or pd.isna(v) else _utc(v) for v in series.tolist()]
        else:
            columns[col] = series.tolist()
    names = list(columns)
    return [dict(zip(names, row, strict=True)) for row in zip(*columns.values(), strict=True)]


def _money(amount: float, currency: str) -> dict[str, str]:
    return {"amount": rpt.money(amount, currency), "currencyCode": currency}


def _number(amount: float, currency: str) -> float:
    value = round(float(amount), rpt.CURRENCY_DIGITS.get(currency, 2))
    return 0.0 if value == 0 else value


# --------------------------------------------------------------------------- state


@dataclass
class _AccessToken:
    token: str
    account_id: str | None  # None for grantless tokens
    client_id: str
    expires_at: datetime
    force_expired: bool = False


@dataclass
class _Report:
    report_id: str
    account_id: str
    report_type: str
    marketplace_ids: list[str]
    start: datetime
    end: datetime
    created: datetime
    outcome: str  # DONE | CANCELLED | FATAL
    document_id: str | None
    cancelled_at: datetime | None = None


@dataclass
class _Document:
    document_id: str
    account_id: str
    data: bytes
    content_type: str


@dataclass
class _PageToken:
    account_id: str
    operation: str
    fingerprint: tuple[Any, ...]
    offset: int
    issued_at: datetime
    cutoff: datetime | None = None
    # the full, sorted result of the search that issued the token (shared by its pages)
    results: list[Any] | None = None


@dataclass
class _Context:
    operation: str
    account: SandboxAccount
    client_id: str
    rate_limit: str
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))


class SandboxState:
    """Everything the server knows: the World, its indexes and what clients did."""

    def __init__(
        self,
        world: World,
        *,
        time_scale: float,
        allowed_refresh_tokens: Iterable[str] | None,
        faults: Faults,
        clock: Callable[[], datetime],
        report_queue_seconds: float,
        report_processing_seconds: float,
        pagination_token_ttl: timedelta,
        access_token_lifetime: float,
    ):
        world.check()
        if not world.accounts:
            raise ValueError("the world has no accounts")
        self.world = world
        self.time_scale = float(time_scale)
        self.allowed_refresh_tokens = (
            None if allowed_refresh_tokens is None else frozenset(allowed_refresh_tokens)
        )
        self.faults = faults
        self.clock = clock
        self.report_queue = timedelta(seconds=report_queue_seconds)
        self.report_processing = timedelta(seconds=report_processing_seconds)
        self.pagination_token_ttl = pagination_token_ttl
        self.access_token_lifetime = timedelta(seconds=access_token_lifetime)
        self.limiter = RateLimiter(load_usage_plans(), lambda: self.clock().timestamp())
        self.lock = threading.RLock()

        self.accounts = {a.account_id: a for a in world.accounts}
        self.tokens: dict[str, _AccessToken] = {}
        self.page_tokens: dict[str, _PageToken] = {}
        self.reports: dict[str, _Report] = {}
        self.documents: dict[str, _Document] = {}
        self.sends: list[dict[str, Any]] = []
        self.solicited: set[tuple[str, str]] = set()
        self._report_seq = 0

        self.orders: dict[str, dict[str, Any]] = {}
        self.orders_by_account: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for rec in _records(world.orders):
            self.orders[rec["order_id"]] = rec
            self.orders_by_account[rec["account_id"]].append(rec)
        self.items_by_order: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for rec in _records(world.order_items.sort_values(["order_id", "order_item_id"])):
            self.items_by_order[rec["order_id"]].append(rec)
        self.products = {
            (r["account_id"], r["marketplace_id"], r["sku"]): r for r in _records(world.products)
        }
        self.buyers = {r["buyer_id"]: r for r in _records(world.buyers)}
        self.refunds_by_account: dict[str, list[dict[str, Any]]] = defaultdict(list)
        refunds = world.refunds.sort_values(["posted_time", "order_id", "adjustment_id"])
        for rec in _records(refunds):
            self.refunds_by_account[rec["account_id"]].append(rec)

    def now(self) -> datetime:
        return _utc(self.clock())

    def reset(self) -> None:
        """Forget everything clients did: tokens, reports, sends, buckets, faults."""
        with self.lock:
            self.tokens.clear()
            self.page_tokens.clear()
            self.reports.clear()
            self.documents.clear()
            self.sends.clear()
            self.solicited.clear()
            self._report_seq = 0
        self.limiter.reset()
        self.faults.clear()

    # ---------------------------------------------------------------- tokens

    def issue_token(self, account_id: str | None, client_id: str) -> _AccessToken:
        token = _AccessToken(
            token="Atza|" + secrets.token_urlsafe(36),
            account_id=account_id,
            client_id=client_id,
            expires_at=self.now() + self.access_token_lifetime,
        )
        with self.lock:
            self.tokens[token.token] = token
        return token

    def account_for_refresh_token(self, refresh_token: str) -> str:
        parts = refresh_token.split("|")
        if len(parts) >= 2 and parts[1] in self.accounts:
            return parts[1]
        return self.world.accounts[0].account_id

    def new_page_token(self, state: _PageToken) -> str:
        token = secrets.token_urlsafe(24)
        with self.lock:
            self.page_tokens[token] = state
        return token

    def record_send(
        self, ctx: _Context, api: str, action: str, marketplace_id: str, order_id: str, body: Any
    ) -> dict[str, Any]:
        with self.lock:
            entry = {
                "id": len(self.sends) + 1,
                "api": api,
                "operation": ctx.operation,
                "action": action,
                "accountId": ctx.account.account_id,
                "sellerId": ctx.account.seller_id,
                "marketplaceId": marketplace_id,
                "amazonOrderId": order_id,
                "body": body,
                "sentAt": iso_z(self.now()),
                "requestId": ctx.request_id,
            }
            self.sends.append(entry)
            return entry

    def next_report_id(self) -> str:
        with self.lock:
            self._report_seq += 1
            return str(50_000_019_000 + self._report_seq)


# --------------------------------------------------------------------------- app


class _SandboxHeaders:
    """Pure ASGI middleware: the ``Date`` header tells the sandbox time."""

    def __init__(self, app: Any, clock: Callable[[], datetime]):
        self.app = app
        self.clock = clock

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_date(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Date"] = format_datetime(_utc(self.clock()), usegmt=True)
            await send(message)

        await self.app(scope, receive, send_with_date)


def create_app(
    world: World,
    *,
    time_scale: float = 1.0,
    allowed_refresh_tokens: Iterable[str] | None = None,
    faults: Faults | Mapping[str, Any] | Sequence[Any] | None = None,
    clock: Callable[[], datetime] | None = None,
    report_queue_seconds: float = 2.0,
    report_processing_seconds: float = 3.0,
    pagination_token_ttl: timedelta = timedelta(hours=24),
    access_token_lifetime: float = ACCESS_TOKEN_LIFETIME,
) -> FastAPI:
    """The sandbox SP-API as an ASGI app (see the module docstring)."""
    if clock is None:
        clock = ScaledClock(_utc(world.end) + TWO_MINUTES, time_scale)
    state = SandboxState(
        world,
        time_scale=time_scale,
        allowed_refresh_tokens=allowed_refresh_tokens,
        faults=Faults.from_config(faults),
        clock=clock,
        report_queue_seconds=report_queue_seconds,
        report_processing_seconds=report_processing_seconds,
        pagination_token_ttl=pagination_token_ttl,
        access_token_lifetime=access_token_lifetime,
    )
    app = FastAPI(
        title="SellerOps sandbox SP-API",
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.sandbox = state
    app.add_middleware(_SandboxHeaders, clock=clock)

    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return error_response(404, "NotFound", "Resource not found.")
        if exc.status_code == 405:
            return error_response(405, "MethodNotAllowed", "Method not allowed for this resource.")
        return error_response(exc.status_code, "InvalidInput", str(exc.detail))

    async def unexpected_error(request: Request, exc: Exception) -> Response:
        return error_response(
            500, "InternalFailure", "We encountered an internal error. Please try again."
        )

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected_error)

    api = _Api(state)
    api.register(app)
    return app


class _Api:
    def __init__(self, state: SandboxState):
        self.s = state

    # ---------------------------------------------------------------- routing

    def register(self, app: FastAPI) -> None:
        route = app.add_route
        route("/auth/o2/token", self.lwa_token, methods=["POST"])

        route(
            "/orders/2026-01-01/orders",
            self.op("searchOrders", self.search_orders),
            methods=["GET"],
        )
        route(
            "/orders/2026-01-01/orders/{orderId}",
            self.op("getOrder", self.get_order),
            methods=["GET"],
        )

        route(
            "/reports/2021-06-30/reports", self.op("getReports", self.get_reports), methods=["GET"]
        )
        route(
            "/reports/2021-06-30/reports",
            self.op("createReport", self.create_report),
            methods=["POST"],
        )
        route(
            "/reports/2021-06-30/reports/{reportId}",
            self.op("getReport", self.get_report),
            methods=["GET"],
        )
        route(
            "/reports/2021-06-30/reports/{reportId}",
            self.op("cancelReport", self.cancel_report),
            methods=["DELETE"],
        )
        route(
            "/reports/2021-06-30/documents/{reportDocumentId}",
            self.op("getReportDocument", self.get_report_document),
            methods=["GET"],
        )
        route("/sandbox-documents/{documentId}", self.download_document, methods=["GET"])

        route(
            "/finances/v0/financialEvents",
            self.op("listFinancialEvents", self.list_financial_events),
            methods=["GET"],
        )

        route(
            "/solicitations/v1/orders/{amazonOrderId}",
            self.op("getSolicitationActionsForOrder", self.get_solicitation_actions, HAL),
            methods=["GET"],
        )
        route(
            "/solicitations/v1/orders/{amazonOrderId}/solicitations/productReviewAndSellerFeedback",
            self.op(
                "createProductReviewAndSellerFeedbackSolicitation", self.create_solicitation, HAL
            ),
            methods=["POST"],
        )

        route(
            "/messaging/v1/orders/{amazonOrderId}",
            self.op("getMessagingActionsForOrder", self.get_messaging_actions, HAL),
            methods=["GET"],
        )
        route(
            "/messaging/v1/orders/{amazonOrderId}/attributes",
            self.op("GetAttributes", self.get_attributes, HAL),
            methods=["GET"],
        )
        for action, (operation, _) in MESSAGE_ACTIONS.items():
            route(
                f"/messaging/v1/orders/{{amazonOrderId}}/messages/{action}",
                self.op(operation, self._message_handler(action), HAL),
                methods=["POST"],
            )

        route("/sandbox/sends", self.sandbox_sends, methods=["GET"])
        route("/sandbox/faults", self.sandbox_faults, methods=["GET", "POST", "DELETE"])
        route("/sandbox/clock", self.sandbox_clock, methods=["GET", "POST"])
        route("/sandbox/reset", self.sandbox_reset, methods=["POST"])

    def op(
        self,
        operation: str,
        handler: Callable[[Request, _Context], Any],
        media_type: str = JSON,
    ) -> Callable[[Request], Any]:
        """Wrap a handler with auth, faults, rate limiting and Amazon's headers."""

        async def endpoint(request: Request) -> Response:
            request_id = str(uuid.uuid4())
            base_headers = {"x-amzn-RequestId": request_id}
            ctx_or_response = await self._gate(request, operation, media_type, base_headers)
            if isinstance(ctx_or_response, Response):
                return ctx_or_response
            ctx = ctx_or_response
            ctx.request_id = request_id
            headers = {**base_headers, "x-amzn-RateLimit-Limit": ctx.rate_limit}
            try:
                response = await handler(request, ctx)
            except ApiError as exc:
                return error_response(
                    exc.status,
                    exc.code,
                    exc.message,
                    exc.details,
                    media_type=media_type,
                    headers=headers,
                )
            response.headers.update(headers)
            return response

        return endpoint

    async def _gate(
        self, request: Request, operation: str, media_type: str, headers: dict[str, str]
    ) -> _Context | Response:
        s = self.s

        def denied(details: str) -> JSONResponse:
            return error_response(
                403,
                "Unauthorized",
                MSG_ACCESS_DENIED,
                details,
                media_type=media_type,
                headers=headers,
            )

        token = request.headers.get("x-amz-access-token")
        if not token:
            return denied(DETAIL_MISSING)
        with s.lock:
            record = s.tokens.get(token)
        if record is None:
            return denied(DETAIL_INVALID)
        if record.force_expired or s.now() >= record.expires_at:
            return denied(DETAIL_EXPIRED)
        if record.account_id is None:
            return denied("")  # a grantless (client_credentials) token has no seller
        if s.faults.take("expired_token", operation):
            record.force_expired = True
            return denied(DETAIL_EXPIRED)

        plan_header = s.limiter.plan(operation).header(s.time_scale)
        rl_headers = {**headers, "x-amzn-RateLimit-Limit": plan_header}
        account = s.accounts[record.account_id]
        if s.faults.take("throttle", operation) or not s.limiter.try_acquire(
            account.account_id, operation
        ):
            return error_response(
                429, "QuotaExceeded", MSG_QUOTA, "", media_type=media_type, headers=rl_headers
            )
        rule = s.faults.take("server_error", operation)
        if rule is not None:
            if rule.status == 503:
                return error_response(
                    503,
                    "ServiceUnavailable",
                    "Service temporarily unavailable. Please try again.",
                    media_type=media_type,
                    headers=headers,
                )
            return error_response(
                500,
                "InternalFailure",
                "We encountered an internal error. Please try again.",
                media_type=media_type,
                headers=headers,
            )
        rule = s.faults.take("timeout", operation)
        if rule is not None:
            await asyncio.sleep(rule.delay)
        return _Context(
            operation=operation, account=account, client_id=record.client_id, rate_limit=plan_header
        )

    # ---------------------------------------------------------------- LWA

    async def lwa_token(self, request: Request) -> Response:
        s = self.s
        body = (await request.body()).decode("utf-8", errors="replace")
        ctype = request.headers.get("content-type", "")
        if "json" in ctype:
            try:
                form = {k: str(v) for k, v in json.loads(body or "{}").items()}
            except (ValueError, AttributeError):
                form = {}
        else:
            form = {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}
        headers = {"Cache-Control": "no-cache, no-store", "Pragma": "no-cache"}

        def lwa_error(status: int, error: str, description: str) -> JSONResponse:
            return JSONResponse(
                {"error_description": description, "error": error},
                status_code=status,
                headers=headers,
            )

        grant_type = form.get("grant_type", "")
        client_id = form.get("client_id", "")
        client_secret = form.get("client_secret", "")
        if not grant_type:
            return lwa_error(
                400, "invalid_request", "The request is missing a required parameter : grant_type"
            )
        if not client_id or not client_secret:
            return lwa_error(401, "invalid_client", "Client authentication failed")
        if grant_type == "refresh_token":
            refresh_token = form.get("refresh_token", "")
            if not refresh_token:
                return lwa_error(
                    400,
                    "invalid_request",
                    "The request is missing a required parameter : refresh_token",
                )
            if not refresh_token.startswith("Atzr|") or (
                s.allowed_refresh_tokens is not None
                and refresh_token not in s.allowed_refresh_tokens
            ):
                return lwa_error(
                    400,
                    "invalid_grant",
                    "The request has an invalid grant parameter : refresh_token",
                )
            token = s.issue_token(s.account_for_refresh_token(refresh_token), client_id)
            payload = {
                "access_token": token.token,
                "refresh_token": refresh_token,
                "token_type": "bearer",
                "expires_in": ACCESS_TOKEN_LIFETIME,
            }
            return JSONResponse(payload, headers=headers)
        if grant_type == "client_credentials":
            scope = form.get("scope", "")
            if not scope:
                return lwa_error(
                    400, "invalid_request", "The request is missing a required parameter : scope"
                )
            token = s.issue_token(None, client_id)
            payload = {
                "access_token": token.token,
                "scope": scope,
                "token_type": "bearer",
                "expires_in": ACCESS_TOKEN_LIFETIME,
            }
            return JSONResponse(payload, headers=headers)
        return lwa_error(
            400,
            "unsupported_grant_type",
            "The authorization grant type is not supported by the authorization server",
        )

    # ---------------------------------------------------------------- orders

    def _account_marketplaces(
        self, ctx: _Context, requested: list[str] | None, name: str = "marketplaceIds"
    ) -> list[str]:
        own = list(ctx.account.marketplace_ids)
        if not requested:
            return own
        foreign = [m for m in requested if m not in own]
        if foreign:
            raise invalid(
                f"Invalid {name}: {', '.join(foreign)}.",
                "The seller does not sell in these marketplaces.",
            )
        return list(dict.fromkeys(requested))

    def _order_for(self, ctx: _Context, order_id: str) -> dict[str, Any]:
        order = self.s.orders.get(order_id)
        if order is None or order["account_id"] != ctx.account.account_id:
            raise not_found(f"Order {order_id} was not found.")
        return order

    async def search_orders(self, request: Request, ctx: _Context) -> Response:
        s = self.s
        now = s.now()
        limit = now - TWO_MINUTES
        created_after = _dt_param(request, "createdAfter")
        created_before = _dt_param(request, "createdBefore")
        updated_after = _dt_param(request, "lastUpdatedAfter")
        updated_before = _dt_param(request, "lastUpdatedBefore")
        if (created_after is None) == (updated_after is None):
            raise invalid("Exactly one of createdAfter and lastUpdatedAfter must be provided.")
        if created_after is not None and (updated_after or updated_before):
            raise invalid(
                "If createdAfter is provided, neither lastUpdatedAfter nor lastUpdatedBefore may be provided."
            )
        if updated_after is not None and created_before is not None:
            raise invalid(
                "If lastUpdatedAfter is provided, neither createdAfter nor createdBefore may be provided."
            )
        mode = "created" if created_after is not None else "updated"
        after_name, before_name = (
            ("createdAfter", "createdBefore")
            if mode == "created"
            else ("lastUpdatedAfter", "lastUpdatedBefore")
        )
        after = created_after if mode == "created" else updated_after
        before_given = created_before if mode == "created" else updated_before
        assert after is not None
        if before_given is not None:
            if before_given < after:
                raise invalid(f"{before_name} must be equal to or after {after_name}.")
            if before_given > limit:
                raise invalid(
                    f"{before_name} must be at least two minutes before the time of the request."
                )
        elif after > limit:
            raise invalid(
                f"{after_name} must be before {before_name}, which defaults to two minutes before the time of the request."
            )
        max_results = _int_param(request, "maxResultsPerPage", 100, 1, 100)
        marketplaces = _list_param(request, "marketplaceIds")
        if marketplaces is not None and len(marketplaces) > 50:
            raise invalid("Invalid marketplaceIds: at most 50 values are allowed.")
        marketplaces = self._account_marketplaces(ctx, marketplaces)
        statuses = _enum_list(request, "fulfillmentStatuses", FULFILLMENT_STATUSES)
        fulfilled_by = _enum_list(request, "fulfilledBy", ("MERCHANT", "AMAZON"))
        included = set(_enum_list(request, "includedData", INCLUDED_DATA))

        fingerprint = (
            mode,
            after,
            before_given,
            tuple(sorted(_list_param(request, "marketplaceIds") or ())),
            tuple(sorted(statuses)),
            tuple(sorted(fulfilled_by)),
        )
        resumed = self._resume(request, ctx, "paginationToken", fingerprint, now)
        offset = resumed.offset if resumed else 0
        cutoff = resumed.cutoff if resumed else before_given or limit
        assert cutoff is not None
        matching = resumed.results if resumed and resumed.results is not None else None
        if matching is None:
            time_key = "purchase_time" if mode == "created" else "last_updated_time"
            wanted_status = set(statuses)
            wanted_channel = {c for c, by in FULFILLED_BY.items() if by in set(fulfilled_by)}
            matching = [
                o
                for o in s.orders_by_account[ctx.account.account_id]
                if o["marketplace_id"] in marketplaces
                and after <= o[time_key] <= cutoff
                and (not wanted_status or o["order_status"] in wanted_status)
                and (not wanted_channel or o["fulfillment_channel"] in wanted_channel)
            ]
            matching.sort(key=lambda o: (o[time_key], o["order_id"]))
        page = matching[offset : offset + max_results]
        body: dict[str, Any] = {"orders": [self._order_json(o, included) for o in page]}
        if offset + max_results < len(matching):
            state = _PageToken(
                ctx.account.account_id,
                ctx.operation,
                fingerprint,
                offset + max_results,
                now,
                cutoff,
                matching,
            )
            token = s.new_page_token(state)
            body["pagination"] = {"nextToken": token}
        body[before_name] = iso_z(cutoff)
        return JSONResponse(body)

    def _resume(
        self,
        request: Request,
        ctx: _Context,
        name: str,
        fingerprint: tuple[Any, ...],
        now: datetime,
    ) -> _PageToken | None:
        """The state stored with this request's pagination token (None without one)."""
        s = self.s
        token = request.query_params.get(name)
        if token is None:
            return None
        with s.lock:
            state = s.page_tokens.get(token)
        if (
            state is None
            or state.account_id != ctx.account.account_id
            or state.operation != ctx.operation
        ):
            raise invalid(MSG_NEXT_TOKEN_UNDECODABLE.format(name=name))
        if (
            s.faults.take("expired_pagination_token", ctx.operation)
            or now - state.issued_at > s.pagination_token_ttl
        ):
            hours = s.pagination_token_ttl.total_seconds() / 3600
            raise invalid(
                f"The {name} has expired.",
                f"Pagination tokens expire {hours:g} hours after they are issued; repeat the request without {name}.",
            )
        if state.fingerprint != fingerprint:
            raise invalid(
                f"The {name} does not match the request parameters.",
                "All other parameters must be provided with the same values that were provided with the "
                "request that generated this token.",
            )
        return state

    async def get_order(self, request: Request, ctx: _Context) -> Response:
        order_id = request.path_params["orderId"]
        if not ORDER_ID_RE.match(order_id):
            raise invalid("Invalid Input", f"Invalid orderId: {order_id!r}.")
        included = set(_enum_list(request, "includedData", INCLUDED_DATA))
        order = self._order_for(ctx, order_id)
        return JSONResponse({"order": self._order_json(order, included)})

    def _order_json(self, o: dict[str, Any], included: set[str]) -> dict[str, Any]:
        s = self.s
        mid = o["marketplace_id"]
        cur = o["currency"]
        status = o["order_status"]
        items = s.items_by_order.get(o["order_id"], [])
        out: dict[str, Any] = {
            "orderId": o["order_id"],
            "createdTime": iso_z(o["purchase_time"]),
            "lastUpdatedTime": iso_z(o["last_updated_time"]),
            "programs": ["AMAZON_BUSINESS"] if o["is_business_order"] else [],
            "salesChannel": {
                "channelName": "AMAZON",
                "marketplaceId": mid,
                "marketplaceName": o["sales_channel"],
            },
        }
        buyer = s.buyers.get(o["buyer_id"])
        if "BUYER" in included and o["buyer_info_available"] and buyer is not None:
            section = {"buyerName": buyer["name"]}
            if o["fulfillment_channel"] == "MFN":  # buyerEmail: FBM orders only
                section["buyerEmail"] = buyer["email"]
            out["buyer"] = section
        if "RECIPIENT" in included:
            # The recipient's name comes with the address (it is what identifies FBA
            # buyers, whose e-mail Amazon withholds); street lines are never served.
            out["recipient"] = {
                "deliveryAddress": {
                    **({"name": buyer["name"]} if buyer is not None else {}),
                    "city": o["ship_city"],
                    "stateOrRegion": o["ship_state"],
                    "postalCode": o["ship_postal_code"],
                    "countryCode": o["ship_country"],
                }
            }
        if "PROCEEDS" in included:
            totals = {
                "ITEM": sum(i["item_price"] for i in items),
                "SHIPPING": sum(i["shipping_price"] for i in items),
                "TAX": sum(i["item_tax"] for i in items),
                "DISCOUNT": -sum(i["promotion_discount"] for i in items),
            }
            breakdowns = [
                {"type": kind, "subtotal": _money(value, cur)}
                for kind, value in totals.items()
                if kind == "ITEM" or round(value, 2) != 0
            ]
            out["proceeds"] = {
                "grandTotal": _money(sum(totals.values()), cur),
                "breakdowns": breakdowns,
            }
        if "FULFILLMENT" in included:
            section = {
                "fulfillmentStatus": status,
                "fulfilledBy": FULFILLED_BY[o["fulfillment_channel"]],
                "fulfillmentServiceLevel": "STANDARD",
            }
            if o["latest_delivery_time"] is not None:
                section["deliverByWindow"] = {"latestDateTime": iso_z(o["latest_delivery_time"])}
            out["fulfillment"] = section
        out["orderItems"] = [self._item_json(o, i, included) for i in items]
        if (
            "PACKAGES" in included
            and o["fulfillment_channel"] == "MFN"
            and o["ship_time"] is not None
            and status == "SHIPPED"
        ):
            carrier, service = CARRIERS.get(mid, ("USPS", "Standard"))
            delivered = o["delivery_time"] is not None
            out["packages"] = [
                {
                    "packageReferenceId": "1",
                    "createdTime": iso_z(o["ship_time"]),
                    "packageStatus": {
                        "status": "DELIVERED" if delivered else "IN_TRANSIT",
                        "detailedStatus": "DELIVERED" if delivered else "IN_TRANSIT",
                    },
                    "carrier": carrier,
                    "shipTime": iso_z(o["ship_time"]),
                    "shippingService": service,
                    "trackingNumber": rpt._digits("pkg" + o["order_id"], 20),
                    "packageItems": [
                        {"orderItemId": i["order_item_id"], "quantity": int(i["quantity"])}
                        for i in items
                    ],
                }
            ]
        return out

    def _item_json(
        self, o: dict[str, Any], i: dict[str, Any], included: set[str]
    ) -> dict[str, Any]:
        cur = i["currency"]
        product = self.s.products.get((i["account_id"], i["marketplace_id"], i["sku"]))
        qty = int(i["quantity"])
        out: dict[str, Any] = {
            "orderItemId": i["order_item_id"],
            "quantityOrdered": qty,
            "product": {
                "asin": i["asin"],
                "title": product["title"] if product else "",
                "sellerSku": i["sku"],
                "condition": {"conditionType": "NEW", "conditionSubtype": "NEW"},
                "price": {"unitPrice": _money(i["unit_price"], cur)},
            },
        }
        if "PROCEEDS" in included:
            discount = float(i["promotion_discount"])
            breakdowns: list[dict[str, Any]] = [
                {"type": "ITEM", "subtotal": _money(i["item_price"], cur)}
            ]
            if round(i["shipping_price"], 2):
                breakdowns.append(
                    {"type": "SHIPPING", "subtotal": _money(i["shipping_price"], cur)}
                )
            if round(i["item_tax"], 2):
                breakdowns.append(
                    {
                        "type": "TAX",
                        "subtotal": _money(i["item_tax"], cur),
                        "detailedBreakdowns": [
                            {"subtype": "ITEM", "value": _money(i["item_tax"], cur)}
                        ],
                    }
                )
            if round(discount, 2):
                breakdowns.append(
                    {
                        "type": "DISCOUNT",
                        "subtotal": _money(-discount, cur),
                        "detailedBreakdowns": [
                            {"subtype": "ITEM", "value": _money(-discount, cur)}
                        ],
                    }
                )
            total = i["item_price"] + i["shipping_price"] + i["item_tax"] - discount
            out["proceeds"] = {"proceedsTotal": _money(total, cur), "breakdowns": breakdowns}
        if "PROMOTION" in included and i["promotion_id"]:
            out["promotion"] = {"breakdowns": [{"promotionId": i["promotion_id"]}]}
        if "CANCELLATION" in included and o["order_status"] == "CANCELLED":
            # The World does not say who cancelled; the sandbox reports the buyer.
            out["cancellation"] = {"cancellationExecution": {"cancelledBy": "BUYER"}}
        if "FULFILLMENT" in included:
            status = o["order_status"]
            out["fulfillment"] = {
                "quantityFulfilled": qty if status == "SHIPPED" else 0,
                "quantityUnfulfilled": qty if status in ("PENDING", "UNSHIPPED") else 0,
            }
        return out

    # ---------------------------------------------------------------- reports

    def _report_json(self, rep: _Report, now: datetime) -> dict[str, Any]:
        out: dict[str, Any] = {
            "reportId": rep.report_id,
            "reportType": rep.report_type,
            "dataStartTime": iso_offset(rep.start),
            "dataEndTime": iso_offset(rep.end),
            "marketplaceIds": list(rep.marketplace_ids),
            "createdTime": iso_offset(rep.created),
        }
        queued_until = rep.created + self.s.report_queue
        done_at = queued_until + self.s.report_processing
        if rep.cancelled_at is not None:
            out["processingStatus"] = "CANCELLED"
            out["processingEndTime"] = iso_offset(rep.cancelled_at)
        elif now < queued_until:
            out["processingStatus"] = "IN_QUEUE"
        elif now < done_at:
            out["processingStatus"] = "IN_PROGRESS"
            out["processingStartTime"] = iso_offset(queued_until)
        else:
            out["processingStatus"] = rep.outcome
            out["processingStartTime"] = iso_offset(queued_until)
            out["processingEndTime"] = iso_offset(done_at)
            if rep.document_id is not None:
                out["reportDocumentId"] = rep.document_id
        return out

    def _report_for(self, ctx: _Context, report_id: str) -> _Report:
        if not report_id.isdigit():
            raise invalid("Invalid input", f"Invalid reportId: {report_id!r}.")
        with self.s.lock:
            rep = self.s.reports.get(report_id)
        if rep is None or rep.account_id != ctx.account.account_id:
            raise not_found(f"Report {report_id} was not found.")
        return rep

    def _store_document(self, account_id: str, text: str, encoding: str) -> str:
        document_id = f"amzn1.spdoc.1.4.na.{uuid.uuid4()}.T{secrets.token_hex(6).upper()}.2"
        doc = _Document(
            document_id,
            account_id,
            rpt.compress(text, encoding),
            f"text/plain; charset={encoding.upper()}",
        )
        with self.s.lock:
            self.s.documents[document_id] = doc
        return document_id

    async def create_report(self, request: Request, ctx: _Context) -> Response:
        s = self.s
        now = s.now()
        try:
            body = json.loads(await request.body() or b"null")
        except ValueError:
            raise invalid("Invalid input", "The request body is not valid JSON.") from None
        if not isinstance(body, dict):
            raise invalid(
                "Invalid input", "The request body must be a CreateReportSpecification object."
            )
        report_type = body.get("reportType")
        if not isinstance(report_type, str) or not report_type:
            raise invalid("Invalid input", "reportType is required.")
        marketplace_ids = body.get("marketplaceIds")
        if (
            not isinstance(marketplace_ids, list)
            or not 1 <= len(marketplace_ids) <= 25
            or not all(isinstance(m, str) for m in marketplace_ids)
        ):
            raise invalid(
                "Invalid input", "marketplaceIds is required: a list of 1 to 25 marketplace ids."
            )
        if report_type not in rpt.REPORT_SPECS:
            raise invalid(
                "Invalid input",
                f"Report type {report_type} is not supported (sandbox serves {', '.join(rpt.REPORT_TYPES)}).",
            )
        marketplace_ids = self._account_marketplaces(ctx, marketplace_ids)
        times = {}
        for name in ("dataStartTime", "dataEndTime"):
            raw = body.get(name)
            if raw is None:
                times[name] = now
                continue
            try:
                times[name] = parse_datetime(str(raw))
            except ValueError:
                raise invalid("Invalid input", f"{name} is not an ISO 8601 date-time.") from None
            if times[name] > now:
                raise invalid(
                    "Invalid input",
                    f"{name} must be prior to or equal to the current date and time.",
                )
        start, end = times["dataStartTime"], times["dataEndTime"]
        if start > end:
            raise invalid(
                "Invalid input", "dataStartTime must be prior to or equal to dataEndTime."
            )

        encoding = rpt.document_encoding(marketplace_ids)
        document_id = None
        if s.faults.take("fatal_report", ctx.operation, report_type):
            outcome = "FATAL"
            document_id = self._store_document(
                ctx.account.account_id,
                rpt.fatal_document("Report processing failed. Please try again."),
                encoding,
            )
        else:
            try:
                rendered = rpt.render_report(
                    s.world, ctx.account.account_id, report_type, marketplace_ids, start, end
                )
            except rpt.ReportError as exc:
                outcome = "FATAL"
                document_id = self._store_document(
                    ctx.account.account_id, rpt.fatal_document(str(exc)), encoding
                )
            else:
                if len(rendered) == 0:
                    outcome = "CANCELLED"  # Amazon cancels reports that have no data
                else:
                    outcome = "DONE"
                    document_id = self._store_document(
                        ctx.account.account_id, rendered.text, encoding
                    )
        rep = _Report(
            report_id=s.next_report_id(),
            account_id=ctx.account.account_id,
            report_type=report_type,
            marketplace_ids=marketplace_ids,
            start=start,
            end=end,
            created=now,
            outcome=outcome,
            document_id=document_id,
        )
        with s.lock:
            s.reports[rep.report_id] = rep
        return JSONResponse({"reportId": rep.report_id}, status_code=202)

    async def get_report(self, request: Request, ctx: _Context) -> Response:
        rep = self._report_for(ctx, request.path_params["reportId"])
        return JSONResponse(self._report_json(rep, self.s.now()))

    async def cancel_report(self, request: Request, ctx: _Context) -> Response:
        rep = self._report_for(ctx, request.path_params["reportId"])
        now = self.s.now()
        if self._report_json(rep, now)["processingStatus"] != "IN_QUEUE":
            raise invalid(
                "Invalid input", "Only reports with processingStatus IN_QUEUE can be cancelled."
            )
        rep.cancelled_at = now
        return Response(status_code=200)

    async def get_reports(self, request: Request, ctx: _Context) -> Response:
        s = self.s
        now = s.now()
        next_token = request.query_params.get("nextToken")
        if next_token is not None:
            others = [k for k in request.query_params if k not in ("nextToken",)]
            # python-amazon-sp-api adds marketplace ids on its own; tolerate only those
            if [
                k
                for k in others
                if k not in ("MarketplaceId", "MarketplaceIds", "marketplace_ids", "marketplaceIds")
            ]:
                raise invalid("Invalid input", "nextToken must be the only parameter.")
            with s.lock:
                state = s.page_tokens.get(next_token)
            if (
                state is None
                or state.account_id != ctx.account.account_id
                or state.operation != ctx.operation
            ):
                raise invalid(MSG_NEXT_TOKEN_UNDECODABLE.format(name="nextToken"))
            types, statuses, mids, since, until, page_size = state.fingerprint
            offset = state.offset
        else:
            types = _list_param(request, "reportTypes")
            if not types:
                raise invalid("Invalid input", "Either reportTypes or nextToken is required.")
            if len(types) > 10:
                raise invalid("Invalid input", "reportTypes accepts at most 10 values.")
            statuses = _enum_list(request, "processingStatuses", PROCESSING_STATUSES)
            mids = _list_param(request, "marketplaceIds") or []
            if len(mids) > 10:
                raise invalid("Invalid input", "marketplaceIds accepts at most 10 values.")
            page_size = _int_param(request, "pageSize", 10, 1, 100)
            since = _dt_param(request, "createdSince") or now - REPORT_RETENTION
            until = _dt_param(request, "createdUntil") or now
            offset = 0
        with s.lock:
            reps = [r for r in s.reports.values() if r.account_id == ctx.account.account_id]
        listed = []
        for rep in sorted(reps, key=lambda r: (r.created, r.report_id), reverse=True):
            doc = self._report_json(rep, now)
            if rep.report_type not in types or not since <= rep.created <= until:
                continue
            if statuses and doc["processingStatus"] not in statuses:
                continue
            if mids and not set(mids) & set(rep.marketplace_ids):
                continue
            listed.append(doc)
        body: dict[str, Any] = {"reports": listed[offset : offset + page_size]}
        if offset + page_size < len(listed):
            fingerprint = (types, statuses, mids, since, until, page_size)
            body["nextToken"] = s.new_page_token(
                _PageToken(
                    ctx.account.account_id, ctx.operation, fingerprint, offset + page_size, now
                )
            )
        return JSONResponse(body)

    async def get_report_document(self, request: Request, ctx: _Context) -> Response:
        s = self.s
        document_id = request.path_params["reportDocumentId"]
        with s.lock:
            doc = s.documents.get(document_id)
        if doc is None or doc.account_id != ctx.account.account_id:
            raise not_found(f"Report document {document_id} was not found.")
        expires = s.now() + DOCUMENT_URL_LIFETIME
        query = {"X-Amz-Expires": "300", "X-Amz-Date": expires.strftime("%Y%m%dT%H%M%SZ")}
        if request.query_params.get("enableContentEncodingUrlHeader", "").lower() == "true":
            query["response-content-encoding"] = "gzip"
        else:
            query["response-content-encoding"] = "identity"
        # The server's own socket address, not the Host header: python-amazon-sp-api
        # derives Host from the endpoint by slicing off "https://", which mangles http URLs.
        server_host, server_port = request.scope.get("server") or (
            request.url.hostname,
            request.url.port,
        )
        base = f"{request.url.scheme}://{server_host}:{server_port}"
        url = f"{base}/sandbox-documents/{document_id}?{urlencode(query)}"
        return JSONResponse(
            {"reportDocumentId": document_id, "url": url, "compressionAlgorithm": "GZIP"}
        )

    async def download_document(self, request: Request) -> Response:
        """The pre-signed URL: no SP-API auth, expires 5 minutes after it was issued."""
        s = self.s
        with s.lock:
            doc = s.documents.get(request.path_params["documentId"])
        if doc is None:
            return _s3_error(404, "NoSuchKey", "The specified key does not exist.")
        try:
            expires = datetime.strptime(
                request.query_params.get("X-Amz-Date", ""), "%Y%m%dT%H%M%SZ"
            ).replace(tzinfo=UTC)
        except ValueError:
            return _s3_error(
                403, "AccessDenied", "Query-string authentication requires the X-Amz-Date parameter"
            )
        if s.now() > expires:
            return _s3_error(403, "AccessDenied", "Request has expired")
        data = doc.data
        if s.faults.take("truncated_document", DOWNLOAD_OPERATION):
            data = truncate_gzip(data)
        elif s.faults.take("corrupt_document", DOWNLOAD_OPERATION):
            data = corrupt_gzip(data)
        headers = {
            "Content-Encoding": request.query_params.get("response-content-encoding", "identity")
        }
        return Response(data, media_type=doc.content_type, headers=headers)

    # ---------------------------------------------------------------- finances

    async def list_financial_events(self, request: Request, ctx: _Context) -> Response:
        s = self.s
        now = s.now()
        limit = now - TWO_MINUTES
        max_results = _int_param(request, "MaxResultsPerPage", 100, 1, 100)
        posted_after = _dt_param(request, "PostedAfter")
        posted_before = _dt_param(request, "PostedBefore")
        if posted_before is not None and posted_after is None:
            raise invalid("PostedAfter is required when PostedBefore is provided.")
        if posted_after is None and request.query_params.get("NextToken") is None:
            raise invalid(
                "PostedAfter is required.",
                "Provide PostedAfter (and optionally PostedBefore) or a NextToken.",
            )
        if posted_after is not None and posted_after > limit:
            raise invalid(
                "PostedAfter must be more than two minutes before the time of the request."
            )
        if posted_before is not None:
            if posted_before <= posted_after:
                raise invalid("PostedBefore must be later than PostedAfter.")
            if posted_before > limit:
                raise invalid(
                    "PostedBefore must be more than two minutes before the time of the request."
                )
        fingerprint = (posted_after, posted_before)
        resumed = self._resume(request, ctx, "NextToken", fingerprint, now)
        offset = resumed.offset if resumed else 0
        cutoff = resumed.cutoff if resumed else posted_before or limit
        assert cutoff is not None
        events: list[dict[str, Any]] = []
        if resumed is not None and resumed.results is not None:
            events = resumed.results
        elif posted_after is not None and cutoff - posted_after <= FINANCES_MAX_SPAN:
            events = self._refund_events(ctx.account.account_id, posted_after, cutoff)
        page = events[offset : offset + max_results]
        payload: dict[str, Any] = {"FinancialEvents": {"RefundEventList": page}}
        if offset + max_results < len(events):
            state = _PageToken(
                ctx.account.account_id,
                ctx.operation,
                fingerprint,
                offset + max_results,
                now,
                cutoff,
                events,
            )
            payload["NextToken"] = s.new_page_token(state)
        return JSONResponse({"payload": payload})

    def _refund_events(
        self, account_id: str, after: datetime, before: datetime
    ) -> list[dict[str, Any]]:
        """One RefundEvent per (order, posted time); PostedBefore is exclusive."""
        grouped: dict[tuple[str, str, datetime], list[dict[str, Any]]] = {}
        for r in self.s.refunds_by_account[account_id]:
            if after <= r["posted_time"] < before:
                grouped.setdefault(
                    (r["marketplace_id"], r["order_id"], r["posted_time"]), []
                ).append(r)
        events = []
        for (mid, order_id, posted), rows in grouped.items():
            events.append(
                {
                    "AmazonOrderId": order_id,
                    "SellerOrderId": order_id,
                    "MarketplaceName": MARKETPLACES.get(mid, {}).get("sales_channel", mid),
                    "PostedDate": iso_z(posted),
                    "ShipmentItemAdjustmentList": [
                        {
                            "SellerSKU": r["sku"],
                            "OrderAdjustmentItemId": r["adjustment_id"],
                            "QuantityShipped": int(r["quantity"]),
                            "ItemChargeAdjustmentList": [
                                {
                                    "ChargeType": "Principal",
                                    "ChargeAmount": {
                                        "CurrencyCode": r["currency"],
                                        "CurrencyAmount": _number(-r["amount"], r["currency"]),
                                    },
                                }
                            ],
                        }
                        for r in rows
                    ],
                }
            )
        return events

    # ---------------------------------------------------------------- solicitations & messaging

    def _hal_order(self, request: Request, ctx: _Context) -> tuple[dict[str, Any], str]:
        order_id = request.path_params["amazonOrderId"]
        mids = _list_param(request, "marketplaceIds")
        if not mids or len(mids) != 1:
            raise invalid("Missing or invalid request parameters: [marketplaceIds]")
        if not ORDER_ID_RE.match(order_id):
            raise invalid("Invalid Input", f"Invalid amazonOrderId: {order_id!r}.")
        order = self._order_for(ctx, order_id)
        if order["marketplace_id"] != mids[0]:
            raise not_found(f"Order {order_id} was not found in marketplace {mids[0]}.")
        return order, mids[0]

    def _solicitation_problem(
        self, order: dict[str, Any], account_id: str, now: datetime
    ) -> str | None:
        """Why productReviewAndSellerFeedback cannot be sent now (None when it can)."""
        if (account_id, order["order_id"]) in self.s.solicited:
            return MSG_SOLICITATION_UNAVAILABLE
        delivered = order["delivery_time"]
        if order["order_status"] != "SHIPPED" or delivered is None:
            return MSG_SOLICITATION_UNAVAILABLE
        if not delivered + timedelta(days=5) <= now <= delivered + timedelta(days=30):
            return MSG_SOLICITATION_WINDOW
        return None

    @staticmethod
    def _hal_actions(base: str, mid: str, names: list[str], sub: str) -> dict[str, Any]:
        links = [{"href": f"{base}/{sub}/{n}?marketplaceIds={mid}", "name": n} for n in names]
        return {
            "_links": {"actions": links, "self": {"href": f"{base}?marketplaceIds={mid}"}},
            "_embedded": {
                "actions": [
                    {
                        "_links": {
                            "self": link,
                            "schema": {
                                "href": f"{base}/{sub}/{link['name']}/schema",
                                "name": link["name"],
                            },
                        }
                    }
                    for link in links
                ]
            },
        }

    async def get_solicitation_actions(self, request: Request, ctx: _Context) -> Response:
        order, mid = self._hal_order(request, ctx)
        ok = self._solicitation_problem(order, ctx.account.account_id, self.s.now()) is None
        names = ["productReviewAndSellerFeedback"] if ok else []
        base = f"/solicitations/v1/orders/{order['order_id']}"
        return JSONResponse(self._hal_actions(base, mid, names, "solicitations"), media_type=HAL)

    async def create_solicitation(self, request: Request, ctx: _Context) -> Response:
        s = self.s
        order, mid = self._hal_order(request, ctx)
        with s.lock:
            problem = self._solicitation_problem(order, ctx.account.account_id, s.now())
            if problem is not None:
                raise ApiError(403, "Unauthorized", problem)
            s.solicited.add((ctx.account.account_id, order["order_id"]))
        s.record_send(
            ctx, "solicitations", "productReviewAndSellerFeedback", mid, order["order_id"], None
        )
        return JSONResponse({}, status_code=201, media_type=HAL)

    def _message_actions(self, order: dict[str, Any], now: datetime) -> list[str]:
        """Messaging actions the sandbox offers for an order.

        Rules (Amazon's, as far as they are documented): nothing for pending or
        cancelled orders or more than 30 days after delivery; before shipping the
        seller may confirm order details (MFN only); until delivery, confirm delivery
        details (MFN only); once shipped, warranty; unexpectedProblem for any open
        order. Customization, digital access keys, home services, legal disclosures
        and invoices need product/marketplace data the World does not model and are
        never offered.
        """
        status = order["order_status"]
        if status in ("PENDING", "CANCELLED"):
            return []
        delivered = order["delivery_time"]
        if delivered is not None and now > delivered + timedelta(days=30):
            return []
        mfn = order["fulfillment_channel"] == "MFN"
        actions = []
        if status == "UNSHIPPED" and mfn:
            actions.append("confirmOrderDetails")
        if delivered is None and mfn:
            actions.append("confirmDeliveryDetails")
        if status == "SHIPPED":
            actions.append("warranty")
        actions.append("unexpectedProblem")
        return actions

    async def get_messaging_actions(self, request: Request, ctx: _Context) -> Response:
        order, mid = self._hal_order(request, ctx)
        names = self._message_actions(order, self.s.now())
        base = f"/messaging/v1/orders/{order['order_id']}"
        return JSONResponse(self._hal_actions(base, mid, names, "messages"), media_type=HAL)

    async def get_attributes(self, request: Request, ctx: _Context) -> Response:
        order, mid = self._hal_order(request, ctx)
        country = MARKETPLACES.get(mid, {}).get("country_code", "US")
        return JSONResponse({"buyer": {"locale": LOCALES.get(country, "en-US")}}, media_type=HAL)

    def _message_handler(self, action: str) -> Callable[[Request, _Context], Any]:
        _, max_text = MESSAGE_ACTIONS[action]

        async def handler(request: Request, ctx: _Context) -> Response:
            s = self.s
            order, mid = self._hal_order(request, ctx)
            raw = await request.body()
            if not raw.strip():
                raise invalid("Invalid Input", "The request body is required.")
            try:
                body = json.loads(raw)
            except ValueError:
                raise invalid("Invalid Input", "The request body is not valid JSON.") from None
            if not isinstance(body, dict):
                raise invalid("Invalid Input", "The request body must be a JSON object.")
            _check_message_body(action, body, max_text)
            if action not in self._message_actions(order, s.now()):
                raise ApiError(403, "Unauthorized", MSG_MESSAGE_UNAVAILABLE)
            s.record_send(ctx, "messaging", action, mid, order["order_id"], body)
            return JSONResponse({}, status_code=201, media_type=HAL)

        return handler

    # ---------------------------------------------------------------- sandbox-only endpoints

    async def sandbox_sends(self, request: Request) -> Response:
        with self.s.lock:
            sends = list(self.s.sends)
        account = request.query_params.get("accountId")
        order = request.query_params.get("amazonOrderId")
        sends = [
            x
            for x in sends
            if (account is None or x["accountId"] == account)
            and (order is None or x["amazonOrderId"] == order)
        ]
        return JSONResponse({"sends": sends})

    async def sandbox_faults(self, request: Request) -> Response:
        faults = self.s.faults
        if request.method == "DELETE":
            faults.clear()
        elif request.method == "POST":
            try:
                config = json.loads(await request.body() or b"{}")
                replace = bool(config.pop("replace", False)) if isinstance(config, dict) else False
                faults.configure(config, replace=replace)
            except (ValueError, TypeError, AttributeError) as exc:
                return error_response(400, "InvalidInput", f"Invalid fault configuration: {exc}")
        return JSONResponse(faults.snapshot())

    async def sandbox_reset(self, request: Request) -> Response:
        self.s.reset()
        return JSONResponse({"reset": True, "now": iso_z(self.s.now())})

    async def sandbox_clock(self, request: Request) -> Response:
        s = self.s
        if request.method == "POST":
            try:
                body = json.loads(await request.body() or b"{}")
                seconds = float(body.get("advanceSeconds", 0))
            except (ValueError, TypeError, AttributeError):
                return error_response(400, "InvalidInput", 'Expected {"advanceSeconds": number}.')
            advance = getattr(s.clock, "advance", None)
            if advance is None:
                return error_response(400, "InvalidInput", "This sandbox clock cannot be advanced.")
            advance(seconds)
        return JSONResponse({"now": iso_z(s.now()), "timeScale": s.time_scale})


def _check_message_body(action: str, body: Mapping[str, Any], max_text: int | None) -> None:
    if max_text is not None:
        text = body.get("text")
        if not isinstance(text, str) or not 1 <= len(text) <= max_text:
            raise invalid("Invalid Input", f"text is required: 1 to {max_text} characters.")
        if "<" in text and ">" in text:
            raise invalid("Invalid Input", "text must not contain HTML.")
    attachments = body.get("attachments")
    if attachments is not None:
        if not isinstance(attachments, list) or len(attachments) > 5:
            raise invalid("Invalid Input", "attachments must be a list of at most 5 attachments.")
        for att in attachments:
            if (
                not isinstance(att, dict)
                or not att.get("uploadDestinationId")
                or not att.get("fileName")
            ):
                raise invalid(
                    "Invalid Input", "Each attachment needs uploadDestinationId and fileName."
                )
    if action in ("legalDisclosure", "invoice") and not attachments:
        raise invalid("Invalid Input", "attachments are required.")
    for name in ("coverageStartDate", "coverageEndDate"):
        if name in body:
            try:
                parse_datetime(str(body[name]))
            except ValueError:
                raise invalid("Invalid Input", f"{name} is not an ISO 8601 date-time.") from None


def _s3_error(status: int, code: str, message: str) -> Response:
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        f"<RequestId>{secrets.token_hex(8).upper()}</RequestId></Error>"
    )
    return Response(xml, status_code=status, media_type="application/xml")


# --------------------------------------------------------------------------- running


class SandboxURL(str):
    """The base URL of a running sandbox (a str) that also carries its app."""

    app: FastAPI

    def __new__(cls, url: str, app: FastAPI) -> SandboxURL:
        obj = super().__new__(cls, url)
        obj.app = app
        return obj

    @property
    def state(self) -> SandboxState:
        return self.app.state.sandbox


def _uvicorn_server(app: FastAPI, log_level: str, host: str = "127.0.0.1", port: int = 0) -> Any:
    import uvicorn

    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        date_header=False,
        server_header=False,
        lifespan="off",
        timeout_graceful_shutdown=1,
        access_log=False,
    )
    return uvicorn.Server(config)


@contextlib.contextmanager
def running_server(
    world: World,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    log_level: str = "warning",
    startup_timeout: float = 10.0,
    **app_kwargs: Any,
) -> Iterator[SandboxURL]:
    """Run the sandbox with uvicorn in a background thread; yield its base URL.

    ``port=0`` picks a free port. ``app_kwargs`` go to :func:`create_app`. The
    yielded URL is a ``str`` (``http://127.0.0.1:PORT``) with ``.app`` and ``.state``
    for tests that want to look inside.
    """
    app = create_app(world, **app_kwargs)
    server = _uvicorn_server(app, log_level)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port = sock.getsockname()[1]
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"sandbox-{bound_port}", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError("the sandbox server did not start")
        time.sleep(0.01)
    try:
        yield SandboxURL(f"http://{host}:{bound_port}", app)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


def serve(
    world: World,
    host: str = "127.0.0.1",
    port: int = 8765,
    *,
    log_level: str = "info",
    **app_kwargs: Any,
) -> None:
    """Run the sandbox in the foreground until interrupted."""
    app = create_app(world, **app_kwargs)
    _uvicorn_server(app, log_level, host, port).run()


__all__ = [
    "ApiError",
    "ManualClock",
    "SandboxState",
    "SandboxURL",
    "ScaledClock",
    "create_app",
    "iso_offset",
    "iso_z",
    "parse_datetime",
    "running_server",
    "serve",
]
