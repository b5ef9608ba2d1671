"""The one spec-string grammar (``dagstore.spec_string``), shared by connectors and export
methods: ``headers.X=`` everywhere, ``header.X=`` accepted as its alias."""

from __future__ import annotations

import pytest

from dagstore.connectors import ConnectorError, parse_spec_string
from dagstore.delivery import ExportMethodError
from dagstore.delivery.spec import parse_spec
from dagstore.spec_string import SpecString, SpecStringError, parse


def test_values_then_options_then_tables() -> None:
    got = parse("Kafka, a:9092, b:9092, topic=t, storage_options.endpoint_url=http://h:1/?x=1, , flag=")
    assert got == SpecString("kafka", ["a:9092", "b:9092"],
                             {"topic": "t", "storage_options": {"endpoint_url": "http://h:1/?x=1"}, "flag": ""})
    assert parse("http, https://h/x?a=b").positional == ["https://h/x?a=b"]  # a URL is never an option


@pytest.mark.parametrize("spelling", ["headers", "header"])
def test_both_header_spellings_mean_the_same_for_connectors_and_export_methods(spelling: str) -> None:
    _type, conn = parse_spec_string(f"http, https://h/x, {spelling}.Authorization=Bearer ${{TOK}}, {spelling}.X-Id=7")
    method = parse_spec("m", f"post, https://h/x, {spelling}.Authorization=Bearer ${{TOK}}, {spelling}.X-Id=7")
    assert conn["headers"] == method.headers == {"Authorization": "Bearer ${TOK}", "X-Id": "7"}


def test_a_value_after_the_options_is_one_line_error_that_never_repeats_the_spec() -> None:
    text = "ftp, h:21, password=hunter2-literal, stray-value"
    with pytest.raises(SpecStringError, match="item 4 is not key=value") as a:
        parse(text)
    with pytest.raises(ConnectorError, match="item 4 is not key=value") as b:
        parse_spec_string(text)
    with pytest.raises(ExportMethodError, match="item 4 is not key=value") as c:
        parse_spec("m", "post, https://h/x, headers.Authorization=Bearer hunter2-literal, stray-value")
    for err in (a, b, c):
        assert "hunter2" not in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("text,where", [("", "starts with its type"), ("type=x, y", "starts with its type"),
                                        ("x, headers=a, headers.b=c", "both a value and a table")])
def test_malformed_specs(text: str, where: str) -> None:
    with pytest.raises(SpecStringError, match=where):
        parse(text)
