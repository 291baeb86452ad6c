"""The domain's values and refusals in the words of the person at the handheld.

The domain names states, dispositions and bin types by code values ("vendor_return"), and its
errors and the scanner's say in English what went wrong. Here each value has its words, and each
refusal an associate meets often is said again from the error's fields in the person's language.
English keeps each error's own words; a refusal not worded here keeps them in every language.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

from domain import (
    BinType,
    BinTypeMismatch,
    Disposition,
    EventType,
    IllegalTransition,
    PermissionDenied,
    ReturnflowError,
    RmaState,
    Role,
    SignInFailed,
    UnitEvent,
    UnitState,
    UnknownEntity,
)
from domain.errors import PinMalformed, SignInLocked
from domain.words import N_

from ..i18n import DEFAULT_LANGUAGE, translation

UNIT_STATES = {
    UnitState.RECEIVED: N_("received"), UnitState.INSPECTED: N_("inspected"), UnitState.GRADED: N_("graded"),
    UnitState.DISPOSITIONED: N_("dispositioned"), UnitState.STORED: N_("stored"), UnitState.CLOSED: N_("closed"),
    UnitState.QUARANTINED: N_("quarantined"), UnitState.DISPUTED: N_("disputed"), UnitState.VOIDED: N_("voided"),
}
DISPOSITIONS = {
    Disposition.RESTOCK: N_("restock"), Disposition.REFURBISH: N_("refurbish"),
    Disposition.VENDOR_RETURN: N_("vendor return"), Disposition.LIQUIDATE: N_("liquidate"),
    Disposition.SCRAP: N_("scrap"), Disposition.QUARANTINE: N_("quarantine"),
}
BIN_TYPES = {
    BinType.DOCK: N_("dock"), BinType.INSPECTION: N_("inspection"), BinType.QUARANTINE: N_("quarantine"),
    BinType.RESTOCK: N_("restock"), BinType.REFURBISH: N_("refurbish"), BinType.VENDOR_RETURN: N_("vendor return"),
    BinType.LIQUIDATION: N_("liquidation"), BinType.SCRAP: N_("scrap"),
    "dock or inspection": N_("dock or inspection"),  # where a receipt goes (domain.evolve.check_receiving_bin)
}
RMA_STATES = {
    RmaState.REQUESTED: N_("requested"), RmaState.APPROVED: N_("approved"), RmaState.IN_TRANSIT: N_("in transit"),
    RmaState.RECEIVED: N_("received"), RmaState.INSPECTED: N_("inspected"), RmaState.REFUNDED: N_("refunded"),
    RmaState.REPLACED: N_("replaced"), RmaState.REJECTED: N_("rejected"), RmaState.CLOSED: N_("closed"),
}
ROLES = {Role.ASSOCIATE: N_("associate"), Role.SUPERVISOR: N_("supervisor"), Role.ADMIN: N_("admin")}
# A step of a unit's history: what happened, and what the server made of it.
EVENT_TYPES = {
    EventType.RMA_RECEIPT: N_("rma receipt"), EventType.BLIND_RECEIPT: N_("blind receipt"),
    EventType.INSPECTION: N_("inspection recorded"), EventType.GRADING: N_("unit graded"),
    EventType.DISPOSITION: N_("disposition decided"), EventType.STORE: N_("unit stored"),
    EventType.QUARANTINE: N_("unit quarantined"), EventType.QUARANTINE_RELEASE: N_("quarantine released"),
    EventType.BIN_REASSIGNMENT: N_("bin reassigned"), EventType.BIN_COUNT: N_("bin counted"),
    EventType.EXCEPTION_RESOLUTION: N_("exception resolved"), EventType.RECEIPT_VOID: N_("receipt voided"),
    EventType.REGRADE: N_("unit regraded"), EventType.DISPOSITION_REOPENING: N_("disposition reopened"),
    EventType.MOVE: N_("unit moved"),
}
SYNC_OUTCOMES = {"pending": N_("pending"), "acknowledged": N_("acknowledged"), "applied": N_("applied"),
                 "duplicate": N_("duplicate"), "conflict": N_("conflict"), "rejected": N_("rejected")}
# What a unit cannot do from its state: the verbs of IllegalTransition's events.
UNIT_EVENTS = {
    UnitEvent.INSPECT: N_("inspect the unit"), UnitEvent.GRADE: N_("grade the unit"),
    UnitEvent.DECIDE: N_("decide the unit's disposition"), UnitEvent.STORE: N_("store the unit"),
    UnitEvent.QUARANTINE: N_("put the unit on hold"), UnitEvent.RELEASE: N_("release the unit"),
    UnitEvent.DISPUTE: N_("dispute the unit"), UnitEvent.RESOLVE: N_("settle the unit's dispute"),
    UnitEvent.CLOSE: N_("close the unit"), UnitEvent.VOID: N_("void the receipt"),
    UnitEvent.REGRADE: N_("change the unit's grade"), UnitEvent.REOPEN: N_("reopen the disposition"),
    UnitEvent.MOVE: N_("move the unit"),
}
# UnknownEntity by its kind: the word's gender and order differ between languages.
_UNKNOWN = {
    "unit": N_("unknown unit: {key}"), "item": N_("unknown item: {key}"),
    "item with GTIN": N_("unknown item with GTIN: {key}"), "bin": N_("unknown bin: {key}"),
    "RMA": N_("unknown RMA: {key}"), "user": N_("unknown user: {key}"), "exception": N_("unknown exception: {key}"),
    "category": N_("unknown category: {key}"),
}


def value_words(table: dict[StrEnum | str, str], value: StrEnum | str, _: Callable[[str], str]) -> str:
    """A domain value in words: its table's, translated; a value the table lacks, as it reads."""
    return _(table.get(value, str(value).replace("_", " ")))


