"""Buyer pseudonymisation.

A ``buyer_key`` is the hex HMAC-SHA256 of a normalised identity string under a
secret pepper. The same buyer gets the same key across orders, returns,
feedback and messages, while the warehouse never holds the e-mail or name
itself. The pepper comes from the environment variable
``SELLEROPS_BUYER_PEPPER`` or, under Airflow, from the connection
``sellerops_buyer_pepper`` (its password). The demo and the tests use a fixed
development pepper and say so.

Identity sources, in order of preference (stored in ``identity_source``):

``buyer_email``
    the buyer's Amazon relay e-mail (Orders API BUYER data, order reports,
    feedback report ``Rater Email``, mailbox ``From``).
``recipient``
    no e-mail (the app lacks the buyer role): name + postal code + country of
    the ship-to address. Stable for a buyer who ships to the same address, but
    a different key from the e-mail one.
``none``
    nothing to build a key from: the row loads with a null key.

Amazon gives the buyer's e-mail only for merchant-fulfilled orders, so an FBA
order carries a recipient key while the same buyer's FBM orders, messages and
feedback carry e-mail keys. :mod:`sellerops.identity_resolution` links the two
wherever an order shows both (or a message or feedback names the order) and
writes the resolved ``buyer_key`` on ``core.orders``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import unicodedata

PEPPER_ENV = "SELLEROPS_BUYER_PEPPER"
PEPPER_CONN_ID = "sellerops_buyer_pepper"
# Public on purpose: only for the sandbox demo and tests, never for real buyers.
DEVELOPMENT_PEPPER = "sellerops-development-pepper-not-secret"

SOURCE_EMAIL = "buyer_email"
SOURCE_RECIPIENT = "recipient"
SOURCE_NONE = "none"


class PepperMissingError(RuntimeError):
    pass


def load_pepper(allow_development: bool = False) -> bytes:
    """Return the pepper from the environment or the Airflow connection."""
    value = os.environ.get(PEPPER_ENV)
    if not value:
        value = _pepper_from_airflow()
    if not value and allow_development:
        value = DEVELOPMENT_PEPPER
    if not value:
        raise PepperMissingError(
            f"no buyer pepper: set the environment variable {PEPPER_ENV} or the Airflow "
            f"connection {PEPPER_CONN_ID!r} (its password is the pepper)"
        )
    if value != DEVELOPMENT_PEPPER:
        from sellerops.masking import mask

        mask(value)  # task logs show *** wherever the pepper would appear
    return value.encode("utf-8")


def _pepper_from_airflow() -> str | None:
    try:
        from airflow.sdk import BaseHook
    except ImportError:  # pragma: no cover - Airflow is always installed here
        return None
    try:
        return BaseHook.get_connection(PEPPER_CONN_ID).password or None
    except Exception:  # noqa: BLE001 - no connection defined, no Airflow context
        return None


def normalise_email(email: str | None) -> str | None:
    if email is None:
        return None
    text = unicodedata.normalize("NFKC", str(email)).strip().lower()
    if "@" not in text:
        return None
    return text


def normalise_text(text: str | None) -> str:
    if text is None:
        return ""
    text = unicodedata.normalize("NFKC", str(text)).casefold()
    return " ".join(text.split())


def _digest(pepper: bytes, message: str) -> str:
    return hmac.new(pepper, message.encode("utf-8"), hashlib.sha256).hexdigest()


def key_from_email(pepper: bytes, email: str | None) -> str | None:
    normalised = normalise_email(email)
    if normalised is None:
        return None
    return _digest(pepper, "email:" + normalised)


def key_from_recipient(
    pepper: bytes,
    recipient_name: str | None,
    postal_code: str | None,
    country_code: str | None,
) -> str | None:
    name = normalise_text(recipient_name)
    postal = normalise_text(postal_code).replace(" ", "")
    if not (name and postal):
        return None
    country = normalise_text(country_code)
    return _digest(pepper, f"recipient:{name}|{postal}|{country}")


def order_identity(
    pepper: bytes,
    email: str | None,
    recipient_name: str | None,
    postal_code: str | None,
    country_code: str | None,
) -> dict[str, str | None]:
    """Both keys an order can give, and which one identifies the buyer."""
    email_key = key_from_email(pepper, email)
    recipient_key = key_from_recipient(pepper, recipient_name, postal_code, country_code)
    if email_key:
        source = SOURCE_EMAIL
    elif recipient_key:
        source = SOURCE_RECIPIENT
    else:
        source = SOURCE_NONE
    return {
        "buyer_email_key": email_key,
        "buyer_recipient_key": recipient_key,
        "identity_source": source,
    }


def buyer_key(
    pepper: bytes,
    email: str | None = None,
    recipient_name: str | None = None,
    postal_code: str | None = None,
    country_code: str | None = None,
) -> tuple[str | None, str]:
    """Return ``(buyer_key, identity_source)`` following the documented fallbacks."""
    key = key_from_email(pepper, email)
    if key is not None:
        return key, SOURCE_EMAIL
    key = key_from_recipient(pepper, recipient_name, postal_code, country_code)
    if key is not None:
        return key, SOURCE_RECIPIENT
    return None, SOURCE_NONE
