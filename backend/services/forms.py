"""Survey versions (走访表): drafts, publishing, retiring, and the version a visit is filled on.

Lifecycle: ``draft`` (editable) → ``published`` (immutable; visits may use it) → ``retired``
(no new visits). A draft may also be retired to abandon it. Publishing a version does not retire
older ones unless asked: visits made on an older published version stay valid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import IntegrityError

from backend.errors import DomainError
from backend.extensions import db
from backend.models import FormStatus, FormVersion, Office, Role, utcnow
from backend.services import survey
from backend.services.audit import record_event
from backend.services.authz import ADMIN_ROLES, Actor, require_role
from backend.services.survey.checks import FormPlan, compile_form
from backend.services.survey.common import iter_questions

STATUS_LABELS = {
    FormStatus.DRAFT: "草稿",
    FormStatus.PUBLISHED: "已发布",
    FormStatus.RETIRED: "已停用",
}
# Who may create, edit, publish and retire versions: the town office and the district.
FORM_ADMIN_ROLES = ADMIN_ROLES
_CREATE_ATTEMPTS = 3
# Per-app cache of published definitions (see ``published_form_for_visit``).
_CACHE_KEY = "hhq.published_forms"
_CACHE_MAX = 32


def list_forms(*, actor: Actor, status: str | None = None) -> list[FormVersion]:
    """All survey versions, newest first (any signed-in staff)."""
    require_role(actor, set(Role))
    query = select(FormVersion)
    if status:
        query = query.where(FormVersion.status == status)
    return list(db.session.scalars(query.order_by(FormVersion.version.desc())))


def get_form(*, actor: Actor, form_id: int) -> FormVersion:
    """One survey version with its definition (any signed-in staff)."""
    require_role(actor, set(Role))
    return _load(form_id)


def current_form(*, actor: Actor) -> FormVersion:
    """The latest published version: the one the phone renders for a new visit."""
    require_role(actor, set(Role))
    return require_current_form()


def latest_published_form() -> FormVersion | None:
    """The published version with the highest version number, if any."""
    return db.session.scalar(
        select(FormVersion)
        .where(FormVersion.status == FormStatus.PUBLISHED)
        .order_by(FormVersion.version.desc())
        .limit(1)
    )


def require_current_form() -> FormVersion:
    """The latest published version, or 404 ``form.not_found`` when none is in use."""
    form = latest_published_form()
    if form is None:
        raise DomainError("form.not_found", "当前没有在用的问卷，请联系镇扶贫办发布问卷。")
    return form


def create_form(*, actor: Actor, title: str, definition: dict[str, Any]) -> FormVersion:
    """A new draft numbered one above the highest version; its definition takes that number."""
    require_role(actor, FORM_ADMIN_ROLES)
    for _ in range(_CREATE_ATTEMPTS):
        number = (db.session.scalar(select(func.max(FormVersion.version))) or 0) + 1
        # Two admins may create a draft at the same moment: the unique version number refuses
        # the second insert, and it takes the next number.
        try:
            with db.session.begin_nested():
                form = FormVersion(
                    version=number,
                    title=title,
                    definition=_numbered(definition, number),
                    status=FormStatus.DRAFT,
                    created_by_id=actor.user_id,
                )
                db.session.add(form)
            return form
        except IntegrityError:
            continue
    raise DomainError("request.conflict")


def update_form(
    *,
    actor: Actor,
    form_id: int,
    title: str | None = None,
    definition: dict[str, Any] | None = None,
) -> FormVersion:
    """Edit a draft's title or definition; published and retired versions are immutable."""
    require_role(actor, FORM_ADMIN_ROLES)
    form = _load(form_id, lock=True)
    if form.status != FormStatus.DRAFT:
        raise DomainError("form.immutable")
    if title is not None:
        form.title = title
    if definition is not None:
        form.definition = _numbered(definition, form.version)
    db.session.flush()
    return form


def publish_form(*, actor: Actor, form_id: int, retire_previous: bool = False) -> FormVersion:
    """Validate a draft against the offices table and publish it; optionally retire the others."""
    require_role(actor, FORM_ADMIN_ROLES)
    form = _load(form_id, lock=True)
    if form.status != FormStatus.DRAFT:
        raise DomainError("form.immutable", "只有草稿可以发布，该版本已发布或已停用。")
    office_codes = db.session.scalars(select(Office.code)).all()
    definition = _numbered(form.definition, form.version)
    errors = survey.validate_definition(definition, office_codes=office_codes)
    if errors:
        raise DomainError("form.invalid", details={"messages": errors})
    now = utcnow()
    form.definition = definition
    form.status = FormStatus.PUBLISHED
    form.published_at = now
    form.published_by_id = actor.user_id
    others: list[FormVersion] = []
    if retire_previous:
        others = list(
            db.session.scalars(
                select(FormVersion)
                .where(FormVersion.status == FormStatus.PUBLISHED, FormVersion.id != form.id)
                .order_by(FormVersion.version)
                .with_for_update()
            )
        )
        for other in others:
            other.status = FormStatus.RETIRED
            other.retired_at = now
    db.session.flush()
    record_event(
        actor=actor,
        action="form.published",
        target_type="form_version",
        target_id=form.id,
        detail={"version": form.version, "retired_versions": [o.version for o in others]},
    )
    for other in others:
        record_event(
            actor=actor,
            action="form.retired",
            target_type="form_version",
            target_id=other.id,
            detail={"version": other.version, "replaced_by_version": form.version},
        )
    return form


