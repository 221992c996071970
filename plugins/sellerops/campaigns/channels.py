"""The channels: Amazon's Solicitations and Messaging APIs through SpApiSession, and files.

Every SP-API call goes through :meth:`SpApiSession.call` (quota pacing per account
and operation, retries). What a failure means for a send decides what may happen
next, so :class:`AmazonChannels` sorts every failure of a send call into one of:

:class:`AmazonRefused`
    Amazon answered and did not perform the action (400, 403 "not available for
    this order", 404, ...): nothing was sent.
:class:`NotPerformed`
    The call never reached the point of sending: throttled (429), service
    unavailable (503), an expired access token, a refused connection -- retried by
    the session within its attempts, and this when they ran out. Nothing was sent.
:class:`AmbiguousOutcome`
    The request may have been performed: an internal error (500), a gateway
    timeout (504), a read timeout or a dropped connection after the request went
    out. The session does NOT retry these for a send call: the sender asks Amazon
    whether the action is still offered instead (for a review request that answers
    the question; for a message it cannot, and the row ends ``unknown``).

Eligibility calls (GET) are reads: the session retries everything transient, and
:class:`NotPerformed` means "could not ask".

Audience exports write a file per (campaign, account, marketplace, claim):
``<directory>/<account>__<marketplace>__<claim token>.<csv|parquet>``, written to a
temporary name and renamed, so a file with the claim token in its name exists
only once it is complete.
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sellerops.campaigns import definitions as defs

log = logging.getLogger(__name__)

# Messaging API path segment -> (operationId, python-amazon-sp-api Messaging method).
MESSAGE_OPERATIONS: dict[str, tuple[str, str]] = {
    "confirmDeliveryDetails": ("createConfirmDeliveryDetails", "create_confirm_delivery_details"),
    "unexpectedProblem": ("createUnexpectedProblem", "create_unexpected_problem"),
    "warranty": ("CreateWarranty", "create_warranty"),
    "confirmOrderDetails": ("createConfirmOrderDetails", "create_confirm_order_details"),
    "confirmServiceDetails": ("createConfirmServiceDetails", "create_confirm_service_details"),
    "confirmCustomizationDetails": ("confirmCustomizationDetails", "confirm_customization_details"),
}
GET_SOLICITATIONS = "getSolicitationActionsForOrder"
CREATE_SOLICITATION = "createProductReviewAndSellerFeedbackSolicitation"
GET_MESSAGING = "getMessagingActionsForOrder"


class ChannelError(Exception):
    """Base of the send outcomes other than success."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code

    def describe(self) -> str:
        parts = [str(p) for p in (self.status, self.code) if p]
        return f"{' '.join(parts)}: {self.message}" if parts else self.message


class AmazonRefused(ChannelError):
    """Amazon answered and did not perform the action."""


class NotPerformed(ChannelError):
    """The call failed before anything could have been performed (after the session's retries)."""


class AmbiguousOutcome(ChannelError):
    """The request may or may not have been performed."""


@dataclass(frozen=True)
class Accepted:
    """Amazon accepted the send."""

    request_id: str | None


def _error_text(exc: Any) -> tuple[str | None, str]:
    errors = getattr(exc, "error", None)
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        first = errors[0]
        message = str(first.get("message") or "")
        details = str(first.get("details") or "")
        return first.get("code"), f"{message} {details}".strip() or type(exc).__name__
    return getattr(exc, "amzn_code", None), str(getattr(exc, "message", None) or exc)


def is_token_problem(exc: Any) -> bool:
    """A 403 that a new access token fixes (expired, revoked, missing) -- not a refusal."""
    errors = getattr(exc, "error", None)
    if not isinstance(errors, list):
        return False
    for error in errors:
        if not isinstance(error, dict):
            continue
        details = str(error.get("details") or "").lower()
        message = str(error.get("message") or "")
        if "access token" in details or message == "Access to requested resource is denied.":
            return True
    return False


def _is_transport_error(exc: BaseException) -> bool:
    import httpx

    return isinstance(exc, httpx.TransportError)


def _never_sent_transport_error(exc: BaseException) -> bool:
    """The connection was never made: the request cannot have reached Amazon."""
    import httpx

    return isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)


