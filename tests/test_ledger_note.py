"""C2SP signed notes and checkpoints against Go's golang.org/x/mod/sumdb/note test vectors and two
real signed tree heads of the Go checksum database (sum.golang.org)."""

from __future__ import annotations

import pytest

from ctown.ledger.note import (
    Checkpoint,
    NoteError,
    Signer,
    UnverifiedNote,
    Verifier,
    open_checkpoint,
    open_note,
    sign,
    sign_checkpoint,
)

# golang.org/x/mod/sumdb/note/note_test.go
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = ("If you think cryptography is the answer to your problem,\n"
        "then you don't know what your problem is.\n")
PETER_SIG = ("— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfq"
             "dngotpRZb6KE6RyyBwJnAM=\n")
ENOCH_SIG = ("— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTG"
             "wnWLox33WWd1RvMc+QQ=\n")

# The Go checksum database's key and two of its published checkpoints.
SUMDB_VKEY = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
SUMDB_NOTES = [
    "go.sum database tree\n31700353\nqINS1GRFhWHwdkUeqLEoP4yEMkTBBzxBkGwGQlVlVcs=\n\n"
    "— sum.golang.org Az3grnmrIUEDFqHzAElIQCPNoRFRAAdFo47fooyWKMHb89k11GJh5zHIfNCOBmwn/C3YI8oW9/C8"
    "DJ87F61QqspBYwM=\n",
    "go.sum database tree\n65209736\n5+uGFjx6xBZG8ip1+wi77v+grwbhhukIrxEUS8PXvRo=\n\n"
    "— sum.golang.org Az3grnbssgK7ubgFX36gVETtNv0U23qxyAhAMai2QUfeGa3nB/akvkMdlUErfcZz7l/R3cVtYspg"
    "3dxXABkGZZKdsQ8=\n",
]


def test_go_signer_and_verifier_keys() -> None:
    signer = Signer.from_skey(PETER_SKEY)
    assert signer.verifier.vkey == PETER_VKEY
    assert signer.skey == PETER_SKEY
    assert Verifier.from_vkey(PETER_VKEY).key_hash == 0xC74F20A3


def test_sign_reproduces_the_go_signature() -> None:
    signer = Signer.from_skey(PETER_SKEY)
    assert sign(TEXT, signer) == TEXT + "\n" + PETER_SIG  # Ed25519 is deterministic
    with pytest.raises(NoteError):
        sign("abc", signer)  # text must end with a newline


def test_open_with_one_and_two_trusted_keys() -> None:
    peter, enoch = Verifier.from_vkey(PETER_VKEY), Verifier.from_vkey(ENOCH_VKEY)
    note = open_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG, [peter])
    assert note.text == TEXT
    assert [s.name for s in note.sigs] == ["PeterNeumann"]
    assert [s.name for s in note.unverified] == ["EnochRoot"]
    both = open_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG, [peter, enoch])
    assert [s.name for s in both.sigs] == ["PeterNeumann", "EnochRoot"]
    with pytest.raises(UnverifiedNote):
        open_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG, [])


def test_altered_text_or_signature_is_rejected() -> None:
    peter = Verifier.from_vkey(PETER_VKEY)
    with pytest.raises(NoteError, match="invalid signature"):
        open_note(TEXT.replace("cryptography", "cryptographY") + "\n" + PETER_SIG, [peter])
    tampered = PETER_SIG[:40] + "ABCD" + PETER_SIG[40:]
    with pytest.raises(NoteError):
        open_note(TEXT + "\n" + tampered, [peter])


@pytest.mark.parametrize("msg", [
    TEXT, TEXT + "\n", TEXT + "\n" + PETER_SIG[:-1], "\x01" + TEXT + "\n" + PETER_SIG,
    b"\xff" + (TEXT + "\n" + PETER_SIG).encode(),
    TEXT + "\n" + "— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNX"
                  "gKvqfqdngotpRZb6KE6RyyBwJnAM=\n",
    TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
    TEXT + "\n" + PETER_SIG * 101,
])
def test_malformed_notes(msg: str | bytes) -> None:
    with pytest.raises(NoteError):
        open_note(msg, [Verifier.from_vkey(PETER_VKEY)])


def test_mangled_verifier_keys_are_refused() -> None:
    for i in range(len(PETER_VKEY)):
        mangled = PETER_VKEY[:i] + chr(ord(PETER_VKEY[i]) + 1) + PETER_VKEY[i + 1:]
        with pytest.raises(NoteError):
            Verifier.from_vkey(mangled)
    for bad in (PETER_VKEY[:-1], PETER_VKEY[1:], "PeterNeumann+c74f20a3",
                "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"):
        with pytest.raises(NoteError):
            Verifier.from_vkey(bad)


@pytest.mark.parametrize("note", SUMDB_NOTES)
def test_real_go_checksum_database_checkpoints(note: str) -> None:
    verifier = Verifier.from_vkey(SUMDB_VKEY)
    checkpoint, _ = open_checkpoint(note, verifier)
    assert checkpoint.origin == "go.sum database tree"
    assert checkpoint.size == int(note.split("\n")[1])
    assert len(checkpoint.root_hash) == 32
    bumped = note.replace(f"\n{checkpoint.size}\n", f"\n{checkpoint.size + 1}\n")
    with pytest.raises(NoteError):
        open_checkpoint(bumped, verifier)


def test_checkpoint_roundtrip_and_strict_size() -> None:
    signer = Signer.generate("ctown.test/ledger")
    cp = Checkpoint("ctown.test/ledger", 8, bytes(range(32)), ("extension line",))
    signed = sign_checkpoint(cp, signer)
    assert signed.startswith("ctown.test/ledger\n8\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n")
    assert open_checkpoint(signed, signer.verifier)[0] == cp
    other = Signer.generate("ctown.test/ledger")
    with pytest.raises(UnverifiedNote):  # same name, another key: a different key hash
        open_checkpoint(signed, other.verifier)
    for body in ("o\n08\nAA==\n", "o\n-1\nAA==\n", "o\n1\n", "\n1\nAA==\n", "o\n1\n!!\n"):
        with pytest.raises(NoteError):
            Checkpoint.parse(body)
