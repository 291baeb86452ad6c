"""The handheld's view models on a real device store: what each screen does with scans and taps."""

from __future__ import annotations

import pytest

from app.models.common import Session
from app.models.home import SignInModel, SyncModel, home_queues
from app.models.receive import ReceiveModel
from app.models.supervisor import SupervisorModel
from app.models.unit_steps import Step, UnitFlow
from domain import Disposition, Grade, UnitState, labels
from domain.evolve import required_bin_type
from sync.engine import SyncState, SyncStatus
from tests.conftest import ASSOCIATE, SUPERVISOR
from tests.sync.workflow import receivable_lines


@pytest.fixture
def session(store):
    return Session(store, ASSOCIATE)


def gtin_of(store, sku):
    return store.item(sku).gtins[0]


def test_sign_in_checks_the_pin_offline(store):
    model = SignInModel(store)
    assert {(user_id, role) for user_id, _, role in model.users()} == {("alex", "associate"), ("sam", "supervisor")}
    feedback, session = model.sign_in("alex", "2468")
    assert feedback.ok and session.actor == ASSOCIATE
    for user, pin in (("alex", "0000"), ("nobody", "2468")):
        feedback, session = model.sign_in(user, pin)
        assert (feedback.ok, feedback.message, session) == (False, "wrong user or PIN: try again", None)


def test_receiving_against_an_rma_counts_each_line(session):
    store = session.store
    rma_id, line_no, sku = receivable_lines(store)[0]
    model = ReceiveModel(session)
    assert model.prompt == "Scan the RMA or the package label"
    assert model.submit(rma_id + "\r").ok
    assert model.prompt == "Scan the item's barcode"
    assert model.submit(gtin_of(store, sku)).ok
    assert "LPN label" in model.prompt
    feedback = model.submit(labels.lpn(1))
    assert feedback.ok and feedback.message.startswith("saved: ") and rma_id in feedback.message
    assert store.unit(labels.lpn(1)).rma_id == rma_id
    [line] = [line for line in model.lines() if line.line_no == line_no]
    assert line.received == 1
    # more than the RMA expects is received, and flagged
    for n in range(2, line.expected + 2):
        model.submit(gtin_of(store, sku))
        feedback = model.submit(labels.lpn(n))
    assert feedback.ok and feedback.check and feedback.saved and "more than expected" in feedback.message


def test_a_one_line_rma_has_its_item_in_hand_until_the_line_is_in(session):
    store = session.store
    rma_id = next(r for (r,) in store.db.execute(
        """SELECT rma_id FROM rma_lines l JOIN items i ON i.sku = l.sku WHERE NOT i.serial_tracked
           AND NOT i.lot_tracked GROUP BY rma_id HAVING COUNT(*) = 1 ORDER BY rma_id"""))
    model = ReceiveModel(session)
    assert model.submit(rma_id).ok and model.item is not None  # no item barcode to scan
    [line] = model.lines()
    for number in range(1, line.expected + 1):
        assert model.submit(labels.lpn(200 + number)).ok
    assert model.item is None and model.complete()
    assert model.prompt.startswith("Every line is in")  # nothing invites one receipt too many


def test_an_item_not_on_the_rma_is_flagged_and_received_as_unexpected(session, catalogue):
    store = session.store
    rma_id, _, sku = receivable_lines(store)[0]
    rma_skus = {line.sku for line in store.rma(rma_id).lines}
    other = next(i for i in catalogue.items if i.sku not in rma_skus and not i.serial_tracked and not i.lot_tracked)
    model = ReceiveModel(session)
    model.submit(rma_id)
    flagged = model.submit(other.gtins[0])  # taken, but worth a look: amber, with its own sound
    assert (flagged.ok, flagged.check, flagged.sound) == (True, True, "check") and "not on " + rma_id in flagged.message
    saved = model.submit(labels.lpn(5))
    assert saved.ok and "unexpected item" in saved.message
    assert model.unexpected == [labels.lpn(5)] and store.unit(labels.lpn(5)).rma_id is None
    assert store.unit(labels.lpn(5)).reason_code == "unknown"  # none of the lines' reasons: it is on none


