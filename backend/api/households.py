"""Placeholder until this area lands."""

from flask_smorest import Blueprint

URL_PREFIX = "/households"
blp = Blueprint("households", __name__)
