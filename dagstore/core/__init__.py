"""The storage engine: content hashing, manifests, version records, packs, backends, the store and the cache."""
