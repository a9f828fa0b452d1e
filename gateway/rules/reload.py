"""Live reload of rule files: when a file changes, load everything again; a bad edit keeps the last
good rules running and says why (log, /api/health, dashboard)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from gateway.core.errors import ConfigError
from gateway.rules.loader import load_rules, rule_files
from gateway.rules.schema import Rule

log = logging.getLogger("sitegate.rules")


class RuleReloader:
    def __init__(self, paths: Sequence[Path], apply: Callable[[Sequence[Rule]], None],
                 *, interval: float = 2.0) -> None:
        self.paths = list(paths)
        self.apply = apply
        self.interval = interval
        self.status = "ok"
        self.reloads = 0
        self._seen = self._fingerprint()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _fingerprint(self) -> dict[Path, float]:
        files, _problems = rule_files(self.paths)
        out = {}
        for f in files:
            try:
                out[f] = f.stat().st_mtime
            except OSError:
                continue
        return out

    def check_now(self) -> bool:
        """Reload if any rule file was added, removed or changed; True when rules were replaced."""
        seen = self._fingerprint()
        if seen == self._seen:
            return False
        self._seen = seen
        try:
            rules = load_rules(self.paths)
        except ConfigError as exc:
            first = exc.problems[0] if exc.problems else "unknown problem"
            self.status = f"error: {first} (the last good rules keep running)"
            for problem in exc.problems:
                log.error("rule reload refused: %s", problem)
            return False
        self.apply(rules)
        self.reloads += 1
        self.status = "ok"
        log.info("rules reloaded: %d rules from %d files", len(rules), len(seen))
        return True

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="sitegate-rules-reload", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.check_now()
            except Exception:
                log.exception("rule reload check failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
