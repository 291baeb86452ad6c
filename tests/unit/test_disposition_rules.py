"""Each default disposition rule, the most-specific-wins order, and overrides."""

from __future__ import annotations

import pytest

from domain import (
    DEFAULT_RULES,
    Actor,
    ApprovalRequired,
    Disposition,
    DispositionRule,
    Grade,
    InvalidInput,
    OverrideReasonRequired,
    PermissionDenied,
    Role,
    decide,
    suggest,
)

D = Disposition
# (category, grade, reason, conditions) -> (rule that must win, suggested disposition), one per rule.
CASES = {
    "grade_a_restock": (("home", Grade.A, "size_fit", ()), D.RESTOCK),
    "grade_b_restock": (("toys", Grade.B, "no_longer_needed", ("opened",)), D.RESTOCK),
    "grade_c_liquidate": (("footwear", Grade.C, "size_fit", ("scratched",)), D.LIQUIDATE),
    "grade_d_scrap": (("home", Grade.D, "defective", ("not_working",)), D.SCRAP),
    "grade_x_quarantine": (("electronics", Grade.X, "wrong_item", ("empty_box",)), D.QUARANTINE),
    "electronics_b_refurbish": (("electronics", Grade.B, "no_longer_needed", ("opened",)), D.REFURBISH),
    "electronics_c_refurbish": (("electronics", Grade.C, "not_as_described", ("scratched",)), D.REFURBISH),
    "electronics_d_defective_vendor": (("electronics", Grade.D, "defective", ("not_working",)), D.VENDOR_RETURN),
    "health_opened_scrap": (("health_beauty", Grade.B, "no_longer_needed", ("opened",)), D.SCRAP),
    "health_c_scrap": (("health_beauty", Grade.C, "not_as_described", ()), D.SCRAP),
    "apparel_stained_liquidate": (("apparel", Grade.B, "size_fit", ("stained",)), D.LIQUIDATE),
    "any_transit_damage_vendor": (("toys", Grade.D, "damaged_in_transit", ("dented",)), D.VENDOR_RETURN),
}
SUPERVISOR = Actor(user_id="sam", role=Role.SUPERVISOR)
ASSOCIATE = Actor(user_id="alex", role=Role.ASSOCIATE)


def _inputs(case):
    category, grade, reason, conditions = case
    return dict(category=category, grade=grade, reason_code=reason, condition_codes=conditions)


def test_every_default_rule_has_a_case_and_unique_id():
    assert sorted(CASES) == sorted(r.rule_id for r in DEFAULT_RULES)


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule_wins_for_its_own_case(rule_id):
    inputs, disposition = CASES[rule_id]
    rule = suggest(DEFAULT_RULES, **_inputs(inputs))
    assert (rule.rule_id, rule.disposition) == (rule_id, disposition)


def test_most_specific_rule_wins_whatever_the_order():
    general = DispositionRule(rule_id="general", grade=Grade.B, disposition=D.RESTOCK)
    specific = DispositionRule(rule_id="specific", grade=Grade.B, category="toys", disposition=D.LIQUIDATE)
    inputs = dict(category="toys", grade=Grade.B, reason_code="size_fit", condition_codes=())
    assert suggest([specific, general], **inputs).rule_id == "specific"
    assert suggest([general, specific], **inputs).rule_id == "specific"


def test_equally_specific_rules_resolve_to_the_first():
    first = DispositionRule(rule_id="first", grade=Grade.B, disposition=D.RESTOCK)
    second = DispositionRule(rule_id="second", category="toys", disposition=D.SCRAP)
    inputs = dict(category="toys", grade=Grade.B, reason_code="size_fit", condition_codes=())
    assert suggest([first, second], **inputs).rule_id == "first"


def test_no_matching_rule_is_a_clear_error():
    with pytest.raises(InvalidInput, match="no disposition rule covers toys grade B"):
        suggest([DispositionRule(rule_id="only_a", grade=Grade.A, disposition=D.RESTOCK)],
                category="toys", grade=Grade.B, reason_code="size_fit", condition_codes=())


def test_accepting_the_suggestion_is_not_an_override():
    decision = decide(DEFAULT_RULES, **_inputs(CASES["grade_a_restock"][0]), chosen=D.RESTOCK)
    assert not decision.is_override
    assert (decision.rule_id, decision.override_reason, decision.approved_by) == ("grade_a_restock", None, None)


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_override_without_a_reason_is_refused(reason):
    with pytest.raises(OverrideReasonRequired, match="liquidate instead of the suggested restock"):
        decide(DEFAULT_RULES, **_inputs(CASES["grade_a_restock"][0]), chosen=D.LIQUIDATE, override_reason=reason)


def test_override_with_a_reason_needs_no_approval_where_the_rule_says_so():
    decision = decide(DEFAULT_RULES, **_inputs(CASES["grade_b_restock"][0]), chosen=D.LIQUIDATE,
                      override_reason=" box crushed ")
    assert decision.is_override
    assert (decision.disposition, decision.suggested, decision.override_reason) == (D.LIQUIDATE, D.RESTOCK, "box crushed")
    assert decision.approved_by is None


@pytest.mark.parametrize("rule_id", sorted(r.rule_id for r in DEFAULT_RULES if r.override_needs_approval))
def test_override_of_an_approval_rule_needs_a_supervisor(rule_id):
    inputs, suggested = CASES[rule_id]
    other = D.RESTOCK if suggested is not D.RESTOCK else D.SCRAP
    with pytest.raises(ApprovalRequired, match=rule_id):
        decide(DEFAULT_RULES, **_inputs(inputs), chosen=other, override_reason="customer claim")
    with pytest.raises(PermissionDenied):
        decide(DEFAULT_RULES, **_inputs(inputs), chosen=other, override_reason="customer claim", approver=ASSOCIATE)
    decision = decide(DEFAULT_RULES, **_inputs(inputs), chosen=other, override_reason="customer claim",
                      approver=SUPERVISOR)
    assert (decision.disposition, decision.approved_by) == (other, "sam")


def test_condition_rule_matches_only_with_its_condition():
    inputs = dict(category="apparel", grade=Grade.B, reason_code="size_fit")
    assert suggest(DEFAULT_RULES, **inputs, condition_codes=("stained", "opened")).rule_id == "apparel_stained_liquidate"
    assert suggest(DEFAULT_RULES, **inputs, condition_codes=("opened",)).rule_id == "grade_b_restock"
