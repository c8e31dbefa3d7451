"""Placeholder until this area lands."""

from flask_smorest import Blueprint

URL_PREFIX = "/audit"
blp = Blueprint("audit", __name__)
