"""Objects in an S3-compatible bucket (AWS, MinIO, Tencent COS, Aliyun OSS)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from backend.storage.base import (
    ObjectNotFound,
    Storage,
    StorageUnavailable,
    content_type_for_key,
    validate_key,
)
from backend.storage.signing import MediaSigner

_NOT_FOUND_CODES = {"404", "NoSuchKey", "NotFound"}


def _is_not_found(exc: ClientError) -> bool:
    error = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return str(error.get("Code")) in _NOT_FOUND_CODES or status == 404


class S3Storage(Storage):
    """A bucket reached with boto3; photos are fetched by browsers through presigned GETs."""

    name = "s3"

    def __init__(
        self,
        *,
        bucket: str,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        public_endpoint_url: str | None = None,
        addressing_style: str = "auto",
        connect_timeout: float = 3.0,
        read_timeout: float = 30.0,
        max_attempts: int = 3,
        url_ttl: int = 300,
        signer: MediaSigner | None = None,
        spool_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        super().__init__(signer=signer, spool_dir=spool_dir)
        self.bucket = bucket
        self.region = region
        self.endpoint_url = endpoint_url
        self.url_ttl = url_ttl
        config = Config(
            region_name=region,
            signature_version="s3v4",
            s3={"addressing_style": addressing_style},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retries={"max_attempts": max_attempts, "mode": "standard"},
            # boto3 >= 1.36 adds CRC checksums to every PUT by default, which several
            # S3-compatible services (older MinIO, OSS, COS) reject; send them only when required.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        session = boto3.session.Session(
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            region_name=region,
        )
        self.client = session.client("s3", endpoint_url=endpoint_url, config=config)
        # Presigned URLs are signed for the host the browser will use; signing is offline.
        self._presigner = (
            session.client("s3", endpoint_url=public_endpoint_url, config=config)
            if public_endpoint_url and public_endpoint_url != endpoint_url
            else self.client
        )

    def _call(self, operation: str, key: str, **params: Any) -> dict:
        try:
            return getattr(self.client, operation)(Bucket=self.bucket, Key=key, **params)
        except ClientError as exc:
            # A 404 on a read means no such object; on a write (NoSuchBucket) an outage.
            if operation in ("get_object", "head_object") and _is_not_found(exc):
                raise ObjectNotFound(key) from exc
            raise StorageUnavailable(f"S3 {operation} {key}: {exc}") from exc
        except BotoCoreError as exc:
            raise StorageUnavailable(f"S3 {operation} {key}: {exc}") from exc

    def put(
        self, key: str, path: str | os.PathLike[str], *, content_type: str | None = None
    ) -> None:
        """Upload the file at ``path``, streamed from disk in one PUT."""
        validate_key(key)
        with open(Path(path), "rb") as body:
            self._call(
                "put_object",
                key,
                Body=body,
                ContentLength=os.fstat(body.fileno()).st_size,
                ContentType=content_type or content_type_for_key(key),
            )

    def put_bytes(self, key: str, data: bytes, *, content_type: str | None = None) -> None:
        """Upload ``data`` in one PUT."""
        validate_key(key)
        self._call(
            "put_object", key, Body=data, ContentType=content_type or content_type_for_key(key)
        )

    def get(self, key: str) -> bytes:
        """Download the whole object."""
        response = self._call("get_object", validate_key(key))
        try:
            return response["Body"].read()
        except BotoCoreError as exc:
            raise StorageUnavailable(f"S3 get {key}: {exc}") from exc

    def size(self, key: str) -> int | None:
        """HEAD the object: its ContentLength, or None when missing."""
        try:
            return int(self._call("head_object", validate_key(key))["ContentLength"])
        except ObjectNotFound:
            return None

    def delete(self, key: str) -> None:
        """Delete the object (S3 deletes are idempotent)."""
        self._call("delete_object", validate_key(key))

    def url(self, key: str, *, ttl: int | None = None) -> str:
        """A presigned GET; a /media link instead while the object is still in the spool."""
        validate_key(key)
        ttl = ttl if ttl is not None else self.url_ttl
        if self.signer is not None and self.local_path(key) is not None:
            return self.local_url(key, ttl=ttl)
        try:
            return self._presigner.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=ttl
            )
        except BotoCoreError as exc:  # e.g. no credentials configured
            raise StorageUnavailable(f"S3 presign {key}: {exc}") from exc

    def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist (development and tests)."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
            return
        except ClientError as exc:
            if not _is_not_found(exc):
                raise StorageUnavailable(f"S3 head_bucket {self.bucket}: {exc}") from exc
        except BotoCoreError as exc:
            raise StorageUnavailable(f"S3 head_bucket {self.bucket}: {exc}") from exc
        params: dict[str, Any] = {"Bucket": self.bucket}
        if self.region != "us-east-1":
            params["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        try:
            self.client.create_bucket(**params)
        except (ClientError, BotoCoreError) as exc:
            raise StorageUnavailable(f"S3 create_bucket {self.bucket}: {exc}") from exc
