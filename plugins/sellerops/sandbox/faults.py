"""Fault injection for the sandbox SP-API server.

A :class:`Faults` object holds a list of :class:`FaultRule`. The server asks it,
at fixed points of every request, whether a fault of a given kind fires for the
operation being served (``Faults.take(kind, operation)``). A rule fires

* on each of the next ``count`` matching calls (``count=N``, no probability), or
* with ``probability`` p on each matching call, drawn from a RNG seeded with
  ``Faults.seed`` (``probability=p``; with ``count`` too, at most ``count`` times), or
* on every matching call when it has neither (a permanent fault; remove it with
  ``Faults.clear()`` or ``DELETE /sandbox/faults``).

Kinds and where the server applies them:

================================ ===========================================================
``server_error``                 answer ``status`` (500 or 503) with Amazon's errors body
                                 instead of serving the call (after the rate limiter).
``timeout``                      sleep ``delay`` real seconds before answering normally,
                                 so a client with a shorter timeout gives up.
``throttle``                     answer 429 ``QuotaExceeded`` whatever the token bucket says
                                 (a throttling storm); the bucket is not charged.
``expired_token``                treat the presented access token as expired: answer 403
                                 "The access token you provided has expired." and revoke the
                                 token, so the client must fetch a new one (see
                                 ``sandbox.client.clear_token_cache``).
``expired_pagination_token``     a call that carries ``paginationToken`` / ``NextToken``
                                 gets the 400 answer for an expired token.
``fatal_report``                 ``createReport`` succeeds but the report ends ``FATAL``.
``corrupt_document``             the next document download returns gzip bytes with a
                                 damaged deflate stream (``zlib.error`` when decompressed).
``truncated_document``           the next document download returns only the first half
                                 of the gzip bytes.
================================ ===========================================================

``operation`` is an SP-API operationId from the models (``searchOrders``,
``getOrder``, ``createReport``, ``getReport``, ``getReportDocument``,
``listFinancialEvents``, ``createProductReviewAndSellerFeedbackSolicitation``, ...),
the sandbox's own ``downloadReportDocument`` (the pre-signed document URL), or ``"*"``
for any. ``report_type`` narrows ``fatal_report`` to one report type.

Configuration is a :class:`Faults`, a list of rule dicts, or a dict
``{"seed": 7, "rules": [{"kind": "server_error", "operation": "searchOrders",
"status": 503, "count": 2}]}``; the same JSON is accepted at runtime by
``POST /sandbox/faults``.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

KINDS = frozenset(
    {
        "server_error",
        "timeout",
        "throttle",
        "expired_token",
        "expired_pagination_token",
        "fatal_report",
        "corrupt_document",
        "truncated_document",
    }
)

DOWNLOAD_OPERATION = "downloadReportDocument"


@dataclass
class FaultRule:
    kind: str
    operation: str = "*"
    count: int | None = None
    probability: float | None = None
    status: int = 500
    delay: float = 30.0
    report_type: str | None = None
    fired: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {sorted(KINDS)}")
        if self.count is not None and int(self.count) < 0:
            raise ValueError("count must be >= 0")
        if self.probability is not None and not 0.0 <= float(self.probability) <= 1.0:
            raise ValueError("probability must be between 0 and 1")
        if self.kind == "server_error" and self.status not in (500, 503):
            raise ValueError("server_error status must be 500 or 503")
        if self.delay < 0:
            raise ValueError("delay must be >= 0")

    @property
    def exhausted(self) -> bool:
        return self.count is not None and self.fired >= self.count

    def matches(self, kind: str, operation: str, report_type: str | None = None) -> bool:
        if self.kind != kind or self.exhausted:
            return False
        if self.operation not in ("*", operation):
            return False
        return self.report_type is None or self.report_type == report_type

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FaultRule:
        known = {"kind", "operation", "count", "probability", "status", "delay", "report_type"}
        unknown = set(data) - known - {"fired", "remaining"}
        if unknown:
            raise ValueError(f"unknown fault rule keys {sorted(unknown)}")
        kwargs = {k: data[k] for k in known if k in data and data[k] is not None}
        if "kind" not in kwargs:
            raise ValueError("a fault rule needs a 'kind'")
        for key, conv in (
            ("count", int),
            ("probability", float),
            ("status", int),
            ("delay", float),
        ):
            if key in kwargs:
                kwargs[key] = conv(kwargs[key])
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["remaining"] = None if self.count is None else max(self.count - self.fired, 0)
        return out


class Faults:
    """A thread-safe, seeded set of fault rules."""

    def __init__(self, rules: Iterable[FaultRule | Mapping[str, Any]] = (), seed: int = 0):
        self.seed = seed
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        for rule in rules:
            self.add(rule)

    @classmethod
    def from_config(cls, config: Faults | Mapping[str, Any] | Iterable[Any] | None) -> Faults:
        if config is None:
            return cls()
        if isinstance(config, Faults):
            return config
        if isinstance(config, Mapping):
            return cls(config.get("rules", ()), seed=int(config.get("seed", 0)))
        return cls(config)

    def add(self, rule: FaultRule | Mapping[str, Any]) -> FaultRule:
        if not isinstance(rule, FaultRule):
            rule = FaultRule.from_dict(rule)
        with self._lock:
            self._rules.append(rule)
        return rule

    def configure(
        self, config: Mapping[str, Any] | Iterable[Any], *, replace: bool = False
    ) -> None:
        """Add rules from a config (see module doc); ``replace`` drops the old ones first."""
        if isinstance(config, Mapping):
            rules = [
                r if isinstance(r, FaultRule) else FaultRule.from_dict(r)
                for r in config.get("rules", ())
            ]
            seed = config.get("seed")
        else:
            rules = [r if isinstance(r, FaultRule) else FaultRule.from_dict(r) for r in config]
            seed = None
        with self._lock:
            if replace:
                self._rules.clear()
            if seed is not None:
                self.seed = int(seed)
                self._rng = random.Random(self.seed)
            self._rules.extend(rules)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    @property
    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"seed": self.seed, "rules": [r.to_dict() for r in self._rules]}

    def take(self, kind: str, operation: str, report_type: str | None = None) -> FaultRule | None:
        """Return the first rule of ``kind`` that fires for this call, charging it."""
        with self._lock:
            for rule in self._rules:
                if not rule.matches(kind, operation, report_type):
                    continue
                if rule.probability is not None and self._rng.random() >= rule.probability:
                    continue
                rule.fired += 1
                return rule
        return None


def corrupt_gzip(data: bytes) -> bytes:
    """Damage the deflate stream of a gzip member (header stays valid)."""
    if len(data) <= 20:
        return data[:10] + b"\xff" * max(len(data) - 10, 1)
    body = bytearray(data)
    # gzip header is 10 bytes; flip bytes in the compressed block and its trailer.
    for i in range(10, len(body) - 8, max((len(body) - 18) // 8, 1)):
        body[i] ^= 0xA5
    body[-8:] = bytes(b ^ 0xFF for b in body[-8:])
    return bytes(body)


def truncate_gzip(data: bytes) -> bytes:
    return data[: max(len(data) // 2, 11)]
