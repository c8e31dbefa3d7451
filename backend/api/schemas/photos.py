"""Photo schemas."""

from __future__ import annotations

from flask_smorest.fields import Upload
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate
from werkzeug.datastructures import FileStorage

from backend.services.photos import PURPOSES


class PhotoUpload(Upload):
    """The uploaded file of a multipart body; a plain text field of that name is refused."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, FileStorage):
            raise ValidationError("应为照片文件，请以 multipart/form-data 文件字段上传。")
        return value


class PhotoCreateSchema(Schema):
    """One photo, as ``wx.uploadFile`` sends it: the file field ``file`` plus form fields."""

    class Meta:
        # The mini-program may send more form fields; only these are read.
        unknown = EXCLUDE

    file = PhotoUpload(required=True, metadata={"description": "照片文件（JPEG、PNG 或 WebP）"})
    client_uuid = fields.UUID(
        required=True, metadata={"description": "手机为这张照片生成的 UUID，重传时不变"}
    )
    purpose = fields.String(
        required=True,
        validate=validate.OneOf(PURPOSES),
        metadata={
            "description": "house 住房 | water 饮水 | with_head 与户主合影 | evidence | other"
        },
    )
    visit_client_uuid = fields.UUID(
        load_default=None, metadata={"description": "照片所属走访在手机上的 UUID"}
    )
    household_id = fields.Integer(
        load_default=None, validate=validate.Range(min=1), metadata={"description": "农户 id"}
    )


class PhotoUrlsSchema(Schema):
    """Short-lived signed links; fetch them again through GET /photos/<id> when expired."""

    original = fields.String(dump_only=True)
    display = fields.String(dump_only=True)
    thumb = fields.String(dump_only=True)


class PhotoSchema(Schema):
    """A stored photo with fresh signed links."""

    id = fields.Integer(dump_only=True)
    client_uuid = fields.String(dump_only=True)
    purpose = fields.String(dump_only=True)
    sha256 = fields.String(dump_only=True)
    phash = fields.String(dump_only=True, allow_none=True)
    mime = fields.String(dump_only=True)
    width = fields.Integer(dump_only=True)
    height = fields.Integer(dump_only=True)
    size_bytes = fields.Integer(dump_only=True)
    storage_status = fields.String(
        dump_only=True, metadata={"description": "stored | pending（暂存本机，稍后转存）"}
    )
    exif_taken_at = fields.DateTime(dump_only=True, allow_none=True)
    exif_lat = fields.Float(dump_only=True, allow_none=True)
    exif_lon = fields.Float(dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)
    urls = fields.Nested(PhotoUrlsSchema, dump_only=True)
