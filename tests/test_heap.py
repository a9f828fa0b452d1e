"""settle_heap: what exists at start-up is frozen out of the collector's passes, and young passes
are rarer; in a child process, since it changes the interpreter's collector for good."""

from __future__ import annotations

import subprocess
import sys


def test_settle_heap_freezes_what_exists_and_raises_the_young_threshold() -> None:
    code = ("import gc; from gateway.core.heap import settle_heap, YOUNG_THRESHOLD; "
            "before = gc.get_threshold(); settle_heap(); after = gc.get_threshold(); "
            "assert gc.get_freeze_count() > 1000, gc.get_freeze_count(); "
            "assert after == (YOUNG_THRESHOLD, *before[1:]), (before, after); "
            "assert gc.isenabled(); print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
