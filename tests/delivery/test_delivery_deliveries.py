"""Selections and annotations to a real webhook receiver and a real (mock-cluster) Kafka broker:
every failure mode, exactly-once from the receiver's view, the delivery log, no secrets."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from dagstore import DagstoreError, Dataset, Store
from dagstore.delivery import (
    DeliveryError,
    ExportMethods,
    SecretError,
    SelectionError,
    store_id,
)
from dagstore.delivery.deliveries import Delivery, new_id, record, started
from helpers import write_tree
from servers import closed_port, consume

IDS = [f"train/{c}/{i:03d}.jpg" for c in ("cat", "dog") for i in range(20)]


@pytest.fixture
def version(tmp_path: Path) -> Dataset:
    src = write_tree(tmp_path / "src", {p: p for p in IDS})
    ds = Dataset.create(dataset_name="pets", dataset_project="vision")
    ds.add_files(src)
    ds.upload(show_progress=False)
    ds.finalize()
    return ds


@pytest.fixture
def store(version: Dataset) -> Store:
    return version.store


def send(ds: Dataset, method: str, ids=IDS[:2], name: str = "hard negatives", annotation=None):
    return ds.export_selection(name, ids, method, annotation=annotation)


def methods(store: Store) -> ExportMethods:
    return store.export_methods


# ---------------------------------------------------------------- HTTP POST
def test_post_delivers_the_contract_payload(version, store, webhook):
    methods(store).create("hook", f"post, {webhook.url}/export/")
    ann = {"type": "range", "column": "score", "min": 0.2, "max": 0.4}
    d = send(version, "hook", annotation=ann)
    got = webhook.requests()
    assert len(got) == 1 and got[0]["path"] == "/export/" and got[0]["method"] == "POST"
    body = json.loads(got[0]["body"])
    assert body == {
        "origin": "dagstore", "type": "selection", "project_id": "vision", "data_provider_id": store_id(store),
        "dataset_id": version.id, "dataset_name": "pets", "dataset_version": version.version,
        "selection_name": "hard negatives", "date": body["date"], "date_epoch": body["date_epoch"],
        "count": 2, "sample_ids": [{"id": IDS[0]}, {"id": IDS[1]}], "annotation": ann}
    assert abs(body["date_epoch"] - time.time()) < 60 and body["date"].endswith("Z")
    assert list(body)[-2:] == ["sample_ids", "annotation"]
    assert got[0]["headers"]["Idempotency-Key"] == d.id
    assert got[0]["headers"]["Content-Type"] == "application/json"
    assert (d.status, d.attempts, d.count, d.method, d.dataset_id) == ("delivered", 1, 2, "hook", version.id)
    assert store.deliveries() == [d]


def test_no_annotation_key_when_not_given(version, store, webhook):
    methods(store).create("hook", f"post, {webhook.url}/")
    send(version, "hook")
    assert "annotation" not in json.loads(webhook.requests()[0]["body"])


@pytest.mark.parametrize("plan", [[500], [503, 500], [429, 503, 500], ["close"], ["close", 503]])
def test_retries_deliver_exactly_once(version, store, webhook, plan):
    methods(store).create("hook", f"post, {webhook.url}/x, timeout=5")
    webhook.plan(plan)
    d = send(version, "hook")
    got = webhook.requests()
    assert [r["answer"] for r in got] == [*plan, 200]
    assert len(webhook.delivered()) == 1
    assert {r["headers"]["Idempotency-Key"] for r in got} == {d.id}
    assert len({r["body"] for r in got if r["answer"] != "close"}) == 1
    assert (d.status, d.attempts) == ("delivered", len(plan) + 1)


def test_a_hung_receiver_times_out_and_is_retried(version, store, webhook):
    # 3 s: the second attempt must be answered in time on a loaded machine too
    methods(store).create("hook", f"post, {webhook.url}/x, timeout=3")
    webhook.plan(["hang"])
    t0 = time.monotonic()
    d = send(version, "hook")
    assert time.monotonic() - t0 < 20  # cut at the 3 s timeout, not the 30 s default nor the receiver's 60 s hang
    assert [r["answer"] for r in webhook.requests()] == ["hang", 200]
    assert (d.status, d.attempts) == ("delivered", 2)


@pytest.mark.parametrize("status", [400, 401, 404, 409, 422])
def test_4xx_fails_at_once_with_the_status(version, store, webhook, status):
    methods(store).create("hook", f"post, {webhook.url}/x")
    webhook.plan([status])
    with pytest.raises(DeliveryError, match=f"answered {status}") as info:
        send(version, "hook")
    assert len(webhook.requests()) == 1
    failed = store.deliveries(status="failed")
    assert failed == [info.value.delivery] and failed[0].attempts == 1 and str(status) in failed[0].error
    assert store.deliveries(status="delivered") == []


def test_gives_up_after_the_attempts(version, store, webhook):
    methods(store).create("hook", f"post, {webhook.url}/x, retries=2")
    webhook.plan([503, 503, 503, 200])
    with pytest.raises(DeliveryError, match="503.*gave up after 3 attempts"):
        send(version, "hook")
    assert [r["answer"] for r in webhook.requests()] == [503, 503, 503]
    assert webhook.delivered() == []
    assert store.deliveries()[0].status == "failed"


def test_default_is_five_attempts(version, store, webhook):
    methods(store).create("hook", f"post, {webhook.url}/x")
    webhook.plan([500] * 6)
    with pytest.raises(DeliveryError, match="gave up after 5 attempts"):
        send(version, "hook")
    assert len(webhook.requests()) == 5


def test_total_deadline_bounds_the_call(version, store, webhook):
    methods(store).create("hook", f"post, {webhook.url}/x, timeout=1, total_timeout=2.5, retries=10")
    webhook.plan(["hang"] * 10)
    t0 = time.monotonic()
    with pytest.raises(DeliveryError, match="no answer within") as info:
        send(version, "hook")
    # 2.5 s hold at most 3 attempts of 1 s (11 would take over 30 s with their backoff): a count no
    # machine's speed changes, and a wall-clock bound with room for a loaded one
    assert info.value.delivery.attempts <= 3 and time.monotonic() - t0 < 15
    assert webhook.delivered() == []


def test_receiver_down_is_a_recorded_failure(version, store):
    methods(store).create("down", f"post, http://127.0.0.1:{closed_port()}/x, retries=1")
    with pytest.raises(DeliveryError, match="connection failed.*2 attempts"):
        send(version, "down")
    d = store.deliveries(method="down")[0]
    assert (d.status, d.attempts) == ("failed", 2)


def test_same_host_redirect_is_followed(version, store, webhook):
    methods(store).create("hook", {"type": "post", "url": f"{webhook.url}/old",
                                   "headers": {"Authorization": "Bearer ${HOOK_TOKEN}"}})
    webhook.plan([{"redirect": "/new", "status": 308}])
    import os
    os.environ["HOOK_TOKEN"] = "tok-123"
    try:
        send(version, "hook")
    finally:
        del os.environ["HOOK_TOKEN"]
    got = webhook.requests()
    assert [r["path"] for r in got] == ["/old", "/new"]
    assert got[1]["headers"]["Authorization"] == "Bearer tok-123"


def test_cross_host_redirect_is_not_followed_with_credentials(version, store, webhook, monkeypatch):
    other = webhook.url.replace("127.0.0.1", "localhost")  # the same receiver under another host name
    methods(store).create("hook", {"type": "post", "url": f"{webhook.url}/old",
                                   "headers": {"X-Api-Key": "${HOOK_KEY}"}})
    monkeypatch.setenv("HOOK_KEY", "key-456")
    webhook.plan([{"redirect": f"{other}/new", "status": 307}])
    with pytest.raises(DeliveryError, match="another host.*not following it with credentials") as info:
        send(version, "hook")
    assert "key-456" not in str(info.value)
    assert [r["path"] for r in webhook.requests()] == ["/old"]


def test_cross_host_redirect_without_credentials_is_followed(version, store, webhook):
    other = webhook.url.replace("127.0.0.1", "localhost")
    methods(store).create("hook", f"post, {webhook.url}/old")
    webhook.plan([{"redirect": f"{other}/new", "status": 307}])
    send(version, "hook")
    assert [r["path"] for r in webhook.requests()] == ["/old", "/new"]


def test_302_is_refused(version, store, webhook):
    methods(store).create("hook", f"post, {webhook.url}/old")
    webhook.plan([{"redirect": "/new", "status": 302}])
    with pytest.raises(DeliveryError, match="302"):
        send(version, "hook")
    assert len(webhook.requests()) == 1


def test_env_header_resolved_at_send_time_only(version, store, webhook, monkeypatch):
    methods(store).create("hook", {"type": "post", "url": f"{webhook.url}/x",
                                   "headers": {"Authorization": "Bearer ${HOOK_TOKEN}"}})
    with pytest.raises(SecretError, match=r"\$\{HOOK_TOKEN\} is not set"):
        send(version, "hook")
    assert webhook.requests() == []
    monkeypatch.setenv("HOOK_TOKEN", "")
    with pytest.raises(SecretError, match=r"\$\{HOOK_TOKEN\} is set but empty"):
        send(version, "hook")
    assert webhook.requests() == []
    monkeypatch.setenv("HOOK_TOKEN", "first-secret")
    send(version, "hook")
    monkeypatch.setenv("HOOK_TOKEN", "second-secret")
    send(version, "hook")
    assert [r["headers"]["Authorization"] for r in webhook.requests()] == ["Bearer first-secret",
                                                                           "Bearer second-secret"]
    everything = b"".join(store.backend.read(k) for k in store.backend.list(""))
    assert b"first-secret" not in everything and b"second-secret" not in everything
    for d in store.deliveries():
        assert "secret" not in json.dumps(d.to_dict())


def test_unknown_ids_are_refused_before_sending(version, store, webhook):
    methods(store).create("hook", f"post, {webhook.url}/x")
    with pytest.raises(SelectionError, match="2 sample id.*not in version.*'nope.jpg'"):
        send(version, "hook", ids=[IDS[0], "nope.jpg", "../etc/passwd"])
    with pytest.raises(SelectionError, match="empty"):
        send(version, "hook", ids=[])
    assert webhook.requests() == []
    assert [d.status for d in store.deliveries()] == ["failed", "failed"]


def test_unknown_method_is_a_recorded_failure(version, store):
    with pytest.raises(Exception, match="no export method named 'ghost'"):
        send(version, "ghost")
    assert store.deliveries(method="ghost")[0].status == "failed"


def test_annotation_payload(version, store, webhook):
    methods(store).create("hook", f"post, {webhook.url}/x")
    box = {"type": "box", "x": [0.1, 0.5], "y": [0.2, 0.7]}
    d = version.export_annotation("suspicious region", box, "hook")
    body = json.loads(webhook.requests()[0]["body"])
    assert body["type"] == "annotation" and body["annotation_name"] == "suspicious region"
    assert body["annotation"] == box and "sample_ids" not in body and "selection_name" not in body
    assert (d.kind, d.count, d.status) == ("annotation", 0, "delivered")


def test_delivery_log_filters_newest_first(version, store, webhook):
    methods(store).create("a", f"post, {webhook.url}/a")
    methods(store).create("b", f"post, {webhook.url}/b")
    d1 = send(version, "a", name="one")
    d2 = send(version, "b", name="two")
    d3 = send(version, "a", name="three")
    assert store.deliveries() == [d3, d2, d1]
    assert store.deliveries(method="a") == [d3, d1]
    assert store.deliveries(limit=2) == [d3, d2]
    assert store.deliveries(dataset_id="0" * 32) == []
    raw = [json.loads(store.backend.read(k)) for k in store.backend.list("deliveries")]
    assert all("sample_ids" not in r and IDS[0] not in json.dumps(r) for r in raw)


def test_deliveries_made_within_one_millisecond_are_listed_newest_first(store):
    """Records are named by their start time: to the millisecond, two deliveries started one
    after the other within one (a failed one can take less on a fast machine) tied, and were
    listed in their random ids' order."""
    for i in range(50):
        for k in range(2):
            when, _t0 = started()
            record(store, Delivery(id=new_id(), kind="selection", method="hook", method_type="post", target="http://h/",
                                   dataset_id="c" * 32, name=f"n{i}-{k}", count=1, status="failed", attempts=0,
                                   error="x", time=when, duration=0.0))
        assert [d.name for d in store.deliveries(limit=2)] == [f"n{i}-1", f"n{i}-0"]


