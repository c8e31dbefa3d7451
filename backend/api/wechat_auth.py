"""Placeholder until this area lands."""

from flask_smorest import Blueprint

URL_PREFIX = "/wechat_auth"
blp = Blueprint("wechat_auth", __name__)
