"""``s3`` connectors (s3fs)."""

from __future__ import annotations

from .objectstore import BucketConnector
from .registry import register


@register
class S3Connector(BucketConnector):
    type = "s3"
    schemes = ("s3", "s3a")
    protocol = "s3"
    module = "s3fs"
