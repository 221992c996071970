"""Deterministic generator of the sandbox seller world.

``generate(GeneratorConfig(seed=7, end_date=date(2025, 3, 1)))`` returns a
:class:`~sellerops.sandbox.world.World` whose tables follow
:data:`~sellerops.sandbox.world.COLUMNS`. The same configuration always gives
the same tables, byte for byte: every random draw comes from a numpy
``Generator(PCG64(...))`` seeded from ``config.seed`` and a fixed label of the
step that draws, and nothing depends on set or dict iteration order, the
wall clock (except the default ``end_date``) or Python's global ``random``.

Everything is vectorised: per account x marketplace there is a handful of
numpy/pandas passes, plus short loops over repeat-purchase rounds, message
steps and time zones, never over orders. ``python -m sellerops.sandbox.generator
--order-lines 1000000`` prints the timings.

How the world behaves
---------------------
Buyers. New buyers arrive at a constant daily rate; a share of them
(``repeat_buyer_share``) come back, each with an own Gamma-distributed rate,
``min_repeat_gap_days`` + exponential gaps, until an exponential "lifetime"
ends (a BG/NBD-like process). Repeat buyers who started before the history
(the pre-history) supply repeat orders from day one, so the daily volume is
flat; only their orders inside the history are kept. Buyers live in US states
(or Japanese prefectures) in proportion to population, in real cities with a
ZIP near the city's, and the ZIP decides the time zone (:mod:`sellerops.geo`).

Clocks. Purchases and buyer messages follow a local hour-of-day x weekday
profile of the buyer (evening peak, night trough, Sunday peak for purchases),
generated in a warped "operational" time and converted to UTC with the real
DST rules of the buyer's zone (nonexistent local times shift forward,
ambiguous ones are resolved at random). Seller replies happen only in the
seller's working hours (``seller_work_hours`` on ``seller_work_days``, in the
seller's own zone): the latency is counted in working hours, so a message that
arrives at night waits for the morning.

Orders. Multi-line and multi-unit orders, promotions, FBA (AFN) and MFN,
business buyers, buyers without BUYER data (all orders of such a buyer; see
``no_buyer_info_share``), cancellations shortly after purchase. As of ``end``:
orders younger than a few minutes/hours are PENDING, unshipped ones UNSHIPPED,
the rest SHIPPED (delivered when the delivery is before ``end``) or CANCELLED.

Returns and refunds only follow delivered orders: returned and refunded,
refunded without a return (a refund row with ``with_return=False``), returned
late (``is_late``; refunded only sometimes). Returns after ``end`` are not in
the world; refunds are kept only when they post before ``end``.

Feedback comes for a share of delivered orders, more often and more negative
after a return, refund or late delivery; a few comments start with ``=``,
``+``, ``-`` or ``@`` on purpose (spreadsheet formula injection).

Messages: pre-sales questions (``order_id`` '') from buyers before an order
and from buyers who never order (they are in ``buyers`` without orders),
post-sales threads tied to orders (more likely after a problem), seller
replies, buyer follow-ups and nudges, unanswered threads.
"""

from __future__ import annotations

import argparse
import math
import time
import zlib
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from numpy.random import PCG64, Generator, SeedSequence

from sellerops import geo
from sellerops.sandbox.world import COLUMNS, MARKETPLACES, SandboxAccount, World

US_MARKETPLACE = "ATVPDKIKX0DER"
JP_MARKETPLACE = "A1VC38T7YXB528"

DEFAULT_ACCOUNTS: tuple[SandboxAccount, ...] = (
    SandboxAccount(
        account_id="acme-outdoor",
        seller_id="A3ACMEOUTD00R",
        seller_name="Acme Outdoor Co., Ltd.",
        seller_email="seller@acme-outdoor.sandbox.sellerops.invalid",
        seller_time_zone="Asia/Shanghai",
        marketplace_ids=(US_MARKETPLACE, JP_MARKETPLACE),
    ),
    SandboxAccount(
        account_id="bluebird-home",
        seller_id="A1BLUEB1RDH0ME",
        seller_name="Bluebird Home LLC",
        seller_email="seller@bluebird-home.sandbox.sellerops.invalid",
        seller_time_zone="America/Los_Angeles",
        marketplace_ids=(US_MARKETPLACE, JP_MARKETPLACE),
    ),
)

STATUS_NAMES = ("PENDING", "UNSHIPPED", "SHIPPED", "CANCELLED")
PENDING, UNSHIPPED, SHIPPED, CANCELLED = range(4)
CHANNEL_NAMES = ("AFN", "MFN")
AFN, MFN = range(2)

DEFAULT_ORDERS_PER_DAY = 40.0
HOUR = 3600.0
DAY = 86400.0
MINUTE = 60.0


@dataclass(frozen=True)
class GeneratorConfig:
    """Every knob of the generated world. Rates are probabilities in [0, 1].

    History and size
        seed: the random seed (int >= 0); same config => same world.
        end_date: history ends at this date's 00:00 UTC (exclusive). Default
            ``None`` = today (UTC), so "the last N days" always has data.
        days: days of history; ``World.start = end - days``.
        orders_per_day: mean orders per day per account x marketplace
            (None = the default, 40).
        order_lines: if set, overrides ``orders_per_day`` so that the whole
            world holds about this many order lines.
        accounts: the sandbox seller accounts (default ``acme-outdoor``, a
            seller in China (Asia/Shanghai), and ``bluebird-home``,
            America/Los_Angeles; both on US and JP).
        products_per_account: catalog size per account (20-60 is realistic).
        jp_listing_share: share of an account's catalog also listed on JP.

    Buyers and repeat purchases
        repeat_buyer_share: share of new buyers who ever come back.
        repeat_gap_mean_days: mean gap between repeat purchases (the rate of
            a returning buyer is Gamma-distributed around 1/this).
        repeat_gap_shape: Gamma shape of that rate; small = heterogeneous.
        min_repeat_gap_days: no repeat purchase sooner than this.
        buyer_lifetime_mean_days: mean of the exponential time after which a
            returning buyer stops buying (churn).
        business_buyer_share: share of buyers who are business buyers (all
            their orders are business orders).
        no_buyer_info_share: share of buyers whose orders come without BUYER
            data (``buyer_info_available`` False for all of their orders, so
            the warehouse identifies them consistently by recipient).

    Orders
        lines_per_order_weights: P(1 line), P(2 lines), ... (normalised).
        quantity_weights: P(qty 1), P(qty 2), ... per line (normalised).
        cancellation_rate: share of orders cancelled shortly after purchase.
        fba_share: share of orders fulfilled by Amazon (AFN), else MFN.
        promotion_share: share of orders with a promotion on every line.

    Returns and refunds (per delivered order line)
        return_rate: base probability that a line is returned or refunded;
            multiplied by a category factor (clothing is returned more).
        refund_without_return_share: of those, refunded without a return.
        late_return_share: of those, returned after the return window
            (``return_window_days``); refunded with
            ``late_return_refund_share``.

    Feedback (per delivered order)
        feedback_rate: probability of seller feedback.
        feedback_problem_factor: multiplier after a return, refund or late
            delivery.
        feedback_star_weights / feedback_problem_star_weights: weights of
            1..5 stars without / with a problem.
        feedback_response_rate: share of 1-2 star feedback with a response.

    Messages
        presales_rate: pre-sales questions per order, asked by the buyer
            before that order.
        presales_browser_rate: pre-sales questions per order from buyers who
            never order.
        postsales_rate: probability that an order has a post-sales thread.
        postsales_problem_rate: the same after a return, refund or late
            delivery.
        unanswered_rate: probability that the seller never answers a buyer
            message that waits for an answer.
        followup_rate: probability that the buyer writes again after a
            seller reply.
        nudge_rate: probability that a waiting buyer writes again before the
            seller answers.
        max_thread_messages: longest thread.
        reply_latency_median_hours: median seller reply latency, counted in
            working hours (log-normal).
        seller_work_hours: (from, to) local hours the sellers answer, [from, to).
        seller_work_days: weekdays the sellers work, 0 = Monday.
    """

    seed: int = 42
    end_date: date | None = None
    days: int = 120
    orders_per_day: float | None = DEFAULT_ORDERS_PER_DAY
    order_lines: int | None = None
    accounts: tuple[SandboxAccount, ...] = DEFAULT_ACCOUNTS
    products_per_account: int = 40
    jp_listing_share: float = 0.7

    repeat_buyer_share: float = 0.15
    repeat_gap_mean_days: float = 40.0
    repeat_gap_shape: float = 1.5
    min_repeat_gap_days: float = 3.0
    buyer_lifetime_mean_days: float = 120.0
    business_buyer_share: float = 0.04
    no_buyer_info_share: float = 0.05

    lines_per_order_weights: tuple[float, ...] = (0.78, 0.14, 0.05, 0.03)
    quantity_weights: tuple[float, ...] = (0.86, 0.09, 0.03, 0.01, 0.01)
    cancellation_rate: float = 0.02
    fba_share: float = 0.7
    promotion_share: float = 0.12

    return_rate: float = 0.06
    refund_without_return_share: float = 0.15
    late_return_share: float = 0.08
    late_return_refund_share: float = 0.4
    return_window_days: int = 30

    feedback_rate: float = 0.05
    feedback_problem_factor: float = 3.0
    feedback_star_weights: tuple[float, ...] = (0.04, 0.03, 0.06, 0.15, 0.72)
    feedback_problem_star_weights: tuple[float, ...] = (0.30, 0.17, 0.15, 0.13, 0.25)
    feedback_response_rate: float = 0.5

    presales_rate: float = 0.03
    presales_browser_rate: float = 0.02
    postsales_rate: float = 0.04
    postsales_problem_rate: float = 0.35
    unanswered_rate: float = 0.08
    followup_rate: float = 0.3
    nudge_rate: float = 0.2
    max_thread_messages: int = 6
    reply_latency_median_hours: float = 1.0
    seller_work_hours: tuple[int, int] = (9, 21)
    seller_work_days: tuple[int, ...] = (0, 1, 2, 3, 4, 5)

    def __post_init__(self) -> None:
        if self.orders_per_day is None:  # "not given" from a CLI: the default
            object.__setattr__(self, "orders_per_day", DEFAULT_ORDERS_PER_DAY)
        if not isinstance(self.seed, int | np.integer) or self.seed < 0:
            raise ValueError("seed must be an integer >= 0")
        if self.days < 1:
            raise ValueError("days must be >= 1")
        if self.orders_per_day < 0:
            raise ValueError("orders_per_day must be >= 0")
        if self.order_lines is not None and self.order_lines < 0:
            raise ValueError("order_lines must be >= 0")
        if not self.accounts:
            raise ValueError("at least one account is needed")
        ids = [a.account_id for a in self.accounts]
        if len(set(ids)) != len(ids):
            raise ValueError("account ids must be unique")
        for account in self.accounts:
            for marketplace_id in account.marketplace_ids:
                if marketplace_id not in MARKETPLACES:
                    raise ValueError(f"unknown marketplace {marketplace_id!r}")
        if not 2 <= self.products_per_account <= 1000:
            raise ValueError("products_per_account must be in 2..1000")
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name.endswith(("_rate", "_share")) and not 0.0 <= value <= 1.0:
                raise ValueError(f"{f.name} must be in [0, 1], got {value}")
        for name in (
            "lines_per_order_weights",
            "quantity_weights",
            "feedback_star_weights",
            "feedback_problem_star_weights",
        ):
            weights = getattr(self, name)
            if not weights or min(weights) < 0 or sum(weights) <= 0:
                raise ValueError(f"{name} must be non-negative with a positive sum")
        if len(self.feedback_star_weights) != 5 or len(self.feedback_problem_star_weights) != 5:
            raise ValueError("feedback star weights need 5 entries (1..5 stars)")
        lo, hi = self.seller_work_hours
        if not 0 <= lo < hi <= 24 or not self.seller_work_days:
            raise ValueError("seller_work_hours must be 0 <= from < to <= 24 with work days")
        if self.max_thread_messages < 1:
            raise ValueError("max_thread_messages must be >= 1")
        if (
            min(self.repeat_gap_mean_days, self.repeat_gap_shape, self.buyer_lifetime_mean_days)
            <= 0
        ):
            raise ValueError("repeat gap mean/shape and lifetime must be > 0")

    def end_datetime(self) -> datetime:
        """``end_date`` (default today, UTC) at 00:00 UTC."""
        day = self.end_date or datetime.now(UTC).date()
        return datetime(day.year, day.month, day.day, tzinfo=UTC)

    def start_datetime(self) -> datetime:
        return self.end_datetime() - timedelta(days=self.days)

    def groups(self) -> list[tuple[SandboxAccount, str]]:
        """(account, marketplace_id) pairs, in configuration order."""
        return [(a, m) for a in self.accounts for m in a.marketplace_ids]

    def mean_lines_per_order(self) -> float:
        w = np.asarray(self.lines_per_order_weights, float)
        return float((w / w.sum()) @ np.arange(1, len(w) + 1))

    def effective_orders_per_day(self) -> float:
        """orders_per_day, or the value that ``order_lines`` implies."""
        if self.order_lines is None:
            return float(self.orders_per_day)
        return self.order_lines / (self.days * len(self.groups()) * self.mean_lines_per_order())


