"""WeChat login, binding a WeChat to a staff account, and issuing binding codes."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from backend.api.context import current_actor
from backend.api.schemas.wechat import (
    BindingCodeSchema,
    WechatBindCreateSchema,
    WechatLoginCreateSchema,
    WechatLoginSchema,
)
from backend.services import wechat_auth as wechat_auth_service
from backend.services.auth import IssuedToken

URL_PREFIX = ""
blp = Blueprint("wechat_auth", __name__, description="微信登录与绑定 / WeChat login and binding")


def _token_body(issued: IssuedToken) -> dict:
    return {
        "status": "ok",
        "token": issued.token,
        "token_type": "Bearer",
        "expires_at": issued.expires_at,
        "user": issued.user,
    }


@blp.route("/auth/wechat")
class WechatLogin(MethodView):
    @blp.arguments(WechatLoginCreateSchema)
    @blp.response(200, WechatLoginSchema)
    def post(self, args):
        """Log in with a wx.login code; an unbound WeChat gets a bind ticket."""
        result = wechat_auth_service.login_with_wechat(code=args["code"], ip=current_actor().ip)
        if result.issued is None:
            return {"status": result.status, "bind_ticket": result.bind_ticket}
        return _token_body(result.issued)


@blp.route("/auth/wechat/bind")
class WechatBind(MethodView):
    @blp.arguments(WechatBindCreateSchema)
    @blp.response(200, WechatLoginSchema)
    def post(self, args):
        """Bind this WeChat to an account with a one-time binding code, and log in."""
        issued = wechat_auth_service.bind_wechat(
            bind_ticket=args["bind_ticket"],
            binding_code=args["binding_code"],
            ip=current_actor().ip,
        )
        return _token_body(issued)


@blp.route("/users/<int:user_id>/binding-codes")
class UserBindingCodes(MethodView):
    @blp.response(201, BindingCodeSchema)
    def post(self, user_id: int):
        """Issue a one-time WeChat binding code for a user (town admin or district)."""
        issued = wechat_auth_service.issue_binding_code(actor=current_actor(), user_id=user_id)
        return {
            "code": issued.code,
            "expires_at": issued.expires_at,
            "user_id": issued.user.id,
            "display_name": issued.user.display_name,
        }