def test_a_package_without_rma_is_received_blind(session):
    store = session.store
    _, _, sku = receivable_lines(store)[0]
    model = ReceiveModel(session)
    assert model.submit("1Z999AA10123456784").ok  # a UPS tracking number
    assert model.package_ref == "1Z999AA10123456784"
    reason = model.reason_codes()[0][0]
    assert model.start_blind(reason).ok
    model.submit(gtin_of(store, sku))
    assert model.submit(labels.lpn(9)).ok
    assert store.unit(labels.lpn(9)).reason_code == reason


def test_an_rma_that_cannot_be_received_or_an_unknown_bin_is_refused_at_the_scan(session):
    store = session.store
    (closed,) = store.db.execute(
        "SELECT rma_id FROM rmas WHERE state NOT IN ('approved', 'in_transit') LIMIT 1").fetchone()
    model = ReceiveModel(session)
    refused = model.submit(closed)
    assert not refused.ok and "cannot be received" in refused.message and model.rma is None
    assert model.start_blind(model.reason_codes()[0][0]).ok
    assert model.package_ref == closed  # the blind receipt keeps the package's link to its RMA
    unknown_bin = model.submit("BIN-DCK-Z09")
    assert not unknown_bin.ok and "BIN-DCK-Z09" in unknown_bin.message
    assert model.bin_code == "BIN-DCK-A01"


def test_a_serial_on_a_plain_barcode_is_taken_while_the_item_waits_for_one(session):
    store = session.store
    phone = next(sku for (sku,) in store.db.execute("SELECT sku FROM items WHERE serial_tracked = 1 LIMIT 1"))
    model = ReceiveModel(session)
    model.submit("1Z999AA10123456784")
    model.start_blind(model.reason_codes()[0][0])
    model.submit(gtin_of(store, phone))
    assert model.prompt.startswith("Scan the serial number")
    assert not model.submit(labels.lpn(11)).ok  # no LPN before the serial
    assert not model.submit("ABC 12").ok  # a space: no serial a receipt takes
    assert model.submit("SN12345678").ok  # Code 128 with no GS1 AI: still the serial asked for
    assert model.prompt.startswith("Stick an LPN label")
    assert model.submit(labels.lpn(11)).ok
    assert store.unit(labels.lpn(11)).serial == "SN12345678"
    assert not model.submit("SN12345678").ok  # no item waits for a serial now


def test_bad_scans_say_what_to_do_and_write_nothing(session):
    model = ReceiveModel(session)
    before = session.store.sync_counts()["pending"]
    wrong_check = labels.lpn(1)[:-1] + str((int(labels.lpn(1)[-1]) + 1) % 10)
    for typed, words in (("", "nothing was scanned"), (wrong_check, "check digit"),
                         ("4006381333932", "check digit"), ("RMA-99999999", "")):
        feedback = model.submit(typed)
        assert not feedback.ok and words in feedback.message
    assert not model.submit(labels.lpn(3)).ok  # an LPN before any item
    assert session.store.sync_counts()["pending"] == before


def received(session, number=1):
    store = session.store
    rma_id, _, sku = receivable_lines(store)[0]
    model = ReceiveModel(session)
    model.submit(rma_id)
    model.submit(gtin_of(store, sku))
    assert model.submit(labels.lpn(number)).ok
    return labels.lpn(number)


