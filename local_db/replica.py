"""The device's side of sync: what to push, the server's answers, and pulled pages of server state.

A unit's projection is the server's state of it as last pulled, with this device's own events
that state does not yet reflect re-applied on top (never a rejected one). The feed says which
events a state reflects: an "ack" entry precedes every push's changes, so each later entry
reflects the device's events through that entry's last_seq. Every function here runs inside the
caller's write transaction.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import sqlite_utils
from pydantic import TypeAdapter

from domain import (
    Bin,
    BinReassigned,
    BlindReceipt,
    Category,
    ConditionCode,
    Disposition,
    DispositionRule,
    DomainError,
    Grade,
    Item,
    Payload,
    ReasonCode,
    ReturnUnit,
    Rma,
    RmaReceipt,
    UnitState,
    User,
)
from domain.conflicts import Outcome
from domain.evolve import evolve, lpn_is_free, received_unit

from . import master
from .projection import rma_line_reason, write_unit

_PAYLOAD: TypeAdapter[Any] = TypeAdapter(Payload)

# The server's outcome as the device's outbox records it: a duplicate is an earlier answer, and
# only a rejected event is left out of the device's view.
STATUS_OF_OUTCOME = {Outcome.APPLIED: "acknowledged", Outcome.DUPLICATE: "acknowledged", Outcome.CONFLICT: "conflict",
                     Outcome.REJECTED: "rejected"}


class PushRow(NamedTuple):  # a tuple: built for every pending event, at a third of a dataclass's cost
    """One event of the device's log as stored, for a push: the payload stays the JSON text it was written as."""

    device_seq: int
    event_id: str
    type: str
    hlc: str
    actor: str
    role: str
    occurred_at: str
    schema_version: int
    base_version: int
    payload: str
    lpn: str | None  # the unit the event is about (not part of the event: the payload holds it)


class Answer(NamedTuple):
    """The server's result for one of this device's events."""

    device_seq: int
    outcome: str
    rule: str | None = None
    exception_id: str | None = None
    reason: str | None = None


# --- the outbox ---------------------------------------------------------------------------------

def next_push_seq(conn: sqlite3.Connection) -> int:
    """The first event the server has not answered. Answers come for whole batches in device_seq
    order, so the answered events are always a prefix of the log."""
    return conn.execute("SELECT COALESCE(MAX(device_seq), 0) + 1 FROM sync_results").fetchone()[0]


def pending_rows(conn: sqlite3.Connection, from_seq: int, limit: int) -> list[PushRow]:
    return list(map(PushRow._make, conn.execute(
        """SELECT device_seq, event_id, type, hlc, actor, role, occurred_at, schema_version, base_version, payload,
                  json_extract(payload, '$.lpn')
           FROM events WHERE device_seq >= ? ORDER BY device_seq LIMIT ?""", (from_seq, limit))))


_ANSWER_UPSERT = """ON CONFLICT (device_seq) DO UPDATE SET status = excluded.status, rule = excluded.rule,
    exception_id = excluded.exception_id, reason = excluded.reason, updated_at = excluded.updated_at"""


def _plain(answer: Answer) -> bool:
    return (answer.outcome == Outcome.APPLIED and answer.rule is None and answer.exception_id is None
            and answer.reason is None)


