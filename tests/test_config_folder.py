"""The configuration folder (:mod:`ctown.configdir`): every loader reads the files in effect and
notices a change without a restart; a new version goes live all or nothing — also when the writer
fails or is killed between two files."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from ctown import configdir
from ctown.catalogue.service import load_catalogue
from ctown.ingest.mapping import load_mappings
from ctown.lending.products import get_product, load_products
from ctown.privacy.service import institution_names
from ctown.scoring.grades import load_grade_table
from ctown.scoring.rules import load_rule_card


@pytest.fixture
def live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.delenv("CTOWN_CONFIG_DIR", raising=False)
    folder = tmp_path / "config"
    folder.mkdir()
    configdir.configure(folder)
    yield folder
    configdir.reset()


def packaged(name: str) -> str:
    return configdir.defaults()[name].read_text(encoding="utf-8")


def put(folder: Path, name: str, text: str) -> None:
    (folder / name).parent.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")


def test_every_loader_reads_the_live_folder_and_notices_changes(live: Path) -> None:
    assert "town_credit" not in load_products()
    assert get_product("rcb_credit").base_rate_pct == Decimal("4.35")  # type: ignore[union-attr]
    catalogue = load_catalogue()
    table, card, mappings = load_grade_table(), load_rule_card("entity"), load_mappings()
    assert institution_names()["RCB"] == "县农村商业银行"
    # A new product, a changed one, a new catalogue, grade table, card and mapping: read at the
    # next call, no restart.
    put(live, "products/town_credit.yaml", packaged("products/rcb_credit.yaml").replace(
        "code: rcb_credit", "code: town_credit").replace("bank_code: RCB", "bank_code: TOWN")
        .replace("bank_name: 县农村商业银行", "bank_name: 镇村镇银行"))
    put(live, "products/rcb_credit.yaml", packaged("products/rcb_credit.yaml").replace(
        "version: 1", "version: 2").replace('base_rate_pct: "4.35"', 'base_rate_pct: "4.00"'))
    put(live, "catalogue.yaml", packaged("catalogue.yaml").replace("version: 1\n", "version: 7\n"))
    put(live, "grades.yaml", packaged("grades.yaml").replace("version: 1\n", "version: 3\n")
        .replace("model_weight: 0.5", "model_weight: 0.25"))
    put(live, "scorecards/entity.yaml", packaged("scorecards/entity.yaml").replace(
        "version: 1\n", "version: 4\n").replace("base_points: 500", "base_points: 480"))
    put(live, "departments/tax.yaml", packaged("departments/tax.yaml").replace(
        "version: 1\n", "version: 9\n"))
    assert set(load_products()) >= {"town_credit", "rcb_credit"}
    assert get_product("rcb_credit").base_rate_pct == Decimal("4.00")  # type: ignore[union-attr]
    assert institution_names()["TOWN"] == "镇村镇银行"
    assert (load_catalogue().version, catalogue.version) == (7, 1)
    assert (load_grade_table().model_weight, table.model_weight) == (0.25, 0.5)
    assert (load_rule_card("entity").base_points, card.base_points) == (480, 500)
    assert (load_mappings()["tax"].version, mappings["tax"].version) == (9, 1)
    # Taking a file away brings the packaged one back.
    (live / "products/rcb_credit.yaml").unlink()
    (live / "catalogue.yaml").unlink()
    assert get_product("rcb_credit").base_rate_pct == Decimal("4.35")  # type: ignore[union-attr]
    assert load_catalogue().version == 1


def test_without_a_folder_the_packaged_files_are_live(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CTOWN_CONFIG_DIR", raising=False)
    configdir.reset()
    assert configdir.live_dir() is None
    assert configdir.file("catalogue") == configdir.ROOT / "catalogue/data/catalogue.yaml"
    monkeypatch.setenv("CTOWN_CONFIG_DIR", "/srv/county")
    assert configdir.live_dir() == Path("/srv/county")


V1 = {"catalogue.yaml": b"one\n", "products/a.yaml": b"a1\n", "products/b.yaml": b"b1\n",
      "products/c.yaml": b"c1\n"}
V2 = {"catalogue.yaml": b"two\n", "products/a.yaml": b"a2\n", "products/b.yaml": b"b2\n",
      "products/d.yaml": b"d2\n"}


def on_disk(folder: Path) -> dict[str, bytes]:
    return {n: p.read_bytes() for n, p in configdir.folder_files(folder).items()}


def test_publish_writes_exactly_the_target(tmp_path: Path) -> None:
    configdir.publish(tmp_path, V1, 1)
    configdir.publish(tmp_path, V2, 2)
    assert on_disk(tmp_path) == V2
    marker = configdir.marker(tmp_path)
    assert marker is not None and marker["version"] == 2
    assert marker["files"] == {n: configdir.sha256(d) for n, d in V2.items()}
    leftovers = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("."))
    assert leftovers == [configdir.MARKER, configdir.LOCK]  # no journal, no staging folder


class Crash(Exception):
    pass


def _fail_at(where: str):  # type: ignore[no-untyped-def]
    def step(name: str) -> None:
        if name == where:
            raise Crash(name)
    return step


def test_a_failure_before_the_journal_leaves_the_previous_version(tmp_path: Path) -> None:
    configdir.publish(tmp_path, V1, 1)
    with pytest.raises(Crash):
        configdir.publish(tmp_path, V2, 2, step=_fail_at("staged"))
    assert on_disk(tmp_path) == V1
    configdir.recover(tmp_path)  # nothing to finish: the journal was never written
    assert on_disk(tmp_path) == V1 and configdir.marker(tmp_path)["version"] == 1  # type: ignore[index]
    configdir.publish(tmp_path, V2, 2)  # the next publish clears the abandoned staging folder
    assert on_disk(tmp_path) == V2
    assert not list(tmp_path.glob(".ctown-stage-*"))


def test_a_failure_between_two_files_is_finished_by_the_next_reader(tmp_path: Path) -> None:
    """The injected failure falls after the first file is renamed in: the disk holds a mix for
    a moment, and the next reader (any loader) finishes the switch from the journal."""
    configdir.publish(tmp_path, V1, 1)
    with pytest.raises(Crash):
        configdir.publish(tmp_path, V2, 2, step=_fail_at("catalogue.yaml"))
    assert (tmp_path / configdir.JOURNAL).exists()
    assert (tmp_path / "catalogue.yaml").read_bytes() == b"two\n"     # new
    assert (tmp_path / "products/a.yaml").read_bytes() == b"a1\n"     # still old: a mix
    paths = configdir.files("products", tmp_path)                      # a reader
    assert {n: p.read_bytes() for n, p in paths.items()} == {
        "products/a.yaml": b"a2\n", "products/b.yaml": b"b2\n", "products/d.yaml": b"d2\n",
        **{n: p.read_bytes() for n, p in configdir.files("products", None).items()}}
    assert on_disk(tmp_path) == V2 and not (tmp_path / configdir.JOURNAL).exists()


_WRITER = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from ctown import configdir
    V2 = {"catalogue.yaml": b"two\\n", "products/a.yaml": b"a2\\n", "products/b.yaml": b"b2\\n",
          "products/d.yaml": b"d2\\n"}
    def step(name):
        if name == sys.argv[2]:
            os.kill(os.getpid(), signal.SIGKILL)
    configdir.publish(Path(sys.argv[1]), V2, 2, step)
""")


@pytest.mark.parametrize(("kill_at", "expected"), [("staged", V1), ("products/a.yaml", V2)])
def test_a_writer_killed_mid_way_leaves_one_version_or_the_other(
        tmp_path: Path, kill_at: str, expected: dict[str, bytes]) -> None:
    """A real crash (SIGKILL, no clean-up): killed after staging, the previous version stays;
    killed after the second of four files was renamed in, the next reader finishes the new one.
    Never a mix."""
    configdir.publish(tmp_path, V1, 1)
    done = subprocess.run([sys.executable, "-c", _WRITER, str(tmp_path), kill_at],
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")},
                          check=False, timeout=60)
    assert done.returncode == -signal.SIGKILL
    if kill_at != "staged":  # the crash left a mix on disk, and the journal to finish it
        assert on_disk(tmp_path)["products/b.yaml"] == b"b1\n"
        assert (tmp_path / configdir.JOURNAL).exists()
    configdir.recover(tmp_path)
    assert on_disk(tmp_path) == expected
    assert configdir.marker(tmp_path)["version"] == (1 if expected is V1 else 2)  # type: ignore[index]
