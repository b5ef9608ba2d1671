"""Connectors and datasources: external systems data is read from or written to (issue #14)."""
