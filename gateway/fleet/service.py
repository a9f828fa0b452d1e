"""What the fleet API answers, from the store and a clock: the site list with counts and status, one
site with its tickets and rounds, tickets and rounds across sites, and the monthly report.

Overdue is decided here, at read time, from each ticket's next pending deadline and `now`, so a
ticket becomes overdue on the page when its deadline passes, without waiting for an event.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from gateway.core.clock import Clock
from gateway.fleet.config import SiteEntry
from gateway.fleet.report import fleet_month, site_month
from gateway.fleet.status import STALE, site_status
from gateway.fleet.store import ACTIVE, FleetStore
from gateway.fleet.tickets import ticket_from_json
from gateway.reports.month import Month
from gateway.reports.monthly import LOOKBACK, READ_AHEAD

SORTABLE = ("site", "name", "status", "open_tickets", "overdue_tickets", "critical_tickets", "last_heard",
            "timeliness_month", "patrol_coverage_last_night", "devices_offline")
STATUS_ORDER = {"red": 0, "unknown": 1, "amber": 2, "green": 3}
FINISHED = ("completed", "incomplete")


class UnknownSite(LookupError):
    pass


@dataclass
class FleetService:
    store: FleetStore
    clock: Clock
    tz: ZoneInfo
    entries: Sequence[SiteEntry] = ()
    silent_after: timedelta = STALE  # a site not heard for longer shows as unknown

    def _entry(self, site: str) -> SiteEntry | None:
        return next((e for e in self.entries if e.id == site), None)

    def site_tz(self, site: str) -> ZoneInfo:
        entry = self._entry(site)
        return ZoneInfo(entry.timezone) if entry is not None and entry.timezone else self.tz

    # -- sites ----------------------------------------------------------------------------------
    def sites(self, allowed: Collection[str] | None = None, sort: str = "status",
              desc: bool = False) -> list[dict[str, Any]]:
        if sort not in SORTABLE:
            raise ValueError(f"sort={sort!r} is not a column; use one of {', '.join(SORTABLE)}.")
        now = self.clock.now()
        rows = {r["site"]: r for r in self.store.site_rows(now.timestamp())}
        last_night = (now.astimezone(self.tz).date() - timedelta(days=1))
        coverage = self.store.coverage_by_site(last_night)
        ids = set(rows) | {e.id for e in self.entries}
        out = [self._row(site, rows.get(site), coverage.get(site), now) for site in ids
               if allowed is None or site in allowed]

        def value(r: dict[str, Any]) -> Any:
            return STATUS_ORDER[r["status"]] if sort == "status" else r[sort]

        # Ties stay in site order either way (a stable sort with reverse keeps equal keys in order);
        # a site without a value (no rounds last night, never heard) comes last either way.
        out.sort(key=lambda r: r["site"])
        out.sort(key=lambda r: value(r) if value(r) is not None else 0, reverse=desc)
        out.sort(key=lambda r: value(r) is None)
        return out

    def _row(self, site: str, row: dict[str, Any] | None, coverage: tuple[int, int] | None,
             now: datetime) -> dict[str, Any]:
        entry = self._entry(site)
        row = row or {"name": "", "last_heard": None, "health": None, "open_tickets": 0, "critical_tickets": 0,
                      "overdue_tickets": 0, "devices_known": 0, "devices_offline_known": 0}
        health = row["health"] or {}
        offline = row["devices_offline_known"] if row["devices_known"] else int(health.get("devices_offline") or 0)
        heard = row["last_heard"]
        silent = now.timestamp() - heard if heard is not None else None
        state = site_status(critical=row["critical_tickets"], overdue=row["overdue_tickets"], offline=offline,
                            health=health.get("status"), silent_s=silent,
                            stale_after=self.silent_after)
        visited, expected = coverage or (0, 0)
        timeliness = health.get("timeliness_month")
        return {
            "site": site, "name": (entry.name if entry and entry.name else row["name"]) or site,
            "status": state.status, "reasons": state.reasons, "causes": state.causes,
            "open_tickets": row["open_tickets"], "overdue_tickets": row["overdue_tickets"],
            "critical_tickets": row["critical_tickets"],
            "last_heard": datetime.fromtimestamp(heard, self.tz).isoformat() if heard is not None else None,
            "timeliness_month": timeliness if isinstance(timeliness, int | float) else None,
            "patrol_coverage_last_night": visited / expected if expected else None,
            "devices_offline": offline, "dashboard": entry.dashboard if entry else None,
            "gateway": health.get("status"),
        }

    def site(self, site: str) -> dict[str, Any]:
        found = [r for r in self.sites() if r["site"] == site]
        if not found:
            known = ", ".join(sorted(r["site"] for r in self.sites())) or "none yet"
            raise UnknownSite(f"No site '{site}' has been heard from or configured (known: {known}).")
        return {**found[0], "tickets": self.tickets([site], limit=500),
                "rounds": self.rounds([site], limit=100), "devices": self.store.devices(site)}

    # -- tickets and rounds ---------------------------------------------------------------------
    def tickets(self, sites: Collection[str] | None = None, status: Sequence[str] | None = None,
                limit: int | None = 1000) -> list[dict[str, Any]]:
        now = self.clock.now().timestamp()
        out = []
        for site, body, due in self.store.tickets(sites, status, limit=limit):
            overdue = body.get("status") in ACTIVE and due is not None and due <= now
            out.append({**body, "site": site, "overdue": overdue})
        return out

    def rounds(self, sites: Collection[str] | None = None, night: str | None = None,
               limit: int | None = 1000) -> list[dict[str, Any]]:
        return [{**body, "site": site} for site, body in self.store.rounds(sites, night=night, limit=limit)]

    # -- monthly report -------------------------------------------------------------------------
    def monthly(self, month: Month, allowed: Collection[str] | None = None) -> dict[str, Any]:
        now = self.clock.now()
        names = {r["site"]: r["name"] for r in self.sites(allowed)}
        rows = []
        for site in sorted(names):
            tz = self.site_tz(site)
            start, end = month.start(tz), month.end(tz)
            found = self.store.tickets([site], opened_from=(start - LOOKBACK).timestamp(),
                                       opened_to=(end + READ_AHEAD).timestamp())
            tickets = [ticket_from_json(site, body) for _s, body, _d in found]
            rounds = self.store.rounds([site], day_from=start.date().isoformat(), day_to=end.date().isoformat())
            done = [body for _s, body in rounds if body.get("status") in FINISHED]
            coverage = (sum(int(b["visited"]) for b in done), sum(int(b["expected"]) for b in done))
            rows.append(site_month(site, names[site], tickets, coverage, month=month, tz=tz, now=now))
        return fleet_month(rows, month=month, now=now, tz=self.tz)
