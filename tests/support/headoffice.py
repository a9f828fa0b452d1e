"""The head-office brokers from the shipped examples (examples/headoffice/*.conf) on free loopback
ports: the templating and the process live in gateway/app/headoffice_brokers.py, which
`sitegate demo --sites` uses too, so the tests run exactly what the demo and the docs ship."""

from __future__ import annotations

from pathlib import Path

from gateway.app import headoffice_brokers
from gateway.app.headoffice_brokers import ConfBroker, hq_config, site_config
from tests.support.mosquitto import free_port

__all__ = ["ConfBroker", "hq_broker", "hq_config", "site_broker", "site_config"]


def hq_broker(dir: Path) -> ConfBroker:
    return headoffice_brokers.hq_broker(dir, free_port())


def site_broker(dir: Path, hq: ConfBroker, *, client_id: str | None = None, fast_retry: bool = True) -> ConfBroker:
    return headoffice_brokers.site_broker(dir, free_port(), hq, client_id=client_id, fast_retry=fast_retry)
