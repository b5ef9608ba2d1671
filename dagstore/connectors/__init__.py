"""Connectors (where + credentials by ``${ENV}`` reference) and datasources (what to read
through one). One module per connector type behind the ``Connector`` protocol; see
docs/connectors.md."""

from .base import BaseConnector, Connector, TestResult
from .datasources import Datasource, DatasourceRegistry, Preview
from ..secrets import SecretError
from .errors import ConnectorError, ConnectorNotFoundError
from .files import FileConnector
from .registry import ConnectorRegistry, connector_types, make_connector, parse_spec_string, register
from .sql import SqlConnector
from ..core import extensions as _extensions
from . import archive as _archive, describe as _describe, pull as _pull

# Store.connectors / Store.datasources and the Dataset methods of docs/connectors.md
_extensions.provide("connectors.registry", ConnectorRegistry)
_extensions.provide("connectors.datasources", DatasourceRegistry)
_extensions.provide("connectors.create_from_datasource", _pull.create_from_datasource)
_extensions.provide("connectors.sync_datasource", _pull.sync_datasource)
_extensions.provide("connectors.add_zip", _archive.add_zip)
_extensions.provide("connectors.describe", _describe.describe_version)

__all__ = [
    "BaseConnector", "Connector", "ConnectorError", "ConnectorNotFoundError", "ConnectorRegistry", "Datasource",
    "DatasourceRegistry", "FileConnector", "Preview", "SecretError", "SqlConnector", "TestResult",
    "connector_types", "make_connector", "parse_spec_string", "register",
]
