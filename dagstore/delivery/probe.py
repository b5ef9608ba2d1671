"""``test()`` of an export method: reach the destination without sending a payload."""

from __future__ import annotations

from typing import Any

from ..errors import DagstoreError
from . import kafka, post
from .connector_sink import test as test_connector
from .spec import ExportMethod, TestResult


def test_method(store: Any, method: ExportMethod) -> TestResult:
    """Reach a method's destination without sending a payload (HTTP OPTIONS, Kafka metadata)."""
    sc = method.scrubber()
    try:
        if method.type == "post":
            import requests

            url = method.resolved_url(sc)
            t = method.timeout or post.TIMEOUT
            r = requests.options(url, headers=method.resolved_headers(sc), timeout=(t, t), allow_redirects=False)
            r.close()
            ok = r.status_code < 500
            return TestResult(ok, f"{method.destination} answered {r.status_code} {r.reason}")
        if method.type == "kafka":
            return TestResult(True, f"{method.destination}: " + kafka.metadata(
                str(method.bootstrap_servers), str(method.topic), min(method.timeout or 10.0, 10.0),
                method.resolved_options(sc)))
        return test_connector(store, method)
    except DagstoreError as exc:
        return TestResult(False, sc.clean(f"{method.destination}: {exc}"))
    except Exception as exc:  # noqa: BLE001 - a failing destination is a result, not a raise
        text = exc.args[0].str() if exc.args and hasattr(exc.args[0], "str") else type(exc).__name__
        return TestResult(False, sc.clean(f"{method.destination}: {text}"))