# --------------------------------------------------------------------------- #
# Random streams and ids
# --------------------------------------------------------------------------- #


def _rng(seed: int, *labels: str) -> Generator:
    """An independent, reproducible stream per (seed, labels)."""
    key = tuple(zlib.crc32(label.encode("utf-8")) for label in labels)
    return Generator(PCG64(SeedSequence(entropy=int(seed), spawn_key=key)))


def _unique_ints(rng: Generator, n: int, low: int, high: int) -> np.ndarray:
    """n distinct int64 in [low, high), random order, reproducible."""
    if n > high - low:
        raise ValueError("id space too small")
    x = rng.integers(low, high, n, dtype=np.int64)
    while n:
        order = np.argsort(x, kind="stable")
        xs = x[order]
        dup = np.flatnonzero(xs[1:] == xs[:-1]) + 1
        if not dup.size:
            break
        idx = order[dup]
        x[idx] = rng.integers(low, high, idx.size, dtype=np.int64)
    return x


_DIGITS = np.frombuffer(b"0123456789", np.uint8)
_LOWER36 = np.frombuffer(b"0123456789abcdefghijklmnopqrstuvwxyz", np.uint8)
_UPPER36 = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", np.uint8)


def _encode(x: np.ndarray, width: int, alphabet: np.ndarray) -> np.ndarray:
    """Fixed-width base-len(alphabet) digits of non-negative ints, as uint8 (n, width)."""
    base = len(alphabet)
    out = np.empty((len(x), width), np.uint8)
    v = x.astype(np.int64, copy=True)
    for i in range(width - 1, -1, -1):
        out[:, i] = alphabet[v % base]
        v //= base
    return out


def _chars(rng: Generator, n: int, width: int, alphabet: np.ndarray) -> np.ndarray:
    return alphabet[rng.integers(0, len(alphabet), (n, width))]


def _ascii(*parts: np.ndarray | str, n: int) -> pa.Array:
    """Glue fixed-width uint8 blocks (ASCII) and literal strings into an arrow string array."""
    if n == 0:
        return pa.array([], pa.large_string())
    blocks = []
    for part in parts:
        if isinstance(part, str):
            lit = np.frombuffer(part.encode("utf-8"), np.uint8)
            blocks.append(np.broadcast_to(lit, (n, len(lit))))
        else:
            blocks.append(part.reshape(n, -1))
    data = np.ascontiguousarray(np.hstack(blocks)) if blocks else np.empty((n, 0), np.uint8)
    width = data.shape[1]
    offsets = np.arange(n + 1, dtype=np.int64) * width
    return pa.Array.from_buffers(
        pa.large_string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data.reshape(-1))]
    )


def _take(vocab: list[str] | tuple[str, ...], codes: np.ndarray) -> pa.Array:
    return pa.array(list(vocab), pa.large_string()).take(pa.array(np.asarray(codes, np.int64)))


def _join(*parts: pa.Array | str) -> pa.Array:
    """Element-wise concatenation of arrow string arrays and literals."""
    args = [pa.scalar(p, pa.large_string()) if isinstance(p, str) else p for p in parts]
    return pc.binary_join_element_wise(*args, pa.scalar("", pa.large_string()))


def _where(mask: np.ndarray, yes: pa.Array | str, no: pa.Array | str) -> pa.Array:
    """Element-wise ``yes if mask else no`` for arrow strings (literals broadcast)."""
    if not len(mask):
        return pa.array([], pa.large_string())
    yes, no = (pa.scalar(v, pa.large_string()) if isinstance(v, str) else v for v in (yes, no))
    return pc.if_else(pa.array(np.asarray(mask, bool)), yes, no)


def _pick(values: pa.Array, idx: np.ndarray) -> pa.Array:
    """``values[idx]``, and '' where ``idx`` < 0."""
    idx = np.asarray(idx, np.int64)
    if not len(values):
        return _take([""], np.zeros(len(idx), np.int64))
    return _where(idx >= 0, values.take(pa.array(np.maximum(idx, 0))), "")


def _str(arr: pa.Array | np.ndarray | list) -> pd.arrays.ArrowStringArray:
    if not isinstance(arr, pa.Array | pa.ChunkedArray):
        arr = pa.array(list(arr) if not isinstance(arr, np.ndarray) else arr, pa.large_string())
    return pd.array(arr.cast(pa.large_string()), dtype="str")


def _const(value: str, n: int) -> pd.arrays.ArrowStringArray:
    return _str(_ascii(value, n=n))


def _times(sec: np.ndarray) -> pd.DatetimeIndex:
    """Float UTC epoch seconds (NaN = NaT) -> datetime64[us, UTC], floored to the second."""
    sec = np.asarray(sec, float)
    ok = ~np.isnan(sec)
    us = np.full(len(sec), np.iinfo(np.int64).min, np.int64)
    us[ok] = np.floor(sec[ok]).astype(np.int64) * 1_000_000
    return pd.DatetimeIndex(us.view("datetime64[us]")).tz_localize("UTC")


def _money(values: np.ndarray, currency: str) -> np.ndarray:
    return np.round(values, 0 if currency == "JPY" else 2)


# --------------------------------------------------------------------------- #
# Clocks: weekly profiles in local wall time, time zones
# --------------------------------------------------------------------------- #

_EPOCH_MONDAY = 4 * DAY  # 1970-01-05 00:00 was a Monday

# Relative intensity by local hour 0..23 and weekday Monday..Sunday.
PURCHASE_HOURS = (
    2.2, 1.3, 0.8, 0.55, 0.5, 0.7, 1.3, 2.3, 3.3, 4.2, 4.8, 5.0,
    5.3, 5.2, 5.0, 4.9, 4.9, 5.1, 5.6, 6.3, 6.9, 7.0, 5.8, 3.9,
)  # fmt: skip
PURCHASE_WEEKDAYS = (1.02, 0.99, 0.97, 0.96, 0.90, 0.98, 1.18)
MESSAGE_HOURS = (
    1.2, 0.6, 0.4, 0.3, 0.3, 0.6, 1.4, 2.8, 4.2, 5.2, 5.6, 5.5,
    5.3, 5.2, 5.0, 4.9, 4.8, 4.9, 5.2, 5.8, 6.2, 5.9, 4.4, 2.5,
)  # fmt: skip
MESSAGE_WEEKDAYS = (1.10, 1.05, 1.0, 1.0, 0.95, 0.90, 1.0)


class _Warp:
    """Operational time for a weekly intensity profile in local wall time.

    ``forward`` maps wall seconds to operational hours (the integral of the
    intensity); ``inverse`` maps back. Uniform/exponential draws in operational
    time become events that follow the profile. With ``normalise`` the mean
    intensity is 1, so operational hours are real hours on average; without it
    a 0/1 profile measures working hours.
    """

    def __init__(self, weights: np.ndarray, normalise: bool = True) -> None:
        w = np.asarray(weights, float).reshape(168)
        if normalise:
            w = w * (168.0 / w.sum())
        self.w = w
        self.cum = np.concatenate([[0.0], np.cumsum(w)])
        self.period = float(self.cum[-1])

    @classmethod
    def profile(cls, hours: tuple[float, ...], weekdays: tuple[float, ...]) -> _Warp:
        return cls(np.outer(np.asarray(weekdays, float), np.asarray(hours, float)).ravel())

    def forward(self, wall: np.ndarray) -> np.ndarray:
        x = (np.asarray(wall, float) - _EPOCH_MONDAY) / HOUR
        week = np.floor(x / 168.0)
        r = x - week * 168.0
        i = np.minimum(r.astype(np.int64), 167)
        return week * self.period + self.cum[i] + (r - i) * self.w[i]

    def inverse(self, u: np.ndarray) -> np.ndarray:
        u = np.asarray(u, float)
        week = np.floor(u / self.period)
        s = u - week * self.period
        seg = np.clip(np.searchsorted(self.cum, s, side="left"), 1, 168) - 1
        num = s - self.cum[seg]
        wseg = self.w[seg]
        frac = np.divide(num, wseg, out=np.zeros_like(num), where=wseg > 0)
        frac = np.clip(frac, 0.0, 1.0)
        return (week * 168.0 + seg + frac) * HOUR + _EPOCH_MONDAY


def _to_wall(zone: str, sec: np.ndarray) -> np.ndarray:
    """UTC epoch seconds -> local wall-clock seconds in ``zone``."""
    whole = np.floor(sec).astype(np.int64)
    idx = pd.DatetimeIndex(whole.astype("datetime64[s]")).tz_localize("UTC").tz_convert(zone)
    wall = idx.tz_localize(None).as_unit("s").asi8
    return sec + (wall - whole)


def _from_wall(zone: str, wall: np.ndarray, ambiguous: np.ndarray) -> np.ndarray:
    """Local wall seconds -> UTC epoch seconds; gaps shift forward, folds pick at random."""
    whole = np.floor(wall).astype(np.int64)
    idx = pd.DatetimeIndex(whole.astype("datetime64[s]")).tz_localize(
        zone, ambiguous=ambiguous, nonexistent="shift_forward"
    )
    utc = idx.as_unit("s").asi8
    return wall + (utc - whole)


def _per_zone(zones: list[str], codes: np.ndarray, func, values: np.ndarray, *extra) -> np.ndarray:
    """Apply ``func(zone_name, values[i], *extra[i])`` to each zone's slice."""
    out = np.empty(len(values), float)
    if not len(values):
        return out
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    cuts = np.flatnonzero(np.diff(sorted_codes)) + 1
    bounds = np.concatenate([[0], cuts, [len(values)]])
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        idx = order[a:b]
        out[idx] = func(zones[sorted_codes[a]], values[idx], *(e[idx] for e in extra))
    return out


