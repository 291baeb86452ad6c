"""The returnflow error tree.

ReturnflowError
├── DomainError                a request the business rules refuse
│   ├── InvalidInput           a value is malformed (bad GTIN, empty reason, unknown code)
│   ├── UnknownEntity          an item, bin, RMA, unit or user that does not exist
│   ├── Conflict               what is stored forbids it: an id already taken, a record in use
│   ├── IllegalTransition      a unit cannot make this move from its state
│   ├── PermissionDenied       the actor's role may not do this
│   ├── SignInFailed           wrong user or PIN (the same words for both)
│   │   ├── PinMalformed       not 4 to 8 digits: not counted as a try
│   │   └── SignInLocked       too many wrong PINs: refused until a given time
│   ├── OverrideReasonRequired choosing another disposition than suggested needs a reason
│   ├── ApprovalRequired       the override needs a supervisor's approval
│   └── BinTypeMismatch        the bin's type does not fit the unit's disposition
Other packages add their own branches (store errors in local_db, sync errors in sync).
Every message is written for the person holding the scanner.
"""

from __future__ import annotations

import datetime as dt


class ReturnflowError(Exception):
    """Base of every error returnflow raises on purpose."""


class DomainError(ReturnflowError):
    """A request the business rules refuse. Nothing was changed."""


class InvalidInput(DomainError, ValueError):
    """Also a ValueError, so pydantic validators can raise it and report it as a field error."""


class UnknownEntity(DomainError):
    def __init__(self, kind: str, key: str) -> None:
        self.kind = kind
        self.key = key
        super().__init__(f"unknown {kind}: {key}")


class Conflict(DomainError):
    """The request is well formed, but what is stored forbids it (an id already taken, a record
    other records use); asked again later, it may succeed."""


class IllegalTransition(DomainError):
    def __init__(self, lpn: str, state: str, event: str, why: str) -> None:
        self.lpn = lpn
        self.state = state
        self.event = event
        self.why = why
        super().__init__(f"unit {lpn} is {state}: cannot {event} ({why})")


class PermissionDenied(DomainError):
    def __init__(self, actor: str, role: str, permission: str) -> None:
        self.actor = actor
        self.role = role
        self.permission = permission
        super().__init__(f"{actor} ({role}) is not allowed to {permission.replace('_', ' ')}")


class SignInFailed(DomainError):
    """The same words for an unknown user and a wrong PIN: a guess learns nothing."""

    def __init__(self) -> None:
        super().__init__("wrong user or PIN: try again")


class PinMalformed(SignInFailed):
    """Not a PIN at all (PINs are 4 to 8 digits): refused before any check, and not counted as a try."""

    def __init__(self) -> None:
        DomainError.__init__(self, "a PIN is 4 to 8 digits (0-9): type digits only")


class SignInLocked(SignInFailed):
    """Too many wrong PINs in a row: the person is refused, even with the right PIN, until `until`.
    An unknown user id is locked the same way, so the words never tell who exists."""

    def __init__(self, user_id: str, until: dt.datetime, wrong_pins: int) -> None:
        self.user_id = user_id
        self.until = until
        self.wrong_pins = wrong_pins
        # The device's local time, rounded up to the minute: "until 14:05" is never too early.
        shown = until.astimezone()
        if shown.second or shown.microsecond:
            shown = shown.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
        self.shown_until = f"{shown:%H:%M}"
        DomainError.__init__(self, f"{user_id} is locked until {self.shown_until} after {wrong_pins} wrong PINs")


class OverrideReasonRequired(DomainError):
    pass


class ApprovalRequired(DomainError):
    pass


class BinTypeMismatch(DomainError):
    def __init__(self, bin_code: str, bin_type: str, required: str, why: str) -> None:
        self.bin_code = bin_code
        self.bin_type = bin_type
        self.required = required
        super().__init__(f"bin {bin_code} is a {bin_type} bin: {why} needs a {required} bin")
