"""The S3 test server makes put-if-absent atomic, as S3 does (tests/servers/moto_atomic.py):
the store's claims (version numbers, records) are only as good as that guarantee."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from dagstore.core.backend import open_backend


def test_racing_put_if_absent_has_exactly_one_winner_per_key(s3_server: Any) -> None:
    backend = open_backend(s3_server.new_root("race"), dict(s3_server.storage_options))
    keys = [f"claims/{i:03d}" for i in range(24)]
    writers = 8

    def claim(job: tuple[str, int]) -> tuple[str, bool]:
        key, writer = job
        return key, backend.write_new(key, f"writer {writer}".encode())

    with ThreadPoolExecutor(writers) as pool:
        results = list(pool.map(claim, [(k, w) for k in keys for w in range(writers)]))
    winners = {k: [ok for key, ok in results if key == k].count(True) for k in keys}
    assert winners == {k: 1 for k in keys}
    assert all(backend.read(k).startswith(b"writer ") for k in keys)
