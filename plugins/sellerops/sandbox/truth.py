"""Ground truth of a sandbox world, computed straight from its tables with pandas.

Nothing here uses the warehouse SQL (or the generator): the warehouse tests
load what the sandbox serves, run the models, and compare with this.

``compute_truth(world)`` returns a JSON-serialisable dict with sorted keys:

``world``
    ``seed``, ``start``, ``end`` (ISO 8601 UTC) of the world the truth is for.
``totals``
    rows the warehouse core tables must hold after loading everything served:
    ``core.orders``, ``core.order_items``, ``core.returns``, ``core.refunds``,
    ``core.feedback``, ``core.messages``.
``by_partition``
    ``{dataset: {account_id: {marketplace_id: {"YYYY-MM-DD": rows}}}}`` per UTC
    day, days without rows omitted. ``orders`` by purchase day,
    ``order_items`` by their order's purchase day, ``returns`` by return day,
    ``refunds`` by posted day, ``feedback`` by feedback day, ``messages`` by
    sent day.
``kpis``
    ``{account_id: {marketplace_id: {...}}}``, over the whole history:

    * ``orders`` (all), ``orders_non_cancelled``;
    * ``buyers_with_orders`` (>= 1 non-cancelled order), ``repeat_buyers``
      (>= 2 distinct non-cancelled orders), ``repurchase_rate`` =
      repeat_buyers / buyers_with_orders. Buyers are identified by
      ``buyer_id``. The warehouse identifies them by ``buyer_key`` (the relay
      e-mail, or recipient name + postal code + country for buyers without
      BUYER data); in the sandbox a buyer always ships to one address and has
      one e-mail, BUYER data is missing for all or none of a buyer's orders,
      and (name, postal code, country) is unique among all buyers, so the two
      identities give the same counts;
    * ``units_ordered`` (non-cancelled orders), ``units_returned`` (returned
      units of those orders), ``return_rate`` = units_returned / units_ordered;
    * ``orders_refunded`` (non-cancelled orders with >= 1 refund row),
      ``refund_rate`` = orders_refunded / orders_non_cancelled;
    * ``orders_refunded_without_return`` (refunded, no return row),
      ``refund_without_return_rate`` = that / orders_non_cancelled;
    * ``orders_negative_feedback`` (non-cancelled orders with 1-2 star
      feedback), ``negative_feedback_rate`` = that / orders_non_cancelled;
    * ``buyer_messages_by_local_hour``: ``{zone_group: {"00".."23": count}}``,
      buyer messages only, the hour in the buyer's ship-to zone
      (``buyers.time_zone``), the group from
      :func:`sellerops.geo.us_time_zone_group` (JP buyers are ``Other``); all
      24 hours listed for every group that has messages;
    * ``first_reply``: for each buyer message (every one awaits an answer until
      the seller writes, so a nudge before the reply has its own, shorter wait,
      as Amazon measures response time), the minutes until the next seller
      message in the thread: ``median_minutes`` over the answered ones (None
      without any), ``answered``, ``unanswered`` counts;
    * ``presales_inquiries``: pre-sales threads (``order_id`` ''), and
      ``presales_buyer_messages``: buyer messages in them;
    * ``orders_by_state``: all orders by ``ship_state``;
    * ``orders_by_local_hour``: all orders by purchase hour in
      ``ship_time_zone``, ``{zone_group: {"00".."23": count}}`` as above.

Rates are Python floats, or None when the denominator is 0.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from sellerops import geo
from sellerops.sandbox.world import World

GROUP = ["account_id", "marketplace_id"]
_US_PER_DAY = 86_400 * 1_000_000
_HOURS = [f"{h:02d}" for h in range(24)]

PARTITION_TIME = {
    "orders": "purchase_time",
    "order_items": "purchase_time",  # of the order
    "returns": "return_time",
    "refunds": "posted_time",
    "feedback": "feedback_time",
    "messages": "sent_time",
}


def compute_truth(world: World) -> dict[str, Any]:
    """The expected warehouse contents and KPIs of ``world`` (see the module doc)."""
    groups = _Groups(world)
    truth = {
        "world": {
            "seed": int(world.seed),
            "start": pd.Timestamp(world.start).tz_convert("UTC").isoformat(),
            "end": pd.Timestamp(world.end).tz_convert("UTC").isoformat(),
        },
        "totals": {f"core.{name}": int(len(world.tables[name])) for name in PARTITION_TIME},
        "by_partition": _by_partition(world, groups),
        "kpis": _kpis(world, groups),
    }
    return _sorted(truth)


def write_truth(world: World, path: str | Path) -> Path:
    """Write ``compute_truth(world)`` as UTF-8 JSON with sorted keys (byte-stable)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(truth_bytes(world))
    return path


