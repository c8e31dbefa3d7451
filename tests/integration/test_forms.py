"""Survey versions through HTTP: list, current, drafts, publishing, retiring, and roles."""

from __future__ import annotations

import copy

import pytest
from sqlalchemy import select

from backend.errors import DomainError
from backend.extensions import db
from backend.models import AuditLog, FormVersion, Office
from backend.services import survey
from backend.services.forms import get_form_for_visit

NON_ADMINS = ["helper", "village_cadre", "office", "inspector"]


def _definition(title: str = "户户清走访调查表（修订）") -> dict:
    definition = survey.load_default_definition()
    definition["title"] = title
    return definition


def _seeded() -> FormVersion:
    return db.session.scalar(select(FormVersion).where(FormVersion.version == 1))


def _create(client, headers, title="2027年走访表", definition=None):
    resp = client.post(
        "/api/v1/forms",
        json={"title": title, "definition": definition or _definition()},
        headers=headers,
    )
    assert resp.status_code == 201, resp.json
    return resp.json


def _actions() -> list[str]:
    return db.session.scalars(select(AuditLog.action).order_by(AuditLog.id)).all()


def test_list_and_current_show_the_seeded_version(client, town, login):
    headers = login(town.helper)
    listed = client.get("/api/v1/forms", headers=headers)
    assert listed.status_code == 200
    assert [(f["version"], f["status"], f["status_label"]) for f in listed.json] == [
        (1, "published", "已发布")
    ]
    assert "definition" not in listed.json[0]
    current = client.get("/api/v1/forms/current", headers=headers)
    assert current.status_code == 200
    assert current.json["version"] == 1
    assert current.json["definition"]["code"] == "huhuqing_visit"
    one = client.get(f"/api/v1/forms/{current.json['id']}", headers=headers)
    assert one.status_code == 200
    assert one.json["definition"] == current.json["definition"]


def test_get_unknown_form(client, town, login):
    resp = client.get("/api/v1/forms/999999", headers=login(town.office))
    assert resp.status_code == 404
    assert resp.json["error"] == {"code": "form.not_found", "message": "问卷版本不存在。"}


def test_list_filters_by_status(client, town, login):
    headers = login(town.town_admin)
    _create(client, headers)
    drafts = client.get("/api/v1/forms?status=draft", headers=headers)
    assert [f["version"] for f in drafts.json] == [2]
    bad = client.get("/api/v1/forms?status=gone", headers=headers)
    assert bad.status_code == 422
    assert bad.json["error"]["code"] == "request.validation"
    assert bad.json["error"]["message"] == "提交的数据有误，请检查后重试。"
    assert "status" in bad.json["error"]["fields"]["query"]


def test_create_numbers_drafts_and_sets_definition_version(client, town, login):
    headers = login(town.town_admin)
    definition = _definition()
    definition["version"] = 42
    first = _create(client, headers, definition=definition)
    second = _create(client, login(town.district_user), title="第三版")
    assert (first["version"], first["status"], first["definition"]["version"]) == (2, "draft", 2)
    assert (second["version"], second["definition"]["version"]) == (3, 3)
    assert first["created_by_id"] == town.town_admin.id
    # A draft is not what the phone renders.
    assert client.get("/api/v1/forms/current", headers=headers).json["version"] == 1


def test_create_requires_title_and_definition(client, town, login):
    resp = client.post("/api/v1/forms", json={"title": ""}, headers=login(town.town_admin))
    assert resp.status_code == 422
    assert resp.json["error"]["code"] == "request.validation"
    assert resp.json["error"]["fields"] == {
        "json": {"title": ["标题应为1至128个字。"], "definition": ["必填项不能为空。"]}
    }


def test_edit_draft_then_publish_changes_current(client, town, login):
    headers = login(town.town_admin)
    draft = _create(client, headers)
    edited = _definition("户户清走访调查表（第二版）")
    edited["sections"][0]["questions"][0]["help"] = "是否常年有足够口粮。"
    resp = client.patch(
        f"/api/v1/forms/{draft['id']}",
        json={"title": "第二版", "definition": edited},
        headers=headers,
    )
    assert resp.status_code == 200, resp.json
    assert resp.json["title"] == "第二版"
    assert resp.json["definition"]["version"] == 2
    assert resp.json["definition"]["sections"][0]["questions"][0]["help"] == "是否常年有足够口粮。"

    resp = client.post(f"/api/v1/forms/{draft['id']}/publish", headers=headers)
    assert resp.status_code == 200, resp.json
    assert resp.json["status"] == "published"
    assert resp.json["published_by_id"] == town.town_admin.id
    assert resp.json["published_at"] is not None
    current = client.get("/api/v1/forms/current", headers=login(town.helper))
    assert (current.json["version"], current.json["title"]) == (2, "第二版")
    # The older version stays published: visits filled on it remain valid.
    assert _seeded().status == "published"
    row = db.session.scalar(select(AuditLog).where(AuditLog.action == "form.published"))
    assert row.target_id == str(draft["id"])
    assert row.detail == {"version": 2, "retired_versions": []}


