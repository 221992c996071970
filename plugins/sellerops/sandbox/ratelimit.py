"""Amazon's usage plans as token buckets.

Every SP-API operation documents a *Usage Plan* in its model description::

    | Rate (requests per second) | Burst |
    | ---- | ---- |
    | 0.0056 | 20 |

A token bucket holds up to ``burst`` tokens, refills at ``rate`` tokens per second
and every request takes one; an empty bucket means HTTP 429 ``QuotaExceeded``.
Amazon applies the plan per selling partner and application pair; the sandbox is
one application, so the bucket key is (sandbox account, operation).

The plans are parsed from the official Swagger models (``parse_usage_plans``).
``load_usage_plans`` reads them from ``$SELLEROPS_SPAPI_MODELS`` (default
``/work/shared/spapi-models``) and falls back to :data:`USAGE_PLAN_SNAPSHOT`, a copy
taken from those models, for any operation it cannot find there. Time is whatever
the injected ``now`` callable says, in seconds: the server passes the sandbox
clock, so a clock running K times faster multiplies every rate by K in real time.
"""

from __future__ import annotations

import functools
import json
import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MODELS_DIR_ENV = "SELLEROPS_SPAPI_MODELS"
DEFAULT_MODELS_DIR = Path("/work/shared/spapi-models")
MODEL_FILES = (
    "orders_2026-01-01.json",
    "reports_2021-06-30.json",
    "financesV0.json",
    "solicitations.json",
    "messaging.json",
    "tokens_2021-03-01.json",
)


@dataclass(frozen=True)
class UsagePlan:
    rate: float  # tokens (requests) per second
    burst: int

    def header(self, time_scale: float = 1.0) -> str:
        """The ``x-amzn-RateLimit-Limit`` value: the rate in real requests per second."""
        return f"{self.rate * time_scale:g}"


# Copied from the models in /work/shared/spapi-models (Usage Plan tables).
USAGE_PLAN_SNAPSHOT: dict[str, UsagePlan] = {
    "searchOrders": UsagePlan(0.0056, 20),
    "getOrder": UsagePlan(0.5, 30),
    "getReports": UsagePlan(0.0222, 10),
    "createReport": UsagePlan(0.0167, 15),
    "cancelReport": UsagePlan(0.0222, 10),
    "getReport": UsagePlan(2.0, 15),
    "getReportSchedules": UsagePlan(0.0222, 10),
    "createReportSchedule": UsagePlan(0.0222, 10),
    "cancelReportSchedule": UsagePlan(0.0222, 10),
    "getReportSchedule": UsagePlan(0.0222, 10),
    "getReportDocument": UsagePlan(0.0167, 15),
    "listFinancialEventGroups": UsagePlan(0.5, 30),
    "listFinancialEventsByGroupId": UsagePlan(0.5, 30),
    "listFinancialEventsByOrderId": UsagePlan(0.5, 30),
    "listFinancialEvents": UsagePlan(0.5, 30),
    "getSolicitationActionsForOrder": UsagePlan(1.0, 5),
    "createProductReviewAndSellerFeedbackSolicitation": UsagePlan(1.0, 5),
    "getMessagingActionsForOrder": UsagePlan(1.0, 5),
    "confirmCustomizationDetails": UsagePlan(1.0, 5),
    "createConfirmDeliveryDetails": UsagePlan(1.0, 5),
    "createLegalDisclosure": UsagePlan(1.0, 5),
    "createConfirmOrderDetails": UsagePlan(1.0, 5),
    "createConfirmServiceDetails": UsagePlan(1.0, 5),
    "CreateWarranty": UsagePlan(1.0, 5),
    "GetAttributes": UsagePlan(1.0, 5),
    "createDigitalAccessKey": UsagePlan(1.0, 5),
    "createUnexpectedProblem": UsagePlan(1.0, 5),
    "createRestrictedDataToken": UsagePlan(1.0, 10),
}

# sendInvoice documents no usage plan; the sandbox gives it the Messaging API's 1/5.
UNDOCUMENTED_PLANS: dict[str, UsagePlan] = {"sendInvoice": UsagePlan(1.0, 5)}

