"""Huhuqing (户户清) backend."""

from backend.app import create_app

__all__ = ["create_app"]
