"""Serial readers: RDM6300 framing and line readers, decoded alone and bridged through a real pty."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from gateway.core.clock import FakeClock
from gateway.patrol.serial_reader import BridgeStats, Debouncer, LineDecoder, Rdm6300Decoder, run_bridge

SAMPLES = Path(__file__).parent / "data" / "rdm6300_frames.txt"
T0 = datetime(2026, 11, 23, 13, 3, 11, tzinfo=UTC)


def sample_frames() -> list[bytes]:
    """The byte lines of the shared sample file: valid, corrupt checksum, truncated + valid."""
    lines = SAMPLES.read_text(encoding="utf-8").splitlines()
    return [bytes.fromhex(line) for line in lines if line.strip() and not line.startswith("#")]


def frame(version: int, tag: int) -> bytes:
    data = bytes([version, *tag.to_bytes(4, "big")])
    check = 0
    for byte in data:
        check ^= byte
    return b"\x02" + data.hex().upper().encode() + f"{check:02X}".encode() + b"\x03"


def test_sample_file_decodes_to_two_reads_of_one_card_and_two_rejects() -> None:
    decoder = Rdm6300Decoder()
    frames = decoder.feed_frames(b"".join(sample_frames()))
    assert [(f.version, f.tag_hex, f.tag_decimal) for f in frames] == [(0x67, "003B51C6", 3887558)] * 2
    assert (decoder.frames, decoder.corrupt) == (2, 2)


def test_decoding_byte_by_byte_gives_the_same_tags() -> None:
    decoder = Rdm6300Decoder()
    tags = [tag for byte in b"".join(sample_frames()) for tag in decoder.feed(bytes([byte]))]
    assert tags == ["003B51C6", "003B51C6"]
    assert decoder.corrupt == 2


def test_noise_non_hex_and_missing_end_byte_resync_on_the_next_start() -> None:
    good = frame(0x04, 0xA1B2C3D4)
    no_end = good[:-1] + b"X"
    not_hex = b"\x02" + b"ZZ" + good[3:]
    decoder = Rdm6300Decoder()
    assert decoder.feed(b"\xff\x00junk" + no_end + not_hex + good + b"\x03\x03") == ["A1B2C3D4"]
    assert decoder.corrupt == 2


def test_frame_built_here_matches_the_sample_checksum() -> None:
    assert frame(0x67, 0x003B51C6) == sample_frames()[0]


def test_debouncer_drops_repeats_while_the_card_stays_in_the_field() -> None:
    debouncer = Debouncer(hold=1.0)
    reads = [0.0, 0.1, 0.2, 1.1, 2.2, 2.25]
    assert [debouncer.accept("A", t) for t in reads] == [True, False, False, False, True, False]
    assert debouncer.accept("B", 2.3) is True


def test_line_reader_takes_one_tag_per_line_and_counts_garbage() -> None:
    decoder = LineDecoder()
    assert decoder.feed(b"04a1b2c3\r\n\r\n  0017 \nbad tag!\n00") == ["04A1B2C3", "0017"]
    assert decoder.feed(b"12\r") == ["0012"]
    assert decoder.corrupt == 1


class Recorder:
    """A Publisher that remembers what it was given and lets a test wait for a count."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, dict[str, str], int]] = []
        self._changed = threading.Condition()

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False,
                urgent: bool = False) -> None:
        with self._changed:
            self.messages.append((topic, orjson.loads(payload), qos))
            self._changed.notify_all()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[tuple[str, dict[str, str], int]]:
        with self._changed:
            assert self._changed.wait_for(lambda: len(self.messages) >= count, timeout), self.messages
            return list(self.messages)


@contextmanager
def bridged(reader: str, monotonic: list[float]) -> Iterator[tuple[int, Recorder, list[BridgeStats]]]:
    """run_bridge on the slave side of a pty; yields the master fd to write reader bytes into."""
    master, slave = os.openpty()
    recorder, stop, ready, result = Recorder(), threading.Event(), threading.Event(), []

    def run() -> None:
        result.append(run_bridge(os.ttyname(slave), reader=reader, device_id="cp-pump", site_id="harbor-view",
                                 publisher=recorder, stop=stop, clock=FakeClock(T0), ready=ready,
                                 monotonic=lambda: monotonic[0]))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        # Write only once pyserial has put the tty in raw mode, or the line discipline eats bytes.
        assert ready.wait(5.0), "the bridge did not open the pty"
        yield master, recorder, result
    finally:
        stop.set()
        thread.join(5.0)
        os.close(master)
        os.close(slave)
    assert not thread.is_alive()


def test_rdm6300_through_a_pty_publishes_native_taps_with_debounce_and_rejects() -> None:
    clock = [100.0]
    with bridged("rdm6300", clock) as (master, recorder, result):
        sentinel = frame(0x04, 0xA1B2C3D4)
        os.write(master, b"".join(sample_frames()) + sentinel)
        # The sentinel comes after every sample byte, so once it is out all samples were judged.
        recorder.wait_for(2)
        clock[0] += 2.0  # the card is taken away and tapped again two seconds later
        os.write(master, sample_frames()[0])
        messages = recorder.wait_for(3)
    assert messages == [
        ("sitegate/harbor-view/cp-pump/tap", {"tag": "003B51C6", "ts": "2026-11-23T13:03:11+00:00"}, 1),
        ("sitegate/harbor-view/cp-pump/tap", {"tag": "A1B2C3D4", "ts": "2026-11-23T13:03:11+00:00"}, 1),
        ("sitegate/harbor-view/cp-pump/tap", {"tag": "003B51C6", "ts": "2026-11-23T13:03:11+00:00"}, 1),
    ]
    [stats] = result
    assert (stats.taps, stats.repeats, stats.corrupt) == (3, 1, 2)


def test_line_reader_through_a_pty() -> None:
    with bridged("line", [0.0]) as (master, recorder, result):
        os.write(master, b"04A1B2C3\r\nnot a tag\r\n")
        os.write(master, b"G0017\n")
        messages = recorder.wait_for(2)
    assert [m[1]["tag"] for m in messages] == ["04A1B2C3", "G0017"]
    assert result[0].corrupt == 1


def test_bridge_opens_a_pyserial_url_and_stops_when_told() -> None:
    stop, ready, result = threading.Event(), threading.Event(), []
    thread = threading.Thread(target=lambda: result.append(run_bridge(
        "loop://", reader="rdm6300", device_id="x", site_id="s", publisher=Recorder(), stop=stop,
        ready=ready)))
    thread.start()
    assert ready.wait(5.0)
    stop.set()
    thread.join(5.0)
    assert not thread.is_alive() and result == [BridgeStats()]


def test_unknown_reader_type_is_refused_before_opening_anything() -> None:
    with pytest.raises(ValueError, match="use 'rdm6300' or 'line'"):
        run_bridge("loop://", reader="wiegand", device_id="x", site_id="s", publisher=Recorder(),
                   stop=threading.Event())
