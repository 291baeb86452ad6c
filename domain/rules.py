"""Disposition rules as data: (category, grade, reason, condition) -> suggested disposition.

A rule field left as None matches anything. The most specific matching rule wins (most fields
set); among equally specific rules the earlier one wins. Choosing another disposition than the
suggested one is an override: it needs a reason, and a supervisor's approval where the rule says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from .codes import Disposition, Grade
from .entities import Actor, Code, Model
from .errors import ApprovalRequired, InvalidInput, OverrideReasonRequired
from .roles import Permission, require


class DispositionRule(Model):
    rule_id: Code
    category: Code | None = None
    grade: Grade | None = None
    reason_code: Code | None = None
    condition_code: Code | None = None
    disposition: Disposition
    override_needs_approval: bool = False

    def matches(self, *, category: str, grade: Grade, reason_code: str, condition_codes: Iterable[str]) -> bool:
        return (
            (self.category is None or self.category == category)
            and (self.grade is None or self.grade is grade)
            and (self.reason_code is None or self.reason_code == reason_code)
            and (self.condition_code is None or self.condition_code in set(condition_codes))
        )

    @property
    def specificity(self) -> int:
        return sum(f is not None for f in (self.category, self.grade, self.reason_code, self.condition_code))


class DispositionDecision(Model):
    disposition: Disposition
    suggested: Disposition
    rule_id: Code
    override_reason: str | None = None
    approved_by: str | None = None

    @property
    def is_override(self) -> bool:
        return self.disposition is not self.suggested


def suggest(
    rules: Sequence[DispositionRule], *, category: str, grade: Grade, reason_code: str, condition_codes: Iterable[str]
) -> DispositionRule:
    """The rule that decides the suggested disposition for a unit."""
    conditions = tuple(condition_codes)
    best: DispositionRule | None = None
    for rule in rules:
        if rule.matches(category=category, grade=grade, reason_code=reason_code, condition_codes=conditions):
            if best is None or rule.specificity > best.specificity:
                best = rule
    if best is None:
        raise InvalidInput(f"no disposition rule covers {category} grade {grade.value}; ask a supervisor")
    return best


def decide(
    rules: Sequence[DispositionRule],
    *,
    category: str,
    grade: Grade,
    reason_code: str,
    condition_codes: Iterable[str],
    chosen: Disposition,
    override_reason: str | None = None,
    approver: Actor | None = None,
) -> DispositionDecision:
    """Check a chosen disposition against the rules; an override needs a reason and maybe approval."""
    rule = suggest(rules, category=category, grade=grade, reason_code=reason_code, condition_codes=condition_codes)
    if chosen is rule.disposition:
        return DispositionDecision(disposition=chosen, suggested=rule.disposition, rule_id=rule.rule_id)
    reason = (override_reason or "").strip()
    if not reason:
        raise OverrideReasonRequired(
            f"{chosen.value} instead of the suggested {rule.disposition.value}: say why (override reason)"
        )
    if rule.override_needs_approval:
        if approver is None:
            raise ApprovalRequired(
                f"{chosen.value} instead of {rule.disposition.value} needs a supervisor's approval (rule {rule.rule_id})"
            )
        require(approver, Permission.APPROVE_OVERRIDE)
    return DispositionDecision(
        disposition=chosen,
        suggested=rule.disposition,
        rule_id=rule.rule_id,
        override_reason=reason,
        approved_by=approver.user_id if approver and rule.override_needs_approval else None,
    )


def _rule(rule_id: str, disposition: Disposition, *, approval: bool = False, **match: object) -> DispositionRule:
    return DispositionRule(rule_id=rule_id, disposition=disposition, override_needs_approval=approval, **match)


D = Disposition
# The rules a new site starts with; the ERP owns and distributes the live set.
DEFAULT_RULES: tuple[DispositionRule, ...] = (
    _rule("grade_a_restock", D.RESTOCK, grade=Grade.A),
    _rule("grade_b_restock", D.RESTOCK, grade=Grade.B),
    _rule("grade_c_liquidate", D.LIQUIDATE, grade=Grade.C),
    _rule("grade_d_scrap", D.SCRAP, grade=Grade.D, approval=True),
    _rule("grade_x_quarantine", D.QUARANTINE, grade=Grade.X, approval=True),
    _rule("electronics_b_refurbish", D.REFURBISH, category="electronics", grade=Grade.B),
    _rule("electronics_c_refurbish", D.REFURBISH, category="electronics", grade=Grade.C),
    _rule("electronics_d_defective_vendor", D.VENDOR_RETURN, category="electronics", grade=Grade.D,
          reason_code="defective", approval=True),
    _rule("health_opened_scrap", D.SCRAP, category="health_beauty", grade=Grade.B, approval=True),
    _rule("health_c_scrap", D.SCRAP, category="health_beauty", grade=Grade.C, approval=True),
    _rule("apparel_stained_liquidate", D.LIQUIDATE, category="apparel", condition_code="stained"),
    _rule("any_transit_damage_vendor", D.VENDOR_RETURN, grade=Grade.D, reason_code="damaged_in_transit",
          approval=True),
)
