"""paho's client, reading and acknowledging in bulk.

Why (measured in bench/README.md, "A lane for taps"): paho reads one packet per `select()` and
three `recv()` calls per packet (command byte, length, body), and every PUBACK is its own queued
packet, its own wake-up byte on paho's socket pair and its own `send()`. Each of those calls
releases the GIL; while the pipeline thread is busy, the network thread then waits for the GIL
again at every one of them, so a reader's tap queued behind a burst of readings waited tens of
milliseconds before the gateway even saw it. Here:
- a plain TCP socket is read 64 KiB at a time into a buffer that serves paho's small reads, and
  `pending()` (which paho's loop already honours for TLS sockets) tells the loop that more is
  buffered, so it does not wait in `select()` on data it already has;
- `loop_read` takes every buffered packet (up to `MAX_PACKETS_PER_READ`), not one per `select()`;
- `ack_many` queues the PUBACKs of a whole batch as one write;
- `wait_written` lets the network thread write a packet someone waits for (a reader's ack) now,
  instead of when the busy pipeline thread next gives up the GIL.

This leans on paho's internals: the methods `_create_socket`, `_packet_read`, `_packet_queue` and
`_loop_rc_handle`, and the attributes `_sock`, `_out_packet` and `_thread`. `tests/test_mqtt_client.py`
fails if a paho release changes them; if the methods are gone, `supported()` falls back to paho's own
loop at run time rather than break intake.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode

READ_CHUNK = 65_536
# Packets taken per loop_read before paho's loop gets to write again (acks, a reader's ack).
MAX_PACKETS_PER_READ = 100
WRITE_EVERY = 10  # packets read between two looks at what is waiting to be written
PUBACK = 0x40
_PUBACK_HEAD = bytes((PUBACK, 2))
WRITE_POLL_S = 0.0001  # wait_written's step


class BufferedSocket(socket.socket):
    """A TCP socket whose small `recv()`s are served from one large read."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(sock.family, sock.type, sock.proto, fileno=sock.detach())
        self._data = b""
        self._pos = 0

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        if flags:
            return super().recv(bufsize, flags)
        if self._pos >= len(self._data):
            data = super().recv(max(bufsize, READ_CHUNK))  # raises BlockingIOError when there is none
            if len(data) <= bufsize:
                return data
            self._data, self._pos = data, 0
        start = self._pos
        self._pos = min(start + bufsize, len(self._data))
        return self._data[start:self._pos]

    def pending(self) -> int:
        """Bytes read from the socket and not yet handed to paho."""
        return len(self._data) - self._pos


def supported() -> bool:
    """paho still has the internals this client builds on."""
    return all(callable(getattr(mqtt.Client, name, None))
               for name in ("_create_socket", "_packet_read", "_packet_queue", "_loop_rc_handle"))


class BulkClient(mqtt.Client):
    """paho's Client with buffered reads, many packets per read, and one write for a batch's acks."""

    _bulk = supported()

    def _create_socket(self) -> Any:
        sock = super()._create_socket()
        # Only a plain TCP socket: TLS sockets buffer (and report pending()) themselves, and a
        # websocket is paho's own wrapper.
        if self._bulk and type(sock) is socket.socket and sock.type == socket.SOCK_STREAM:
            return BufferedSocket(sock)
        return sock

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        if not self._bulk:
            return super().loop_read(max_packets)
        for i in range(MAX_PACKETS_PER_READ):
            if i % WRITE_EVERY == 0 and self._out_packet:
                # What the pipeline queued (a batch's PUBACKs, a reader's ack) goes out before more is
                # read: paho's loop would read first, up to MAX_PACKETS_PER_READ of them.
                self.loop_write()
            if self._sock is None:
                return MQTTErrorCode.MQTT_ERR_NO_CONN
            rc = self._packet_read()
            if rc == MQTTErrorCode.MQTT_ERR_AGAIN:
                return MQTTErrorCode.MQTT_ERR_SUCCESS
            if rc > 0:
                return self._loop_rc_handle(rc)
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def wait_written(self, timeout: float) -> bool:
        """Wait (at most `timeout` s) until every queued packet is written to the socket; answers
        whether it was. The caller sleeps in small steps, each a release of the GIL: without them a
        busy caller kept the network thread from writing for up to the interpreter's switch interval
        (5 ms), every time. Not from the network thread itself, which is the one that writes."""
        if threading.current_thread() is self._thread or not self._bulk:
            return not self._out_packet
        deadline = time.monotonic() + timeout
        while self._out_packet and self._sock is not None and time.monotonic() < deadline:
            time.sleep(WRITE_POLL_S)
        return not self._out_packet

    def ack_many(self, mids: Iterable[int]) -> None:
        """PUBACK each QoS 1 message id (manual ack), queued as one write."""
        if not self._bulk:
            for mid in mids:
                self.ack(mid, 1)
            return
        # A PUBACK is 4 bytes: type, remaining length 2, packet id (MQTT 5 allows the reason code out).
        packet = b"".join(_PUBACK_HEAD + (mid & 0xFFFF).to_bytes(2, "big") for mid in mids)
        if packet:
            self._packet_queue(PUBACK, packet, 0, 0)
