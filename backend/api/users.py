"""Placeholder until this area lands."""

from flask_smorest import Blueprint

URL_PREFIX = "/users"
blp = Blueprint("users", __name__)
