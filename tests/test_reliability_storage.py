"""Disk full: the state database cannot be written; nothing is acknowledged, and all resumes by itself.

The gateway's data directory is a small tmpfs of its own (we run as root; the test is skipped with the
reason where mounting is not permitted). Filling it with a filler file makes every SQLite write fail
with "database or disk is full"; deleting the filler gives the space back.

A read-only data directory cannot be produced under a running gateway here: remounting read-only is
refused (EBUSY) while SQLite holds its files open for writing, and chmod means nothing to root. It
takes the same path in the pipeline (a failed commit is a sqlite3.Error, retried; nothing acked).
"""

from __future__ import annotations

import errno
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from bench.bench_crash import BrokerStore, journal_rows, journal_seq_counts, metric
from tests.support.gateway_proc import GatewayProcess, wait_for, write_site
from tests.support.mosquitto import SITE_SETTINGS, Broker, mosquitto

FS_SIZE = "24m"
WARM = 200  # messages processed before the disk fills
HELD = 3000  # messages published while it is full (2 KB each: far more than SQLite's spare pages)


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "site" / "data"
    mount.mkdir(parents=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={FS_SIZE}", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({done.stderr.strip()}); run as root with "
                    "CAP_SYS_ADMIN to test a full disk")
    try:
        yield mount
    finally:
        if subprocess.run(["umount", str(mount)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.fixture
def sys_broker(tmp_path: Path) -> Iterator[Broker]:
    """A site-configured mosquitto that publishes its $SYS store count every second."""
    with mosquitto(tmp_path / "mosquitto", extra=SITE_SETTINGS + "sys_interval 1\n") as b:
        yield b


def fill(dir: Path) -> Path:
    """Write a filler file until the filesystem has no byte left."""
    filler = dir / "filler"
    chunk = b"\0" * (1 << 20)
    with filler.open("wb", buffering=0) as f:
        while chunk:
            try:
                f.write(chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
                chunk = chunk[: len(chunk) // 2]
    assert shutil.disk_usage(dir).free < 64 * 1024
    return filler


def publish_seq(port: int, start: int, n: int, *, pad: int) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"disk-pub-{start}")
    client.max_inflight_messages_set(200)
    client.connect("127.0.0.1", port)
    client.loop_start()
    infos = [client.publish(f"sitegate/disk/ext-{seq % 20:02d}/telemetry",
                            orjson.dumps({"pressure_mpa": 1.2, "seq": seq, "note": "x" * pad}), qos=1)
             for seq in range(start, start + n)]
    for info in infos:
        info.wait_for_publish(30)  # acknowledged by the broker: it holds the message now
    client.disconnect()
    client.loop_stop()


def processed(gw: GatewayProcess) -> int:
    return sum(int(d["messages"]) for d in gw.get("/api/devices"))


def test_disk_full_degrades_health_holds_messages_at_the_broker_and_recovers_when_space_returns(
        sys_broker: Broker, small_fs: Path, tmp_path: Path) -> None:
    site = write_site(tmp_path / "site", site_id="disk", mqtt_url=sys_broker.url)
    gw = GatewayProcess(site)
    gw.start()
    store = BrokerStore(sys_broker.port)
    try:
        publish_seq(sys_broker.port, 0, WARM, pad=100)
        wait_for(lambda: processed(gw) == WARM, 20, "the warm-up messages")
        filler = fill(small_fs)
        baseline = store.value()

        publish_seq(sys_broker.port, WARM, HELD, pad=2000)
        wait_for(lambda: gw.get("/api/health")["storage"] == "error", 20, "health to report the storage error")
        health = gw.get("/api/health")
        assert health["status"] == "degraded"
        assert any("state database not writable" in p and "full" in p for p in health["problems"]), health
        # The API keeps serving. (The registry in memory may be one batch ahead of the journal: the
        # batch being retried was decoded before its commit failed; it is neither journaled nor acked.)
        shown = processed(gw)
        assert httpx.get(gw.url + "/api/deadletters", timeout=10).status_code == 200
        assert metric(httpx.get(gw.url + "/metrics", timeout=10).text, "sitegate_storage_errors_total") >= 1
        # Nothing more is acknowledged: what is not in the journal is still held by the broker (SQLite
        # could reuse a few spare WAL pages after the disk filled, so some messages were journaled).
        journaled = journal_rows(small_fs / "state.db")
        assert journaled < WARM + HELD
        wait_for(lambda: store.value() - baseline >= WARM + HELD - journaled, 30, "the broker's count")
        time.sleep(2)  # an observation period (two $SYS intervals), not a wait for an event
        assert store.value() - baseline >= WARM + HELD - journaled
        assert processed(gw) == shown < WARM + HELD  # no progress while the disk is full
        assert journal_rows(small_fs / "state.db") == journaled
        assert "cannot write the state database" in gw.log.read_text(errors="replace")

        filler.unlink()
        wait_for(lambda: processed(gw) == WARM + HELD, 40, "every held message processed after space returned")
        seen: list[dict[str, object]] = []

        def healthy() -> bool:
            seen.append(gw.get("/api/health"))
            return seen[-1]["status"] == "ok"

        # The state database and the time-series store each retry with backoff up to 5 s, one after
        # the other, on a machine that may be loaded: 10 s was once too short in CI (the cause was not
        # shown then; the health's problems are now part of the failure).
        try:
            wait_for(healthy, 30, "health ok again")
        except TimeoutError:
            raise AssertionError(f"health not ok 30 s after every message was processed: {seen[-1:]}") from None
        wait_for(lambda: store.value() - baseline < 50, 20, "the broker to release the acknowledged messages")
        assert "state database writable again" in gw.log.read_text(errors="replace")
    finally:
        store.close()
        code = gw.stop()
    assert code == 0
    counts = journal_seq_counts(small_fs / "state.db", "%/telemetry")
    assert sorted(counts) == list(range(WARM + HELD))
    assert set(counts.values()) == {1}
