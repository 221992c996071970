"""Seller accounts: which SP-API connection, marketplaces and mailbox each one uses.

The accounts file is YAML, validated by pydantic; ``include/accounts.example.yaml``
documents every field. Secrets never live here: the file names Airflow
connection ids, and the connections (or ``AIRFLOW_CONN_*`` environment
variables) hold the refresh token, the LWA client id and secret, and the
mailbox password.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sellerops.paths import INCLUDE_DIR

ACCOUNTS_ENV = "SELLEROPS_ACCOUNTS_FILE"
DEFAULT_ACCOUNTS_FILE = INCLUDE_DIR / "accounts.yaml"
CATALOG_ENV = "SELLEROPS_CATALOG_FILE"
DEFAULT_CATALOG_FILE = INCLUDE_DIR / "catalog.csv"

# Amazon marketplace id -> (country code, currency, default IANA time zone).
MARKETPLACES: dict[str, tuple[str, str, str]] = {
    "ATVPDKIKX0DER": ("US", "USD", "America/New_York"),
    "A2EUQ1WTGCTBG2": ("CA", "CAD", "America/Toronto"),
    "A1AM78C64UM0Y8": ("MX", "MXN", "America/Mexico_City"),
    "A2Q3Y263D00KWC": ("BR", "BRL", "America/Sao_Paulo"),
    "A1F83G8C2ARO7P": ("GB", "GBP", "Europe/London"),
    "A1PA6795UKMFR9": ("DE", "EUR", "Europe/Berlin"),
    "A13V1IB3VIYZZH": ("FR", "EUR", "Europe/Paris"),
    "APJ6JRA9NG5V4": ("IT", "EUR", "Europe/Rome"),
    "A1RKKUPIHCS9HS": ("ES", "EUR", "Europe/Madrid"),
    "A1805IZSGTT6HS": ("NL", "EUR", "Europe/Amsterdam"),
    "A2NODRKZP88ZB9": ("SE", "SEK", "Europe/Stockholm"),
    "A1C3SOZRARQ6R3": ("PL", "PLN", "Europe/Warsaw"),
    "A33AVAJ2PDY3EV": ("TR", "TRY", "Europe/Istanbul"),
    "A2VIGQ35RCS4UG": ("AE", "AED", "Asia/Dubai"),
    "A21TJRUUN4KGV": ("IN", "INR", "Asia/Kolkata"),
    "A19VAU5U5O7RUS": ("SG", "SGD", "Asia/Singapore"),
    "A39IBJ37TRP1C6": ("AU", "AUD", "Australia/Sydney"),
    "A1VC38T7YXB528": ("JP", "JPY", "Asia/Tokyo"),
}

# SP-API region of each selling region: quotas are per (selling partner, application,
# region, operation), so marketplaces of one account in the same region share them.
REGION_OF_COUNTRY = {
    **dict.fromkeys(("US", "CA", "MX", "BR"), "na"),
    **dict.fromkeys(("JP", "AU", "SG"), "fe"),
}


def region_of(marketplace_id: str) -> str:
    """The SP-API region (``na``, ``eu`` or ``fe``) serving a marketplace."""
    return REGION_OF_COUNTRY.get(MARKETPLACES[marketplace_id][0], "eu")


_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


class AccountsFileError(ValueError):
    pass


class Account(BaseModel):
    """One seller account (one SP-API authorisation) and the marketplaces it sells on."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    account_id: str = Field(description="short id used in every table, e.g. acme-outdoor")
    name: str = Field(description="display name of the seller")
    spapi_conn_id: str = Field(description="Airflow connection with the LWA and refresh token")
    marketplaces: tuple[str, ...] = Field(min_length=1, description="Amazon marketplace ids")
    seller_time_zone: str = Field(description="IANA zone the seller's team works in")
    mailbox_conn_id: str | None = Field(
        default=None, description="Airflow connection of the seller's mailbox (IMAP or Maildir)"
    )
    seller_addresses: tuple[str, ...] = Field(
        default=(), description="the seller's own e-mail addresses, to tell replies from buyers"
    )

    @field_validator("account_id")
    @classmethod
    def _check_id(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError(
                "must be 1-63 characters of lowercase letters, digits, '-' or '_', "
                "starting with a letter or digit"
            )
        return value

    @field_validator("marketplaces")
    @classmethod
    def _check_marketplaces(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [m for m in value if m not in MARKETPLACES]
        if unknown:
            raise ValueError(
                f"unknown marketplace id(s) {unknown}; known: {', '.join(sorted(MARKETPLACES))}"
            )
        if len(set(value)) != len(value):
            raise ValueError("a marketplace is listed twice")
        return value

    @field_validator("seller_time_zone")
    @classmethod
    def _check_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"not an IANA time zone: {value!r}") from exc
        return value

    @field_validator("seller_addresses")
    @classmethod
    def _lower(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(v.strip().lower() for v in value)


class AccountsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    accounts: list[Account] = Field(min_length=1)

    @field_validator("accounts")
    @classmethod
    def _unique(cls, value: list[Account]) -> list[Account]:
        ids = [a.account_id for a in value]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"account ids must be unique; repeated: {duplicates}")
        return value

    def get(self, account_id: str) -> Account:
        for account in self.accounts:
            if account.account_id == account_id:
                return account
        known = ", ".join(a.account_id for a in self.accounts)
        raise AccountsFileError(f"unknown account {account_id!r}; known: {known}")

    def pairs(self) -> list[tuple[str, str]]:
        """Every (account_id, marketplace_id) to extract, in file order."""
        return [(a.account_id, m) for a in self.accounts for m in a.marketplaces]

    def quota_units(self) -> list[dict]:
        """One unit per (account, SP-API region): the key Amazon's quotas are counted by.

        Each unit lists its marketplaces in file order. Work on one unit runs in one
        task, marketplace after marketplace, so two tasks never draw on the same quota.
        """
        units: dict[tuple[str, str], list[str]] = {}
        for account_id, marketplace_id in self.pairs():
            units.setdefault((account_id, region_of(marketplace_id)), []).append(marketplace_id)
        return [
            {"account_id": account_id, "region": region, "marketplace_ids": marketplace_ids}
            for (account_id, region), marketplace_ids in units.items()
        ]


def catalog_path() -> Path | None:
    """The seller's product catalogue CSV (brand, category), if there is one."""
    path = Path(os.environ.get(CATALOG_ENV, DEFAULT_CATALOG_FILE))
    return path if path.exists() else None


def accounts_path() -> Path:
    return Path(os.environ.get(ACCOUNTS_ENV, DEFAULT_ACCOUNTS_FILE))


def load_accounts(path: Path | str | None = None) -> AccountsFile:
    """Read and validate the accounts file; errors name the file and the field."""
    import yaml

    path = Path(path) if path else accounts_path()
    if not path.exists():
        raise AccountsFileError(
            f"accounts file {path} not found: copy include/accounts.example.yaml to "
            f"include/accounts.yaml or set {ACCOUNTS_ENV}"
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise AccountsFileError(f"{path}: not valid YAML: {exc}") from exc
    try:
        return AccountsFile.model_validate(data)
    except ValidationError as exc:
        lines = [f"{path}: invalid accounts file"]
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"])
            lines.append(f"  {where}: {error['msg']}")
        raise AccountsFileError("\n".join(lines)) from None
