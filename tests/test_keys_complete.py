"""Key handling made complete: rotation re-encrypts every column a capability declares
(``Capability.encrypted``) — quarantined rows, values held until consent and consent-register
rejects as well as the subjects' identifiers — and ``ctown keys retire`` refuses while a
declared column still holds a value under the version it would retire; every key file of
``var/`` is created whole or not at all, and two processes creating one at once share it."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from tests.crashutil import CTOWN, _ciphertexts, env

import ctown
from ctown import capabilities as contract
from ctown import keyfiles
from ctown.capabilities import CAPABILITIES, CapabilityError, capabilities
from ctown.crypto import FieldCipher
from ctown.db import Base, make_engine, session_factory
from ctown.ingest.consents import import_consents
from ctown.ingest.service import load_file
from ctown.privacy import rotation
from ctown.privacy.keyring import open_cipher
from ctown.privacy.models import AuditEvent
from ctown.settings import Settings
from test_ingest_support import HEAD2, rid, seed_regions, write_county, write_csv

DAY = dt.datetime(2025, 7, 1, 2, 0, tzinfo=dt.UTC)
#: What the field cipher writes today (tests/crashutil.py lists them with their associated data).
WRITTEN = set(_ciphertexts())
Values = dict[tuple[str, str], dict[int, tuple[int, str]]]


# -- a county with a value in every encrypted column ---------------------------------------------
class County:
    def __init__(self, url: str, var: Path) -> None:
        self.url, self.var = url, var
        self.engine: Engine = make_engine(url)
        self.factory = session_factory(self.engine)

    @property
    def ring(self) -> Path:
        return self.var / "keys.json"

    def values(self, cipher: FieldCipher | None = None) -> Values:
        """Every ciphertext as (key version, plaintext), by table, column and row id."""
        cipher = cipher or FieldCipher.load(self.ring)
        found: Values = {}
        with self.engine.connect() as conn:
            for (table, column), aad in _ciphertexts().items():
                rows = conn.execute(
                    sa.select(sa.text("*")).select_from(sa.table(table)).where(sa.column(column).is_not(None))
                ).mappings()
                found[table, column] = {
                    r["id"]: (FieldCipher.version_of(r[column]), cipher.decrypt(r[column], aad(dict(r))))
                    for r in rows
                }
        return found

    def under(self, version: int) -> dict[str, int]:
        """``table.column`` → values under ``version``, counted in SQL (not by the rotation)."""
        counts = {}
        with self.engine.connect() as conn:
            for table, column in sorted(WRITTEN):
                n = conn.scalar(
                    sa.text(f"SELECT count(*) FROM {table} WHERE {column} LIKE :p"), {"p": f"{version}:%"}
                )
                if n:
                    counts[f"{table}.{column}"] = int(n)
        return counts

    def audited(self, action: str) -> list[Any]:
        with self.factory() as session:
            return list(session.scalars(sa.select(AuditEvent.detail).where(AuditEvent.action == action)))

    def ctown(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*CTOWN, *args],
            env=env(self.url, self.var),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )


@pytest.fixture
def county(db_factory, tmp_path: Path) -> Iterator[County]:  # type: ignore[no-untyped-def]
    """Registered people (identifiers and phones), quarantined rows of the household register,
    the bank's deposits held until consent, and the rejected rows of a consent register — the
    ring made and bound as the first command makes it."""
    c = County(db_factory.migrated_url(), tmp_path / "var")
    cipher = open_cipher(Settings(database_url=c.url, var_dir=c.var), c.engine)
    folder = write_county(tmp_path / "county")
    register = write_csv(
        tmp_path / "consents.csv",
        ["授权书编号", "户主姓名", "户主身份证号", "签署日期"],
        [
            ["F-2", "王五", HEAD2[:17] + ("0" if HEAD2[17] != "0" else "1"), "2025-07-02"],
            ["F-3", "未登记", rid("19900909", 91), "2025-07-02"],
        ],
        "utf-8-sig",
    )
    with c.factory.begin() as session:
        seed_regions(session)
        for department in ("psb", "bank"):
            load_file(session, cipher, next((folder / department).iterdir()), department, now=DAY)
        import_consents(session, cipher, register, now=DAY)
        _channels(session, cipher)
    yield c
    c.engine.dispose()


def _channels(session: Any, cipher: FieldCipher) -> None:
    """An SMS from a number nobody registered (its kept reply, the reply's own address) and a
    feedback item with its answer (#13)."""
    from ctown.channels import service as sms
    from ctown.feedback import service as feedback
    from ctown.registry.models import Subject

    sms.handle(session, cipher, sms.Inbound.of({"id": "k-1", "from": "13700000000", "text": "BZ"}))
    household = session.scalar(sa.select(Subject.id).where(Subject.kind == "household").limit(1))
    item = feedback.submit(session, None, subject_id=household, channel="page",
                           text="村口路灯坏了", cipher=cipher)
    feedback.answer(session, None, item.id, "已修好", cipher=cipher)


def _under_two(values: Values) -> Values:
    return {k: {i: (2, plain) for i, (_v, plain) in rows.items()} for k, rows in values.items()}


# -- rotation and retirement -------------------------------------------------------------------
def test_held_values_survive_rotation_and_retirement(county: County) -> None:
    """The reported loss: values held until consent stayed under version 1, and retiring it made
    them unreadable. Interrupted, resumed, run again, retired: every value of every column
    decrypts to the plaintext it had, under version 2."""
    before = county.values()
    assert all(before[k] for k in WRITTEN)
    assert {version for rows in before.values() for version, _p in rows.values()} == {1}
    first = rotation.rotate(county.factory, FieldCipher.load(county.ring), batch=2, max_batches=9)
    assert first.added_version and not first.complete
    with county.factory.begin() as session, pytest.raises(rotation.KeyVersionInUse):
        rotation.retire_unused(session, FieldCipher.load(county.ring))
    second = rotation.rotate(county.factory, FieldCipher.load(county.ring), batch=2)
    assert second.complete and not second.added_version and second.active_version == 2
    again = rotation.rotate(county.factory, FieldCipher.load(county.ring), new_version=False)
    assert again.complete and again.rewritten == 0  # idempotent: nothing left to do
    assert county.under(1) == {}
    with county.factory.begin() as session:
        assert rotation.retire_unused(session, FieldCipher.load(county.ring)) == [1]
    final = FieldCipher.load(county.ring)
    assert final.key_versions == [2]
    assert county.values(final) == _under_two(before)
    assert county.audited("keys.retire") == [{"versions": [1]}]


def test_retire_refuses_naming_each_column_still_under_the_old_version(county: County) -> None:
    """``ctown keys retire`` after a rotation that re-encrypted the subjects only (what the
    rotation did before): exit 2, one line in Chinese and English naming every table and how
    many of its values, and nothing changed — the ring, the audit trail, the values."""
    before = county.values()
    # One batch per subject column (they come first): the other capabilities' columns are left.
    partial = rotation.rotate(county.factory, FieldCipher.load(county.ring), max_batches=2)
    assert not partial.complete
    left = county.under(1)
    assert set(left) == {
        "quarantined_rows.payload",
        "ingest_held_values.value",
        "ingest_consent_rejects.payload",
        "notify_outbox.address_cipher",
        "channels_sms_inbound.reply_cipher",
        "feedback_items.text_cipher",
        "feedback_items.answer_cipher",
    }
    ring = county.ring.read_bytes()

    refused = county.ctown("keys", "retire")
    assert refused.returncode == 2, refused.stderr
    line = " ".join(refused.stderr.split())
    for name, n in left.items():
        assert f"{name} {n}" in line
    assert "密钥版本 1 仍在使用" in line and "key version 1 is still in use" in line
    assert "Traceback" not in refused.stderr and refused.stdout == ""
    assert county.ring.read_bytes() == ring and county.audited("keys.retire") == []
    assert county.values() == {
        k: {i: (1 if k[0] != "subjects" else 2, p) for i, (_v, p) in rows.items()}
        for k, rows in before.items()
    }

    done = county.ctown("keys", "rotate")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["complete"] and not json.loads(done.stdout)["added"]
    retired = county.ctown("keys", "retire")
    assert retired.returncode == 0, retired.stderr
    assert json.loads(retired.stdout)["retired"] == [1]
    assert county.values() == _under_two(before)


# -- the declarations ------------------------------------------------------------------------------
_CIPHERTEXT = re.compile(r"\d+:[A-Za-z0-9+/]{32,}={0,2}")


def test_every_column_holding_ciphertexts_is_declared(county: County) -> None:
    """Scan every table of the county for values shaped like the field cipher's output: each
    column found is one a capability declares, so rotation reaches it."""
    declared = {(c.table, c.column) for c in rotation.encrypted_columns()}
    contract.load_all_models()
    found = set()
    with county.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            for column in table.c:
                if not isinstance(column.type, sa.String):
                    continue
                for value in conn.scalars(sa.select(column).where(column.is_not(None)).limit(200)):
                    if _CIPHERTEXT.fullmatch(str(value)):
                        found.add((table.name, column.name))
                        break
    assert found == WRITTEN
    assert declared == WRITTEN


def test_declarations_are_the_packages_own_and_real() -> None:
    for cap in capabilities():
        for declared in cap.encrypted:
            assert declared.model.startswith(f"ctown.{cap.name}.")
            assert declared.aad.startswith(f"ctown.{cap.name}.")
            table = declared.table()
            assert {declared.id_column, *declared.columns, *declared.needs} <= set(table.c.keys())
            assert callable(declared.aad_function())
    first = rotation.encrypted_columns()[0]  # the subjects come first (registry)
    assert (first.table, first.column) == ("subjects", "id_cipher")


SEALED = """
    from ctown.capabilities import Capability, EncryptedColumns

    CAPABILITY = Capability(name="zzsealed", encrypted=(
        EncryptedColumns("ctown.ingest.models:ConsentReject", ({columns}),
                         "ctown.zzsealed.capability:aad", ("file_sha256",)),))


    def aad(column, row):
        return f"zzsealed:{{column}}:{{row['file_sha256']}}"
"""


@pytest.fixture
def sealed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A throwaway capability declaring encrypted columns (its ``capability.py`` returned, for
    the test to write), added to CAPABILITIES for one test."""
    package = tmp_path / "pkgs" / "zzsealed"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("", encoding="utf-8")
    monkeypatch.setattr(ctown, "__path__", [*ctown.__path__, str(package.parent)])
    monkeypatch.setattr(contract, "CAPABILITIES", (*CAPABILITIES, "zzsealed"))
    try:
        yield package / "capability.py"
    finally:
        for name in [m for m in sys.modules if m.startswith("ctown.zzsealed")]:
            del sys.modules[name]


def _declare(path: Path, columns: str) -> None:
    path.write_text(textwrap.dedent(SEALED.format(columns=columns)).lstrip(), encoding="utf-8")


def test_a_column_declared_twice_is_refused(sealed: Path) -> None:
    _declare(sealed, '"payload",')  # the ingest declares ingest_consent_rejects.payload
    with pytest.raises(CapabilityError, match=r"ingest_consent_rejects.payload declared twice"):
        rotation.encrypted_columns()


def test_a_newly_declared_column_is_rotated_and_guards_retirement(county: County, sealed: Path) -> None:
    """A capability's own column joins rotation and the retire check by being declared."""
    _declare(sealed, '"source_name",')
    cipher = FieldCipher.load(county.ring)
    with county.factory.begin() as session:
        for rid_, sha in session.execute(sa.text("SELECT id, file_sha256 FROM ingest_consent_rejects")).all():
            session.execute(
                sa.text("UPDATE ingest_consent_rejects SET source_name = :v WHERE id = :i"),
                {"i": rid_, "v": cipher.encrypt("register.csv", f"zzsealed:source_name:{sha}")},
            )
    cipher.add_version()
    cipher.save()
    with county.factory.begin() as session, pytest.raises(rotation.KeyVersionInUse) as refused:
        rotation.retire_unused(session, FieldCipher.load(county.ring))
    assert "ingest_consent_rejects.source_name 2" in refused.value.message.render("en")
    result = rotation.rotate(county.factory, FieldCipher.load(county.ring))
    assert result.complete and not result.added_version
    final = FieldCipher.load(county.ring)
    with county.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT source_name, file_sha256 FROM ingest_consent_rejects"))
        assert [(v[:2], final.decrypt(v, f"zzsealed:source_name:{s}")) for v, s in rows] == [
            ("2:", "register.csv")
        ] * 2
    assert county.under(1) == {}


# -- key files: whole or not at all --------------------------------------------------------------
#: Each key file of var/, and what a process prints of the key it uses.
KEY_FILES = {
    "keys.json": (
        "from ctown.crypto import FieldCipher\n"
        "use = lambda var: FieldCipher.load(var / 'keys.json').fingerprint"
    ),
    "ledger.key": (
        "from ctown.ledger.service import load_signer\n"
        "use = lambda var: load_signer(Settings(var_dir=var)).verifier.vkey"
    ),
    "secret.key": "use = lambda var: Settings(var_dir=var).secret_key.hex()",
    "collection_x25519.key": (
        "from ctown.collection.keys import county_public_text\n"
        "use = lambda var: county_public_text(Settings(var_dir=var))"
    ),
}
#: A process that makes the key; killed (SIGKILL, by itself) at an audit event when one is named,
#: and waiting for a start file so that several begin at the same moment (measured: of five,
#: four or all five reach the link, so the losing path runs in practically every test).
SCRIPT = """
import os, signal, sys, time
from pathlib import Path
from ctown.settings import Settings
{use}
var, kill_at, go = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
def hook(event, args):
    if event == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
if kill_at != "-":
    sys.addaudithook(hook)
(go.parent / f"ready.{{os.getpid()}}").touch()
while not go.exists():
    time.sleep(0.001)
print(use(var))
"""


def _maker(name: str, var: Path, kill_at: str = "-", go: Path | None = None) -> subprocess.Popen[str]:
    if go is None:  # no start to wait for
        go = var.parent / "go"
        go.touch()
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT.format(use=KEY_FILES[name]), str(var), kill_at, str(go)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _in_this_process(name: str, var: Path) -> str:
    scope: dict[str, Any] = {"Settings": Settings}
    exec(KEY_FILES[name], scope)  # the same statement as the processes run
    return str(scope["use"](var))


@pytest.mark.parametrize("name", sorted(KEY_FILES))
@pytest.mark.parametrize("kill_at", ["tempfile.mkstemp", "os.link"])
def test_a_creation_killed_leaves_no_key_file(name: str, kill_at: str, tmp_path: Path) -> None:
    """Killed as it makes the temporary file, or with it written and synced but not yet named:
    no key file at all — the next command makes a whole one, owner-only — never an empty one.
    (Before: the key file was opened first and written afterwards, so the same kill left it
    empty and every later command failed reading it.)"""
    var = tmp_path / "var"
    proc = _maker(name, var, kill_at)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, err[-800:]
    assert not (var / name).exists()
    left = list(var.iterdir())
    if kill_at == "os.link":  # the key, whole, under a name no command reads
        assert len(left) == 1 and left[0].name.startswith(f".{name}.")
        assert left[0].name.endswith(".tmp") and left[0].stat().st_size > 0
        assert stat.S_IMODE(left[0].stat().st_mode) == 0o600
    else:
        assert left == []
    used = _in_this_process(name, var)
    assert (var / name).stat().st_size > 0 and stat.S_IMODE((var / name).stat().st_mode) == 0o600
    assert _in_this_process(name, var) == used  # read back: the same key, whole


@pytest.mark.parametrize("name", sorted(KEY_FILES))
def test_processes_creating_a_key_at_once_share_one(name: str, tmp_path: Path) -> None:
    var, go = tmp_path / "var", tmp_path / "start"
    procs = [_maker(name, var, go=go) for _ in range(5)]
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("ready.*"))) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)  # until every process has imported ctown and waits for the start
    go.touch()
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0] * 5, [err[-800:] for _o, err in outs]
    used = {out.strip() for out, _e in outs}
    assert len(used) == 1 and used == {_in_this_process(name, var)}
    assert sorted(p.name for p in var.iterdir()) == [name]  # no temporary file left behind


def test_create_never_overwrites_and_replace_is_whole(tmp_path: Path) -> None:
    path = tmp_path / "k" / "ledger.key"
    assert keyfiles.create(path, b"first\n")
    assert not keyfiles.create(path, b"second\n")  # another process made it meanwhile
    assert path.read_bytes() == b"first\n" and keyfiles.read_or_create(path, bytes) == b"first\n"
    keyfiles.replace(path, b"third\n")
    assert path.read_bytes() == b"third\n" and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["ledger.key"]
    assert os.stat(path).st_nlink == 1
