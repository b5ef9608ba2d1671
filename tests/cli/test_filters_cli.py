"""One `--filter KEY=VALUE` reading for every verb: `select` and `export` agree that
`labels=cat,dog` is two labels (docs/cli.md, "KEY=VALUE filters")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dagstore.export.errors import ExportError
from dagstore.export.filters import parse_filters
from export_fixtures import labelled
from test_cli import dag, fails


def test_comma_is_several_values_and_repeating_a_key_adds_more() -> None:
    assert parse_filters(["labels=cat,dog", "tasks=annotated", "wildcard=a/*", "labels=bird"], splits=["train"]) == {
        "labels": ["cat", "dog", "bird"], "tasks": "annotated", "wildcard": ["a/*"], "splits": ["train"]}
    assert parse_filters(["remove_user_details="]) == {"remove_user_details": True}
    with pytest.raises(ExportError, match="takes one value"):
        parse_filters(["tasks=annotated", "tasks=reviewed"])
    with pytest.raises(ExportError, match="a filter is KEY=VALUE"):
        parse_filters(["labels"])


def test_select_and_export_select_the_same_items_for_labels_a_comma_b(tmp_path: Path, webhook) -> None:
    ds = labelled(tmp_path)
    with_cat_or_dog = sorted(p for p in ds.list_files() if ds.get_annotation(p).get("regions"))
    assert 0 < len(with_cat_or_dog) < len(ds.list_files())
    exported = dag("export", ds.id, "--format", "COCO", "--out", tmp_path / "c", "--filter", "labels=cat,dog", "--json").json()
    assert sum(exported["counts"].values()) == len(with_cat_or_dog)
    dag("export-method", "create", "hook", f"post, {webhook.url}/x, retries=0")
    sent = dag("select", "--method", "hook", "--name", "pets", "--filter", "labels=cat,dog", "--json", ds.id).json()
    assert sent["count"] == len(with_cat_or_dog)
    body = json.loads(webhook.requests()[0]["body"])
    assert sorted(s["id"] for s in body["sample_ids"]) == with_cat_or_dog


def test_a_malformed_filter_is_the_same_usage_error_for_both(tmp_path: Path) -> None:
    ds = labelled(tmp_path)
    fails("export", ds.id, "--format", "COCO", "--out", tmp_path / "c", "--filter", "labels", code=2,
          message="--filter: a filter is KEY=VALUE")
    fails("select", "--method", "m", "--name", "n", "--filter", "labels", "--", ds.id, code=2,
          message="--filter: a filter is KEY=VALUE")
    assert not (tmp_path / "c").exists()


def test_option_values_are_json_else_text_for_every_verb() -> None:
    import click

    from dagstore.cli.args import option_args

    assert option_args(["obb=true", "label_config=config.xml", "max=3", "x.y=[1, 2]"]) == {
        "obb": True, "label_config": "config.xml", "max": 3, "x.y": [1, 2]}
    with pytest.raises(click.UsageError, match="--option takes KEY=VALUE, not 'obb'"):
        option_args(["obb"])
