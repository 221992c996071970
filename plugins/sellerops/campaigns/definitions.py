"""Campaign definitions: the YAML file the operations team writes, validated by pydantic.

A campaigns file (``include/campaigns.yaml``; ``include/campaigns.schema.json`` is its
JSON schema, for editors) lists campaigns::

    version: 1
    campaigns:
      - name: review_request_7d
        description: Ask for a review and seller feedback a week after delivery.
        owner: ops-team
        live: false                        # dry run until switched live
        channel: amazon_review_request
        purpose: review_request
        trigger: {event: delivery, days: 7, send_window: {start: "09:00", end: "20:00"}}
        audience: {exclude_tags: [low_marketing_value]}
        products: {scope: all}
        holdout: 0.1

Channels
    ``amazon_review_request``: the Solicitations API's productReviewAndSellerFeedback
    (Amazon offers it once per order, 5 to 30 days after delivery);
    ``amazon_message``: one of the Messaging API's permitted types
    (:data:`MESSAGE_TYPES`); ``audience_export``: a CSV/Parquet file of pseudonymous
    buyer keys or order ids, for channels where marketing is allowed.

Purposes
    Amazon forbids marketing, promotional and "thank you" messages through buyer-seller
    messaging, and asking for reviews anywhere but the review request. A campaign
    whose ``purpose`` is promotional (:data:`PROMOTIONAL_PURPOSES`) on an Amazon
    channel is rejected with the reason, and so is a message whose type does not
    serve its purpose or whose text reads like marketing (:func:`lint_message_text`).

Triggers
    ``event``: ``delivery`` (Amazon's latest promised delivery; without one the
    shipment plus ``assumed_transit_days``, else the purchase plus
    ``assumed_delivery_days``), ``shipment`` (the ship time, else the purchase plus
    ``assumed_handling_days`` once the order is shipped), ``order``, ``return`` (the
    first return) or ``feedback``; ``days`` after it; a ``send_window`` in the
    buyer's local time (the ship-to address's zone).

Audience and products
    ``include_tags`` (any or all of them, ``include_mode``), ``exclude_tags``,
    ``fulfillment_channels``; product scope ``all``, ``only`` (the order has at least
    one listed ASIN) or ``except`` (the order has none of the listed ASINs).

Exclusions (:data:`EXCLUSIONS`)
    ``cancelled``, ``returned``, ``refunded``, ``negative_feedback`` (the buyer left
    1-2 star feedback on any order of the account and marketplace),
    ``already_solicited`` (another campaign sent the same Amazon action for the
    order), ``opted_out`` (``ops.buyer_opt_outs``) and ``business_orders``. Without
    an ``exclusions`` list a review request uses all of them, other channels
    ``cancelled`` and ``opted_out``. ``opted_out`` always applies, and
    ``already_solicited`` always applies to Amazon channels, listed or not.

Holdout
    ``holdout``: the share of buyers kept out of the campaign to measure it, chosen
    by a hash of the campaign name and the buyer key (the same buyer is always in
    the same arm of a campaign).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from datetime import time
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from sellerops.paths import INCLUDE_DIR

CAMPAIGNS_ENV = "SELLEROPS_CAMPAIGNS_FILE"
DEFAULT_CAMPAIGNS_FILE = INCLUDE_DIR / "campaigns.yaml"
SCHEMA_FILE = INCLUDE_DIR / "campaigns.schema.json"

NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
ASIN = re.compile(r"^[A-Z0-9]{10}$")

REVIEW_REQUEST = "amazon_review_request"
MESSAGE = "amazon_message"
EXPORT = "audience_export"
CHANNELS = (REVIEW_REQUEST, MESSAGE, EXPORT)
AMAZON_CHANNELS = (REVIEW_REQUEST, MESSAGE)

# The Solicitations API action of a review request.
REVIEW_ACTION = "productReviewAndSellerFeedback"
REVIEW_WINDOW_DAYS = (5, 30)  # Amazon offers it 5 to 30 days after delivery

# Messaging API types a campaign may send: path segment -> (purpose, max text or None
# when the type carries no text). Legal disclosures, invoices and digital access keys
# need attachments or product data a campaign does not have; negative-feedback
# removal requests and Amazon Motors are not campaign material.
MESSAGE_TYPES: dict[str, tuple[str, int | None]] = {
    "confirmDeliveryDetails": ("delivery_coordination", 2000),
    "unexpectedProblem": ("order_problem", 2000),
    "warranty": ("warranty", None),
    "confirmOrderDetails": ("order_details", 2000),
    "confirmServiceDetails": ("order_details", 2000),
    "confirmCustomizationDetails": ("order_details", 800),
}

PURPOSES = (
    "review_request",
    "delivery_coordination",
    "order_problem",
    "warranty",
    "order_details",
    "promotion",
    "cross_sell",
    "win_back",
    "thank_you",
    "newsletter",
)
PROMOTIONAL_PURPOSES = frozenset({"promotion", "cross_sell", "win_back", "thank_you", "newsletter"})

EXCLUSIONS = (
    "cancelled",
    "returned",
    "refunded",
    "negative_feedback",
    "already_solicited",
    "opted_out",
    "business_orders",
)
DEFAULT_EXCLUSIONS = {
    REVIEW_REQUEST: EXCLUSIONS,
    MESSAGE: ("cancelled", "opted_out"),
    EXPORT: ("cancelled", "opted_out"),
}

# Days after the trigger's anchor after which a row that was never sent is given up:
# a review request is offered until 30 days after the real delivery, and the
# warehouse only knows an estimate, hence the margin.
DEFAULT_GIVE_UP_DAYS = {REVIEW_REQUEST: 35.0, MESSAGE: 10.0, EXPORT: 30.0}

# Marketing in a buyer-seller message: (pattern, why). Case-insensitive.
_TEXT_RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p, re.IGNORECASE), why)
    for p, why in (
        (r"https?://|www\.", "links are not allowed in buyer-seller messages"),
        (r"<[a-z/!]", "HTML is not allowed in buyer-seller messages"),
        (
            r"\b(coupons?|discounts?|promo(tion)?s?|promo codes?|on sale|special offers?)\b"
            r"|\d+ ?% ?off\b",
            "marketing or promotional content is not allowed in buyer-seller messages",
        ),
        (
            r"\b(reviews?|feedback|rate us|5[- ]stars?|five[- ]stars?)\b",
            "asking for reviews or feedback is only allowed through the review request "
            "(Solicitations API), not in messages",
        ),
        (
            r"\bthank(s| you) for (your )?(purchase|order|shopping|buying)",
            "'thank you' messages are not allowed through buyer-seller messaging",
        ),
        (
            r"\b(new (product|arrival|collection)s?|check out our|visit our (store|shop))\b",
            "cross-selling is not allowed in buyer-seller messages",
        ),
    )
)


class CampaignsError(ValueError):
    """The campaigns file is missing, not YAML, or not a valid set of campaigns."""


def lint_message_text(text: str) -> list[str]:
    """Why ``text`` may not be sent through buyer-seller messaging (empty when it may)."""
    reasons = []
    for pattern, why in _TEXT_RULES:
        if pattern.search(text) and why not in reasons:
            reasons.append(why)
    return reasons


# -- the model ----------------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SendWindow(_Model):
    """Local time of day (the buyer's ship-to zone) in which sends may happen: [start, end)."""

    start: time = Field(default=time(9, 0), description="earliest local time, HH:MM")
    end: time = Field(default=time(20, 0), description="latest local time (exclusive), HH:MM")

    @model_validator(mode="after")
    def _order(self) -> SendWindow:
        if not self.start < self.end:
            raise ValueError("send_window.start must be before send_window.end (same day)")
        return self

    def contains(self, local: time) -> bool:
        return self.start <= local.replace(tzinfo=None) < self.end


class Trigger(_Model):
    event: Literal["delivery", "shipment", "order", "return", "feedback"] = Field(
        description="the event the days count from"
    )
    days: float = Field(ge=0, le=365, description="days after the event")
    assumed_transit_days: float = Field(
        default=4.0,
        ge=0,
        le=60,
        description="delivery without a promised date: shipment + this many days",
    )
    assumed_delivery_days: float = Field(
        default=7.0,
        ge=0,
        le=60,
        description="delivery without a promise or a ship time: purchase + this many days",
    )
    assumed_handling_days: float = Field(
        default=1.0,
        ge=0,
        le=30,
        description="shipment of a shipped order without a ship time: purchase + this many days",
    )
    send_window: SendWindow = Field(
        default_factory=SendWindow, description="local time of day sends may happen"
    )


class Audience(_Model):
    include_tags: tuple[str, ...] = Field(
        default=(), description="buyers must carry these tags (see include_mode); empty = all"
    )
    include_mode: Literal["any", "all"] = Field(
        default="any", description="any: at least one of include_tags; all: every one"
    )
    exclude_tags: tuple[str, ...] = Field(default=(), description="buyers with any of these")
    fulfillment_channels: tuple[Literal["AFN", "MFN"], ...] = Field(
        default=(), description="only orders fulfilled this way (AFN = FBA, MFN); empty = all"
    )

    @field_validator("include_tags", "exclude_tags")
    @classmethod
    def _tag_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [t for t in value if not NAME.match(t)]
        if bad:
            raise ValueError(f"not tag names: {bad}")
        if len(set(value)) != len(value):
            raise ValueError("a tag is listed twice")
        return value

    @model_validator(mode="after")
    def _disjoint(self) -> Audience:
        both = sorted(set(self.include_tags) & set(self.exclude_tags))
        if both:
            raise ValueError(f"tags both included and excluded: {both}")
        return self


class Products(_Model):
    scope: Literal["all", "only", "except"] = Field(
        default="all",
        description="all ASINs; only: orders with at least one listed ASIN; "
        "except: orders with none of the listed ASINs",
    )
    asins: tuple[str, ...] = Field(default=(), description="the ASINs of only / except")

    @field_validator("asins")
    @classmethod
    def _asins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        value = tuple(a.strip().upper() for a in value)
        bad = [a for a in value if not ASIN.match(a)]
        if bad:
            raise ValueError(f"not ASINs (10 letters or digits): {bad}")
        return value

    @model_validator(mode="after")
    def _scope_needs_asins(self) -> Products:
        if self.scope == "all" and self.asins:
            raise ValueError("scope 'all' takes no asins (use 'only' or 'except')")
        if self.scope != "all" and not self.asins:
            raise ValueError(f"scope '{self.scope}' needs a list of asins")
        return self

    def matches(self, asins: set[str]) -> bool:
        """Whether an order with these ASINs is in scope."""
        if self.scope == "all":
            return True
        listed = set(self.asins)
        if self.scope == "only":
            return bool(asins & listed)
        return not (asins & listed)


class Limits(_Model):
    max_per_run: int | None = Field(
        default=None, ge=1, description="at most this many sends per run and account"
    )
    max_per_day: int | None = Field(
        default=None, ge=1, description="at most this many sends per UTC day and account"
    )
    give_up_after_days: float | None = Field(
        default=None,
        gt=0,
        le=400,
        description="stop trying this many days after the event (default by channel: "
        "review request 35, message 10, export 30)",
    )
    recheck_hours: float = Field(
        default=24.0,
        gt=0,
        le=24 * 30,
        description="an order Amazon does not offer the action for is asked again after this",
    )


class Message(_Model):
    type: str = Field(description=f"Messaging API type: {', '.join(MESSAGE_TYPES)}")
    text: str | None = Field(
        default=None, description="the message ({order_id} is replaced by the order id)"
    )

    @field_validator("type")
    @classmethod
    def _type(cls, value: str) -> str:
        if value not in MESSAGE_TYPES:
            raise ValueError(
                f"message type {value!r} may not be sent by a campaign; permitted: "
                f"{', '.join(MESSAGE_TYPES)}"
            )
        return value

    @model_validator(mode="after")
    def _text(self) -> Message:
        _, max_text = MESSAGE_TYPES[self.type]
        if max_text is None:
            if self.text:
                raise ValueError(f"message type {self.type} carries no text")
            return self
        if not self.text or not self.text.strip():
            raise ValueError(f"message type {self.type} needs a text")
        if len(self.text) > max_text:
            raise ValueError(f"text is {len(self.text)} characters; {self.type} allows {max_text}")
        problems = lint_message_text(self.text)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def body(self, order_id: str) -> dict[str, Any]:
        if self.text is None:
            return {}
        return {"text": self.text.replace("{order_id}", order_id)}


class Export(_Model):
    format: Literal["csv", "parquet"] = "csv"
    key: Literal["buyer_key", "order_id"] = Field(
        default="buyer_key", description="what the file lists: pseudonymous buyer keys or orders"
    )
    directory: str | None = Field(
        default=None, description="where files go (default <data>/campaigns/exports/<campaign>)"
    )


class Campaign(_Model):
    name: str = Field(description="unique id, 1-63 lowercase letters, digits and '_'")
    description: str = Field(default="", max_length=2000)
    owner: str | None = None
    live: bool = Field(
        default=False, description="false (the default): dry run, nothing is sent or written"
    )
    accounts: tuple[str, ...] = Field(default=(), description="seller accounts; empty = all")
    marketplaces: tuple[str, ...] = Field(
        default=(), description="marketplace ids; empty = all of each account's"
    )
    channel: Literal["amazon_review_request", "amazon_message", "audience_export"]
    purpose: Literal[
        "review_request",
        "delivery_coordination",
        "order_problem",
        "warranty",
        "order_details",
        "promotion",
        "cross_sell",
        "win_back",
        "thank_you",
        "newsletter",
    ]
    trigger: Trigger
    audience: Audience = Field(default_factory=Audience)
    products: Products = Field(default_factory=Products)
    exclusions: (
        tuple[
            Literal[
                "cancelled",
                "returned",
                "refunded",
                "negative_feedback",
                "already_solicited",
                "opted_out",
                "business_orders",
            ],
            ...,
        ]
        | None
    ) = Field(
        default=None, description="default: all for review requests, else cancelled, opted_out"
    )
    limits: Limits = Field(default_factory=Limits)
    holdout: float = Field(default=0.0, ge=0.0, lt=1.0, description="share of buyers held out")
    message: Message | None = None
    export: Export | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME.match(value):
            raise ValueError(
                "must be 1-63 lowercase letters, digits or '_', starting with a letter"
            )
        return value

    @model_validator(mode="after")
    def _policy(self) -> Campaign:
        channel, purpose = self.channel, self.purpose
        if channel in AMAZON_CHANNELS and purpose in PROMOTIONAL_PURPOSES:
            raise ValueError(
                f"purpose {purpose!r} is promotional and channel {channel!r} is Amazon's: "
                "Amazon forbids marketing, promotional and 'thank you' messages through "
                "buyer-seller messaging and solicitations; use channel audience_export for a "
                "channel where marketing is allowed"
            )
        if channel == REVIEW_REQUEST:
            if purpose != "review_request":
                raise ValueError("an amazon_review_request campaign has purpose review_request")
            if self.trigger.event != "delivery":
                raise ValueError(
                    "a review request is timed from the delivery (trigger.event: delivery): "
                    "Amazon offers it 5 to 30 days after delivery only"
                )
            low, high = REVIEW_WINDOW_DAYS
            if not low <= self.trigger.days <= high:
                raise ValueError(
                    f"trigger.days is {self.trigger.days:g}: Amazon offers the review request "
                    f"only {low} to {high} days after delivery"
                )
        elif purpose == "review_request":
            raise ValueError(
                "asking for reviews is only allowed through channel amazon_review_request "
                "(Amazon's Solicitations API)"
            )
        if channel == MESSAGE:
            if self.message is None:
                raise ValueError("an amazon_message campaign needs a message (type and text)")
            expected, _ = MESSAGE_TYPES[self.message.type]
            if purpose != expected:
                raise ValueError(
                    f"message type {self.message.type} serves purpose {expected!r}, not "
                    f"{purpose!r}: Amazon permits each message type for its own purpose only"
                )
        elif self.message is not None:
            raise ValueError(f"a {channel} campaign takes no message")
        if channel != EXPORT and self.export is not None:
            raise ValueError(f"a {channel} campaign takes no export settings")
        if self.trigger.event == "return" and "returned" in self.effective_exclusions:
            raise ValueError(
                "trigger.event is 'return' but the exclusions exclude returned orders: "
                "nothing could ever be sent"
            )
        give_up = self.give_up_after_days
        if give_up <= self.trigger.days:
            raise ValueError(
                f"limits.give_up_after_days ({give_up:g}) must be after trigger.days "
                f"({self.trigger.days:g})"
            )
        return self

    # -- derived ------------------------------------------------------------------------------

    @property
    def action(self) -> str:
        """The Amazon action (or the export) a row of this campaign stands for."""
        if self.channel == REVIEW_REQUEST:
            return REVIEW_ACTION
        if self.channel == MESSAGE:
            assert self.message is not None
            return self.message.type
        return EXPORT

    @property
    def give_up_after_days(self) -> float:
        if self.limits.give_up_after_days is not None:
            return self.limits.give_up_after_days
        return DEFAULT_GIVE_UP_DAYS[self.channel]

    @property
    def effective_exclusions(self) -> tuple[str, ...]:
        chosen = set(
            self.exclusions if self.exclusions is not None else DEFAULT_EXCLUSIONS[self.channel]
        )
        chosen.add("opted_out")
        if self.channel in AMAZON_CHANNELS:
            chosen.add("already_solicited")
        return tuple(e for e in EXCLUSIONS if e in chosen)

    @property
    def export_settings(self) -> Export:
        return self.export or Export()

    def fingerprint(self) -> str:
        """A short hash of the definition (recorded with each run)."""
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


class CampaignsFile(_Model):
    version: Literal[1] = 1
    campaigns: tuple[Campaign, ...] = Field(default=())

    @field_validator("campaigns")
    @classmethod
    def _unique(cls, value: tuple[Campaign, ...]) -> tuple[Campaign, ...]:
        names = [c.name for c in value]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"campaign names must be unique; repeated: {repeated}")
        return value

    def get(self, name: str) -> Campaign:
        for campaign in self.campaigns:
            if campaign.name == name:
                return campaign
        known = ", ".join(c.name for c in self.campaigns) or "none"
        raise CampaignsError(f"unknown campaign {name!r}; known: {known}")

    def select(self, names: list[str] | tuple[str, ...] | None = None) -> list[Campaign]:
        if not names:
            return list(self.campaigns)
        return [self.get(n) for n in names]


