"""Head office tables (SQLAlchemy Core; SQLite by default, PostgreSQL for several replicas).

`events` keeps every event once, keyed by its id. The other tables are the fleet's current state,
materialized from the events by upserts that carry their own guard in SQL (a ticket row changes only
for a higher revision, a device only for a later state), so replicas writing at once never undo
each other's work and the order events arrive in does not matter. Times are Unix seconds (float):
the same comparisons on both engines, no time zone conversions in SQL.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, Index, Integer, MetaData, String, Table, Text

metadata = MetaData()

events = Table(
    "hq_events", metadata,
    Column("id", String(300), primary_key=True),
    Column("site", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("type", String(40), nullable=False),
    Column("at", Float, nullable=False),
    Column("received_at", Float, nullable=False),
    Column("payload", Text, nullable=False),
)
Index("hq_events_site_at", events.c.site, events.c.at)

tickets = Table(
    "hq_tickets", metadata,
    Column("site", String(64), primary_key=True),
    Column("id", String(64), primary_key=True),
    Column("revision", Integer, nullable=False),
    Column("status", String(20), nullable=False),
    Column("severity", String(20), nullable=False),
    Column("zone", String(200), nullable=False, default=""),
    Column("opened_at", Float, nullable=False),
    Column("next_due", Float),  # earliest deadline of a stage still to be done; overdue when <= now
    Column("event_at", Float, nullable=False),
    Column("body", Text, nullable=False),  # the ticket in the site API's shape
)
Index("hq_tickets_site_status", tickets.c.site, tickets.c.status)

rounds = Table(
    "hq_rounds", metadata,
    Column("site", String(64), primary_key=True),
    Column("round_id", String(200), primary_key=True),
    Column("route", String(200), nullable=False, default=""),
    Column("scheduled_start", Float, nullable=False),
    Column("night", String(10), nullable=False),  # YYYY-MM-DD: the evening the night began (site time)
    Column("day", String(10), nullable=False),  # YYYY-MM-DD of the scheduled start (site time)
    Column("status", String(20), nullable=False, default=""),
    Column("expected", Integer, nullable=False),
    Column("visited", Integer, nullable=False),
    Column("event_at", Float, nullable=False),
    Column("body", Text, nullable=False),
)

devices = Table(
    "hq_devices", metadata,
    Column("site", String(64), primary_key=True),
    Column("device", String(200), primary_key=True),
    Column("online", Boolean, nullable=False),
    Column("since", Float, nullable=False),
    Column("body", Text, nullable=False),
)

sites = Table(
    "hq_sites", metadata,
    Column("site", String(64), primary_key=True),
    Column("name", String(200), nullable=False, default=""),
    Column("last_heard", Float, nullable=False),  # the latest `at` of any event from the site
    Column("health_at", Float),
    Column("health", Text),  # the last gateway.health data
)

deadletters = Table(
    "hq_deadletters", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("received_at", Float, nullable=False),
    Column("topic", String(400), nullable=False),
    Column("reason", String(40), nullable=False),
    Column("detail", Text, nullable=False),
    Column("payload", Text, nullable=False),  # cut to 1 KiB
    sqlite_autoincrement=True,
)
