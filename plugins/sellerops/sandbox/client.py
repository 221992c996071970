"""Point python-amazon-sp-api at the sandbox.

The client has no endpoint setting: it takes the endpoint from the marketplace
object and the LWA host from its access-token client class. So::

    from sp_api.api import OrdersV20260101
    from sellerops.sandbox.client import client_kwargs

    orders = OrdersV20260101(**client_kwargs(base_url, "acme-outdoor", "ATVPDKIKX0DER"))

or by hand::

    OrdersV20260101(
        marketplace=sandbox_marketplace(base_url, "ATVPDKIKX0DER"),
        credentials={"lwa_app_id": "...", "lwa_client_secret": "...",
                     "refresh_token": "Atzr|acme-outdoor|anything"},
        auth_token_client_class=token_client_class(base_url),
    )

The refresh token ``Atzr|<account_id>|<anything>`` selects the sandbox account.

Access tokens: python-amazon-sp-api caches them for ~3200 real seconds in the
module-level TTLCache ``sp_api.auth.access_token_client.cache`` (keyed by refresh
token only, not by host). When the sandbox answers 403 "The access token you
provided has expired." (natural expiry under ``time_scale``, or the
``expired_token`` fault) or "... revoked, malformed or invalid." (a token from an
earlier sandbox instance), call :func:`clear_token_cache` and retry: the next call
fetches a fresh token from the sandbox. Tests that start several sandboxes should
clear the cache between them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sp_api.auth import AccessTokenClient
from sp_api.auth import access_token_client as _token_module

from sellerops.sandbox.world import MARKETPLACES

# Regions python-amazon-sp-api uses for these marketplaces (sp_api.base.Marketplaces).
_REGIONS = {"US": "us-east-1", "JP": "us-west-2"}

DEFAULT_CLIENT_ID = "amzn1.application-oa2-client.sandbox"
DEFAULT_CLIENT_SECRET = "sandbox-client-secret"


@dataclass(frozen=True)
class SandboxMarketplace:
    """Quacks like ``sp_api.base.Marketplaces`` members (endpoint, marketplace_id, region)."""

    endpoint: str
    marketplace_id: str
    region: str

    @property
    def name(self) -> str:
        return MARKETPLACES.get(self.marketplace_id, {}).get("country_code", self.marketplace_id)

    @property
    def value(self) -> tuple[str, str, str]:
        return (self.endpoint, self.marketplace_id, self.region)


def sandbox_marketplace(base_url: str, marketplace_id: str) -> SandboxMarketplace:
    """A marketplace whose ``.endpoint`` is the sandbox (e.g. ``http://127.0.0.1:8765``)."""
    country = MARKETPLACES.get(marketplace_id, {}).get("country_code", "US")
    return SandboxMarketplace(
        str(base_url).rstrip("/"), marketplace_id, _REGIONS.get(country, "us-east-1")
    )


def token_client_class(base_url: str) -> type[AccessTokenClient]:
    """An ``AccessTokenClient`` subclass that asks the sandbox's ``/auth/o2/token``."""
    parts = urlsplit(str(base_url))
    if not parts.scheme or not parts.netloc:
        raise ValueError(f"not an absolute URL: {base_url!r}")
    host = parts.netloc + parts.path.rstrip("/")
    return type(
        "SandboxAccessTokenClient",
        (AccessTokenClient,),
        {"scheme": parts.scheme + "://", "host": host, "__module__": __name__},
    )


def refresh_token_for(account_id: str, suffix: str = "sandbox") -> str:
    return f"Atzr|{account_id}|{suffix}"


def sandbox_credentials(
    account_id: str,
    *,
    suffix: str = "sandbox",
    client_id: str = DEFAULT_CLIENT_ID,
    client_secret: str = DEFAULT_CLIENT_SECRET,
) -> dict[str, str]:
    return {
        "refresh_token": refresh_token_for(account_id, suffix),
        "lwa_app_id": client_id,
        "lwa_client_secret": client_secret,
    }


def client_kwargs(
    base_url: str, account_id: str, marketplace_id: str, **extra: Any
) -> dict[str, Any]:
    """Keyword arguments for any ``sp_api`` client class, aimed at the sandbox."""
    kwargs: dict[str, Any] = {
        "marketplace": sandbox_marketplace(base_url, marketplace_id),
        "credentials": sandbox_credentials(account_id),
        "auth_token_client_class": token_client_class(base_url),
    }
    kwargs.update(extra)
    return kwargs


def clear_token_cache() -> None:
    """Forget every access token python-amazon-sp-api has cached (see module doc)."""
    _token_module.cache.clear()
    _token_module.grantless_cache.clear()


def is_expired_token_error(exc: BaseException) -> bool:
    """True for the sandbox's (and Amazon's) 403 answers that a new access token fixes."""
    error = getattr(exc, "error", None)
    if getattr(exc, "code", None) != 403 or not isinstance(error, list) or not error:
        return False
    details = str(error[0].get("details") or "")
    return "access token" in details and ("expired" in details or "invalid" in details)