# -- loading ------------------------------------------------------------------------------------


def campaigns_path() -> Path:
    return Path(os.environ.get(CAMPAIGNS_ENV, DEFAULT_CAMPAIGNS_FILE))


def parse_campaigns(data: Any, source: str = "<campaigns>") -> CampaignsFile:
    """Validate parsed YAML/JSON; errors name the source, the campaign and the field."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise CampaignsError(f"{source}: the top level must be a mapping with a 'campaigns' list")
    try:
        return CampaignsFile.model_validate(data)
    except ValidationError as exc:
        raise CampaignsError(_describe(exc, data, source)) from None


def load_campaigns(path: str | Path | None = None) -> CampaignsFile:
    """Read and validate a campaigns file (default ``include/campaigns.yaml`` or $SELLEROPS_CAMPAIGNS_FILE)."""
    import yaml

    path = Path(path) if path else campaigns_path()
    if not path.exists():
        raise CampaignsError(f"campaigns file {path} not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise CampaignsError(f"{path}: not valid YAML: {exc}") from None
    return parse_campaigns(data, str(path))


def _describe(exc: ValidationError, data: dict, source: str) -> str:
    campaigns = data.get("campaigns") if isinstance(data.get("campaigns"), list) else []
    lines = [f"{source}: invalid campaigns ({exc.error_count()} problem(s))"]
    for error in exc.errors():
        loc = list(error["loc"])
        where = "file"
        if len(loc) >= 2 and loc[0] == "campaigns" and isinstance(loc[1], int):
            raw = campaigns[loc[1]] if loc[1] < len(campaigns) else None
            name = raw.get("name") if isinstance(raw, dict) else None
            where = f"campaign {name!r}" if name else f"campaign #{loc[1] + 1}"
            loc = loc[2:]
        field = ".".join(str(p) for p in loc if not str(p).startswith("function-"))
        message = error["msg"].removeprefix("Value error, ")
        lines.append(f"  {where}{': ' + field if field else ''}: {message}")
    return "\n".join(lines)


def check_accounts(campaigns: CampaignsFile, accounts: Any) -> None:
    """Raise CampaignsError when a campaign names an account or marketplace not configured."""
    known = {a.account_id: set(a.marketplaces) for a in accounts.accounts}
    problems = []
    for campaign in campaigns.campaigns:
        for account_id in campaign.accounts:
            if account_id not in known:
                problems.append(f"campaign {campaign.name!r}: unknown account {account_id!r}")
        chosen = campaign.accounts or tuple(known)
        every = set().union(*(known.get(a, set()) for a in chosen)) if chosen else set()
        for marketplace_id in campaign.marketplaces:
            if marketplace_id not in every:
                problems.append(
                    f"campaign {campaign.name!r}: no chosen account sells on {marketplace_id}"
                )
    if problems:
        raise CampaignsError("\n".join(problems))


def pairs(campaign: Campaign, accounts: Any) -> list[tuple[Any, str]]:
    """(Account, marketplace_id) pairs a campaign runs for, in accounts-file order."""
    out = []
    for account in accounts.accounts:
        if campaign.accounts and account.account_id not in campaign.accounts:
            continue
        for marketplace_id in account.marketplaces:
            if campaign.marketplaces and marketplace_id not in campaign.marketplaces:
                continue
            out.append((account, marketplace_id))
    return out


# -- JSON schema --------------------------------------------------------------------------------


def campaigns_json_schema() -> dict[str, Any]:
    schema = CampaignsFile.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://sellerops.invalid/schemas/campaigns.schema.json"
    schema["description"] = (
        "SellerOps campaigns (generated by sellerops.campaigns.definitions.write_json_schema; "
        "do not edit). Promotional purposes ("
        + ", ".join(sorted(PROMOTIONAL_PURPOSES))
        + ") are only allowed on audience_export. Message types: "
        + "; ".join(f"{k} (purpose {v[0]})" for k, v in MESSAGE_TYPES.items())
        + "."
    )
    return schema


def render_json_schema() -> str:
    return json.dumps(campaigns_json_schema(), indent=2, ensure_ascii=False) + "\n"


def write_json_schema(path: str | Path | None = None) -> Path:
    path = Path(path or SCHEMA_FILE)
    path.write_text(render_json_schema(), encoding="utf-8")
    return path
