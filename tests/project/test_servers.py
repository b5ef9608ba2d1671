"""The storage servers are real, and the fsspec semantics dagstore relies on hold on every backend.

Checked with fsspec 2026.9.0, s3fs 2026.9.0 + moto 5.2.5, gcsfs 2026.10.1 + fake-gcs-server 1.54.0,
adlfs 2026.8.0 + Azurite 3.37.0 (see test_create_if_absent):

Create-if-absent (raises FileExistsError when the key exists, writes otherwise):
  - s3 (s3fs):     fs.pipe_file(path, data, mode="create")   -> PutObject IfNoneMatch="*";
                   also on the multipart path (IfNoneMatch on CompleteMultipartUpload), and
                   fs.open(path, "xb") works too.
  - gs (gcsfs):    fs.pipe_file(path, data, mode="create")   -> ifGenerationMatch=0.
                   Only for data < chunksize (default 50 MiB, a simple upload): fake-gcs-server
                   ignores ifGenerationMatch on resumable uploads, and fs.open(path, "xb") is a
                   resumable upload too, so both SILENTLY OVERWRITE on the emulator.
  - az (adlfs):    fs.pipe_file(path, data, mode="create")   (adlfs maps it to overwrite=False);
                   fs.pipe_file(path, data, overwrite=False) and fs.open(path, "xb") work too.
  - local:         with fs.open(path, "xb") as f: f.write(data)   -> O_EXCL, atomic.
                   fs.pipe_file(path, data, mode="create") also raises, but is a racy
                   exists()-then-write in fsspec's generic code: don't use it for locking.
  So `fs.pipe_file(path, data, mode="create")` is right for all three clouds (keep such objects
  small), and local needs open("xb").

Other things worth knowing:
  - Local paths need their parent folder: LocalFileSystem defaults to auto_mkdir=False (pass
    auto_mkdir=True or call fs.makedirs(parent, exist_ok=True)).
  - cat_file(start=-n) (suffix read) works on s3 and gs, but adlfs + Azurite raise ValueError
    ("Content-Range ... missing"): read info()["size"] first and use a positive start.
  - cat_file end past the object's size is clamped on all backends.
  - Never ask for an empty range (start == end): s3fs returns the WHOLE object, adlfs raises
    ValueError, gcsfs and local return b"". Any range read of a 0-byte object fails on all
    clouds (s3 OSError 22, gcs HttpError 416, azure HttpResponseError); a full cat_file is fine.
  - cat_ranges defaults to on_error="return": a missing key comes back as a FileNotFoundError
    object in the result list. Pass on_error="raise" to get the exception.
  - The servers also take the env vars in Server.env (AWS_ENDPOINT_URL + keys,
    STORAGE_EMULATOR_HOST, AZURE_STORAGE_CONNECTION_STRING) with no storage_options.
"""
from __future__ import annotations

import os
import socket
from typing import Any
from urllib.parse import urlparse

import fsspec
import pytest
from fsspec.implementations.local import LocalFileSystem

from servers import Server

BLOBS: dict[str, bytes] = {
    "a.bin": os.urandom(1000) + b"\r",       # trailing CR: broke one GCS emulator's parser
    "sub/b.txt": b"line1\r\nline2\r",
    "sub/deep/c.bin": bytes(range(256)) * 40,
    "empty": b"",
}


def _fs(store_url: tuple[str, dict[str, Any]]) -> tuple[Any, str]:
    """(filesystem, root path) for a store_url; the local root folder is created."""
    url, opts = store_url
    fs, root = fsspec.core.url_to_fs(url, skip_instance_cache=True, **opts)
    if isinstance(fs, LocalFileSystem):
        fs.makedirs(root, exist_ok=True)
    return fs, root


def _mkparents(fs: Any, paths: list[str]) -> None:
    if isinstance(fs, LocalFileSystem):
        for p in paths:
            fs.makedirs(fs._parent(p), exist_ok=True)


