"""Conditional replace on object stores: read an object with its version token, then write it
only if it still holds that version, in one request the store checks (S3: ETag and
``If-Match``; GCS: generation and ``ifGenerationMatch``; Azure: ETag and ``If-Match``). A write
by anyone else in between makes the store refuse it (412), which is reported as False.

Each provider's pair goes through its fsspec filesystem's own client (credentials, endpoint,
session, its own retries); other filesystems have none (``versioned`` returns None). An
S3-compatible server that does not implement ``If-Match`` on PUT (501 NotImplemented, or 400
naming the header) makes the write raise ``Unsupported``: the caller falls back to two steps.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Coroutine
from typing import Any, NamedTuple
from urllib.parse import quote

from fsspec.asyn import sync

log = logging.getLogger("dagstore")
_WARNED: set[str] = set()  # stores this process has warned about (``two_steps``)


class Unsupported(Exception):
    """The store does not implement the conditional write (not an OSError: never retried)."""


def two_steps(url: str) -> None:
    """Warn, once per process and store, that its conditional writes fall back to two steps."""
    if url not in _WARNED:
        _WARNED.add(url)
        log.warning("%s does not implement If-Match on PUT: draft saves there are a read, then a write, so "
                    "concurrent saves of one draft (by other processes or hosts) are not detected", url)


class Versioned(NamedTuple):
    """A provider's two steps: ``read(fs, path)`` -> (bytes, token), ``FileNotFoundError`` if
    absent; ``write(fs, path, data, token)`` -> False when the object is no longer that version."""

    read: Callable[[Any, str], Coroutine[Any, Any, tuple[bytes, str]]]
    write: Callable[[Any, str, bytes, str], Coroutine[Any, Any, bool]]


def versioned(fs: Any) -> Versioned | None:
    """The conditional read and write of ``fs``'s provider; None where there are none."""
    protocols = {fs.protocol} if isinstance(fs.protocol, str) else set(fs.protocol)
    for names, pair in _PROVIDERS:
        if protocols & names:
            return pair
    return None


def run(fs: Any, step: Callable[..., Coroutine[Any, Any, Any]], *args: Any) -> Any:
    """Run one of the async steps on ``fs``'s event loop (fsspec's sync bridge)."""
    return sync(fs.loop, step, fs, *args)


async def _s3_read(fs: Any, path: str) -> tuple[bytes, str]:
    bucket, key, _ = fs.split_path(path)
    resp = await fs._call_s3("get_object", Bucket=bucket, Key=key)  # s3fs: NoSuchKey is FileNotFoundError
    try:
        return await resp["Body"].read(), resp["ETag"]
    finally:
        resp["Body"].close()


async def _s3_write(fs: Any, path: str, data: bytes, etag: str) -> bool:
    bucket, key, _ = fs.split_path(path)
    try:  # one PUT (up to 5 GB), never multipart: the condition must be on the request that names it
        await fs._call_s3("put_object", Bucket=bucket, Key=key, Body=data, IfMatch=etag)
    except FileNotFoundError:  # deleted since it was read
        return False
    except OSError as exc:  # s3fs keeps botocore's error as the cause
        response = getattr(exc.__cause__, "response", {})
        code = response.get("Error", {}).get("Code")
        if code in ("PreconditionFailed", "ConditionalRequestConflict"):  # 412; 409: a racing write
            return False
        if _no_if_match(response):
            raise Unsupported(f"{path}: {code}") from exc
        raise
    finally:
        fs.invalidate_cache(path)
    return True


def _no_if_match(response: dict[str, Any]) -> bool:
    """Whether an S3 error answer says the server does not implement ``If-Match`` on PUT: 501 or
    NotImplemented, or InvalidArgument naming the header (the store refused the request, wrote nothing)."""
    error = response.get("Error", {})
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    named = "if-match" in " ".join(str(v) for v in error.values()).lower()
    return status == 501 or error.get("Code") == "NotImplemented" or (error.get("Code") == "InvalidArgument" and named)


async def _gcs_read(fs: Any, path: str) -> tuple[bytes, str]:
    headers, data = await fs._call("GET", fs.url(path))  # gcsfs: 404 is FileNotFoundError
    return data, headers["X-Goog-Generation"]


async def _gcs_write(fs: Any, path: str, data: bytes, generation: str) -> bool:
    bucket, key, _ = fs.split_path(path)
    # A multipart upload, as gcsfs's own: fake-gcs-server ignores the condition on uploadType=media.
    head = f'--==0==\nContent-Type: application/json; charset=UTF-8\n\n{json.dumps({"name": key})}\n--==0==\n'
    body = head.encode() + b"Content-Type: application/octet-stream\n\n" + data + b"\n--==0==--"
    try:
        await fs._call("POST", f"{fs._location}/upload/storage/v1/b/{quote(bucket, safe='')}/o", uploadType="multipart",
                       ifGenerationMatch=generation, data=body, json_out=True,
                       headers={"Content-Type": 'multipart/related; boundary="==0=="'})
    except (FileExistsError, FileNotFoundError):  # gcsfs raises FileExistsError for 412
        return False
    finally:
        fs.invalidate_cache(path)
    return True


async def _azure_read(fs: Any, path: str) -> tuple[bytes, str]:
    from azure.core.exceptions import ResourceNotFoundError

    container, blob, _ = fs.split_path(path)
    async with fs.service_client.get_blob_client(container=container, blob=blob) as client:
        try:
            stream = await client.download_blob()  # its later range reads, if any, pin this ETag
        except ResourceNotFoundError as exc:
            raise FileNotFoundError(path) from exc
        return await stream.readall(), stream.properties.etag


async def _azure_write(fs: Any, path: str, data: bytes, etag: str) -> bool:
    from azure.core import MatchConditions
    from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError

    try:
        await fs._pipe_file(path, data, etag=etag, match_condition=MatchConditions.IfNotModified)
    except (ResourceModifiedError, ResourceNotFoundError):
        return False
    return True


_PROVIDERS: tuple[tuple[set[str], Versioned], ...] = (
    ({"s3", "s3a"}, Versioned(_s3_read, _s3_write)),
    ({"gs", "gcs"}, Versioned(_gcs_read, _gcs_write)),
    ({"az", "abfs", "abfss"}, Versioned(_azure_read, _azure_write)),
)
