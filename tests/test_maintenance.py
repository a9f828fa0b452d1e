"""Planned maintenance: schedules -> due dates (hand-computed), planned tickets opened once (also
across a restart), checklist results, taps as proof of presence, expired equipment, config errors."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from gateway.core.model import Decoded, DeviceInfo, Processed, RawMessage, Tap
from gateway.core.siteload import parse_site
from gateway.maintenance.assets import AssetDates, read_asset_dates
from gateway.maintenance.checklist import NoSuchItem, NotInspectable
from gateway.maintenance.config import MaintenanceConfig, Schedule
from gateway.maintenance.consumer import MaintenanceConsumer, TapPlaces
from gateway.maintenance.planner import Planner
from gateway.maintenance.service import MaintenanceService
from gateway.patrol.model import PatrolPlan
from gateway.tickets.policy import TicketPolicy
from gateway.tickets.service import TicketService
from gateway.tickets.store import TicketStore

TZ = ZoneInfo("Asia/Shanghai")
INVENTORY = {
    "ext-01": DeviceInfo("ext-01", "extinguisher", "b1", location="1号楼大堂 B1 lobby", owner="消防组 Fire team"),
    "ext-02": DeviceInfo("ext-02", "extinguisher", "b2"),
    "door-01": DeviceInfo("door-01", "fire_door", "b1"),
    "lamp-01": DeviceInfo("lamp-01", "lamp", "b1"),
}
MONTHLY = Schedule(id="ext", name="灭火器月检 Extinguisher check", every="monthly", lead=timedelta(days=3),
                   kinds=["extinguisher"],
                   checklist=["pressure gauge in green zone 压力表在绿区", "seal intact 铅封完好",
                              "hose undamaged 软管完好"])
DAILY = Schedule(id="door", name="防火门日检 Fire door check", every="daily", kinds=["fire_door"],
                 checklist=["closes 能关闭"])


def at(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=TZ)


def planner(schedules: list[Schedule], dates: dict[str, AssetDates] | None = None) -> Planner:
    return Planner(schedules, INVENTORY, dates or {}, tz=TZ, open_at=time(8, 0))


def make(db: Path, schedules: list[Schedule], dates: dict[str, AssetDates] | None = None
         ) -> tuple[TicketService, MaintenanceService]:
    tickets = TicketService(TicketStore(f"sqlite:///{db}"), site_id="s", tz=TZ, policy=TicketPolicy())
    service = MaintenanceService(tickets, planner(schedules, dates), inventory=INVENTORY, dates=dates or {},
                                 checkpoints={"ext-01": "cp-lobby"}, tz=TZ)
    return tickets, service


# -- due dates -----------------------------------------------------------------------------------

def test_monthly_quarterly_and_yearly_due_dates_over_a_year() -> None:
    p = planner([])
    year = (date(2026, 1, 1), date(2026, 12, 31))
    assert p.due_dates(MONTHLY, *year) == [date(2026, m, 1) for m in range(1, 13)]
    quarterly = Schedule(id="q", name="q", every="quarterly", kinds=["lift"])
    assert p.due_dates(quarterly, *year) == [date(2026, 1, 1), date(2026, 4, 1), date(2026, 7, 1), date(2026, 10, 1)]
    drill = Schedule(id="d", name="d", rrule="FREQ=YEARLY;BYMONTH=11;BYMONTHDAY=9", per="site")
    assert p.due_dates(drill, *year) == [date(2026, 11, 9)]
    # The 31st exists in seven months of 2026 (RRULE skips the others, it does not move them).
    last = Schedule(id="l", name="l", rrule="FREQ=MONTHLY;BYMONTHDAY=31", kinds=["lamp"])
    assert p.due_dates(last, *year) == [date(2026, m, 31) for m in (1, 3, 5, 7, 8, 10, 12)]
    assert len(p.due_dates(DAILY, *year)) == 365


def test_the_planners_cached_rules_give_the_dates_a_fresh_rule_gives_in_any_order_of_asking() -> None:
    fortnightly = Schedule(id="f", name="f", rrule="FREQ=WEEKLY;INTERVAL=2;BYDAY=TU", start=date(2024, 3, 5),
                           kinds=["fire_door"])
    p = planner([MONTHLY, DAILY, fortnightly])
    assert {s.id for s, _ in p.plans} == {"ext", "door", "f"}  # all three use the planner's cached rules
    ranges = [(date(2027, 5, 1), date(2027, 6, 30)), (date(2026, 1, 1), date(2026, 1, 31)),
              (date(2026, 1, 15), date(2027, 7, 1)), (date(2025, 12, 31), date(2026, 1, 2))]
    for schedule in (MONTHLY, DAILY, fortnightly):
        for first, last in ranges * 2:
            fresh = schedule.rule().between(datetime.combine(first, time()), datetime.combine(last, time()), inc=True)
            assert p.due_dates(schedule, first, last) == [d.date() for d in fresh]


def test_occurrences_open_ahead_by_the_lead_and_are_due_by_the_end_of_the_day() -> None:
    p = planner([MONTHLY])
    # Due 2026-03-01; lead 3 days before 08:00 -> opens 2026-02-26 08:00 site time.
    assert p.occurrences(at(2026, 2, 26, 7, 59), at(2026, 2, 26, 7, 59)) == []
    found = p.occurrences(at(2026, 2, 26, 8), at(2026, 2, 26, 8))
    assert [(o.target.id, o.due, o.opens_at) for o in found] == [
        ("ext-01", date(2026, 3, 1), at(2026, 2, 26, 8)), ("ext-02", date(2026, 3, 1), at(2026, 2, 26, 8))]
    assert found[0].resolve_due == datetime(2026, 3, 1, 23, 59, 59, tzinfo=TZ)
    assert p.next_opening(at(2026, 2, 26, 8)) == at(2026, 3, 29, 8)  # April 1st minus 3 days


def test_the_asset_registers_last_inspection_and_next_due() -> None:
    dates = {"ext-01": AssetDates(last_inspection=date(2026, 3, 1), next_due=date(2026, 3, 15))}
    p = planner([MONTHLY], dates)
    found = p.occurrences(at(2026, 2, 20), at(2026, 3, 20))
    assert sorted((o.target.id, o.due) for o in found) == [("ext-01", date(2026, 3, 15)),
                                                            ("ext-02", date(2026, 3, 1))]


# -- tickets -------------------------------------------------------------------------------------

def test_a_due_occurrence_becomes_one_planned_ticket_even_after_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "tickets.db"
    tickets, service = make(db, [MONTHLY])
    opened = service.open_due(at(2026, 2, 26, 8), at(2026, 2, 26, 8))
    assert len(opened) == 2
    t = next(t for t in opened if t.device_id == "ext-01")
    assert (t.source, t.channel, t.zone, t.place) == ("planned", "schedule", "b1", "1号楼大堂 B1 lobby")
    assert t.team == "消防组 Fire team"  # the asset's owner
    assert t.resolve_due_at == datetime(2026, 3, 1, 23, 59, 59, tzinfo=TZ)
    assert [i["item"] for i in t.checklist] == list(MONTHLY.checklist)
    assert t.labels["checkpoint"] == "cp-lobby"
    # Finish one of them, then "restart": a new service on the same store file, scanning again.
    service.record(t.id, 0, "ok", note="", actor="eng", now=at(2026, 2, 27, 9))
    service.record(t.id, 1, "ok", note="", actor="eng", now=at(2026, 2, 27, 9))
    service.record(t.id, 2, "ok", note="", actor="eng", now=at(2026, 2, 27, 9))
    tickets.store.close()
    tickets2, service2 = make(db, [MONTHLY])
    assert service2.open_due(at(2026, 2, 26, 8), at(2026, 2, 28, 8)) == []
    assert len(tickets2.list(source="planned")) == 2


def test_a_planned_ticket_is_opened_and_given_its_owners_team_in_one_commit(tmp_path: Path) -> None:
    tickets, service = make(tmp_path / "t.db", [MONTHLY])
    told: list[tuple[str, str, int, str | None]] = []
    tickets.notifier.events = lambda _kind, doc: told.append((doc["id"], doc["change"], len(doc["history"]),
                                                              doc["team"]))
    before = tickets.commits
    [t] = [t for t in service.open_due(at(2026, 2, 26, 8), at(2026, 2, 26, 8)) if t.device_id == "ext-01"]
    assert [(h.action, h.note) for h in t.history] == [("opened", t.history[0].note),
                                                       ("assigned", "owner team 消防组 Fire team")]
    assert (t.team, t.assignee, t.revision) == ("消防组 Fire team", "消防组 Fire team", 2)
    assert tickets.commits - before == 2  # two tickets, one commit each, assignment included
    # Told as two changes, the opening first, each as it was then.
    assert [x for x in told if x[0] == t.id] == [(t.id, "opened", 1, None), (t.id, "assigned", 2, "消防组 Fire team")]
    assert tickets.get(t.id).to_json() == t.to_json()  # type: ignore[union-attr]


def test_the_consumer_opens_on_its_tick_and_catches_up_after_downtime(tmp_path: Path) -> None:
    tickets, service = make(tmp_path / "t.db", [DAILY])
    consumer = MaintenanceConsumer(service, TapPlaces(None))
    consumer.tick(at(2026, 5, 4, 7))
    assert tickets.list(source="planned") == []
    consumer.tick(at(2026, 5, 4, 8))
    state = consumer.snapshot()
    # Down from May 4th 08:00 to May 6th 10:00: May 5th and 6th open on the first tick after.
    again = MaintenanceConsumer(service, TapPlaces(None))
    again.restore(state)
    again.tick(at(2026, 5, 6, 10))
    assert sorted(t.dedup_key for t in tickets.list(source="planned")) == [
        "planned:door:door-01:2026-05-04", "planned:door:door-01:2026-05-05", "planned:door:door-01:2026-05-06"]


def test_results_resolve_the_ticket_and_a_fault_opens_a_repair(tmp_path: Path) -> None:
    tickets, service = make(tmp_path / "t.db", [MONTHLY])
    t = next(t for t in service.open_due(at(2026, 2, 26, 8), at(2026, 2, 26, 8)) if t.device_id == "ext-01")
    service.record(t.id, 0, "ok", note="", actor="王强", now=at(2026, 2, 27, 9))
    after = service.record(t.id, 1, "fault", note="seal broken 铅封断", actor="王强", now=at(2026, 2, 27, 9, 1))
    assert after.status == "open"
    repair_id = after.checklist[1]["repair"]
    repair = tickets.get(repair_id)
    assert repair is not None and repair.source == "repair" and repair.device_id == "ext-01"
    assert t.id in repair.description and "seal broken" in repair.description
    done = service.record(t.id, 2, "ok", note="", actor="李工", now=at(2026, 2, 27, 9, 5))
    assert (done.status, done.resolved_by) == ("resolved", "李工")
    assert "1 fault" in done.work_done and repair_id in done.work_done
    with pytest.raises(NotInspectable):
        service.record(t.id, 0, "ok", note="", actor="x", now=at(2026, 2, 27, 10))
    other = next(x for x in tickets.list(source="planned") if x.device_id == "ext-02")
    with pytest.raises(NoSuchItem):
        service.record(other.id, 3, "ok", note="", actor="x", now=at(2026, 2, 27, 10))


def test_a_tap_at_the_assets_checkpoint_is_recorded_on_its_open_planned_ticket(tmp_path: Path) -> None:
    tickets, service = make(tmp_path / "t.db", [MONTHLY])
    service.open_due(at(2026, 2, 26, 8), at(2026, 2, 26, 8))
    plan = PatrolPlan.model_validate({
        "checkpoints": [{"id": "cp-lobby", "reader": "rd-lobby", "device": "ext-01"},
                        {"id": "cp-gate", "tag": "04AA"}],
        "guards": [{"id": "G017", "name": "王强", "card": "G0017"}]})
    consumer = MaintenanceConsumer(service, TapPlaces(plan))
    tap_at = at(2026, 2, 27, 21, 3)

    def batch(device: str, tag: str) -> list[Processed]:
        msg = RawMessage(f"sitegate/s/{device}/tap", b"{}", tap_at)
        return [Processed(1, msg, Decoded(device=device, taps=[Tap(device, tag, tap_at, tap_at)]))]

    consumer.handle(batch("rd-lobby", "G0017"))
    consumer.handle(batch("rd-lobby", "G0017"))  # the journal replays it after a restart: noted once
    consumer.handle(batch("rd-lobby", "UNKNOWN"))  # an unknown card proves nothing
    ext1 = next(t for t in tickets.list(source="planned") if t.device_id == "ext-01")
    proof = [h for h in ext1.history if h.action == "inspected_at_checkpoint"]
    assert [(h.actor, h.at) for h in proof] == [("G017", tap_at)]
    assert "cp-lobby" in proof[0].note
    ext2 = next(t for t in tickets.list(source="planned") if t.device_id == "ext-02")
    assert not any(h.action == "inspected_at_checkpoint" for h in ext2.history)


def test_overview_counts_overdue_work_and_expired_equipment(tmp_path: Path) -> None:
    dates = {"ext-01": AssetDates(expiry=date(2026, 2, 1)), "ext-02": AssetDates(expiry=date(2026, 3, 20)),
             "door-01": AssetDates(expiry=date(2027, 1, 1))}
    _tickets, service = make(tmp_path / "t.db", [MONTHLY], dates)
    service.open_due(at(2026, 2, 26, 8), at(2026, 2, 26, 8))
    before = service.overview(at(2026, 3, 1, 23, 0))
    assert before["counts"] == {"due": 2, "overdue": 0, "expired": 1, "expiring": 1}
    after = service.overview(at(2026, 3, 2, 0, 0))
    assert after["counts"]["overdue"] == 2 and after["counts"]["due"] == 0
    assert [(e["device_id"], e["days_past"]) for e in after["expired"]] == [("ext-01", 29)]


# -- configuration ------------------------------------------------------------------------------

def test_site_schedules_replace_and_switch_off_the_built_ins() -> None:
    config = MaintenanceConfig.model_validate({"schedules": [
        {"id": "drill-yearly", "enabled": False, "per": "site", "every": "yearly", "name": "x"},
        {"id": "extinguisher-monthly", "name": "m", "rrule": "FREQ=MONTHLY;BYMONTHDAY=15",
         "kinds": ["extinguisher"]}]})
    ids = {s.id: s for s in config.effective()}
    assert "drill-yearly" not in ids and ids["extinguisher-monthly"].rrule == "FREQ=MONTHLY;BYMONTHDAY=15"
    assert "fire-door-daily" in ids


def test_config_errors_name_the_file_and_line(tmp_path: Path) -> None:
    site = tmp_path / "site.yaml"
    site.write_text("site: {id: s, name: S, timezone: Asia/Shanghai}\n"
                    "maintenance:\n"
                    "  schedules:\n"
                    "    - id: pumps\n"
                    "      name: pumps\n"
                    "      rrule: FREQ=FORTNIGHTLY\n"
                    "      kinds: [water_pump]\n", encoding="utf-8")
    _site, problems = parse_site(site)
    assert [(p.file, p.line) for p in problems] == [(site, 6)]
    assert "RRULE" in problems[0].message
    csv = tmp_path / "assets.csv"
    csv.write_text("device_id,kind,zone,expiry\next-01,extinguisher,b1,2026-02-30\n", encoding="utf-8")
    found = read_asset_dates(csv)[1]
    assert [(p.file, p.line) for p in found] == [(csv, 2)] and "expiry" in found[0].message
