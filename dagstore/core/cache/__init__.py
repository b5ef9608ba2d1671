"""The local cache: content-addressed blobs, materialized read-only version folders, leases and eviction."""

from .base import DEFAULT_LOCK_TIMEOUT, DEFAULT_MAX_BYTES, BlobSink, Cache, Tree, parse_size

__all__ = ["Cache", "BlobSink", "Tree", "parse_size", "DEFAULT_LOCK_TIMEOUT", "DEFAULT_MAX_BYTES"]