@pytest.mark.parametrize("backend_server", ["s3", "gcs", "azure"], indirect=True)
def test_server_is_real(backend_server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    """A live child process listens on loopback, and a client configured by env vars alone
    sees what a client configured by storage_options wrote."""
    srv = backend_server
    assert srv.proc.poll() is None and srv.proc.pid != os.getpid()
    endpoint = srv.storage_options.get("endpoint_url") or \
        srv.storage_options["connection_string"].split("BlobEndpoint=")[1]
    host, port = urlparse(endpoint).hostname, urlparse(endpoint).port
    assert host == "127.0.0.1" and port
    socket.create_connection((host, port), timeout=2).close()

    url = srv.new_root()
    srv.fs().pipe_file(f"{url}/hello", b"hi\r")
    for k, v in srv.env.items():
        monkeypatch.setenv(k, v)
    with fsspec.open(f"{url}/hello", "rb", skip_instance_cache=True) as f:
        assert f.read() == b"hi\r"
    srv.remove_bucket(url)
    assert not srv.fs().exists(url)


def test_roundtrip_ranges_find(store_url: tuple[str, dict[str, Any]]) -> None:
    """Bytes round trip exactly; byte ranges; cat_ranges; find lists every key."""
    fs, root = _fs(store_url)
    paths = {f"{root}/{k}": v for k, v in BLOBS.items()}
    _mkparents(fs, list(paths))
    fs.pipe(paths)
    for p, data in paths.items():
        assert fs.cat_file(p) == data, p
    assert fs.cat(sorted(paths)) == paths

    a = f"{root}/a.bin"
    data = paths[a]
    assert fs.cat_file(a, start=10, end=20) == data[10:20]
    assert fs.cat_file(a, start=len(data) - 1, end=len(data)) == b"\r"
    assert fs.cat_file(a, start=990, end=len(data) + 100) == data[990:]   # end is clamped
    c = f"{root}/sub/deep/c.bin"
    assert fs.cat_ranges([a, c, c], [0, 5, 300], [4, 9, 10240]) == \
        [data[:4], paths[c][5:9], paths[c][300:]]

    found = sorted(fs.find(root))
    assert found == sorted(fs._strip_protocol(p) for p in paths)
    assert fs.info(a)["size"] == len(data)
    with fs.open(a, "rb") as f:
        f.seek(-1, 2)
        assert f.read() == b"\r"


def test_missing_key(store_url: tuple[str, dict[str, Any]]) -> None:
    """Reading or stat-ing a missing key raises FileNotFoundError."""
    fs, root = _fs(store_url)
    missing = f"{root}/no/such/key"
    with pytest.raises(FileNotFoundError):
        fs.cat_file(missing)
    with pytest.raises(FileNotFoundError):
        fs.info(missing)
    with pytest.raises(FileNotFoundError):
        fs.open(missing, "rb").read()
    assert not fs.exists(missing)
    with pytest.raises(FileNotFoundError):
        fs.cat_ranges([missing], [0], [1], on_error="raise")
    (got,) = fs.cat_ranges([missing], [0], [1])      # default on_error="return"
    assert isinstance(got, FileNotFoundError)


def create_if_absent(fs: Any, path: str, data: bytes) -> None:
    """The create-if-absent write recorded in the module docstring."""
    if isinstance(fs, LocalFileSystem):
        with fs.open(path, "xb") as f:
            f.write(data)
    else:
        fs.pipe_file(path, data, mode="create")


def test_create_if_absent(store_url: tuple[str, dict[str, Any]]) -> None:
    """A create-if-absent write succeeds once, then raises FileExistsError and keeps the data."""
    fs, root = _fs(store_url)
    path = f"{root}/locks/lock.json"
    _mkparents(fs, [path])
    create_if_absent(fs, path, b"first\r")
    with pytest.raises(FileExistsError):
        create_if_absent(fs, path, b"second")
    fs.invalidate_cache()
    assert fs.cat_file(path) == b"first\r"
    fs.pipe_file(path, b"third")             # a plain write still overwrites
    assert fs.cat_file(path) == b"third"
