"""The rules feature in a whole gateway on a fake clock: messages in, tickets out, over days and restarts."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.support.fakesite import FakeSite

TZ = ZoneInfo("Asia/Shanghai")
# No time-series store: its writer thread runs only in a started gateway, and these tests drive the
# pipeline by hand on a fake clock.
SITE = ("site: {id: t, timezone: Asia/Shanghai, latitude: 31.23, longitude: 121.47}\ninventory: assets.csv\n"
        "timeseries: {embedded: false}\n")


Site = FakeSite  # a gateway on a fake clock (no broker): send messages at given times, tick, read tickets


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "site.yaml").write_text(SITE)
    yield tmp_path


def every(start: datetime, end: datetime, step: timedelta) -> Iterator[datetime]:
    t = start
    while t <= end:
        yield t
        t += step


# -- dawn is not a repair ----------------------------------------------------------------------------

def test_a_dead_lamp_keeps_one_ticket_open_through_the_day_until_it_lights_after_the_next_dusk(
        folder: Path) -> None:
    # Shanghai, 20-21 November 2026: the sun sets near 17:00 and rises near 06:30, so 19:00 and 18:00
    # are dark (the lamp must be lit) and noon is daylight (lamps are off, nothing is expected).
    (folder / "assets.csv").write_text("device_id,kind,zone\nlamp-1,lamp,north\n")
    night1 = datetime(2026, 11, 20, 19, 0, tzinfo=TZ)
    site = Site(folder, night1)
    dark = '{"ENERGY": {"Power": 0, "Voltage": 229, "Current": 0.000}}'  # a dead lamp, as Tasmota reports it
    for when in every(night1, datetime(2026, 11, 21, 18, 25, tzinfo=TZ), timedelta(minutes=5)):
        site.at(when)
        site.send("tele/lamp-1/SENSOR", dark)
        if when == datetime(2026, 11, 21, 12, 0, tzinfo=TZ):
            [ticket] = site.tickets("lighting.lamp_out", "lamp-1")
            assert ticket["status"] == "open" and ticket["condition_cleared"] is False  # dawn was no repair
    [ticket] = site.tickets("lighting.lamp_out", "lamp-1")
    assert datetime.fromisoformat(ticket["opened_at"]) == night1 + timedelta(minutes=10)  # `for: 10m`
    assert ticket["status"] == "open" and ticket["condition_cleared"] is False  # second night, still dark

    lit = datetime(2026, 11, 21, 18, 30, tzinfo=TZ)
    site.at(lit)
    site.send("tele/lamp-1/SENSOR", '{"ENERGY": {"Power": 35, "Voltage": 229, "Current": 0.152}}')
    [ticket] = site.tickets("lighting.lamp_out", "lamp-1")
    assert ticket["status"] == "resolved" and datetime.fromisoformat(ticket["cleared_at"]) == lit
    site.gw.stop()


def test_a_rule_disabled_by_a_live_reload_leaves_its_open_ticket_to_a_person(
        folder: Path, caplog: pytest.LogCaptureFixture) -> None:
    (folder / "assets.csv").write_text("device_id,kind,zone\nlamp-1,lamp,north\n")
    (folder / "site.yaml").write_text(SITE + "rules: [site-rules.yaml]\n")
    (folder / "site-rules.yaml").write_text("rules: []\n")
    t0 = datetime(2026, 11, 20, 19, 0, tzinfo=TZ)
    site = Site(folder, t0)
    site.send("tele/lamp-1/SENSOR", '{"ENERGY": {"Power": 0, "Voltage": 229, "Current": 0.000}}')
    site.at(t0 + timedelta(minutes=10))
    [ticket] = site.tickets("lighting.lamp_out", "lamp-1")
    (folder / "site-rules.yaml").write_text("overrides:\n  - {rule: lighting.lamp_out, enabled: false}\n")
    os.utime(folder / "site-rules.yaml", (t0.timestamp(), t0.timestamp()))  # a new mtime, whatever the clock
    assert site.features["rules"].reloader.check_now() is True
    site.at(t0 + timedelta(hours=20))  # through the night and the day: nothing watches the lamp for this
    [after] = site.tickets("lighting.lamp_out", "lamp-1")
    assert (after["id"], after["status"], after["condition_cleared"]) == (ticket["id"], "open", False)
    assert "lighting.lamp_out on lamp-1 was firing and is no longer watched" in caplog.text
    site.gw.stop()


# -- a device's kind, zone and owner reach the rules as soon as they change --------------------------

def test_a_kind_learned_after_the_first_message_brings_its_rules(folder: Path) -> None:
    # ext-9 is in no inventory: its first message says nothing about what it is (a battery level);
    # the second says it is an extinguisher (what a device says is believed), in the red zone.
    (folder / "assets.csv").write_text("device_id,kind,zone\nlamp-1,lamp,north\n")
    t0 = datetime(2026, 11, 20, 10, 0, tzinfo=TZ)
    site = Site(folder, t0)
    site.send("sitegate/t/ext-9/telemetry", '{"battery": 90}')
    site.at(t0 + timedelta(minutes=1))
    site.send("sitegate/t/ext-9/telemetry", '{"kind": "extinguisher", "pressure_mpa": 0.62}')
    [ticket] = site.tickets("fire.extinguisher_low", "ext-9")
    assert (ticket["kind"], ticket["status"]) == ("extinguisher", "open")
    site.gw.stop()


def test_an_inventory_changed_across_a_restart_reaches_the_rules_timers_and_labels_at_once(folder: Path) -> None:
    (folder / "assets.csv").write_text("device_id,kind,zone,owner\nlamp-1,lamp,north,北区 North team\n")
    t0 = datetime(2026, 11, 20, 19, 0, tzinfo=TZ)
    site = Site(folder, t0)
    site.send("tele/lamp-1/SENSOR", '{"ENERGY": {"Power": 35, "Voltage": 229, "Current": 0.152}}')
    site.at(t0 + timedelta(minutes=5))
    # The lamp was moved to the south path: the inventory says so while the gateway restarts. The lamp
    # never speaks again; a lamp's heartbeat is 15 minutes (docs/configuration.md).
    (folder / "assets.csv").write_text("device_id,kind,zone,owner\nlamp-1,lamp,south,南区 South team\n")
    site.restart()
    for when in every(t0 + timedelta(minutes=6), t0 + timedelta(hours=2), timedelta(minutes=1)):
        site.at(when)
    [ticket] = site.tickets("health.silent", "lamp-1")
    assert datetime.fromisoformat(ticket["opened_at"]) == t0 + timedelta(minutes=15)
    assert (ticket["zone"], ticket["assignee"]) == ("south", "南区 South team")
    site.gw.stop()


def test_a_device_that_the_inventory_no_longer_lists_as_a_lamp_leaves_its_lamp_ticket_to_a_person(
        folder: Path, caplog: pytest.LogCaptureFixture) -> None:
    (folder / "assets.csv").write_text("device_id,kind,zone\nlamp-1,lamp,north\n")
    t0 = datetime(2026, 11, 20, 19, 0, tzinfo=TZ)
    site = Site(folder, t0)
    site.send("tele/lamp-1/SENSOR", '{"ENERGY": {"Power": 0, "Voltage": 229, "Current": 0.000}}')
    site.at(t0 + timedelta(minutes=10))
    assert [t["status"] for t in site.tickets("lighting.lamp_out", "lamp-1")] == ["open"]
    # It was registered wrongly: it is the meter of a lighting board.
    (folder / "assets.csv").write_text("device_id,kind,zone\nlamp-1,power_meter,north\n")
    site.restart()
    site.at(t0 + timedelta(hours=1))
    assert [t["status"] for t in site.tickets("lighting.lamp_out", "lamp-1")] == ["open"]  # no repair seen
    assert "lighting.lamp_out on lamp-1 was firing and is no longer watched" in caplog.text
    assert ("lighting.lamp_out", "lamp-1") not in site.features["rules"].consumer.engine.firing()
    site.gw.stop()
# -- a reader that says it is online is not silent ---------------------------------------------------

def test_a_reader_that_says_it_is_online_and_only_sends_taps_is_not_silent_overnight(folder: Path) -> None:
    # Two fixed readers tapped on each round (every 2 hours); a reader's heartbeat is 1 hour. cp-gate
    # keeps a retained `online` status (its MQTT will says `offline` if it drops); cp-yard has none.
    (folder / "assets.csv").write_text("device_id,kind,zone\ncp-gate,checkpoint_reader,north\n"
                                       "cp-yard,checkpoint_reader,south\n")
    evening = datetime(2026, 11, 20, 20, 0, tzinfo=TZ)
    site = Site(folder, evening)
    site.send("sitegate/t/cp-gate/status", "online")
    for when in every(evening, evening + timedelta(hours=9), timedelta(minutes=5)):
        site.at(when)
        if when.minute == 0 and when.hour % 2 == 0:
            site.send("sitegate/t/cp-gate/tap", '{"tag": "G0017"}')
            site.send("sitegate/t/cp-yard/tap", '{"tag": "G0017"}')
        if when == evening + timedelta(hours=7, minutes=30):  # 03:30, 90 minutes after the last round
            devices = {d["id"]: d for d in site.gw.registry.views(when)}
            assert (devices["cp-gate"]["online"], devices["cp-yard"]["online"]) == (True, False)
    assert site.tickets("health.silent", "cp-gate") == []
    # The reader without a status is silent an hour after each round, until the next round's tap.
    opened = sorted(datetime.fromisoformat(t["opened_at"]) for t in site.tickets("health.silent", "cp-yard"))
    assert opened == [evening + timedelta(hours=h) for h in (1, 3, 5, 7, 9)]
    site.gw.stop()
