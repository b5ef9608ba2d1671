"""The create / list / test / delete verbs of a kind of named record (connectors, datasources,
export methods, exporters), written once over the kind's one description (``api/records.py``,
shared with the UI's admin page): each verb group says only how it prints."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import click

from ..api.records import RecordKind
from .app import Settings, emit, pass_settings, table, verb


def _no_extra(res: Any) -> tuple[dict[str, Any], list[str]]:
    return {}, []


@dataclass(frozen=True)
class RecordVerbs:
    """The verbs of ``kind`` in ``group``: ``row`` gives a listed item's cells under ``columns``;
    ``created`` the words after ``created <noun>``; ``test_extra`` what a test result adds to
    the JSON document and to the lines; ``force_delete`` the help of ``delete --force`` (kinds
    whose records others use)."""

    group: click.Group
    kind: RecordKind
    columns: Sequence[str]
    row: Callable[[Any], list[str]]
    created: Callable[[Any], str]
    test_extra: Callable[[Any], tuple[dict[str, Any], list[str]]] = _no_extra
    force_delete: str | None = None

    def create(self, fn: Callable[..., Any]) -> click.Command:
        """The ``create`` verb: ``fn(**arguments)`` returns the name and the kind's fields
        (``RecordKind.create``); its arguments and options are declared on ``fn``, its docstring
        is the help."""

        @functools.wraps(fn)
        def run(s: Settings, **kw: Any) -> None:
            item = self.kind.create(s.store(), *fn(**kw))
            emit(s, item.to_dict(), f"created {self.kind.noun} {self.created(item)}")

        return self.group.command(name="create")(verb(pass_settings(run)))

    def add_list_test_delete(self, list_help: str, test_help: str, delete_help: str) -> None:
        """The ``list``, ``test`` (exit 1 when it fails) and ``delete`` verbs."""

        @pass_settings
        def list_(s: Settings) -> None:
            items = self.kind.registry(s.store()).list()
            emit(s, [i.to_dict() for i in items],
                 table(list(self.columns), [self.row(i) for i in items]) if items else f"no {self.kind.plural}")

        @click.argument("name")
        @pass_settings
        def test(s: Settings, name: str) -> int:
            res = self.kind.registry(s.store()).test(name)
            doc, lines = self.test_extra(res)
            emit(s, {"name": name, "ok": res.ok, "message": res.message, **doc},
                 [("ok: " if res.ok else "failed: ") + res.message, *lines])
            return 0 if res.ok else 1

        @click.argument("name")
        @pass_settings
        def delete(s: Settings, name: str, force: bool = False) -> None:
            self.kind.delete(s.store(), name, force)
            emit(s, {"deleted": name}, f"deleted {self.kind.noun} {name}")

        if self.force_delete:
            delete = click.option("--force", is_flag=True, help=self.force_delete)(delete)

        for name, fn, help_text in (("list", list_, list_help), ("test", test, test_help),
                                    ("delete", delete, delete_help)):
            self.group.command(name=name, help=help_text)(verb(fn))
