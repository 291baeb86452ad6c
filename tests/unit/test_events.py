"""The event envelope: one payload type per step, JSON round trips, and what it refuses."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from pydantic import ValidationError

from domain import (
    BinCounted,
    BinReassigned,
    BlindReceipt,
    Disposition,
    DispositionDecided,
    DispositionDecision,
    DispositionReopened,
    Event,
    EventType,
    ExceptionResolved,
    Grade,
    Inspection,
    InspectionRecorded,
    QuarantineReleased,
    ReceiptVoided,
    RmaReceipt,
    Role,
    UnitGraded,
    UnitMoved,
    UnitQuarantined,
    UnitRegraded,
    UnitStored,
    uuid7,
)

LPN = "LPN-0000000017"
PAYLOADS = [
    RmaReceipt(lpn=LPN, sku="ELE-10000", serial="SN-1", bin_code="BIN-DCK-A01", rma_id="RMA-26000015", line_no=1),
    BlindReceipt(lpn=LPN, sku="HEA-10005", lot="L42", expiry=dt.date(2027, 5, 1), bin_code="BIN-DCK-A01",
                 reason_code="unknown", package_ref="1Z999AA10123456784"),
    InspectionRecorded(lpn=LPN, inspection=Inspection(answers={"powers_on": True}, condition_codes=("opened",),
                                                      notes="scuff on lid", photo_hashes=("ab" * 32,))),
    UnitGraded(lpn=LPN, grade=Grade.B),
    DispositionDecided(lpn=LPN, decision=DispositionDecision(disposition=Disposition.LIQUIDATE,
                                                             suggested=Disposition.RESTOCK, rule_id="grade_b_restock",
                                                             override_reason="crushed box")),
    UnitStored(lpn=LPN, bin_code="BIN-RST-R01"),
    UnitQuarantined(lpn=LPN, reason="suspected swap"),
    QuarantineReleased(lpn=LPN, note="serial verified"),
    BinReassigned(bin_code="BIN-QUA-Q01", purpose="hazmat review", zone="Q", owner="sam",
                  move_contents_to="BIN-QUA-Q02"),
    BinCounted(bin_code="BIN-RST-R01", counts={"ELE-10000": 2}),
    ExceptionResolved(exception_id="EXC-7", lpn=LPN, grade=Grade.C, note="second inspection wins"),
    ReceiptVoided(lpn=LPN, reason="scanned twice"),
    UnitRegraded(lpn=LPN, grade=Grade.C, previous_grade=Grade.B, reason="scratch under the sticker"),
    DispositionReopened(lpn=LPN, previous_disposition=Disposition.RESTOCK, reason="box crushed after all"),
    UnitMoved(lpn=LPN, bin_code="BIN-RST-R02"),
]


def envelope(payload, **overrides):
    fields = dict(
        event_id=uuid7(1_795_680_000_000, bytes(10)), device_id="dev-1", device_seq=1,
        hlc="001795680000000.000000", actor="alex", role=Role.ASSOCIATE,
        occurred_at=dt.datetime(2026, 11, 26, tzinfo=dt.UTC), type=payload.type, payload=payload,
    )
    return Event(**(fields | overrides))


def test_one_payload_per_event_type():
    assert {p.type for p in PAYLOADS} == set(EventType)


@pytest.mark.parametrize("payload", PAYLOADS, ids=lambda p: p.type.value)
def test_event_round_trips_through_json(payload):
    event = envelope(payload)
    assert Event.model_validate_json(event.model_dump_json()) == event


def test_type_must_match_the_payload():
    with pytest.raises(ValidationError, match="does not match payload type"):
        envelope(PAYLOADS[3], type=EventType.STORE)


def test_event_id_must_be_uuid7():
    with pytest.raises(ValidationError, match="UUIDv7"):
        envelope(PAYLOADS[3], event_id=uuid.uuid4())


@pytest.mark.parametrize("field,value", [("device_seq", 0), ("hlc", "yesterday"), ("device_id", "bad id!"),
                                          ("occurred_at", dt.datetime(2026, 11, 26)), ("base_version", -1)])
def test_malformed_envelope_fields_are_refused(field, value):
    with pytest.raises(ValidationError, match=field):
        envelope(PAYLOADS[3], **{field: value})


def test_unknown_payload_fields_are_refused():
    data = envelope(PAYLOADS[3]).model_dump(mode="json")
    data["payload"]["colour"] = "red"
    with pytest.raises(ValidationError, match="colour"):
        Event.model_validate(data)


@pytest.mark.parametrize("lpn", ["LPN-0000000018", "LPN-17", "lpn-0000000017"])
def test_payload_refuses_a_bad_license_plate(lpn):
    with pytest.raises(ValidationError, match="lpn"):
        UnitGraded(lpn=lpn, grade=Grade.A)


def test_a_regrade_must_change_the_grade():
    with pytest.raises(ValidationError, match="graded B already"):
        UnitRegraded(lpn=LPN, grade=Grade.B, previous_grade=Grade.B, reason="looked again")


@pytest.mark.parametrize("correction", [ReceiptVoided, UnitRegraded, DispositionReopened])
def test_a_correction_of_a_decision_or_receipt_needs_a_reason(correction):
    fields = {"lpn": LPN, "grade": Grade.C, "previous_grade": Grade.B, "previous_disposition": Disposition.SCRAP}
    wanted = {name: fields[name] for name in correction.model_fields if name in fields}
    with pytest.raises(ValidationError, match="reason"):
        correction(**wanted)
    with pytest.raises(ValidationError, match="reason"):
        correction(**wanted, reason="")