def test_method_test_reports_without_raising(store, webhook):
    methods(store).create("up", f"post, {webhook.url}/x")
    methods(store).create("down", f"post, http://127.0.0.1:{closed_port()}/x, timeout=2")
    ok = methods(store).test("up")
    assert ok.ok and "answered 200" in ok.message
    bad = methods(store).test("down")
    assert not bad.ok and "ConnectionError" in bad.message and "\n" not in bad.message
    assert [r["method"] for r in webhook.requests()] == ["OPTIONS"]


# ---------------------------------------------------------------- Kafka
def _topic(request: pytest.FixtureRequest) -> str:
    return "t_" + request.node.name.replace("[", "_").replace("]", "").replace("-", "_")[:60] + f"_{time.time_ns()}"


def test_kafka_delivers_once_and_acknowledged(version, store, kafka, request):
    topic = _topic(request)
    methods(store).create("q", f"kafka, {kafka}, {topic}")
    d = send(version, "q", ids=IDS)
    assert (d.status, d.parts, d.attempts) == ("delivered", 1, 1)
    got = consume(kafka, topic, 1)
    assert len(got) == 1
    body = json.loads(got[0]["value"])
    assert body["count"] == len(IDS) and [s["id"] for s in body["sample_ids"]] == IDS
    assert "part" not in body
    assert got[0]["headers"]["Idempotency-Key"] == d.id and got[0]["key"] == d.id


