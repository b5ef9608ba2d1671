"""Errors of export methods, deliveries and exporters (all DagstoreError subclasses)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import DagstoreError

if TYPE_CHECKING:
    from .deliveries import Delivery


class ExportMethodError(DagstoreError, ValueError):
    """An export method or exporter spec that does not parse, or an operation its switches forbid."""


class ExportMethodNotFoundError(DagstoreError, LookupError):
    """No export method or exporter has that name."""


class SelectionError(DagstoreError, ValueError):
    """Sample ids that are not in the version, or an empty selection."""


class DeliveryError(DagstoreError):
    """A delivery that was not confirmed by its destination; ``.delivery`` is its (failed) record."""

    def __init__(self, message: str, delivery: Delivery | None = None):
        super().__init__(message)
        self.delivery = delivery
