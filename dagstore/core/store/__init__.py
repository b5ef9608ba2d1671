"""The store: version records, drafts and labels (registry), content lookup, and maintenance (gc, verify)."""

from ..layout import name_key
from ._root import now_iso
from .base import STORE_FORMAT, Store, default_store_url
from .maintenance import GcPlan, GcReport

__all__ = ["Store", "GcReport", "GcPlan", "STORE_FORMAT", "default_store_url", "name_key", "now_iso"]
