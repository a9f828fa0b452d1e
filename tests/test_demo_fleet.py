"""`sitegate demo --sites 2`: the newcomer's one command for a head office fills the fleet page with
each site's own figures, through the real bridges, and Ctrl-C stops every part with one line."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from gateway.app.headoffice_brokers import mosquitto_binary
from tests.support.gateway_proc import wait_for
from tests.support.mosquitto import free_port

pytestmark = [pytest.mark.timeout(300),
              pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto is not installed (make system-deps)")]


def _open(url: str) -> int:
    tickets = httpx.get(url + "api/tickets", params={"limit": 5000}, timeout=10).json()
    return sum(t["status"] in ("open", "acknowledged") for t in tickets)


def test_two_sites_fill_the_fleet_page_with_their_own_counts(tmp_path: Path) -> None:
    port = free_port()  # the fleet page; the sites' dashboards are where its links say
    demo = subprocess.Popen([sys.executable, "-m", "gateway", "demo", "--sites", "2", "--http", f"127.0.0.1:{port}",
                             "--data", str(tmp_path / "fleet"), "--speed", "120"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        hq = f"http://127.0.0.1:{port}/"

        def settled() -> bool:
            rows = {r["site"]: r for r in httpx.get(hq + "api/sites", timeout=10).json()}
            if set(rows) != {"harbor-view", "river-park"}:
                return False
            return all(rows[s]["open_tickets"] == _open(rows[s]["dashboard"]) > 0 for s in rows)

        try:
            wait_for(settled, 150, "both sites' open tickets on the fleet page, equal to each site's own API")
        except TimeoutError:
            logs = {p.name: p.read_text(errors="replace")[-600:] for p in (tmp_path / "fleet").glob("*.log")}
            raise AssertionError(f"the fleet page never settled; the parts' logs end with {logs}") from None
    finally:
        demo.send_signal(signal.SIGINT)
        out, _ = demo.communicate(timeout=60)
    assert demo.returncode == 0, out
    assert "open http://127.0.0.1:" in out and "江畔公园 River Park" in out
    assert out.strip().splitlines()[-1].startswith("Sitegate fleet demo stopped: head office, 2 sites")
