"""Live reload: a changed rule file is picked up; a broken edit keeps the last good rules and says why."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from gateway.rules.reload import RuleReloader
from gateway.rules.schema import Rule

GOOD = """rules:
  - id: site.pressure_low
    match: {kind: hydrant, metric: pressure_mpa}
    condition: {type: threshold, below: 0.2}
    labels: {severity: major, category: fire}
    annotations: {title: "Low {device}"}
"""


def bump(path: Path, text: str) -> None:
    path.write_text(text)
    st = path.stat()
    os.utime(path, (st.st_atime, st.st_mtime + 1))  # a new mtime even within one clock tick


def test_reload_applies_good_edits_and_keeps_the_last_good_rules_on_a_bad_one(tmp_path: Path) -> None:
    rules = tmp_path / "site.yaml"
    bump(rules, GOOD)
    applied: list[list[str]] = []

    def apply(new: Sequence[Rule]) -> None:
        applied.append([r.id for r in new])

    reloader = RuleReloader([rules], apply)
    assert reloader.check_now() is False  # nothing changed since start

    bump(rules, GOOD.replace("site.pressure_low", "site.pressure_very_low"))
    assert reloader.check_now() is True
    assert applied == [["site.pressure_very_low"]] and reloader.status == "ok"

    bump(rules, GOOD.replace("severity: major", "severity: huge"))
    assert reloader.check_now() is False
    assert applied == [["site.pressure_very_low"]]  # the last good rules keep running
    assert reloader.status.startswith(f"error: {rules}:5:")
    assert "last good rules keep running" in reloader.status

    bump(rules, GOOD)
    assert reloader.check_now() is True
    assert reloader.status == "ok"