def test_publish_with_retire_previous(client, town, login):
    headers = login(town.district_user)
    draft = _create(client, headers)
    resp = client.post(
        f"/api/v1/forms/{draft['id']}/publish", json={"retire_previous": True}, headers=headers
    )
    assert resp.status_code == 200, resp.json
    seeded = _seeded()
    db.session.refresh(seeded)
    assert seeded.status == "retired"
    assert seeded.retired_at is not None
    assert _actions()[-2:] == ["form.published", "form.retired"]
    listed = client.get("/api/v1/forms", headers=headers).json
    assert [(f["version"], f["status"]) for f in listed] == [(2, "published"), (1, "retired")]


def test_publish_invalid_definition_is_refused_with_messages(client, town, login):
    headers = login(town.town_admin)
    broken = _definition()
    broken["sections"][0]["questions"][0]["type"] = "weird"
    broken["sections"][1]["questions"][0]["check"]["offices"] = ["xyz"]
    draft = _create(client, headers, definition=broken)
    resp = client.post(f"/api/v1/forms/{draft['id']}/publish", headers=headers)
    assert resp.status_code == 422
    error = resp.json["error"]
    assert error["code"] == "form.invalid"
    assert error["message"] == "问卷定义有误，不能发布。"
    messages = error["details"]["messages"]
    assert "检查项“compulsory_schooling”：未知的责任单位编码“xyz”。" in messages
    assert any("未知的题型“weird”" in m for m in messages)
    assert db.session.get(FormVersion, draft["id"]).status == "draft"
    assert client.get("/api/v1/forms/current", headers=headers).json["version"] == 1


def test_publish_empty_definition_is_refused(client, town, login):
    headers = login(town.town_admin)
    draft = _create(client, headers, definition={"title": "空表"})
    resp = client.post(f"/api/v1/forms/{draft['id']}/publish", headers=headers)
    assert resp.status_code == 422
    assert resp.json["error"]["code"] == "form.invalid"
    assert resp.json["error"]["details"] == {"messages": ["调查表至少应有一个分组（sections）。"]}


def test_publish_accepts_offices_added_to_the_table(client, town, login):
    db.session.add(Office(code="cjb", name="镇残联"))
    headers = login(town.town_admin)
    definition = _definition()
    definition["sections"][1]["questions"][0]["check"]["offices"] = ["mzb", "cjb"]
    draft = _create(client, headers, definition=definition)
    resp = client.post(f"/api/v1/forms/{draft['id']}/publish", headers=headers)
    assert resp.status_code == 200, resp.json


def test_published_definition_is_immutable(client, town, login):
    headers = login(town.town_admin)
    seeded = _seeded()
    resp = client.patch(f"/api/v1/forms/{seeded.id}", json={"title": "改名"}, headers=headers)
    assert resp.status_code == 409
    assert resp.json["error"] == {
        "code": "form.immutable",
        "message": "问卷已发布或已停用，不能再修改；请新建一个版本。",
    }
    again = client.post(f"/api/v1/forms/{seeded.id}/publish", headers=headers)
    assert again.status_code == 409
    assert again.json["error"] == {
        "code": "form.immutable",
        "message": "只有草稿可以发布，该版本已发布或已停用。",
    }
    db.session.refresh(seeded)
    assert seeded.title == "户户清走访调查表"


def test_edit_unknown_form(client, town, login):
    resp = client.patch("/api/v1/forms/999999", json={"title": "x"}, headers=login(town.town_admin))
    assert resp.status_code == 404
    assert resp.json["error"] == {"code": "form.not_found", "message": "问卷版本不存在。"}


def test_retire_a_published_version(client, town, login):
    headers = login(town.town_admin)
    draft = _create(client, headers)
    client.post(f"/api/v1/forms/{draft['id']}/publish", headers=headers)
    seeded = _seeded()
    resp = client.post(f"/api/v1/forms/{seeded.id}/retire", headers=headers)
    assert resp.status_code == 200, resp.json
    assert resp.json["status"] == "retired"
    assert resp.json["retired_at"] is not None
    row = db.session.scalar(select(AuditLog).where(AuditLog.action == "form.retired"))
    assert row.target_id == str(seeded.id)
    assert row.detail == {"version": 1, "previous_status": "published"}
    again = client.post(f"/api/v1/forms/{seeded.id}/retire", headers=headers)
    assert again.status_code == 409
    assert again.json["error"] == {"code": "form.immutable", "message": "该版本已停用。"}
    edit = client.patch(f"/api/v1/forms/{seeded.id}", json={"title": "x"}, headers=headers)
    assert edit.status_code == 409
    assert edit.json["error"]["code"] == "form.immutable"


