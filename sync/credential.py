"""The device's credential for the central API: its id and the secret shown once at provisioning.

Kept in a file beside the device database that only its owner may read (mode 0600), written
atomically; the secret never appears in a repr, a log line or an error message.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from domain import ReturnflowError

from .protocol import DEVICE_HEADER, SECRET_HEADER


class CredentialError(ReturnflowError):
    """The credential file is missing, unreadable or open to other users."""


@dataclass(frozen=True)
class DeviceCredential:
    device_id: str
    secret: str = field(repr=False)

    def headers(self) -> dict[str, str]:
        return {DEVICE_HEADER: self.device_id, SECRET_HEADER: f"Bearer {self.secret}"}


def credential_path(db_path: str | Path) -> Path:
    db_path = Path(db_path)
    return db_path.with_name(db_path.name + ".credential")


def save_credential(path: Path, credential: DeviceCredential) -> None:
    """Write the file with mode 0600 from its first byte, then move it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # the umask cannot widen it, and an old file's mode is replaced
        os.write(fd, json.dumps({"device_id": credential.device_id, "secret": credential.secret}).encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)


def load_credential(path: Path) -> DeviceCredential:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise CredentialError(f"no device credential at {path}: run `returnflow device connect` with the secret "
                              "the central API gave when the device was provisioned") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise CredentialError(f"{path} can be read by other users: run `chmod 600 {path}` (or connect again)")
    try:
        body = json.loads(path.read_text())
        return DeviceCredential(device_id=str(body["device_id"]), secret=str(body["secret"]))
    except (ValueError, KeyError, TypeError):
        raise CredentialError(f"{path} is not a device credential: connect the device again") from None
