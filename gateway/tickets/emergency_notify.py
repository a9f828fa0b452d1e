"""Deliver a ticket's emergency level to that level's notification list: webhooks, MQTT topics and
e-mail through the site's SMTP relay, and record each outcome in the ticket's history.

Delivery never blocks ingest: the service hands a level change over (one queue put) and one
background thread works through a schedule of attempts. A failed attempt is put back with
exponential backoff instead of sleeping, so a mail relay that is down never holds up a webhook of
another ticket. When a delivery is done (delivered, refused for good, or given up after the last
attempt) the outcome is appended to the ticket's history ("notified") at the time it happened.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import smtplib
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any, Protocol

import httpx
import orjson

from gateway.core.model import Publisher
from gateway.tickets import emergency
from gateway.tickets.changes import Change
from gateway.tickets.notify import RETRY_STATUS
from gateway.tickets.policy import EmergencyResponse, SmtpRelay, WebhookConfig
from gateway.tickets.ticket import HistoryEntry

log = logging.getLogger(__name__)

ACTION = "notified"  # the history action of a delivery's outcome


class DeliveryFailed(Exception):
    """One attempt failed; `permanent` when another attempt cannot help (a 5xx SMTP reply, HTTP 4xx)."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason, self.permanent = reason, permanent


@dataclass(frozen=True, slots=True)
class Notice:
    """What every channel says about a ticket reaching a level."""

    site: str
    ticket_id: str
    level: int
    level_name: str  # 二级
    title: str
    zone: str
    note: str  # the history note that set the level: why
    at: datetime  # when the level was set
    ticket: dict[str, Any]  # the ticket's JSON, as published on MQTT

    def to_json(self) -> dict[str, Any]:
        return {"site": self.site, "ticket_id": self.ticket_id, "level": self.level,
                "level_name": self.level_name, "title": self.title, "zone": self.zone, "reason": self.note,
                "at": self.at.isoformat(), "ticket": self.ticket}


class Channel(Protocol):
    label: str  # "email ops@example.com", what the history names
    max_attempts: int
    backoff: float  # seconds before the second attempt; doubles
    backoff_max: float

    def send(self, notice: Notice) -> None:
        """One attempt; raises DeliveryFailed."""
        ...


@dataclass(slots=True)
class EmailChannel:
    relay: SmtpRelay
    recipient: str
    max_attempts: int
    backoff: float
    backoff_max: float
    label: str = ""

    def __post_init__(self) -> None:
        self.label = f"email {self.recipient}"

    def send(self, notice: Notice) -> None:
        relay = self.relay
        try:
            with smtplib.SMTP(relay.host, relay.port, timeout=relay.timeout.total_seconds()) as smtp:
                if relay.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if relay.username:
                    smtp.login(relay.username, os.environ.get(relay.password_env or "", ""))
                smtp.send_message(email_message(notice, sender=relay.sender, recipient=self.recipient))
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            raise DeliveryFailed(_smtp_reason(code, text), permanent=code >= 500) from exc
        except (smtplib.SMTPResponseException) as exc:
            raise DeliveryFailed(_smtp_reason(exc.smtp_code, exc.smtp_error),
                                 permanent=exc.smtp_code >= 500) from exc
        except (OSError, smtplib.SMTPException) as exc:  # refused connection, timeout, dropped link
            raise DeliveryFailed(f"{type(exc).__name__}: {exc}") from exc


def _smtp_reason(code: int, text: bytes | str) -> str:
    message = text.decode(errors="replace") if isinstance(text, bytes) else text
    return f"SMTP {code} {message}".strip()


def email_message(notice: Notice, *, sender: str, recipient: str) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = (f"[{notice.site}] {notice.level_name}应急响应 level {notice.level} emergency: "
                      f"{notice.ticket_id} {notice.title}")
    msg["From"], msg["To"] = sender, recipient
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain="sitegate")
    doc = notice.ticket
    msg.set_content("\n".join([
        f"{notice.level_name}应急响应 / Level {notice.level} emergency response",
        "",
        f"Ticket 工单: {notice.ticket_id}  {notice.title}",
        f"Zone 区域: {notice.zone or '-'}    Device 设备: {doc.get('device_id', '-')}",
        f"Severity: {doc.get('severity', '-')}    Opened 报警时间: {doc.get('opened_at', '-')}",
        f"Why 原因: {notice.note}",
        "",
        f"Site 项目: {notice.site}   Level set at: {notice.at.isoformat()}",
    ]))
    return msg


