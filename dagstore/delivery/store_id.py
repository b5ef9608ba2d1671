"""The store's id (the payloads' ``data_provider_id``): a UUID written once at the store root,
put-if-absent, so every host reads the same one; stores made before it get it on first use."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from typing import Any

from ..core import layout
from ..core.decode import decoding, parse_object

KEY = layout.STORE_ID


def store_id(store: Any) -> str:
    """The store's UUID, creating it once if the store has none yet."""
    be = store.backend
    try:
        data = be.read(KEY)
    except FileNotFoundError:
        be.write_new(KEY, json.dumps({"id": str(uuid.uuid4()),
                                      "created": datetime.now(timezone.utc).isoformat()}).encode())
        data = be.read(KEY)  # ours, or the one another host wrote first
    what = f"store id {KEY}"
    doc = parse_object(data, what)
    with decoding(what):
        return str(uuid.UUID(doc["id"]))
