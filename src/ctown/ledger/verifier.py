"""Standalone verifier (独立验证工具) for a bank, an auditor or a farmer: no database, no network.

Needs only the Python standard library and ``cryptography`` (with ``ctown/ledger/merkle.py`` and
``note.py`` beside it). It checks three things::

    python -m ctown.ledger.verifier receipt.json --key 'ctown.local/ledger+1a2b3c4d+AU...'
    python -m ctown.ledger.verifier proof.json           # {"type": "inclusion"|"consistency", ...}
    python -m ctown.ledger.verifier checkpoint.txt --key VKEY

Exit status 0 = valid, 1 = invalid, 2 = malformed input. ``--json`` prints the checks as JSON.

A receipt (回执, the offline proof file) holds the record, the exact leaf bytes, the inclusion proof
and the signed checkpoint; it is valid when the leaf is the record, the proof puts the leaf in the
tree of the checkpoint, and the checkpoint is signed by the log key the reader trusts (``--key``,
obtained from the county out of band — the key inside the receipt is only informative).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ctown.ledger.merkle import Hasher, get_hasher, verify_consistency, verify_inclusion
from ctown.ledger.note import Checkpoint, NoteError, Verifier, open_checkpoint

RECEIPT_FORMAT = "ctown-ledger-receipt/1"


class Malformed(ValueError):
    """The input is not a proof, receipt or note this verifier can read."""


# -- field readers (malformed input is told apart from an invalid proof) --------------------------
def _int(obj: dict[str, Any], key: str) -> int:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise Malformed(f"{key}: expected an integer")
    return value


def _hex(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise Malformed(f"{what}: expected a hex string")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise Malformed(f"{what}: not hexadecimal") from None


def _hex_list(obj: dict[str, Any], key: str) -> list[bytes]:
    value = obj.get(key, [])
    if value is None:  # Go's JSON writes an empty proof as null
        return []
    if not isinstance(value, list):
        raise Malformed(f"{key}: expected a list of hex strings")
    return [_hex(v, f"{key}[{i}]") for i, v in enumerate(value)]


def _hasher(obj: dict[str, Any]) -> Hasher:
    name = obj.get("hash", "sha256")
    try:
        return get_hasher(name)
    except (ValueError, TypeError):
        raise Malformed(f"hash: unknown algorithm {name!r}") from None


# -- proofs --------------------------------------------------------------------------------------
def check_proof(obj: Any) -> bool:
    """Verify one proof object (the ``ctown ledger check-proof`` format); raises :class:`Malformed`.

    ``{"type": "inclusion", "leaf_index", "tree_size", "leaf_hash", "proof", "root"}`` or
    ``{"type": "consistency", "size1", "size2", "root1", "root2", "proof"}``; hashes in hex;
    optional ``"hash": "sha256"|"sm3"``. A hash of the wrong length is invalid, not malformed.
    """
    if not isinstance(obj, dict):
        raise Malformed("expected a JSON object")
    kind = obj.get("type")
    hasher = _hasher(obj)
    if kind == "inclusion":
        index, size = _int(obj, "leaf_index"), _int(obj, "tree_size")
        leaf = _hex(obj.get("leaf_hash"), "leaf_hash")
        root = _hex(obj.get("root"), "root")
        return verify_inclusion(hasher, index, size, leaf, _hex_list(obj, "proof"), root)
    if kind == "consistency":
        size1, size2 = _int(obj, "size1"), _int(obj, "size2")
        root1, root2 = _hex(obj.get("root1"), "root1"), _hex(obj.get("root2"), "root2")
        return verify_consistency(hasher, size1, size2, _hex_list(obj, "proof"), root1, root2)
    raise Malformed("type: expected 'inclusion' or 'consistency'")


# -- checkpoints ---------------------------------------------------------------------------------
def check_checkpoint(note_text: str, vkey: str) -> Checkpoint:
    """The checkpoint, if ``note_text`` carries a valid signature by ``vkey``; else NoteError."""
    checkpoint, _ = open_checkpoint(note_text, Verifier.from_vkey(vkey))
    return checkpoint


# -- receipts ------------------------------------------------------------------------------------
@dataclass
class Report:
    checks: list[tuple[str, bool, str]] = field(default_factory=list)
    record: Any = None
    checkpoint: Checkpoint | None = None

    @property
    def valid(self) -> bool:
        return bool(self.checks) and all(ok for _, ok, _ in self.checks)

    def add(self, name: str, ok: bool, detail: str = "") -> bool:
        self.checks.append((name, ok, detail))
        return ok

    def as_json(self) -> dict[str, Any]:
        cp = self.checkpoint
        return {"valid": self.valid,
                "checks": [{"check": n, "ok": ok, "detail": d} for n, ok, d in self.checks],
                "record": self.record,
                "checkpoint": None if cp is None else {
                    "origin": cp.origin, "size": cp.size, "root": cp.root_hash.hex()}}


def check_receipt(receipt: Any, vkey: str | None = None) -> Report:
    """Check an offline receipt; ``vkey`` is the log key the reader trusts."""
    if not isinstance(receipt, dict) or receipt.get("format") != RECEIPT_FORMAT:
        raise Malformed(f"not a receipt (format must be {RECEIPT_FORMAT!r})")
    hasher = _hasher(receipt)
    try:
        leaf = base64.b64decode(str(receipt.get("leaf", "")), validate=True)
    except (binascii.Error, ValueError):
        raise Malformed("leaf: expected base64") from None
    index, size = _int(receipt, "leaf_index"), _int(receipt, "tree_size")
    proof = _hex_list(receipt, "proof")
    note_text = receipt.get("checkpoint")
    if not isinstance(note_text, str):
        raise Malformed("checkpoint: expected the signed note text")
    report = Report(record=receipt.get("record"))
    leaf_hash = hasher.leaf(leaf)
    if "leaf_hash" in receipt:
        report.add("leaf_hash", _hex(receipt["leaf_hash"], "leaf_hash") == leaf_hash,
                   "leaf hash = HASH(0x00 || leaf)")
    try:
        content = json.loads(leaf.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        content = None  # no record's canonical encoding nests past the decoder's depth
    report.add("record", content is not None and content == receipt.get("record"),
               "the leaf is the canonical encoding of the record")
    trusted = vkey or receipt.get("vkey")
    if not isinstance(trusted, str):
        raise Malformed("no log key: pass --key VKEY")
    try:
        report.checkpoint = check_checkpoint(note_text, trusted)
        report.add("signature", True, "checkpoint signed by " + trusted.split("+")[0]
                   + ("" if vkey else " (key taken from the receipt itself: not independent)"))
    except NoteError as exc:
        report.add("signature", False, str(exc))
        return report
    cp = report.checkpoint
    report.add("tree_size", cp.size == size, f"checkpoint size {cp.size}, proof size {size}")
    report.add("inclusion", verify_inclusion(hasher, index, size, leaf_hash, proof, cp.root_hash),
               f"RFC 9162 inclusion of leaf {index} in a tree of {size}")
    return report


# -- command line --------------------------------------------------------------------------------
def _verify_input(text: str, vkey: str | None) -> tuple[bool, dict[str, Any]]:
    text = text.lstrip("\ufeff")  # files saved by Windows editors start with a BOM
    stripped = text.lstrip()
    if not stripped.startswith("{"):
        if not vkey:
            raise Malformed("a signed checkpoint needs --key VKEY")
        try:
            cp = check_checkpoint(text, vkey)
        except NoteError as exc:
            return False, {"valid": False, "error": str(exc)}
        return True, {"valid": True, "origin": cp.origin, "size": cp.size,
                      "root": cp.root_hash.hex()}
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise Malformed(f"not JSON: {exc}") from None
    except RecursionError:  # a file of "[[[[…" is malformed input, not a crash of the verifier
        raise Malformed("not JSON: nested too deeply") from None
    if isinstance(obj, dict) and obj.get("format") == RECEIPT_FORMAT:
        report = check_receipt(obj, vkey)
        return report.valid, report.as_json()
    ok = check_proof(obj)
    return ok, {"valid": ok}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ctown.ledger.verifier",
        description="Verify a ctown ledger receipt, proof or checkpoint")
    parser.add_argument("file", help="receipt.json, proof.json or a signed checkpoint; - for stdin")
    parser.add_argument("--key", help="the log's verifier key (C2SP vkey name+hex8+base64)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    try:
        if args.file == "-":
            text = sys.stdin.read()
        else:
            with open(args.file, encoding="utf-8") as fh:
                text = fh.read()
        ok, result = _verify_input(text, args.key)
    except (OSError, UnicodeDecodeError, Malformed, NoteError) as exc:
        print(f"malformed: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=1))
    else:
        for name, good, detail in [(c["check"], c["ok"], c["detail"])
                                   for c in result.get("checks", [])]:
            print(f"[{'OK' if good else 'FAIL'}] {name}: {detail}")
        print("VALID" if ok else "INVALID")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
