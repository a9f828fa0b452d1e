"""The InfluxDB sink against a real VictoriaMetrics (and, for request order, a recording stub)."""

from __future__ import annotations

import gzip
import http.server
import logging
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.core.errors import SitegateError
from gateway.timeseries.embedded import EmbeddedStore
from gateway.timeseries.influx import InfluxSink, resolve_token
from gateway.timeseries.point import Point
from gateway.timeseries.writer import TimeSeriesWriter
from tests.support.mosquitto import free_port
from tests.support.victoria import Victoria, victoria

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "s3cr3t-t0ken-never-shown"
# Samples must lie in the past: VictoriaMetrics's export only shows samples up to now.
BASE = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def numbered(n: int, start: int = 0) -> list[Point]:
    return [Point("reading", {"site": "hv", "device": "ext-1", "kind": "extinguisher", "zone": "north"},
                  {"seq": i}, BASE + timedelta(milliseconds=i)) for i in range(start, start + n)]


def make_sink(url: str, spool: Path, **kwargs: object) -> InfluxSink:
    options: dict[str, object] = {"flush_interval_ms": 50, "max_backoff_s": 0.5, "timeout_ms": 2000}
    options.update(kwargs)
    sink = InfluxSink(url=url, org="estate", bucket="sites", token=TOKEN, spool_dir=spool, **options)  # type: ignore[arg-type]
    sink.start()
    return sink


def seqs(vm: Victoria) -> list[int]:
    series = vm.export('{__name__="reading_seq"}')
    return sorted(int(v) for s in series for v in s["values"])


def test_points_arrive_with_measurement_field_names_tags_and_values(vm: Victoria, tmp_path: Path) -> None:
    ts = BASE + timedelta(microseconds=123_456)
    tags = {"site": "harbor view", "device": "lamp,1", "kind": "lamp", "zone": "b=1\\x"}
    points = [Point("reading", tags, {"power_on": True, "current_a": 0.25, "count": 7, "fw": "v1.2"}, ts),
              Point("reading", tags, {"power_on": False}, ts + timedelta(seconds=1)),
              Point("ticket_event", {"site": "hv", "rule": "lamp.out", "severity": "major", "zone": "north",
                                     "event": "opened"}, {"ticket_id": "T-1", "response_s": 12.5}, ts)]
    sink = make_sink(vm.url, tmp_path / "spool")
    try:
        sink.write(points)
        assert sink.flush(20) and sink.status() == "ok" and sink.backlog() == 0
    finally:
        sink.close()
    assert vm.wait_count(6, '{__name__=~"reading_.*|ticket_event_response_s"}') >= 6
    got = {s["metric"]["__name__"]: s for s in vm.export('{__name__=~"reading_.*|ticket_event_.*"}')}
    ms = int(ts.timestamp() * 1000)
    assert got["reading_power_on"]["metric"] == {"__name__": "reading_power_on", **tags}
    assert got["reading_power_on"]["values"] == [1, 0]  # booleans as 1/0
    assert got["reading_power_on"]["timestamps"] == [ms, ms + 1000]  # milliseconds kept
    assert got["reading_current_a"]["values"] == [0.25]
    assert got["reading_count"]["values"] == [7]
    assert got["ticket_event_response_s"]["values"] == [12.5]
    assert got["ticket_event_response_s"]["metric"]["event"] == "opened"
    # String fields carry no text into VictoriaMetrics: Debian's 1.79.5 stores a string that parses as
    # a number as that number, any other string as 0; newer releases drop string fields.
    for name in ("reading_fw", "ticket_event_ticket_id"):
        assert name not in got or got[name]["values"] == [0]


def test_outage_spools_points_then_delivers_each_once_in_full(vm: Victoria, tmp_path: Path) -> None:
    sink = make_sink(vm.url, tmp_path / "spool", batch_size=500)
    try:
        vm.stop()
        for i in range(0, 3000, 100):  # as the ingest thread would: many small batches
            sink.write(numbered(100, i))
        assert sink.wait_spooled(20)
        assert wait_for(lambda: sink.status() == "buffering"), sink.status()
        assert sink.backlog() == 3000 and sink.last_error
        vm.start()
        assert sink.flush(30), f"backlog {sink.backlog()} after the server came back"
        assert sink.status() == "ok" and sink.backlog() == 0 and sink.dropped() == 0
    finally:
        sink.close()
    assert vm.wait_count(3000, '{__name__="reading_seq"}') == 3000
    assert seqs(vm) == list(range(3000))  # all of them, none twice (this server keeps duplicates)