@dataclass(slots=True)
class WebhookChannel:
    hook: WebhookConfig
    client: Callable[[], httpx.Client]
    label: str = ""
    max_attempts: int = 0
    backoff: float = 0.0
    backoff_max: float = 0.0

    def __post_init__(self) -> None:
        self.label = f"webhook {self.hook.url}"
        self.max_attempts = self.hook.max_attempts
        self.backoff, self.backoff_max = self.hook.backoff.total_seconds(), self.hook.backoff_max.total_seconds()

    def send(self, notice: Notice) -> None:
        hook = self.hook
        headers = {"Content-Type": "application/json",
                   "Idempotency-Key": f"{notice.site}:{notice.ticket_id}:emergency:{notice.level}", **hook.headers}
        if hook.token_env:
            headers["Authorization"] = f"Bearer {os.environ.get(hook.token_env, '')}"
        body = orjson.dumps({"site": notice.site, "change": "emergency", "emergency": notice.to_json()})
        try:
            response = self.client().post(hook.url, content=body, headers=headers,
                                          timeout=hook.timeout.total_seconds())
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"{type(exc).__name__}: {exc}") from exc
        if not response.is_success:
            raise DeliveryFailed(f"HTTP {response.status_code}", permanent=response.status_code not in RETRY_STATUS)


@dataclass(slots=True)
class MqttChannel:
    publisher: Publisher | None
    topic: str
    max_attempts: int
    backoff: float
    backoff_max: float
    label: str = ""

    def __post_init__(self) -> None:
        self.label = f"mqtt {self.topic}"

    def send(self, notice: Notice) -> None:
        if self.publisher is None:
            raise DeliveryFailed("this gateway has no MQTT connection", permanent=True)
        try:
            self.publisher.publish(self.topic, orjson.dumps(notice.to_json()), qos=1)
        except Exception as exc:
            raise DeliveryFailed(f"{type(exc).__name__}: {exc}") from exc


def mqtt_topic(template: str, *, site: str, level: int) -> str:
    return template.replace("{site}", site).replace("{level}", str(level))


@dataclass(order=True, slots=True)
class _Attempt:
    due: float  # time.monotonic()
    order: int
    channel: Channel = field(compare=False)
    notice: Notice = field(compare=False)
    attempt: int = field(default=1, compare=False)
    delay: float = field(default=0.0, compare=False)


@dataclass(slots=True)
class EmergencyStats:
    delivered: int = 0
    failed: int = 0
    retries: int = 0
    dropped: int = 0


