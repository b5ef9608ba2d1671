"""``azure`` connectors (adlfs; ``az://container/prefix``)."""

from __future__ import annotations

from .objectstore import BucketConnector
from .registry import register


@register
class AzureConnector(BucketConnector):
    type = "azure"
    schemes = ("az", "abfs", "abfss")
    protocol = "az"
    module = "adlfs"
