"""``gcs`` connectors (gcsfs)."""

from __future__ import annotations

from .objectstore import BucketConnector
from .registry import register


@register
class GcsConnector(BucketConnector):
    type = "gcs"
    schemes = ("gs", "gcs")
    protocol = "gs"
    module = "gcsfs"
    quiet_loggers = ("gcsfs",)
