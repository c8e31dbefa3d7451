"""Staff login, logout and the current user."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from backend.api.context import bearer_token, current_actor
from backend.api.schemas.auth import LoginCreateSchema, MeSchema, TokenSchema
from backend.services import auth as auth_service
from backend.services import users as users_service

URL_PREFIX = "/auth"
blp = Blueprint("auth", __name__, description="登录与账号 / Logins")


@blp.route("/login")
class Login(MethodView):
    @blp.arguments(LoginCreateSchema)
    @blp.response(200, TokenSchema)
    def post(self, args):
        """Log in with username and password."""
        issued = auth_service.login_with_password(
            username=args["username"], password=args["password"], ip=current_actor().ip
        )
        return {"token": issued.token, "expires_at": issued.expires_at, "user": issued.user}


@blp.route("/logout")
class Logout(MethodView):
    @blp.response(204)
    def post(self):
        """Revoke the bearer token of this request."""
        auth_service.revoke_token(token=bearer_token() or "")


@blp.route("/me")
class Me(MethodView):
    @blp.response(200, MeSchema)
    def get(self):
        """Show the signed-in user and their roles."""
        return users_service.get_current_user(actor=current_actor())
