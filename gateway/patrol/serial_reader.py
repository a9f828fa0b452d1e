"""Serial checkpoint readers -> native tap messages `sitegate/<site>/<device>/tap`.

Two framings:
- `rdm6300` (125 kHz EM4100 reader, 9600 8N1): 0x02, 10 ASCII hex characters (2 version + 8 tag),
  2 ASCII hex characters whose value is the XOR of the 5 data bytes, 0x03. The decoder resyncs on
  every 0x02: a frame cut short by a new start byte, a frame without its end byte, non-hex
  characters or a wrong checksum are dropped and counted, and decoding resumes at the next 0x02.
  The tag published is the 8 hex characters of the tag part, upper case (e.g. "003B51C6").
- `line`: one tag per line (CR, LF or CRLF), blanks trimmed; lines with characters other than
  letters, digits, '-' and '_' are dropped and counted.

The reader repeats the frame while the card stays in the field, so `Debouncer` drops a tag seen
again less than `hold` seconds after its previous read (each repeat extends the hold).
Decoders and the debouncer are pure (bytes and times in, tags out); `run_bridge` is the I/O edge.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import orjson
import serial

from gateway.core.clock import Clock, SystemClock
from gateway.core.model import Publisher

STX, ETX = 0x02, 0x03
_FRAME_LEN = 14  # STX + 10 data + 2 checksum + ETX
_HEX = re.compile(rb"^[0-9A-Fa-f]+$")
_LINE_TAG = re.compile(r"^[0-9A-Za-z_-]{1,64}$")


@dataclass(frozen=True, slots=True)
class Rdm6300Frame:
    version: int
    tag_hex: str  # 8 hex characters, upper case

    @property
    def tag_decimal(self) -> int:
        """The number often printed on the card (e.g. 0003887558)."""
        return int(self.tag_hex, 16)


class Decoder(Protocol):
    corrupt: int

    def feed(self, data: bytes) -> list[str]: ...


class Rdm6300Decoder:
    """Incremental RDM6300 decoder: feed() any chunk of bytes, get the tags of complete valid frames."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self.frames = 0
        self.corrupt = 0  # frames dropped: bad checksum, non-hex, truncated

    def feed(self, data: bytes) -> list[str]:
        return [f.tag_hex for f in self.feed_frames(data)]

    def feed_frames(self, data: bytes) -> list[Rdm6300Frame]:
        self._buf += data
        out: list[Rdm6300Frame] = []
        while True:
            start = self._buf.find(STX)
            if start < 0:
                self._buf.clear()  # noise between frames
                return out
            del self._buf[:start]
            # A new start byte inside the frame means the frame was cut short: resync there.
            restart = self._buf.find(STX, 1, _FRAME_LEN)
            if restart > 0:
                self.corrupt += 1
                del self._buf[:restart]
                continue
            if len(self._buf) < _FRAME_LEN:
                return out
            frame = bytes(self._buf[:_FRAME_LEN])
            parsed = _parse_frame(frame)
            if parsed is None:
                self.corrupt += 1
                del self._buf[:1]  # look for the next start byte after this one
                continue
            del self._buf[:_FRAME_LEN]
            self.frames += 1
            out.append(parsed)


def _parse_frame(frame: bytes) -> Rdm6300Frame | None:
    body, check = frame[1:11], frame[11:13]
    if frame[-1] != ETX or not _HEX.match(body) or not _HEX.match(check):
        return None
    data = bytes.fromhex(body.decode("ascii"))
    xor = 0
    for byte in data:
        xor ^= byte
    if xor != int(check, 16):
        return None
    return Rdm6300Frame(version=data[0], tag_hex=body[2:].decode("ascii").upper())


class LineDecoder:
    """One tag per line; CR, LF and CRLF all end a line."""

    def __init__(self, max_line: int = 256) -> None:
        self._buf = bytearray()
        self._max = max_line
        self.frames = 0
        self.corrupt = 0

    def feed(self, data: bytes) -> list[str]:
        self._buf += data
        out: list[str] = []
        while True:
            ends = [i for i in (self._buf.find(b"\r"), self._buf.find(b"\n")) if i >= 0]
            if not ends:
                if len(self._buf) > self._max:  # a runaway line without an end: drop it
                    self._buf.clear()
                    self.corrupt += 1
                return out
            end = min(ends)
            line = bytes(self._buf[:end]).decode("ascii", errors="replace").strip()
            del self._buf[:end + 1]
            if not line:
                continue
            if _LINE_TAG.match(line):
                self.frames += 1
                out.append(line.upper())
            else:
                self.corrupt += 1


class Debouncer:
    """Drops a tag read again less than `hold` seconds after its previous read (monotonic seconds)."""

    def __init__(self, hold: float = 1.0) -> None:
        self.hold = hold
        self._last: dict[str, float] = {}

    def accept(self, tag: str, at: float) -> bool:
        previous = self._last.get(tag)
        self._last[tag] = at
        return previous is None or at - previous >= self.hold


def make_decoder(kind: str) -> Rdm6300Decoder | LineDecoder:
    if kind == "rdm6300":
        return Rdm6300Decoder()
    if kind == "line":
        return LineDecoder()
    raise ValueError(f"unknown reader type {kind!r}; use 'rdm6300' or 'line'.")


def tap_topic(site_id: str, device_id: str) -> str:
    return f"sitegate/{site_id}/{device_id}/tap"


def tap_payload(tag: str, ts: datetime) -> bytes:
    return orjson.dumps({"tag": tag, "ts": ts.isoformat()})


@dataclass(slots=True)
class BridgeStats:
    taps: int = 0  # published
    repeats: int = 0  # dropped by the debouncer
    corrupt: int = 0  # frames or lines dropped as invalid


def run_bridge(
    port: str, *, reader: str, device_id: str, site_id: str, publisher: Publisher,
    stop: threading.Event, clock: Clock | None = None, baudrate: int = 9600, hold: float = 1.0,
    ready: threading.Event | None = None, monotonic: Callable[[], float] | None = None,
) -> BridgeStats:
    """Read tags from a serial port (device path or pyserial URL such as `loop://`) until `stop` is set.

    Each accepted tag is published as a native tap message stamped with `clock.now()` (the read
    time, so a backlog in the broker does not shift it). `ready` is set once the port is open and
    configured. Raises serial.SerialException if the port cannot be opened or goes away.
    """
    clock = clock or SystemClock()
    tick = monotonic or time.monotonic
    decoder = make_decoder(reader)
    debouncer = Debouncer(hold)
    stats = BridgeStats()
    topic = tap_topic(site_id, device_id)
    with serial.serial_for_url(port, baudrate=baudrate, timeout=0.1) as conn:
        if ready is not None:
            ready.set()
        while not stop.is_set():
            chunk = conn.read(conn.in_waiting or 1)
            if not chunk:
                continue
            for tag in decoder.feed(chunk):
                if debouncer.accept(tag, tick()):
                    publisher.publish(topic, tap_payload(tag, clock.now()), qos=1)
                    stats.taps += 1
                else:
                    stats.repeats += 1
            stats.corrupt = decoder.corrupt
    return stats
