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

__all__ = [
    "BaseConnector", "Connector", "ConnectorError", "ConnectorNotFoundError", "ConnectorRegistry", "Datasource",
    "DatasourceRegistry", "FileConnector", "Preview", "SecretError", "SqlConnector", "TestResult",
    "connector_types", "make_connector", "parse_spec_string", "register",
]