def test_kafka_splits_payloads_over_the_limit(version, store, kafka, request):
    topic = _topic(request)
    methods(store).create("q", f"kafka, {kafka}, {topic}, max_message_bytes=900")
    d = send(version, "q", ids=IDS)
    assert d.parts > 2 and d.attempts == d.parts
    got = consume(kafka, topic, d.parts)
    assert len(got) == d.parts and len({g["partition"] for g in got}) == 1
    bodies = sorted((json.loads(g["value"]) for g in got), key=lambda b: b["part"])
    assert [b["part"] for b in bodies] == list(range(1, d.parts + 1))
    assert {b["parts"] for b in bodies} == {d.parts} and {b["count"] for b in bodies} == {len(IDS)}
    assert [s["id"] for b in bodies for s in b["sample_ids"]] == IDS
    assert all(len(g["value"].encode()) <= 900 for g in got)


def test_kafka_refuses_over_the_limit_when_split_is_off(version, store, kafka, request):
    topic = _topic(request)
    methods(store).create("q", f"kafka, {kafka}, {topic}, max_message_bytes=900, split=false")
    with pytest.raises(DeliveryError, match="over the limit of 900 bytes"):
        send(version, "q", ids=IDS)
    assert store.deliveries()[0].status == "failed"
    assert consume(kafka, topic, 1, timeout=3) == []