def refusal(error: Exception, language: str) -> str:
    """Why something was refused (a ReturnflowError or a ScanError), in `language`."""
    if language == DEFAULT_LANGUAGE:
        return str(error)
    _ = translation(language).gettext
    if isinstance(error, ReturnflowError):
        words = _domain_refusal(error, _)
    else:
        words = _scan_refusal(error, _)
    # Otherwise the error's own words: translated when they are fixed words the catalogue holds.
    return words if words is not None else _(str(error))


def _domain_refusal(error: ReturnflowError, _: Callable[[str], str]) -> str | None:
    match error:
        case SignInLocked(user_id=user_id, shown_until=until, wrong_pins=wrong_pins):
            return _("{user} is locked until {time} after {count} wrong PINs").format(
                user=user_id, time=until, count=wrong_pins)
        case PinMalformed():
            return _("a PIN is 4 to 8 digits (0-9): type digits only")
        case SignInFailed():
            return _("wrong user or PIN: try again")
        case UnknownEntity(kind=kind, key=key) if kind in _UNKNOWN:
            return _(_UNKNOWN[kind]).format(key=key)
        case IllegalTransition(lpn=lpn, state=state, event=event):
            return _("unit {lpn} is {state}: cannot {action} now").format(
                lpn=lpn, state=value_words(UNIT_STATES, state, _), action=value_words(UNIT_EVENTS, event, _))
        case BinTypeMismatch(bin_code=bin_code, bin_type=bin_type, required=required):
            return _("bin {bin} is a {type} bin: this unit needs a {required} bin").format(
                bin=bin_code, type=value_words(BIN_TYPES, bin_type, _), required=value_words(BIN_TYPES, required, _))
        case PermissionDenied(actor=actor, role=role):
            return _("{user} ({role}) may not do this: ask a supervisor").format(
                user=actor, role=value_words(ROLES, role, _))
    return None


def _scan_refusal(error: Exception, _: Callable[[str], str]) -> str | None:
    from scanner import CheckDigitError  # loaded already: a scanner's error was raised

    if isinstance(error, CheckDigitError):
        return _("check digit wrong on {code}: rescan or type the number").format(code=error.text or "")
    return None
