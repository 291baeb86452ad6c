"""Errors of the device store (a branch of the returnflow error tree)."""

from __future__ import annotations

from domain import ReturnflowError


class StoreError(ReturnflowError):
    """The device database cannot do what was asked; nothing was written."""


class SchemaTooNew(StoreError):
    def __init__(self, path: str, found: int, supported: int) -> None:
        self.found = found
        self.supported = supported
        super().__init__(
            f"{path} has schema version {found}, newer than this returnflow supports ({supported}): "
            "upgrade returnflow; the file was left untouched"
        )


class NotInitialized(StoreError):
    def __init__(self, path: str) -> None:
        super().__init__(f"{path} is not a device database yet: run `returnflow device init --db {path} --device-id ID`")
