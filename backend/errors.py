"""The one error catalogue and the one JSON error shape.

Every error the API returns looks like::

    {"error": {"code": "card.replaced", "message": "此二维码已作废…", "details": {...},
               "fields": {"json": {"field": ["…"]}}}}

``code`` is stable and machine readable; ``message`` is Chinese and shown to people.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from flask import Flask, g, jsonify
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ErrorSpec:
    """A catalogued error: its HTTP status and default Chinese message."""

    status: int
    message: str


CATALOGUE: dict[str, ErrorSpec] = {
    # Generic request errors.
    "request.validation": ErrorSpec(422, "提交的数据有误，请检查后重试。"),
    "request.bad": ErrorSpec(400, "请求格式有误。"),
    "request.not_found": ErrorSpec(404, "请求的地址不存在。"),
    "request.method_not_allowed": ErrorSpec(405, "不支持此请求方式。"),
    "request.too_large": ErrorSpec(413, "上传的内容过大。"),
    "request.unsupported_media": ErrorSpec(415, "不支持的文件类型。"),
    "request.rate_limited": ErrorSpec(429, "操作过于频繁，请稍后再试。"),
    "request.conflict": ErrorSpec(409, "数据已被他人修改，请刷新后重试。"),
    "internal.error": ErrorSpec(500, "服务器内部错误，请稍后再试。"),
    "service.unavailable": ErrorSpec(503, "服务暂时不可用，请稍后再试。"),
    # Authentication and authorisation.
    "auth.required": ErrorSpec(401, "请先登录。"),
    "auth.invalid_token": ErrorSpec(401, "登录凭证无效，请重新登录。"),
    "auth.token_expired": ErrorSpec(401, "登录已过期，请重新登录。"),
    "auth.token_revoked": ErrorSpec(401, "登录凭证已注销，请重新登录。"),
    "auth.bad_credentials": ErrorSpec(401, "用户名或密码错误。"),
    "auth.throttled": ErrorSpec(429, "登录失败次数过多，请稍后再试。"),
    "auth.user_disabled": ErrorSpec(403, "该账号已停用，请联系镇扶贫办。"),
    "auth.forbidden": ErrorSpec(403, "您无权执行此操作。"),
    "auth.bind_ticket_invalid": ErrorSpec(400, "微信绑定已超时，请重新登录。"),
    "auth.binding_code_invalid": ErrorSpec(
        400, "绑定码无效、已使用或已过期，请联系镇扶贫办重新获取。"
    ),
    "auth.already_bound": ErrorSpec(409, "该微信已绑定其他账号。"),
    # Problems (issue 4).
    "problem.not_found": ErrorSpec(404, "问题不存在或您无权查看。"),
    "problem.transition_not_allowed": ErrorSpec(409, "问题当前状态不允许此操作。"),
    "problem.role_not_allowed": ErrorSpec(403, "您的角色不能对此问题执行此操作。"),
    "problem.evidence_required": ErrorSpec(422, "整改完成须附整改照片和说明。"),
    "problem.transition_invalid": ErrorSpec(422, "操作信息不完整，请检查后重试。"),
    "problem.photo_invalid": ErrorSpec(422, "照片不存在、不是您上传的或已用于其他问题。"),
    "problem.area_unknown": ErrorSpec(422, "问题类别不存在。"),
    # Villagers' reports (issue 4).
    "report.not_found": ErrorSpec(404, "没有找到这条反映，请核对回执码。"),
    "report.content_refused": ErrorSpec(422, "反映内容未通过内容安全检查，请修改后重新提交。"),
    "report.photo_invalid": ErrorSpec(422, "照片不存在或不是用这张明白卡上传的，请重新上传照片。"),
    "report.conflict": ErrorSpec(409, "该提交编号已用于另一户的反映，请重新提交。"),
    "report.not_held": ErrorSpec(409, "这条反映不在待审核状态，不能再放行或退回。"),
    # Problems API: the routing table (issue 4).
    "routing.not_found": ErrorSpec(404, "路由规则不存在。"),
    "routing.invalid": ErrorSpec(422, "路由规则填写有误，请按提示修改。"),
    "routing.conflict": ErrorSpec(409, "该类别（检查项）已有路由规则，请直接修改原规则。"),
    # Screening imports and early warning (issue 4).
    "screening.not_found": ErrorSpec(404, "导入记录不存在或您无权查看。"),
    "warning.not_found": ErrorSpec(404, "预警不存在或您无权查看。"),
    "warning.already_decided": ErrorSpec(409, "该预警已研判，不能重复处理。"),
    "warning.monitor_type_invalid": ErrorSpec(422, "监测对象类型与该户情况不符。"),
    # Coverage and 户户清 status (issue 5).
    "period.invalid": ErrorSpec(422, "统计期间有误。"),
    "coverage.scope_invalid": ErrorSpec(422, "统计范围有误。"),
    "coverage.helper_not_found": ErrorSpec(404, "帮扶责任人不存在。"),
    # WeChat.
    "wechat.code_invalid": ErrorSpec(400, "微信登录凭证无效，请重新进入小程序。"),
    "wechat.rate_limited": ErrorSpec(429, "微信登录过于频繁，请稍后再试。"),
    "wechat.user_blocked": ErrorSpec(403, "微信判定该账号存在风险，暂不能登录。"),
    "wechat.busy": ErrorSpec(503, "微信系统繁忙，请稍后再试。"),
    "wechat.unavailable": ErrorSpec(502, "暂时无法连接微信服务，请稍后再试。"),
    "wechat.error": ErrorSpec(502, "微信服务返回错误。"),
    # Registry.
    "region.not_found": ErrorSpec(404, "地区不存在。"),
    "region.not_village": ErrorSpec(422, "请选择一个村。"),
    "household.not_found": ErrorSpec(404, "农户不存在或不在您的管辖范围内。"),
    "user.not_found": ErrorSpec(404, "用户不存在。"),
    "user.conflict": ErrorSpec(409, "用户名已存在。"),
    "role.invalid": ErrorSpec(422, "角色设置有误。"),
    "role.not_found": ErrorSpec(404, "角色不存在。"),
    "assignment.invalid": ErrorSpec(422, "帮扶关系设置有误。"),
    # Household cards.
    "card.not_found": ErrorSpec(404, "二维码无效，请核对明白卡。"),
    "card.replaced": ErrorSpec(410, "此二维码已作废，请使用新换发的明白卡。"),
    # Survey versions.
    "form.not_found": ErrorSpec(404, "问卷版本不存在。"),
    "form.invalid": ErrorSpec(422, "问卷定义有误，不能发布。"),
    "form.immutable": ErrorSpec(409, "问卷已发布或已停用，不能再修改；请新建一个版本。"),
    "form.last_published": ErrorSpec(409, "这是唯一在用的问卷版本，请先发布新版本再停用。"),
    "visit.form_version_invalid": ErrorSpec(422, "问卷版本不存在或已停用，请更新问卷后重新填写。"),
    # Household location proposals.
    "location.not_found": ErrorSpec(404, "位置建议不存在或不在您的管辖范围内。"),
    "location.already_decided": ErrorSpec(409, "该位置建议已处理，不能重复处理。"),
    # Visits.
    "visit.not_found": ErrorSpec(404, "走访记录不存在或不在您的管辖范围内。"),
    "visit.conflict": ErrorSpec(409, "该走访编号已提交过不同的内容，请勿重复使用编号。"),
    "visit.not_assigned": ErrorSpec(403, "该农户不是您的帮扶对象，不能提交走访。"),
    "visit.invalid_times": ErrorSpec(422, "走访时间有误。"),
    "visit.future_time": ErrorSpec(422, "走访时间晚于当前时间，请检查手机时间。"),
    "visit.invalid_gps": ErrorSpec(422, "定位坐标无效。"),
    "visit.invalid_answers": ErrorSpec(422, "问卷填写有误，请按提示修改。"),
    "visit.photo_invalid": ErrorSpec(422, "走访所附照片无效，请重新上传照片后再提交。"),
    "sync.too_many": ErrorSpec(422, "一次同步的走访记录过多。"),
    # Imports.
    "import.rejected": ErrorSpec(422, "导入文件有误，已整体退回，未导入任何数据。"),
    "import.unsupported_format": ErrorSpec(415, "仅支持 CSV 或 XLSX 文件。"),
    "import.too_large": ErrorSpec(413, "导入文件过大。"),
    # Photos: 413 too big, 415 not a photo we accept, 422 a photo file we refuse to keep.
    "photo.too_large": ErrorSpec(413, "照片文件过大。"),
    "photo.not_image": ErrorSpec(415, "文件不是图片，请上传 JPEG、PNG 或 WebP 格式的照片。"),
    "photo.unsupported_format": ErrorSpec(415, "不支持此图片格式，请上传 JPEG、PNG 或 WebP 照片。"),
    "photo.truncated": ErrorSpec(422, "照片文件不完整，可能是上传中断，请重新上传。"),
    "photo.corrupt": ErrorSpec(422, "照片文件已损坏，无法读取，请重新拍摄后上传。"),
    "photo.polyglot": ErrorSpec(422, "照片文件夹带了非图片数据，已拒收，请重新拍摄或导出后上传。"),
    "photo.too_many_pixels": ErrorSpec(422, "照片像素过多，请缩小后再上传。"),
    "photo.not_found": ErrorSpec(404, "照片不存在或您无权查看。"),
    "photo.conflict": ErrorSpec(409, "该照片编号已被其他用户使用，请重新拍摄后上传。"),
    # Photo storage and signed links.
    "storage.unavailable": ErrorSpec(503, "照片存储暂时不可用，请稍后再试。"),
    "storage.not_found": ErrorSpec(404, "照片不存在或已被删除。"),
    "storage.url_invalid": ErrorSpec(403, "照片链接无效。"),
    "storage.url_expired": ErrorSpec(410, "照片链接已过期，请刷新页面后重试。"),
    # Authenticity review, spot-checks and ledger exports (issue 5).
    "review.note_required": ErrorSpec(422, "判定走访无效时须填写说明。"),
    "review.locked": ErrorSpec(409, "该走访经镇纪委抽查核实不属实，只有镇纪委可以改变审核结果。"),
    "spot_check.not_found": ErrorSpec(404, "抽查记录不存在或不在您的管辖范围内。"),
    "spot_check.item_not_found": ErrorSpec(404, "抽查样本不存在。"),
    "spot_check.exists": ErrorSpec(409, "该地区本月已抽取过样本，不能重复抽取。"),
    "spot_check.empty": ErrorSpec(422, "该月没有可抽查的走访记录。"),
    "spot_check.region_invalid": ErrorSpec(422, "请选择一个镇进行抽查。"),
    "spot_check.already_decided": ErrorSpec(409, "该样本已记录核验结果，不能重复记录。"),
    "spot_check.note_required": ErrorSpec(422, "核实不属实时须填写说明。"),
    "export.unknown": ErrorSpec(404, "不支持的导出类型或格式。"),
    "export.forbidden": ErrorSpec(403, "您无权导出此范围的数据。"),
    "export.too_large": ErrorSpec(403, "导出的数据量超出您的角色上限，请缩小范围后再导出。"),
    # The web dashboard (backend/web/).
    "web.csrf_failed": ErrorSpec(400, "页面已过期或表单来源无效，请刷新页面后重试。"),
}


class DomainError(Exception):
    """A rule was broken. Services raise it; the HTTP layer renders it."""

    def __init__(
        self,
        code: str,
        message: str | None = None,
        *,
        details: dict[str, Any] | None = None,
        fields: dict[str, Any] | None = None,
    ) -> None:
        if code not in CATALOGUE:
            raise KeyError(f"error code {code!r} is not in the catalogue")
        spec = CATALOGUE[code]
        self.code = code
        self.status = spec.status
        self.message = message or spec.message
        self.details = details
        self.fields = fields
        self.keep_changes = False
        super().__init__(f"{code}: {self.message}")

    def keep(self) -> DomainError:
        """Mark this error as one whose flushed writes (e.g. audit rows) must still commit."""
        self.keep_changes = True
        return self


def error_body(
    code: str,
    message: str | None = None,
    *,
    details: dict | None = None,
    fields: dict | None = None,
) -> dict:
    """Build the JSON error document for a catalogued code."""
    err: dict[str, Any] = {"code": code, "message": message or CATALOGUE[code].message}
    if details is not None:
        err["details"] = details
    if fields is not None:
        err["fields"] = fields
    return {"error": err}


# Marshmallow's English messages, translated for the people who read them.
_EXACT_MESSAGES = {
    "Missing data for required field.": "必填项不能为空。",
    "Unknown field.": "不认识的字段。",
    "Field may not be null.": "该项不能为空。",
    "Not a valid string.": "应为文本。",
    "Not a valid integer.": "应为整数。",
    "Not a valid number.": "应为数字。",
    "Not a valid boolean.": "应为是或否。",
    "Not a valid date.": "日期格式有误，应为 YYYY-MM-DD。",
    "Not a valid datetime.": "时间格式有误，应为 ISO 8601。",
    "Not a valid list.": "应为列表。",
    "Not a valid mapping type.": "应为对象。",
    "Not a valid UUID.": "应为 UUID。",
    "Invalid input type.": "输入类型有误。",
    "Invalid value.": "取值无效。",
    "Shorter than minimum length 1.": "不能为空。",
}
_PREFIX_MESSAGES = {
    "Must be one of:": "取值应为以下之一：",
    "Length must be between": "长度不符合要求：",
    "Must be greater than or equal to": "取值过小：",
    "Must be less than or equal to": "取值过大：",
    "Longer than maximum length": "内容过长：",
    "Shorter than minimum length": "内容过短：",
    "String does not match expected pattern.": "格式不正确。",
}


def translate_message(message: str) -> str:
    """Translate a marshmallow message to Chinese; messages already in Chinese pass through."""
    if message in _EXACT_MESSAGES:
        return _EXACT_MESSAGES[message]
    for prefix, zh in _PREFIX_MESSAGES.items():
        if message.startswith(prefix):
            rest = message[len(prefix) :].strip()
            return zh + rest if rest else zh
    return message


def translate_messages(messages: Any) -> Any:
    """Translate a nested marshmallow error structure."""
    if isinstance(messages, dict):
        return {k: translate_messages(v) for k, v in messages.items()}
    if isinstance(messages, list):
        return [translate_messages(m) for m in messages]
    if isinstance(messages, str):
        return translate_message(messages)
    return messages


_HTTP_CODES = {
    400: "request.bad",
    401: "auth.required",
    403: "auth.forbidden",
    404: "request.not_found",
    405: "request.method_not_allowed",
    413: "request.too_large",
    415: "request.unsupported_media",
    422: "request.validation",
    429: "request.rate_limited",
    503: "service.unavailable",
}


def register_error_handlers(app: Flask) -> None:
    """Render every error, ours or Werkzeug's, in the one JSON shape."""

    @app.errorhandler(DomainError)
    def _domain(exc: DomainError):
        if exc.keep_changes:
            g.keep_changes = True
        return jsonify(
            error_body(exc.code, exc.message, details=exc.details, fields=exc.fields)
        ), exc.status

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        if exc.response is not None:
            # Already rendered by whoever raised it (flask-limiter's on_breach answers 429
            # villagers' pages in HTML and the API in this same JSON shape).
            return exc.response
        status = exc.code or 500
        code = _HTTP_CODES.get(status, "request.bad" if status < 500 else "internal.error")
        fields = None
        data = getattr(exc, "data", None) or {}
        if status == 422 and "messages" in data:
            fields = translate_messages(data["messages"])
        message = None
        if status == 429:
            message = CATALOGUE["request.rate_limited"].message
        response = jsonify(error_body(code, message, fields=fields))
        response.status_code = status
        for key, value in (data.get("headers") or {}).items():
            response.headers[key] = value
        valid_methods = getattr(exc, "valid_methods", None)
        if status == 405 and valid_methods:
            response.headers["Allow"] = ", ".join(valid_methods)
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error")
        return jsonify(error_body("internal.error")), 500
