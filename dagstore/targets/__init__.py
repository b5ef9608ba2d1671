"""Targets: export methods, selections, deliveries and exporters (issue #15)."""
