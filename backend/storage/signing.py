"""Short-lived signed links to ``/media/<key>``, for photos this app serves itself."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from urllib.parse import quote

from backend.errors import DomainError

MEDIA_PATH_PREFIX = "/media"
# Domain separation: the same SECRET_KEY signs other things; this key signs only media links.
_PURPOSE = b"hhq-media-url-v1"


class MediaSigner:
    """Makes and checks ``/media/<key>?exp=<unix time>&sig=<HMAC-SHA256>`` links."""

    def __init__(self, secret: str | bytes, *, base_url: str = "", ttl: int = 300) -> None:
        raw = secret.encode() if isinstance(secret, str) else secret
        if not raw:
            raise ValueError("a media signer needs a secret")
        self._key = hmac.new(raw, _PURPOSE, hashlib.sha256).digest()
        self.base_url = base_url.rstrip("/")
        self.ttl = ttl

    def sign(self, key: str, exp: int) -> str:
        """The signature of ``key`` valid until the Unix time ``exp``."""
        mac = hmac.new(self._key, f"{key}\n{exp}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def url(self, key: str, *, ttl: int | None = None, now: float | None = None) -> str:
        """A signed link to ``key`` that expires ``ttl`` seconds from now."""
        exp = int(now if now is not None else time.time()) + (ttl if ttl is not None else self.ttl)
        path = f"{MEDIA_PATH_PREFIX}/{quote(key, safe='/')}"
        return f"{self.base_url}{path}?exp={exp}&sig={self.sign(key, exp)}"

    def verify(
        self, key: str, exp: str | None, sig: str | None, *, now: float | None = None
    ) -> int:
        """Return the expiry of a valid link; raise storage.url_invalid or storage.url_expired."""
        if not exp or not sig or not exp.isdigit() or len(exp) > 12:
            raise DomainError("storage.url_invalid")
        expected = self.sign(key, int(exp))
        # The signature is checked before the expiry, so a forged link never learns more.
        if not hmac.compare_digest(expected.encode(), sig.encode("utf-8", "replace")):
            raise DomainError("storage.url_invalid")
        if int(exp) < (now if now is not None else time.time()):
            raise DomainError("storage.url_expired")
        return int(exp)
