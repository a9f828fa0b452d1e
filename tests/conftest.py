from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.mosquitto import Broker, mosquitto


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A fresh mosquitto on a free loopback port, configured as a site should configure it."""
    with mosquitto(tmp_path / "mosquitto") as b:
        yield b