def record_answers(conn: sqlite3.Connection, answers: Sequence[Answer], now: str) -> None:
    """Write the server's answers. A duplicate repeats an earlier answer: it never overwrites the
    one recorded (which may say rejected, from the pull feed). A rejected event leaves the view."""
    fresh = [a for a in answers if a.outcome != Outcome.DUPLICATE]
    # Most answers are a plain "applied" for a run of consecutive events: one statement counts
    # through each run, at a third of the cost of handing SQLite a row per event. (WHERE true: an
    # upsert's SELECT needs a WHERE, or SQLite reads ON CONFLICT as part of a join.)
    runs: list[list[int]] = []
    for answer in filter(_plain, fresh):
        if runs and answer.device_seq == runs[-1][1] + 1:
            runs[-1][1] = answer.device_seq
        else:
            runs.append([answer.device_seq, answer.device_seq])
    conn.executemany(
        f"""WITH RECURSIVE run(seq) AS (SELECT ? UNION ALL SELECT seq + 1 FROM run WHERE seq < ?)
            INSERT INTO sync_results (device_seq, status, updated_at) SELECT seq, 'acknowledged', ? FROM run WHERE true
            {_ANSWER_UPSERT}""", [(first, last, now) for first, last in runs])
    conn.executemany(
        f"""INSERT INTO sync_results (device_seq, status, rule, exception_id, reason, updated_at)
            VALUES (?, ?, ?, ?, ?, ?) {_ANSWER_UPSERT}""",
        [(a.device_seq, STATUS_OF_OUTCOME[a.outcome], a.rule, a.exception_id, a.reason, now)
         for a in fresh if not _plain(a)])
    conn.executemany(
        """INSERT INTO sync_results (device_seq, status, rule, exception_id, reason, updated_at)
           VALUES (?, 'acknowledged', ?, ?, ?, ?) ON CONFLICT (device_seq) DO NOTHING""",
        [(a.device_seq, a.rule, a.exception_id, a.reason, now) for a in answers if a.outcome == Outcome.DUPLICATE])
    rejected = [a.device_seq for a in fresh if a.outcome == Outcome.REJECTED]
    if rejected:
        undo_rejected(conn, rejected)


def undo_rejected(conn: sqlite3.Connection, seqs: Sequence[int]) -> None:
    """Re-derive what the rejected events touched, now without them."""
    if not seqs:
        return
    lpns: set[str] = set()
    bins: set[str] = set()
    marks = ",".join("?" * len(seqs))
    for type_, payload in conn.execute(f"SELECT type, payload FROM events WHERE device_seq IN ({marks})", seqs):
        body = json.loads(payload)
        if type_ == "bin_reassigned":
            bins.add(body["bin_code"])
            if body.get("move_contents_to"):
                lpns.update(r[0] for r in conn.execute("SELECT lpn FROM units WHERE bin_code = ?",
                                                        (body["move_contents_to"],)))
        elif body.get("lpn"):
            lpns.add(body["lpn"])
    rederive_units(conn, lpns)
    for code in bins:
        rederive_bin_assignment(conn, code, reflected_through(conn))


# --- pulled pages -------------------------------------------------------------------------------

def pull_cursor(conn: sqlite3.Connection) -> int:
    return int(read_meta(conn, "pull_cursor", "0"))


def reflected_through(conn: sqlite3.Connection) -> int:
    return int(read_meta(conn, "reflected_through", "0"))


def apply_page(db: sqlite_utils.Database, changes: Iterable[Mapping[str, Any]], cursor: int, now: str) -> bool:
    """Apply one pulled page and store its cursor. Returns whether master data changed. A kind
    this release does not know (from a newer server) is skipped, never an error."""
    conn = db.conn
    through = reflected_through(conn)
    units: set[str] = set()
    bins: set[str] = set()
    master_changed = False
    for change in changes:
        kind, key, body = change["kind"], change["key"], change["body"]
        if kind == "ack":
            through = max(through, int(body["last_seq"]))
        elif kind == "unit":
            conn.execute(
                """INSERT INTO pulled_units (lpn, body, reflected_through) VALUES (?, ?, ?) ON CONFLICT (lpn)
                   DO UPDATE SET body = excluded.body, reflected_through = excluded.reflected_through""",
                (key, json.dumps(body), through))
            units.add(key)
        elif kind == "bin":
            _apply_bin(db, key, body)
            bins.add(key)
            master_changed = True
        elif kind in _MASTER:
            _MASTER[kind](db, key, body)
            master_changed = True
        elif kind == "exception":
            conn.execute(
                """INSERT INTO exceptions (exception_id, kind, status, lpn, bin_code, device_id, event_id, detail)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (exception_id) DO NOTHING""",
                (key, body["kind"], body["status"], body.get("lpn"), body.get("bin_code"), body.get("device_id"),
                 body.get("event_id"), json.dumps(body.get("detail") or {})))
        elif kind == "resolution":
            conn.execute("UPDATE exceptions SET status = 'resolved', resolution = ? WHERE exception_id = ?",
                         (json.dumps(body), key))
        elif kind == "result":
            _apply_result(conn, key, body, now)
    rederive_units(conn, units)
    for code in bins:
        settle_bin_assignment(conn, code, through)
    write_meta(conn, "pull_cursor", str(cursor))
    write_meta(conn, "reflected_through", str(through))
    return master_changed