def test_a_unit_goes_from_inspection_to_its_bin_in_hand_without_another_scan(session):
    lpn = received(session)
    flow = UnitFlow(session)
    assert flow.open(lpn).ok and flow.step is Step.INSPECT and flow.questions
    assert set(flow.answers.values()) == {None}  # answers start unanswered: each is a decision
    refused = flow.save_inspection()
    assert not refused.ok and "answer every question" in refused.message
    flow.answer(flow.questions[0][0], False)
    flow.toggle_condition("scratched")
    needs_photo = flow.save_inspection(all_as_expected=True)
    assert not needs_photo.ok and "needs a photo" in needs_photo.message  # damage: the rule asks for evidence
    assert flow.add_photo(b"\x89PNG fake photo bytes").ok
    assert flow.save_inspection(all_as_expected=True).ok
    assert flow.answers[flow.questions[0][0]] is False  # "all as expected" answers only the open ones
    assert flow.step is Step.GRADE and flow.grade(Grade.A).ok
    suggestion = flow.suggestion()
    assert flow.decide(suggestion.disposition).ok and flow.step is Step.PUT_AWAY
    wrong = "BIN-SCR-S01" if suggestion.disposition is not Disposition.SCRAP else "BIN-RST-R01"
    refused = flow.scan(wrong)
    assert not refused.ok and "bin" in refused.message
    right = flow.suggested_bin()
    assert session.store.bin(right).type is required_bin_type(flow.unit)
    assert flow.scan(right).ok
    assert session.store.unit(lpn).state is UnitState.STORED and flow.step is Step.DONE
    assert session.store.db.execute("SELECT COUNT(*) FROM photos").fetchone() == (1,)


def graded(session, grade: Grade) -> tuple[str, UnitFlow]:
    """A received unit, inspected and graded through the flow, still in hand."""
    lpn = received(session)
    flow = UnitFlow(session)
    flow.open(lpn)
    if grade in (Grade.D, Grade.X):
        flow.add_photo(b"\x89PNG evidence")
    flow.save_inspection(all_as_expected=True)
    assert flow.grade(grade).ok
    return lpn, flow


def test_an_override_needs_a_reason_and_where_the_rule_says_a_supervisors_pin(session):
    store = session.store
    lpn, flow = graded(session, Grade.D)  # every grade D rule asks for approval of an override
    suggestion = flow.suggestion()
    assert suggestion.override_needs_approval
    other = next(d for d in Disposition if d not in (suggestion.disposition, Disposition.QUARANTINE))
    assert "reason" in flow.decide(other).message
    flow.field("reason").reset("customer photo shows damage")
    assert "approval" in flow.decide(other).message
    flow.field("approver").reset("sam")
    flow.field("approver_pin").reset("0000")
    assert not flow.approve().ok
    assert flow.field("approver_pin").text == ""  # a PIN is typed for one try
    flow.field("approver_pin").reset("1357")
    assert flow.approve().ok
    assert store.unit(lpn).disposition is other


def test_an_override_no_rule_asks_approval_for_ignores_a_supervisor_left_in_the_fields(session):
    store = session.store
    lpn, flow = graded(session, Grade.A)
    assert not flow.suggestion().override_needs_approval
    other = next(d for d in Disposition if d not in (flow.suggestion().disposition, Disposition.QUARANTINE))
    flow.field("reason").reset("customer asked")
    flow.field("approver").reset("sam")
    flow.field("approver_pin").reset("0000")
    assert flow.decide(other).ok
    assert store.unit(lpn).disposition is other


def test_what_is_typed_for_one_unit_is_not_kept_for_the_next(session):
    first, flow = graded(session, Grade.A)
    flow.field("reason").reset("dented corner")
    second = received(session, 2)
    assert flow.open(second).ok
    assert flow.field("reason").text == "" and flow.answers and set(flow.answers.values()) == {None}


def test_each_last_step_is_undone_with_a_new_event(session):
    store = session.store
    lpn, flow = graded(session, Grade.A)
    assert flow.ask_undo().ok and flow.undoing  # a first tap only asks for the reason and a confirmation
    assert flow.undo().message.startswith("say why")  # a correction always says why
    flow.field("undo_reason").reset("graded the wrong unit")
    assert flow.undo().ok and flow.step is Step.GRADE  # regrade: the new grade is tapped next
    assert flow.grade(Grade.B).ok and store.unit(lpn).grade is Grade.B
    assert flow.decide(flow.suggestion().disposition).ok
    flow.field("undo_reason").reset("wrong disposition")
    assert flow.undo().ok and store.unit(lpn).state is UnitState.GRADED
    assert flow.decide(flow.suggestion().disposition).ok
    assert store.unit(lpn).state is UnitState.DISPOSITIONED
    first_bin = flow.suggested_bin()
    assert flow.scan(first_bin).ok
    assert flow.undo().ok and flow.moving  # a move waits for the bin scanned next
    other = store.db.execute("SELECT code FROM bins WHERE type = (SELECT type FROM bins WHERE code = ?) "
                             "AND code <> ? ORDER BY code LIMIT 1", (first_bin, first_bin)).fetchone()[0]
    assert flow.scan(other).ok and store.unit(lpn).bin_code == other
    voided = received(session, 3)
    flow.open(voided)
    flow.field("undo_reason").reset("received on the wrong RMA")
    assert flow.undo().ok and store.unit(voided).state is UnitState.VOIDED
    events = [e.type.value for e in store.events()]
    assert {"unit_regraded", "disposition_reopened", "receipt_voided"} <= set(events)


