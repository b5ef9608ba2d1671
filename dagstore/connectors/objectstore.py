"""The shared base of bucket connectors (``s3``, ``gcs``, ``azure``): a bucket URL, and the
backend's own credential mechanism or ``storage_options`` (secrets as ``${ENV}``)."""

from __future__ import annotations

import urllib.parse
from typing import Any, ClassVar

import fsspec

from ._extras import need
from .errors import ConnectorError
from .files import FileConnector
from ..secrets import Scrubber


class BucketConnector(FileConnector):
    required = ("url",)
    protocol: ClassVar[str] = ""
    module: ClassVar[str] = ""

    def normalize(self) -> None:
        url = str(self.spec.get("url") or "")
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in self.schemes or not parts.netloc:
            raise ConnectorError(f"connector {self.name!r} ({self.type}): url must look like "
                                 f"{self.schemes[0]}://bucket/prefix")
        if parts.password or "@" in parts.netloc:
            raise ConnectorError(f"connector {self.name!r} ({self.type}): put credentials in storage_options "
                                 "(as ${ENV} references), not in the url")
        opts = self.spec.get("storage_options", {})
        if not isinstance(opts, dict):
            raise ConnectorError(f"connector {self.name!r}: storage_options must be a table of options")

    @property
    def root(self) -> str:
        parts = urllib.parse.urlsplit(str(self.spec["url"]))
        return f"{parts.netloc}{parts.path}".rstrip("/")

    def where(self) -> str:
        return str(self.spec["url"])

    def count_root(self, fs: Any, root: str) -> int:
        """A prefix exists only once objects are under it: an empty prefix of an existing
        bucket counts as an empty root."""
        try:
            return len(fs.ls(root, detail=True))
        except FileNotFoundError:
            bucket = root.split("/", 1)[0]
            if bucket == root:
                raise
            fs.ls(bucket, detail=False)
            return 0

    def open_fs(self, sc: Scrubber) -> Any:
        need(self.module, self.type)
        opts = sc.resolve(dict(self.spec.get("storage_options", {})))
        return fsspec.filesystem(self.protocol, skip_instance_cache=True, **opts)