def test_a_new_sink_object_takes_over_the_spool_left_while_the_server_was_down(vm: Victoria,
                                                                                 tmp_path: Path) -> None:
    vm.stop()
    first = make_sink(vm.url, tmp_path / "spool")
    first.write(numbered(1000))
    first.close(timeout=1)  # the server is down: the points stay in the spool
    second = make_sink(vm.url, tmp_path / "spool")
    try:
        assert second.backlog() == 1000
        vm.start()
        assert second.flush(30)
    finally:
        second.close()
    assert vm.wait_count(1000, '{__name__="reading_seq"}') == 1000
    assert seqs(vm) == list(range(1000))


CHILD = textwrap.dedent("""
    import sys, time
    from datetime import datetime, timedelta, timezone
    from pathlib import Path
    from gateway.timeseries.influx import InfluxSink
    from gateway.timeseries.point import Point
    url, spool, mode, base = sys.argv[1], Path(sys.argv[2]), sys.argv[3], datetime.fromisoformat(sys.argv[4])
    sink = InfluxSink(url=url, org="o", bucket="b", token="t", spool_dir=spool, flush_interval_ms=50,
                      max_backoff_s=0.5, timeout_ms=2000)
    sink.start()
    if mode == "write":
        tags = {"site": "hv", "device": "ext-1", "kind": "extinguisher", "zone": "north"}
        for a in range(0, 50_000, 1000):
            sink.write([Point("reading", tags, {"seq": i}, base + timedelta(milliseconds=i))
                        for i in range(a, a + 1000)])
        print("spooled" if sink.wait_spooled(60) else "timeout", sink.backlog(), flush=True)
    elif mode == "idle":
        print("started", sink.backlog(), flush=True)
    else:
        print("flushed" if sink.flush(60) else "timeout", sink.backlog(), flush=True)
        sink.close()
        sys.exit(0)
    time.sleep(600)  # until killed
""")


