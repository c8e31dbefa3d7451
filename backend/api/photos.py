"""Photos: one upload per request (``wx.uploadFile``), and a photo's fresh signed links.

There is deliberately no listing: a photo is reached by its id, from the visit that holds it.
"""

from __future__ import annotations

from collections.abc import Iterator

from flask import Response, current_app, g
from flask.views import MethodView
from flask_smorest import Blueprint
from webargs.flaskparser import FlaskParser
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.http import parse_options_header

from backend.api.context import current_actor
from backend.api.schemas.common import ErrorSchema
from backend.api.schemas.photos import PhotoCreateSchema, PhotoSchema
from backend.errors import DomainError
from backend.models import Photo
from backend.services import photos as photos_service
from backend.services.authz import require_authenticated
from backend.services.images import UploadSpool

URL_PREFIX = "/photos"
blp = Blueprint("photos", __name__, description="照片 / Photos")


# The body is read a megabyte at a time (gunicorn answers a 64 KiB read with a copy of all it
# has read ahead) and split on the boundary with bytes.find: werkzeug's form parser compiles
# two regular expressions per request for the boundary, which alone cost ~6 ms a photo.
_READ_SIZE = 1024 * 1024
_MAX_PARTS = 32
_MAX_HEADER_BYTES = 8 * 1024  # one part's header block
_MAX_FIELD_BYTES = 64 * 1024  # all text fields together; only the file part is large
_MAX_BOUNDARY = 200  # RFC 2046 allows 70
_SPOOLS = "photo_upload_spools"


class _MultipartReader:
    """A strict, streaming multipart/form-data reader over a request body stream."""

    def __init__(self, stream, boundary: bytes) -> None:
        self._stream = stream
        self._delimiter = b"\r\n--" + boundary
        # A CRLF in front makes the first boundary look like every later one.
        self._buffer = bytearray(b"\r\n")
        self._eof = False

    def parts(self) -> Iterator[tuple[dict[str, str], Iterator[bytes]]]:
        """(headers, data chunks) of each part; drain the chunks before the next part."""
        for _ in self._data():  # the preamble
            pass
        for _count in range(_MAX_PARTS + 1):
            self._need(2)
            if self._buffer.startswith(b"--"):
                return  # the close delimiter; the epilogue is ignored
            end = self._find(b"\r\n\r\n", _MAX_HEADER_BYTES)
            line_end = self._buffer.find(b"\r\n")
            if self._buffer[:line_end].strip(b" \t"):
                raise DomainError("request.bad")
            raw = bytes(self._buffer[line_end + 2 : end]) if end > line_end else b""
            del self._buffer[: end + 4]
            yield _parse_headers(raw), self._data()
        raise DomainError("request.too_large")

    def _data(self) -> Iterator[bytes]:
        keep = len(self._delimiter) - 1  # a delimiter may straddle two reads
        while True:
            index = self._buffer.find(self._delimiter)
            if index >= 0:
                piece = self._take(index)
                del self._buffer[: len(self._delimiter)]
                if piece:
                    yield piece
                return
            if len(self._buffer) > keep:
                yield self._take(len(self._buffer) - keep)
            if not self._fill():
                raise DomainError("request.bad")  # the body ended inside a part

    def _take(self, size: int) -> bytes:
        """Remove and return the first ``size`` bytes of the buffer (copied once)."""
        with memoryview(self._buffer) as view:
            piece = bytes(view[:size])
        del self._buffer[:size]
        return piece

    def _find(self, needle: bytes, limit: int) -> int:
        while True:
            index = self._buffer.find(needle)
            if 0 <= index <= limit:
                return index
            if index > limit or len(self._buffer) > limit + len(needle) or not self._fill():
                raise DomainError("request.bad")

    def _need(self, size: int) -> None:
        while len(self._buffer) < size:
            if not self._fill():
                raise DomainError("request.bad")

    def _fill(self) -> bool:
        if self._eof:
            return False
        chunk = self._stream.read(_READ_SIZE)
        if not chunk:
            self._eof = True
            return False
        self._buffer += chunk
        return True


def _parse_headers(raw: bytes) -> dict[str, str]:
    headers = {}
    for line in raw.split(b"\r\n") if raw else ():
        name, colon, value = line.decode("utf-8", "replace").partition(":")
        if not colon or not name.strip():
            raise DomainError("request.bad")
        headers[name.strip().lower()] = value.strip()
    return headers


