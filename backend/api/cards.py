"""Placeholder until this area lands."""

from flask_smorest import Blueprint

URL_PREFIX = "/cards"
blp = Blueprint("cards", __name__)