def test_kafka_down_broker_raises_within_the_bound(version, store):
    methods(store).create("q", f"kafka, 127.0.0.1:{closed_port()}, t, timeout=2")
    t0 = time.monotonic()
    with pytest.raises(DeliveryError, match="0 of 1 messages acknowledged"):
        send(version, "q")
    assert time.monotonic() - t0 < 20  # the 2 s timeout (+ 5 s for the flush), far below the 30 s default; room for load
    assert store.deliveries()[0].status == "failed"


def test_kafka_silent_broker_raises_within_the_bound(version, store, blackhole):
    methods(store).create("q", f"kafka, {blackhole}, t, timeout=2")
    t0 = time.monotonic()
    with pytest.raises(DeliveryError, match="acknowledged"):
        send(version, "q")
    assert time.monotonic() - t0 < 20  # the 2 s timeout (+ 5 s for the flush), far below the 30 s default; room for load


def test_kafka_late_acknowledgement_is_a_failure(version, store, kafka_slow):
    methods(store).create("q", f"kafka, {kafka_slow}, t, timeout=2")
    t0 = time.monotonic()
    with pytest.raises(DeliveryError):
        send(version, "q")
    assert time.monotonic() - t0 < 20  # the 2 s timeout (+ 5 s for the flush), far below the 30 s default; room for load


