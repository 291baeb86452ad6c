"""returnflow's domain model: pure Python and pydantic, no I/O."""

from .clock import Hlc, HybridClock, uuid7
from .codes import (
    BIN_TYPE_FOR_DISPOSITION,
    PROCESSING_BIN_TYPES,
    RECEIVABLE_RMA_STATES,
    BinType,
    Channel,
    Disposition,
    Grade,
    RmaState,
    Role,
    UnitState,
)
from .entities import (
    build,
    Actor,
    Bin,
    Category,
    ChecklistQuestion,
    ConditionCode,
    Inspection,
    Item,
    ReasonCode,
    ReturnUnit,
    Rma,
    RmaLine,
    User,
)
from .errors import (
    ApprovalRequired,
    BinTypeMismatch,
    DomainError,
    IllegalTransition,
    InvalidInput,
    OverrideReasonRequired,
    PermissionDenied,
    ReturnflowError,
    SignInFailed,
    UnknownEntity,
)
from .events import (
    EVENT_PERMISSION,
    SCHEMA_VERSION,
    BinCounted,
    BinReassigned,
    BlindReceipt,
    DispositionDecided,
    DispositionReopened,
    Event,
    EventType,
    ExceptionResolved,
    InspectionRecorded,
    Payload,
    QuarantineReleased,
    ReceiptVoided,
    RmaReceipt,
    UnitGraded,
    UnitMoved,
    UnitQuarantined,
    UnitRegraded,
    UnitStored,
)
from .gs1 import gs1_check_digit, normalize_gtin
from .roles import ROLE_PERMISSIONS, Permission, can, hash_pin, require, verify_pin
from .rules import DEFAULT_RULES, DispositionDecision, DispositionRule, decide, suggest
from .units import RESUME, TRANSITIONS, UnitEvent, advance, next_state

__all__ = [
    "BIN_TYPE_FOR_DISPOSITION", "DEFAULT_RULES", "EVENT_PERMISSION", "PROCESSING_BIN_TYPES",
    "RECEIVABLE_RMA_STATES", "RESUME", "ROLE_PERMISSIONS", "SCHEMA_VERSION", "TRANSITIONS",
    "Actor", "ApprovalRequired", "Bin", "BinCounted", "BinReassigned", "BinType", "BinTypeMismatch",
    "BlindReceipt", "Category", "Channel", "ChecklistQuestion", "ConditionCode", "Disposition",
    "DispositionDecided", "DispositionDecision", "DispositionReopened", "DispositionRule", "DomainError", "Event",
    "EventType", "ExceptionResolved", "Grade", "Hlc", "HybridClock", "IllegalTransition", "Inspection",
    "InspectionRecorded", "InvalidInput", "Item", "OverrideReasonRequired", "Payload", "Permission",
    "PermissionDenied", "QuarantineReleased", "ReasonCode", "ReceiptVoided", "ReturnUnit", "ReturnflowError",
    "Rma", "RmaLine", "RmaReceipt", "RmaState", "Role", "SignInFailed", "UnitEvent", "UnitGraded", "UnitMoved",
    "UnitQuarantined", "UnitRegraded", "UnitState", "UnitStored", "UnknownEntity", "User", "advance", "build", "can",
    "decide", "gs1_check_digit", "hash_pin", "next_state", "normalize_gtin", "require", "suggest", "uuid7",
    "verify_pin",
]