def test_quarantine_then_supervisor_release(session):
    store = session.store
    lpn, flow = graded(session, Grade.C)
    flow.decide(flow.suggestion().disposition)
    assert "say why" in flow.quarantine().message
    flow.field("hold_reason").reset("smells of smoke")
    assert flow.quarantine().ok
    assert "quarantine bin" in flow.prompt
    assert flow.scan("BIN-QUA-Q01").ok
    supervisor = SupervisorModel(Session(store, SUPERVISOR))
    assert [u.lpn for u in supervisor.quarantined()] == [lpn]
    assert not SupervisorModel(session).release(lpn, "ok").ok  # an associate may not release
    assert supervisor.release(lpn, "checked, fine").ok
    assert store.unit(lpn).state is not UnitState.QUARANTINED


def test_supervisor_reassigns_a_quarantine_bin_and_counts_it(store, session):
    supervisor = SupervisorModel(Session(store, SUPERVISOR))
    assert supervisor.reassign("BIN-QUA-Q01", purpose="recall hold", zone="Q", owner="sam").ok
    assert next(b for b in supervisor.bins() if b.code == "BIN-QUA-Q01").purpose == "recall hold"
    assert not supervisor.reassign("BIN-RST-R01", purpose="x", zone="R", owner="sam").ok
    lpn = received(session)
    sku = store.unit(lpn).sku
    assert supervisor.count_scan("BIN-DCK-A01").ok
    assert supervisor.count_scan(gtin_of(store, sku)).ok
    stray = supervisor.count_scan(labels.lpn(1))
    assert not stray.ok and "not an item's product barcode" in stray.message
    assert not supervisor.count_scan("BIN-DCK-A02").ok  # another bin mid-count: the tally is kept
    assert (supervisor.counting, supervisor.counted[sku]) == ("BIN-DCK-A01", 1)
    assert supervisor.expected() == {sku: 1}
    assert supervisor.finish_count().ok
    assert store.db.execute("SELECT counted, expected FROM bin_counts").fetchall() == [(1, 1)]


def test_home_counts_the_queues_and_sync_screen_works_without_an_api(session):
    received(session, 1)
    received(session, 2)
    queues = {q.state: q.count for q in home_queues(session)}
    assert queues[UnitState.RECEIVED] == 2 and queues[UnitState.INSPECTED] == 0
    sync = SyncModel(session.store, None)
    status = sync.status()
    assert status.pending == 2 and status.state == "offline" and "no central API" in status.message
    assert not sync.sync_now().ok


class _RetryingEngine:
    """An engine in the middle of an attempt after the API stopped answering."""

    status, last_outcome, requested = SyncStatus(SyncState.SYNCING), SyncState.OFFLINE, 0

    def request_sync(self) -> None:
        self.requested += 1


def test_sync_now_while_the_api_is_down_says_the_work_stays_even_during_an_attempt(session):
    engine = _RetryingEngine()
    feedback = SyncModel(session.store, engine).sync_now()
    assert engine.requested == 1 and feedback.check and "work stays on this device" in feedback.message