def test_kafka_method_test(store, kafka):
    methods(store).create("q", f"kafka, {kafka}, some_topic")
    methods(store).create("dead", f"kafka, 127.0.0.1:{closed_port()}, t, timeout=1")
    assert methods(store).test("q").ok
    bad = methods(store).test("dead")
    assert not bad.ok and "\n" not in bad.message


def test_drafts_and_missing_arguments_are_refused(store, webhook, tmp_path):
    store.export_methods.create("hook", f"post, {webhook.url}/x")
    draft = Dataset.create(dataset_name="wip", dataset_project="vision")
    with pytest.raises(DagstoreError, match="finalized"):
        draft.export_selection("s", ["a"], "hook")
    with pytest.raises(DagstoreError, match="finalized"):
        draft.export_annotation("a", {"x": 1}, "hook")
    assert webhook.requests() == [] and store.deliveries() == []


def test_the_log_is_shared_by_every_host(version, store, webhook):
    store.export_methods.create("hook", f"post, {webhook.url}/x")
    d = send(version, "hook")
    assert Store(store.url).deliveries() == [d]


def test_select_by_filters(version, store, webhook):
    store.export_methods.create("hook", f"post, {webhook.url}/x")
    d = version.export_selection("cats", export_method="hook", filters={"wildcard": ["train/cat/*"]})
    body = json.loads(webhook.requests()[0]["body"])
    assert [s["id"] for s in body["sample_ids"]] == [p for p in IDS if p.startswith("train/cat/")]
    assert d.count == 20
    with pytest.raises(SelectionError, match="select nothing"):
        version.export_selection("none", export_method="hook", filters={"wildcard": ["nope/*"]})
    with pytest.raises(SelectionError, match="not both"):
        version.export_selection("both", IDS[:1], "hook", filters={"wildcard": ["*"]})
    assert len(webhook.requests()) == 1


# ---------------------------------------------------------------- issue 20: DebiAI users, annotations through Kafka
def test_kafka_delivers_an_annotation_and_records_it(version, store, kafka, request):
    """export_annotation through Kafka crashed (TypeError: bytes vs Payload) and left no record."""
    topic = _topic(request)
    methods(store).create("q", f"kafka, {kafka}, {topic}")
    box = {"type": "box", "x": [0.1, 0.5], "y": [0.2, 0.7]}
    d = version.export_annotation("suspicious region", box, "q")
    assert (d.kind, d.status, d.parts) == ("annotation", "delivered", 1)
    got = consume(kafka, topic, 1)
    body = json.loads(got[0]["value"])
    assert body["type"] == "annotation" and body["annotation"] == box and got[0]["key"] == d.id
    assert store.deliveries()[0].id == d.id


def test_every_attempt_is_recorded_whatever_fails(version, store, webhook):
    """An annotation that cannot be encoded as JSON fails inside the send: still a failed
    delivery record, then a DeliveryError."""
    methods(store).create("hook", f"post, {webhook.url}/x")
    with pytest.raises(DeliveryError, match="failed: TypeError"):
        version.export_annotation("odd", {"value": {1, 2}}, "hook")
    rec = store.deliveries()[0]
    assert (rec.kind, rec.name, rec.status) == ("annotation", "odd", "failed") and "TypeError" in rec.error
    assert webhook.requests() == []


