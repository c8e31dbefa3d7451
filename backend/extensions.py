"""Flask extensions, created unbound and initialised in the app factory."""

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
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
# Only the villagers' public report endpoints carry limits (backend/api/reports.py): no
# default limits, so staff endpoints are never throttled by it. Storage and key prefix come
# from RATELIMIT_STORAGE_URI / RATELIMIT_KEY_PREFIX. When Redis fails, counting falls back to
# process memory and errors are logged, never turned into a failed report.
limiter = Limiter(
    key_func=get_remote_address,
    default_limits=[],
    in_memory_fallback_enabled=True,
    swallow_errors=True,
)
