"""Placeholder until this area lands."""

from flask_smorest import Blueprint

URL_PREFIX = "/regions"
blp = Blueprint("regions", __name__)