def _apply_result(conn: sqlite3.Connection, event_id: str, body: Mapping[str, Any], now: str) -> None:
    """A rejection or conflict the feed repeats: it reaches the device even when the push's answer did not."""
    seq = body["device_seq"]
    row = conn.execute("SELECT event_id FROM events WHERE device_seq = ?", (seq,)).fetchone()
    if row is None or row[0] != event_id:
        return
    answer = Answer(seq, body["outcome"], body.get("rule"), body.get("exception_id"), body.get("reason"))
    known = conn.execute("SELECT status FROM sync_results WHERE device_seq = ?", (seq,)).fetchone()
    if known is None or known[0] != STATUS_OF_OUTCOME[answer.outcome]:
        record_answers(conn, [answer], now)


def _apply_bin(db: sqlite_utils.Database, code: str, body: Mapping[str, Any]) -> None:
    if body.get("deleted"):
        _delete_unless_used(db.conn, ("DELETE FROM bins WHERE code = ?", (code,)))
    elif "type" in body:
        master.upsert_bins(db, [Bin.model_validate(body)])
    else:  # a reassignment: purpose, zone and owner only
        db.conn.execute("UPDATE bins SET purpose = ?, zone = ?, owner = ? WHERE code = ?",
                     (body.get("purpose"), body.get("zone"), body.get("owner"), code))


def settle_bin_assignment(conn: sqlite3.Connection, code: str, through: int) -> None:
    """After a pulled bin: the device's own reassignment of it stands only while the server's state
    does not reflect it yet. The overlay row is always the latest local one, so one look suffices."""
    conn.execute("DELETE FROM bin_assignments WHERE bin_code = ? AND device_seq <= ?", (code, through))


def rederive_bin_assignment(conn: sqlite3.Connection, code: str, through: int) -> None:
    """A bin's local reassignment stands only while the server has not seen it (nor rejected it)."""
    row = conn.execute(
        """SELECT e.device_seq, e.payload FROM events e LEFT JOIN sync_results r ON r.device_seq = e.device_seq
           WHERE e.device_seq > ? AND e.type = 'bin_reassigned' AND json_extract(e.payload, '$.bin_code') = ?
             AND COALESCE(r.status, '') <> 'rejected' ORDER BY e.device_seq DESC LIMIT 1""", (through, code)).fetchone()
    if row is None:
        conn.execute("DELETE FROM bin_assignments WHERE bin_code = ?", (code,))
        return
    body = json.loads(row[1])
    conn.execute(
        """INSERT INTO bin_assignments (bin_code, purpose, zone, owner, device_seq) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (bin_code) DO UPDATE SET purpose = excluded.purpose, zone = excluded.zone,
           owner = excluded.owner, device_seq = excluded.device_seq""",
        (code, body["purpose"], body["zone"], body["owner"], row[0]))