class _Clock:
    """Buyer-local and seller-working-hour time arithmetic for one group."""

    def __init__(self, rng: Generator, zones: list[str], seller_zone: str, cfg: GeneratorConfig):
        self.rng = rng
        self.zones = zones
        self.seller_zone = seller_zone
        self.purchase = _Warp.profile(PURCHASE_HOURS, PURCHASE_WEEKDAYS)
        self.message = _Warp.profile(MESSAGE_HOURS, MESSAGE_WEEKDAYS)
        work = np.zeros((7, 24))
        lo, hi = cfg.seller_work_hours
        for d in cfg.seller_work_days:
            work[d % 7, lo:hi] = 1.0
        self.work = _Warp(work.ravel(), normalise=False)

    def from_operational(self, u: np.ndarray, codes: np.ndarray, warp: _Warp) -> np.ndarray:
        wall = warp.inverse(u)
        amb = self.rng.random(len(u)) < 0.5
        return _per_zone(self.zones, codes, _from_wall, wall, amb)

    def to_operational(self, sec: np.ndarray, codes: np.ndarray, warp: _Warp) -> np.ndarray:
        return warp.forward(_per_zone(self.zones, codes, _to_wall, sec))

    def shift_local(
        self, anchor: np.ndarray, hours: np.ndarray, codes: np.ndarray, warp: _Warp
    ) -> np.ndarray:
        """``anchor`` moved by ``hours`` of the buyer-local profile's operational time."""
        u = self.to_operational(anchor, codes, warp) + hours
        out = self.from_operational(u, codes, warp)
        # Keep the direction even across DST folds, and at least a minute apart.
        return np.where(
            hours >= 0, np.maximum(out, anchor + MINUTE), np.minimum(out, anchor - MINUTE)
        )

    def seller_reply(self, sec: np.ndarray, working_hours: np.ndarray) -> np.ndarray:
        """The time ``working_hours`` of seller working time after ``sec``."""
        if not len(sec):
            return np.empty(0)
        wall = _to_wall(self.seller_zone, sec)
        wall2 = self.work.inverse(self.work.forward(wall) + working_hours)
        amb = self.rng.random(len(sec)) < 0.5
        return np.maximum(_from_wall(self.seller_zone, wall2, amb), sec + MINUTE)


# --------------------------------------------------------------------------- #
# Geography
# --------------------------------------------------------------------------- #


@dataclass
class _Places:
    """Flat table of candidate addresses of one country, with sampling weights."""

    state: list[str]
    city: list[str]
    postal: list[str]
    zone: np.ndarray  # int codes into _ZONES
    postal_id: np.ndarray  # int code of the postal string
    prob: np.ndarray


_ZIP_SPAN = 20


@lru_cache(maxsize=1)
def _zones() -> tuple[str, ...]:
    names = {geo.JP_TIME_ZONE}
    for code, city in geo.us_cities():
        names.add(geo.time_zone_for(code, city.postal_code))
    for code in geo.US_STATES:
        names.add(geo.US_STATES[code].time_zone)
    return tuple(sorted(names))