def _child(vm: Victoria, spool: Path, mode: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-c", CHILD, vm.url, str(spool), mode, BASE.isoformat()],
                            cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def test_kill_9_while_the_server_is_down_loses_nothing_and_sends_nothing_twice(vm: Victoria,
                                                                                tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    vm.stop()
    writer, said = _child(vm, spool, "write")
    writer.kill()
    writer.wait()
    assert said == "spooled 50000"
    restarted, said = _child(vm, spool, "idle")  # the gateway restarts while the server is still down
    restarted.kill()
    restarted.wait()
    assert said == "started 50000"
    vm.start()
    drainer, said = _child(vm, spool, "drain")
    assert drainer.wait(90) == 0 and said == "flushed 0"
    assert vm.wait_count(50_000, '{__name__="reading_seq"}', timeout=30) == 50_000
    assert seqs(vm) == list(range(50_000))


@pytest.mark.real_clock
def test_a_resent_batch_collapses_on_a_deduplicating_server(tmp_path: Path) -> None:
    with victoria(tmp_path / "vm", dedup=True) as vm:
        sink = make_sink(vm.url, tmp_path / "spool")
        try:
            sink.write(numbered(200))
            assert sink.flush(20)
            # A crash after the server's answer and before the spool delete resends the same bytes.
            sink.spool.append([p.to_line().encode() for p in numbered(200)])
            assert sink.flush(20) and sink.sent == 400
        finally:
            sink.close()
        assert vm.wait_count(200, '{__name__="reading_seq"}') == 200
        assert seqs(vm) == list(range(200))


def test_the_writer_feeds_the_embedded_store_and_influxdb_at_once(vm: Victoria, tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "ts.sqlite3")
    store.start()
    writer = TimeSeriesWriter([store, make_sink(vm.url, tmp_path / "spool")])
    try:
        writer.write(numbered(100))
        assert writer.flush(20) and writer.status() == "ok" and writer.backlog() == 0
        local = store.query("reading", "seq", start=BASE, end=BASE + timedelta(hours=1), limit=1000)
        assert [v for _t, v in local["points"]] == list(range(100))
    finally:
        writer.close()
    assert vm.wait_count(100, '{__name__="reading_seq"}') == 100


# --- behaviour on server answers, seen by a recording stub -------------------------------------

class Stub:
    """Answers each write with the next scripted status (then 204) and records the bodies."""

    def __init__(self, script: list[int]) -> None:
        self.script = list(script)
        self.requests: list[tuple[int, list[str], dict[str, str]]] = []
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                status = stub.script.pop(0) if stub.script else 204
                stub.requests.append((status, body.decode().split("\n"), dict(self.headers)))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def accepted(self) -> list[str]:
        return [line for status, lines, _h in self.requests if status == 204 for line in lines]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stub_factory() -> Iterator[Callable[[list[int]], Stub]]:
    stubs: list[Stub] = []

    def make(script: list[int]) -> Stub:
        stubs.append(Stub(script))
        return stubs[-1]

    yield make
    for s in stubs:
        s.close()


def test_failed_writes_are_retried_head_first_so_the_server_sees_strict_order(
        stub_factory: Callable[[list[int]], Stub], tmp_path: Path) -> None:
    stub = stub_factory([503, 500, 429])
    sink = make_sink(stub.url, tmp_path / "spool", batch_size=100)
    try:
        points = numbered(450)
        sink.write(points)
        assert sink.flush(20)
    finally:
        sink.close()
    assert stub.accepted() == [p.to_line() for p in points]
    first_batch = stub.requests[0][1]
    assert all(lines == first_batch for _s, lines, _h in stub.requests[:4])  # the same head, resent
    assert stub.requests[0][2].get("Content-Encoding") == "gzip"
    assert stub.requests[0][2].get("Authorization") == f"Token {TOKEN}"


def test_a_batch_the_server_calls_invalid_is_dropped_counted_and_the_rest_goes_on(
        stub_factory: Callable[[list[int]], Stub], tmp_path: Path) -> None:
    stub = stub_factory([204, 400])
    sink = make_sink(stub.url, tmp_path / "spool", batch_size=100)
    try:
        points = numbered(300)
        for i in range(0, 300, 100):
            sink.write(points[i:i + 100])
            assert sink.flush(20)
        assert sink.rejected() == 100 and sink.status() == "ok"
    finally:
        sink.close()
    assert stub.accepted() == [p.to_line() for p in points[:100] + points[200:]]


def test_a_refused_token_keeps_the_data_and_says_down(stub_factory: Callable[[list[int]], Stub],
                                                      tmp_path: Path) -> None:
    stub = stub_factory([401] * 1000)
    sink = make_sink(stub.url, tmp_path / "spool")
    try:
        sink.write(numbered(10))
        assert wait_for(lambda: sink.status() == "down")
        assert sink.backlog() == 10 and sink.dropped() == 0
        stub.script.clear()  # someone fixed the token
        assert sink.flush(20) and sink.status() == "ok"
    finally:
        sink.close()
    assert len(stub.accepted()) == 10


def test_a_too_large_answer_halves_the_batch(stub_factory: Callable[[list[int]], Stub], tmp_path: Path) -> None:
    stub = stub_factory([413])
    sink = make_sink(stub.url, tmp_path / "spool", batch_size=100)
    try:
        sink.write(numbered(100))
        assert sink.flush(20)
    finally:
        sink.close()
    assert [len(lines) for status, lines, _h in stub.requests] == [100, 50, 50]


def test_a_full_spool_drops_oldest_counts_it_and_says_down(stub_factory: Callable[[list[int]], Stub],
                                                            tmp_path: Path) -> None:
    stub = stub_factory([503] * 1000)
    sink = make_sink(stub.url, tmp_path / "spool", spool_max_points=50)
    try:
        sink.write(numbered(80))
        assert sink.wait_spooled(10)
        assert sink.dropped() == 30 and sink.backlog() == 50 and sink.status() == "down"
        stub.script.clear()
        assert sink.flush(20)
    finally:
        sink.close()
    assert stub.accepted() == [p.to_line() for p in numbered(80)[30:]]


# --- the token ---------------------------------------------------------------------------------

def test_the_token_never_shows_in_repr_or_logs(stub_factory: Callable[[list[int]], Stub], tmp_path: Path,
                                               caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    stub = stub_factory([503, 401, 400])
    sink = make_sink(stub.url, tmp_path / "spool")
    try:
        sink.write(numbered(5))
        assert sink.flush(20)
        assert TOKEN not in repr(sink) and TOKEN not in str(sink)
    finally:
        sink.close()
    assert caplog.records, "the failures above should have been logged"
    assert TOKEN not in caplog.text


def test_the_token_comes_from_an_env_var_or_the_first_line_of_a_file(tmp_path: Path) -> None:
    assert resolve_token(token_env="INFLUX_TOKEN", environ={"INFLUX_TOKEN": " abc \n"}) == "abc"
    file = tmp_path / "token"
    file.write_text("xyz\n# comment\n")
    assert resolve_token(token_file=file) == "xyz"
    assert resolve_token(token_env="UNSET_VAR", token_file=file, environ={}) == "xyz"
    with pytest.raises(SitegateError, match="UNSET_VAR, which is not set"):
        resolve_token(token_env="UNSET_VAR", environ={})
    with pytest.raises(SitegateError, match="cannot read the InfluxDB token"):
        resolve_token(token_file=tmp_path / "missing")
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(SitegateError, match="token file is empty"):
        resolve_token(token_file=tmp_path / "empty")
    with pytest.raises(SitegateError, match="needs token_env or token_file"):
        resolve_token()
