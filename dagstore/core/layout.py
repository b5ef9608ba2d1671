"""Every key of a store, built and parsed in one place (docs/format.md describes each).

::

    dagstore.json                      format marker
    store_id.json                      the store's UUID, put-if-absent
    drafts/<id>                        a draft (zstd JSON), replaced while it is edited
    versions/<id>.json                 a final version's record, written once
    state/<id>/<revision>.json         label revisions of a final version, write-once each
    names/<name key>/<version>         version-number claims (put-if-absent)
    manifests/<hash>                   a version's own changes (zstd JSON), write-once
    packs/<p2>/<pack id>               packs of small blobs, write-once
    index/<p2>/<pack id>               the header of each pack, for lookups
    objects/<h2>/<hash>                large blobs, one object each
    gc/<key>                           gc's mark on unreferenced content
    connectors/<name>.json             named records (core/store/named.py), one folder per type: a
    datasources/<name>.json            connector, a datasource, an export method, an exporter, a
    export-methods/<name>.json         snapshot (put-if-absent), an export job (replaced by its
    exporters/<name>.json              worker; its artifact is exports/<id>.zip), a delivery
    snapshots/<name>.json              (<UTC stamp>-<id>); <name> is percent-quoted
    exports/<id>.json                  (<id>.zip its artifact, <id>.deleted while a deleted job's worker runs)
    deliveries/<stamp>-<id>.json
    ui/settings.json                   the web UI's named records: its per-store switches and the
    ui/labelstudio/<project>/<pk>.json Label Studio exports made through it
"""

from __future__ import annotations

import urllib.parse

from .hashing import hash_bytes

MARKER = "dagstore.json"
STORE_ID = "store_id.json"  # the store's UUID (the delivery payloads' data_provider_id)
DRAFTS = "drafts"
VERSIONS = "versions"
STATE = "state"
NAMES = "names"
MANIFESTS = "manifests"
PACKS = "packs"
INDEX = "index"
OBJECTS = "objects"
GC = "gc"
CONNECTORS = "connectors"
DATASOURCES = "datasources"
EXPORT_METHODS = "export-methods"
EXPORTERS = "exporters"
SNAPSHOTS = "snapshots"
EXPORTS = "exports"
DELIVERIES = "deliveries"
UI = "ui"  # the web UI's records (dagstore/ui)
UI_SETTINGS = "settings"  # ui/settings.json
NAMED = (CONNECTORS, DATASOURCES, EXPORT_METHODS, EXPORTERS, SNAPSHOTS, EXPORTS, DELIVERIES)
PREFIXES = (PACKS, INDEX, OBJECTS, MANIFESTS, VERSIONS, DRAFTS, NAMES, STATE, GC, *NAMED)
_RECORD_SUFFIX = ".json"


def leaf(key: str) -> str:
    """The last part of a key (an id, a hash, a version or a revision file name)."""
    return key.rsplit("/", 1)[-1]


def draft_key(version_id: str) -> str:
    return f"{DRAFTS}/{version_id}"


def record_key(version_id: str) -> str:
    return f"{VERSIONS}/{version_id}{_RECORD_SUFFIX}"


def is_record_key(key: str) -> bool:
    return key.endswith(_RECORD_SUFFIX)


def record_id(key: str) -> str:
    """The version id of a ``versions/<id>.json`` key."""
    return leaf(key)[: -len(_RECORD_SUFFIX)]


def labels_prefix(version_id: str) -> str:
    return f"{STATE}/{version_id}"


def labels_key(version_id: str, revision: int) -> str:
    return f"{STATE}/{version_id}/{revision:010d}.json"


def labels_revision(key: str) -> int:
    """The revision number of a ``state/<id>/<n>.json`` key."""
    return int(leaf(key).split(".")[0])


def labels_owner(key: str) -> str | None:
    """The version id of a ``state/<id>/<n>.json`` key, None for anything else under ``state/``."""
    parts = key.split("/")
    return parts[1] if len(parts) == 3 else None


def name_key(project: str, name: str) -> str:
    """The hashed folder name of project/name under ``names/``."""
    return hash_bytes(f"{project}\x00{name}".encode())


def claims_prefix(project: str, name: str) -> str:
    return f"{NAMES}/{name_key(project, name)}"


def claim_key(project: str, name: str, version: str) -> str:
    return f"{claims_prefix(project, name)}/{version}"


def manifest_key(manifest_hash: str) -> str:
    return f"{MANIFESTS}/{manifest_hash}"


def pack_key(pack_id: str) -> str:
    return f"{PACKS}/{pack_id[:2]}/{pack_id}"


def index_key(pack_id: str) -> str:
    return f"{INDEX}/{pack_id[:2]}/{pack_id}"


def object_key(blob_hash: str) -> str:
    """Key of a large blob stored as its own object (raw bytes, named by content hash)."""
    return f"{OBJECTS}/{blob_hash[:2]}/{blob_hash}"


def kind(key: str) -> str:
    """The top-level prefix of a key (``packs``, ``objects``, ...)."""
    return key.split("/", 1)[0]


def gc_mark_key(key: str) -> str:
    return f"{GC}/{key}"


def marked_key(mark: str) -> str:
    """The content key a ``gc/<key>`` mark names."""
    return mark[len(GC) + 1 :]


def named_key(prefix: str, name: str) -> str:
    """``<prefix>/<name>.json``, the name percent-quoted (letters, digits and ``_.-~`` stay as
    they are, so the names of connectors, methods, jobs and deliveries are their own key)."""
    return f"{prefix}/{urllib.parse.quote(name, safe='')}{_RECORD_SUFFIX}"


def is_named_key(key: str) -> bool:
    return key.endswith(_RECORD_SUFFIX)


def named_name(key: str) -> str:
    """The name of a ``<prefix>/<name>.json`` key."""
    return urllib.parse.unquote(leaf(key)[: -len(_RECORD_SUFFIX)])


def ls_exports_prefix(project_id: int) -> str:
    """The folder of one Label Studio project's export records (``ui/labelstudio/<project>``)."""
    return f"{UI}/labelstudio/{int(project_id)}"


def export_artifact_key(job_id: str) -> str:
    """A completed export job's zip, beside its record."""
    return f"{EXPORTS}/{job_id}.zip"


def export_tombstone_key(job_id: str) -> str:
    """Written when a running export job is deleted, so its worker stops writing (it removes
    the tombstone when it exits)."""
    return f"{EXPORTS}/{job_id}.deleted"
