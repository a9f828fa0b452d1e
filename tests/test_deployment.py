"""The deployment examples (docs/deployment.md) are real: the systemd units pass `systemd-analyze
verify` with their commands pointing at this install, and every example file a deployment copies
is used by some test, so none can rot unseen."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEPLOYMENT = ROOT / "examples" / "deployment"
HEADOFFICE = ROOT / "examples" / "headoffice"
UNITS = sorted(DEPLOYMENT.rglob("*.service"))
INSTALLED = "/opt/sitegate/.venv/bin/sitegate"  # where docs/deployment.md installs the gateway


def _as_installed_here(unit: Path, into: Path) -> Path:
    """The unit with its ExecStart pointing at this checkout's `sitegate` (verify checks that the
    command exists); a template unit is verified as its first instance."""
    here = Path(sys.executable).parent / "sitegate"
    name = unit.name.replace("@.service", "@1.service")
    target = into / name
    target.write_text(unit.read_text().replace(INSTALLED, str(here)))
    return target


def test_there_are_units_for_the_site_box_and_head_office() -> None:
    assert {u.name for u in UNITS} >= {"sitegate.service", "sitegate-mosquitto.service", "sitegate-hq@.service",
                                       "sitegate-hq-mosquitto.service"}


@pytest.mark.parametrize("unit", UNITS, ids=[u.name for u in UNITS])
def test_each_unit_passes_systemd_analyze_verify(unit: Path, tmp_path: Path) -> None:
    verify = shutil.which("systemd-analyze")
    if verify is None:
        pytest.skip("systemd-analyze is not installed here (the systemd package)")
    if "/usr/sbin/mosquitto" in unit.read_text() and not Path("/usr/sbin/mosquitto").exists():
        pytest.skip("mosquitto is not installed (make system-deps)")
    copy = _as_installed_here(unit, tmp_path)
    run = subprocess.run([verify, "verify", str(copy)], capture_output=True, text=True, timeout=60)
    # verify exits 0 on unknown keys and bad values, printing them: any word from it is a defect.
    problems = [line for line in (run.stdout + run.stderr).splitlines() if str(tmp_path) in line or "Failed" in line]
    assert run.returncode == 0 and not problems, run.stdout + run.stderr


def test_verify_would_catch_a_misspelt_key(tmp_path: Path) -> None:
    """The check above is only worth something if a broken unit fails it."""
    verify = shutil.which("systemd-analyze")
    if verify is None:
        pytest.skip("systemd-analyze is not installed here (the systemd package)")
    unit = _as_installed_here(DEPLOYMENT / "site" / "sitegate.service", tmp_path)
    unit.write_text(unit.read_text().replace("Restart=always", "Restrat=always"))
    run = subprocess.run([verify, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert "Unknown key 'Restrat'" in run.stdout + run.stderr


def test_every_deployment_example_file_is_used_by_a_test() -> None:
    tests = "\n".join(p.read_text() for p in (ROOT / "tests").rglob("*.py"))
    examples = [p for folder in (DEPLOYMENT, HEADOFFICE) for p in folder.rglob("*") if p.is_file()]
    unused = [str(p.relative_to(ROOT)) for p in examples
              if p.suffix != ".service" and p.name not in tests]  # the units are all verified above
    assert examples and unused == []
