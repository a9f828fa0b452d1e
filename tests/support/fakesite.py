"""A whole gateway on a fake clock, without a broker: messages in at chosen site times, timers run by
hand. For tests that need days of site time in a second and must not depend on today's date."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from gateway.app.features import attach_features
from gateway.core.clock import FakeClock
from gateway.core.model import Inbound
from gateway.core.siteload import Overrides, load_site
from gateway.ingest.gateway import Gateway


class FakeSite:
    """`folder` holds site.yaml (and what it names); the gateway keeps its data in folder/data."""

    def __init__(self, folder: Path, start: datetime) -> None:
        self.folder = folder
        self.clock = FakeClock(start)
        self.boot()

    def boot(self) -> None:
        site = load_site(self.folder / "site.yaml", Overrides(data=str(self.folder / "data")))
        self.gw = Gateway(site, clock=self.clock, connect_mqtt=False)
        self.features: dict[str, Any] = attach_features(self.gw, offline=True)
        self.gw.start(intake=False)

    def restart(self) -> None:
        """Stop and start again on the same data folder (what a restart keeps, and what it loses)."""
        self.gw.stop()
        self.boot()

    def tickets(self, rule: str, device: str) -> list[dict[str, Any]]:
        return [t.to_json() for t in self.features["tickets"].list(device=device) if t.rule == rule]

    def at(self, when: datetime) -> None:
        """Move the clock to `when` and run the timers, as the pipeline thread does every second."""
        self.clock.set(when)
        self.gw.pipeline.tick()

    def send(self, topic: str, payload: str) -> None:
        self.gw.pipeline.process([Inbound(topic, payload.encode(), self.clock.now().timestamp())])
        self.gw.pipeline.tick()

    def device(self, device: str) -> dict[str, Any]:
        view = self.gw.registry.view(device, self.clock.now())
        assert view is not None, f"no device {device}"
        return view

    def stop(self) -> None:
        self.gw.stop()
