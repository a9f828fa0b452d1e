"""The InfluxDB sink: points go to a disk spool first, a sender thread drains it to `/api/v2/write`.

    write() -> inbox (memory, bounded) -> spooler thread -> Spool (SQLite, durable)
            -> sender thread -> influxdb-client write API (gzip) -> server acknowledges -> spool.ack

A point survives kill -9 once it is in the spool (`flush`/`wait_spooled` tell when). The sender
reads the oldest `batch_size` lines, posts them, and deletes them only after the server answered
2xx, so delivery is at-least-once and strictly in order. A crash between the server's answer and
the delete resends that batch: the lines are byte-identical (same series, same nanosecond
timestamp), which InfluxDB stores once (a point with the same series and time overwrites) and
VictoriaMetrics stores once with `-dedup.minScrapeInterval=1ms` (without it, it keeps both).

Failures: connection errors, timeouts, 429 and 5xx are retried with exponential backoff (honouring
Retry-After), for as long as it takes, while new points keep spooling; 413 halves the batch;
400/422 (the server refused the data itself, after storing any valid lines) drops that batch,
counted in `rejected()`, because resending it would block the spool for ever; 401/403 keeps the
data and retries slowly, with status "down" until a person fixes the token.

Status: "down" when points are being lost or will not move without a person (spool full, spool or
thread failure, token refused); "buffering" when the last write failed or the backlog is more than
ten batches; "ok" otherwise.

The token is taken as a value (see `resolve_token` for env var or file) and is never logged nor
shown in a repr.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from influxdb_client.client.influxdb_client import InfluxDBClient
from influxdb_client.client.write_api import WriteOptions, WriteType
from influxdb_client.rest import ApiException

from gateway.core.errors import SitegateError
from gateway.timeseries.inbox import Inbox
from gateway.timeseries.point import Point
from gateway.timeseries.spool import FullPolicy, Spool
from gateway.timeseries.writer import SinkState

log = logging.getLogger(__name__)


def resolve_token(*, token_env: str | None = None, token_file: Path | None = None,
                  environ: Mapping[str, str] | None = None) -> str:
    """The InfluxDB token from an environment variable or a file (first line, trimmed)."""
    env = os.environ if environ is None else environ
    if token_env:
        value = env.get(token_env, "").strip()
        if value:
            return value
        if token_file is None:
            raise SitegateError(f"timeseries.influxdb.token_env names the variable {token_env}, which is "
                                "not set or empty; export it in the service's environment.")
    if token_file is not None:
        try:
            text = token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SitegateError(f"{token_file}: cannot read the InfluxDB token ({exc.strerror}); check "
                                "the path in timeseries.influxdb.token_file and its permissions.") from exc
        if text:
            return text.splitlines()[0].strip()
        raise SitegateError(f"{token_file}: the InfluxDB token file is empty; "
                            "put the token on its first line.")
    raise SitegateError("timeseries.influxdb needs token_env or token_file to find its token.")


class _Secret:
    """Holds a secret so that printing, logging or repr of its owner shows only stars."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "'***'"

    __str__ = __repr__


class _Refused(Exception):
    """The server refused a batch for good (400/422)."""