def truth_bytes(world: World) -> bytes:
    text = json.dumps(compute_truth(world), sort_keys=True, indent=2, ensure_ascii=False)
    return (text + "\n").encode("utf-8")


# --------------------------------------------------------------------------- #


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _sorted(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, list | tuple):
        return [_sorted(v) for v in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating | float):
        f = float(value)
        return None if f != f else f
    return value


def _rate(num: int, den: int) -> float | None:
    return float(num) / float(den) if den else None


def _arrow(values: pd.Series) -> pa.Array:
    """The column as one arrow string array (zero-copy for pandas' arrow strings)."""
    try:
        arr = pa.array(values.array)
    except (TypeError, pa.ArrowInvalid):
        arr = pa.array(values.to_numpy(dtype=object))
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr.cast(pa.large_string())


def _index_in(values: pd.Series, lookup: pd.Series) -> np.ndarray:
    """Position of each value in ``lookup`` (first match), -1 when absent."""
    if not len(values):
        return np.zeros(0, np.int64)
    found = pc.index_in(_arrow(values), value_set=_arrow(lookup))
    return pc.fill_null(found, -1).to_numpy(zero_copy_only=False).astype(np.int64)


class _Groups:
    """Integer codes of the (account_id, marketplace_id) pairs of a world."""

    def __init__(self, world: World) -> None:
        pairs = set()
        for name in ("orders", "messages"):
            frame = world.tables[name][GROUP].drop_duplicates()
            pairs |= set(zip(frame.iloc[:, 0], frame.iloc[:, 1], strict=True))
        self.pairs = sorted((str(a), str(m)) for a, m in pairs)
        self.labels = pd.Series([f"{a}\x1f{m}" for a, m in self.pairs], dtype=object)

    def codes(self, frame: pd.DataFrame) -> np.ndarray:
        if not len(frame):
            return np.zeros(0, np.int64)
        key = frame["account_id"].astype(str) + "\x1f" + frame["marketplace_id"].astype(str)
        return _index_in(key, self.labels)

    def count(self, codes: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        ok = codes >= 0
        w = None if weights is None else np.asarray(weights, float)[ok]
        return np.bincount(codes[ok], weights=w, minlength=len(self.pairs))


def _day_keys(times: pd.Series) -> np.ndarray:
    """UTC day numbers (days since 1970-01-01) of tz-aware times."""
    us = times.dt.tz_convert("UTC").dt.as_unit("us").array.asi8
    return np.floor_divide(us, _US_PER_DAY)


def _by_partition(world: World, groups: _Groups) -> dict:
    orders = world.orders
    order_group = groups.codes(orders)
    order_day = _day_keys(orders["purchase_time"])
    out: dict = {}
    for name, column in PARTITION_TIME.items():
        table = world.tables[name]
        if name == "order_items":  # counted on their order's purchase day
            pos = _index_in(table["order_id"], orders["order_id"])
            pos = pos[pos >= 0]
            codes, days = order_group[pos], order_day[pos]
        else:
            codes, days = groups.codes(table), _day_keys(table[column])
        counts = pd.DataFrame({"g": codes, "d": days}).groupby(["g", "d"]).size()
        nested: dict = {}
        for (code, day), n in counts.items():
            if code < 0:
                continue
            account, marketplace = groups.pairs[code]
            label = str(np.datetime64(int(day), "D"))
            nested.setdefault(account, {}).setdefault(marketplace, {})[label] = int(n)
        out[name] = nested
    return out


def _local_hours(times: pd.Series, zones: pd.Series) -> np.ndarray:
    """Hour of day of each UTC time in its own IANA zone (vectorised per zone)."""
    utc = pd.DatetimeIndex(times).tz_convert("UTC").as_unit("us")
    hours = np.zeros(len(utc), np.int64)
    codes, uniques = pd.factorize(zones.to_numpy(dtype=object), sort=True)
    for code, zone in enumerate(uniques):
        idx = np.flatnonzero(codes == code)
        wall = utc[idx].tz_convert(str(zone)).tz_localize(None).asi8
        hours[idx] = np.floor_divide(wall, 3_600_000_000) % 24
    return hours


def _zone_groups(zones: pd.Series) -> np.ndarray:
    values = zones.to_numpy(dtype=object)
    codes, uniques = pd.factorize(values)
    names = np.asarray([geo.us_time_zone_group(z) for z in uniques] + ["Other"], dtype=object)
    return names[codes]  # code -1 (missing zone) -> "Other"


def _hour_tables(groups: _Groups, codes, zone_groups, hours) -> list[dict]:
    """Per group code: {zone_group: {"00".."23": count}}."""
    out: list[dict] = [{} for _ in groups.pairs]
    if not len(codes):
        return out
    frame = pd.DataFrame({"c": codes, "z": zone_groups, "h": hours})
    for (code, zone_group, hour), n in frame.groupby(["c", "z", "h"]).size().items():
        if code < 0:
            continue
        table = out[code].setdefault(str(zone_group), dict.fromkeys(_HOURS, 0))
        table[f"{int(hour):02d}"] = int(n)
    return out


def _first_reply(groups: _Groups, messages: pd.DataFrame, codes: np.ndarray) -> list[dict]:
    answered = np.zeros(len(groups.pairs), np.int64)
    unanswered = np.zeros(len(groups.pairs), np.int64)
    medians: list[float | None] = [None] * len(groups.pairs)
    if len(messages):
        thread, _ = pd.factorize(messages["thread_id"])
        sent = messages["sent_time"].dt.tz_convert("UTC").dt.as_unit("us").array.asi8
        order = np.lexsort((sent, thread, codes))  # stable: ties keep the table order
        code, thread, sent = codes[order], thread[order], sent[order]
        is_buyer = (messages["direction"].to_numpy(dtype=object) == "buyer")[order]
        same = np.r_[False, (thread[1:] == thread[:-1]) & (code[1:] == code[:-1])]
        # next seller message at or after each row, within the thread: scan backwards
        seller_time = np.where(is_buyer, np.iinfo(np.int64).max, sent)
        block = np.cumsum(~same)  # thread runs
        rev = seller_time[::-1]
        rev_block = block[::-1]
        nxt = pd.Series(rev).groupby(rev_block).cummin().to_numpy()[::-1]
        has_reply = nxt != np.iinfo(np.int64).max
        minutes = (nxt - sent) / 60_000_000.0
        for c in range(len(groups.pairs)):
            sel = is_buyer & (code == c)
            got = sel & has_reply
            answered[c] = int(got.sum())
            unanswered[c] = int((sel & ~has_reply).sum())
            if answered[c]:
                medians[c] = float(np.median(minutes[got]))
    return [
        {"answered": int(a), "median_minutes": m, "unanswered": int(u)}
        for a, m, u in zip(answered, medians, unanswered, strict=True)
    ]


def _kpis(world: World, groups: _Groups) -> dict:
    orders = world.orders
    og = groups.codes(orders)
    live = (orders["order_status"] != "CANCELLED").to_numpy(dtype=bool)

    # repeat purchases: distinct non-cancelled orders per (group, buyer)
    lo = orders.loc[live, ["buyer_id", "order_id"]].assign(g=og[live])
    per_buyer = lo.drop_duplicates(["g", "buyer_id", "order_id"]).groupby(["g", "buyer_id"]).size()
    buyer_group = per_buyer.index.get_level_values(0).to_numpy()
    buyers_with_orders = groups.count(buyer_group)
    repeat_buyers = groups.count(buyer_group, per_buyer.to_numpy() >= 2)

    def positions(name: str) -> np.ndarray:
        return _index_in(world.tables[name]["order_id"], orders["order_id"])

    def flag(pos: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        out = np.zeros(len(orders), bool)
        keep = pos >= 0 if mask is None else (pos >= 0) & mask
        out[pos[keep]] = True
        return out

    items, returns = world.order_items, world.returns
    ip = positions("order_items")
    ok = ip >= 0
    units = groups.count(og[ip[ok]], items["quantity"].to_numpy()[ok] * live[ip[ok]])
    rp = positions("returns")
    ok = rp >= 0
    units_returned = groups.count(og[rp[ok]], returns["quantity"].to_numpy()[ok] * live[rp[ok]])
    refunded = flag(positions("refunds"))
    returned = flag(rp)
    fb_pos = positions("feedback")
    negative = flag(fb_pos, world.feedback["rating"].to_numpy() <= 2)
    n_orders = groups.count(og)
    n_live = groups.count(og, live)
    n_refunded = groups.count(og, live & refunded)
    n_refunded_only = groups.count(og, live & refunded & ~returned)
    n_negative = groups.count(og, live & negative)

    messages, buyers = world.messages, world.buyers
    mg = groups.codes(messages)
    is_buyer = (messages["direction"] == "buyer").to_numpy(dtype=bool)
    bm = messages[is_buyer]
    bpos = pd.Index(buyers["buyer_id"]).get_indexer(bm["buyer_id"])
    zone_values = buyers["time_zone"].to_numpy(dtype=object)
    bm_zones = pd.Series(np.where(bpos >= 0, zone_values[np.maximum(bpos, 0)], None), dtype=object)
    message_hours = _hour_tables(
        groups, mg[is_buyer], _zone_groups(bm_zones), _local_hours(bm["sent_time"], bm_zones)
    )
    replies = _first_reply(groups, messages, mg)
    presales = (messages["order_id"] == "").to_numpy(dtype=bool)
    presales_threads = (
        pd.DataFrame({"g": mg[presales], "t": messages.loc[presales, "thread_id"].to_numpy(object)})
        .drop_duplicates()
        .groupby("g")
        .size()
    )
    presales_buyer_messages = groups.count(mg, presales & is_buyer)
    order_hours = _hour_tables(
        groups,
        og,
        _zone_groups(orders["ship_time_zone"]),
        _local_hours(orders["purchase_time"], orders["ship_time_zone"]),
    )
    by_state = (
        pd.DataFrame({"g": og, "s": orders["ship_state"].to_numpy(object)})
        .groupby(["g", "s"])
        .size()
    )

    out: dict = {}
    for c, (account_id, marketplace_id) in enumerate(groups.pairs):
        stats = {
            "orders": int(n_orders[c]),
            "orders_non_cancelled": int(n_live[c]),
            "buyers_with_orders": int(buyers_with_orders[c]),
            "repeat_buyers": int(repeat_buyers[c]),
            "units_ordered": int(units[c]),
            "units_returned": int(units_returned[c]),
            "orders_refunded": int(n_refunded[c]),
            "orders_refunded_without_return": int(n_refunded_only[c]),
            "orders_negative_feedback": int(n_negative[c]),
            "buyer_messages_by_local_hour": message_hours[c],
            "first_reply": replies[c],
            "presales_inquiries": int(presales_threads.get(c, 0)),
            "presales_buyer_messages": int(presales_buyer_messages[c]),
            "orders_by_state": {str(state): int(n) for (g, state), n in by_state.items() if g == c},
            "orders_by_local_hour": order_hours[c],
        }
        stats["repurchase_rate"] = _rate(stats["repeat_buyers"], stats["buyers_with_orders"])
        stats["return_rate"] = _rate(stats["units_returned"], stats["units_ordered"])
        stats["refund_rate"] = _rate(stats["orders_refunded"], stats["orders_non_cancelled"])
        stats["refund_without_return_rate"] = _rate(
            stats["orders_refunded_without_return"], stats["orders_non_cancelled"]
        )
        stats["negative_feedback_rate"] = _rate(
            stats["orders_negative_feedback"], stats["orders_non_cancelled"]
        )
        out.setdefault(account_id, {})[marketplace_id] = stats
    return out
