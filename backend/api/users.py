"""Staff accounts and role grants (town admins and the district)."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from backend.api.context import current_actor
from backend.api.schemas.auth import GrantSchema
from backend.api.schemas.users import (
    RoleGrantCreateSchema,
    UserCreateSchema,
    UserPageSchema,
    UserQueryArgsSchema,
    UserSchema,
    UserUpdateSchema,
)
from backend.services import users as users_service

URL_PREFIX = "/users"
blp = Blueprint("users", __name__, description="账号与角色 / Users and roles")


@blp.route("")
class Users(MethodView):
    @blp.arguments(UserQueryArgsSchema, location="query")
    @blp.response(200, UserPageSchema)
    def get(self, args):
        """List staff accounts in the admin's scope."""
        users, total = users_service.list_users(actor=current_actor(), **args)
        return {
            "items": users,
            "total": total,
            "page": args["page"],
            "page_size": args["page_size"],
        }

    @blp.arguments(UserCreateSchema)
    @blp.response(201, UserSchema)
    def post(self, args):
        """Create a staff account with optional roles."""
        return users_service.create_user(actor=current_actor(), **args)


@blp.route("/<int:user_id>")
class UsersById(MethodView):
    @blp.response(200, UserSchema)
    def get(self, user_id):
        """Show one staff account."""
        return users_service.load_user_for_admin(actor=current_actor(), user_id=user_id)

    @blp.arguments(UserUpdateSchema)
    @blp.response(200, UserSchema)
    def patch(self, args, user_id):
        """Change a staff account; deactivating or a new password revokes its tokens."""
        return users_service.update_user(actor=current_actor(), user_id=user_id, **args)


@blp.route("/<int:user_id>/roles")
class UserRoles(MethodView):
    @blp.arguments(RoleGrantCreateSchema)
    @blp.response(201, GrantSchema)
    def post(self, args, user_id):
        """Grant a role over a region."""
        return users_service.grant_role(actor=current_actor(), user_id=user_id, **args)


@blp.route("/<int:user_id>/roles/<int:grant_id>")
class UserRolesById(MethodView):
    @blp.response(204)
    def delete(self, user_id, grant_id):
        """Revoke a role grant."""
        users_service.revoke_role(actor=current_actor(), user_id=user_id, grant_id=grant_id)
