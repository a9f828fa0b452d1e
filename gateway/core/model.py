"""The values that flow through the gateway, one direction: raw message -> decoded -> consumers.

Everything here is plain immutable data so the pure parts (decode, rules, patrol) can be tested
with literals and a fake clock.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

# A decoded metric value. Strings pass through (e.g. a firmware version) but only numbers and
# booleans are written as time-series fields.
Value = float | int | bool | str


@dataclass(frozen=True, slots=True)
class RawMessage:
    """One MQTT (or serial, or replayed) message exactly as it arrived."""

    topic: str
    payload: bytes
    received_at: datetime  # timezone-aware


@dataclass(frozen=True, slots=True)
class Reading:
    """One normalised measurement in the canonical vocabulary of CONTRACT.md."""

    device: str
    metric: str
    value: Value
    unit: str | None
    ts: datetime  # timezone-aware; the device's own time when it sent one, else arrival time


@dataclass(frozen=True, slots=True)
class Availability:
    """A device said it is online or offline (LWT, availability or status topic)."""

    device: str
    online: bool
    ts: datetime


@dataclass(frozen=True, slots=True)
class Tap:
    """A tag read by a checkpoint or handheld reader."""

    device: str  # the reader that read the tag
    tag: str
    ts: datetime  # when the tag was read (device time when given, else arrival)
    received_at: datetime


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why (part of) a message was not accepted. `reason` is a short stable label for metrics."""

    reason: str
    detail: str


@dataclass(slots=True)
class Decoded:
    """What one raw message turned into."""

    profile: str | None = None
    device: str | None = None
    readings: list[Reading] = field(default_factory=list)
    availability: Availability | None = None
    taps: list[Tap] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    # True for topics a profile knows and deliberately skips (our own acks, bridge chatter).
    ignored: bool = False
    # What the device says it is (its profile, its model, or a kind in its payload); never a guess.
    kind: str | None = None
    model: str | None = None

    @property
    def rejected(self) -> bool:
        """The whole message was refused: nothing usable came out of it."""
        return bool(self.rejections) and not (self.readings or self.availability or self.taps)


# The zone of a device the inventory does not place: a label, not a place (no two such devices are
# known to be near each other).
UNASSIGNED_ZONE = "unassigned"

@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """What the site knows about a device (from the inventory, or discovered from its topic)."""

    id: str
    kind: str = "unknown"
    zone: str = UNASSIGNED_ZONE
    profile: str | None = None
    location: str | None = None
    owner: str | None = None
    circuit: str | None = None


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """A rule (or the patrol tracker) says a condition started firing or cleared.

    The ticket service turns these into tickets: one open ticket per `key`, the fault's identity.
    Rules that describe one physical fault, and a guard reporting it with an event card, carry the
    same `fault` label, so they share the key of that fault at that device (or place).
    """

    rule: str
    device: str
    zone: str
    state: str  # "firing" | "cleared"
    severity: str  # critical | major | minor | warning
    title: str
    ts: datetime
    description: str = ""
    category: str = "general"
    value: Value | None = None
    kind: str = "unknown"  # the device kind
    auto_resolve: bool = False  # a cleared condition resolves the ticket by itself
    labels: dict[str, str] = field(default_factory=dict)
    dedup_key: str = ""  # when empty: "fault:<fault label>:<subject>", or "<rule>:<subject>" without one

    @property
    def subject(self) -> str:
        """What the alert is about: the device, or one channel of it (`meter-al5#2`, way 2 of a board,
        from a rule watching every channel); channel 1 is the device itself, as `current_a` is."""
        channel = self.labels.get("channel")
        return f"{self.device}#{channel}" if channel and channel != "1" else self.device

    @property
    def key(self) -> str:
        if self.dedup_key:
            return self.dedup_key
        fault = self.labels.get("fault")
        return f"fault:{fault}:{self.subject}" if fault else f"{self.rule}:{self.subject}"


@dataclass(frozen=True, slots=True)
class LiveCondition:
    """One of a device's rules whose condition holds for it right now: pending (held for less than
    the rule's `for`) or firing. The rules feature publishes these per device through the gateway
    (Gateway.publish_conditions); the registry turns them into the device's health band."""

    rule: str
    severity: str  # critical | major | minor | warning
    firing: bool  # False: pending, within the rule's `for`
    reason: str  # what holds, with the values behind it: "current_a 0.003 A < 0.02 A"
    since: datetime | None = None  # when the condition became true
    metric: str | None = None  # the metric the reason is about, when there is one
    contact: bool = False  # the condition is the device's silence or offline status
    # The rule's title for this device (bilingual in the built-in pack), for people; not part of what
    # the condition is (two reports of one condition are equal whatever their wording).
    title: str = field(default="", compare=False)


class Publisher(Protocol):
    """Sends a message to the broker. Thread-safe, never blocks on the network. `urgent`: a device
    waits for this message (a reader's ack), so the caller gives the network a moment (at most a few
    milliseconds) to send it before going on."""

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False,
                urgent: bool = False) -> None: ...


# Live events for the dashboard (SSE): kind is "reading", "tap", "ticket", "device", "round".
EventSink = Callable[[str, dict[str, Any]], None]


# -- what flows through the pipeline -----------------------------------------------------------

# The order in which consumers see each batch: those that detect (rules, patrol) come before those
# that act on what they detected (the ticket timer), and those that record (time series) come last.
# Among the detectors, patrol answers first: a guard waits at the checkpoint for the reader's ack,
# and patrol's judgement does not depend on the other detectors.
STAGE_ANSWER = 5
STAGE_DETECT = 10
STAGE_ACT = 30
STAGE_RECORD = 90


@dataclass(slots=True)
class Inbound:
    """A message as the network thread hands it over."""

    topic: str
    payload: bytes
    received_at: float  # unix seconds
    mid: int = 0
    qos: int = 0
    dup: bool = False
    conn: int = 0


@dataclass(slots=True)
class Processed:
    seq: int
    msg: RawMessage
    decoded: Decoded


class Consumer(Protocol):
    """Something downstream of the registry (rules, patrol, time series)."""

    name: str

    def handle(self, batch: Sequence[Processed]) -> None:
        """Take the whole batch, or raise before changing anything: the pipeline hands a batch that
        raised to the same consumer again (and again, holding intake) until it is taken."""
        ...

    def tick(self, now: datetime) -> None:
        """Run the timers due at or before `now`. A consumer whose timers must run at their own instants
        between messages (patrol windows) may also have `next_deadline() -> datetime | None`: the
        pipeline then ticks it at each deadline before the messages stamped after it."""
        ...

    def snapshot(self) -> Any:
        """JSON-serialisable state that, with the journal after it, rebuilds the consumer."""
        ...

    def restore(self, state: Any) -> None: ...
