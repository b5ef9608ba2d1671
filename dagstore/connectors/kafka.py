"""``kafka`` connectors: ``bootstrap_servers``, ``topic``, optional SASL settings (the password
as ``${ENV}``); ``test()`` is a metadata request."""

from __future__ import annotations

from typing import Any

from ._extras import need
from .base import BaseConnector
from .registry import register
from ..secrets import Scrubber

TIMEOUT = 10.0
_SASL = {"security_protocol": "security.protocol", "sasl_mechanism": "sasl.mechanism",
         "sasl_username": "sasl.username", "sasl_password": "sasl.password"}


@register
class KafkaConnector(BaseConnector):
    type = "kafka"
    required = ("bootstrap_servers",)
    extra_keys = frozenset(_SASL)

    def normalize(self) -> None:
        url = self.spec.pop("url", None)
        if url and "bootstrap_servers" not in self.spec:
            self.spec["bootstrap_servers"] = str(url).removeprefix("kafka://")

    @property
    def topic(self) -> str | None:
        return self.spec.get("topic")

    def where(self) -> str:
        return str(self.spec["bootstrap_servers"]) + (f" topic {self.topic}" if self.topic else "")

    def config(self, sc: Scrubber) -> dict[str, Any]:
        """librdkafka settings for a Producer/AdminClient, secrets resolved."""
        conf: dict[str, Any] = {"bootstrap.servers": self.spec["bootstrap_servers"], "log_level": 0,
                                "error_cb": lambda err: None}
        for key, prop in _SASL.items():
            if self.spec.get(key):
                conf[prop] = sc.resolve(self.spec[key])
                if key == "sasl_password":
                    sc.add(conf[prop])
        return conf

    def _test(self, sc: Scrubber) -> str:
        ck = need("confluent_kafka.admin", "kafka")
        try:
            md = ck.AdminClient(self.config(sc)).list_topics(timeout=TIMEOUT)
        except Exception as exc:
            raise self.error(sc, "metadata request", exc) from None
        msg = f"connector {self.name!r}: {len(md.brokers)} broker(s) at {self.spec['bootstrap_servers']}"
        if self.topic:
            msg += f", topic {self.topic} " + ("exists" if self.topic in md.topics else "not created yet")
        return msg