class EmergencyNotifier:
    """Turns each "emergency_level" change into deliveries to its level's list (when `enabled`; a
    replay never reaches the outside world) and records their outcomes with `record`."""

    def __init__(self, *, site: str, tz: tzinfo, response: Callable[[], EmergencyResponse],
                 publisher: Publisher | None, record: Callable[[str, HistoryEntry], object],
                 enabled: bool, now: Callable[[], datetime] | None = None,
                 client_factory: Callable[[], httpx.Client] = httpx.Client) -> None:
        self.site, self.tz, self.response, self.publisher = site, tz, response, publisher
        self.record, self.enabled = record, enabled
        self.now = now or (lambda: datetime.now(UTC))
        self.stats = EmergencyStats()
        self._client_factory = client_factory
        self._client: httpx.Client | None = None
        self._schedule: list[_Attempt] = []
        self._order = itertools.count()
        self._cond = threading.Condition()
        self._stop = False
        self._busy = 0  # attempts taken off the schedule and not yet finished
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.enabled and self._thread is None and not self._stop:
            self._thread = threading.Thread(target=self._run, name="ticket-emergency", daemon=True)
            self._thread.start()

    def close(self, timeout: float = 5.0) -> None:
        """Stop; deliveries still waiting for a retry are logged as not done (their ticket's history
        has no outcome for them)."""
        with self._cond:
            self._stop = True
            left = len(self._schedule)
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if left:
            log.warning("Stopped with %d emergency notice(s) not yet delivered.", left)

    def flush(self, timeout: float) -> bool:
        """Wait until every scheduled delivery is done; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._schedule and not self._busy, timeout=timeout)

    def notify(self, change: Change) -> None:
        """Schedule the deliveries of a level change (never blocks)."""
        ticket = change.ticket
        if not self.enabled or change.action != emergency.ACTION or ticket.emergency_level is None:
            return
        response = self.response()
        level = ticket.emergency_level
        spec = response.levels.get(level)  # type: ignore[call-overload]
        if spec is None:
            return
        notice = Notice(site=self.site, ticket_id=ticket.id, level=level, level_name=response.level_name(level),
                        title=ticket.title, zone=ticket.zone, note=ticket.history[-1].note,
                        at=ticket.history[-1].at.astimezone(self.tz), ticket=ticket.to_json(self.tz))
        retry = response.retry
        tries = (retry.max_attempts, retry.backoff.total_seconds(), retry.backoff_max.total_seconds())
        channels: list[Channel] = [WebhookChannel(hook, self._http) for hook in spec.webhooks]
        channels += [MqttChannel(self.publisher, mqtt_topic(t, site=self.site, level=level), *tries)
                     for t in spec.mqtt]
        if response.smtp is not None:
            channels += [EmailChannel(response.smtp, address, *tries) for address in spec.email]
        with self._cond:
            for channel in channels:
                if len(self._schedule) >= response.queue:
                    self.stats.dropped += 1
                    log.warning("Emergency notice queue is full; dropped %s for %s.", channel.label, ticket.id)
                    continue
                heapq.heappush(self._schedule, _Attempt(time.monotonic(), next(self._order), channel, notice,
                                                        delay=channel.backoff))
            self._cond.notify_all()

    def _http(self) -> httpx.Client:
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    def _run(self) -> None:
        try:
            while True:
                with self._cond:
                    while not self._stop and (not self._schedule or self._schedule[0].due > time.monotonic()):
                        wait = self._schedule[0].due - time.monotonic() if self._schedule else None
                        self._cond.wait(wait)
                    if self._stop:
                        return
                    item = heapq.heappop(self._schedule)
                    self._busy += 1
                try:
                    self._attempt(item)
                except Exception:
                    log.exception("Emergency notice %s for %s crashed.", item.channel.label, item.notice.ticket_id)
                finally:
                    with self._cond:
                        self._busy -= 1
                        self._cond.notify_all()
        finally:
            if self._client is not None:
                self._client.close()
                self._client = None

    def _attempt(self, item: _Attempt) -> None:
        channel, notice = item.channel, item.notice
        try:
            channel.send(notice)
        except DeliveryFailed as exc:
            if not exc.permanent and item.attempt < channel.max_attempts:
                self.stats.retries += 1
                log.info("Emergency notice %s for %s failed (%s); attempt %d of %d in %.1fs.", channel.label,
                         notice.ticket_id, exc.reason, item.attempt + 1, channel.max_attempts, item.delay)
                with self._cond:
                    heapq.heappush(self._schedule, _Attempt(
                        time.monotonic() + item.delay, next(self._order), channel, notice, item.attempt + 1,
                        min(item.delay * 2, channel.backoff_max)))
                    self._cond.notify_all()
                return
            self.stats.failed += 1
            tries = "1 attempt" if item.attempt == 1 else f"{item.attempt} attempts"
            log.error("Emergency notice %s for %s failed after %s: %s", channel.label, notice.ticket_id,
                      tries, exc.reason)
            self._outcome(notice, f"level {notice.level} -> {channel.label}: failed: {exc.reason} (after {tries})")
            return
        self.stats.delivered += 1
        self._outcome(notice, f"level {notice.level} -> {channel.label}: delivered")

    def _outcome(self, notice: Notice, note: str) -> None:
        entry = HistoryEntry(at=self.now().astimezone(self.tz), actor="system", action=ACTION, note=note)
        try:
            self.record(notice.ticket_id, entry)
        except Exception:
            log.exception("Could not record on %s: %s", notice.ticket_id, note)
