"""Fixtures running a real-HTTP S3 (moto's ThreadedMotoServer) on a loopback port.

moto (5.2) neither checks the signature nor the expiry of presigned URLs, so browsers' GETs go
through ``PresignChecker``: a small proxy that verifies AWS SigV4 query signatures exactly as
S3 and MinIO do (403 on a bad signature or an expired link) and forwards good ones to moto.
``S3Storage`` presigns for the proxy through its ``public_endpoint_url`` setting, the one a
deployment uses when browsers reach S3 under another host name than the app does.
"""

from __future__ import annotations

import hashlib
import hmac
import socket
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, quote

import pytest
import requests
from moto.server import ThreadedMotoServer
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from backend.storage import MediaSigner, S3Storage

ACCESS_KEY_ID = "AKIAHHQTESTKEY000001"
SECRET_ACCESS_KEY = "hhq-test-secret-access-key"
REGION = "us-east-1"
MEDIA_SECRET = "test-secret-key-0123456789"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class MotoS3:
    """A moto S3 server on 127.0.0.1 that a test can stop and start again on the same port."""

    # moto keeps its buckets in process memory, so a restarted server still has them.

    port: int
    server: ThreadedMotoServer | None = None

    @property
    def endpoint_url(self) -> str:
        """The server's base URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start (or restart) the server on its port."""
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()

    def stop(self) -> None:
        """Stop the server and free the port, so new connections are refused."""
        # Connections already open stay served by werkzeug's handler threads: a test of an
        # outage must use a storage (a boto3 client) made after the stop.
        if self.server is None:
            return
        self.server.stop()
        self.server._server.server_close()  # ThreadedMotoServer.stop() leaves it listening.
        self.server = None


def _uri_encode(value: str) -> str:
    return quote(value, safe="-_.~")


def sigv4_query_signature(
    *, method: str, raw_path: str, query: str, headers: dict[str, str], secret: str
) -> tuple[str, dict[str, str]]:
    """Recompute the SigV4 signature of a presigned URL; return it with the parsed query."""
    params = parse_qsl(query, keep_blank_values=True)
    by_name = dict(params)
    canonical_query = "&".join(
        f"{_uri_encode(k)}={_uri_encode(v)}" for k, v in sorted(params) if k != "X-Amz-Signature"
    )
    signed_headers = by_name.get("X-Amz-SignedHeaders", "host")
    canonical_headers = "".join(
        f"{name}:{headers.get(name, '').strip()}\n" for name in signed_headers.split(";")
    )
    canonical_request = "\n".join(
        [
            method,
            quote(raw_path, safe="/~%"),
            canonical_query,
            canonical_headers,
            signed_headers,
            "UNSIGNED-PAYLOAD",
        ]
    )
    credential = by_name.get("X-Amz-Credential", "")
    scope = credential.split("/", 1)[1] if "/" in credential else ""
    string_to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            by_name.get("X-Amz-Date", ""),
            scope,
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        ]
    )
    key = ("AWS4" + secret).encode()
    for part in scope.split("/"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest(), by_name


def _s3_error(code: str, message: str) -> Response:
    body = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    return Response(body, status=403, content_type="application/xml")


class PresignChecker:
    """Checks presigned GETs like S3 does, then forwards them to moto."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.port = free_port()
        self._server = make_server("127.0.0.1", self.port, self._app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The base URL browsers use."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _app(self, environ, start_response):
        request = Request(environ)
        raw_uri = environ.get("RAW_URI") or environ.get("REQUEST_URI") or request.path
        raw_path = raw_uri.split("?", 1)[0]
        headers = {k.lower(): v for k, v in request.headers.items()}
        signature, params = sigv4_query_signature(
            method=request.method,
            raw_path=raw_path,
            query=environ.get("QUERY_STRING", ""),
            headers=headers,
            secret=SECRET_ACCESS_KEY,
        )
        given = params.get("X-Amz-Signature", "")
        if not params.get("X-Amz-Credential", "").startswith(ACCESS_KEY_ID + "/"):
            response = _s3_error("InvalidAccessKeyId", "The access key does not exist.")
        elif not hmac.compare_digest(signature, given):
            response = _s3_error("SignatureDoesNotMatch", "The signature does not match.")
        elif datetime.strptime(params["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(
            tzinfo=UTC
        ) + timedelta(seconds=int(params.get("X-Amz-Expires", "0"))) < datetime.now(UTC):
            response = _s3_error("AccessDenied", "Request has expired")
        else:
            # moto treats a GET without a signature as anonymous and refuses private objects.
            upstream = requests.request(
                request.method, f"{self.upstream}{raw_uri}", allow_redirects=False, timeout=10
            )
            response = Response(
                upstream.content,
                status=upstream.status_code,
                content_type=upstream.headers.get("Content-Type"),
            )
        return response(environ, start_response)


@pytest.fixture(scope="session")
def moto_s3():
    """A moto S3 server over real HTTP on a free loopback port, for the whole session."""
    server = MotoS3(port=free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def presign_checker(moto_s3):
    """The SigV4-checking proxy in front of moto that presigned URLs point at."""
    checker = PresignChecker(moto_s3.endpoint_url)
    checker.start()
    yield checker
    checker.stop()


def make_s3_storage(moto_s3: MotoS3, checker: PresignChecker, bucket: str, spool_dir) -> S3Storage:
    """An S3Storage on the moto server with short timeouts, presigning for the checker."""
    return S3Storage(
        bucket=bucket,
        endpoint_url=moto_s3.endpoint_url,
        region=REGION,
        access_key_id=ACCESS_KEY_ID,
        secret_access_key=SECRET_ACCESS_KEY,
        public_endpoint_url=checker.url,
        addressing_style="path",
        connect_timeout=1.0,
        read_timeout=5.0,
        max_attempts=1,
        url_ttl=60,
        signer=MediaSigner(MEDIA_SECRET, base_url="http://testserver", ttl=60),
        spool_dir=spool_dir,
    )


@pytest.fixture
def s3_storage(moto_s3, presign_checker, tmp_path):
    """An S3Storage on a fresh bucket of the moto server, spooling under tmp_path."""
    storage = make_s3_storage(
        moto_s3, presign_checker, f"hhq-test-{uuid.uuid4().hex[:12]}", tmp_path / "spool"
    )
    storage.ensure_bucket()
    return storage
