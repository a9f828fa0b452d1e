"""Head office's HTTP API against its own /openapi.json (schemathesis, as tests/test_api_schemathesis.py
does for a site): no 5xx, and every 4xx says why. Served by uvicorn in a thread, on a store seeded
with a few sites' events, with an admin token."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from gateway.auth.tokens import TokenStore
from gateway.core.clock import FakeClock
from gateway.fleet import samples
from gateway.fleet.config import SiteEntry
from gateway.fleet.events import parse_event
from gateway.fleet.metrics import FleetMetrics
from gateway.fleet.service import FleetService
from gateway.fleet.store import FleetStore
from gateway.web.hq_app import create_hq_app
from tests.support.http_thread import ServerThread
from tests.test_api_schemathesis import Api, examples

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 20, 9, 0, tzinfo=TZ)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    store = FleetStore(f"sqlite:///{tmp_path / 'hq.db'}")
    docs = [samples.health_event("a", NOW), samples.device_event("b", "lamp-1", online=False, since=NOW),
            samples.ticket_event("a", samples.ticket("T-1", opened_at=NOW - timedelta(hours=1)), NOW),
            samples.round_event("a", "r1", scheduled_start=NOW - timedelta(hours=10), expected=4, visited=3, at=NOW)]
    store.write_batch([parse_event(samples.topic(d["site"], samples.kind_of(d)), samples.encode(d)) for d in docs])
    tokens = TokenStore.in_dir(tmp_path)
    admin = tokens.create("schemathesis", "admin").secret
    service = FleetService(store, FakeClock(NOW), TZ, [SiteEntry(id="a", dashboard="http://127.0.0.1:9/")])
    app = create_hq_app(service, FleetMetrics(), lambda: {"status": "ok"}, tokens=tokens, read_open=False)
    with ServerThread(app) as running:
        yield Api(running.url, {"Authorization": f"Bearer {admin}"})
    tokens.close()
    store.close()


def test_no_operation_answers_5xx_and_every_4xx_carries_a_json_detail(api: Api) -> None:
    schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is not installed: "
                                       ".venv/bin/pip install 'schemathesis>=4.3'")
    schema = schemathesis.openapi.from_url(f"{api.url}/openapi.json", headers=api.headers)
    operations = [result.ok() for result in schema.get_all_operations()]
    calls: Counter[str] = Counter()
    for operation in operations:
        examples(operation, api, calls)()
    print(f"\nschemathesis {schemathesis.__version__}: {len(operations)} operations, by status {dict(calls)}")
    paths = {op.path for op in operations}
    assert {"/api/sites", "/api/sites/{site}", "/api/tickets", "/api/rounds", "/api/reports/monthly"} <= paths
    assert calls["2xx"] > 0 and calls["4xx"] > 0
