"""Placeholder until this area lands."""

from flask_smorest import Blueprint

URL_PREFIX = "/assignments"
blp = Blueprint("assignments", __name__)