def _guard_read(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Let the session retry transient failures of a read; turn refusals into AmazonRefused."""
    from sp_api.base import exceptions as spx

    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except spx.SellingApiForbiddenException as exc:
            if is_token_problem(exc):
                raise
            code, text = _error_text(exc)
            raise AmazonRefused(text, status=403, code=code) from exc
        except (
            spx.SellingApiRequestThrottledException,
            spx.SellingApiServerException,
            spx.SellingApiTemporarilyUnavailableException,
            spx.SellingApiGatewayTimeoutException,
        ):
            raise
        except spx.SellingApiException as exc:
            code, text = _error_text(exc)
            raise AmazonRefused(text, status=getattr(exc, "code", None), code=code) from exc

    return call


def _guard_send(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Only failures that prove nothing was sent reach the session's retries."""
    from sp_api.base import exceptions as spx

    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (
            spx.SellingApiRequestThrottledException,
            spx.SellingApiTemporarilyUnavailableException,
        ):
            raise  # 429 / 503: refused at the door; the session waits and retries
        except spx.SellingApiForbiddenException as exc:
            if is_token_problem(exc):
                raise  # the session refreshes the token and retries
            code, text = _error_text(exc)
            raise AmazonRefused(text, status=403, code=code) from exc
        except (spx.SellingApiServerException, spx.SellingApiGatewayTimeoutException) as exc:
            code, text = _error_text(exc)
            raise AmbiguousOutcome(text, status=getattr(exc, "code", None), code=code) from exc
        except spx.SellingApiException as exc:
            code, text = _error_text(exc)
            raise AmazonRefused(text, status=getattr(exc, "code", None), code=code) from exc
        except Exception as exc:
            if _is_transport_error(exc) and not _never_sent_transport_error(exc):
                raise AmbiguousOutcome(f"{type(exc).__name__}: {exc}") from exc
            raise  # a refused connection: the session retries it

    return call


def _unwrap(exc: RuntimeError) -> ChannelError:
    cause = exc.__cause__
    code, text = _error_text(cause) if cause is not None else (None, str(exc))
    return NotPerformed(str(exc) or text, status=getattr(cause, "code", None), code=code)


class AmazonChannels:
    """Eligibility checks and sends for the seller accounts, one SpApiSession each.

    ``sessions`` maps an account id to a ready session, or is a callable
    ``(Account) -> SpApiSession``; by default a session is built from the account's
    Airflow connection (``SpApiCredentials.from_connection``).
    """

    def __init__(self, accounts: Any, sessions: Any = None):
        self._accounts = {a.account_id: a for a in accounts.accounts}
        self._sessions_arg = sessions
        self._sessions: dict[str, Any] = {}
        self._clients: dict[tuple[str, str, str], Any] = {}

    def session(self, account_id: str) -> Any:
        if account_id not in self._sessions:
            given = self._sessions_arg
            if isinstance(given, dict) and account_id in given:
                self._sessions[account_id] = given[account_id]
            elif callable(given):
                self._sessions[account_id] = given(self._accounts[account_id])
            else:
                from sellerops.sources.spapi import SpApiCredentials, SpApiSession

                account = self._accounts[account_id]
                self._sessions[account_id] = SpApiSession(
                    account_id, SpApiCredentials.from_connection(account.spapi_conn_id)
                )
        return self._sessions[account_id]

    def _client(self, kind: str, account_id: str, marketplace_id: str) -> Any:
        key = (kind, account_id, marketplace_id)
        if key not in self._clients:
            from sp_api.api import Messaging, Solicitations

            api_class = Solicitations if kind == "solicitations" else Messaging
            self._clients[key] = self.session(account_id).client(api_class, marketplace_id)
        return self._clients[key]

    # -- eligibility ------------------------------------------------------------------------------

    def offered_actions(
        self, channel: str, account_id: str, marketplace_id: str, order_id: str
    ) -> list[str]:
        """The action names Amazon offers for the order now (getSolicitation/MessagingActions)."""
        session = self.session(account_id)
        if channel == defs.REVIEW_REQUEST:
            client = self._client("solicitations", account_id, marketplace_id)
            operation, fn = GET_SOLICITATIONS, client.get_solicitation_actions_for_order
        elif channel == defs.MESSAGE:
            client = self._client("messaging", account_id, marketplace_id)
            operation, fn = GET_MESSAGING, client.get_messaging_actions_for_order
        else:
            raise ValueError(f"{channel} has no Amazon eligibility")
        try:
            response = session.call(
                operation, _guard_read(fn), order_id, marketplaceIds=[marketplace_id]
            )
        except RuntimeError as exc:
            raise _unwrap(exc) from exc
        payload = getattr(response, "payload", None) or {}
        links = (payload.get("_links") or {}).get("actions") or []
        return [str(link.get("name")) for link in links if isinstance(link, dict)]

    def is_offered(
        self, channel: str, action: str, account_id: str, marketplace_id: str, order_id: str
    ) -> bool:
        return action in self.offered_actions(channel, account_id, marketplace_id, order_id)

    # -- sends ------------------------------------------------------------------------------------

    def send(
        self, campaign: defs.Campaign, account_id: str, marketplace_id: str, order_id: str
    ) -> Accepted:
        """Send the campaign's action for one order; raise a ChannelError when not accepted."""
        session = self.session(account_id)
        if campaign.channel == defs.REVIEW_REQUEST:
            client = self._client("solicitations", account_id, marketplace_id)
            operation = CREATE_SOLICITATION
            fn = client.create_product_review_and_seller_feedback_solicitation
            kwargs: dict[str, Any] = {"marketplaceIds": [marketplace_id]}
        elif campaign.channel == defs.MESSAGE:
            assert campaign.message is not None
            client = self._client("messaging", account_id, marketplace_id)
            operation, method = MESSAGE_OPERATIONS[campaign.message.type]
            fn = getattr(client, method)
            kwargs = {"body": campaign.message.body(order_id)}
        else:
            raise ValueError(f"{campaign.channel} is not sent through Amazon")
        try:
            response = session.call(operation, _guard_send(fn), order_id, **kwargs)
        except RuntimeError as exc:
            raise _unwrap(exc) from exc
        headers = getattr(response, "headers", None) or {}
        request_id = None
        if hasattr(headers, "get"):
            request_id = headers.get("x-amzn-RequestId") or headers.get("x-amzn-requestid")
        return Accepted(request_id=request_id)


# -- audience exports ----------------------------------------------------------------------------


def export_directory(campaign: defs.Campaign) -> Path:
    from sellerops.paths import data_dir

    settings = campaign.export_settings
    if settings.directory:
        return Path(settings.directory)
    return data_dir() / "campaigns" / "exports" / campaign.name


def export_file(campaign: defs.Campaign, account_id: str, marketplace_id: str, token: str) -> Path:
    suffix = campaign.export_settings.format
    return export_directory(campaign) / f"{account_id}__{marketplace_id}__{token}.{suffix}"


def write_export(
    campaign: defs.Campaign,
    account_id: str,
    marketplace_id: str,
    token: str,
    rows: Iterable[dict[str, Any]],
) -> tuple[Path, int]:
    """Write the audience file atomically; return its path and how many keys it lists."""
    settings = campaign.export_settings
    keys = sorted({str(r[settings.key]) for r in rows if r.get(settings.key)})
    path = export_file(campaign, account_id, marketplace_id, token)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    records = [
        {
            "campaign": campaign.name,
            "account_id": account_id,
            "marketplace_id": marketplace_id,
            settings.key: k,
        }
        for k in keys
    ]
    if settings.format == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        columns = ["campaign", "account_id", "marketplace_id", settings.key]
        table = pa.table({c: [r[c] for r in records] for c in columns})
        pq.write_table(table, tmp)
    else:
        with tmp.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(
                handle, fieldnames=["campaign", "account_id", "marketplace_id", settings.key]
            )
            writer.writeheader()
            writer.writerows(records)
            handle.flush()
            os.fsync(handle.fileno())
    os.replace(tmp, path)
    return path, len(keys)


def find_export(
    campaign: defs.Campaign, account_id: str, marketplace_id: str, token: str
) -> Path | None:
    path = export_file(campaign, account_id, marketplace_id, token)
    return path if path.exists() else None
