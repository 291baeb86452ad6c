"""When a unit needs photos: the evidence a supervisor, the ERP or a vendor will ask for later."""

from __future__ import annotations

from collections.abc import Iterable

from .codes import Grade

# Grades that take money or goods away from someone: the photo is what a dispute is settled on.
GRADES_NEEDING_PHOTOS = frozenset({Grade.D, Grade.X})
# Conditions that describe damage or a wrong or missing item, not the normal state of a return.
CONDITIONS_NEEDING_PHOTOS = frozenset({"missing_parts", "scratched", "dented", "stained", "not_working",
                                       "water_damage", "empty_box", "wrong_item"})


def photo_required(*, condition_codes: Iterable[str] = (), grade: Grade | None = None) -> Grade | str | None:
    """What makes this unit need at least one photo: its grade, or else its first condition code that
    describes damage; None when it needs none."""
    if grade in GRADES_NEEDING_PHOTOS:
        return grade
    damaged = sorted(set(condition_codes) & CONDITIONS_NEEDING_PHOTOS)
    return damaged[0] if damaged else None
