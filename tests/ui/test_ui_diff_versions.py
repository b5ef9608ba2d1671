"""The diff page's JSON describes both versions as the version page does: their splits too."""

from __future__ import annotations

from starlette.testclient import TestClient

from ui_world import World


def test_the_diff_json_gives_each_version_its_splits(client: TestClient, world: World) -> None:
    doc = client.get(f"/versions/{world.child}/diff.json").json()
    for side, vid in (("v", world.child), ("against", world.first)):
        page = client.get(f"/versions/{vid}.json").json()
        assert page["splits"], vid  # the test world's versions have splits
        assert doc[side]["splits"] == page["splits"], side