class InfluxSink:
    """Sends points to an InfluxDB 2 compatible `/api/v2/write` through a durable spool."""

    name = "influxdb"

    def __init__(self, *, url: str, org: str, bucket: str, token: str, spool_dir: Path,
                 spool_max_points: int = 1_000_000, batch_size: int = 5000, flush_interval_ms: int = 1000,
                 full_policy: FullPolicy = "drop_oldest", inbox_max_points: int = 100_000,
                 timeout_ms: int = 10_000, max_backoff_s: float = 30.0, gzip: bool = True,
                 spool_synchronous: str = "NORMAL") -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1; got {batch_size}.")
        self.url, self.org, self.bucket = url, org, bucket
        self._token = _Secret(token)
        self.batch_size = batch_size
        self.flush_interval = flush_interval_ms / 1000
        self.max_backoff_s = max_backoff_s
        self.spool = Spool(spool_dir / "influx-spool.sqlite3", max_points=spool_max_points,
                           policy=full_policy, synchronous=spool_synchronous)
        self._client = InfluxDBClient(url=url, token=token, org=org, enable_gzip=gzip,
                                      timeout=(min(timeout_ms, 3000), timeout_ms))
        self._write_api = self._client.write_api(
            write_options=WriteOptions(write_type=WriteType.synchronous, max_retries=0))
        self._inbox: Inbox[Point] = Inbox(inbox_max_points)
        self._progress = threading.Condition()  # notified after every ack, and when the spool grows
        self._stop = threading.Event()
        self._flush_target = 0  # send now (without waiting for a full batch) up to this sequence
        self._failing: str | None = None  # why the last write failed; None after a success
        self._auth_refused = False
        self._broken: str | None = None  # the spool cannot be written
        self.sent = 0
        self._rejected = 0
        self._spooler = threading.Thread(target=self._spool_loop, name="ts-influx-spool", daemon=True)
        self._sender = threading.Thread(target=self._send_loop, name="ts-influx-send", daemon=True)

    def start(self) -> None:
        """Start spooling and sending (once). Points written before are queued, not lost."""
        if self._spooler.ident is None:
            self._spooler.start()
            self._sender.start()

    def __repr__(self) -> str:
        return (f"InfluxSink(url={self.url!r}, org={self.org!r}, bucket={self.bucket!r}, "
                f"token={self._token!r})")

    # --- Sink -------------------------------------------------------------------------------
    def write(self, points: Sequence[Point]) -> None:
        if not self._inbox.put(points):
            log.warning("The InfluxDB sink's inbox is full; %d points dropped (total %d).", len(points),
                        self._inbox.dropped)

    def wait_spooled(self, timeout: float = 10.0) -> bool:
        """True once every point written before this call is in the spool (safe from kill -9)."""
        return self._inbox.wait_done(timeout)

    durable = wait_spooled

    def flush(self, timeout: float = 10.0) -> bool:
        """True once every point written before this call is acknowledged by the server (or dropped)."""
        deadline = time.monotonic() + timeout
        if not self.wait_spooled(timeout):
            return False
        target = self.spool.last_seq()
        with self._progress:
            self._flush_target = max(self._flush_target, target)
            self._progress.notify_all()
            while True:
                head = self.spool.head_seq()
                if head is None or head > target:
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._progress.wait(min(left, 0.5))

    def close(self, timeout: float = 5.0) -> None:
        """Spool everything handed over, try to send it for up to `timeout` s (if the server is up),
        then stop; what is not sent stays in the spool for the next start."""
        self.start()  # a sink closed before it started still spools what it was handed
        self._inbox.close()
        self._spooler.join()
        if self._failing is None:
            self.flush(timeout)
        self._stop.set()
        with self._progress:
            self._progress.notify_all()
        self._sender.join()
        self._write_api.close()  # type: ignore[no-untyped-call]
        self._client.close()  # type: ignore[no-untyped-call]
        self.spool.close()

    def status(self) -> SinkState:
        if self._broken or self._auth_refused or self.spool.full:
            return "down"
        if not (self._spooler.is_alive() and self._sender.is_alive()) and not self._stop.is_set():
            return "down"
        if self._failing is not None or self.backlog() > 10 * self.batch_size:
            return "buffering"
        return "ok"

    def backlog(self) -> int:
        return (self._inbox.accepted - self._inbox.done) + len(self.spool)

    def dropped(self) -> int:
        """Points lost to full buffers: the inbox (this run) and the spool (over the spool's life)."""
        return self._inbox.dropped + self.spool.dropped

    def rejected(self) -> int:
        """Points in batches the server refused as invalid (400/422) in this run."""
        return self._rejected

    @property
    def last_error(self) -> str | None:
        return self._broken or self._failing

    # --- spooler thread ---------------------------------------------------------------------
    def _spool_loop(self) -> None:
        while True:
            batch = self._inbox.take(self.batch_size, timeout=None)
            if batch is None:
                return
            try:
                while True:
                    try:
                        lost = self.spool.append([p.to_line().encode() for p in batch])
                        self._broken = None
                        break
                    except Exception as exc:  # disk full, I/O error: keep the batch, the inbox bounds memory
                        if self._broken is None:
                            log.error("Cannot append to the InfluxDB spool %s (%s); retrying.",
                                      self.spool.path, exc)
                        self._broken = f"spool write failed: {exc}"
                        if self._inbox.closed:  # closing: do not hang on a broken disk, count the loss
                            log.error("Closing with a broken spool: %d points are lost.", len(batch))
                            self._inbox.dropped += len(batch)
                            break
                        time.sleep(1.0)
                if lost:
                    log.warning("The InfluxDB spool is full (%d points); %s: %d points dropped (total %d).",
                                self.spool.max_points, self.spool.policy, lost, self.spool.dropped)
            finally:
                self._inbox.finished(len(batch))
            with self._progress:
                self._progress.notify_all()

    # --- sender thread ----------------------------------------------------------------------
    def _send_loop(self) -> None:
        backoff = 0.5
        size = self.batch_size
        partial_since: float | None = None
        while not self._stop.is_set():
            pending = len(self.spool)
            if pending == 0:
                partial_since = None
                self._wait(self.flush_interval)
                continue
            if pending < size and self._flush_target < (self.spool.head_seq() or 0):
                now = time.monotonic()
                partial_since = partial_since or now
                if now - partial_since < self.flush_interval:  # let a partial batch fill up a little
                    self._wait(self.flush_interval - (now - partial_since))
                    continue
            upto, lines = self.spool.peek(size)
            if not lines:
                continue
            try:
                self._post(lines)
            except _Refused as exc:
                self._rejected += len(lines)
                log.error("InfluxDB at %s refused %d points as invalid (%s); they are dropped.", self.url,
                          len(lines), exc)
            except ApiException as exc:
                if exc.status == 413 and size > 1:
                    size = max(1, size // 2)
                    continue
                retry_after = _retry_after(exc)
                self._auth_refused = exc.status in (401, 403)
                self._failed(f"HTTP {exc.status} {exc.reason}")
                backoff = self._backoff(backoff, retry_after)
                continue
            except Exception as exc:  # connection refused, timeout, reset
                self._failed(f"{type(exc).__name__}: {exc}")
                backoff = self._backoff(backoff, None)
                continue
            self.spool.ack(upto)
            self.sent += len(lines)
            if self._failing is not None:
                log.info("InfluxDB at %s accepts writes again; %d points still spooled.", self.url,
                         len(self.spool))
            self._failing, self._auth_refused = None, False
            backoff, size, partial_since = 0.5, self.batch_size, None
            with self._progress:
                self._progress.notify_all()

    def _post(self, lines: list[bytes]) -> None:
        try:
            self._write_api.write(bucket=self.bucket, org=self.org, record=b"\n".join(lines),
                                  write_precision="ns")  # type: ignore[arg-type]
        except ApiException as exc:
            if exc.status in (400, 422):
                raise _Refused(f"HTTP {exc.status}: {str(exc.body)[:300]}") from exc
            raise

    def _failed(self, why: str) -> None:
        if self._failing is None:
            log.warning("Cannot write to InfluxDB at %s (%s); points are kept in the spool (%d) and retried.",
                        self.url, why, len(self.spool))
        self._failing = why

    def _backoff(self, current: float, retry_after: float | None) -> float:
        delay = retry_after if retry_after is not None else current * random.uniform(0.8, 1.2)
        # Only close() cuts a backoff short: new points arriving must not cause a retry storm.
        self._stop.wait(min(delay, self.max_backoff_s))
        return min(current * 2, self.max_backoff_s)

    def _wait(self, seconds: float) -> None:
        with self._progress:
            if not self._stop.is_set():
                self._progress.wait(max(0.0, seconds))


def _retry_after(exc: ApiException) -> float | None:
    headers: Mapping[str, str] = exc.headers or {}
    value = headers.get("Retry-After") or headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
