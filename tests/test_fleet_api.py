"""The fleet API in-process on a fake clock, against figures worked out by hand: the site list
(counts, overdue judged at read time, status and its reasons, sorting), one site, tickets and rounds
across sites, the monthly report ranked, site-limited tokens, and the example hq.yaml."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from gateway.app.cli import app as cli
from gateway.auth.tokens import TokenStore
from gateway.core.clock import FakeClock
from gateway.fleet import samples
from gateway.fleet.config import SiteEntry, load_hq
from gateway.fleet.events import parse_event
from gateway.fleet.metrics import FleetMetrics
from gateway.fleet.service import FleetService
from gateway.fleet.store import FleetStore
from gateway.web.hq_app import create_hq_app

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 20, 9, 0, tzinfo=TZ)
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "headoffice" / "hq.yaml"


def put(store: FleetStore, *docs: dict[str, Any]) -> None:
    store.write_batch([parse_event(samples.topic(d["site"], samples.kind_of(d)), samples.encode(d)) for d in docs])


def tick(site: str, tid: str, **kw: Any) -> dict[str, Any]:
    data = samples.ticket(tid, **kw)
    return samples.ticket_event(site, data, kw["opened_at"])


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[TestClient, FakeClock, TokenStore]]:
    store = FleetStore(f"sqlite:///{tmp_path / 'hq.db'}")
    minute = timedelta(minutes=1)
    put(store,
        # a: one critical open ticket, due later -> red for the critical
        samples.health_event("a", NOW - minute, timeliness_month=0.97),
        tick("a", "T-1", opened_at=NOW - timedelta(hours=1), severity="critical",
             deadlines={"respond": NOW + timedelta(hours=1)}),
        tick("a", "T-2", opened_at=NOW - timedelta(hours=3), status="closed", revision=4),
        # b: a device offline -> amber
        samples.health_event("b", NOW - minute, timeliness_month=0.91),
        samples.device_event("b", "lamp-7", online=False, since=NOW - timedelta(minutes=20)),
        samples.device_event("b", "lamp-8", online=True, since=NOW - timedelta(minutes=20)),
        # c: silent for 10 minutes -> unknown
        samples.health_event("c", NOW - timedelta(minutes=10)),
        # d: one open ticket due in 30 minutes -> green now, red (overdue) later
        samples.health_event("d", NOW - minute),
        tick("d", "T-9", opened_at=NOW - timedelta(minutes=30), deadlines={"respond": NOW + timedelta(minutes=30)}),
        # last night's rounds (the night that began on Nov 19): a 9/10 + 7/10, d 5/5
        samples.round_event("a", "r1", scheduled_start=datetime(2026, 11, 19, 22, 0, tzinfo=TZ), expected=10,
                            visited=9, at=NOW - timedelta(hours=8)),
        samples.round_event("a", "r2", scheduled_start=datetime(2026, 11, 20, 2, 0, tzinfo=TZ), expected=10,
                            visited=7, at=NOW - timedelta(hours=6)),
        samples.round_event("d", "r1", scheduled_start=datetime(2026, 11, 19, 22, 0, tzinfo=TZ), expected=5,
                            visited=5, at=NOW - timedelta(hours=8)),
        samples.round_event("d", "r0", scheduled_start=datetime(2026, 11, 18, 22, 0, tzinfo=TZ), expected=5,
                            visited=0, at=NOW - timedelta(days=1)))
    clock = FakeClock(NOW)
    entries = [SiteEntry(id="a", name="海景花园 Harbor View", dashboard="http://10.1.0.5:8080/"), SiteEntry(id="e")]
    service = FleetService(store, clock, TZ, entries)
    tokens = TokenStore.in_dir(tmp_path)
    app = create_hq_app(service, FleetMetrics(), lambda: {"status": "ok"}, tokens=tokens, read_open=True)
    with TestClient(app) as client:
        yield client, clock, tokens
    tokens.close()
    store.close()


def by_site(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["site"]: r for r in rows}


def test_the_site_list_has_the_counts_and_status_worked_out_by_hand(world: Any) -> None:
    client, _clock, _tokens = world
    rows = by_site(client.get("/api/sites").json())
    assert set(rows) == {"a", "b", "c", "d", "e"}
    a, b, c, d, e = (rows[s] for s in "abcde")
    assert (a["open_tickets"], a["critical_tickets"], a["overdue_tickets"]) == (1, 1, 0)
    assert a["status"] == "red" and any("critical" in r for r in a["reasons"])
    assert a["name"] == "海景花园 Harbor View" and a["dashboard"] == "http://10.1.0.5:8080/"
    assert a["timeliness_month"] == 0.97
    assert a["patrol_coverage_last_night"] == pytest.approx(16 / 20)
    assert (b["status"], b["devices_offline"]) == ("amber", 1)
    assert c["status"] == "unknown" and any("not heard for 10 min" in r for r in c["reasons"])
    assert c["causes"] == [{"cause": "silent", "minutes": 10}]
    assert a["causes"] == [{"cause": "critical", "count": 1}]
    assert d["status"] == "green" and d["reasons"] == [] and d["patrol_coverage_last_night"] == 1.0
    assert e["status"] == "unknown" and e["last_heard"] is None and any("never" in r for r in e["reasons"])
    assert a["last_heard"] == (NOW - timedelta(minutes=1)).isoformat()
    for key in ("site", "name", "status", "open_tickets", "overdue_tickets", "critical_tickets", "last_heard"):
        assert key in a  # CONTRACT.md's shape


def test_overdue_is_judged_when_read(world: Any) -> None:
    client, clock, _tokens = world
    clock.advance(timedelta(minutes=31))  # d's respond deadline (NOW + 30 min) has passed
    d = by_site(client.get("/api/sites").json())["d"]
    assert (d["overdue_tickets"], d["status"]) == (1, "red")
    [ticket] = client.get("/api/tickets", params={"site": "d"}).json()
    assert ticket["overdue"] is True and ticket["site"] == "d" and ticket["id"] == "T-9"


def test_sorting_by_any_column(world: Any) -> None:
    client, _clock, _tokens = world
    default = [r["site"] for r in client.get("/api/sites").json()]
    assert default[0] == "a" and default[-1] == "d"  # red first, green last
    by_open = [r["site"] for r in client.get("/api/sites", params={"sort": "open_tickets", "desc": True}).json()]
    assert by_open[:2] == ["a", "d"]
    by_cov = [r["site"] for r in client.get("/api/sites", params={"sort": "patrol_coverage_last_night"}).json()]
    assert by_cov[:2] == ["a", "d"] and set(by_cov[2:]) == {"b", "c", "e"}  # no rounds: last
    bad = client.get("/api/sites", params={"sort": "colour"})
    assert bad.status_code == 400 and "is not a column" in bad.json()["detail"]


def test_one_site_with_its_tickets_and_rounds(world: Any) -> None:
    client, _clock, _tokens = world
    a = client.get("/api/sites/a").json()
    assert sorted(t["id"] for t in a["tickets"]) == ["T-1", "T-2"]
    assert sorted(r["round_id"] for r in a["rounds"]) == ["r1", "r2"]
    missing = client.get("/api/sites/zz")
    assert missing.status_code == 404 and "No site 'zz'" in missing.json()["detail"]


def test_tickets_and_rounds_across_sites_with_filters(world: Any) -> None:
    client, _clock, _tokens = world
    open_ = client.get("/api/tickets", params={"status": "open"}).json()
    assert sorted((t["site"], t["id"]) for t in open_) == [("a", "T-1"), ("d", "T-9")]
    assert {"id", "rule", "severity", "status", "history", "deadlines", "site"} <= set(open_[0])
    assert client.get("/api/tickets", params={"status": "shut"}).status_code == 400
    rounds = client.get("/api/rounds", params={"date": "2026-11-19"}).json()
    assert sorted((r["site"], r["round_id"]) for r in rounds) == [("a", "r1"), ("a", "r2"), ("d", "r1")]


def test_a_token_limited_to_sites_sees_only_them(world: Any) -> None:
    client, _clock, tokens = world
    secret = tokens.create("north region", "viewer", ["a", "c"]).secret
    auth = {"Authorization": f"Bearer {secret}"}
    assert sorted(r["site"] for r in client.get("/api/sites", headers=auth).json()) == ["a", "c"]
    refused = client.get("/api/sites/d", headers=auth)
    assert refused.status_code == 403 and "a, c" in refused.json()["detail"]
    assert client.get("/api/tickets", params={"site": "d"}, headers=auth).status_code == 403
    assert {t["site"] for t in client.get("/api/tickets", headers=auth).json()} == {"a"}
    report = client.get("/api/reports/monthly", params={"month": "2026-11"}, headers=auth).json()
    assert sorted(r["site"] for r in report["sites"]) == ["a", "c"]


def test_the_monthly_report_across_sites_ranked(tmp_path: Path) -> None:
    store = FleetStore(f"sqlite:///{tmp_path / 'hq.db'}")
    h = timedelta(hours=1)
    t1 = datetime(2026, 11, 5, 10, 0, tzinfo=TZ)
    t2 = datetime(2026, 11, 10, 10, 0, tzinfo=TZ)
    t3 = datetime(2026, 11, 3, 8, 0, tzinfo=TZ)
    put(store,
        # a: respond on time + resolve on time (T-1); respond late + resolve never done (T-2): 2 of 4
        tick("a", "T-1", opened_at=t1, status="resolved", revision=3, resolved_by="eng",
             deadlines={"respond": t1 + h, "resolve": t1 + 24 * h},
             done={"respond": t1 + h / 2, "resolve": t1 + 5 * h}),
        tick("a", "T-2", opened_at=t2, status="acknowledged", revision=2,
             deadlines={"respond": t2 + h, "resolve": t2 + 48 * h}, done={"respond": t2 + 2 * h}),
        # b: respond on time; its resolve deadline is in December (not judged in November)
        tick("b", "T-1", opened_at=t3, status="acknowledged", revision=2,
             deadlines={"respond": t3 + h, "resolve": datetime(2026, 12, 20, tzinfo=TZ)},
             done={"respond": t3 + h / 2}),
        samples.round_event("a", "r1", scheduled_start=datetime(2026, 11, 10, 22, 0, tzinfo=TZ), expected=10,
                            visited=8, at=t2),
        samples.round_event("b", "r1", scheduled_start=datetime(2026, 11, 11, 22, 0, tzinfo=TZ), expected=10,
                            visited=10, at=t2),
        samples.round_event("b", "r0", scheduled_start=datetime(2026, 10, 31, 22, 0, tzinfo=TZ), expected=10,
                            visited=0, at=t2))  # October: not counted
    service = FleetService(store, FakeClock(datetime(2026, 12, 2, 9, 0, tzinfo=TZ)), TZ)
    app = create_hq_app(service, FleetMetrics(), lambda: {"status": "ok"})
    with TestClient(app) as client:
        report = client.get("/api/reports/monthly", params={"month": "2026-11"}).json()
        assert client.get("/api/reports/monthly", params={"month": "2026-13"}).status_code == 400
    store.close()
    sites = {r["site"]: r for r in report["sites"]}
    assert [r["site"] for r in report["sites"]] == ["b", "a"]
    assert (sites["b"]["rank"], sites["a"]["rank"]) == (1, 2)
    assert sites["a"]["timeliness_overall"] == 0.5 and sites["b"]["timeliness_overall"] == 1.0
    assert sites["a"]["timeliness"]["respond"] == 0.5 and sites["a"]["timeliness"]["resolve"] == 0.5
    assert (sites["a"]["tickets"], sites["b"]["tickets"]) == (2, 1)
    assert (sites["a"]["patrol_coverage"], sites["b"]["patrol_coverage"]) == (0.8, 1.0)
    overall = report["overall"]
    assert overall["tickets"] == 3
    assert overall["timeliness"]["respond"] == pytest.approx(2 / 3)
    assert overall["timeliness"]["resolve"] == 0.5
    assert overall["timeliness_overall"] == pytest.approx(3 / 5)
    assert overall["patrol_coverage"] == pytest.approx(18 / 20)


def test_the_example_hq_file_loads_and_its_sites_are_listed(tmp_path: Path) -> None:
    cfg = load_hq(EXAMPLE, data=str(tmp_path), http="127.0.0.1:18090")
    assert cfg.http.port == 18090
    assert cfg.file.hq.id == "estate-hq" and cfg.client_id == "sitegate-hq-estate-hq-1"
    assert cfg.mqtt.protocol == "5" and cfg.database_url == f"sqlite:///{tmp_path / 'hq.db'}"
    store = FleetStore(cfg.database_url)
    service = FleetService(store, FakeClock(NOW), cfg.tz, cfg.file.sites)
    rows = service.sites()
    store.close()
    assert {r["site"] for r in rows} == {"harbor-view", "river-park", "hill-court"}
    assert all(r["status"] == "unknown" for r in rows)


def test_a_bad_hq_file_says_where(tmp_path: Path) -> None:
    bad = tmp_path / "hq.yaml"
    bad.write_text("hq: {id: x, name: X, timezone: Mars/Olympus}\nmqtt: {url: ftp://nope}\n")
    result = CliRunner().invoke(cli, ["hq", "--config", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:1:" in result.output and "time zone" in result.output
    assert f"{bad}:2:" in result.output


def test_hq_token_create_limits_a_token_to_sites(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["hq", "token", "create", "--config", str(EXAMPLE), "--data", str(tmp_path),
                                      "--role", "viewer", "--name", "east", "--sites", "river-park,hill-court"])
    assert result.exit_code == 0, result.output
    secret = result.stdout.strip().splitlines()[-1]
    with _store(tmp_path) as store:
        info = store.verify(secret).info
    assert info is not None and info.zones == ("river-park", "hill-court") and info.role == "viewer"


class _store:
    def __init__(self, path: Path) -> None:
        self.store = TokenStore.in_dir(path)

    def __enter__(self) -> TokenStore:
        return self.store

    def __exit__(self, *_exc: object) -> None:
        self.store.close()


def test_silent_after_is_the_head_offices_setting() -> None:
    """Ten minutes without a word: unknown with the default five, still green with fifteen (a demo on
    a fast clock, or a site whose health comes less often)."""
    from datetime import timedelta

    from gateway.fleet.status import site_status

    quiet = {"critical": 0, "overdue": 0, "offline": 0, "health": "ok", "silent_s": 600.0}
    assert site_status(**quiet).status == "unknown"  # type: ignore[arg-type]
    assert site_status(**quiet, stale_after=timedelta(minutes=15)).status == "green"  # type: ignore[arg-type]
