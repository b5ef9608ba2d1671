"""Connectors: definitions (config file, environment, API), secrets by reference only, and
test() against real servers: success and each failure, in one clear redacted line."""
from __future__ import annotations

import http.server
import json
import os
import threading
from pathlib import Path
from typing import Any, Iterator

import pytest

from dagstore import Store
from dagstore.connectors import (ConnectorError, ConnectorNotFoundError, SecretError, TestResult,
                                 connector_types, parse_spec_string)
from dagstore.errors import ConflictError, DagstoreError
from servers import closed_port


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(str(tmp_path / "store"))


def assert_failed(res: TestResult, *needles: str, secret: str | None = None) -> None:
    assert isinstance(res, TestResult) and not res.ok, res
    assert "\n" not in res.message
    for n in needles:
        assert n.lower() in res.message.lower(), res.message
    if secret:
        assert secret not in res.message


# ------------------------------------------------------------------ definitions

def test_every_contract_type_is_registered() -> None:
    assert set(connector_types()) == {"sql", "ftp", "sftp", "s3", "gcs", "azure", "http", "kafka"}


def test_env_form_parses_where_and_key_values() -> None:
    assert parse_spec_string("kafka, 127.0.0.1:9092, topic=events") == (
        "kafka", {"bootstrap_servers": "127.0.0.1:9092", "topic": "events"})
    assert parse_spec_string("kafka, h1:9092,h2:9092, topic=t")[1]["bootstrap_servers"] == "h1:9092,h2:9092"
    assert parse_spec_string("sftp, 10.0.0.5:2222, username=bob, root=/in, read_only=true") == (
        "sftp", {"host": "10.0.0.5", "port": "2222", "username": "bob", "root": "/in", "read_only": True})
    t, spec = parse_spec_string("http, https://h/x?a=b, headers.Authorization=Bearer ${TOK}")
    assert (t, spec) == ("http", {"url": "https://h/x?a=b", "headers": {"Authorization": "Bearer ${TOK}"}})
    with pytest.raises(ConnectorError, match="expected"):
        parse_spec_string("sql")


def test_api_connectors_are_stored_with_references_and_listed(store: Store) -> None:
    store.connectors.create("Warehouse_PG", "sql", url="postgresql+psycopg://app@db:5432/wh",
                            password="${WH_PASSWORD}")
    again = Store(store.url)  # another process / host sees it
    c = again.connectors.get("Warehouse_PG")
    assert (c.name, c.type, c.source) == ("Warehouse_PG", "sql", "store")
    assert c.spec["password"] == "${WH_PASSWORD}"
    assert [x.name for x in again.connectors.list()] == ["Warehouse_PG"]
    with pytest.raises(ConflictError):
        again.connectors.create("Warehouse_PG", "sql", url="sqlite:///x.db")
    again.connectors.delete("Warehouse_PG")
    with pytest.raises(ConnectorNotFoundError):
        again.connectors.get("Warehouse_PG")
    with pytest.raises(ConnectorNotFoundError):
        again.connectors.test("Warehouse_PG")


