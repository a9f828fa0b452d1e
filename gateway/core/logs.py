"""Structured log lines (logfmt): easy for people to read and for log shippers to parse."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime


class LogfmtFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        msg = record.getMessage().replace('"', "'")
        line = f'ts={ts} level={record.levelname.lower()} logger={record.name} msg="{msg}"'
        if record.exc_info:
            exc = self.formatException(record.exc_info).replace("\n", "\\n").replace('"', "'")
            line += f' exc="{exc}"'
        return line


def setup_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LogfmtFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Third-party chatter stays at warning unless asked for.
    for noisy in ("uvicorn.access", "amqtt", "transitions", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
