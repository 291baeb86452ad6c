"""What the push path decides for one event: its outcome, the named rule behind it, the reason and
any exception it opens."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from domain.conflicts import ConflictRule, ExceptionKind
from sync.protocol import Outcome


@dataclass(frozen=True, slots=True)
class Judgement:
    outcome: Outcome
    rule: ConflictRule | None = None
    reason: str | None = None
    exception: tuple[ExceptionKind, dict[str, Any]] | None = None


APPLIED = Judgement(Outcome.APPLIED)
