"""Buyer keys: HMAC-SHA256 under the pepper, with documented fallbacks."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from sellerops import identity

PEPPER = b"pepper-for-tests"


def test_email_key_is_hmac_of_normalised_address():
    expected = hmac.new(PEPPER, b"email:x7k2abc@marketplace.amazon.com", hashlib.sha256).hexdigest()
    assert identity.key_from_email(PEPPER, "  X7K2abc@Marketplace.Amazon.com ") == expected
    assert identity.buyer_key(PEPPER, email="x7k2abc@marketplace.amazon.com") == (
        expected,
        "buyer_email",
    )


def test_recipient_fallback_when_no_email():
    key, source = identity.buyer_key(
        PEPPER, email=None, recipient_name="José  García", postal_code="94107 ", country_code="US"
    )
    expected = hmac.new(
        PEPPER, "recipient:josé garcía|94107|us".encode(), hashlib.sha256
    ).hexdigest()
    assert (key, source) == (expected, "recipient")


def test_no_identity_gives_null_key():
    assert identity.buyer_key(PEPPER, email="", recipient_name="", postal_code="1") == (
        None,
        "none",
    )


def test_different_pepper_different_key():
    a = identity.key_from_email(b"one", "a@marketplace.amazon.com")
    b = identity.key_from_email(b"two", "a@marketplace.amazon.com")
    assert a != b and len(a) == len(b) == 64


def test_missing_pepper_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("SELLEROPS_BUYER_PEPPER", raising=False)
    with pytest.raises(identity.PepperMissingError, match="SELLEROPS_BUYER_PEPPER"):
        identity.load_pepper()
    assert identity.load_pepper(allow_development=True) == identity.DEVELOPMENT_PEPPER.encode()
