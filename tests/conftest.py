from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.browser import Browser, chromium
from tests.support.gateway_proc import GatewayProcess, write_site
from tests.support.mosquitto import Broker, mosquitto
from tests.support.victoria import Victoria, victoria


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A fresh mosquitto on a free loopback port, configured as a site should configure it."""
    with mosquitto(tmp_path / "mosquitto") as b:
        yield b


@pytest.fixture
def gateway(broker: Broker, tmp_path: Path) -> Iterator[GatewayProcess]:
    """A real `sitegate run` process (site "demo", discovered devices) on the `broker` fixture."""
    gw = GatewayProcess(write_site(tmp_path / "site", site_id="demo", mqtt_url=broker.url))
    gw.start()
    yield gw
    gw.stop()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where browser tests leave their screenshots (for a look after a failure)."""
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture(scope="module")
def module_browser(shots: Path) -> Iterator[Browser]:
    """One headless Chromium per test module (starting one costs seconds)."""
    with chromium(shots) as b:
        yield b


@pytest.fixture
def vm(tmp_path: Path) -> Iterator[Victoria]:
    """A fresh VictoriaMetrics (the InfluxDB write path's real server) on a free loopback port."""
    with victoria(tmp_path / "vm") as v:
        yield v


# The files that take minutes run first: `make test` spreads files over worker processes
# (pytest-xdist, --dist loadfile), and a long file started last would finish alone.
SLOW_FIRST = ("test_oracle.py", "test_headoffice_fleet.py", "test_reliability_fuzz.py",
              "test_live_vs_replay.py", "test_api_schemathesis.py",
              "test_demo_month.py", "test_timeseries_e2e.py",
              "test_hq_replicas.py")


def _slow_rank(item: pytest.Item) -> int:
    name = item.path.name
    return SLOW_FIRST.index(name) if name in SLOW_FIRST else len(SLOW_FIRST)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=_slow_rank)  # stable: the order within a file and among the rest is kept
    # VictoriaMetrics keeps the real time and refuses points stamped far ahead of it, so a test that
    # writes through it cannot run with the clock moved (make test-clock leaves `real_clock` out).
    for item in items:
        if "vm" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.real_clock)
