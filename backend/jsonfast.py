"""Fast JSON (orjson) for the database's JSON columns and the API's responses.

Visit ingest serialises a visit's answers, its ~25 check rows with their evidence and the
answer body: with the standard library that was a tenth of a submission's CPU. orjson writes
the same JSON (UTF-8, keys in insertion order, or sorted where asked) several times faster.
"""

from __future__ import annotations

import dataclasses
import decimal
import uuid
from datetime import date
from typing import Any

import orjson
from flask import Response
from flask.json.provider import DefaultJSONProvider
from psycopg.types.json import Json as PgJson

_OPTIONS = orjson.OPT_NON_STR_KEYS


def _default(value: Any) -> Any:
    # What orjson leaves to the caller and the standard provider knew (Flask's
    # DefaultJSONProvider: decimals as strings, objects with __html__).
    if isinstance(value, decimal.Decimal):
        return str(value)
    if hasattr(value, "__html__"):
        return str(value.__html__())
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def dumps(value: Any) -> str:
    """``json.dumps`` for storage: compact UTF-8 text, keys in insertion order."""
    return orjson.dumps(value, default=_default, option=_OPTIONS).decode("utf-8")


def dumps_sorted(value: Any) -> bytes:
    """Compact UTF-8 JSON bytes with keys sorted at every level, as the API's answers are."""
    return orjson.dumps(value, default=_default, option=_OPTIONS | orjson.OPT_SORT_KEYS)


# Already serialised JSON, embedded as it is by ``dumps`` and by the API's JSON provider: what
# was written to the database once need not be encoded again for the answer.
Fragment = orjson.Fragment


def _dumps_bytes(value: Any) -> bytes:
    return orjson.dumps(value, default=_default, option=_OPTIONS)


def json_param(value: Any, *, dialect: str) -> Any:
    """``value`` as the JSON text parameter of a statement (``CAST(:p AS json)``, ``json_each``).

    On PostgreSQL the driver takes orjson's UTF-8 bytes as they are: a batch's parameter is
    ~100 kB, and a str would be decoded here only for psycopg to encode it again. Already
    serialised ``bytes`` are sent as they are. SQLite's driver takes text.
    """
    if dialect == "postgresql":
        if isinstance(value, bytes):
            return PgJson(value, dumps=_bytes_as_they_are)
        return PgJson(value, dumps=_dumps_bytes)
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return dumps(value)


def _bytes_as_they_are(value: bytes) -> bytes:
    return value


def loads(text: str | bytes) -> Any:
    """``json.loads``."""
    return orjson.loads(text)


class OrjsonProvider(DefaultJSONProvider):
    """Flask's JSON provider on orjson: same output as the default, keys sorted, not ASCII."""

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        """Serialise ``obj`` as the default provider would (sorted keys, UTF-8)."""
        # Flask's responses ask for compact separators or, in debug mode, an indent of 2:
        # both are orjson's. Other options of the json module go to the standard library.
        indent = kwargs.get("indent")
        separators = kwargs.get("separators", (",", ":"))
        extra = set(kwargs) - {"indent", "separators"}
        if extra or indent not in (None, 2) or tuple(separators) != (",", ":"):
            return super().dumps(obj, **kwargs)
        return self._dump_bytes(obj, indent=indent == 2).decode("utf-8")

    def response(self, *args: Any, **kwargs: Any) -> Response:
        """``jsonify``: the default provider's response, with orjson's bytes as the body.

        The default writes a str that the response encodes again: a visit's answer is
        ~10 kB, much of it Chinese.
        """
        obj = self._prepare_response_obj(args, kwargs)
        indent = (self.compact is None and self._app.debug) or self.compact is False
        body = self._dump_bytes(obj, indent=indent) + b"\n"
        return self._app.response_class(body, mimetype=self.mimetype)

    def _dump_bytes(self, obj: Any, *, indent: bool) -> bytes:
        # Dates and dataclasses go through _flask_default, as Flask writes them.
        option = _OPTIONS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
        if self.sort_keys:
            option |= orjson.OPT_SORT_KEYS
        if indent:
            option |= orjson.OPT_INDENT_2
        return orjson.dumps(obj, default=self._flask_default, option=option)

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        """Parse JSON text."""
        if kwargs:
            return super().loads(s, **kwargs)
        return orjson.loads(s)

    @staticmethod
    def _flask_default(value: Any) -> Any:
        # The default provider's conversions: HTTP dates, UUIDs and dataclasses as Flask does.
        if isinstance(value, date):
            from werkzeug.http import http_date

            return http_date(value)
        if isinstance(value, uuid.UUID):
            return str(value)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return dataclasses.asdict(value)
        return _default(value)
