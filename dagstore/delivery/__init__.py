"""Export methods, deliveries and exporters: selections, annotations and versions leave for
other systems (webhooks, Kafka, SQL tables, file servers), confirmed or a clear error.

Contract: DESIGN-connectors.md sections 1.4-1.7; user guide: docs/export-methods.md.
"""

from .deliveries import Delivery, list_deliveries
from .deliver import export_annotation, export_selection
from ..secrets import SecretError
from .errors import DeliveryError, ExportMethodError, ExportMethodNotFoundError, SelectionError
from .methods import ExportMethods
from .spec import ExportMethod, TestResult
from .selection import annotate, select
from .store_id import store_id
from .exporters import Exporters

__all__ = [
    "Delivery", "DeliveryError", "ExportMethod", "ExportMethodError", "ExportMethodNotFoundError",
    "ExportMethods", "Exporters", "SecretError", "SelectionError", "TestResult", "export_annotation",
    "export_selection", "list_deliveries", "store_id", "select", "annotate",
]
