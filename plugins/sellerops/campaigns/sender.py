"""Send the outbox exactly once: claim, ask Amazon, send, settle; resolve interruptions.

The state machine of a row of ``ops.campaign_sends`` (the planner writes the first
three states and ``expired``; this module the rest)::

    plan --+--> excluded <--------> planned <-----------+ released: nothing was sent
           |                           |                |
           +--> held_out (final)       | claim          |
                                       v                |
          ineligible <--(not offered)-- claimed --------+
            |    ^                      |   |  \
            |    +--(asked again        |   |   +--> failed   (Amazon's 4xx code, final)
            |        next day)          |   +------> unknown  (a message whose fate a
            |                           v                      failure hid; final, never resent)
            +--(window passed)-->    sent (final; confirmed, or resolved by asking Amazon)
                 expired (final)

* **claim** (its own transaction, committed before Amazon is called): ``planned`` or
  ``ineligible`` -> ``claimed`` with a fresh ``claim_token``, guarded by the old
  status, so two workers can never both own a row. In the same transaction the row
  is excluded instead when another campaign already sent the same action for the
  order, or the buyer opted out since the plan (on PostgreSQL claims of one order
  are serialised by an advisory lock; on DuckDB by the single writer).
* **check**: ``getSolicitationActionsForOrder`` / ``getMessagingActionsForOrder``
  right before the send. Not offered -> ``ineligible`` (asked again after
  ``recheck_hours`` until ``give_up_at``; then the planner expires it).
* **send** within the operation's quota (SpApiSession), after committing
  ``posting_at`` (so a later run can tell "never called" from "maybe sent"); then
  **settle**, guarded by the claim token: ``sent`` (``confirmed``), ``ineligible``
  (Amazon refused with 403), ``failed`` (another 4xx: Amazon's code and message
  kept), or released to its old status after a failure that proves nothing was sent
  (429, 503, an expired token, a refused connection, after the session's retries).
* **ambiguous** failures (500, 504, no answer after the request went out): the
  sender asks Amazon whether the action is still offered. A review request is
  offered once per order, so "no longer offered" means it went out (``sent``,
  ``confirmed = false``), and a 403 on a new attempt after an ambiguous one means
  the same; "still offered" means not yet, and it is sent again (up to
  ``max_post_attempts``), after which the row stays ``claimed``: the failed request
  may still land, so a later run asks again. A message type stays offered after a
  send, so for messages the question has no answer: the row ends ``unknown`` and is
  never sent again (at most once).
* **interrupted** runs (a worker killed between Amazon's answer and the settle)
  leave rows ``claimed``. A later run takes over claims older than the lease
  (``claim_lease``, default 15 minutes) and resolves them: no ``posting_at`` ->
  released (no call was made); otherwise by asking Amazon as above -- never by
  sending blind. Audience exports resolve by looking for the claim's file (written
  to a temporary name and renamed).

Dry run (a campaign's default until ``live: true``, or ``live=False``): the rows are
planned and Amazon is asked about eligibility, but nothing is claimed, sent or
written; the report counts ``would_send`` and ``would_be_ineligible``.

``SELLEROPS_CAMPAIGNS_CRASH_AFTER_ACCEPT`` (an order id, or ``*``) makes the worker
``os._exit(86)`` right after Amazon accepted a send and before the row is settled:
fault injection for the exactly-once test, like the sandbox's faults. Never set it
in production.
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from sellerops.campaigns import channels as ch
from sellerops.campaigns import definitions as defs
from sellerops.campaigns.planner import (
    CLAIMED,
    DELIVERED_STATUSES,
    EXCLUDED,
    FAILED,
    INELIGIBLE,
    OPT_OUT_ALL,
    OPT_OUTS,
    PLANNED,
    SENDS,
    SENT,
    TREATMENT,
    UNKNOWN,
    get_accounts,
    get_definitions,
    get_warehouse,
    plan_campaigns,
    prepare_session,
    resolve_as_of,
    utc,
)
from sellerops.campaigns.report import CampaignRun, record_run

log = logging.getLogger(__name__)

CRASH_ENV = "SELLEROPS_CAMPAIGNS_CRASH_AFTER_ACCEPT"
CRASH_EXIT_CODE = 86
DEFAULT_CLAIM_LEASE = timedelta(minutes=15)

_COLUMNS = (
    "campaign, account_id, marketplace_id, order_id, buyer_key, channel, action, arm, status, "
    "due_at, give_up_at, time_zone, claim_token, claimed_at, attempts, posts, checks, posting_at"
)


@dataclass
class OutboxRow:
    campaign: str
    account_id: str
    marketplace_id: str
    order_id: str
    buyer_key: str | None
    channel: str
    action: str
    arm: str | None
    status: str
    due_at: datetime
    give_up_at: datetime
    time_zone: str | None
    claim_token: str | None
    claimed_at: datetime | None
    attempts: int
    posts: int
    checks: int
    posting_at: datetime | None = None

    @classmethod
    def from_db(cls, r: Sequence[Any]) -> OutboxRow:
        return cls(
            campaign=r[0],
            account_id=r[1],
            marketplace_id=r[2],
            order_id=r[3],
            buyer_key=r[4],
            channel=r[5],
            action=r[6],
            arm=r[7],
            status=r[8],
            due_at=utc(r[9]),  # type: ignore[arg-type]
            give_up_at=utc(r[10]),  # type: ignore[arg-type]
            time_zone=r[11],
            claim_token=r[12],
            claimed_at=utc(r[13]),
            attempts=int(r[14] or 0),
            posts=int(r[15] or 0),
            checks=int(r[16] or 0),
            posting_at=utc(r[17]),
        )

    @property
    def key(self) -> dict[str, str]:
        return {"c": self.campaign, "a": self.account_id, "o": self.order_id}


def _live_map(
    selected: Iterable[defs.Campaign], live: bool | Iterable[str] | None
) -> dict[str, bool]:
    selected = list(selected)
    if live is None:
        return {c.name: c.live for c in selected}
    if isinstance(live, bool):
        return {c.name: live for c in selected}
    names = set(live)
    return {c.name: c.name in names for c in selected}


class _Outbox:
    """The outbox on one connection: reads, and the guarded writes of the state machine.

    Every write is its own committed transaction (a claim must be durable before
    Amazon is called, an outcome as soon as Amazon answered). One connection serves a
    whole phase: opening a DuckDB file per statement would cost more than the calls.
    Guarded updates count the rows they changed with ``RETURNING`` (DuckDB reports no
    rowcount).
    """

    def __init__(self, warehouse: Any, conn: sa.Connection, run: CampaignRun):
        self.wh = warehouse
        self.conn = conn
        self.run = run
        self.now = run.as_of  # the campaign timeline; leases use the wall clock

    @contextlib.contextmanager
    def tx(self) -> Iterator[sa.Connection]:
        try:
            prepare_session(self.conn, self.wh)
            yield self.conn
            self.conn.commit()
        except BaseException:
            self.conn.rollback()
            raise

    def read(self, sql: str, params: dict[str, Any], *expanding: str) -> list[Any]:
        stmt = sa.text(sql)
        if expanding:
            stmt = stmt.bindparams(*(sa.bindparam(n, expanding=True) for n in expanding))
        with self.tx() as conn:
            return conn.execute(stmt, params).fetchall()

    def write(self, sql: str, params: dict[str, Any], *expanding: str) -> int:
        """Run a guarded UPDATE (``... RETURNING order_id`` is appended); rows changed."""
        stmt = sa.text(sql + " RETURNING order_id")
        if expanding:
            stmt = stmt.bindparams(*(sa.bindparam(n, expanding=True) for n in expanding))
        with self.tx() as conn:
            return len(conn.execute(stmt, params).fetchall())

    # -- the state machine --------------------------------------------------------------------

    def claim(self, row: OutboxRow) -> tuple[str | None, str | None]:
        """(token, None) when claimed; (None, reason) when excluded or taken meanwhile."""
        token = uuid.uuid4().hex
        wall = datetime.now(UTC)
        with self.tx() as conn:
            if not self.wh.is_duckdb:
                # Claims of the same order (by any campaign, any worker) one at a time, so
                # the "already sent by another campaign" check below sees the other's claim.
                # (DuckDB has a single writer: the warehouse lock serialises them already.)
                conn.execute(
                    sa.text("SELECT pg_advisory_xact_lock(hashtext(:k))"),
                    {"k": f"sellerops.campaigns|{row.account_id}|{row.order_id}"},
                )
            taken = conn.execute(
                sa.text(
                    f"SELECT COUNT(*) FROM {SENDS} WHERE account_id = :a AND order_id = :o "  # noqa: S608
                    "AND channel = :ch AND action = :action AND campaign <> :c "
                    "AND status IN :delivered"
                ).bindparams(sa.bindparam("delivered", expanding=True)),
                {
                    **row.key,
                    "ch": row.channel,
                    "action": row.action,
                    "delivered": list(DELIVERED_STATUSES),
                },
            ).scalar()
            opted = 0
            if row.buyer_key:
                opted = conn.execute(
                    sa.text(
                        f"SELECT COUNT(*) FROM {OPT_OUTS} WHERE account_id = :a "  # noqa: S608
                        "AND buyer_key = :b AND channel IN (:ch, :all)"
                    ),
                    {
                        "a": row.account_id,
                        "b": row.buyer_key,
                        "ch": row.channel,
                        "all": OPT_OUT_ALL,
                    },
                ).scalar()
            reason = "already_solicited" if taken and row.channel in defs.AMAZON_CHANNELS else None
            reason = "opted_out" if opted else reason
            if reason is not None:
                conn.execute(
                    sa.text(
                        f"UPDATE {SENDS} SET status = :excluded, reason = :reason, "  # noqa: S608
                        "detail = :reason, run_id = :run, updated_at = :wall WHERE campaign = :c "
                        "AND account_id = :a AND order_id = :o AND status = :old"
                    ),
                    {
                        **row.key,
                        "excluded": EXCLUDED,
                        "reason": reason,
                        "run": self.run.run_id,
                        "wall": wall,
                        "old": row.status,
                    },
                )
                return None, reason
            claimed = conn.execute(
                sa.text(
                    f"UPDATE {SENDS} SET status = :claimed, claim_token = :token, "  # noqa: S608
                    "claimed_at = :wall, posting_at = NULL, attempts = attempts + 1, run_id = :run, "
                    "updated_at = :wall WHERE campaign = :c AND account_id = :a AND order_id = :o "
                    "AND status = :old RETURNING order_id"
                ),
                {
                    **row.key,
                    "claimed": CLAIMED,
                    "token": token,
                    "wall": wall,
                    "run": self.run.run_id,
                    "old": row.status,
                },
            ).fetchall()
        if len(claimed) != 1:
            return None, "claimed_elsewhere"
        row.claim_token, row.claimed_at, row.posting_at = token, wall, None
        return token, None

    def take_over(self, row: OutboxRow) -> str | None:
        """Claim an abandoned claim for resolution (guarded by its old token)."""
        token = uuid.uuid4().hex
        wall = datetime.now(UTC)
        n = self.write(
            f"UPDATE {SENDS} SET claim_token = :token, claimed_at = :wall, run_id = :run, "  # noqa: S608
            "updated_at = :wall WHERE campaign = :c AND account_id = :a AND order_id = :o "
            "AND status = :claimed AND claim_token = :old",
            {
                **row.key,
                "token": token,
                "wall": wall,
                "run": self.run.run_id,
                "claimed": CLAIMED,
                "old": row.claim_token,
            },
        )
        if n != 1:
            return None
        row.claim_token, row.claimed_at = token, wall
        return token

    def mark_posting(self, row: OutboxRow) -> bool:
        """Record (and commit) that a send call is about to go out for this claim."""
        wall = datetime.now(UTC)
        n = self.write(
            f"UPDATE {SENDS} SET posting_at = :wall, posts = posts + 1, updated_at = :wall "  # noqa: S608
            "WHERE campaign = :c AND account_id = :a AND order_id = :o AND status = :claimed "
            "AND claim_token = :token",
            {**row.key, "wall": wall, "claimed": CLAIMED, "token": row.claim_token},
        )
        if n != 1:
            self._lost(row, "sending")
            return False
        row.posting_at = wall
        return True

    def settle(
        self,
        row: OutboxRow,
        status: str,
        *,
        reason: str | None = None,
        detail: str | None = None,
        checks: int = 0,
        confirmed: bool | None = None,
        request_id: str | None = None,
        next_check_at: datetime | None = None,
    ) -> bool:
        """Move a claimed row to its outcome; False when the claim was lost meanwhile."""
        wall = datetime.now(UTC)
        sent = status == SENT
        n = self.write(
            f"UPDATE {SENDS} SET status = :status, reason = :reason, detail = :detail, "  # noqa: S608
            "checks = checks + :checks, claim_token = NULL, settled_at = :wall, "
            + ("sent_at = :now, confirmed = :confirmed, " if sent else "")
            + "amazon_request_id = COALESCE(:request_id, amazon_request_id), "
            "next_check_at = COALESCE(:next_check_at, next_check_at), run_id = :run, "
            "updated_at = :wall WHERE campaign = :c AND account_id = :a AND order_id = :o "
            "AND status = :claimed AND claim_token = :token",
            {
                **row.key,
                "status": status,
                "reason": reason,
                "detail": detail[:2000] if detail else None,
                "checks": checks,
                "wall": wall,
                "now": self.now,
                "confirmed": confirmed,
                "request_id": request_id,
                "next_check_at": next_check_at,
                "run": self.run.run_id,
                "claimed": CLAIMED,
                "token": row.claim_token,
            },
        )
        if n != 1:
            self._lost(row, f"settling {status}")
            return False
        return True

    def release(self, row: OutboxRow, back_to: str, detail: str, *, checks: int = 0) -> bool:
        """Give a claimed row back (nothing was sent): to ``back_to`` with the error noted."""
        return self.settle(row, back_to, reason=None, detail=detail, checks=checks)

    def _lost(self, row: OutboxRow, doing: str) -> None:
        self.run.note_error(
            f"{row.campaign} {row.account_id} {row.order_id}: claim lost before {doing} "
            "(another run took it over)"
        )
        self.run.add(row.campaign, "error", "claim_lost")

    # -- reads --------------------------------------------------------------------------------

    def due_rows(
        self, campaign: defs.Campaign, account_id: str, marketplace_id: str
    ) -> list[OutboxRow]:
        rows = self.read(
            f"SELECT {_COLUMNS} FROM {SENDS} WHERE campaign = :c AND account_id = :a "  # noqa: S608
            "AND marketplace_id = :m AND arm = :treatment AND give_up_at > :as_of AND "
            "((status = :planned AND due_at <= :as_of) OR "
            "(status = :ineligible AND next_check_at <= :as_of)) ORDER BY due_at, order_id",
            {
                "c": campaign.name,
                "a": account_id,
                "m": marketplace_id,
                "treatment": TREATMENT,
                "as_of": self.now,
                "planned": PLANNED,
                "ineligible": INELIGIBLE,
            },
        )
        return [OutboxRow.from_db(r) for r in rows]

    def abandoned(self, campaign: defs.Campaign, lease: timedelta) -> list[OutboxRow]:
        rows = self.read(
            f"SELECT {_COLUMNS} FROM {SENDS} WHERE campaign = :c AND status = :claimed "  # noqa: S608
            "AND claimed_at <= :cutoff ORDER BY claimed_at, order_id",
            {"c": campaign.name, "claimed": CLAIMED, "cutoff": datetime.now(UTC) - lease},
        )
        return [OutboxRow.from_db(r) for r in rows]

    def quota(self, campaign: defs.Campaign, account_id: str) -> int | None:
        limits = campaign.limits
        quota = limits.max_per_run
        if limits.max_per_day is not None:
            day = datetime(self.now.year, self.now.month, self.now.day, tzinfo=UTC)
            sent_today = self.read(
                f"SELECT COUNT(*) FROM {SENDS} WHERE campaign = :c AND account_id = :a "  # noqa: S608
                "AND status = :sent AND sent_at >= :start AND sent_at < :end",
                {
                    "c": campaign.name,
                    "a": account_id,
                    "sent": SENT,
                    "start": day,
                    "end": day + timedelta(days=1),
                },
            )[0][0]
            left = max(limits.max_per_day - int(sent_today or 0), 0)
            quota = left if quota is None else min(quota, left)
        return quota


# -- the run -------------------------------------------------------------------------------------


def send_campaigns(
    warehouse: Any = None,
    definitions: Any = None,
    *,
    accounts: Any = None,
    as_of: datetime | date | str | None = None,
    campaigns: Sequence[str] | None = None,
    live: bool | Iterable[str] | None = None,
    sessions: Any = None,
    plan: bool = True,
    claim_lease: timedelta = DEFAULT_CLAIM_LEASE,
    max_post_attempts: int = 3,
    after_accept: Callable[[OutboxRow], None] | None = None,
    only_accounts: Sequence[str] | None = None,
) -> CampaignRun:
    """Resolve interrupted sends, plan, then send every due row (the DAG's send task).

    ``live`` overrides the campaigns' own ``live`` flag: True sends every campaign,
    False none (dry run), a list of names sends exactly those. ``sessions`` injects
    SpApiSessions (``{account_id: session}`` or a callable taking the Account).
    ``warehouse``, ``definitions`` and ``accounts`` may be objects or paths/URLs
    (picklable, so the function can run in a subprocess). ``after_accept`` is called
    after Amazon accepted a send and before the row is settled (tests). ``only_accounts``
    limits the resolve and send phases to those accounts (the DAG maps one send task
    per account: each has its own quotas); planning still covers every account.

    On DuckDB the warehouse's writer lock is held while a phase runs (the sends
    included): other writers wait for the campaign run.
    """
    wh = get_warehouse(warehouse)
    definitions = get_definitions(definitions)
    accounts = get_accounts(accounts)
    defs.check_accounts(definitions, accounts)
    known = [a.account_id for a in accounts.accounts]
    scope = set(known) if only_accounts is None else set(only_accounts)
    if scope - set(known):
        raise defs.CampaignsError(
            f"unknown account(s) {sorted(scope - set(known))}; known: {', '.join(known)}"
        )
    resolved = resolve_as_of(as_of)
    selected = definitions.select(list(campaigns) if campaigns else None)
    run = CampaignRun(step="send", as_of=resolved, campaigns=[c.name for c in selected])
    run.live = _live_map(selected, live)
    amazon = ch.AmazonChannels(accounts, sessions)
    try:
        with wh.connect() as conn:
            outbox = _Outbox(wh, conn, run)
            for campaign in selected:
                _resolve_claims(outbox, amazon, campaign, claim_lease, accounts, scope)
        if plan:
            plan_campaigns(
                wh, definitions, accounts=accounts, as_of=resolved, campaigns=run.campaigns, run=run
            )
        with wh.connect() as conn:
            outbox = _Outbox(wh, conn, run)
            for campaign in selected:
                for account, marketplace_id in defs.pairs(campaign, accounts):
                    if account.account_id not in scope:
                        continue
                    if campaign.channel == defs.EXPORT:
                        _export_pair(outbox, campaign, account.account_id, marketplace_id)
                    else:
                        _send_pair(
                            outbox,
                            amazon,
                            campaign,
                            account.account_id,
                            marketplace_id,
                            max_post_attempts=max_post_attempts,
                            after_accept=after_accept,
                        )
    except BaseException as exc:
        run.finish("failed", error=f"{type(exc).__name__}: {exc}")
        try:
            record_run(wh, run)
        finally:
            log.error("%s", run.summary())
        raise
    run.finish()
    record_run(wh, run)
    log.info("%s", run.summary())
    return run


def in_send_window(campaign: defs.Campaign, time_zone: str | None, when: datetime) -> bool:
    """Whether ``when`` is inside the campaign's send window in the buyer's zone."""
    zone = ZoneInfo(time_zone) if time_zone else UTC
    return campaign.trigger.send_window.contains(when.astimezone(zone).time())


def _crash_point(row: OutboxRow, after_accept: Callable[[OutboxRow], None] | None) -> None:
    if after_accept is not None:
        after_accept(row)
    target = os.environ.get(CRASH_ENV)
    if target and target in ("*", row.order_id):
        log.error("%s: exiting after Amazon accepted %s, before settling", CRASH_ENV, row.order_id)
        os._exit(CRASH_EXIT_CODE)


def _send_pair(
    outbox: _Outbox,
    amazon: ch.AmazonChannels,
    campaign: defs.Campaign,
    account_id: str,
    marketplace_id: str,
    *,
    max_post_attempts: int,
    after_accept: Callable[[OutboxRow], None] | None,
) -> None:
    run = outbox.run
    name = campaign.name
    live = run.live.get(name, False)
    rows = outbox.due_rows(campaign, account_id, marketplace_id)
    quota = outbox.quota(campaign, account_id)
    used = 0
    recheck = timedelta(hours=campaign.limits.recheck_hours)
    for row in rows:
        if quota is not None and used >= quota:
            run.add(name, "deferred", "limit")
            continue
        if not in_send_window(campaign, row.time_zone, run.as_of):
            run.add(name, "deferred", "send_window")
            continue
        if not live:
            try:
                offered = amazon.is_offered(
                    row.channel, row.action, account_id, marketplace_id, row.order_id
                )
            except ch.ChannelError as exc:
                run.add(name, "error", "eligibility_check")
                run.note_error(f"{name} {account_id} {row.order_id}: eligibility: {exc.describe()}")
                continue
            run.add(name, "would_send" if offered else "would_be_ineligible")
            used += int(offered)
            continue
        token, reason = outbox.claim(row)
        if token is None:
            run.add(name, "skipped" if reason == "claimed_elsewhere" else EXCLUDED, reason or "")
            continue
        used += _process(outbox, amazon, campaign, row, recheck, max_post_attempts, after_accept)


def _process(
    outbox: _Outbox,
    amazon: ch.AmazonChannels,
    campaign: defs.Campaign,
    row: OutboxRow,
    recheck: timedelta,
    max_post_attempts: int,
    after_accept: Callable[[OutboxRow], None] | None,
) -> int:
    """Check, send and settle one claimed row; return 1 when it was sent."""
    run = outbox.run
    name = campaign.name
    back_to = row.status  # the status before the claim
    where = f"{name} {row.account_id} {row.order_id}"
    try:
        offered = amazon.is_offered(
            row.channel, row.action, row.account_id, row.marketplace_id, row.order_id
        )
    except ch.AmazonRefused as exc:
        code = exc.code or str(exc.status)
        outbox.settle(row, FAILED, reason=code, detail=exc.describe(), checks=1)
        run.add(name, FAILED, code)
        return 0
    except ch.ChannelError as exc:
        outbox.release(row, back_to, f"eligibility check failed: {exc.describe()}")
        run.add(name, "error", "eligibility_check")
        run.note_error(f"{where}: eligibility check failed: {exc.describe()}")
        return 0
    if not offered:
        outbox.settle(
            row,
            INELIGIBLE,
            reason="not_offered",
            detail=f"Amazon does not offer {row.action} for this order now",
            checks=1,
            next_check_at=run.as_of + recheck,
        )
        run.add(name, INELIGIBLE, "not_offered")
        return 0

    checks = 1
    posts = 0
    doubt: str | None = None  # set once an attempt of this claim failed ambiguously
    while True:
        if not outbox.mark_posting(row):
            return 0
        posts += 1
        run.post(name, row.account_id, row.order_id)
        try:
            accepted = amazon.send(campaign, row.account_id, row.marketplace_id, row.order_id)
        except ch.AmazonRefused as exc:
            if exc.status == 403 and doubt is not None:
                # Offered a moment ago, refused now: the earlier attempt went out.
                outbox.settle(
                    row,
                    SENT,
                    reason="resolved",
                    detail=f"{doubt}, then Amazon refused ({exc.describe()}): the earlier "
                    "attempt went out (unconfirmed)",
                    checks=checks,
                    confirmed=False,
                )
                run.add(name, SENT, "resolved_unconfirmed")
                return 1
            if exc.status == 403:
                outbox.settle(
                    row,
                    INELIGIBLE,
                    reason="refused",
                    detail=exc.describe(),
                    checks=checks,
                    next_check_at=run.as_of + recheck,
                )
                run.add(name, INELIGIBLE, "refused")
            else:
                code = exc.code or str(exc.status)
                outbox.settle(row, FAILED, reason=code, detail=exc.describe(), checks=checks)
                run.add(name, FAILED, code)
            return 0
        except ch.NotPerformed as exc:
            if doubt is not None:
                _leave_claimed(outbox, row, f"{doubt}; then {exc.describe()}")
                return 0
            outbox.release(row, back_to, f"not sent: {exc.describe()}", checks=checks)
            run.add(name, "error", "send_not_performed")
            run.note_error(f"{where}: send failed, nothing sent: {exc.describe()}")
            return 0
        except ch.AmbiguousOutcome as exc:
            run.add(name, "ambiguous", exc.code or (str(exc.status) if exc.status else "no_answer"))
            doubt = f"a send call failed ambiguously ({exc.describe()})"
            outcome = _resolve_ambiguous(outbox, amazon, row, doubt, checks)
            checks += 1
            if outcome == "not_sent" and posts < max_post_attempts:
                log.warning("%s: %s; Amazon still offers it: sending again", where, doubt)
                continue
            if outcome == "not_sent":
                # The failed request may still land: a later run asks Amazon again.
                _leave_claimed(outbox, row, f"{doubt}; {posts} attempts")
            return 1 if outcome == SENT else 0
        _crash_point(row, after_accept)
        outbox.settle(row, SENT, checks=checks, confirmed=True, request_id=accepted.request_id)
        run.add(name, SENT, "")
        return 1


def _leave_claimed(outbox: _Outbox, row: OutboxRow, why: str) -> None:
    """An ambiguous send still unresolved: the row stays claimed; a later run (after the
    claim lease, when any request in flight has landed) asks Amazon and settles it."""
    outbox.run.add(row.campaign, "error", "left_claimed_for_resolution")
    outbox.run.note_error(
        f"{row.campaign} {row.account_id} {row.order_id}: {why}: left claimed; the next run "
        "after the claim lease asks Amazon whether it went out"
    )


def _resolve_ambiguous(
    outbox: _Outbox,
    amazon: ch.AmazonChannels,
    row: OutboxRow,
    context: str,
    checks: int,
) -> str:
    """Settle a claimed row whose send may have happened, by asking Amazon.

    Returns ``sent`` or ``unknown`` (settled), ``not_sent`` (left claimed: the caller
    sends again or releases it) or ``unresolved`` (Amazon could not be asked: left
    claimed for a later run).
    """
    run = outbox.run
    name = row.campaign
    where = f"{name} {row.account_id} {row.order_id}"
    if row.channel == defs.MESSAGE:
        # A message type stays offered after a send: Amazon's answer proves nothing.
        outbox.settle(
            row,
            UNKNOWN,
            reason="outcome_unknown",
            detail=f"{context}: Amazon cannot tell whether the message went out; not resent",
            checks=checks,
        )
        run.add(name, UNKNOWN, "outcome_unknown")
        return UNKNOWN
    try:
        offered = amazon.is_offered(
            row.channel, row.action, row.account_id, row.marketplace_id, row.order_id
        )
    except ch.ChannelError as exc:
        run.add(name, "error", "unresolved")
        run.note_error(f"{where}: {context}: could not ask Amazon ({exc.describe()}); left claimed")
        return "unresolved"
    if offered:
        return "not_sent"
    outbox.settle(
        row,
        SENT,
        reason="resolved",
        detail=f"{context}: Amazon no longer offers {row.action}: it went out (unconfirmed)",
        checks=checks + 1,
        confirmed=False,
    )
    run.add(name, SENT, "resolved_unconfirmed")
    return SENT


def _resolve_claims(
    outbox: _Outbox,
    amazon: ch.AmazonChannels,
    campaign: defs.Campaign,
    lease: timedelta,
    accounts: Any,
    scope: set[str] | None = None,
) -> None:
    """Take over claims older than ``lease`` (their worker died) and settle them by asking.

    With ``scope``, only claims of those accounts (another task resolves the rest).
    """
    rows = [
        row for row in outbox.abandoned(campaign, lease) if scope is None or row.account_id in scope
    ]
    if not rows:
        return
    if campaign.channel == defs.EXPORT:
        _resolve_export_claims(outbox, campaign, rows)
        return
    run = outbox.run
    known = {a.account_id for a in accounts.accounts}
    name = campaign.name
    context = "interrupted send (claimed, never settled)"
    for row in rows:
        if row.account_id not in known:
            run.note_error(
                f"{name} {row.account_id} {row.order_id}: claimed; account not configured"
            )
            continue
        if outbox.take_over(row) is None:
            continue
        if row.posting_at is None:
            # The worker stopped before any send call of this claim: nothing went out.
            outbox.release(row, PLANNED, f"{context}: no send call was made; released")
            run.add(name, "resolved", "released_never_called")
            continue
        outcome = _resolve_ambiguous(outbox, amazon, row, context, 0)
        if outcome == "not_sent":
            outbox.release(row, PLANNED, f"{context}: Amazon still offers it: nothing was sent")
            run.add(name, "resolved", "released_not_sent")
        elif outcome == SENT:
            run.add(name, "resolved", "sent_unconfirmed")
        elif outcome == UNKNOWN:
            run.add(name, "resolved", "unknown")


# -- audience exports ----------------------------------------------------------------------------


def _export_pair(
    outbox: _Outbox, campaign: defs.Campaign, account_id: str, marketplace_id: str
) -> None:
    run = outbox.run
    name = campaign.name
    rows = outbox.due_rows(campaign, account_id, marketplace_id)
    quota = outbox.quota(campaign, account_id)
    if quota is not None and len(rows) > quota:
        run.add(name, "deferred", "limit", len(rows) - quota)
        rows = rows[:quota]
    if not rows:
        return
    if not run.live.get(name, False):
        run.add(name, "would_send", "", len(rows))
        return
    token = uuid.uuid4().hex
    wall = datetime.now(UTC)
    claimed = outbox.read(
        f"UPDATE {SENDS} SET status = :claimed, claim_token = :token, claimed_at = :wall, "  # noqa: S608
        "posting_at = :wall, attempts = attempts + 1, posts = posts + 1, run_id = :run, "
        "updated_at = :wall WHERE campaign = :c AND account_id = :a AND order_id IN :orders "
        "AND status IN (:planned, :ineligible) RETURNING order_id, buyer_key",
        {
            "claimed": CLAIMED,
            "token": token,
            "wall": wall,
            "run": run.run_id,
            "c": name,
            "a": account_id,
            "orders": [r.order_id for r in rows],
            "planned": PLANNED,
            "ineligible": INELIGIBLE,
        },
        "orders",
    )
    if not claimed:
        return
    records = [{"order_id": r[0], "buyer_key": r[1]} for r in claimed]
    path, listed = ch.write_export(campaign, account_id, marketplace_id, token, records)
    _settle_export(outbox, campaign, account_id, token, path, confirmed=True)
    run.add(name, SENT, "exported", len(claimed))
    log.info("%s: exported %d keys of %d orders to %s", name, listed, len(claimed), path)


def _resolve_export_claims(outbox: _Outbox, campaign: defs.Campaign, rows: list[OutboxRow]) -> None:
    """An abandoned export claim: its file exists (complete) -> sent, else released."""
    run = outbox.run
    tokens = sorted(
        {(r.account_id, r.marketplace_id, r.claim_token) for r in rows if r.claim_token}
    )
    for account_id, marketplace_id, token in tokens:
        path = ch.find_export(campaign, account_id, marketplace_id, token)
        if path is not None:
            n = _settle_export(outbox, campaign, account_id, token, path, confirmed=False)
            run.add(campaign.name, "resolved", "exported_before_interruption", n)
            continue
        n = outbox.write(
            f"UPDATE {SENDS} SET status = :planned, claim_token = NULL, detail = :detail, "  # noqa: S608
            "run_id = :run, updated_at = :wall WHERE campaign = :c AND account_id = :a "
            "AND claim_token = :token AND status = :claimed",
            {
                "planned": PLANNED,
                "detail": "interrupted export: no file was written; released",
                "run": run.run_id,
                "wall": datetime.now(UTC),
                "c": campaign.name,
                "a": account_id,
                "token": token,
                "claimed": CLAIMED,
            },
        )
        run.add(campaign.name, "resolved", "released_not_exported", n)


def _settle_export(
    outbox: _Outbox,
    campaign: defs.Campaign,
    account_id: str,
    token: str,
    path: Any,
    *,
    confirmed: bool,
) -> int:
    return outbox.write(
        f"UPDATE {SENDS} SET status = :sent, claim_token = NULL, settled_at = :wall, "  # noqa: S608
        "sent_at = :now, confirmed = :confirmed, detail = :detail, run_id = :run, "
        "updated_at = :wall WHERE campaign = :c AND account_id = :a "
        "AND claim_token = :token AND status = :claimed",
        {
            "sent": SENT,
            "wall": datetime.now(UTC),
            "now": outbox.now,
            "confirmed": confirmed,
            "detail": f"exported to {path}",
            "run": outbox.run.run_id,
            "c": campaign.name,
            "a": account_id,
            "token": token,
            "claimed": CLAIMED,
        },
    )


def run_send_task(
    airflow_run_id: str | None = None, account_id: str | None = None
) -> dict[str, Any]:
    """The DAG's send task: every campaign of the configured file, as of now.

    With ``account_id``, that account's sends only, after the plan task planned them.
    """
    if account_id is None:
        run = send_campaigns()
    else:
        run = send_campaigns(only_accounts=[account_id], plan=False)
    if airflow_run_id:
        log.info("Airflow run %s", airflow_run_id)
    return run.as_dict()
