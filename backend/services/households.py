"""Reading the household registry, scoped by role, with personal data masked by default."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from backend.errors import DomainError
from backend.extensions import db
from backend.models import Assignment, Household, Member, Region
from backend.models.household import (
    CATEGORY_LABELS,
    MONITOR_TYPE_LABELS,
    POVERTY_STATUS_LABELS,
    HouseholdCategory,
    MonitorType,
    PovertyStatus,
)
from backend.services import pii
from backend.services.assignments import current_assignment
from backend.services.audit import record_event
from backend.services.authz import Actor, can_see_pii, household_scope, load_household_for


@dataclass
class HouseholdPage:
    """One page of households."""

    items: list[dict[str, Any]]
    total: int
    page: int
    page_size: int


@dataclass
class HouseholdDetail:
    """A household with its members, helper and the masking that was applied."""

    household: dict[str, Any]
    members: list[dict[str, Any]] = field(default_factory=list)
    helper: dict[str, Any] | None = None
    unmasked: bool = False


def _label(labels: dict, enum_cls, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return labels[enum_cls(value)]
    except ValueError:
        return value


def household_summary(household: Household, *, unmask: bool = False) -> dict[str, Any]:
    """The household fields, with its phone masked unless ``unmask``."""
    return {
        "id": household.id,
        "number": household.number,
        "head_name": household.head_name,
        "address": household.address,
        "phone": household.phone if unmask else pii.mask_phone(household.phone),
        "lat": household.lat,
        "lon": household.lon,
        "region_id": household.region_id,
        "region_name": household.region.name,
        "village_id": household.village_id,
        "village_name": household.village.name,
        "group_name": household.region.name
        if household.region_id != household.village_id
        else None,
        "category": household.category,
        "category_label": _label(CATEGORY_LABELS, HouseholdCategory, household.category),
        "poverty_status": household.poverty_status,
        "poverty_status_label": _label(
            POVERTY_STATUS_LABELS, PovertyStatus, household.poverty_status
        ),
        "monitor_type": household.monitor_type,
        "monitor_type_label": _label(MONITOR_TYPE_LABELS, MonitorType, household.monitor_type),
        "is_dibao": household.is_dibao,
        "is_tekun": household.is_tekun,
        "is_disabled": household.is_disabled,
        "is_monitored": household.is_monitored,
    }


def member_view(member: Member, *, unmask: bool) -> dict[str, Any]:
    """One member, with ID number, phones and health facts masked unless ``unmask``."""
    return {
        "id": member.id,
        "name": member.name,
        "relation": member.relation,
        "sex": member.sex,
        "birth_date": member.birth_date,
        "id_number": member.id_number if unmask else pii.mask_id_number(member.id_number),
        "schooling": member.schooling,
        "medical_insurance": member.medical_insurance,
        "serious_illness_insurance": member.serious_illness_insurance,
        "doctor_name": member.doctor_name,
        "doctor_phone": member.doctor_phone if unmask else pii.mask_phone(member.doctor_phone),
        "disability": member.disability if unmask else pii.mask_health(member.disability),
        "chronic_illness": (
            member.chronic_illness if unmask else pii.mask_health(member.chronic_illness)
        ),
        "migrant_work": member.migrant_work,
    }


def helper_view(assignment: Assignment | None) -> dict[str, Any] | None:
    """The current helper of a household: name, work phone (printed on the card) and since when."""
    if assignment is None:
        return None
    return {
        "id": assignment.helper.id,
        "display_name": assignment.helper.display_name,
        "phone": assignment.helper.phone,
        "since": assignment.start_date,
    }


def record_pii_read(
    *,
    actor: Actor,
    household: Household,
    via: str,
    fields: tuple[str, ...] = ("id_number", "phone", "health"),
) -> None:
    """Write the audit row that every read of a household's unmasked personal data requires."""
    record_event(
        actor=actor,
        action="pii.read",
        region_path=household.region_path,
        target_type="household",
        target_id=household.id,
        detail={"fields": list(fields), "via": via},
    )


def list_households(
    *,
    actor: Actor,
    region_id: int | None = None,
    category: str | None = None,
    q: str | None = None,
    page: int = 1,
    page_size: int = 50,
) -> HouseholdPage:
    """Page through the households the actor may read. Personal data is always masked."""
    if not actor.is_authenticated:
        raise DomainError("auth.required")
    query = select(Household).where(household_scope(actor))
    if region_id is not None:
        region = db.session.get(Region, region_id)
        if region is None:
            raise DomainError("region.not_found")
        query = query.where(Household.region_path.startswith(region.path, autoescape=True))
    if category:
        query = query.where(Household.category == category)
    if q:
        like = f"%{q.strip()}%"
        query = query.where(or_(Household.head_name.like(like), Household.number.like(like)))
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    rows = db.session.scalars(
        query.options(selectinload(Household.region), selectinload(Household.village))
        .order_by(Household.number)
        .offset((page - 1) * page_size)
        .limit(page_size)
    ).all()
    return HouseholdPage(
        items=[household_summary(h) for h in rows], total=total, page=page, page_size=page_size
    )


def get_household(*, actor: Actor, household_id: int, unmask: bool = False) -> HouseholdDetail:
    """One household with members. Unmasked data needs a PII role and is audited."""
    household = load_household_for(actor, household_id)
    if unmask and not can_see_pii(actor, household):
        raise DomainError("auth.forbidden", "您的角色不能查看完整的个人信息。")
    if unmask:
        record_pii_read(actor=actor, household=household, via="household")
    assignment = current_assignment(household.id)
    return HouseholdDetail(
        household=household_summary(household, unmask=unmask),
        members=[member_view(m, unmask=unmask) for m in household.members],
        helper=helper_view(assignment),
        unmasked=unmask,
    )