def rederive_units(conn: sqlite3.Connection, lpns: set[str]) -> None:
    """Each unit's projection: its pulled state (if any) with this device's unreflected, unrejected
    events re-applied in order. An event the pulled state no longer allows is left for the server to
    judge (it stays in the outbox); a unit the device only knows from a rejected receipt goes."""
    if not lpns:
        return
    marks = json.dumps(sorted(lpns))
    bases: dict[str, tuple[ReturnUnit, int]] = {}
    for lpn, body, through in conn.execute(
            "SELECT lpn, body, reflected_through FROM pulled_units WHERE lpn IN (SELECT value FROM json_each(?))",
            (marks,)):
        unit = unit_from_body(body)
        if unit is not None:
            bases[lpn] = (unit, through)
    # units.last_seq is the last local event that touched a unit: a pulled state reflecting it needs
    # nothing re-applied, which is the common case and skips scanning the log.
    last_local = dict(conn.execute("SELECT lpn, last_seq FROM units WHERE lpn IN (SELECT value FROM json_each(?))",
                                   (marks,)))
    replay = {lpn for lpn in lpns if lpn not in bases or last_local.get(lpn, 0) > bases[lpn][1]}
    for lpn in lpns - replay:
        if _references_known(conn, bases[lpn][0]):
            write_unit(conn, bases[lpn][0], last_local.get(lpn, 0))
    if not replay:
        return
    units: dict[str, ReturnUnit | None] = {lpn: bases[lpn][0] if lpn in bases else None for lpn in replay}
    last_seq: dict[str, int] = {}
    start = min((bases[lpn][1] if lpn in bases else 0) for lpn in replay)
    for seq, payload in conn.execute(
            """SELECT e.device_seq, e.payload FROM events e LEFT JOIN sync_results r ON r.device_seq = e.device_seq
               WHERE e.device_seq > ? AND COALESCE(r.status, '') <> 'rejected'
                 AND (e.type = 'bin_reassigned' OR json_extract(e.payload, '$.lpn') IN (SELECT value FROM json_each(?)))
               ORDER BY e.device_seq""", (start, json.dumps(sorted(replay)))):
        event = _PAYLOAD.validate_json(payload)
        for lpn in _lpns_touched(event, units):
            if lpn in bases and seq <= bases[lpn][1]:
                continue  # the pulled state already reflects it
            after = _replay(conn, units[lpn], event)
            if after is not None:
                units[lpn] = after
                last_seq[lpn] = seq
    for lpn, unit in units.items():
        if unit is None:
            conn.execute("DELETE FROM inspections WHERE lpn = ?", (lpn,))
            conn.execute("DELETE FROM units WHERE lpn = ?", (lpn,))
        elif _references_known(conn, unit):
            write_unit(conn, unit, last_seq.get(lpn, last_local.get(lpn, 0)))


def unit_from_body(body: str) -> ReturnUnit | None:
    """A unit state from the server, or None when this release cannot read it (the device then
    keeps its own view). The server validated it; its enums and date are checked here, cheaply."""
    try:
        fields = {k: v for k, v in json.loads(body).items() if k in ReturnUnit.model_fields}
        return ReturnUnit.model_construct(**{
            **fields,
            "state": UnitState(fields["state"]),
            "held_from": UnitState(fields["held_from"]) if fields.get("held_from") else None,
            "grade": Grade(fields["grade"]) if fields.get("grade") else None,
            "disposition": Disposition(fields["disposition"]) if fields.get("disposition") else None,
            "expiry": dt.date.fromisoformat(fields["expiry"]) if fields.get("expiry") else None,
            "condition_codes": tuple(fields.get("condition_codes") or ()),
        })
    except (ValueError, KeyError, TypeError):
        return None


def _lpns_touched(event: Any, units: Mapping[str, ReturnUnit | None]) -> list[str]:
    if isinstance(event, BinReassigned):
        if not event.move_contents_to:
            return []
        return [lpn for lpn, unit in units.items() if unit is not None and unit.bin_code == event.bin_code]
    lpn = getattr(event, "lpn", None)
    return [lpn] if lpn in units else []


def _replay(conn: sqlite3.Connection, unit: ReturnUnit | None, event: Any) -> ReturnUnit | None:
    """The unit after one of the device's own events, or None when the event changes nothing now."""
    if isinstance(event, RmaReceipt | BlindReceipt):
        if not lpn_is_free(unit):  # the server has the unit already: its state wins
            return None
        reason = rma_line_reason(conn, event.rma_id, event.line_no) if isinstance(event, RmaReceipt) else None
        if isinstance(event, RmaReceipt) and reason is None:
            return None  # an RMA line this device does not hold (yet): nothing to show for it
        return received_unit(event, line_reason=reason)
    if unit is None:
        return None
    if isinstance(event, BinReassigned):
        return unit.model_copy(update={"bin_code": event.move_contents_to})
    try:
        return evolve(unit, event)
    except DomainError:
        return None


def _references_known(conn: sqlite3.Connection, unit: ReturnUnit) -> bool:
    """Whether the device holds the item, bin and RMA line a pulled unit refers to (a unit of a site
    this device does not serve refers to bins it never pulled)."""
    checks = [("SELECT 1 FROM items WHERE sku = ?", (unit.sku,)), ("SELECT 1 FROM bins WHERE code = ?", (unit.bin_code,))]
    if unit.rma_id is not None:
        checks.append(("SELECT 1 FROM rma_lines WHERE rma_id = ? AND line_no = ?", (unit.rma_id, unit.line_no)))
    return all(conn.execute(sql, args).fetchone() is not None for sql, args in checks)


