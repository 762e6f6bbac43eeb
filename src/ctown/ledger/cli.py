"""``ctown ledger``: check proofs and checkpoints, sign a checkpoint, verify the log, print receipts.

Exit codes are part of the interface (scripts and auditors rely on them):
``check-proof`` 0 valid / 1 invalid / 2 malformed; ``check-checkpoint`` 0 when a signature by the
given key verifies, else 1; ``verify`` 0 when the log and the database agree, else 1.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ctown.cli_support import database
from ctown.ledger.note import Checkpoint, NoteError, Verifier, open_note
from ctown.ledger.verifier import Malformed, check_proof

if TYPE_CHECKING:

    pass

app = typer.Typer(help="可验证账本 / tamper-evident ledger", no_args_is_help=True,
                  pretty_exceptions_show_locals=False)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="ledger")



def _emit(obj: object) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, sort_keys=True) + "\n")


def _check_one(text: str) -> bool:
    """Valid or not; raises Malformed for input that is not a proof object."""
    try:
        obj = json.loads(text.lstrip("\ufeff"))  # files saved by Windows editors start with a BOM
    except json.JSONDecodeError as exc:
        raise Malformed(f"not JSON: {exc}") from None
    return check_proof(obj)


@app.command("check-proof")
def check_proof_cmd(
        jsonl: Annotated[bool, typer.Option("--jsonl", help="one JSON object per line")] = False,
) -> None:
    """Verify RFC 9162 inclusion/consistency proofs read from standard input."""
    if not jsonl:
        try:
            ok = _check_one(sys.stdin.read())
        except Malformed as exc:
            sys.stderr.write(f"malformed: {exc}\n")
            raise typer.Exit(2) from None
        _emit({"valid": ok})
        raise typer.Exit(0 if ok else 1)
    malformed = False
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            ok = _check_one(line)
        except Malformed as exc:
            sys.stderr.write(f"malformed: {exc}\n")
            ok, malformed = False, True
        _emit({"valid": ok})
    # Per-line answers are on stdout; the status only says whether every line could be read.
    raise typer.Exit(2 if malformed else 0)


@app.command("check-checkpoint")
def check_checkpoint_cmd(
        key: Annotated[str, typer.Option("--key", help="verifier key name+hex8+base64")],
) -> None:
    """Exit 0 when the signed note on standard input carries a valid signature by KEY."""
    data = sys.stdin.buffer.read()
    try:
        verifier = Verifier.from_vkey(key)
        note = open_note(data, [verifier])
    except NoteError as exc:
        sys.stderr.write(f"not verified: {exc}\n")
        raise typer.Exit(1) from None
    try:
        cp = Checkpoint.parse(note.text)
        _emit({"valid": True, "origin": cp.origin, "size": cp.size, "root": cp.root_hash.hex()})
    except NoteError:
        _emit({"valid": True})


@app.command("checkpoint")
def checkpoint_cmd() -> None:
    """Append what is pending and sign a new checkpoint of the log (prints the signed note)."""
    from ctown.ledger import service, tasks

    with database() as (settings, factory), factory() as session, session.begin():
        tasks.append_all(session, settings)
        cp = service.make_checkpoint(session, settings)
        text = cp.note
    sys.stdout.write(text)


@app.command("key")
def key_cmd() -> None:
    """Print the log's public verifier key (give it to banks and auditors)."""
    from ctown.ledger import service

    with database() as (settings, factory), factory() as session, session.begin():
        log = service.open_log(session, settings)
        print(log.vkey)


@app.command("verify")
def verify_cmd(as_json: Annotated[bool, typer.Option("--json", help="JSON output")] = False,
               ) -> None:
    """Recompute the tree from the database; check checkpoints and every record it covers."""
    from ctown.ledger.integrity import verify_log

    with database() as (settings, factory), factory() as session:
        report = verify_log(session, dt.timedelta(minutes=settings.ledger_pending_max_minutes))
    if as_json:
        print(json.dumps(report.as_json(), ensure_ascii=False, sort_keys=True, indent=1))
    else:
        for line in report.lines():
            print(line)
    raise typer.Exit(0 if report.ok else 1)


@app.command("receipt")
def receipt_cmd(leaf_index: int,
                out: Annotated[Path | None, typer.Option("--out", help="write to a file")] = None,
                ) -> None:
    """The offline proof file (record + inclusion proof + signed checkpoint) of one leaf."""
    from ctown.ledger.receipts import build_receipt

    with database() as (settings, factory), factory() as session, session.begin():
        receipt = build_receipt(session, settings, leaf_index)
    text = json.dumps(receipt, ensure_ascii=False, indent=1) + "\n"
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
