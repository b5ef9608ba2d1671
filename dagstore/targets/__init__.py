"""Export methods, deliveries and exporters: selections, annotations and versions leave for
other systems (webhooks, Kafka, SQL tables, file servers), confirmed or a clear error.

Contract: DESIGN-connectors.md sections 1.4-1.7; user guide: docs/export-methods.md.
"""

from .deliveries import Delivery, list_deliveries
from .deliver import export_annotation, export_selection
from .errors import DeliveryError, ExportMethodError, ExportMethodNotFoundError, SecretError, SelectionError
from .methods import ExportMethods
from .spec import ExportMethod, TestResult
from .selection import annotate, select
from .store_id import store_id
from ..core.store import Store as _Store
from .exporters import Exporters


def _deliveries(self: _Store, method: str | None = None, dataset_id: str | None = None, status: str | None = None,
                limit: int | None = None) -> list[Delivery]:
    """Recorded deliveries (selections, annotations, exporter runs), newest first."""
    return list_deliveries(self, method=method, dataset_id=dataset_id, status=status, limit=limit)


# Store.export_methods, Store.exporters and Store.deliveries (core cannot import this package,
# so it attaches them; api.dataset imports it, so they exist whenever dagstore is imported)
_Store.export_methods = property(ExportMethods, doc="Export methods: list, get, create, delete, test.")  # type: ignore[attr-defined]
_Store.exporters = property(Exporters, doc="Exporters: create, list, get, delete, test, run.")  # type: ignore[attr-defined]
_Store.deliveries = _deliveries  # type: ignore[attr-defined]

__all__ = [
    "Delivery", "DeliveryError", "ExportMethod", "ExportMethodError", "ExportMethodNotFoundError",
    "ExportMethods", "Exporters", "SecretError", "SelectionError", "TestResult", "export_annotation",
    "export_selection", "list_deliveries", "store_id", "select", "annotate",
]
