"""``ctown config propose|approve|reject|rollback|diff|list|status|sync`` as a script sees them:
exit status, problem lines, the folder written — on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from tests.factories import COUNTY, REGIONS
from typer.testing import CliRunner

from ctown import configdir
from ctown.accounts.service import create_user
from ctown.config import cli
from ctown.db import make_engine, session_factory
from ctown.registry.tasks import load_regions

runner = CliRunner()
root = typer.Typer()
cli.register(root)
CREDIT = configdir.defaults()["products/rcb_credit.yaml"].read_text(encoding="utf-8")


@pytest.fixture
def county(db_factory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch  # type: ignore[no-untyped-def]
           ) -> Iterator[Path]:
    url = db_factory.migrated_url()
    engine = make_engine(url)
    with session_factory(engine).begin() as session:
        load_regions(session, REGIONS, source="test")
        for name, role, bank in (("alice", "county_admin", None), ("bob", "county_admin", None),
                                 ("rcb", "bank_officer", "RCB")):
            create_user(session, username=name, password=None, role=role, region_code=COUNTY,
                        bank_code=bank)
    engine.dispose()
    folder = tmp_path / "live"
    monkeypatch.setenv("CTOWN_DATABASE_URL", url)
    monkeypatch.setenv("CTOWN_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("CTOWN_CONFIG_DIR", str(folder))
    configdir.reset()
    yield folder
    configdir.reset()


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(root, ["config", *args])
    return result.exit_code, result.stdout


def test_propose_approve_diff_and_roll_back(county: Path, tmp_path: Path) -> None:
    change = tmp_path / "change"
    (change / "products").mkdir(parents=True)
    cheaper = CREDIT.replace("version: 1\n", "version: 2\n").replace(
        'base_rate_pct: "4.35"', 'base_rate_pct: "4.20"')
    (change / "products/rcb_credit.yaml").write_text(cheaper, encoding="utf-8")
    code, out = run("diff", str(change), "--json")
    assert code == 0
    diff = json.loads(out)
    assert (diff["changed"], diff["added"], diff["removed"]) == (["products/rcb_credit.yaml"], [], [])
    assert '+base_rate_pct: "4.20"' in diff["files"][0]["diff"]

    code, out = run("propose", str(change), "--by", "rcb", "--note", "cheaper")
    assert code == 0 and out.startswith("提议 / proposal 1:")
    assert run("approve", "1", "--by", "rcb")[0] == 2     # a bank does not approve
    assert run("approve", "1", "--by", "nobody")[0] == 2  # no such user
    code, out = run("approve", "1", "--by", "alice")
    assert (code, out.split(" (")[0]) == (0, "✓ 生效版本 / live version 1")
    assert (county / "products/rcb_credit.yaml").read_text(encoding="utf-8") == cheaper
    assert run("diff", "--proposal", "1")[1].strip() == "没有变化 / no change"

    # One file proposed by path, rejected; then a rollback to the packaged defaults.
    grades = tmp_path / "grades.yaml"
    grades.write_text(configdir.defaults()["grades.yaml"].read_text(encoding="utf-8").replace(
        "version: 1\n", "version: 2\n").replace("model_weight: 0.5", "model_weight: 0.3"),
        encoding="utf-8")
    assert run("propose", str(grades), "--by", "alice")[0] == 0
    assert run("reject", "2", "--by", "bob", "--reason", "等下一季度")[0] == 0
    assert run("rollback", "0", "--by", "bob", "--note", "defaults")[0] == 0
    assert run("approve", "3", "--by", "bob")[0] == 2  # the proposer again
    assert run("approve", "3", "--by", "alice")[0] == 0
    assert configdir.folder_files(county) == {}
    listed = json.loads(run("list", "--json")[1])
    assert [(v["version"], v["rollback_of"]) for v in listed["versions"]] == [(2, 0), (1, None)]
    assert [(p["id"], p["status"]) for p in listed["proposals"]] == [
        (3, "approved"), (2, "rejected"), (1, "approved")]
    assert json.loads(run("status", "--json")[1]) == {"folder": str(county), "version": 2,
                                                       "drift": []}


def test_a_broken_proposal_prints_its_lines_and_exits_1(county: Path, tmp_path: Path) -> None:
    bad = tmp_path / "rcb_credit.yaml"
    text = CREDIT.replace("version: 1\n", "version: 2\n").replace("age_max: 65", "age_max: old")
    bad.write_text(text, encoding="utf-8")
    n = next(i for i, t in enumerate(text.splitlines(), 1) if "age_max: old" in t)
    code, out = run("propose", str(bad), "--by", "rcb")
    assert code == 1
    assert out.splitlines() == [
        f"products/rcb_credit.yaml:{n}: eligibility.age_max: 取值无效：Input should be a valid "
        "integer, unable to parse string as an integer / invalid value: Input should be a valid "
        "integer, unable to parse string as an integer"]
    code, _out = run("propose", str(bad), "--by", "rcb", "--as", "products/../../x.yaml")
    assert code == 2


def test_drift_is_reported_and_sync_repairs_it(county: Path, tmp_path: Path) -> None:
    one = tmp_path / "rcb_credit.yaml"
    one.write_text(CREDIT.replace("version: 1\n", "version: 2\n"), encoding="utf-8")
    assert run("propose", str(one), "--by", "alice")[0] == 0
    assert run("approve", "1", "--by", "bob")[0] == 0
    (county / "products/rcb_credit.yaml").write_text("edited: by hand\n", encoding="utf-8")
    code, out = run("status")
    assert code == 1 and "products/rcb_credit.yaml" in out
    assert run("sync") == (0, "✓ 配置目录已写为版本 / folder written as version 1\n")
    assert run("status")[0] == 0