_USAGE_PLAN_RE = re.compile(
    r"\|\s*Rate \(requests per second\)\s*\|\s*Burst\s*\|\s*\n"
    r"\s*\|[\s\-|]+\|\s*\n"
    r"\s*\|\s*([0-9]*\.?[0-9]+)\s*\|\s*([0-9]+)\s*\|"
)


def parse_usage_plan(description: str) -> UsagePlan | None:
    match = _USAGE_PLAN_RE.search(description or "")
    if not match:
        return None
    return UsagePlan(float(match.group(1)), int(match.group(2)))


def parse_usage_plans(model: Mapping[str, Any]) -> dict[str, UsagePlan]:
    """operationId -> UsagePlan for every operation of one Swagger model that has one."""
    plans: dict[str, UsagePlan] = {}
    for operations in model.get("paths", {}).values():
        for method, operation in operations.items():
            if method == "parameters" or not isinstance(operation, Mapping):
                continue
            plan = parse_usage_plan(operation.get("description", ""))
            if plan is not None and operation.get("operationId"):
                plans[operation["operationId"]] = plan
    return plans


def models_dir() -> Path:
    return Path(os.environ.get(MODELS_DIR_ENV) or DEFAULT_MODELS_DIR)


def load_usage_plans(directory: str | os.PathLike[str] | None = None) -> dict[str, UsagePlan]:
    """Plans parsed from the models, completed by the snapshot and the undocumented ones."""
    plans = dict(USAGE_PLAN_SNAPSHOT)
    plans.update(UNDOCUMENTED_PLANS)
    base = Path(directory) if directory is not None else models_dir()
    for name in MODEL_FILES:
        path = base / name
        try:
            mtime = path.stat().st_mtime
        except OSError:
            continue
        plans.update(_plans_from_file(str(path), mtime))
    return plans


@functools.lru_cache(maxsize=64)
def _plans_from_file(path: str, mtime: float) -> dict[str, UsagePlan]:
    try:
        model = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return parse_usage_plans(model)


class TokenBucket:
    """A bucket of ``burst`` tokens refilled continuously at ``rate`` per second."""

    def __init__(self, rate: float, burst: int, now: float):
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs rate > 0 and burst >= 1")
        self.rate = float(rate)
        self.burst = int(burst)
        self._tokens = float(burst)
        self._updated = now

    def _refill(self, now: float) -> None:
        if now > self._updated:
            self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
            self._updated = now

    def tokens(self, now: float) -> float:
        self._refill(now)
        return self._tokens

    def try_take(self, now: float, n: float = 1.0) -> bool:
        self._refill(now)
        # tolerate float rounding so that exactly 1/rate seconds yields a token
        if self._tokens + 1e-9 >= n:
            self._tokens = max(self._tokens - n, 0.0)
            return True
        return False

    def seconds_until_available(self, now: float, n: float = 1.0) -> float:
        self._refill(now)
        missing = n - self._tokens
        return 0.0 if missing <= 0 else missing / self.rate


class RateLimiter:
    """Token buckets per (key, operation); ``now`` returns seconds on the sandbox clock."""

    def __init__(
        self,
        plans: Mapping[str, UsagePlan],
        now: Callable[[], float],
        default: UsagePlan = UsagePlan(1.0, 5),
    ):
        self.plans = dict(plans)
        self.default = default
        self._now = now
        self._buckets: dict[tuple[str, str], TokenBucket] = {}
        self._lock = threading.Lock()

    def plan(self, operation: str) -> UsagePlan:
        return self.plans.get(operation, self.default)

    def _bucket(self, key: str, operation: str, now: float) -> TokenBucket:
        bucket = self._buckets.get((key, operation))
        if bucket is None:
            plan = self.plan(operation)
            bucket = self._buckets[(key, operation)] = TokenBucket(plan.rate, plan.burst, now)
        return bucket

    def try_acquire(self, key: str, operation: str) -> bool:
        with self._lock:
            now = self._now()
            return self._bucket(key, operation, now).try_take(now)

    def tokens(self, key: str, operation: str) -> float:
        with self._lock:
            now = self._now()
            return self._bucket(key, operation, now).tokens(now)

    def reset(self, keys: Iterable[str] | None = None) -> None:
        with self._lock:
            if keys is None:
                self._buckets.clear()
            else:
                wanted = set(keys)
                for k in [k for k in self._buckets if k[0] in wanted]:
                    del self._buckets[k]
