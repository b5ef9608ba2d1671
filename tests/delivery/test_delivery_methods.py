"""Export methods: the three definition places, the switches, spec parsing, secrets, store id."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from dagstore import ConflictError, Store
from dagstore.errors import FormatError
from dagstore.delivery import (
    ExportMethodError,
    ExportMethodNotFoundError,
    ExportMethods,
    SecretError,
    store_id,
)
from dagstore.delivery.spec import parse_spec


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(str(tmp_path / "store"))


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "config.toml"
    monkeypatch.setenv("DAGSTORE_CONFIG", str(path))

    def write(text: str) -> Path:
        path.write_text(text)
        return path
    return write


# ---------------------------------------------------------------- spec parsing
def test_string_specs_parse_each_type():
    p = parse_spec("p", "post, http://127.0.0.1:3012/export/?a=1, timeout=5, retries=2, header.X-Token=${TOK}")
    assert (p.type, p.url, p.timeout, p.retries, p.headers) == ("post", "http://127.0.0.1:3012/export/?a=1", 5.0, 2,
                                                                {"X-Token": "${TOK}"})
    k = parse_spec("k", "kafka, a:9092;b:9092, My_Kafka_topic, max_message_bytes=5000, split=false")
    assert (k.type, k.bootstrap_servers, k.topic, k.max_message_bytes, k.split) == ("kafka", "a:9092,b:9092",
                                                                                   "My_Kafka_topic", 5000, False)
    c = parse_spec("c", "connector, warehouse, table=picked, schema=s1")
    assert (c.type, c.connector, c.table, c.schema, c.path) == ("connector", "warehouse", "picked", "s1", None)
    d = parse_spec("d", {"type": "post", "url": "https://h/x", "headers": {"Authorization": "Bearer ${T}"}})
    assert d.headers == {"Authorization": "Bearer ${T}"} and d.url == "https://h/x"


@pytest.mark.parametrize("spec, words", [
    ("post", "post needs a URL"),
    ("post, timeout=3", "post needs a URL"),
    ("post, ftp://host/x", "not an http(s) URL"),
    ("kafka, 127.0.0.1:9092", "kafka needs a topic"),
    ("kafka", "kafka needs bootstrap servers"),
    ("connector", "connector needs a connector name"),
    ("webhook, http://h/", "unknown type 'webhook'"),
    ("post, http://h/, colour=red", "unknown key(s) colour"),
    ("post, http://h/, timeout=soon", "timeout must be a number"),
    ("post, http://h/, timeout=0", "timeout must be positive"),
    ("post, http://h/, oops", "options are key=value"),
    ("kafka, h:1, t, split=maybe", "split must be true or false"),
])
def test_bad_specs_are_one_line_errors(spec, words):
    with pytest.raises(ExportMethodError) as info:
        parse_spec("m", spec)
    assert words in str(info.value) and "\n" not in str(info.value)


def test_bad_names_are_refused():
    for name in ("", "a/b", "../x", "with space", "x" * 200):
        with pytest.raises(ExportMethodError):
            parse_spec(name, "post, http://h/")


# ---------------------------------------------------------------- three definition places
def test_config_file_methods(store, config_file):
    config_file('[export_methods.list]\n'
                'My_PostHTTP_export_method1 = "post, http://localhost:3012/export/"\n'
                'My_Kafka_export_method = "kafka, kafka.svc.local:9092, My_Kafka_topic"\n')
    methods = ExportMethods(store)
    got = {m.name: m for m in methods.list()}
    assert set(got) == {"My_PostHTTP_export_method1", "My_Kafka_export_method"}
    assert got["My_PostHTTP_export_method1"].url == "http://localhost:3012/export/"
    assert got["My_Kafka_export_method"].topic == "My_Kafka_topic"
    assert {m.source for m in got.values()} == {"config"}


def test_env_methods_keep_the_whole_name(store, monkeypatch):
    monkeypatch.setenv("DAGSTORE_EXPORT_METHOD_my_post_export_method1", "post, http://localhost:3010/export")
    monkeypatch.setenv("DAGSTORE_EXPORT_METHOD_My_Kafka__Method_2", "kafka, 127.0.0.1:9092, My_Kafka_topic")
    monkeypatch.setenv("DAGSTORE_EXPORT_METHOD_to_warehouse", "connector, wh, table=picked")
    methods = ExportMethods(store)
    assert {m.name for m in methods.list()} == {"my_post_export_method1", "My_Kafka__Method_2", "to_warehouse"}
    assert methods.get("my_post_export_method1").url == "http://localhost:3010/export"
    assert methods.get("My_Kafka__Method_2").bootstrap_servers == "127.0.0.1:9092"
    assert methods.get("to_warehouse").table == "picked"
    assert methods.get("my_post_export_method1").source == "env"


def test_env_wins_over_config_and_store_is_shared(store, config_file, monkeypatch, tmp_path):
    config_file('[export_methods.list]\nsame_name = "post, http://from-config/"\n')
    monkeypatch.setenv("DAGSTORE_EXPORT_METHOD_same_name", "post, http://from-env/")
    assert ExportMethods(store).get("same_name").url == "http://from-env/"
    ExportMethods(store).create("api_method_1", {"type": "kafka", "bootstrap_servers": "h:1", "topic": "t"})
    other_host = Store(store.url)  # another process/host on the same store
    got = ExportMethods(other_host).get("api_method_1")
    assert (got.type, got.topic, got.source) == ("kafka", "t", "store")


def test_api_create_list_delete(store):
    methods = ExportMethods(store)
    methods.create("hook_A", "post, http://127.0.0.1:1/x, retries=1")
    methods.create("q", {"type": "kafka", "bootstrap_servers": "h:1", "topic": "t"})
    assert [m.name for m in methods.list()] == ["hook_A", "q"]
    with pytest.raises(ConflictError):
        methods.create("hook_A", "post, http://127.0.0.1:2/x")
    methods.delete("hook_A")
    assert [m.name for m in methods.list()] == ["q"]
    with pytest.raises(ExportMethodNotFoundError):
        methods.get("hook_A")
    with pytest.raises(ExportMethodNotFoundError):
        methods.delete("hook_A")
    with pytest.raises(ExportMethodNotFoundError):
        methods.test("nope")


def test_api_create_refuses_a_name_defined_elsewhere(store, monkeypatch):
    monkeypatch.setenv("DAGSTORE_EXPORT_METHOD_taken", "post, http://h/")
    with pytest.raises(ConflictError, match="defined in env"):
        ExportMethods(store).create("taken", "post, http://other/")


# ---------------------------------------------------------------- switches
def test_switches_from_config(store, config_file):
    config_file('[export_methods]\ncreation = false\ndeletion = false\n'
                '[export_methods.list]\nfixed = "post, http://h/"\n')
    methods = ExportMethods(store)
    with pytest.raises(ExportMethodError, match="creation is disabled"):
        methods.create("new_one", "post, http://h/")
    assert [m.name for m in methods.list()] == ["fixed"]  # nothing stored
    assert store.backend.list("export-methods") == []
    with pytest.raises(ExportMethodError, match="deletion is disabled"):
        methods.delete("fixed")


def test_switches_from_env_win_over_config(store, config_file, monkeypatch):
    config_file('[export_methods]\ncreation = false\n')
    monkeypatch.setenv("DAGSTORE_EXPORT_METHODS_CREATION_ENABLED", "True")
    methods = ExportMethods(store)
    methods.create("made", "post, http://h/")
    monkeypatch.setenv("DAGSTORE_EXPORT_METHODS_DELETION_ENABLED", "False")
    with pytest.raises(ExportMethodError, match="deletion is disabled"):
        methods.delete("made")
    assert methods.get("made")
    monkeypatch.setenv("DAGSTORE_EXPORT_METHODS_DELETION_ENABLED", "1")
    methods.delete("made")
    monkeypatch.setenv("DAGSTORE_EXPORT_METHODS_CREATION_ENABLED", "false")
    with pytest.raises(ExportMethodError, match="creation is disabled"):
        methods.create("again", "post, http://h/")
    monkeypatch.setenv("DAGSTORE_EXPORT_METHODS_CREATION_ENABLED", "sometimes")
    with pytest.raises(ExportMethodError, match="true or false"):
        methods.create("again", "post, http://h/")


def test_config_and_env_methods_cannot_be_deleted(store, config_file, monkeypatch):
    config_file('[export_methods.list]\nfrom_file = "post, http://h/"\n')
    monkeypatch.setenv("DAGSTORE_EXPORT_METHOD_from_env", "post, http://h/")
    methods = ExportMethods(store)
    with pytest.raises(ExportMethodError, match="defined in the config file"):
        methods.delete("from_file")
    with pytest.raises(ExportMethodError, match="DAGSTORE_EXPORT_METHOD_from_env"):
        methods.delete("from_env")
    assert {m.name for m in methods.list()} == {"from_file", "from_env"}


# ---------------------------------------------------------------- secrets
@pytest.mark.parametrize("spec", [
    {"type": "post", "url": "https://h/x", "headers": {"Authorization": "Bearer s3cr3t-literal"}},
    {"type": "post", "url": "https://h/x", "headers": {"X-Api-Key": "s3cr3t-literal"}},
    {"type": "post", "url": "https://user:s3cr3t-literal@h/x"},
    {"type": "post", "url": "https://h/x?token=s3cr3t-literal"},
    {"type": "kafka", "bootstrap_servers": "h:1", "topic": "t", "sasl_password": "s3cr3t-literal"},
    "post, https://h/x, header.Authorization=Basic s3cr3t-literal",
])
def test_literal_secrets_are_refused_and_never_shown(store, spec):
    with pytest.raises(SecretError) as info:
        ExportMethods(store).create("leaky", spec)
    assert "s3cr3t-literal" not in str(info.value) and "${ENV_NAME}" in str(info.value)
    assert store.backend.list("export-methods") == []


def test_references_are_stored_as_references(store):
    m = ExportMethods(store).create("safe_hook", {
        "type": "post", "url": "https://${HOOK_USER}:${HOOK_PW}@h/x?token=${HOOK_TOKEN}",
        "headers": {"Authorization": "Bearer ${HOOK_TOKEN}", "X-Team": "vision"}})
    raw = store.backend.read("export-methods/safe_hook.json").decode()
    assert json.loads(raw)["headers"] == {"Authorization": "Bearer ${HOOK_TOKEN}", "X-Team": "vision"}
    assert m.to_dict()["headers"]["Authorization"] == "Bearer ${HOOK_TOKEN}"


def test_env_literal_secrets_are_redacted_when_shown(store, monkeypatch):
    monkeypatch.setenv("DAGSTORE_EXPORT_METHOD_envhook",
                       "post, https://u:pw-literal@h/x, header.Authorization=Bearer tok-literal")
    m = ExportMethods(store).get("envhook")
    shown = json.dumps(m.to_dict()) + repr(m) + m.destination
    assert "pw-literal" not in shown and "tok-literal" not in shown and "***" in shown


# ---------------------------------------------------------------- store id
def test_store_id_is_one_uuid_for_every_host(store):
    first = store_id(store)
    assert str(uuid.UUID(first)) == first
    assert store_id(Store(store.url)) == first
    assert store.url not in first


def test_store_id_written_once_put_if_absent(store):
    store.backend.write_new("store_id.json", json.dumps({"id": "0" * 8 + "-0000-4000-8000-" + "0" * 12}).encode())
    assert store_id(store) == "00000000-0000-4000-8000-000000000000"
    store.backend.write("store_id.json", b"{}")
    with pytest.raises(FormatError, match="store id store_id.json is corrupt"):
        store_id(store)
