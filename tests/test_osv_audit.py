"""Offline vulnerability audit (#12 item 13): ``tools/osv_audit.py`` and ``make audit OSV=…`` read
pins and real OSV advisories (tests/data/osv_audit/README.md) without network."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "osv_audit"
ADVISORIES = DATA / "advisories"
TOOL = ROOT / "tools" / "osv_audit.py"

EXPECTED = [  # written from the advisories, not by the tool
    "jinja2 2.11.2: PYSEC-2021-66 (CVE-2020-28493, SNYK-PYTHON-JINJA2-1012994) — fixed in 2.11.3",
    "requests 2.30.0: PYSEC-2023-74 (CVE-2023-32681, GHSA-j8r2-6x86-q33q) — fixed in 2.31.0",
    "urllib3 2.0.6: PYSEC-2023-212 (CVE-2023-45803, GHSA-g4mx-q9vg-27p4) — fixed in 2.0.7",
]


def run(lock: Path, osv: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(TOOL), str(lock), str(osv), *args],
                          capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("osv_audit", TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["osv_audit"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_vulnerable_pins_are_found_and_fixed_ones_pass() -> None:
    found = run(DATA / "vulnerable.lock", ADVISORIES)
    assert found.returncode == 1, found.stderr
    assert found.stdout.splitlines() == EXPECTED  # the PYSEC and GHSA of requests: one finding
    assert "3 known vulnerabilities in 4 pinned packages (4 PyPI advisories read" in found.stderr
    clean = run(DATA / "fixed.lock", ADVISORIES)
    assert (clean.returncode, clean.stdout) == (0, "")


def test_a_zip_export_reads_like_a_folder(tmp_path: Path) -> None:
    export = tmp_path / "all.zip"  # osv.dev's PyPI/all.zip: one <id>.json per advisory
    with zipfile.ZipFile(export, "w") as zf:
        for path in sorted(ADVISORIES.glob("*.json")):
            zf.write(path, path.name)
    result = run(DATA / "vulnerable.lock", export, "--json")
    assert result.returncode == 1
    assert json.loads(result.stdout) == [
        {"package": "jinja2", "version": "2.11.2", "id": "PYSEC-2021-66",
         "aliases": ["CVE-2020-28493", "SNYK-PYTHON-JINJA2-1012994"], "fixed": "2.11.3"},
        {"package": "requests", "version": "2.30.0", "id": "PYSEC-2023-74",
         "aliases": ["CVE-2023-32681", "GHSA-j8r2-6x86-q33q"], "fixed": "2.31.0"},
        {"package": "urllib3", "version": "2.0.6", "id": "PYSEC-2023-212",
         "aliases": ["CVE-2023-45803", "GHSA-g4mx-q9vg-27p4"], "fixed": "2.0.7"}]


def test_withdrawn_advisories_are_skipped(tmp_path: Path) -> None:
    folder = tmp_path / "osv" / "PyPI"
    shutil.copytree(ADVISORIES, folder)
    path = folder / "PYSEC-2021-66.json"
    advisory = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps({**advisory, "withdrawn": "2024-01-01T00:00:00Z"}), encoding="utf-8")
    result = run(DATA / "vulnerable.lock", tmp_path / "osv")  # read at any depth
    assert result.stdout.splitlines() == EXPECTED[1:]
    assert "1 withdrawn skipped" in result.stderr


def test_an_export_without_pypi_advisories_is_not_a_clean_bill(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    empty = run(DATA / "vulnerable.lock", tmp_path / "empty")
    assert empty.returncode == 2 and "no PyPI advisory" in empty.stderr
    (tmp_path / "npm").mkdir()
    advisory = json.loads((ADVISORIES / "PYSEC-2021-66.json").read_text(encoding="utf-8"))
    advisory["affected"][0]["package"]["ecosystem"] = "npm"
    (tmp_path / "npm" / "x.json").write_text(json.dumps(advisory), encoding="utf-8")
    assert run(DATA / "vulnerable.lock", tmp_path / "npm").returncode == 2
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.json").write_text("{oops", encoding="utf-8")
    bad = run(DATA / "vulnerable.lock", tmp_path / "bad")
    assert bad.returncode != 0 and "not JSON" in bad.stderr


@pytest.mark.parametrize(("advisory", "version", "hit", "fixed"), [
    ("GHSA-j8r2-6x86-q33q", "2.2.1", False, None),     # before "introduced": 2.3.0
    ("GHSA-j8r2-6x86-q33q", "2.3.0", True, "2.31.0"),
    ("GHSA-j8r2-6x86-q33q", "2.31.0", False, None),
    ("PYSEC-2023-212", "1.26.17", True, "1.26.18"),    # events out of order: 2.0.0…2.0.7, 0…1.26.18
    ("PYSEC-2023-212", "1.26.18", False, None),
    ("PYSEC-2023-212", "2.0.0", True, "2.0.7"),
    ("PYSEC-2023-212", "2.0.7", False, None),
    ("PYSEC-2023-212", "2.8.0", False, None),
    ("PYSEC-2021-66", "2.0rc1", True, "2.11.3"),
])
def test_ranges_are_evaluated_as_the_osv_schema_says(tool: ModuleType, advisory: str, version: str,
                                                    hit: bool, fixed: str | None) -> None:
    affected = json.loads((ADVISORIES / f"{advisory}.json").read_text(encoding="utf-8"))["affected"]
    found, fix = tool.affects(affected[0], version)
    assert (found, None if fix is None else str(fix)) == (hit, fixed)


def test_last_affected_includes_its_version(tool: ModuleType) -> None:
    entry = {"ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "1.0"},
                                                         {"last_affected": "1.4"}]}]}
    assert [tool.affects(entry, v)[0] for v in ("0.9", "1.0", "1.4", "1.4.1")] == [
        False, True, True, False]


def test_lock_pins_are_read_as_pip_writes_them(tool: ModuleType) -> None:
    assert tool.read_lock(DATA / "vulnerable.lock") == {
        "jinja2": "2.11.2", "requests": "2.30.0", "urllib3": "2.0.6", "packaging": "26.3"}


def test_make_audit_with_osv_runs_offline_and_without_it_online() -> None:
    offline = subprocess.run(["make", "-s", "audit", f"OSV={ADVISORIES}"], cwd=ROOT,
                             capture_output=True, text=True, timeout=120)
    assert offline.returncode == 0, offline.stdout + offline.stderr  # our pins are past these
    assert "PyPI advisories read" in offline.stderr
    online = subprocess.run(["make", "-n", "audit"], cwd=ROOT, capture_output=True, text=True,
                            timeout=60)
    assert "pip-audit -r requirements.lock" in online.stdout
    assert "osv_audit" not in online.stdout
