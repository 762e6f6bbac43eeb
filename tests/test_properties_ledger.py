"""Properties of the ledger's parsers (#12 item 3): C2SP signed notes and tlog checkpoints
(``ctown.ledger.note``) and the standalone verifier's proofs, receipts and inputs
(``ctown.ledger.verifier``).

Any text gives a value or the module's own refusal (:class:`NoteError`, :class:`Malformed`) —
never another exception, so the verifier a bank runs answers "malformed", not a traceback. A
checkpoint signed by a key opens to exactly that checkpoint under that key; one changed
character is refused, or opens to the same checkpoint (base64's padding bits carry nothing).
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import json
from functools import cache

from hypothesis import given
from hypothesis import strategies as st
from tests.fuzzing import bounded

from ctown.ledger import verifier
from ctown.ledger.note import (
    Checkpoint,
    Note,
    NoteError,
    Signer,
    Verifier,
    open_checkpoint,
    open_note,
    parse,
    sign_checkpoint,
)
from ctown.ledger.sources import LeafEncoder, leaf_bytes


@cache
def signer() -> Signer:
    return Signer.generate("ctown.test/ledger")


#: Pieces of notes, so generated text gets past the first check.
_PIECES = ["\n", "\n\n", "— ", "ctown.test/ledger ", "go.sum database tree\n", "42\n",
           base64.b64encode(b"\x00" * 32).decode() + "\n", "AAAA", "+", "=", " ", "\u2014",
           "\ufffd", "\t", "x"]
notes = st.one_of(st.text(max_size=80), st.lists(st.sampled_from(_PIECES), max_size=20).map(
    "".join), st.binary(max_size=80))
names = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zs", "Zl", "Zp"),
                              blacklist_characters="+"), min_size=1, max_size=12)


@bounded(200)
@given(notes)
def test_any_text_is_a_note_or_a_refusal(msg: str | bytes) -> None:
    try:
        text, _sigs = parse(msg)
    except NoteError as exc:
        assert str(exc)
    else:
        assert text.endswith("\n")
    try:
        note = open_note(msg, [signer().verifier])
    except NoteError as exc:
        assert str(exc)
    else:
        assert isinstance(note, Note) and note.sigs


@bounded(200)
@given(notes)
def test_any_text_is_a_checkpoint_or_a_refusal(text: str | bytes) -> None:
    body = text if isinstance(text, str) else text.decode("utf-8", "replace")
    try:
        checkpoint = Checkpoint.parse(body)
    except NoteError:
        return
    assert 0 <= checkpoint.size < 1 << 64 and checkpoint.origin


@bounded(200)
@given(st.one_of(st.text(max_size=80), st.builds("{}+{}+{}".format, names,
                                                    st.text("0123456789abcdefABCDEF x_", max_size=9),
                                                    st.text(max_size=50))))
def test_any_text_is_a_key_or_a_refusal(text: str) -> None:
    for parse_key in (Verifier.from_vkey, Signer.from_skey):
        try:
            parse_key(text)
        except NoteError as exc:
            assert str(exc)
    with contextlib.suppress(NoteError):
        Signer.from_skey("PRIVATE+KEY+" + text)


# -- round trips -----------------------------------------------------------------------------------

line = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=30)
checkpoints = st.builds(Checkpoint, line, st.integers(0, (1 << 64) - 1), st.binary(min_size=32,
                                                                                  max_size=32),
                        st.lists(line, max_size=3).map(tuple))


@bounded(100)
@given(checkpoints)
def test_a_signed_checkpoint_opens_to_itself(checkpoint: Checkpoint) -> None:
    assert Checkpoint.parse(checkpoint.text()) == checkpoint
    opened, note = open_checkpoint(sign_checkpoint(checkpoint, signer()), signer().verifier)
    assert opened == checkpoint and [s.name for s in note.sigs] == [signer().name]


@bounded(100)
@given(checkpoints, st.data())
def test_one_changed_character_is_refused_or_changes_nothing(checkpoint: Checkpoint,
                                                             data: st.DataObject) -> None:
    signed = sign_checkpoint(checkpoint, signer())
    at = data.draw(st.integers(0, len(signed) - 1))
    new = data.draw(st.characters(codec="utf-8").filter(lambda c: c != signed[at]))
    try:
        opened, _note = open_checkpoint(signed[:at] + new + signed[at + 1:], signer().verifier)
    except NoteError:
        return
    assert opened == checkpoint


@bounded(50)
@given(names)
def test_keys_read_back_and_name_themselves(name: str) -> None:
    key = Signer.generate(name)
    assert Signer.from_skey(key.skey).verifier == key.verifier
    read = Verifier.from_vkey(key.verifier.vkey)
    raw = base64.b64decode(key.verifier.vkey.split("+", 2)[2])
    # the key hash by its definition: SHA-256(name || "\n" || 0x01 || public key), first 4 bytes
    assert read.key_hash == int.from_bytes(
        hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4], "big")


# -- the standalone verifier -----------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
    | st.sampled_from(["inclusion", "consistency", "sha256", "sm3", "00" * 32, verifier.RECEIPT_FORMAT]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["type", "hash", "leaf_index", "tree_size", "leaf_hash", "proof", "root",
                         "size1", "size2", "root1", "root2", "format", "leaf", "checkpoint",
                         "record", "vkey", "x"]), inner, max_size=8),
    max_leaves=20)


@bounded(150)
@given(json_values)
def test_any_json_is_a_proof_a_receipt_or_malformed(obj: object) -> None:
    try:
        assert isinstance(verifier.check_proof(obj), bool)
    except verifier.Malformed as exc:
        assert str(exc)
    try:
        report = verifier.check_receipt(obj, signer().verifier.vkey)
    except verifier.Malformed as exc:
        assert str(exc)
    else:
        assert isinstance(report.valid, bool)


def deep(depth: int) -> str:
    return "[" * depth + "]" * depth


def deep_receipt(depth: int) -> str:
    """A receipt whose leaf — the record's canonical JSON — nests ``depth`` deep."""
    return json.dumps({"format": verifier.RECEIPT_FORMAT, "leaf_index": 0, "tree_size": 1,
                       "leaf": base64.b64encode(deep(depth).encode()).decode(),
                       "checkpoint": "x\n1\nAA==\n\n— x AAAAAAAA\n"})


