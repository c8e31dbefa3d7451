"""Villagers' report schemas: the public ones (no personal data) and the staff ones."""

from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, validate

from backend.api.schemas.common import PageQueryArgsSchema
from backend.api.schemas.photos import PhotoUpload
from backend.models import ReportModeration

MODERATIONS = (
    ReportModeration.PASS,
    ReportModeration.REVIEW,
    ReportModeration.RELEASED,
    ReportModeration.DISCARDED,
)


class ReportAreaSchema(Schema):
    """One area a villager may pick."""

    area = fields.String(dump_only=True, metadata={"example": "water"})
    label = fields.String(dump_only=True, metadata={"example": "饮水安全"})


class ReportPhotoCreateSchema(Schema):
    """A villager's photo: the file field ``file`` plus the card token and the photo's uuid."""

    class Meta:
        unknown = EXCLUDE

    file = PhotoUpload(required=True, metadata={"description": "照片文件（JPEG、PNG 或 WebP）"})
    card_token = fields.String(
        required=True,
        validate=validate.Length(min=1, max=64),
        metadata={"description": "明白卡二维码中的令牌"},
    )
    client_uuid = fields.UUID(
        required=True, metadata={"description": "手机为这张照片生成的 UUID，重传时不变"}
    )


class ReportPhotoSchema(Schema):
    """A villager's stored photo."""

    id = fields.Integer(dump_only=True)
    client_uuid = fields.String(dump_only=True)
    thumb_url = fields.String(
        dump_only=True, allow_none=True, metadata={"description": "缩略图短时链接；暂存中为空"}
    )


class ReportCreateSchema(Schema):
    """A villager's report, sent by the mini-program (the web page posts its own form)."""

    card_token = fields.String(
        required=True,
        validate=validate.Length(min=1, max=64),
        metadata={"description": "明白卡二维码中的令牌"},
    )
    area = fields.String(
        load_default=None,
        validate=validate.Length(max=32),
        metadata={"description": "问题类别（GET /reports/areas），默认 other"},
    )
    description = fields.String(
        required=True, metadata={"description": "反映的问题（字数上限见 REPORT_MAX_TEXT_CHARS）"}
    )
    photo_ids = fields.List(
        fields.Integer(validate=validate.Range(min=1)),
        load_default=list,
        metadata={"description": "先经 POST /reports/photos 上传的照片 id"},
    )
    client_uuid = fields.UUID(
        load_default=None, metadata={"description": "手机生成的提交编号；重发时不变，不会重复提交"}
    )
    wechat_code = fields.String(
        load_default=None,
        validate=validate.Length(min=1, max=128),
        metadata={"description": "可选：wx.login 的 code，用于办理进度的订阅消息"},
    )
    contact_ok = fields.Boolean(
        load_default=None, metadata={"description": "可选：是否愿意村里联系了解情况"}
    )


class ReportCreatedSchema(Schema):
    """The receipt a villager gets on submitting."""

    receipt_code = fields.String(dump_only=True, metadata={"example": "K7M2QH9XRT"})
    status = fields.String(
        dump_only=True, metadata={"description": "问题状态，或 held / discarded"}
    )
    status_label = fields.String(dump_only=True)
    area = fields.String(dump_only=True)
    area_label = fields.String(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    linked = fields.Boolean(
        dump_only=True, metadata={"description": "已并入本户同类问题，未另立问题"}
    )
    moderation = fields.String(dump_only=True, metadata={"description": "pass | review（待审核）"})


class ReceiptEntrySchema(Schema):
    """One step of a report's progress."""

    label = fields.String(dump_only=True)
    at = fields.DateTime(dump_only=True)


class ReceiptSchema(Schema):
    """A report's progress by receipt code: no name, number, place, phone or person."""

    receipt_code = fields.String(dump_only=True)
    status = fields.String(dump_only=True)
    status_label = fields.String(dump_only=True)
    area_label = fields.String(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)
    timeline = fields.List(fields.Nested(ReceiptEntrySchema), dump_only=True)


class ReportQueryArgsSchema(PageQueryArgsSchema):
    """Filters of the staff list of villagers' reports."""

    moderation = fields.String(
        load_default=None,
        validate=validate.OneOf(MODERATIONS),
        metadata={"description": "pass | review（待审核） | released | discarded"},
    )
    household_id = fields.Integer(load_default=None, validate=validate.Range(min=1))


class ReportVillageSchema(Schema):
    """The village of a report's household."""

    id = fields.Integer(dump_only=True)
    name = fields.String(dump_only=True)


class ReportPhotoRefSchema(Schema):
    """A photo of a report, by its thumbnail."""

    id = fields.Integer(dump_only=True)
    thumb_url = fields.String(dump_only=True, allow_none=True)


class ReportSchema(Schema):
    """A villager's report as staff see it."""

    id = fields.Integer(dump_only=True)
    receipt_code = fields.String(dump_only=True)
    household_id = fields.Integer(dump_only=True)
    household_number = fields.String(dump_only=True)
    village = fields.Nested(ReportVillageSchema, dump_only=True)
    area = fields.String(dump_only=True)
    area_label = fields.String(dump_only=True)
    description = fields.String(dump_only=True)
    photos = fields.List(fields.Nested(ReportPhotoRefSchema), dump_only=True)
    channel = fields.String(dump_only=True, metadata={"description": "miniprogram | web"})
    from_wechat = fields.Boolean(dump_only=True, metadata={"description": "反映人已微信登录"})
    moderation = fields.String(dump_only=True)
    moderation_label = fields.String(dump_only=True)
    moderation_reason = fields.String(dump_only=True)
    moderation_source = fields.String(dump_only=True, allow_none=True)
    status = fields.String(dump_only=True)
    status_label = fields.String(dump_only=True)
    problem_id = fields.Integer(dump_only=True, allow_none=True)
    linked = fields.Boolean(dump_only=True)
    created_at = fields.DateTime(dump_only=True)


class ReportDecisionSchema(Schema):
    """A town admin's decision on a held report."""

    note = fields.String(
        load_default="",
        validate=validate.Length(max=500),
        metadata={"description": "说明；退回时必填"},
    )
