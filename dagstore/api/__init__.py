"""The facades: the ClearML-compatible ``Dataset`` (over a ``core.version.Version``), the public
``Store`` (the core store composed with its subsystem members) and sync-if-changed."""
