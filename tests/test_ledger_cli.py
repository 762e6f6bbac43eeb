"""``ctown ledger check-proof`` / ``check-checkpoint`` and the standalone verifier, as a script sees
them: JSON on standard input, the exit status and one line per object."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from tests.test_ledger_merkle import LEAVES, ROOTS, H
from tests.test_ledger_note import SUMDB_NOTES, SUMDB_VKEY
from typer.testing import CliRunner

from ctown.ledger import cli
from ctown.ledger.merkle import SHA256
from ctown.ledger.note import Signer, sign

runner = CliRunner()
root = typer.Typer()
cli.register(root)


def run(args: list[str], stdin: str) -> tuple[int, str]:
    result = runner.invoke(root, ["ledger", *args], input=stdin)
    return result.exit_code, result.stdout


def inclusion(leaf: int = 5, size: int = 8, proof: tuple[str, ...] = ("bc1a", "ca85", "d37e")
              ) -> dict[str, object]:
    return {"type": "inclusion", "leaf_index": leaf, "tree_size": size,
            "leaf_hash": SHA256.leaf(LEAVES[leaf]).hex(), "proof": [H[p].hex() for p in proof],
            "root": ROOTS[size - 1].hex()}


def consistency(size1: int = 6, size2: int = 8, proof: tuple[str, ...] = ("0ebc", "ca85", "d37e")
                ) -> dict[str, object]:
    return {"type": "consistency", "size1": size1, "size2": size2,
            "root1": ROOTS[size1 - 1].hex(), "root2": ROOTS[size2 - 1].hex(),
            "proof": [H[p].hex() for p in proof]}


def test_check_proof_exit_codes() -> None:
    assert run(["check-proof"], json.dumps(inclusion())) == (0, '{"valid": true}\n')
    assert run(["check-proof"], json.dumps(consistency()))[0] == 0
    assert run(["check-proof"], json.dumps(inclusion(leaf=4)))[0] == 1
    assert run(["check-proof"], json.dumps({**consistency(), "root2": ROOTS[6].hex()}))[0] == 1
    bad_length = {**inclusion(), "leaf_hash": "576f6e674c656166"}  # "WrongLeaf"-style
    assert run(["check-proof"], json.dumps(bad_length))[0] == 1
    # From the empty tree (even with a root that is not 32 bytes): refused, as transparency-dev.
    from_empty = {**consistency(), "size1": 0, "root1": "00", "proof": []}
    assert run(["check-proof"], json.dumps(from_empty)) == (1, '{"valid": false}\n')
    huge = {**inclusion(), "leaf_index": 2**64 - 1}
    assert run(["check-proof"], json.dumps(huge))[0] == 1
    for malformed in ("not json", "[]", json.dumps({**inclusion(), "type": "other"}),
                      json.dumps({**inclusion(), "root": "zz"}),
                      json.dumps({**inclusion(), "tree_size": "8"}),
                      json.dumps({k: v for k, v in consistency().items() if k != "size1"})):
        assert run(["check-proof"], malformed)[0] == 2, malformed


def test_check_proof_jsonl_answers_each_line() -> None:
    lines = [inclusion(), consistency(), inclusion(leaf=1, proof=("96a2", "5f08", "6b47")),
             {**consistency(), "proof": []}, consistency(2, 5, ("5f08", "bc1a")),
             {**inclusion(), "proof": [*inclusion()["proof"], ""]}]  # type: ignore[list-item]
    stdin = "\n".join(json.dumps(x) for x in lines) + "\n\n"
    code, out = run(["check-proof", "--jsonl"], stdin)
    assert code == 0
    assert [json.loads(x) for x in out.splitlines()] == [
        {"valid": v} for v in (True, True, False, False, True, False)]
    code, out = run(["check-proof", "--jsonl"], json.dumps(inclusion()) + "\n{oops\n")
    assert code == 2
    assert out.splitlines() == ['{"valid": true}', '{"valid": false}']


def test_check_checkpoint() -> None:
    assert run(["check-checkpoint", "--key", SUMDB_VKEY], SUMDB_NOTES[0])[0] == 0
    other = Signer.generate("ctown.test/ledger")
    assert run(["check-checkpoint", "--key", other.verifier.vkey], SUMDB_NOTES[0])[0] == 1
    assert run(["check-checkpoint", "--key", SUMDB_VKEY], SUMDB_NOTES[0][:-2])[0] == 1
    note = sign("ctown.test/ledger\n3\nAAAA\n", other)
    code, out = run(["check-checkpoint", "--key", other.verifier.vkey], note)
    assert code == 0 and json.loads(out)["size"] == 3
    assert run(["check-checkpoint", "--key", "garbage"], note)[0] == 1


def test_standalone_verifier_runs_as_a_script(tmp_path: Path) -> None:
    proof = tmp_path / "proof.json"
    proof.write_text(json.dumps(consistency()))
    src = str(Path(__file__).resolve().parents[1] / "src")
    base = [sys.executable, "-m", "ctown.ledger.verifier"]
    env = {"PYTHONPATH": src}
    done = subprocess.run([*base, str(proof)], capture_output=True, text=True, env=env,
                          check=False)
    assert done.returncode == 0, done.stderr
    proof.write_text(json.dumps({**consistency(), "size1": 5}))
    assert subprocess.run([*base, str(proof)], env=env, check=False,
                          capture_output=True).returncode == 1
    note = tmp_path / "checkpoint.txt"
    note.write_text(SUMDB_NOTES[1])
    done = subprocess.run([*base, str(note), "--key", SUMDB_VKEY, "--json"], env=env,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0 and json.loads(done.stdout)["size"] == 65209736
    proof.write_text("{not json")
    assert subprocess.run([*base, str(proof)], env=env, check=False,
                          capture_output=True).returncode == 2


@pytest.mark.parametrize("modules", [("sqlalchemy", "fastapi", "typer", "polars")])
def test_standalone_verifier_needs_no_platform_libraries(modules: tuple[str, ...]) -> None:
    code = ("import sys, ctown.ledger.verifier; "
            f"print(sorted(m for m in {modules!r} if m in sys.modules))")
    src = str(Path(__file__).resolve().parents[1] / "src")
    out = subprocess.run([sys.executable, "-c", code], env={"PYTHONPATH": src},
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
