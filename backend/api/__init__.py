"""HTTP layer: blueprints parse input with schemas, call one service, serialise the result."""

from __future__ import annotations

import importlib

from flask import Flask
from flask_smorest import Api

# Each module exposes ``blp``; order only affects the order in the OpenAPI document.
BLUEPRINT_MODULES = [
    "backend.api.auth",
    "backend.api.wechat_auth",
    "backend.api.regions",
    "backend.api.households",
    "backend.api.assignments",
    "backend.api.cards",
    "backend.api.photos",
    "backend.api.forms",
    "backend.api.visit_forms",
    "backend.api.locations",
    "backend.api.users",
    "backend.api.imports",
    "backend.api.screening",
    "backend.api.warnings",
    "backend.api.audit",
    "backend.api.visits",
    "backend.api.coverage",
    "backend.api.household_status",
    "backend.api.reports",
    "backend.api.problems",
    "backend.api.routing",
    "backend.api.notifications",
    "backend.api.review",
    "backend.api.spot_checks",
    "backend.api.exports",
]


def register_blueprints(api: Api, app: Flask) -> None:
    """Register every API blueprint and the non-API pages."""
    for name in BLUEPRINT_MODULES:
        module = importlib.import_module(name)
        api.register_blueprint(module.blp, url_prefix=f"/api/v1{module.URL_PREFIX}")
        for page_blueprint in getattr(module, "PAGE_BLUEPRINTS", []):
            app.register_blueprint(page_blueprint)