def _stream_multipart(req) -> MultiDict:
    """Parse a multipart body, streaming the part named ``file`` into an UploadSpool."""
    # Only the first ``file`` part is kept (on disk once, hashed as it arrives); further
    # file parts are read and dropped. Text fields are limited to _MAX_FIELD_BYTES in all.
    # Nobody's photo is read before we know who is sending it.
    require_authenticated(current_actor())
    form: MultiDict = MultiDict()
    if req.mimetype != "multipart/form-data":
        return form
    boundary = req.mimetype_params.get("boundary", "")
    if not boundary or len(boundary) > _MAX_BOUNDARY:
        raise DomainError("request.bad")
    spools = g.setdefault(_SPOOLS, [])
    field_bytes = 0
    reader = _MultipartReader(req.stream, boundary.encode("latin-1", "replace"))
    for headers, data in reader.parts():
        disposition, options = parse_options_header(headers.get("content-disposition", ""))
        name = options.get("name")
        if disposition != "form-data" or name is None:
            raise DomainError("request.bad")
        filename = options.get("filename")
        if filename is None:
            value = bytearray()
            for piece in data:
                field_bytes += len(piece)
                if field_bytes > _MAX_FIELD_BYTES:
                    raise DomainError("request.too_large")
                value += piece
            form.add(name, value.decode("utf-8", "replace"))
        elif name == "file" and "file" not in form:
            spool = UploadSpool(max_bytes=current_app.config["PHOTO_MAX_BYTES"])
            spools.append(spool)
            for piece in data:
                spool.write(piece)
            content_type = headers.get("content-type")
            upload = FileStorage(
                stream=spool, filename=filename, name=name, content_type=content_type
            )
            form.add(name, upload)
        else:
            for _ in data:
                pass
    return form


class _StreamingMultipartParser(FlaskParser):
    """Reads a multipart body's file and form fields as one location, streaming the file."""

    __location_map__ = dict(FlaskParser.__location_map__, multipart="load_multipart")

    def load_multipart(self, req, schema):
        """Files and form fields of a multipart/form-data body."""
        return self._makeproxy(_stream_multipart(req), schema)


blp.ARGUMENTS_PARSER = _StreamingMultipartParser()
blp.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING = dict(
    Blueprint.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING, multipart="multipart/form-data"
)


@blp.teardown_request
def _discard_spools(_exc: BaseException | None) -> None:
    # A spool not taken over by process_upload (a replay, a refused field, an error) goes.
    for spool in g.pop(_SPOOLS, []):
        spool.discard()


@blp.after_request
def _no_store(response: Response) -> Response:
    # Bodies carry signed links that must not outlive their purpose in a cache.
    response.headers["Cache-Control"] = "no-store"
    return response


def _present(photo: Photo) -> dict:
    return {
        "id": photo.id,
        "client_uuid": photo.client_uuid,
        "purpose": photo.purpose,
        "sha256": photo.sha256,
        "phash": photo.phash,
        "mime": photo.mime,
        "width": photo.width,
        "height": photo.height,
        "size_bytes": photo.size_bytes,
        "storage_status": photo.storage_status,
        "exif_taken_at": photo.exif_taken_at,
        "exif_lat": photo.exif_lat,
        "exif_lon": photo.exif_lon,
        "created_at": photo.created_at,
        "urls": photos_service.photo_urls(photo),
    }


@blp.route("")
class Photos(MethodView):
    @blp.arguments(PhotoCreateSchema, location="multipart")
    @blp.response(201, PhotoSchema, description="新上传的照片")
    @blp.alt_response(200, schema=PhotoSchema, description="重传：已保存过的同一张照片")
    @blp.alt_response(400, schema=ErrorSchema, description="request.bad：multipart 格式有误")
    @blp.alt_response(401, schema=ErrorSchema, description="auth.required")
    @blp.alt_response(404, schema=ErrorSchema, description="household.not_found")
    @blp.alt_response(409, schema=ErrorSchema, description="photo.conflict")
    @blp.alt_response(413, schema=ErrorSchema, description="photo.too_large / request.too_large")
    @blp.alt_response(415, schema=ErrorSchema, description="photo.not_image / unsupported_format")
    @blp.alt_response(422, schema=ErrorSchema, description="字段有误，或照片损坏、不完整、像素过多")
    @blp.alt_response(503, schema=ErrorSchema, description="storage.unavailable")
    def post(self, form):
        """Upload one photo; a retry with the same client_uuid returns the stored one (200)."""
        upload = form["file"]
        photo, created = photos_service.upload_photo(
            actor=current_actor(),
            stream=upload.stream,
            filename=upload.filename,
            client_uuid=str(form["client_uuid"]),
            purpose=form["purpose"],
            visit_client_uuid=str(form["visit_client_uuid"])
            if form.get("visit_client_uuid")
            else None,
            household_id=form.get("household_id"),
        )
        return _present(photo), 201 if created else 200


@blp.route("/<int:photo_id>")
class PhotoById(MethodView):
    @blp.response(200, PhotoSchema)
    @blp.alt_response(401, schema=ErrorSchema, description="auth.required")
    @blp.alt_response(404, schema=ErrorSchema, description="photo.not_found")
    def get(self, photo_id: int):
        """One photo with fresh signed links (its uploader, or staff who can see its household)."""
        return _present(photos_service.get_photo(actor=current_actor(), photo_id=photo_id))