# --- master data from the feed ------------------------------------------------------------------

def _delete_unless_used(conn: sqlite3.Connection, *statements: tuple[str, tuple[Any, ...]]) -> None:
    """The server deletes only what nothing uses; a device may still hold a pending unit that does,
    and then keeps the record whole (an item with its GTINs, an RMA with its lines): all or nothing."""
    conn.execute("SAVEPOINT pulled_delete")
    try:
        for sql, args in statements:
            conn.execute(sql, args)
    except sqlite3.IntegrityError:
        conn.execute("ROLLBACK TO pulled_delete")
    conn.execute("RELEASE pulled_delete")


def _put_item(db: sqlite_utils.Database, key: str, body: Mapping[str, Any]) -> None:
    if body.get("deleted"):
        _delete_unless_used(db.conn, ("DELETE FROM item_gtins WHERE sku = ?", (key,)),
                            ("DELETE FROM items WHERE sku = ?", (key,)))
        return
    item = Item.model_validate(body)
    # An item's GTINs are replaced whole, as on the server.
    db.conn.execute("DELETE FROM item_gtins WHERE sku = ? AND gtin NOT IN (SELECT value FROM json_each(?))",
                    (key, json.dumps(list(item.gtins))))
    master.upsert_items(db, [item])


def _put_rma(db: sqlite_utils.Database, key: str, body: Mapping[str, Any]) -> None:
    if body.get("deleted"):
        _delete_unless_used(db.conn, ("DELETE FROM rma_lines WHERE rma_id = ?", (key,)),
                            ("DELETE FROM rmas WHERE rma_id = ?", (key,)))
        return
    rma = Rma.model_validate(body)
    master.upsert_rmas(db, [rma])
    for (line_no,) in db.conn.execute("SELECT line_no FROM rma_lines WHERE rma_id = ?", (key,)).fetchall():
        if rma.line(line_no) is None:
            _delete_unless_used(db.conn, ("DELETE FROM rma_lines WHERE rma_id = ? AND line_no = ?", (key, line_no)))


def _put_category(db: sqlite_utils.Database, key: str, body: Mapping[str, Any]) -> None:
    if body.get("deleted"):
        _delete_unless_used(db.conn, ("DELETE FROM categories WHERE code = ?", (key,)))
    else:
        master.upsert_categories(db, [Category.model_validate(body)])


def _put_reason(db: sqlite_utils.Database, key: str, body: Mapping[str, Any]) -> None:
    if body.get("deleted"):
        _delete_unless_used(db.conn, ("DELETE FROM reason_codes WHERE code = ?", (key,)))
    else:
        master.upsert_codes(db, [ReasonCode.model_validate(body)], [])


def _put_condition(db: sqlite_utils.Database, key: str, body: Mapping[str, Any]) -> None:
    if body.get("deleted"):
        _delete_unless_used(db.conn, ("DELETE FROM condition_codes WHERE code = ?", (key,)))
    else:
        master.upsert_codes(db, [], [ConditionCode.model_validate(body)])


def _put_user(db: sqlite_utils.Database, key: str, body: Mapping[str, Any]) -> None:
    if body.get("deleted"):  # a user who signed events stays known, but can no longer sign in
        db.conn.execute("UPDATE users SET active = 0 WHERE user_id = ?", (key,))
    else:
        master.upsert_users(db, [User.model_validate(body)])


def _put_rules(db: sqlite_utils.Database, _: str, body: Mapping[str, Any]) -> None:
    master.replace_rules(db, [DispositionRule.model_validate(r) for r in body["rules"]])


_MASTER = {
    "item": _put_item, "rma": _put_rma, "user": _put_user, "rules": _put_rules, "category": _put_category,
    "reason_code": _put_reason, "condition_code": _put_condition,
}


def read_meta(conn: sqlite3.Connection, key: str, default: str | None = None) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return row[0] if row else default


def write_meta(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                 (key, value))