def test_update_changes_a_stored_connector_in_place(store: Store, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    store.connectors.create("drop", "sftp", url="sftp://bob@old.example:2222/in", password="${DROP_PW}")
    c = store.connectors.update("drop", url="sftp://bob@new.example/out")
    assert (c.spec["host"], c.spec.get("port"), c.spec["root"], c.spec["password"]) == ("new.example", None, "/out", "${DROP_PW}")
    assert Store(store.url).connectors.get("drop").spec == c.spec  # stored, seen by every host
    with pytest.raises(SecretError, match="literal secret"):
        store.connectors.update("drop", password="hunter2secret")
    assert store.connectors.get("drop").spec["password"] == "${DROP_PW}"  # nothing changed
    with pytest.raises(ConnectorError, match="unknown key"):
        store.connectors.update("drop", colour="red")
    assert store.connectors.update("drop", type="ftp", password=None).type == "ftp"
    assert "password" not in store.connectors.get("drop").spec
    with pytest.raises(ConnectorNotFoundError):
        store.connectors.update("nope", host="h")
    monkeypatch.setenv("DAGSTORE_CONNECTOR_envc", "ftp, h:21")
    with pytest.raises(ConnectorError, match="defined in the environment variable DAGSTORE_CONNECTOR_envc; change it there"):
        store.connectors.update("envc", host="other")


@pytest.mark.parametrize("spec", [
    {"type": "sql", "url": "postgresql+psycopg://app:hunter2secret@db/wh"},
    {"type": "sql", "url": "postgresql+psycopg://app@db/wh", "password": "hunter2secret"},
    {"type": "sftp", "url": "sftp://bob:hunter2secret@h/in"},
    {"type": "ftp", "host": "h", "password": "hunter2secret"},
    {"type": "s3", "url": "s3://b/p", "storage_options": {"key": "AKIA", "secret": "hunter2secret"}},
    {"type": "http", "url": "http://h/x", "headers": {"Authorization": "Bearer hunter2secret"}},
    {"type": "kafka", "bootstrap_servers": "h:9092", "sasl_password": "hunter2secret"},
])
def test_literal_secret_refused_on_save(store: Store, spec: dict[str, Any]) -> None:
    spec = dict(spec)
    with pytest.raises(SecretError, match=r"literal secret.*\$\{ENV_NAME\}") as ei:
        store.connectors.create("c1", spec.pop("type"), **spec)
    assert "hunter2secret" not in str(ei.value)
    assert store.backend.list("connectors") == []


def test_unknown_type_and_key_and_bad_name_are_clear(store: Store) -> None:
    with pytest.raises(ConnectorError, match="unknown type 'oracle'"):
        store.connectors.create("c", "oracle", url="x://y")
    with pytest.raises(ConnectorError, match="unknown key"):
        store.connectors.create("c", "sql", url="sqlite:///x", passwd="${X}")
    with pytest.raises(ConnectorError, match="invalid connector name"):
        store.connectors.create("../c", "sql", url="sqlite:///x")
    assert store.backend.list("connectors") == []


def write_config(isolated_env: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    cfg = isolated_env / "config.toml"
    cfg.write_text(text)
    monkeypatch.setenv("DAGSTORE_CONFIG", str(cfg))


def test_config_then_env_then_api_later_wins(store: Store, isolated_env: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(isolated_env, monkeypatch, """
[connectors.shared]
type = "sql"
url = "sqlite:///from-config.db"

[connectors.cfg_only]
type = "ftp"
host = "ftp.example"
password = "${FTP_PW}"
""")
    monkeypatch.setenv("DAGSTORE_CONNECTOR_shared", "sql, sqlite:///from-env.db")
    monkeypatch.setenv("DAGSTORE_CONNECTOR_My_Kafka_events", "kafka, 127.0.0.1:9092, topic=events")
    conns = {c.name: c for c in store.connectors.list()}
    assert set(conns) == {"shared", "cfg_only", "My_Kafka_events"}  # names keep case and underscores
    assert conns["shared"].spec["url"] == "sqlite:///from-env.db" and conns["shared"].source == "env"
    assert conns["cfg_only"].source == "config"
    assert conns["My_Kafka_events"].spec == {"bootstrap_servers": "127.0.0.1:9092", "topic": "events"}
    store.connectors.create("shared", "sql", url="sqlite:///from-api.db")
    assert store.connectors.get("shared").spec["url"] == "sqlite:///from-api.db"
    store.connectors.delete("shared")  # the stored one; the environment's shows again
    assert store.connectors.get("shared").source == "env"
    for name, where in (("shared", "environment"), ("cfg_only", "config file")):
        with pytest.raises(ConnectorError, match=where):
            store.connectors.delete(name)


def test_literal_secret_in_config_file_refused(store: Store, isolated_env: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(isolated_env, monkeypatch, """
[connectors.pg]
type = "sql"
url = "postgresql+psycopg://app@db/wh"
password = "hunter2secret"
""")
    with pytest.raises(SecretError, match=r"\[connectors.pg\].*password") as ei:
        store.connectors.get("pg")
    assert "hunter2secret" not in str(ei.value)


def test_env_connector_with_literal_password_is_redacted(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAGSTORE_CONNECTOR_pg", "sql, postgresql+psycopg://app:hunter2secret@127.0.0.1:1/wh")
    c = store.connectors.get("pg")
    for shown in (repr(c), str(c.to_dict()), c.where()):
        assert "hunter2secret" not in shown and "***" in shown
    res = c.test()
    assert_failed(res, "pg", "127.0.0.1", secret="hunter2secret")


# ------------------------------------------------------------------ SQL

def pg_connector(store: Store, srv: Any, monkeypatch: pytest.MonkeyPatch, name: str = "pg", **extra: Any) -> Any:
    monkeypatch.setenv("TEST_PGPASSWORD", srv.info["password"])
    return store.connectors.create(name, "sql", url=srv.info["url"], password="${TEST_PGPASSWORD}", **extra)


def test_postgres_connector_test_ok(store: Store, postgres_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    pg_connector(store, postgres_server, monkeypatch)
    res = store.connectors.test("pg")
    assert res.ok and "SELECT 1 ok" in res.message, res
    assert postgres_server.info["password"] not in repr(store.connectors.get("pg"))


def test_postgres_password_in_url_reference(store: Store, postgres_server: Any,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGPASSWORD_REF", postgres_server.info["password"])
    url = postgres_server.info["url"].replace("postgres@", "postgres:${PGPASSWORD_REF}@")
    store.connectors.create("pgurl", "sql", url=url)
    assert store.connectors.test("pgurl").ok


def test_postgres_wrong_password(store: Store, postgres_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_PGPASSWORD", "wrong-" + postgres_server.info["password"][:6])
    store.connectors.create("pg", "sql", url=postgres_server.info["url"], password="${TEST_PGPASSWORD}")
    assert_failed(store.connectors.test("pg"), "password authentication failed", "127.0.0.1", "'pg'",
                  secret=os.environ["TEST_PGPASSWORD"])


def test_sql_unreachable_host(store: Store) -> None:
    store.connectors.create("down", "sql", url=f"postgresql+psycopg://u@127.0.0.1:{closed_port()}/x")
    assert_failed(store.connectors.test("down"), "'down'", "refused")


def test_missing_env_reference_fails_clearly(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOT_SET_PW", raising=False)
    store.connectors.create("pg", "sql", url="postgresql+psycopg://u@127.0.0.1:5/x", password="${NOT_SET_PW}")
    assert_failed(store.connectors.test("pg"), "${NOT_SET_PW} is not set")


def test_mariadb_connector_ok_and_wrong_password(store: Store, mariadb_server: Any,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_MYPW", mariadb_server.info["password"])
    store.connectors.create("maria", "sql", url=mariadb_server.info["url"], password="${TEST_MYPW}")
    assert store.connectors.test("maria").ok
    monkeypatch.setenv("TEST_MYPW", "nope-nope")
    assert_failed(store.connectors.test("maria"), "access denied", "'maria'", secret="nope-nope")


def test_sqlite_ok_and_missing_file(store: Store, tmp_path: Path) -> None:
    import sqlite3
    sqlite3.connect(tmp_path / "ok.db").close()
    store.connectors.create("lite", "sql", url=f"sqlite:///{tmp_path}/ok.db")
    assert store.connectors.test("lite").ok
    store.connectors.create("nolite", "sql", url=f"sqlite:///{tmp_path}/missing.db")
    assert_failed(store.connectors.test("nolite"), "does not exist")
    assert not (tmp_path / "missing.db").exists()  # the test did not create it


# ------------------------------------------------------------------ SFTP / FTP

def test_sftp_key_file_ok_and_read_only(store: Store, sshd_server: Any) -> None:
    i = sshd_server.info
    store.connectors.create("sd", "sftp", host=i["host"], port=i["port"], username=i["username"],
                            key_file=i["key_file"], root=i["root"])
    res = store.connectors.test("sd")
    assert res.ok and "wrote and deleted a probe" in res.message, res
    assert os.listdir(i["root"]) == []  # the probe is gone
    store.connectors.create("sdro", "sftp", url=f"sftp://{i['username']}@{i['host']}:{i['port']}{i['root']}",
                            key_file=i["key_file"], read_only=True)
    res = store.connectors.test("sdro")
    assert res.ok and "read-only" in res.message, res


def test_sftp_wrong_key_and_missing_root(store: Store, sshd_server: Any, tmp_path: Path) -> None:
    import subprocess
    i = sshd_server.info
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "other")], check=True)
    store.connectors.create("wrongkey", "sftp", host=i["host"], port=i["port"], username=i["username"],
                            key_file=str(tmp_path / "other"), root=i["root"])
    assert_failed(store.connectors.test("wrongkey"), "'wrongkey'", "authentication")
    store.connectors.create("noroot", "sftp", host=i["host"], port=i["port"], username=i["username"],
                            key_file=i["key_file"], root=i["root"] + "/missing")
    assert_failed(store.connectors.test("noroot"), "list", "missing")


def test_sftp_refuses_an_unknown_host_key(store: Store, sshd_session: Any, tmp_path: Path) -> None:
    """Not in ~/.ssh/known_hosts: refused, saying so (issue 20: it was accepted silently)."""
    i = sshd_session.info
    store.connectors.create("sd", "sftp", host=i["host"], port=i["port"], username=i["username"],
                            key_file=i["key_file"], root=i["root"])
    assert_failed(store.connectors.test("sd"), "'sd'", "host key of [127.0.0.1]", "is unknown", "known_hosts", "refused")
    assert os.listdir(i["root"]) == []
    from dagstore import Dataset
    store.datasources.create("files", "sd", path="x.txt")
    with pytest.raises(ConnectorError, match="is unknown"):  # a datasource read is refused the same way
        Dataset.create_from_datasource("files", "f", dataset_project="p", store=store)


def test_sftp_refuses_a_changed_host_key_and_takes_a_known_hosts_path_or_fingerprint(
        store: Store, sshd_session: Any, tmp_path: Path) -> None:
    import subprocess
    i = sshd_session.info
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "", "-f", str(tmp_path / "impostor")], check=True)
    kind, key = (tmp_path / "impostor.pub").read_text().split()[:2]
    ssh = Path(os.environ["HOME"]) / ".ssh"
    ssh.mkdir()
    (ssh / "known_hosts").write_text(f"[127.0.0.1]:{i['port']} {kind} {key}\n")  # another key for this host
    store.connectors.create("sd", "sftp", host=i["host"], port=i["port"], username=i["username"],
                            key_file=i["key_file"], root=i["root"])
    assert_failed(store.connectors.test("sd"), "host key of [127.0.0.1]", "has changed", "man-in-the-middle", "ssh-keygen -R")
    # the right key in a known_hosts file the connector names
    (tmp_path / "kh").write_text(i["known_hosts"] + "\n")
    store.connectors.update("sd", known_hosts=str(tmp_path / "kh"))
    assert store.connectors.test("sd").ok
    # a fingerprint, as `ssh-keygen -lf` prints it
    fp = subprocess.run(["ssh-keygen", "-lf", "/dev/stdin"], input=i["known_hosts"].split(" ", 1)[1], capture_output=True,
                        text=True, check=True).stdout.split()[1]
    store.connectors.update("sd", known_hosts=None, host_key_fingerprint=fp)
    assert store.connectors.test("sd").ok
    store.connectors.update("sd", host_key_fingerprint="SHA256:" + "A" * 43)
    assert_failed(store.connectors.test("sd"), "does not match the connector's host_key_fingerprint", fp)


def test_sftp_password_ok_and_wrong(store: Store, sftp_password_server: Any,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    i = sftp_password_server.info
    monkeypatch.setenv("TEST_SFTP_PW", i["password"])
    store.connectors.create("asf", "sftp", url=f"sftp://{i['username']}@127.0.0.1:{i['port']}/",
                            password="${TEST_SFTP_PW}")
    assert store.connectors.test("asf").ok
    monkeypatch.setenv("TEST_SFTP_PW", "bad-password-x")
    assert_failed(store.connectors.test("asf"), "authentication", secret="bad-password-x")


def test_sftp_unreachable(store: Store) -> None:
    store.connectors.create("gone", "sftp", host="127.0.0.1", port=closed_port(), username="x")
    assert_failed(store.connectors.test("gone"), "'gone'", "connect")


def test_ftp_ok_wrong_password_unreachable(store: Store, ftp_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    i = ftp_server.info
    monkeypatch.setenv("TEST_FTP_PW", i["password"])
    store.connectors.create("ftp", "ftp", url=f"ftp://{i['username']}@127.0.0.1:{i['port']}/",
                            password="${TEST_FTP_PW}")
    res = store.connectors.test("ftp")
    assert res.ok and "probe" in res.message, res
    assert os.listdir(i["local"]) == []
    monkeypatch.setenv("TEST_FTP_PW", "bad-password-y")
    assert_failed(store.connectors.test("ftp"), "530", secret="bad-password-y")
    store.connectors.create("ftpdown", "ftp", host="127.0.0.1", port=closed_port(), username="u")
    assert_failed(store.connectors.test("ftpdown"), "refused")


# ------------------------------------------------------------------ object stores

@pytest.mark.parametrize("backend_server", ["s3", "gcs", "azure"], indirect=True)
def test_bucket_connectors_ok_and_missing_bucket(store: Store, backend_server: Any,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    srv = backend_server
    url = srv.new_root("in")
    ctype = {"s3": "s3", "gs": "gcs", "az": "azure"}[srv.protocol]
    opts: dict[str, Any] = {}
    for k, v in srv.storage_options.items():  # secrets by reference, the rest literal
        if k in ("secret", "key", "connection_string", "token") and v != "anon":
            monkeypatch.setenv(f"TEST_OPT_{k.upper()}", str(v))
            opts[k] = f"${{TEST_OPT_{k.upper()}}}"
        else:
            opts[k] = v
    store.connectors.create("bucket", ctype, url=url, storage_options=opts)
    res = store.connectors.test("bucket")
    assert res.ok, res
    bucket = url.split("://", 1)[1].split("/")[0]
    store.connectors.create("nobucket", ctype, url=f"{srv.protocol}://no-such-bucket-{bucket[-8:]}/x",
                            storage_options=opts)
    assert_failed(store.connectors.test("nobucket"), "'nobucket'")
    for v in srv.storage_options.values():
        if isinstance(v, str) and len(v) > 8:
            assert v not in store.connectors.test("nobucket").message


# ------------------------------------------------------------------ HTTP

class _Head(http.server.BaseHTTPRequestHandler):
    def do_HEAD(self) -> None:
        need = self.server.token  # type: ignore[attr-defined]
        ok = self.path != "/private" or self.headers.get("Authorization") == f"Bearer {need}"
        self.send_response(200 if ok else 401)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def head_server() -> Iterator[Any]:
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Head)
    srv.token = "tok-" + os.urandom(6).hex()  # type: ignore[attr-defined]
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def test_http_ok_unauthorized_unreachable(store: Store, head_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    base = f"http://127.0.0.1:{head_server.server_address[1]}"
    monkeypatch.setenv("TEST_TOKEN", head_server.token)
    store.connectors.create("hook", "http", url=f"{base}/private", headers={"Authorization": "Bearer ${TEST_TOKEN}"})
    res = store.connectors.test("hook")
    assert res.ok and "200" in res.message, res
    monkeypatch.setenv("TEST_TOKEN", "wrong-token-value")
    assert_failed(store.connectors.test("hook"), "401", secret="wrong-token-value")
    store.connectors.create("nohook", "http", url=f"http://127.0.0.1:{closed_port()}/x")
    assert_failed(store.connectors.test("nohook"), "'nohook'", "refused")


# ------------------------------------------------------------------ Kafka

def test_kafka_unreachable_fails_in_bounded_time(store: Store) -> None:
    import time
    store.connectors.create("k", "kafka", bootstrap_servers=f"127.0.0.1:{closed_port()}", topic="t")
    t0 = time.monotonic()
    assert_failed(store.connectors.test("k"), "'k'", "metadata")
    assert time.monotonic() - t0 < 20


def test_kafka_connector_test_reaches_a_real_broker(store: Store, kafka: str) -> None:
    store.connectors.create("k", "kafka", bootstrap_servers=kafka, topic="events")
    result = store.connectors.test("k")
    assert result.ok, result.message
    assert "'k'" in result.message


def test_stored_connector_bytes_hold_no_secret(store: Store, postgres_server: Any,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    pg_connector(store, postgres_server, monkeypatch)
    assert store.connectors.test("pg").ok
    pw = postgres_server.info["password"].encode()
    root = Path(store.url)
    files = [p for p in root.rglob("*") if p.is_file()]
    assert files and not any(pw in p.read_bytes() for p in files)
    doc = json.loads((root / "connectors" / "pg.json").read_bytes())
    assert doc["spec"]["password"] == "${TEST_PGPASSWORD}"


def test_errors_are_dagstore_errors() -> None:
    assert issubclass(ConnectorError, DagstoreError) and issubclass(SecretError, DagstoreError)
    import dagstore.delivery
    import dagstore.secrets
    assert SecretError is dagstore.secrets.SecretError is dagstore.delivery.SecretError  # one error type