def retire_form(*, actor: Actor, form_id: int) -> FormVersion:
    """Stop new visits on a version (or abandon a draft); the last published one must stay."""
    require_role(actor, FORM_ADMIN_ROLES)
    form = _load(form_id, lock=True)
    if form.status == FormStatus.RETIRED:
        raise DomainError("form.immutable", "该版本已停用。")
    if form.status == FormStatus.PUBLISHED:
        # Lock every published row so that two admins cannot retire the last two at once.
        published = db.session.scalars(
            select(FormVersion.id)
            .where(FormVersion.status == FormStatus.PUBLISHED)
            .with_for_update()
        ).all()
        if set(published) <= {form.id}:
            raise DomainError("form.last_published")
    previous_status = form.status
    form.status = FormStatus.RETIRED
    form.retired_at = utcnow()
    db.session.flush()
    record_event(
        actor=actor,
        action="form.retired",
        target_type="form_version",
        target_id=form.id,
        detail={"version": form.version, "previous_status": previous_status},
    )
    return form


def get_form_for_visit(*, version: int | None = None, form_id: int | None = None) -> FormVersion:
    """The published version a visit was filled on; 422 for unknown, draft or retired ones."""
    form = None
    if form_id is not None:
        form = db.session.get(FormVersion, form_id)
        if form is not None and version is not None and form.version != version:
            form = None
    elif version is not None:
        form = db.session.scalar(select(FormVersion).where(FormVersion.version == version))
    if form is None or form.status != FormStatus.PUBLISHED:
        raise DomainError(
            "visit.form_version_invalid",
            details={"version": version, "form_id": form_id},
        )
    return form


# Built once: this runs for every submitted visit.
_PUBLISHED_QUERY = select(FormVersion.id, FormVersion.status, FormVersion.published_at).where(
    FormVersion.version == bindparam("version")
)


@dataclass(frozen=True)
class PublishedForm:
    """A published survey version as visit ingest uses it. Shared: never mutate ``definition``."""

    id: int
    version: int
    definition: dict[str, Any]
    # Keys of the photo-slot questions, whose answers name the visit's photos.
    photo_keys: tuple[str, ...]
    # The definition's questions and checks, compiled once (survey.compile_form).
    plan: FormPlan


def published_form_for_visit(*, version: int) -> PublishedForm:
    """The published version a new visit is filled on; 422 for unknown, draft or retired ones.

    Like ``get_form_for_visit``, but the definition (tens of KB of JSON) is decoded once per
    process: a published version's definition never changes (only drafts are editable), so it
    is cached per app under (id, published_at). The status is still read on every call, since
    retiring a version must refuse new visits at once.
    """
    row = db.session.execute(_PUBLISHED_QUERY, {"version": version}).first()
    if row is None or row.status != FormStatus.PUBLISHED:
        raise DomainError(
            "visit.form_version_invalid", details={"version": version, "form_id": None}
        )
    cache: dict[tuple, PublishedForm] = current_app.extensions.setdefault(_CACHE_KEY, {})
    # A row published outside publish_form may lack published_at; its id alone could name
    # another row later (SQLite reuses the ids of rolled-back rows), so it is not cached.
    key = (row.id, row.published_at) if row.published_at is not None else None
    form = cache.get(key) if key else None
    if form is None:
        definition = db.session.scalar(
            select(FormVersion.definition).where(FormVersion.id == row.id)
        )
        form = PublishedForm(
            id=row.id,
            version=version,
            definition=definition,
            photo_keys=tuple(
                q["key"] for _, q in iter_questions(definition) if q.get("type") == "photo"
            ),
            plan=compile_form(definition),
        )
        if key:
            if len(cache) >= _CACHE_MAX:
                cache.clear()
            cache[key] = form
    return form


def _load(form_id: int, *, lock: bool = False) -> FormVersion:
    query = select(FormVersion).where(FormVersion.id == form_id)
    if lock:
        query = query.with_for_update()
    form = db.session.scalar(query)
    if form is None:
        raise DomainError("form.not_found")
    return form


def _numbered(definition: Any, number: int) -> Any:
    # A fresh dict: the JSON column only notices a new value, never an in-place change.
    if not isinstance(definition, dict):
        return definition
    return {**definition, "version": number}
