"""The API's JSON provider writes what Flask's own would, as UTF-8 bytes, keys sorted."""

from __future__ import annotations

import dataclasses
import decimal
import json
import uuid
from datetime import UTC, datetime

import pytest
from flask import Flask
from flask.json.provider import DefaultJSONProvider

from backend import jsonfast


@dataclasses.dataclass
class Point:
    lat: float
    lon: float


VALUE = {
    "z": "户户清",
    "a": [1, 2.5, None, True],
    "when": datetime(2026, 11, 29, 8, 30, tzinfo=UTC),
    "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "money": decimal.Decimal("12.50"),
    "point": Point(1.5, 2.0),
    "checks": jsonfast.Fragment(b'[{"b":1,"a":2}]'),
}


def _app(provider: type, *, debug: bool = False) -> Flask:
    app = Flask(__name__)
    app.json = provider(app)
    app.debug = debug
    return app


@pytest.mark.parametrize("debug", [False, True])
def test_responses_match_the_default_provider(debug):
    ours, flasks = (
        _app(jsonfast.OrjsonProvider, debug=debug),
        _app(DefaultJSONProvider, debug=debug),
    )
    plain = {k: v for k, v in VALUE.items() if k != "checks"}
    with ours.app_context():
        response = ours.json.response(VALUE)
    with flasks.app_context():
        expected = flasks.json.response(plain)
    body = response.get_data()
    assert response.mimetype == "application/json"
    assert body.endswith(b"\n") and "户户清".encode() in body
    parsed = json.loads(body)
    assert parsed.pop("checks") == [{"b": 1, "a": 2}]  # embedded as it was written
    assert parsed == json.loads(expected.get_data())
    assert list(parsed) == sorted(parsed)
    # Debug mode indents, as Flask does; otherwise compact.
    assert (b'\n  "' in body) is debug
    assert (b'":' in body and b'": ' not in body) is not debug


def test_dumps_falls_back_to_the_standard_library_for_other_options():
    app = _app(jsonfast.OrjsonProvider)
    with app.app_context():
        assert app.json.dumps({"b": 1, "a": "清"}) == '{"a":"清","b":1}'
        assert app.json.dumps({"a": "清"}, ensure_ascii=True) == '{"a": "\\u6e05"}'


def test_json_params_are_bytes_for_postgresql_and_text_for_sqlite():
    rows = [{"id": 1, "text": "清"}]
    pg = jsonfast.json_param(rows, dialect="postgresql")
    assert pg.dumps(pg.obj) == '[{"id":1,"text":"清"}]'.encode()
    already = jsonfast.json_param(b"[1]", dialect="postgresql")
    assert already.dumps(already.obj) == b"[1]"
    assert jsonfast.json_param(rows, dialect="sqlite") == '[{"id":1,"text":"清"}]'
    assert jsonfast.json_param(b"[1]", dialect="sqlite") == "[1]"
