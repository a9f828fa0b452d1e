"""Every command's --help lists flags as flags: no `<bool>` or BOOLEAN beside an option that takes
no value (typer's rich help printed `--help <bool>` and `--json <bool>`)."""

from __future__ import annotations

from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from gateway.app.cli import app


def command_paths() -> list[list[str]]:
    """Every command and group of the CLI, found by walking click's tree (a new one is covered too)."""
    root = typer.main.get_command(app)
    found: list[list[str]] = []

    def walk(command: Any, path: list[str]) -> None:
        found.append(path)
        # typer carries its own copy of click, so a group is told by its sub-commands, not its class.
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*path, name])

    walk(root, [])
    return found


PATHS = command_paths()


def test_the_walk_finds_every_command() -> None:
    names = {" ".join(p) for p in PATHS}
    assert {"", "run", "check", "demo", "record", "simulate", "serial", "replay", "token", "token create",
            "token list", "token revoke", "rules", "rules test"} <= names


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "sitegate")
def test_help_has_no_boolean_placeholders(path: list[str]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], terminal_width=100)
    assert result.exit_code == 0, result.output
    assert "--help" in result.output
    for placeholder in ("<bool>", "BOOLEAN", "<boolean>"):
        assert placeholder not in result.output, f"`sitegate {' '.join(path)} --help` shows {placeholder}:\n" \
                                                 f"{result.output}"


def test_a_flag_is_listed_by_its_name_alone() -> None:
    result = CliRunner().invoke(app, ["token", "list", "--help"], terminal_width=100)
    line = next(ln for ln in result.output.splitlines() if "--json" in ln)
    assert line.split() == ["--json", "JSON", "on", "stdout."]
