"""The key ring is bound to its database (#12 item 1): another ring, or none while encrypted values
exist, is refused before anything changes; a new ring only for a database without encrypted
values or by ``ctown keys init``; the data folder does not depend on the current directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from tests.factories import build_county

from ctown.crypto import FieldCipher
from ctown.db import make_engine, session_factory
from ctown.privacy.keyring import KeyringError, open_cipher
from ctown.privacy.models import KeyringBinding
from ctown.registry.models import Subject
from ctown.settings import Settings


def _county(url: str, ring: Path) -> None:
    """A database holding encrypted resident IDs, written under the ring at ``ring``."""
    engine = make_engine(url)
    with session_factory(engine).begin() as session:
        build_county(session, FieldCipher.load(ring), households=2)
    engine.dispose()


def _rows(url: str) -> list[tuple[object, ...]]:
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(sa.select(
            Subject.id, Subject.id_cipher, Subject.phone_cipher).order_by(Subject.id))]
        rows += [tuple(r) for r in conn.execute(sa.select(KeyringBinding.fingerprint))]
    engine.dispose()
    return rows


def test_first_open_binds_and_another_ring_is_refused(db_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url = db_factory.migrated_url()
    here, elsewhere = tmp_path / "here", tmp_path / "elsewhere"
    cipher = open_cipher(Settings(database_url=url, var_dir=here))  # empty database: a new ring
    assert (here / "keys.json").exists()
    assert _rows(url) == [(cipher.fingerprint,)]
    assert open_cipher(Settings(database_url=url, var_dir=here)).fingerprint == cipher.fingerprint
    # Run from somewhere else: no ring there. Refused, and no ring made.
    with pytest.raises(KeyringError, match="找不到密钥文件") as missing:
        open_cipher(Settings(database_url=url, var_dir=elsewhere))
    assert cipher.fingerprint in missing.value.message.render("en")
    assert not (elsewhere / "keys.json").exists()
    # A ring of its own there: refused too.
    FieldCipher.load(elsewhere / "keys.json")
    with pytest.raises(KeyringError, match="不属于该数据库"):
        open_cipher(Settings(database_url=url, var_dir=elsewhere))
    assert _rows(url) == [(cipher.fingerprint,)]


def test_a_database_from_before_the_binding_is_bound_only_by_its_own_ring(db_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url = db_factory.migrated_url()
    own, other = tmp_path / "own", tmp_path / "other"
    _county(url, own / "keys.json")  # written without any binding, as before #12
    before = _rows(url)
    assert any(r[1] for r in before)  # encrypted identifiers are there
    FieldCipher.load(other / "keys.json")
    with pytest.raises(KeyringError, match="解不开该数据库已有的加密数据"):
        open_cipher(Settings(database_url=url, var_dir=other))
    assert _rows(url) == before  # nothing changed, not even a binding
    with pytest.raises(KeyringError, match="找不到密钥文件"):
        open_cipher(Settings(database_url=url, var_dir=tmp_path / "none"))
    assert not (tmp_path / "none" / "keys.json").exists()
    cipher = open_cipher(Settings(database_url=url, var_dir=own))  # opens a stored value: bound
    assert _rows(url) == [*before, (cipher.fingerprint,)]


def _ctown(args: list[str], url: str, var: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CTOWN_DATABASE_URL": url, "CTOWN_VAR_DIR": str(var)}
    return subprocess.run([sys.executable, "-m", "ctown", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_a_command_with_the_wrong_ring_stops_and_changes_nothing(db_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url = db_factory.migrated_url()
    _county(url, tmp_path / "own" / "keys.json")
    open_cipher(Settings(database_url=url, var_dir=tmp_path / "own"))
    before = _rows(url)
    feed = tmp_path / "court.csv"
    feed.write_text("当事人身份证号,案号\n110101195001011234,(2026)浙01民初1号\n", encoding="utf-8")
    result = _ctown(["ingest", str(feed), "--department", "court", "--json"], url,
                    tmp_path / "other", cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "找不到密钥文件" in result.stderr and "key ring" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "other" / "keys.json").exists()
    assert _rows(url) == before
    engine = make_engine(url)
    with engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM ingest_batches")) == 0
    engine.dispose()


def test_keys_init(db_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url = db_factory.migrated_url()
    made = _ctown(["keys", "init"], url, tmp_path / "v", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    fingerprint = json.loads(made.stdout)["fingerprint"]
    assert _rows(url) == [(fingerprint,)]
    again = _ctown(["keys", "init"], url, tmp_path / "v", cwd=tmp_path)
    assert again.returncode == 2 and "已存在" in again.stderr and "already exists" in again.stderr
    other = _ctown(["keys", "init"], url, tmp_path / "w", cwd=tmp_path)
    assert other.returncode == 2 and "找不到密钥文件" in other.stderr


def test_the_data_folder_does_not_depend_on_the_current_directory(tmp_path: Path) -> None:
    code = "from ctown.settings import Settings; print(Settings().var_dir)"
    env = {k: v for k, v in os.environ.items() if k != "CTOWN_VAR_DIR"}
    seen = {subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True,
                           text=True, check=True).stdout.strip() for cwd in (tmp_path, Path.cwd())}
    assert len(seen) == 1 and Path(seen.pop()).is_absolute()
