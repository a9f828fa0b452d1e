"""The capture format of `sitegate record` and `sitegate replay`: one JSON object per line with
`ts` (ISO 8601 with offset), `topic`, and `payload` (UTF-8 text) or `payload_b64` (bytes)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import orjson

from gateway.core.errors import ConfigError, Problem
from gateway.core.model import RawMessage


def encode(topic: str, payload: bytes, ts: datetime) -> bytes:
    rec: dict[str, str] = {"ts": ts.isoformat(), "topic": topic}
    try:
        rec["payload"] = payload.decode("utf-8")
    except UnicodeDecodeError:
        rec["payload_b64"] = base64.b64encode(payload).decode()
    return orjson.dumps(rec) + b"\n"


def read(path: Path) -> Iterator[RawMessage]:
    """Messages of a capture in file order; a bad line is a FILE:LINE error (not silently skipped)."""
    with path.open("rb") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = orjson.loads(line)
                ts = datetime.fromisoformat(rec["ts"])
                if ts.tzinfo is None:
                    ts = ts.replace(tzinfo=UTC)
                payload = base64.b64decode(rec["payload_b64"]) if "payload_b64" in rec \
                    else str(rec["payload"]).encode()
                topic = str(rec["topic"])
            except (orjson.JSONDecodeError, KeyError, ValueError, TypeError) as exc:
                raise ConfigError([Problem(path, lineno, f"not a capture line ({exc}); expected "
                                           '{"ts": ..., "topic": ..., "payload": ...}')]) from None
            yield RawMessage(topic, payload, ts)
