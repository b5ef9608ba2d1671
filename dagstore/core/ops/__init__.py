"""The operations on a ``core.version.Version``, one module per concern (``Dataset`` and the
subsystems call them; see docs/architecture.md)."""