@lru_cache(maxsize=2)
def _places(country: str) -> _Places:
    zones = {z: i for i, z in enumerate(_zones())}
    state, city, postal, zone, prob = [], [], [], [], []
    if country == "US":
        regions = [
            (code, geo.US_STATES[code].code, geo.US_STATES[code].population)
            for code in geo.US_STATES
        ]
        cities = geo.US_CITIES
    else:
        regions = [(code, p.name_ja, p.population) for code, p in geo.JP_PREFECTURES.items()]
        cities = geo.JP_CITIES
    total = float(sum(r[2] for r in regions))
    for code, label, population in regions:
        city_list = cities[code]
        city_total = float(sum(c.population for c in city_list))
        for c in city_list:
            if country == "US":
                base = int(c.postal_code)
                base_zone = geo.time_zone_for(code, c.postal_code)
                cands = [
                    f"{z:05d}"
                    for z in range(base, min(base + _ZIP_SPAN, (base // 100) * 100 + 100))
                    if geo.time_zone_for(code, f"{z:05d}") == base_zone
                ]
            else:
                head, tail = c.postal_code.split("-")
                base = int(tail)
                cands = [f"{head}-{z:04d}" for z in range(base, min(base + _ZIP_SPAN, 10000))]
                base_zone = geo.JP_TIME_ZONE
            share = population / total * c.population / city_total / len(cands)
            for p in cands:
                state.append(label)
                city.append(c.name)
                postal.append(p)
                zone.append(zones[base_zone])
                prob.append(share)
    p = np.asarray(prob)
    uniq = {v: i for i, v in enumerate(sorted(set(postal)))}
    return _Places(
        state=state,
        city=city,
        postal=postal,
        zone=np.asarray(zone, np.int64),
        postal_id=np.asarray([uniq[v] for v in postal], np.int64),
        prob=p / p.sum(),
    )


# Approximate combined state + average local sales tax rates (%), for item_tax.
_US_SALES_TAX = {
    "AL": 9.24, "AK": 1.76, "AZ": 8.37, "AR": 9.45, "CA": 8.82, "CO": 7.78, "CT": 6.35,
    "DE": 0.0, "DC": 6.0, "FL": 7.02, "GA": 7.38, "HI": 4.44, "ID": 6.02, "IL": 8.81,
    "IN": 7.0, "IA": 6.94, "KS": 8.7, "KY": 6.0, "LA": 9.55, "ME": 5.5, "MD": 6.0,
    "MA": 6.25, "MI": 6.0, "MN": 7.49, "MS": 7.07, "MO": 8.29, "MT": 0.0, "NE": 6.95,
    "NV": 8.23, "NH": 0.0, "NJ": 6.6, "NM": 7.72, "NY": 8.52, "NC": 6.99, "ND": 6.96,
    "OH": 7.24, "OK": 8.98, "OR": 0.0, "PA": 6.34, "RI": 7.0, "SC": 7.43, "SD": 6.4,
    "TN": 9.55, "TX": 8.2, "UT": 7.19, "VT": 6.24, "VA": 5.75, "WA": 9.38, "WV": 6.5,
    "WI": 5.7, "WY": 5.36, "PR": 11.5, "GU": 0.0, "VI": 0.0, "AS": 0.0, "MP": 0.0,
}  # fmt: skip
_JP_CONSUMPTION_TAX = 0.10  # included in JP prices

# --------------------------------------------------------------------------- #
# Names and texts
# --------------------------------------------------------------------------- #

US_FIRST_NAMES = (
    "James", "Mary", "Michael", "Patricia", "Robert", "Jennifer", "John", "Linda", "David",
    "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas",
    "Sarah", "Christopher", "Karen", "Daniel", "Lisa", "Matthew", "Nancy", "Anthony", "Betty",
    "Mark", "Sandra", "Donald", "Ashley", "Steven", "Emily", "Andrew", "Kimberly", "Joshua",
    "Michelle", "Kevin", "Amanda", "Brian", "Melissa", "José", "Zoë", "Chloé", "Renée", "André",
    "Noël", "Björn", "Søren", "Łukasz", "Siobhán", "François", "Jürgen", "Mónica", "Ángel",
    "Inés", "Raúl", "Sofía", "Thảo", "Aarav", "Priya", "Wei", "Mei", "Oluwaseun", "Chidi",
    "Fatima", "Omar", "Yuki", "Seo-yeon", "Aoife", "Dmitri",
)  # fmt: skip
US_LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "García", "Miller", "Davis", "Rodríguez",
    "Martínez", "Hernández", "López", "González", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "Lee", "Pérez", "Thompson", "White", "Harris", "Sánchez",
    "Clark", "Ramírez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright",
    "Scott", "Torres", "Nguyễn", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall",
    "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "Müller", "O'Brien", "D'Angelo",
    "Øvergård", "Kowalski", "Łukaszewicz", "Çelik", "Peña", "Núñez", "Schröder", "Dubois",
    "Patel", "Kim", "Chen", "Wang", "Okafor", "Nakamura", "Ivanova", "Haddad", "Fitzgerald",
)  # fmt: skip
JP_FAMILY_NAMES = (
    "佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤", "吉田", "山田",
    "佐々木", "山口", "松本", "井上", "木村", "林", "斎藤", "清水", "山崎", "森", "池田", "橋本",
    "阿部", "石川", "山下", "中島", "石井", "小川", "前田", "岡田", "長谷川", "藤田", "後藤",
    "近藤", "村上", "遠藤", "青木", "坂本",
)  # fmt: skip
JP_GIVEN_NAMES = (
    "翔太", "蓮", "大翔", "陽翔", "悠真", "湊", "健太", "拓海", "大輔", "直樹", "誠", "浩", "隆",
    "翼", "颯太", "陸", "花子", "陽菜", "結衣", "さくら", "美咲", "葵", "凛", "結菜", "愛",
    "真由美", "恵子", "由美子", "裕子", "明美", "千尋", "彩", "舞", "優子", "奈々", "瞳", "芽依",
    "美月", "莉子", "ゆかり",
)  # fmt: skip

RETURN_REASONS = (
    "DEFECTIVE",
    "NOT_AS_DESCRIBED",
    "UNWANTED_ITEM",
    "ORDERED_WRONG_ITEM",
    "DAMAGED_BY_CARRIER",
    "NO_REASON_GIVEN",
    "QUALITY_UNACCEPTABLE",
    "FOUND_BETTER_PRICE",
    "MISSED_ESTIMATED_DELIVERY",
    "SWITCHEROO",
    "APPAREL_TOO_SMALL",
)
_RETURN_REASON_WEIGHTS = (0.20, 0.14, 0.18, 0.10, 0.07, 0.10, 0.08, 0.05, 0.04, 0.01, 0.03)
_LATE_REASON_WEIGHTS = (0.15, 0.05, 0.35, 0.10, 0.0, 0.25, 0.05, 0.05, 0.0, 0.0, 0.0)
AFN_RETURN_STATUSES = ("Unit returned to inventory", "Reimbursed")
MFN_RETURN_STATUSES = ("Approved", "Completed", "Closed")

FEEDBACK_COMMENTS = {
    ("US", "neg"): (
        "Item arrived broken.",
        "Not as described. Returned it.",
        "Still waiting for my refund!",
        '=HYPERLINK("http://example.invalid","never again")',
        "Terrible quality, fell apart after a week.",
        "Seller never answered my message.",
        "@seller please contact me about my order",
        "Wrong item sent – très déçu.",
        "=1+1 stars is all it deserves",
        "Package was late and the box was crushed.",
    ),
    ("US", "mid"): (
        "OK, but shipping took a while.",
        "Product is fine, packaging was damaged.",
        "Average quality for the price.",
        "-- it works, nothing special",
        "Meh. Fine I guess.",
    ),
    ("US", "pos"): (
        "Great product, fast shipping!",
        "Exactly as described. Would buy again.",
        "Zoë loved it — thank you!",
        "Très bien, merci!",
        "Arrived early and well packed 👍",
        "+1 would recommend",
        "=) very happy",
        "Perfect for our camping trip.",
        "Good seller, quick response.",
        "A+++",
        "",
    ),
    ("JP", "neg"): (
        "商品が破損していました。",
        "説明と違う商品が届きました。",
        "返金がまだです。",
        "=SUM(1,1) 最悪",
        "連絡がありません。",
    ),
    ("JP", "mid"): ("普通です。", "配送に少し時間がかかりました。", "価格相応だと思います。"),
    ("JP", "pos"): (
        "とても良い商品です。また購入します。",
        "迅速な対応ありがとうございました！",
        "説明通りの商品でした。",
        "梱包が丁寧でした😊",
        "=) 満足しています",
        "",
    ),
}
FEEDBACK_RESPONSES = {
    "US": (
        "We're sorry to hear that. Please contact us through Buyer-Seller Messaging so we can "
        "make it right.",
        "Thank you for your feedback — a replacement is on its way.",
        "We have issued a full refund. Sorry for the trouble!",
    ),
    "JP": (
        "ご迷惑をおかけして申し訳ございません。メッセージにてご連絡ください。",
        "貴重なご意見ありがとうございます。返金手続きを行いました。",
    ),
}

# Message topics of post-sales threads.
TOPIC_GENERIC, TOPIC_WHERE, TOPIC_PROBLEM, TOPIC_REFUND, TOPIC_CANCEL, TOPIC_PRESALES = range(6)
BUYER_TEXTS = {
    ("US", TOPIC_GENERIC): (
        "Hi, could you send me an invoice for this order?",
        "Does this come with a warranty card?",
        "¿Pueden enviarme la factura, por favor?",
        "Can I get the user manual as a PDF?",
    ),
    ("US", TOPIC_WHERE): (
        "Hi, my order hasn't arrived yet. Can you check the tracking?",
        "Tracking hasn't updated in 3 days. Where is my package?",
        "Can I still change the shipping address?",
    ),
    ("US", TOPIC_PROBLEM): (
        "The item arrived damaged. How do I return it?",
        "I received the wrong color. Please advise.",
        "It stopped working after two days 😞",
        "One part is missing from the box.",
    ),
    ("US", TOPIC_REFUND): (
        "Where is my refund? I returned the item last week.",
        "I was charged but the order was refunded only partially.",
    ),
    ("US", TOPIC_CANCEL): (
        "Please cancel my order, I ordered by mistake.",
        "I need to cancel — ordered the wrong size.",
    ),
    ("JP", TOPIC_GENERIC): ("領収書を発行していただけますか？", "保証書は付属していますか？"),
    ("JP", TOPIC_WHERE): (
        "商品がまだ届きません。確認をお願いします。",
        "配送状況を教えてください。",
    ),
    ("JP", TOPIC_PROBLEM): (
        "商品が破損していました。返品方法を教えてください。",
        "色が違う商品が届きました。",
    ),
    ("JP", TOPIC_REFUND): ("返品しましたが、返金がまだです。",),
    ("JP", TOPIC_CANCEL): ("注文をキャンセルしたいです。",),
}
PRESALES_TEMPLATES = {
    "US": (
        ("Hi, does the ", " come with a warranty?"),
        ("Hello! What are the exact dimensions of the ", "?"),
        ("Is the ", " in stock for delivery before the weekend?"),
        ("Hola, ¿el ", " viene con instrucciones en español?"),
        ("Can the ", " be shipped to a P.O. box?"),
    ),
    "JP": (
        ("こんにちは。", "のサイズを教えてください。"),
        ("", "は防水ですか？"),
        ("", "の保証期間はどのくらいですか？"),
    ),
}
FOLLOWUP_TEXTS = {
    "US": (
        "Any update on this?",
        "Thanks! One more question: is there a discount for two?",
        "Hello? I'm still waiting for an answer.",
        "Thank you, that helps. 🙏",
    ),
    "JP": ("その後いかがでしょうか？", "ご回答ありがとうございます。", "至急ご連絡ください。"),
}
SELLER_TEXTS = {
    ("US", "post"): (
        "Thank you for reaching out. We have checked your order and will get back to you shortly.",
        "Sorry for the trouble! We will send a replacement right away.",
        "We have issued a full refund; it can take 3–5 business days to show up.",
        "Your package is on its way — the carrier shows delivery within 2 days.",
    ),
    ("US", "pre"): (
        "Yes, it comes with a 12-month warranty.",
        "Thanks for your message — the dimensions are listed in the product details.",
        "Yes, it is in stock and ships within 24 hours.",
    ),
    ("JP", "post"): (
        "お問い合わせありがとうございます。確認いたします。",
        "ご不便をおかけして申し訳ございません。交換品を発送いたします。",
        "返金手続きを完了いたしました。",
    ),
    ("JP", "pre"): (
        "お問い合わせありがとうございます。保証期間は1年間です。",
        "サイズは商品ページに記載しております。",
    ),
}

# --------------------------------------------------------------------------- #
# Catalogs
# --------------------------------------------------------------------------- #

# (category, noun, Japanese noun, low USD, high USD, return factor)
_ITEMS = {
    "outdoor": (
        ("Sports & Outdoors", "Camping Tent 2-Person", "テント 2人用", 89, 189, 1.2),
        ("Sports & Outdoors", "Sleeping Bag", "寝袋", 39, 99, 1.0),
        ("Sports & Outdoors", "Trekking Poles", "トレッキングポール", 25, 59, 0.8),
        ("Sports & Outdoors", "LED Headlamp", "LEDヘッドランプ", 12, 29, 0.9),
        ("Sports & Outdoors", "Hydration Pack", "ハイドレーションパック", 29, 69, 0.9),
        ("Sports & Outdoors", "Camping Hammock", "キャンプ用ハンモック", 24, 49, 0.8),
        ("Sports & Outdoors", "Portable Camp Stove", "シングルバーナー", 29, 79, 1.1),
        ("Sports & Outdoors", "Dry Bag 20L", "防水バッグ 20L", 12, 29, 0.7),
        ("Clothing, Shoes & Jewelry", "Rain Jacket", "レインジャケット", 49, 129, 2.2),
        (
            "Clothing, Shoes & Jewelry",
            "Merino Hiking Socks (3 Pairs)",
            "登山用靴下 3足組",
            14,
            24,
            1.6,
        ),
        ("Tools & Home Improvement", "Multitool", "マルチツール", 19, 49, 0.8),
        ("Electronics", "Solar Power Bank", "ソーラーモバイルバッテリー", 25, 59, 1.4),
    ),
    "home": (
        ("Home & Kitchen", "Linen Duvet Cover", "リネン掛け布団カバー", 59, 149, 1.5),
        ("Home & Kitchen", "Throw Blanket", "ブランケット", 25, 59, 1.1),
        ("Home & Kitchen", "Bath Towel Set", "バスタオルセット", 29, 69, 1.0),
        ("Home & Kitchen", "Ceramic Vase", "陶器の花瓶", 19, 49, 1.3),
        ("Home & Kitchen", "Memory Foam Pillow", "低反発枕", 29, 79, 1.4),
        ("Home & Kitchen", "Scented Candle", "アロマキャンドル", 12, 29, 0.7),
        ("Kitchen & Dining", "Cast Iron Skillet", "鋳鉄スキレット", 24, 59, 0.8),
        ("Kitchen & Dining", "Pour-Over Coffee Maker", "コーヒードリッパー", 19, 45, 0.9),
        ("Kitchen & Dining", "Chef's Knife 8-inch", "牛刀 20cm", 35, 99, 0.9),
        ("Kitchen & Dining", "Glass Food Storage Set", "ガラス保存容器セット", 25, 49, 1.2),
        ("Home & Kitchen", "Blackout Curtains", "遮光カーテン", 29, 69, 1.6),
    ),
}
_VARIANTS = (
    ("Black", "ブラック", "BLK"),
    ("Forest Green", "フォレストグリーン", "GRN"),
    ("Navy", "ネイビー", "NVY"),
    ("Sand", "サンド", "SND"),
    ("Crème", "クリーム", "CRM"),
    ("Slate Gray", "スレートグレー", "GRY"),
    ("Terracotta", "テラコッタ", "TRC"),
)
_THEMES = {
    "acme-outdoor": ("outdoor", ("Acme Trailworks", "Summit Fox"), "ACM"),
    "bluebird-home": ("home", ("Bluebird Home", "Maison Bleue"), "BBH"),
}


@dataclass
class _Catalog:
    asin: list[str]
    sku: list[str]
    title_us: list[str]
    title_jp: list[str]
    brand: list[str]
    category: list[str]
    usd: np.ndarray
    return_factor: np.ndarray
    popularity: np.ndarray
    listed: dict[str, np.ndarray] = field(default_factory=dict)  # marketplace -> product idx


def _catalogs(cfg: GeneratorConfig) -> dict[str, _Catalog]:
    n_accounts = len(cfg.accounts)
    n = cfg.products_per_account
    asin_codes = _unique_ints(_rng(cfg.seed, "asin"), n * n_accounts, 0, 36**8)
    asins = pa.array(_ascii("B0", _encode(asin_codes, 8, _UPPER36), n=len(asin_codes))).to_pylist()
    out = {}
    for a_i, account in enumerate(cfg.accounts):
        rng = _rng(cfg.seed, "catalog", account.account_id)
        theme, brands, prefix = _THEMES.get(
            account.account_id,
            ("outdoor" if a_i % 2 == 0 else "home", (account.seller_name,), "SKU"),
        )
        items = _ITEMS[theme]
        kinds = rng.integers(0, len(items), n)
        variants = rng.integers(0, len(_VARIANTS), n)
        brand_idx = rng.integers(0, len(brands), n)
        position = rng.random(n)
        usd = np.empty(n)
        titles_us, titles_jp, skus, cats, brand_names, factors = [], [], [], [], [], []
        for i in range(n):  # per product, at most a few hundred
            cat, noun, noun_ja, low, high, factor = items[kinds[i]]
            color, color_ja, code = _VARIANTS[variants[i]]
            brand = brands[brand_idx[i]]
            usd[i] = math.floor(low + (high - low) * position[i]) + (0.99 if i % 3 else 0.49)
            titles_us.append(f"{brand} {noun}, {color}")
            titles_jp.append(f"{brand} {noun_ja} {color_ja}")
            skus.append(f"{prefix}-{i + 1:04d}-{code}")
            cats.append(cat)
            brand_names.append(brand)
            factors.append(factor)
        ranks = rng.permutation(n)
        popularity = 1.0 / (ranks + 1.0) ** 0.9
        catalog = _Catalog(
            asin=asins[a_i * n : (a_i + 1) * n],
            sku=skus,
            title_us=titles_us,
            title_jp=titles_jp,
            brand=brand_names,
            category=cats,
            usd=usd,
            return_factor=np.asarray(factors),
            popularity=popularity,
        )
        for m in account.marketplace_ids:
            if MARKETPLACES[m]["country_code"] == "US":
                catalog.listed[m] = np.arange(n)
            else:
                k = max(2, min(n, round(n * cfg.jp_listing_share)))
                catalog.listed[m] = np.sort(rng.choice(n, k, replace=False))
        out[account.account_id] = catalog
    return out


def _price(catalog: _Catalog, currency: str) -> np.ndarray:
    if currency == "JPY":
        return np.round(catalog.usd * 150.0, -1) - 10.0  # e.g. 13,490 yen
    return catalog.usd.copy()


# --------------------------------------------------------------------------- #
# One account x marketplace
# --------------------------------------------------------------------------- #


def _expected_repeats(cfg: GeneratorConfig) -> float:
    """Expected repeat orders of a returning buyer over its whole life.

    With an exponential lifetime (mean L) and i.i.d. gaps G, the expected number
    of gaps completed before death is phi / (1 - phi), phi = E[exp(-G / L)];
    for G = g + Exp(m): phi = exp(-g / L) / (1 + m / L). Averaged over the
    Gamma-distributed rates with a fixed auxiliary sample.
    """
    rng = _rng(0, "expected-repeats")
    lam = rng.gamma(
        cfg.repeat_gap_shape, 1.0 / cfg.repeat_gap_mean_days / cfg.repeat_gap_shape, 200_000
    )
    m = _gap_means(lam)
    life = cfg.buyer_lifetime_mean_days
    phi = np.exp(-cfg.min_repeat_gap_days / life) / (1.0 + m / life)
    return float(np.mean(phi / (1.0 - phi)))


def _gap_means(lam: np.ndarray) -> np.ndarray:
    return np.clip(1.0 / np.maximum(lam, 1e-9), 2.0, 3650.0)


@dataclass
class _Group:
    account: SandboxAccount
    marketplace_id: str
    country: str
    currency: str
    catalog: _Catalog
    buyers: dict[str, np.ndarray]
    orders: dict[str, np.ndarray]
    items: dict[str, np.ndarray]
    returns: dict[str, np.ndarray]
    refunds: dict[str, np.ndarray]
    feedback: dict[str, np.ndarray]
    threads: dict[str, np.ndarray]
    messages: dict[str, np.ndarray]
    promotions: list[tuple[str, float]]


def _choice(rng: Generator, weights, size: int) -> np.ndarray:
    w = np.asarray(weights, float)
    cdf = np.cumsum(w / w.sum())
    cdf[-1] = 1.0
    return np.searchsorted(cdf, rng.random(size), side="right")


def _generate_group(
    cfg: GeneratorConfig,
    account: SandboxAccount,
    marketplace_id: str,
    catalog: _Catalog,
    start: float,
    end: float,
    orders_per_day: float,
) -> _Group:
    info = MARKETPLACES[marketplace_id]
    country, currency = info["country_code"], info["currency"]
    places = _places(country)
    zones = list(_zones())

    def rng(stage: str) -> Generator:
        return _rng(cfg.seed, "group", account.account_id, marketplace_id, stage)

    clock = _Clock(rng("clock"), zones, account.seller_time_zone, cfg)

    # ---- buyers and their purchase times ------------------------------------------------
    r = rng("buyers")
    q = cfg.repeat_buyer_share
    nu = orders_per_day / (1.0 + q * _expected_repeats(cfg))  # new buyers per day
    warp = clock.purchase
    u_lo = float(warp.forward(np.array([start - 15 * HOUR]))[0])
    u_hi = float(warp.forward(np.array([end + 15 * HOUR]))[0])
    prehistory_days = 5.0 * cfg.buyer_lifetime_mean_days
    n_new = int(round(nu * (u_hi - u_lo) / 24.0))
    n_pre = int(round(nu * q * prehistory_days))
    u0 = np.concatenate(
        [u_lo + r.random(n_new) * (u_hi - u_lo), u_lo - r.random(n_pre) * prehistory_days * 24.0]
    )
    n_all = n_new + n_pre
    repeater = np.concatenate([r.random(n_new) < q, np.ones(n_pre, bool)])
    rep_idx = np.flatnonzero(repeater)
    lam = r.gamma(
        cfg.repeat_gap_shape, 1.0 / cfg.repeat_gap_mean_days / cfg.repeat_gap_shape, rep_idx.size
    )
    gap_mean = _gap_means(lam)
    stop = np.minimum(
        u0[rep_idx] + r.exponential(cfg.buyer_lifetime_mean_days, rep_idx.size) * 24.0, u_hi
    )
    ev_buyer = [np.arange(n_new)]
    ev_u = [u0[:n_new]]
    active = np.arange(rep_idx.size)
    current = u0[rep_idx].copy()
    while active.size:
        current[active] += (cfg.min_repeat_gap_days + r.exponential(gap_mean[active])) * 24.0
        active = active[current[active] < stop[active]]
        ev_buyer.append(rep_idx[active])
        ev_u.append(current[active])
    ev_buyer = np.concatenate(ev_buyer)
    ev_u = np.concatenate(ev_u)
    keep = ev_u >= u_lo
    ev_buyer, ev_u = ev_buyer[keep], ev_u[keep]

    place_all = _choice(r, places.prob, n_all)
    zone_all = places.zone[place_all]
    purchase = clock.from_operational(ev_u, zone_all[ev_buyer], warp)
    keep = (purchase >= start) & (purchase < end)
    ev_buyer, purchase = ev_buyer[keep], purchase[keep]
    order = np.lexsort((ev_buyer, purchase))
    ev_buyer, purchase = ev_buyer[order], purchase[order]
    # Buyers with orders, numbered by first purchase.
    first_seen = np.full(n_all, np.inf)
    np.minimum.at(first_seen, ev_buyer, purchase)
    with_orders = np.flatnonzero(np.isfinite(first_seen))
    with_orders = with_orders[np.argsort(first_seen[with_orders], kind="stable")]
    remap = np.full(n_all, -1, np.int64)
    remap[with_orders] = np.arange(with_orders.size)
    o_buyer = remap[ev_buyer]
    b_place = place_all[with_orders]
    b_zone = zone_all[with_orders]
    n_buyers = with_orders.size
    n_orders = o_buyer.size

    r = rng("buyer-flags")
    b_business = r.random(n_buyers) < cfg.business_buyer_share
    b_no_info = r.random(n_buyers) < cfg.no_buyer_info_share

    # ---- order timeline ----------------------------------------------------------------
    r = rng("orders")
    channel = np.where(r.random(n_orders) < cfg.fba_share, AFN, MFN).astype(np.int8)
    afn = channel == AFN
    will_cancel = r.random(n_orders) < cfg.cancellation_rate
    cancel_at = purchase + 5 * MINUTE + np.minimum(r.exponential(3 * HOUR, n_orders), 2 * DAY)
    handling = np.where(
        afn,
        2 * HOUR + r.lognormal(math.log(14 * HOUR), 0.6, n_orders),
        6 * HOUR + r.lognormal(math.log(30 * HOUR), 0.7, n_orders),
    )
    handling = np.minimum(handling, 10 * DAY)
    transit = np.where(
        afn,
        DAY + r.gamma(2.0, 0.5 * DAY, n_orders),
        2 * DAY + r.gamma(2.5, 0.9 * DAY, n_orders),
    )
    transit = np.clip(transit, DAY + MINUTE, 7 * DAY)
    promise_days = np.where(afn, r.integers(4, 6, n_orders), r.integers(7, 10, n_orders))
    latest = np.ceil((purchase + promise_days * DAY) / HOUR) * HOUR
    pending_for = 5 * MINUTE + r.exponential(45 * MINUTE, n_orders)
    ship_at = purchase + handling
    deliver_at = ship_at + transit

    cancelled = will_cancel & (cancel_at < end)
    shipped = ~will_cancel & (ship_at < end)
    delivered = shipped & (deliver_at < end)
    status = np.where(end - purchase < pending_for, PENDING, UNSHIPPED).astype(np.int8)
    status[shipped] = SHIPPED
    status[cancelled] = CANCELLED
    cancel_time = np.where(cancelled, cancel_at, np.nan)
    ship_time = np.where(shipped, ship_at, np.nan)
    delivery_time = np.where(delivered, deliver_at, np.nan)
    last_updated = np.fmax(np.fmax(purchase, ship_time), np.fmax(delivery_time, cancel_time))

    promotions = []
    pr = rng("promotions")
    n_promos = 4
    promo_pct = np.round(pr.uniform(0.05, 0.30, n_promos), 2)
    for k in range(n_promos):
        code = "".join(chr(c) for c in _chars(pr, 1, 10, _UPPER36)[0])
        kind = ("PLM", "Coupon", "LD", "PRM")[k % 4]
        promotions.append((f"{kind}-{code}", float(promo_pct[k])))
    o_promo = np.where(
        r.random(n_orders) < cfg.promotion_share, r.integers(0, n_promos, n_orders), -1
    )

    # ---- items -------------------------------------------------------------------------
    r = rng("items")
    listed = catalog.listed[marketplace_id]
    max_lines = min(len(cfg.lines_per_order_weights), listed.size)
    n_lines = 1 + _choice(r, cfg.lines_per_order_weights[:max_lines], n_orders)
    i_order = np.repeat(np.arange(n_orders), n_lines)
    n_items = i_order.size
    pop = catalog.popularity[listed]
    i_product = listed[_choice(r, pop, n_items)]
    for _ in range(1000):  # distinct products within an order
        o = np.lexsort((i_product, i_order))
        dup = np.flatnonzero(
            (i_order[o][1:] == i_order[o][:-1]) & (i_product[o][1:] == i_product[o][:-1])
        )
        if not dup.size:
            break
        idx = o[dup + 1]
        i_product[idx] = listed[r.integers(0, listed.size, idx.size)]
    i_qty = 1 + _choice(r, cfg.quantity_weights, n_items)
    unit = _price(catalog, currency)[i_product]
    item_price = _money(unit * i_qty, currency)
    i_promo = o_promo[i_order]
    pct = np.where(i_promo >= 0, promo_pct[np.maximum(i_promo, 0)], 0.0)
    discount = _money(item_price * pct, currency)
    taxable = item_price - discount
    if country == "US":
        rate_by_place = np.asarray([_US_SALES_TAX.get(s, 0.0) / 100.0 for s in places.state])
        tax = _money(taxable * rate_by_place[b_place[o_buyer[i_order]]], currency)
    else:
        tax = _money(taxable * _JP_CONSUMPTION_TAX / (1.0 + _JP_CONSUMPTION_TAX), currency)
    subtotal = np.bincount(i_order, weights=item_price, minlength=n_orders)
    first_line = np.r_[True, i_order[1:] != i_order[:-1]] if n_items else np.zeros(0, bool)
    fee, threshold = (500.0, 2000.0) if currency == "JPY" else (5.99, 35.0)
    shipping = np.where(
        first_line & (channel[i_order] == MFN) & (subtotal[i_order] < threshold), fee, 0.0
    )

    # ---- returns and refunds -----------------------------------------------------------
    r = rng("returns")
    i_delivered = delivered[i_order]
    p_ret = np.clip(cfg.return_rate * catalog.return_factor[i_product], 0.0, 0.9)
    hit = np.flatnonzero(i_delivered & (r.random(n_items) < p_ret))
    kind = _choice(
        r,
        (
            cfg.refund_without_return_share,
            (1 - cfg.refund_without_return_share) * cfg.late_return_share,
            (1 - cfg.refund_without_return_share) * (1 - cfg.late_return_share),
        ),
        hit.size,
    )  # 0 refund only, 1 late return, 2 return
    delivered_at = delivery_time[i_order[hit]]
    qty = i_qty[hit]
    ret_qty = np.where(
        (qty > 1) & (r.random(hit.size) < 0.4), 1 + r.integers(0, np.maximum(qty - 1, 1)), qty
    )
    window = cfg.return_window_days * DAY
    ret_time = np.where(
        kind == 1,
        delivered_at + window + DAY + r.uniform(0, 45 * DAY, hit.size),
        delivered_at + 2 * HOUR + np.minimum(r.gamma(1.5, 4 * DAY, hit.size), window - 3 * HOUR),
    )
    afn_hit = channel[i_order[hit]] == AFN
    refund_lag = np.where(
        afn_hit, r.uniform(0.3 * DAY, 4 * DAY, hit.size), r.uniform(DAY, 6 * DAY, hit.size)
    )
    refund_time = np.where(
        kind == 0,
        delivered_at + r.uniform(DAY, 20 * DAY, hit.size),
        ret_time + refund_lag,
    )
    has_refund = (kind != 1) | (r.random(hit.size) < cfg.late_return_refund_share)
    posted = refund_time + r.uniform(2 * HOUR, 48 * HOUR, hit.size)
    reason = np.where(
        kind == 1,
        _choice(r, _LATE_REASON_WEIGHTS, hit.size),
        _choice(r, _RETURN_REASON_WEIGHTS, hit.size),
    )
    has_return = (kind != 0) & (ret_time < end)
    refund_issued = has_refund & (refund_time < end)
    ret_status = np.where(
        afn_hit,
        np.where(r.random(hit.size) < 0.8, 0, 1),
        np.where(kind == 1, 2, np.where(refund_issued, 1, 0)),
    )
    rsel = np.flatnonzero(has_return)
    returns = {
        "item": hit[rsel],
        "quantity": ret_qty[rsel],
        "time": ret_time[rsel],
        "reason": reason[rsel],
        "status": ret_status[rsel],
        "is_late": kind[rsel] == 1,
    }
    fsel = np.flatnonzero(has_refund & (posted < end))
    f_item = hit[fsel]
    f_qty = ret_qty[fsel]
    f_amount = _money(unit[f_item] * f_qty - discount[f_item] * f_qty / i_qty[f_item], currency)
    refunds = {
        "item": f_item,
        "quantity": f_qty,
        "amount": np.maximum(f_amount, 1.0 if currency == "JPY" else 0.01),
        "refund_time": refund_time[fsel],
        "posted_time": posted[fsel],
        "with_return": kind[fsel] != 0,
    }
    o_returned = np.zeros(n_orders, bool)
    o_returned[i_order[returns["item"]]] = True
    o_refunded = np.zeros(n_orders, bool)
    o_refunded[i_order[f_item]] = True
    late_delivery = delivered & (delivery_time > latest)
    problem = o_returned | o_refunded | late_delivery

    # ---- feedback ----------------------------------------------------------------------
    r = rng("feedback")
    p_fb = np.clip(cfg.feedback_rate * np.where(problem, cfg.feedback_problem_factor, 1.0), 0, 0.9)
    fb_order = np.flatnonzero(delivered & (r.random(n_orders) < p_fb))
    fb_delay = r.uniform(3 * 24.0, 40 * 24.0, fb_order.size)
    fb_time = clock.shift_local(
        delivery_time[fb_order], fb_delay, b_zone[o_buyer[fb_order]], clock.purchase
    )
    stars = np.where(
        problem[fb_order],
        1 + _choice(r, cfg.feedback_problem_star_weights, fb_order.size),
        1 + _choice(r, cfg.feedback_star_weights, fb_order.size),
    )
    fb_keep = fb_time < end
    fb_order, fb_time, stars = fb_order[fb_keep], fb_time[fb_keep], stars[fb_keep]
    mood = np.where(stars <= 2, 0, np.where(stars == 3, 1, 2))
    sizes = np.asarray([len(FEEDBACK_COMMENTS[(country, m)]) for m in ("neg", "mid", "pos")])
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    comment = offsets[mood] + r.integers(0, sizes[mood]) if fb_order.size else np.zeros(0, np.int64)
    responses = FEEDBACK_RESPONSES[country]
    response = np.where(
        (stars <= 2) & (r.random(fb_order.size) < cfg.feedback_response_rate),
        1 + r.integers(0, len(responses), fb_order.size),
        0,
    )  # 0 = no response
    feedback = {
        "order": fb_order,
        "time": fb_time,
        "rating": stars,
        "comment": comment,
        "response": response,
    }

    # ---- message threads ---------------------------------------------------------------
    r = rng("threads")
    # pre-sales questions before an order
    ps_order = np.flatnonzero(r.random(n_orders) < cfg.presales_rate)
    ps_buyer = o_buyer[ps_order]
    first_item = np.searchsorted(i_order, ps_order)
    ps_product = i_product[first_item]
    ps_time = clock.shift_local(
        purchase[ps_order],
        -(1.0 + r.exponential(30.0, ps_order.size)),
        b_zone[ps_buyer],
        clock.message,
    )
    ok = ps_time >= start
    ps_buyer, ps_product, ps_time = ps_buyer[ok], ps_product[ok], ps_time[ok]
    # pre-sales questions from buyers who never order
    n_browse = int(round(cfg.presales_browser_rate * n_orders))
    w_lo = float(clock.message.forward(np.array([start - 15 * HOUR]))[0])
    w_hi = float(clock.message.forward(np.array([end + 15 * HOUR]))[0])
    br_place = _choice(r, places.prob, n_browse)
    br_time = clock.from_operational(
        w_lo + r.random(n_browse) * (w_hi - w_lo), places.zone[br_place], clock.message
    )
    ok = (br_time >= start) & (br_time < end)
    br_place, br_time = br_place[ok], br_time[ok]
    o_br = np.argsort(br_time, kind="stable")
    br_place, br_time = br_place[o_br], br_time[o_br]
    br_buyer = n_buyers + np.arange(br_place.size)
    br_product = listed[_choice(r, pop, br_place.size)]
    b_place = np.concatenate([b_place, br_place])
    b_zone = np.concatenate([b_zone, places.zone[br_place]])
    b_business = np.concatenate([b_business, np.zeros(br_place.size, bool)])
    b_no_info = np.concatenate([b_no_info, np.zeros(br_place.size, bool)])
    b_has_orders = np.r_[np.ones(n_buyers, bool), np.zeros(br_place.size, bool)]
    # post-sales threads
    p_post = np.where(problem, cfg.postsales_problem_rate, cfg.postsales_rate)
    po_order = np.flatnonzero(r.random(n_orders) < p_post)
    po_anchor = np.where(delivered[po_order], delivery_time[po_order], purchase[po_order])
    po_time = clock.shift_local(
        po_anchor,
        0.2 + r.exponential(36.0, po_order.size),
        b_zone[o_buyer[po_order]],
        clock.message,
    )
    topic = np.where(
        status[po_order] == CANCELLED,
        TOPIC_CANCEL,
        np.where(
            o_refunded[po_order] & (r.random(po_order.size) < 0.4),
            TOPIC_REFUND,
            np.where(
                problem[po_order],
                TOPIC_PROBLEM,
                np.where(delivered[po_order], TOPIC_GENERIC, TOPIC_WHERE),
            ),
        ),
    )
    ok = po_time < end
    po_order, po_time, topic = po_order[ok], po_time[ok], topic[ok]

    t_order = np.concatenate([np.full(ps_buyer.size + br_buyer.size, -1), po_order])
    t_buyer = np.concatenate([ps_buyer, br_buyer, o_buyer[po_order]])
    t_product = np.concatenate([ps_product, br_product, np.full(po_order.size, -1)])
    t_start = np.concatenate([ps_time, br_time, po_time])
    t_topic = np.concatenate([np.full(ps_buyer.size + br_buyer.size, TOPIC_PRESALES), topic])
    t_sort = np.lexsort((t_buyer, t_start))
    threads = {
        "order": t_order[t_sort],
        "buyer": t_buyer[t_sort],
        "product": t_product[t_sort],
        "topic": t_topic[t_sort],
    }
    messages = _simulate_threads(
        cfg, rng("messages"), clock, t_start[t_sort], b_zone[threads["buyer"]], end
    )

    # ---- sort and pack -----------------------------------------------------------------
    return _Group(
        account=account,
        marketplace_id=marketplace_id,
        country=country,
        currency=currency,
        catalog=catalog,
        buyers={
            "place": b_place,
            "zone": b_zone,
            "business": b_business,
            "no_info": b_no_info,
            "has_orders": b_has_orders,
        },
        orders={
            "buyer": o_buyer,
            "purchase": purchase,
            "last_updated": last_updated,
            "status": status,
            "channel": channel,
            "ship": ship_time,
            "latest": latest,
            "delivery": delivery_time,
            "cancel": cancel_time,
        },
        items={
            "order": i_order,
            "product": i_product,
            "quantity": i_qty,
            "unit": unit,
            "item_price": item_price,
            "tax": tax,
            "shipping": shipping,
            "discount": discount,
            "promo": i_promo,
        },
        returns=returns,
        refunds=refunds,
        feedback=feedback,
        threads=threads,
        messages=messages,
        promotions=promotions,
    )


def _feedback_vocab(country: str) -> list[str]:
    return [c for m in ("neg", "mid", "pos") for c in FEEDBACK_COMMENTS[(country, m)]]


def _simulate_threads(
    cfg: GeneratorConfig,
    r: Generator,
    clock: _Clock,
    first: np.ndarray,
    zone: np.ndarray,
    end: float,
) -> dict[str, np.ndarray]:
    """Messages of all threads, one vectorised step per message position."""
    n = first.size
    latency_median = cfg.reply_latency_median_hours

    def reply_after(t: np.ndarray) -> np.ndarray:
        answered = r.random(t.size) >= cfg.unanswered_rate
        hours = np.clip(r.lognormal(math.log(latency_median), 1.0, t.size), 2 / 60, 40.0)
        due = clock.seller_reply(t, hours)
        return np.where(answered, due, np.inf)

    out_thread, out_seq, out_dir, out_time, out_kind = [], [], [], [], []

    def emit(idx, seq, direction, times, kind):
        out_thread.append(idx)
        out_seq.append(np.full(idx.size, seq))
        out_dir.append(np.full(idx.size, direction, np.int8))
        out_time.append(times)
        out_kind.append(np.full(idx.size, kind, np.int8))

    # kind: 0 first buyer message, 1 buyer follow-up, 2 buyer nudge, 3 seller reply
    idx = np.arange(n)
    emit(idx, 0, 0, first, 0)
    last = first.copy()
    last_dir = np.zeros(n, np.int8)
    pending = reply_after(first)
    nudged = np.zeros(n, bool)
    alive = np.ones(n, bool)
    for seq in range(1, cfg.max_thread_messages):
        live = np.flatnonzero(alive)
        if not live.size:
            break
        waiting = live[last_dir[live] == 0]
        replied = live[last_dir[live] == 1]
        # A buyer waits: maybe nudges before the reply, else the reply comes (or never).
        wants = (~nudged[waiting]) & (r.random(waiting.size) < cfg.nudge_rate)
        nudge_at = np.full(waiting.size, np.inf)
        wi = waiting[wants]
        if wi.size:
            nudge_at[wants] = clock.shift_local(
                last[wi], 12.0 + r.exponential(24.0, wi.size), zone[wi], clock.message
            )
        is_nudge = nudge_at < pending[waiting]
        nxt = np.where(is_nudge, nudge_at, pending[waiting])
        nxt = np.maximum(nxt, last[waiting] + MINUTE)
        goes = nxt < end
        alive[waiting[~goes]] = False
        sel = goes & is_nudge
        ni = waiting[sel]
        emit(ni, seq, 0, nxt[sel], 2)
        last[ni] = nxt[sel]
        nudged[ni] = True
        sel = goes & ~is_nudge
        si = waiting[sel]
        emit(si, seq, 1, nxt[sel], 3)
        last[si] = nxt[sel]
        last_dir[si] = 1
        pending[si] = np.inf
        # After a reply, the buyer may write again.
        follow = r.random(replied.size) < cfg.followup_rate
        alive[replied[~follow]] = False
        fi = replied[follow]
        if fi.size:
            t = clock.shift_local(
                last[fi], 0.3 + r.lognormal(math.log(4.0), 1.0, fi.size), zone[fi], clock.message
            )
            ok = t < end
            alive[fi[~ok]] = False
            fi, t = fi[ok], t[ok]
            emit(fi, seq, 0, t, 1)
            last[fi] = t
            last_dir[fi] = 0
            nudged[fi] = False
            pending[fi] = np.maximum(reply_after(t), t + MINUTE)
    thread = np.concatenate(out_thread)
    seq = np.concatenate(out_seq)
    o = np.lexsort((seq, thread))
    return {
        "thread": thread[o],
        "seq": seq[o],
        "direction": np.concatenate(out_dir)[o],
        "time": np.concatenate(out_time)[o],
        "kind": np.concatenate(out_kind)[o],
    }


# --------------------------------------------------------------------------- #
# Ids, strings and tables for the whole world
# --------------------------------------------------------------------------- #

_ORDER_PREFIXES = {"US": (111, 112, 113, 114), "JP": (249, 250, 503)}
_EMAIL_DOMAINS = {"US": "@marketplace.amazon.com", "JP": "@marketplace.amazon.co.jp"}


def _column_dtype(description: str):
    """The pandas dtype a ``COLUMNS`` description asks for."""
    if "(datetime)" in description:
        return pd.DatetimeTZDtype("us", "UTC")
    for kind in ("int64", "float64", "bool"):
        if f"({kind})" in description:
            return np.dtype(kind)
    return pd.StringDtype(na_value=np.nan)


def _name_space(country: str) -> int:
    if country == "US":
        return len(US_FIRST_NAMES) * len(US_LAST_NAMES)
    return len(JP_GIVEN_NAMES) * len(JP_FAMILY_NAMES)


def _finalise(cfg: GeneratorConfig, groups: list[_Group]) -> dict[str, pd.DataFrame]:
    seed = cfg.seed
    # Global offsets.
    nb = np.cumsum([0] + [g.buyers["place"].size for g in groups])
    no = np.cumsum([0] + [g.orders["buyer"].size for g in groups])
    ni = np.cumsum([0] + [g.items["order"].size for g in groups])
    nt = np.cumsum([0] + [g.threads["order"].size for g in groups])
    n_buyers, n_orders, n_items = int(nb[-1]), int(no[-1]), int(ni[-1])

    # ---- buyers -------------------------------------------------------------------------
    r = _rng(seed, "world", "buyers")
    names = [
        r.integers(0, _name_space(g.country), g.buyers["place"].size, dtype=np.int64)
        for g in groups
    ]
    # Unique (name, postal) among all buyers of a country: FBA orders identify buyers by
    # recipient (Amazon gives the e-mail only on FBM orders), so two buyers sharing a name
    # and postal code would be one buyer to the warehouse.
    for country in ("US", "JP"):
        members = [gi for gi, g in enumerate(groups) if g.country == country]
        if not members:
            continue
        n_names = _name_space(country)
        places = _places(country)
        for _ in range(1000):
            keys, where = [], []
            for gi in members:
                g = groups[gi]
                sel = np.arange(g.buyers["place"].size)
                keys.append(
                    names[gi][sel] * (places.postal_id.max() + 1)
                    + places.postal_id[g.buyers["place"][sel]]
                )
                where.append(np.stack([np.full(sel.size, gi), sel], axis=1))
            k = np.concatenate(keys)
            w = np.concatenate(where) if where else np.zeros((0, 2), np.int64)
            o = np.argsort(k, kind="stable")
            dup = np.flatnonzero(k[o][1:] == k[o][:-1]) + 1
            if not dup.size:
                break
            clash = w[o[dup]]
            for gi in members:
                redraw = clash[clash[:, 0] == gi, 1]
                names[gi][redraw] = r.integers(0, n_names, redraw.size)
    email_ids = _unique_ints(r, n_buyers, 0, 36**12)
    tails = _chars(r, n_buyers, 4, _LOWER36)
    tokens = (
        np.hstack([_encode(email_ids, 12, _LOWER36), tails])
        if n_buyers
        else np.zeros((0, 16), np.uint8)
    )
    # shuffle the characters so the unique part is not always in front
    perm = r.permutation(16)
    tokens = tokens[:, perm]

    buyer_frames = []
    buyer_email = []
    buyer_name = []
    for gi, g in enumerate(groups):
        n = g.buyers["place"].size
        places = _places(g.country)
        tok = tokens[nb[gi] : nb[gi + 1]]
        email = _ascii(tok, _EMAIL_DOMAINS[g.country], n=n)
        if g.country == "US":
            fn = _take(US_FIRST_NAMES, names[gi] // len(US_LAST_NAMES))
            ln = _take(US_LAST_NAMES, names[gi] % len(US_LAST_NAMES))
            name = _join(fn, " ", ln)
        else:
            fn = _take(JP_GIVEN_NAMES, names[gi] // len(JP_FAMILY_NAMES))
            ln = _take(JP_FAMILY_NAMES, names[gi] % len(JP_FAMILY_NAMES))
            name = _join(ln, " ", fn)
        buyer_email.append(email)
        buyer_name.append(name)
        place = g.buyers["place"]
        buyer_frames.append(
            pd.DataFrame(
                {
                    "account_id": _const(g.account.account_id, n),
                    "marketplace_id": _const(g.marketplace_id, n),
                    "buyer_id": np.arange(nb[gi], nb[gi + 1], dtype=np.int64) + 1,
                    "email": _str(email),
                    "name": _str(name),
                    "state": _str(_take(places.state, place)),
                    "city": _str(_take(places.city, place)),
                    "postal_code": _str(_take(places.postal, place)),
                    "country_code": _const(g.country, n),
                    "time_zone": _str(_take(_zones(), g.buyers["zone"])),
                }
            )
        )

    # ---- ids ---------------------------------------------------------------------------
    r = _rng(seed, "world", "ids")
    order_num = _unique_ints(r, n_orders, 0, 10**14)
    item_num = _unique_ints(r, n_items, 10**13, 10**14)
    n_ret = sum(g.returns["item"].size for g in groups)
    n_ref = sum(g.refunds["item"].size for g in groups)
    ret_num = _unique_ints(r, n_ret, 10**11, 10**12)
    ref_num = _unique_ints(r, n_ref, 0, 36**12)
    ref_tail = _chars(r, n_ref, 7, _UPPER36)
    n_msg = sum(g.messages["thread"].size for g in groups)
    msg_num = _unique_ints(r, n_msg, 0, 36**12)
    msg_tail = _chars(r, n_msg, 12, _LOWER36)

    order_frames, item_frames, ret_frames, ref_frames, fb_frames, msg_frames, prod_frames = (
        [] for _ in range(7)
    )
    ret_off = ref_off = msg_off = 0
    for gi, g in enumerate(groups):
        acc, mkt = g.account.account_id, g.marketplace_id
        info = MARKETPLACES[mkt]
        places = _places(g.country)
        cat = g.catalog
        titles = cat.title_us if g.country == "US" else cat.title_jp
        price = _price(cat, g.currency)

        # products
        lp = cat.listed[mkt]
        prod_frames.append(
            pd.DataFrame(
                {
                    "account_id": _const(acc, lp.size),
                    "marketplace_id": _const(mkt, lp.size),
                    "asin": _str(_take(cat.asin, lp)),
                    "sku": _str(_take(cat.sku, lp)),
                    "title": _str(_take(titles, lp)),
                    "brand": _str(_take(cat.brand, lp)),
                    "category": _str(_take(cat.category, lp)),
                    "unit_price": price[lp].astype(float),
                    "currency": _const(g.currency, lp.size),
                }
            )
        )

        # orders
        o = g.orders
        n = o["buyer"].size
        onum = order_num[no[gi] : no[gi + 1]]
        prefixes = np.asarray(_ORDER_PREFIXES[g.country])
        pre = prefixes[_rng(seed, "world", "order-prefix", acc, mkt).integers(0, prefixes.size, n)]
        digits = _encode(onum, 14, _DIGITS)
        order_id = _ascii(_encode(pre, 3, _DIGITS), "-", digits[:, :7], "-", digits[:, 7:], n=n)
        place = g.buyers["place"][o["buyer"]]
        no_info = g.buyers["no_info"][o["buyer"]]
        order_frames.append(
            pd.DataFrame(
                {
                    "account_id": _const(acc, n),
                    "marketplace_id": _const(mkt, n),
                    "order_id": _str(order_id),
                    "buyer_id": (o["buyer"] + nb[gi] + 1).astype(np.int64),
                    "purchase_time": _times(o["purchase"]),
                    "last_updated_time": _times(o["last_updated"]),
                    "order_status": _str(_take(STATUS_NAMES, o["status"])),
                    "fulfillment_channel": _str(_take(CHANNEL_NAMES, o["channel"])),
                    "sales_channel": _const(info["sales_channel"], n),
                    "is_business_order": g.buyers["business"][o["buyer"]].astype(bool),
                    "buyer_info_available": ~no_info,
                    "ship_city": _str(_take(places.city, place)),
                    "ship_state": _str(_take(places.state, place)),
                    "ship_postal_code": _str(_take(places.postal, place)),
                    "ship_country": _const(g.country, n),
                    "ship_time_zone": _str(_take(_zones(), g.buyers["zone"][o["buyer"]])),
                    "ship_time": _times(o["ship"]),
                    "latest_delivery_time": _times(o["latest"]),
                    "delivery_time": _times(o["delivery"]),
                    "cancel_time": _times(o["cancel"]),
                    "currency": _const(g.currency, n),
                }
            )
        )

        # items
        it = g.items
        m = it["order"].size
        inum = item_num[ni[gi] : ni[gi + 1]]
        item_id = _ascii(_encode(inum, 14, _DIGITS), n=m)
        i_order_id = order_id.take(pa.array(it["order"]))
        promo_ids = [p for p, _ in g.promotions] + [""]
        item_frames.append(
            pd.DataFrame(
                {
                    "account_id": _const(acc, m),
                    "marketplace_id": _const(mkt, m),
                    "order_id": _str(i_order_id),
                    "order_item_id": _str(item_id),
                    "asin": _str(_take(cat.asin, it["product"])),
                    "sku": _str(_take(cat.sku, it["product"])),
                    "quantity": it["quantity"].astype(np.int64),
                    "unit_price": it["unit"].astype(float),
                    "item_price": it["item_price"].astype(float),
                    "item_tax": it["tax"].astype(float),
                    "shipping_price": it["shipping"].astype(float),
                    "promotion_discount": it["discount"].astype(float),
                    "promotion_id": _str(
                        _take(
                            promo_ids, np.where(it["promo"] >= 0, it["promo"], len(promo_ids) - 1)
                        )
                    ),
                    "currency": _const(g.currency, m),
                }
            )
        )

        # returns
        rt = g.returns
        k = rt["item"].size
        o_rt = np.argsort(rt["time"], kind="stable")
        rt = {key: val[o_rt] for key, val in rt.items()}
        rnum = ret_num[ret_off : ret_off + k]
        ret_off += k
        chan = g.orders["channel"][g.items["order"][rt["item"]]]
        status_vocab = list(AFN_RETURN_STATUSES) + list(MFN_RETURN_STATUSES)
        status_code = np.where(chan == AFN, rt["status"], len(AFN_RETURN_STATUSES) + rt["status"])
        ret_frames.append(
            pd.DataFrame(
                {
                    "account_id": _const(acc, k),
                    "marketplace_id": _const(mkt, k),
                    "return_id": _str(_ascii("R", _encode(rnum, 12, _DIGITS), n=k)),
                    "order_id": _str(i_order_id.take(pa.array(rt["item"]))),
                    "order_item_id": _str(item_id.take(pa.array(rt["item"]))),
                    "asin": _str(_take(cat.asin, it["product"][rt["item"]])),
                    "sku": _str(_take(cat.sku, it["product"][rt["item"]])),
                    "quantity": rt["quantity"].astype(np.int64),
                    "return_time": _times(rt["time"]),
                    "reason": _str(_take(RETURN_REASONS, rt["reason"])),
                    "fulfillment_channel": _str(_take(CHANNEL_NAMES, chan)),
                    "status": _str(_take(status_vocab, status_code)),
                    "is_late": rt["is_late"].astype(bool),
                }
            )
        )

        # refunds
        rf = g.refunds
        k = rf["item"].size
        o_rf = np.lexsort((rf["item"], rf["posted_time"]))
        rf = {key: val[o_rf] for key, val in rf.items()}
        fnum = ref_num[ref_off : ref_off + k]
        ftail = ref_tail[ref_off : ref_off + k]
        ref_off += k
        ref_frames.append(
            pd.DataFrame(
                {
                    "account_id": _const(acc, k),
                    "marketplace_id": _const(mkt, k),
                    "adjustment_id": _str(_ascii("A", _encode(fnum, 12, _UPPER36), ftail, n=k)),
                    "order_id": _str(i_order_id.take(pa.array(rf["item"]))),
                    "order_item_id": _str(item_id.take(pa.array(rf["item"]))),
                    "sku": _str(_take(cat.sku, it["product"][rf["item"]])),
                    "quantity": rf["quantity"].astype(np.int64),
                    "amount": rf["amount"].astype(float),
                    "currency": _const(g.currency, k),
                    "refund_time": _times(rf["refund_time"]),
                    "posted_time": _times(rf["posted_time"]),
                    "with_return": rf["with_return"].astype(bool),
                }
            )
        )

        # feedback
        fb = g.feedback
        o_fb = np.argsort(fb["time"], kind="stable")
        k = fb["order"].size
        email = buyer_email[gi]
        resp_vocab = [""] + list(FEEDBACK_RESPONSES[g.country])
        fb_order = fb["order"][o_fb]
        fb_frames.append(
            pd.DataFrame(
                {
                    "account_id": _const(acc, k),
                    "marketplace_id": _const(mkt, k),
                    "order_id": _str(order_id.take(pa.array(fb_order))),
                    "feedback_time": _times(fb["time"][o_fb]),
                    "rating": fb["rating"][o_fb].astype(np.int64),
                    "comments": _str(_take(_feedback_vocab(g.country), fb["comment"][o_fb])),
                    "response": _str(_take(resp_vocab, fb["response"][o_fb])),
                    "rater_email": _str(email.take(pa.array(o["buyer"][fb_order]))),
                }
            )
        )

        # messages
        th, ms = g.threads, g.messages
        k = ms["thread"].size
        mnum = msg_num[msg_off : msg_off + k]
        mtail = msg_tail[msg_off : msg_off + k]
        msg_off += k
        msg_id = _ascii(
            np.hstack([_encode(mnum, 12, _LOWER36), mtail]) if k else np.zeros((0, 24), np.uint8),
            "@sandbox.sellerops.invalid",
            n=k,
        )
        thread_num = np.arange(nt[gi], nt[gi + 1], dtype=np.int64) + 1
        thread_id = _ascii("T", _encode(thread_num, 10, _DIGITS), n=thread_num.size)
        t = ms["thread"]
        first_in_thread = np.r_[True, t[1:] != t[:-1]] if k else np.zeros(0, bool)
        reply_to = _pick(msg_id, np.where(first_in_thread, -1, np.arange(k) - 1))
        t_order = th["order"][t]
        m_order_id = _pick(order_id, t_order)
        t_buyer = th["buyer"][t]
        bname = buyer_name[gi].take(pa.array(t_buyer))
        subject = _where(
            t_order >= 0,
            _join("Inquiry from Amazon customer ", bname, " (Order: ", m_order_id, ")"),
            _join("Product details inquiry from Amazon customer ", bname),
        )
        subject = _where(ms["direction"] == 1, _join("RE: ", subject), subject)
        body = _message_bodies(seed, g, ms, th, bname, titles)
        asin = _pick(pa.array(cat.asin, pa.large_string()), th["product"][t])
        frame = pd.DataFrame(
            {
                "account_id": _const(acc, k),
                "marketplace_id": _const(mkt, k),
                "message_id": _str(msg_id),
                "thread_id": _str(thread_id.take(pa.array(t))),
                "order_id": _str(m_order_id),
                "buyer_id": (t_buyer + nb[gi] + 1).astype(np.int64),
                "direction": _str(_take(("buyer", "seller"), ms["direction"])),
                "sent_time": _times(ms["time"]),
                "subject": _str(subject),
                "body": _str(body),
                "in_reply_to": _str(reply_to),
                "asin": _str(asin),
            }
        )
        o_msg = np.lexsort((ms["seq"], t, ms["time"]))
        msg_frames.append(frame.take(o_msg))

    def concat(frames: list[pd.DataFrame], name: str) -> pd.DataFrame:
        frame = pd.concat(frames, ignore_index=True)[list(COLUMNS[name])]
        for column, description in COLUMNS[name].items():
            dtype = _column_dtype(description)
            if str(frame[column].dtype) != str(dtype):  # e.g. empty tables
                frame[column] = frame[column].astype(dtype)
        return frame.reset_index(drop=True)

    return {
        "products": concat(prod_frames, "products"),
        "buyers": concat(buyer_frames, "buyers"),
        "orders": concat(order_frames, "orders"),
        "order_items": concat(item_frames, "order_items"),
        "returns": concat(ret_frames, "returns"),
        "refunds": concat(ref_frames, "refunds"),
        "feedback": concat(fb_frames, "feedback"),
        "messages": concat(msg_frames, "messages"),
    }


def _message_bodies(seed: int, g: _Group, ms, th, bname: pa.Array, titles: list[str]) -> pa.Array:
    """Bodies: buyer texts by topic (pre-sales ones name the product), seller replies signed."""
    k = ms["thread"].size
    if not k:
        return pa.array([], pa.large_string())
    r = _rng(seed, "world", "bodies", g.account.account_id, g.marketplace_id)
    country = g.country
    t = ms["thread"]
    topic = th["topic"][t]
    kind = ms["kind"]
    presales_thread = topic == TOPIC_PRESALES
    sections = [
        ((kind == 0) & (topic == key), BUYER_TEXTS[(country, key)])
        for key in (TOPIC_GENERIC, TOPIC_WHERE, TOPIC_PROBLEM, TOPIC_REFUND, TOPIC_CANCEL)
    ]
    sections += [
        ((kind == 1) | (kind == 2), FOLLOWUP_TEXTS[country]),
        ((kind == 3) & presales_thread, SELLER_TEXTS[(country, "pre")]),
        ((kind == 3) & ~presales_thread, SELLER_TEXTS[(country, "post")]),
    ]
    vocab: list[str] = [""]
    code = np.zeros(k, np.int64)
    for mask, texts in sections:
        code[mask] = len(vocab) + r.integers(0, len(texts), int(mask.sum()))
        vocab.extend(texts)
    text = _take(vocab, code)
    templates = PRESALES_TEMPLATES[country]
    tpl = r.integers(0, len(templates), k)
    presales = _join(
        _take([a for a, _ in templates], tpl),
        _take(titles, np.maximum(th["product"][t], 0)),
        _take([b for _, b in templates], tpl),
    )
    text = _where((kind == 0) & presales_thread, presales, text)
    seller_name = g.account.seller_name
    if country == "JP":
        seller_body = _join(bname, " 様\n\n", text, "\n\n", seller_name)
    else:
        seller_body = _join("Hello ", bname, ",\n\n", text, "\n\nBest regards,\n", seller_name)
    return _where(kind == 3, seller_body, text)


# --------------------------------------------------------------------------- #
# Entry points
# --------------------------------------------------------------------------- #


def generate(config: GeneratorConfig | None = None, *, timings: dict | None = None) -> World:
    """Generate the sandbox world described by ``config`` (default: ``GeneratorConfig()``).

    Pass a dict as ``timings`` to get the seconds spent per phase.
    """
    cfg = config or GeneratorConfig()
    timings = {} if timings is None else timings
    tick = time.perf_counter()

    def lap(label: str) -> None:
        nonlocal tick
        now = time.perf_counter()
        timings[label] = timings.get(label, 0.0) + now - tick
        tick = now

    end_dt = cfg.end_datetime()
    start_dt = cfg.start_datetime()
    start, end = start_dt.timestamp(), end_dt.timestamp()
    opd = cfg.effective_orders_per_day()
    catalogs = _catalogs(cfg)
    lap("catalogs")
    groups = []
    for account, m in cfg.groups():
        groups.append(
            _generate_group(cfg, account, m, catalogs[account.account_id], start, end, opd)
        )
        lap(f"simulate {account.account_id}/{m}")
    tables = _finalise(cfg, groups)
    lap("ids, texts and tables")
    world = World(
        seed=cfg.seed, start=start_dt, end=end_dt, accounts=list(cfg.accounts), tables=tables
    )
    world.check()
    return world


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sellerops.sandbox.generator",
        description="Generate a sandbox world in memory and print timings and row counts.",
    )
    parser.add_argument("--order-lines", type=int, default=None, help="target order lines")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--end-date", type=date.fromisoformat, default=None, help="YYYY-MM-DD")
    parser.add_argument("--truth", action="store_true", help="also time compute_truth")
    args = parser.parse_args(argv)
    cfg = GeneratorConfig(
        seed=args.seed, days=args.days, end_date=args.end_date, order_lines=args.order_lines
    )
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    world = generate(cfg, timings=timings)
    t1 = time.perf_counter()
    print(f"generate: {t1 - t0:.2f} s  ({world.start:%Y-%m-%d} .. {world.end:%Y-%m-%d})")
    for label, seconds in timings.items():
        print(f"  {label:<40} {seconds:8.2f} s")
    for name, frame in world.tables.items():
        mem = frame.memory_usage(deep=True).sum() / 2**20
        print(f"  {name:<12} {len(frame):>12,} rows  {mem:10.1f} MiB")
    if args.truth:
        from sellerops.sandbox.truth import compute_truth

        t2 = time.perf_counter()
        compute_truth(world)
        print(f"compute_truth: {time.perf_counter() - t2:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