@bounded(100)
@given(st.one_of(st.text(max_size=60), json_values.map(json.dumps),
                 st.integers(10, 100_000).map(deep),
                 st.integers(10, 100_000).map(lambda d: '{"x": ' + deep(d) + "}"),
                 st.integers(10, 100_000).map(deep_receipt)))
def test_any_input_file_is_verified_or_malformed(text: str) -> None:
    """What ``python -m ctown.ledger.verifier FILE`` reads: a result, or exit status 2."""
    try:
        ok, result = verifier._verify_input(text, signer().verifier.vkey)
    except (verifier.Malformed, NoteError) as exc:
        assert str(exc)
    else:
        assert isinstance(ok, bool) and "valid" in result


# -- the leaf encoder of appending (#12 item 10) gives the canonical bytes --------------------------
_cell = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20),
    st.dates(), st.datetimes(timezones=st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=8))])),
    st.decimals(allow_nan=False, allow_infinity=False, places=4),
    st.dictionaries(st.text(max_size=5), st.one_of(st.integers(), st.text(max_size=5)), max_size=3),
    st.lists(st.integers(), max_size=3))


@given(st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=8, unique=True).flatmap(
    lambda names: st.tuples(st.just(names), st.lists(_cell, min_size=len(names),
                                                     max_size=len(names)))),
       st.integers(min_value=1, max_value=2**53), st.text(min_size=1, max_size=12))
def test_the_fast_leaf_encoder_gives_the_canonical_bytes(table: tuple[list[str], list[object]],
                                                         ref: int, kind: str) -> None:
    names, cells = table
    columns = ["id", *names] if "id" not in names else names
    row = [ref, *cells] if "id" not in names else [ref if c == "id" else v
                                                   for c, v in zip(names, cells, strict=True)]
    record = dict(zip(columns, row, strict=True))
    encoder = LeafEncoder(kind, columns, "id")
    assert encoder.encode(row) == leaf_bytes(kind, ref, record)
    # Column by column (appending's path), rows of one type per column and of mixed types.
    other = [ref + 1 if c == "id" else None for c in columns]
    assert encoder.encode_all([row, row, other]) == [
        leaf_bytes(kind, ref, record), leaf_bytes(kind, ref, record),
        leaf_bytes(kind, ref + 1, dict(zip(columns, other, strict=True)))]
    # Many repeats: each distinct value encoded once and reused.
    assert encoder.encode_all([row] * 9 + [other]) == [leaf_bytes(kind, ref, record)] * 9 + [
        leaf_bytes(kind, ref + 1, dict(zip(columns, other, strict=True)))]
