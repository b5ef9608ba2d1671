"""The one secrets module (``dagstore.secrets``): one rule for what is a secret, for connectors
and export methods alike; ``${ENV}`` references; one scrubber cleaning every message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import dagstore.connectors
import dagstore.delivery
from dagstore import Dataset, Store
from dagstore.secrets import (Scrubber, SecretError, is_reference, is_secret_name, literal_secrets, redact,
                              redact_url)
from servers import closed_port


@pytest.mark.parametrize("name,secret", [
    ("password", True), ("sasl_password", True), ("Authorization", True), ("X-Api-Key", True),
    ("Cookie", True), ("token", True), ("sas_token", True), ("sig", True), ("key", True), ("secret", True),
    ("connection_string", True), ("account_key", True), ("session", True),
    ("key_file", False), ("sasl_username", False), ("sasl_mechanism", False), ("username", False),
    ("account_name", False), ("endpoint_url", False), ("bootstrap_servers", False), ("design", False),
])
def test_one_rule_for_secret_names(name: str, secret: bool) -> None:
    assert is_secret_name(name) is secret


@pytest.mark.parametrize("value,ref", [
    ("${TOKEN}", True), ("Bearer ${TOKEN}", True), ("${A}${B}", True), (" ${A} ", True),
    ("Bearer tok", False), ("x${A}", False), ("${A} trailing", False), ("$TOKEN", False), ("", False), (3, False),
])
def test_what_counts_as_a_reference(value: object, ref: bool) -> None:
    assert is_reference(value) is ref


SPEC = {"url": "https://u:pw-lit@h/x?token=tok-lit&page=2", "headers": {"Authorization": "Bearer hdr-lit",
        "Accept": "application/json"}, "key_file": "/home/me/.ssh/id", "sasl_password": "${PW}", "storage_options":
        {"anon": "false", "token": "google_default"}}


def test_literal_secrets_names_every_place_and_never_a_value() -> None:
    assert literal_secrets(SPEC) == ["url (password)", "url (query value token)", "headers.Authorization"]
    shown = json.dumps(redact(SPEC))
    assert "lit" not in shown and "/home/me/.ssh/id" in shown and "${PW}" in shown and "google_default" in shown
    assert redact_url("sftp://u:${PW}@h/p?sig=abc&x=1") == "sftp://u:***@h/p?sig=***&x=1"


def test_connectors_and_export_methods_refuse_the_same_literal_secret(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "store"))
    headers = {"Authorization": "Bearer hdr-lit"}
    with pytest.raises(SecretError, match=r"literal secret in headers.Authorization is refused.*\$\{ENV_NAME\}") as a:
        store.connectors.create("c", "http", url="https://h/x", headers=headers)
    with pytest.raises(SecretError, match=r"literal secret in headers.Authorization is refused.*\$\{ENV_NAME\}") as b:
        store.export_methods.create("m", {"type": "post", "url": "https://h/x", "headers": headers})
    assert "hdr-lit" not in str(a.value) + str(b.value)
    # a path to a key is not a secret, for both: a connector keeps key_file as written
    store.connectors.create("s", "sftp", url="sftp://me@h/in", key_file="/home/me/.ssh/id")
    assert store.connectors.get("s").to_dict()["key_file"] == "/home/me/.ssh/id"
    assert dagstore.connectors.SecretError is dagstore.delivery.SecretError is SecretError


def test_scrubber_resolves_and_removes_every_resolved_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DS_TEST_TOKEN", "t0k/en secret")
    sc = Scrubber("thing 'x'")
    assert sc.resolve({"h": ["Bearer ${DS_TEST_TOKEN}"]}) == {"h": ["Bearer t0k/en secret"]}
    text = sc.clean("failed:\n Bearer t0k/en secret at https://u:pw@h/p?a=t0k%2Fen%20secret")
    assert text == "failed: Bearer *** at https://u:***@h/p?a=***"
    monkeypatch.delenv("DS_TEST_TOKEN")
    with pytest.raises(SecretError, match=r"^thing 'x': \$\{DS_TEST_TOKEN\} is not set in the environment$"):
        Scrubber("thing 'x'").resolve("${DS_TEST_TOKEN}")


def test_a_variable_set_but_empty_is_an_error_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """``export TOKEN=$(cat missing-file)`` sets TOKEN to "": that was taken as the secret."""
    monkeypatch.setenv("DS_TEST_EMPTY", "")
    monkeypatch.setenv("DS_TEST_TOKEN", "t0k3n")
    with pytest.raises(SecretError, match=r"^thing 'x': \$\{DS_TEST_EMPTY\} is set but empty in the environment$"):
        Scrubber("thing 'x'").resolve({"a": "${DS_TEST_TOKEN}", "b": "Bearer ${DS_TEST_EMPTY}"})


def test_a_failed_delivery_never_shows_or_stores_a_resolved_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "path-secret-4711"
    monkeypatch.setenv("DS_HOOK_PATH", secret)
    store = Store(str(tmp_path / "store"))
    (tmp_path / "a.txt").write_text("a")
    ds = Dataset.create("d", "p", store=store)
    ds.add_files(str(tmp_path / "a.txt"))
    ds.finalize(auto_upload=True)
    store.export_methods.create("down", f"post, http://127.0.0.1:{closed_port()}/${{DS_HOOK_PATH}}/x, retries=0")
    with pytest.raises(dagstore.delivery.DeliveryError) as ei:
        ds.export_selection("sel", ["a.txt"], "down")
    assert secret not in str(ei.value) and "***" in str(ei.value)
    stored = b"".join(p.read_bytes() for p in (tmp_path / "store").rglob("*") if p.is_file())
    assert secret.encode() not in stored
    result = store.export_methods.test("down")
    assert not result.ok and secret not in result.message
