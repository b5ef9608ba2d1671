"""Exports: formats, sinks, filters, jobs, snapshots and download_dataset (issue #13)."""
