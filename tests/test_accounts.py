"""The accounts file: validated, with errors that name the file and the field."""

from __future__ import annotations

import pytest

from sellerops.accounts import AccountsFileError, load_accounts
from sellerops.paths import INCLUDE_DIR

GOOD = """
accounts:
  - account_id: acme-outdoor
    name: Acme Outdoor
    spapi_conn_id: sellerops_spapi_acme
    marketplaces: [ATVPDKIKX0DER, A1VC38T7YXB528]
    seller_time_zone: Asia/Shanghai
    mailbox_conn_id: sellerops_mailbox_acme
    seller_addresses: [Support@Acme.example]
"""


def test_good_file(tmp_path):
    path = tmp_path / "accounts.yaml"
    path.write_text(GOOD)
    accounts = load_accounts(path)
    assert accounts.pairs() == [
        ("acme-outdoor", "ATVPDKIKX0DER"),
        ("acme-outdoor", "A1VC38T7YXB528"),
    ]
    assert accounts.get("acme-outdoor").seller_addresses == ("support@acme.example",)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("ATVPDKIKX0DER, A1VC38T7YXB528", "ATVPDKIKX0DER, XXX"), "unknown marketplace id"),
        (("Asia/Shanghai", "Mars/Olympus"), "not an IANA time zone"),
        (("acme-outdoor", "Acme Outdoor!"), "account_id"),
        (("    name: Acme Outdoor\n", ""), "accounts.0.name: Field required"),
    ],
)
def test_bad_file_names_file_and_field(tmp_path, change, message):
    path = tmp_path / "accounts.yaml"
    path.write_text(GOOD.replace(*change, 1))
    with pytest.raises(AccountsFileError) as info:
        load_accounts(path)
    assert str(path) in str(info.value)
    assert message in str(info.value)


def test_missing_file_says_what_to_do(tmp_path):
    with pytest.raises(AccountsFileError, match="accounts.example.yaml"):
        load_accounts(tmp_path / "nope.yaml")


def test_shipped_example_is_valid():
    accounts = load_accounts(INCLUDE_DIR / "accounts.example.yaml")
    assert len(accounts.accounts) >= 1


def test_quota_units_group_marketplaces_by_account_and_region(tmp_path):
    path = tmp_path / "accounts.yaml"
    # US, JP, CA, DE, MX, AU for one account; GB for another.
    path.write_text(
        GOOD.replace(
            "[ATVPDKIKX0DER, A1VC38T7YXB528]",
            "[ATVPDKIKX0DER, A1VC38T7YXB528, A2EUQ1WTGCTBG2, A1PA6795UKMFR9,"
            " A1AM78C64UM0Y8, A39IBJ37TRP1C6]",
        )
        + """  - account_id: beta
    name: Beta
    spapi_conn_id: sellerops_spapi_beta
    marketplaces: [A1F83G8C2ARO7P]
    seller_time_zone: Europe/London
"""
    )
    assert load_accounts(path).quota_units() == [
        {
            "account_id": "acme-outdoor",
            "region": "na",
            "marketplace_ids": ["ATVPDKIKX0DER", "A2EUQ1WTGCTBG2", "A1AM78C64UM0Y8"],
        },
        {
            "account_id": "acme-outdoor",
            "region": "fe",
            "marketplace_ids": ["A1VC38T7YXB528", "A39IBJ37TRP1C6"],
        },
        {"account_id": "acme-outdoor", "region": "eu", "marketplace_ids": ["A1PA6795UKMFR9"]},
        {"account_id": "beta", "region": "eu", "marketplace_ids": ["A1F83G8C2ARO7P"]},
    ]
