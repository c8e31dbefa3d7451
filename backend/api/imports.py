"""Placeholder until this area lands."""

from flask_smorest import Blueprint

URL_PREFIX = "/imports"
blp = Blueprint("imports", __name__)
