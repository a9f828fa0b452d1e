"""Per-device open ticket counts (shown beside device health, and in `equipment_health` points),
cached so a page of devices costs no query.

Device views are built for the HTTP API and for the pipeline's `equipment_health` points, so a
caller must never wait for the tickets database: it gets the counts of the last read at once.

The counts are read again right after every ticket change this gateway commits (`changed()`, on
the thread that made the change, which has just written that database; once per commit however many
changes it holds), so they follow the gateway's own clock: in replay and on a fake clock as promptly
as live. Only changes made by someone else (another gateway on a shared PostgreSQL store) wait for
the `ttl`, measured on the real clock since that is where those happen: a stale copy starts one read
in the background. A slow or locked database delays those figures, never ingest nor a request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)

Counts = dict[str, dict[str, int]]  # device -> severity -> active tickets


class OpenTicketCounts:
    """Per-device open ticket counts by severity: read after each change, and in the background at
    most every `ttl` s (None: never, when no one else writes the store, as in replay)."""

    def __init__(self, read: Callable[[], Counts], ttl: float | None = 2.0,
                 monotonic: Callable[[], float] = time.monotonic,
                 commits: Callable[[], int] | None = None) -> None:
        """`commits`: how many write transactions the ticket service has committed so far (counted
        after each commit, before its changes are told): the changes of one commit then cost one
        read, not one each (a commit that opens a ticket and raises its zone's emergency level)."""
        self._read = read
        self.ttl = ttl
        self._monotonic = monotonic
        self._commits = commits
        self._lock = threading.Lock()  # guards the fields below only, never held during a read
        self._counts: Counts = read()  # at start-up, before ingest and HTTP run
        self._at = monotonic()
        self._refreshing = False
        # Bumped by every change: a background read that began before one must not overwrite it.
        self._generation = 0
        # Every commit up to this one is in the counts: a read after a change began once it was made.
        self._read_upto = -1

    def __call__(self, device: str) -> Mapping[str, int]:
        with self._lock:
            counts = self._counts
            stale = (self.ttl is not None and not self._refreshing
                     and self._monotonic() - self._at > self.ttl)
            if stale:
                self._refreshing = True
                generation = self._generation
        if stale:
            threading.Thread(target=self._refresh, args=(generation,), name="open-ticket-counts",
                             daemon=True).start()
        return counts.get(device, {})

    @property
    def refreshing(self) -> bool:
        """A background read is under way."""
        with self._lock:
            return self._refreshing

    def changed(self) -> None:
        """A ticket change was committed: read the counts again now, unless a read that began after
        its commit already took it in (another change of the same commit)."""
        # Taken before the read begins, so the read sees every commit up to it.
        commits = self._commits() if self._commits is not None else None
        with self._lock:
            if commits is not None and commits <= self._read_upto:
                return
            self._generation += 1
            generation = self._generation
        try:
            fresh = self._read()
        except Exception:
            log.exception("Reading open ticket counts failed; they are read again later.")
            with self._lock:
                self._at = float("-inf")  # stale: the next caller starts a background read
            return
        with self._lock:
            if generation == self._generation:  # else a later change's read is newer
                self._counts, self._at = fresh, self._monotonic()
            if commits is not None:
                self._read_upto = max(self._read_upto, commits)

    def _refresh(self, generation: int) -> None:
        try:
            fresh = self._read()
        except Exception:
            log.exception("Reading open ticket counts failed; the last counts are shown.")
            fresh = None
        with self._lock:
            if fresh is not None and generation == self._generation:
                self._counts = fresh
            self._at = self._monotonic()
            self._refreshing = False
