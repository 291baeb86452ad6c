"""The returnflow error tree.

ReturnflowError
├── DomainError                a request the business rules refuse
│   ├── InvalidInput           a value is malformed (bad GTIN, empty reason, unknown code)
│   ├── UnknownEntity          an item, bin, RMA, unit or user that does not exist
│   ├── IllegalTransition      a unit cannot make this move from its state
│   ├── PermissionDenied       the actor's role may not do this
│   ├── OverrideReasonRequired choosing another disposition than suggested needs a reason
│   ├── ApprovalRequired       the override needs a supervisor's approval
│   └── BinTypeMismatch        the bin's type does not fit the unit's disposition
Other packages add their own branches (store errors in local_db, sync errors in sync).
Every message is written for the person holding the scanner.
"""

from __future__ import annotations


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