def test_payload_origin_is_configurable(version, store, webhook, tmp_path, monkeypatch):
    """Receivers that check DebiAI's "origin": "DebiAI" keep working."""
    methods(store).create("own", f"post, {webhook.url}/a, origin=DebiAI")
    methods(store).create("plain", f"post, {webhook.url}/b")
    send(version, "own")
    send(version, "plain")
    cfg = tmp_path / "config.toml"
    cfg.write_text('[export_methods]\norigin = "my-tool"\n')
    monkeypatch.setenv("DAGSTORE_CONFIG", str(cfg))
    send(version, "plain")
    monkeypatch.setenv("DAGSTORE_EXPORT_ORIGIN", "DebiAI")
    send(version, "plain")
    assert [json.loads(r["body"])["origin"] for r in webhook.requests()] == ["DebiAI", "dagstore", "my-tool", "DebiAI"]


DEBIAI_INI = """\
[EXPORT_METHODS_CONFIG]
# Configure what a user is allowed to do with export methods
# Allow or not the creation of export methods from the web interface
# (true/false), default is true
creation = true
# Allow or not the deletion of export methods from the web interface
# (true/false), default is true
deletion = false

[EXPORT_METHODS_LIST]
# Post HTTP export method:
My_PostHTTP_export_method1 = post, {url}/export/
My_PostHTTP_export_method2 = post, http://localhost:5000/annotation/

# Kafka export method:
My_Kafka_export_method = kafka, kafka.svc.local:9092, My_Kafka_topic
"""


def test_debiai_config_ini_and_variables_are_honoured(version, store, webhook, tmp_path, monkeypatch):
    """DebiAI's config.ini (the sections of its documentation, verbatim), named by dagstore's
    config or DAGSTORE_DEBIAI_CONFIG, and DEBIAI_EXPORT_METHOD_* / _ENABLED variables."""
    ini = tmp_path / "config.ini"
    ini.write_text(DEBIAI_INI.format(url=webhook.url))
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'debiai_config = "{ini}"\n')
    monkeypatch.setenv("DAGSTORE_CONFIG", str(cfg))
    monkeypatch.setenv("DEBIAI_EXPORT_METHOD_my_post_export_method1", f"post, {webhook.url}/env")
    monkeypatch.setenv("DEBIAI_EXPORT_METHOD_My_Kafka_export_method", "kafka, other.svc:9092, Other_topic")
    listed = {m.name: (m.type, m.source) for m in methods(store).list()}
    assert listed == {"My_PostHTTP_export_method1": ("post", "debiai-config"), "My_PostHTTP_export_method2": ("post", "debiai-config"),
                      "My_Kafka_export_method": ("kafka", "debiai-env"), "my_post_export_method1": ("post", "debiai-env")}
    assert methods(store).get("My_Kafka_export_method").topic == "Other_topic"  # the variable wins over config.ini
    send(version, "My_PostHTTP_export_method1")
    send(version, "my_post_export_method1")
    assert [r["path"] for r in webhook.requests()] == ["/export/", "/env"]
    # switches: config.ini says deletion = false; DebiAI's variable (only "false" disables) and dagstore's win over it
    assert methods(store).creation_enabled and not methods(store).deletion_enabled
    monkeypatch.setenv("DEBIAI_EXPORT_METHODS_CREATION_ENABLED", "False")
    assert not methods(store).creation_enabled
    with pytest.raises(DagstoreError, match="creation is disabled"):
        methods(store).create("new", f"post, {webhook.url}/n")
    monkeypatch.setenv("DAGSTORE_EXPORT_METHODS_CREATION_ENABLED", "true")
    assert methods(store).creation_enabled
    monkeypatch.setenv("DEBIAI_EXPORT_METHODS_DELETION_ENABLED", "yes")
    assert methods(store).deletion_enabled
    with pytest.raises(DagstoreError, match="DebiAI config file .*config.ini"):
        methods(store).delete("My_PostHTTP_export_method2")  # defined there: removed there
    # the same file through the environment variable; a missing one is a clear error
    cfg.write_text("")
    monkeypatch.setenv("DAGSTORE_DEBIAI_CONFIG", str(ini))
    assert "My_PostHTTP_export_method2" in {m.name for m in methods(store).list()}
    monkeypatch.setenv("DAGSTORE_DEBIAI_CONFIG", str(tmp_path / "nope.ini"))
    with pytest.raises(DagstoreError, match="DebiAI config file .*nope.ini .*not found"):
        methods(store).get("My_PostHTTP_export_method2")
