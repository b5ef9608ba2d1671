"""Annotations: schema, validation, class lists and importers (issue #12)."""
