"""Settings, database errors, migrations agreeing with models, status counts."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from ctown.db import DatabaseUnavailable, check_connection, make_engine
from ctown.migrate import check
from ctown.settings import Settings

CTOWN = [sys.executable, "-m", "ctown"]


def test_models_and_migrations_agree(engine: Engine) -> None:
    check(engine)  # alembic check: raises when autogenerate would find a difference


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    eng = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with eng.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_plain_postgresql_url_gets_psycopg() -> None:
    assert Settings(database_url="postgresql://u@h:5432/d").sqlalchemy_url.startswith(
        "postgresql+psycopg://")


def test_unreachable_database_is_one_clear_line(tmp_path: Path) -> None:
    eng = make_engine("postgresql://postgres@127.0.0.1:1/none")
    with pytest.raises(DatabaseUnavailable, match="无法连接数据库 / cannot reach database"):
        check_connection(eng)
    env = {**os.environ, "CTOWN_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/none",
           "CTOWN_VAR_DIR": str(tmp_path)}
    out = subprocess.run([*CTOWN, "status", "--json"], env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 2
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in out.stderr
    bad = subprocess.run([*CTOWN, "status"], capture_output=True, text=True, timeout=60,
                         env={**env, "CTOWN_DATABASE_URL": "nonsense://"})
    assert bad.returncode == 2 and "invalid database URL" in bad.stderr


def test_secrets_are_created_owner_only(tmp_path: Path) -> None:
    from ctown.crypto import FieldCipher

    settings = Settings(var_dir=tmp_path)
    assert len(settings.secret_key) == 32
    FieldCipher.load(settings.keyring_path)
    for name in ("secret.key", "keys.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600


def test_status_json_counts_only(db_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url = db_factory.migrated_url()
    env = {**os.environ, "CTOWN_DATABASE_URL": url, "CTOWN_VAR_DIR": str(tmp_path)}
    first = subprocess.run([*CTOWN, "status", "--json"], env=env, capture_output=True, text=True,
                           timeout=120, check=True).stdout
    counts = json.loads(first)
    assert counts["subjects.household"] == 0 and all(isinstance(v, int) for v in counts.values())
    again = subprocess.run([*CTOWN, "status", "--json"], env=env, capture_output=True, text=True,
                           timeout=120, check=True).stdout
    assert first == again


def test_sm_cipher_suite_round_trip(tmp_path: Path) -> None:
    from ctown.crypto import FieldCipher

    cipher = FieldCipher.load(tmp_path / "k.json", suite="sm")
    token = cipher.encrypt("330521195001010015", "subjects.id_cipher:x")
    assert cipher.decrypt(token, "subjects.id_cipher:x") == "330521195001010015"
    assert len(cipher.blind_index("a")) == 64


def test_cipher_picks_up_a_rotation_by_another_process(tmp_path: Path) -> None:
    import os as _os

    from ctown.crypto import FieldCipher

    server = FieldCipher.load(tmp_path / "k.json")
    rotator = FieldCipher.load(tmp_path / "k.json")
    rotator.add_version()
    rotator.save()
    _os.utime(tmp_path / "k.json", ns=(1, 2))  # a distinct mtime even on coarse clocks
    token = rotator.encrypt("13800000000", "subjects.phone_cipher:x")
    assert server.decrypt(token, "subjects.phone_cipher:x") == "13800000000"
    assert FieldCipher.version_of(server.encrypt("a", "b")) == 2
