"""Rejected messages, kept with their reason so nothing bad is silently lost (bounded)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

PAYLOAD_CUT = 1024  # bytes kept per message; CONTRACT.md promises at most 1 KiB back


@dataclass(frozen=True, slots=True)
class DeadLetter:
    topic: str
    received_at: datetime
    reason: str
    detail: str
    payload: bytes


class DeadLetters:
    def __init__(self, *, max_rows: int = 10_000) -> None:
        self.max_rows = max_rows
        self._since_prune = 0

    def add(self, db: sqlite3.Connection, letters: Sequence[DeadLetter]) -> None:
        """Insert inside the caller's transaction; prune the oldest now and then."""
        if not letters:
            return
        db.executemany(
            "INSERT INTO deadletters(topic, received_at, reason, detail, payload) VALUES(?,?,?,?,?)",
            [(d.topic, d.received_at.timestamp(), d.reason, d.detail, d.payload[:PAYLOAD_CUT])
             for d in letters])
        self._since_prune += len(letters)
        if self._since_prune >= max(100, self.max_rows // 10):
            self._since_prune = 0
            db.execute("DELETE FROM deadletters WHERE id <= (SELECT MAX(id) FROM deadletters) - ?",
                       (self.max_rows,))

    @staticmethod
    def list(db: sqlite3.Connection, *, tz: tzinfo = UTC, limit: int = 100, reason: str | None = None,
             max_rows: int | None = None) -> list[dict[str, Any]]:
        sql = "SELECT topic, received_at, reason, detail, payload FROM deadletters"
        args: list[Any] = []
        if reason:
            sql += " WHERE reason = ?"
            args.append(reason)
        sql += " ORDER BY id DESC LIMIT ?"
        args.append(limit if max_rows is None else min(limit, max_rows))
        out = []
        for topic, received_at, why, detail, payload in db.execute(sql, args):
            text = bytes(payload).decode("utf-8", errors="replace")
            out.append({"topic": topic,
                        "received_at": datetime.fromtimestamp(received_at, tz).isoformat(),
                        "reason": why, "detail": detail, "payload": text})
        return out
