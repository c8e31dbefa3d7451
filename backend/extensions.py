"""Flask extensions, created unbound and initialised in the app factory."""

from flask_migrate import Migrate
from flask_smorest import Api as _Api
from flask_sqlalchemy import SQLAlchemy

from backend.api.schemas.common import ErrorSchema
from backend.models.base import Base


class Api(_Api):
    """flask-smorest Api documenting our one error shape instead of its default."""

    ERROR_SCHEMA = ErrorSchema


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
api = Api()
