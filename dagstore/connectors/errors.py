"""Errors of connectors and datasources: one clear line, secrets already redacted."""

from __future__ import annotations

from ..errors import DagstoreError


class ConnectorError(DagstoreError):
    """A connector or datasource is invalid, or reading through it failed."""


class ConnectorNotFoundError(ConnectorError, LookupError):
    """No connector or datasource has that name."""