def test_a_photo_of_the_rma_label_is_read_like_a_scan(session):
    import zxingcpp

    from scanner import barcode_image, png_bytes

    rma_id, _, _ = receivable_lines(session.store)[0]
    model = ReceiveModel(session)
    feedback = model.submit_photo(png_bytes(barcode_image(rma_id, zxingcpp.BarcodeFormat.Code128)))
    assert feedback.ok and model.rma.rma_id == rma_id
    blank = png_bytes(barcode_image(rma_id, zxingcpp.BarcodeFormat.Code128) * 0 + 255)
    assert "no barcode" in model.submit_photo(blank).message
    assert not model.submit_photo(b"not an image").ok


def test_only_a_committed_command_counts_as_saved_work_for_the_server(session):
    rma_id, _, sku = receivable_lines(session.store)[0]
    model = ReceiveModel(session)
    opened = model.submit(rma_id)
    assert opened.ok and not opened.saved  # a scan that only looks something up sends nothing
    model.submit(gtin_of(session.store, sku))
    assert model.submit(labels.lpn(40)).saved


def test_the_supervisor_reads_what_each_exception_asks_to_check(store):
    first, second = labels.lpn(71), labels.lpn(72)

    def pulled(seq: int, kind: str, lpn: str, detail: dict, bin_code: str | None = None) -> dict:
        body = {"exception_id": f"EXC-{seq}", "kind": kind, "status": "open", "lpn": lpn, "bin_code": bin_code,
                "device_id": "hh-2", "event_id": None, "detail": {"lpn": lpn, **detail}}
        return {"seq": seq, "kind": "exception", "key": f"EXC-{seq}", "body": body}

    store.apply_pulled([
        pulled(1, "duplicate_serial", second, {"serial": "SN-7", "first_lpn": first}),
        pulled(2, "rma_not_receivable", first, {"rma_id": "RMA-26000015", "state": "closed", "serial": "SN-7",
                                                "first_lpn": second}),
        pulled(3, "bin_policy_violation", first, {"bin_code": "BIN-RST-R01", "required": "quarantine"}, "BIN-RST-R01"),
        pulled(4, "override_approval", second, {"rule_id": "grade_d_scrap", "suggested": "scrap",
                                                "chosen": "liquidate"}),
        pulled(5, "dispute", first, {"field": "grade", "standing": "A", "proposed": "C", "proposed_by": "alex",
                                     "proposed_device": "hh-2", "proposed_at": "2026-12-07T10:32:05+00:00"}),
        pulled(6, "wrong_item", second, {"rma_id": "RMA-26000015", "line_no": 2, "expected_sku": "HOM-10231",
                                         "received_sku": "APP-10001"}),
        pulled(7, "over_receipt", first, {"rma_id": "RMA-26000015", "line_no": 1, "expected": 1, "received": 2}),
        pulled(8, "not_on_rma", second, {"rma_id": "RMA-26000015", "sku": "APP-10001"}),
    ], cursor=8)
    supervisor = SupervisorModel(Session(store, SUPERVISOR))
    assert [(d.title, d.choices) for d in supervisor.exceptions()] == [
        (f"serial SN-7 received twice: {second}, first as {first}", []),
        (f"{first} received on RMA-26000015, which is closed; serial SN-7 first received as {second}", []),
        (f"{first} stored in BIN-RST-R01, which is not a quarantine bin", []),
        # The unit already holds the associate's choice: approving keeps it, refusing takes the rule's.
        (f"{second}: liquidate instead of scrap needs approval (rule grade_d_scrap)",
         [("Approve liquidate", "liquidate"), ("Refuse: scrap", "scrap")]),
        (f"grade disputed on {first}", [("Keep A", "A"), ("Take C", "C")]),
        (f"{second} received on RMA-26000015 line 2 as APP-10001; the line expects HOM-10231", []),
        (f"{first} is unit 2 on RMA-26000015 line 1, which expects 1", []),
        (f"{second} (APP-10001) came in the package of RMA-26000015 but is on none of its lines", []),
    ]
    dispute = supervisor.exceptions()[4]
    assert dispute.context == ["standing: A", "proposed: C by alex on hh-2 at 2026-12-07 10:32"]
    assert supervisor.exceptions()[0].context == ["from device hh-2"]
    assert supervisor.resolve(supervisor.exceptions()[0], None, "two phones, one box: both kept").ok
    assert len(supervisor.exceptions()) == 7