def test_the_last_published_version_cannot_be_retired(client, town, login):
    resp = client.post(f"/api/v1/forms/{_seeded().id}/retire", headers=login(town.town_admin))
    assert resp.status_code == 409
    assert resp.json["error"] == {
        "code": "form.last_published",
        "message": "这是唯一在用的问卷版本，请先发布新版本再停用。",
    }
    assert _seeded().status == "published"


def test_retiring_a_draft_abandons_it(client, town, login):
    headers = login(town.town_admin)
    draft = _create(client, headers)
    resp = client.post(f"/api/v1/forms/{draft['id']}/retire", headers=headers)
    assert resp.status_code == 200
    assert resp.json["status"] == "retired"
    publish = client.post(f"/api/v1/forms/{draft['id']}/publish", headers=headers)
    assert publish.status_code == 409
    assert publish.json["error"]["code"] == "form.immutable"


def test_retire_unknown_form(client, town, login):
    resp = client.post("/api/v1/forms/999999/retire", headers=login(town.town_admin))
    assert resp.status_code == 404
    assert resp.json["error"] == {"code": "form.not_found", "message": "问卷版本不存在。"}


def test_current_when_nothing_is_published(client, town, login):
    _seeded().status = "retired"
    resp = client.get("/api/v1/forms/current", headers=login(town.helper))
    assert resp.status_code == 404
    assert resp.json["error"] == {
        "code": "form.not_found",
        "message": "当前没有在用的问卷，请联系镇扶贫办发布问卷。",
    }


@pytest.mark.parametrize("role", NON_ADMINS)
def test_only_admins_change_versions(client, town, login, role):
    user = town.users_by_role()[role]
    headers = login(user)
    draft_id = _create(client, login(town.town_admin))["id"]
    forbidden = {"code": "auth.forbidden", "message": "您无权执行此操作。"}
    calls = [
        client.post("/api/v1/forms", json={"title": "x", "definition": {}}, headers=headers),
        client.patch(f"/api/v1/forms/{draft_id}", json={"title": "x"}, headers=headers),
        client.post(f"/api/v1/forms/{draft_id}/publish", headers=headers),
        client.post(f"/api/v1/forms/{draft_id}/retire", headers=headers),
    ]
    for resp in calls:
        assert resp.status_code == 403
        assert resp.json["error"] == forbidden
    # Reading is for every signed-in staff member.
    assert client.get(f"/api/v1/forms/{draft_id}", headers=headers).status_code == 200
    assert db.session.get(FormVersion, draft_id).status == "draft"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/api/v1/forms", None),
        ("get", "/api/v1/forms/current", None),
        ("get", "/api/v1/forms/1", None),
        ("post", "/api/v1/forms", {"title": "x", "definition": {}}),
        ("patch", "/api/v1/forms/1", {"title": "x"}),
        ("post", "/api/v1/forms/1/publish", None),
        ("post", "/api/v1/forms/1/retire", None),
    ],
)
def test_anonymous_is_refused(client, town, method, path, body):
    resp = getattr(client, method)(path, json=body) if body else getattr(client, method)(path)
    assert resp.status_code == 401
    assert resp.json["error"] == {"code": "auth.required", "message": "请先登录。"}


def test_get_form_for_visit(client, town, login):
    seeded = _seeded()
    assert get_form_for_visit(version=1, form_id=None).id == seeded.id
    assert get_form_for_visit(version=None, form_id=seeded.id).id == seeded.id
    assert get_form_for_visit(version=1, form_id=seeded.id).id == seeded.id
    draft_id = _create(client, login(town.town_admin))["id"]
    retired = FormVersion(
        version=7, title="旧版", definition=_definition(), status="retired", created_by_id=None
    )
    db.session.add(retired)
    db.session.flush()
    bad = [
        {"version": 99, "form_id": None},
        {"version": None, "form_id": 999999},
        {"version": 2, "form_id": None},  # a draft
        {"version": None, "form_id": draft_id},
        {"version": 7, "form_id": None},  # retired
        {"version": 2, "form_id": seeded.id},  # version and id disagree
        {"version": None, "form_id": None},
    ]
    for kwargs in bad:
        with pytest.raises(DomainError) as caught:
            get_form_for_visit(**kwargs)
        assert caught.value.code == "visit.form_version_invalid"
        assert caught.value.status == 422
        assert caught.value.message == "问卷版本不存在或已停用，请更新问卷后重新填写。"


def test_definitions_are_not_shared_between_versions(client, town, login):
    headers = login(town.town_admin)
    definition = _definition()
    original = copy.deepcopy(definition)
    draft = _create(client, headers, definition=definition)
    assert draft["definition"]["version"] == 2
    assert _seeded().definition == survey.load_default_definition()
    assert definition == original
