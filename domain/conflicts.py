"""The named conflict rules of DESIGN.md and the kinds of exception they open: one vocabulary for
the server that judges events and the devices that show the outcome. Every outcome that is not a
plain "applied" names a rule, in the event's result and in the audit trail."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Outcome(StrEnum):
    """What the server did with one event, as its result says."""

    APPLIED = "applied"
    DUPLICATE = "duplicate"
    CONFLICT = "conflict"  # judged by a named rule; what the rule keeps is kept, with an exception or a dispute
    REJECTED = "rejected"


class ConflictRule(StrEnum):
    DUPLICATE_EVENT = "duplicate_event"                    # same event again: stored result, nothing applied twice
    SAME_OUTCOME_MERGED = "same_outcome_merged"            # two devices, same transition and outcome
    DIFFERENT_DECISIONS = "different_decisions_disputed"   # first stands, unit disputed, exception
    INVALID_TRANSITION = "invalid_transition"              # rejected with the reason
    BIN_REASSIGNED_OFFLINE = "bin_reassigned_offline"      # move accepted, bin policy exception
    BIN_TYPE_MISMATCH = "bin_type_mismatch"                # move accepted (physical fact), exception
    RECEIPT_ON_CLOSED_RMA = "receipt_on_closed_rma"        # receipt accepted, exception
    RECEIPT_WRONG_ITEM = "receipt_wrong_item"              # not the line's item: accepted, not counted, exception
    RECEIPT_OVER_LINE = "receipt_over_line"                # more than the line expects: applied, counted, exception
    RECEIPT_NOT_ON_RMA = "receipt_not_on_rma"              # an item of no line, in an RMA's package: applied, exception
    DUPLICATE_SERIAL = "duplicate_serial"                  # second receipt accepted, exception
    LPN_REUSED = "lpn_reused"                              # a second unit under one license plate: exception
    OVERRIDE_NEEDS_APPROVAL = "override_needs_approval"    # recorded, unit held until a supervisor approves
    ACTOR_LACKS_ROLE = "actor_lacks_role"                  # rejected, security audit entry
    WRONG_SITE = "wrong_site"                              # a bin outside the device's site: rejected, security
    UNKNOWN_REFERENCE = "unknown_reference"                # an item, unit, RMA or bin the server does not know
    CLOCK_SKEW = "clock_skew"                              # a device clock far from the server's: flagged


class ExceptionKind(StrEnum):
    DISPUTE = "dispute"
    BIN_POLICY_VIOLATION = "bin_policy_violation"
    RMA_NOT_RECEIVABLE = "rma_not_receivable"
    WRONG_ITEM = "wrong_item"
    DUPLICATE_SERIAL = "duplicate_serial"
    DUPLICATE_LPN = "duplicate_lpn"
    OVERRIDE_APPROVAL = "override_approval"
    OVER_RECEIPT = "over_receipt"
    NOT_ON_RMA = "not_on_rma"


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the server decides for one event: its outcome, the named rule behind it, the reason in
    words and the exception it opens (its kind and what a supervisor needs to know)."""

    outcome: Outcome
    rule: ConflictRule | None = None
    reason: str | None = None
    exception: tuple[ExceptionKind, dict[str, Any]] | None = None


APPLIED = Verdict(Outcome.APPLIED)
