from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from gateway.timeseries.inbox import Inbox
from gateway.timeseries.point import Point
from gateway.timeseries.writer import SinkState, TimeSeriesWriter

P = Point("reading", {"device": "d"}, {"v": 1}, datetime(2026, 11, 23, tzinfo=UTC))


class FakeSink:
    def __init__(self, name: str, state: SinkState = "ok", *, fail: bool = False, flushed: bool = True) -> None:
        self.name, self.state, self.fail, self.flushed = name, state, fail, flushed
        self.got: list[Point] = []
        self.closed = False

    def write(self, points: Sequence[Point]) -> None:
        if self.fail:
            raise RuntimeError("boom")
        self.got += points

    def flush(self, timeout: float = 10.0) -> bool:
        return self.flushed

    def durable(self, timeout: float = 10.0) -> bool:
        return self.flushed

    def start(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def status(self) -> SinkState:
        return self.state

    def backlog(self) -> int:
        return len(self.got)

    def dropped(self) -> int:
        return 1


def test_every_sink_gets_every_batch_even_when_one_of_them_fails() -> None:
    broken, good = FakeSink("broken", fail=True), FakeSink("good")
    writer = TimeSeriesWriter([broken, good])
    writer.write([P, P])
    writer.write([])
    assert good.got == [P, P]


@pytest.mark.parametrize(("states", "worst"), [
    (["ok", "ok"], "ok"), (["ok", "buffering"], "buffering"), (["down", "buffering"], "down"), ([], "ok")])
def test_status_is_the_worst_of_the_sinks(states: list[SinkState], worst: str) -> None:
    assert TimeSeriesWriter([FakeSink(str(i), s) for i, s in enumerate(states)]).status() == worst


def test_backlog_dropped_flush_and_close_cover_all_sinks() -> None:
    a, b = FakeSink("a"), FakeSink("b", flushed=False)
    writer = TimeSeriesWriter([a, b])
    writer.write([P])
    assert writer.backlog() == 2 and writer.dropped() == 2
    assert writer.flush(1) is False and writer.durable(1) is False
    assert TimeSeriesWriter([a]).durable(1) is True
    writer.close()
    assert a.closed and b.closed


def test_inbox_takes_whole_batches_or_none_and_counts_the_refused() -> None:
    box: Inbox[int] = Inbox(5)
    assert box.put([1, 2, 3]) and not box.put([4, 5, 6]) and box.put([4, 5])
    assert box.dropped == 3 and box.take(10, timeout=0) == [1, 2, 3, 4, 5]
    box.close()
    assert not box.put([7]) and box.take(10, timeout=0) is None


def test_inbox_wait_done_waits_for_what_was_accepted_before_the_call() -> None:
    box: Inbox[int] = Inbox(10)
    box.put([1, 2])
    assert box.wait_done(0.01) is False
    worker = threading.Thread(target=lambda: box.finished(len(box.take(10, timeout=1) or [])))
    worker.start()
    assert box.wait_done(5) is True
    worker.join()
