"""Steps of the returns flow on a device store, for sync tests: each one a real command."""

from __future__ import annotations

from domain import BIN_TYPE_FOR_DISPOSITION, Actor, Disposition, Grade, labels, suggest
from local_db import DeviceStore
from tests.conftest import ASSOCIATE
from tests.integration.test_device_store import answers


def receivable_lines(store: DeviceStore) -> list[tuple[str, int, str]]:
    """(rma_id, line_no, sku) of lines a device can receive without serial or lot."""
    return store.db.execute(
        """SELECT r.rma_id, l.line_no, l.sku FROM rmas r JOIN rma_lines l ON l.rma_id = r.rma_id
           JOIN items i ON i.sku = l.sku WHERE r.state IN ('approved', 'in_transit')
           AND i.serial_tracked = 0 AND i.lot_tracked = 0 ORDER BY r.rma_id, l.line_no""").fetchall()


def receive(store: DeviceStore, number: int, line: int = 0, actor: Actor = ASSOCIATE) -> str:
    rma_id, line_no, sku = receivable_lines(store)[line]
    lpn = labels.lpn(number)
    store.receive(actor, lpn=lpn, sku=sku, bin_code="BIN-DCK-A01", rma_id=rma_id, line_no=line_no)
    return lpn


def inspect(store: DeviceStore, lpn: str, actor: Actor = ASSOCIATE) -> None:
    store.inspect(actor, lpn=lpn, answers=answers(store, lpn))


def suggested(store: DeviceStore, lpn: str) -> Disposition:
    unit = store.unit(lpn)
    return suggest(store.rules(), category=store.item(unit.sku).category, grade=unit.grade,
                   reason_code=unit.reason_code, condition_codes=unit.condition_codes).disposition


def bin_for(store: DeviceStore, disposition: Disposition) -> str:
    wanted = BIN_TYPE_FOR_DISPOSITION[disposition].value
    return store.db.execute("SELECT code FROM bins WHERE type = ? ORDER BY code", (wanted,)).fetchone()[0]


def to_stored(store: DeviceStore, lpn: str, grade: Grade = Grade.A, actor: Actor = ASSOCIATE) -> None:
    inspect(store, lpn, actor)
    store.grade(actor, lpn=lpn, grade=grade)
    disposition = suggested(store, lpn)
    store.decide_disposition(actor, lpn=lpn, disposition=disposition)
    store.store(actor, lpn=lpn, bin_code=bin_for(store, disposition))
