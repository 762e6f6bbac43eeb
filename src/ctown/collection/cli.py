"""``ctown collect …``: terminal keys, packing batch files on a terminal, receiving them."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from ctown.cli_support import database
from ctown.collection import keys, protocol, records

app = typer.Typer(help="村级信用信息采集点 / village collection points", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="collect")


def _out(data: object) -> None:
    print(json.dumps(data, ensure_ascii=False, sort_keys=True, default=str))


@app.command()
def keygen(out: Annotated[Path, typer.Option("--out", help="私钥文件 / private key file")]) -> None:
    """Create a terminal's Ed25519 key (on the terminal); the public key goes to the county."""
    if out.exists():
        typer.echo(f"文件已存在 / file exists: {out}", err=True)
        raise typer.Exit(2)
    terminal_id, public = keys.write_terminal_key(out)
    _out({"terminal": terminal_id, "public_key": public, "private_key_file": str(out),
          "public_key_file": str(out) + ".pub"})


@app.command("county-key")
def county_key(out: Annotated[Path | None, typer.Option("--out")] = None) -> None:
    """The county's X25519 public key that terminals encrypt to (created on first use)."""
    from ctown.settings import get_settings

    text = keys.county_public_text(get_settings())
    if out is not None:
        out.write_text(text + "\n")
    _out({"public_key": text, "fingerprint": protocol.fingerprint(protocol.b64d(text)),
          "suite": protocol.SUITE_NAME})


@app.command()
def pack(terminal_key: Annotated[Path, typer.Option("--terminal-key")],
         county_key: Annotated[str, typer.Option("--county-key", help="公钥或其文件 / key, file")],
         src: Annotated[Path, typer.Option("--in", help="records.csv")],
         out: Annotated[Path, typer.Option("--out", help="batch.ctb")],
         batch_id: Annotated[str | None, typer.Option("--batch-id")] = None) -> None:
    """Sign and encrypt a CSV of records into a batch file (works offline, on the terminal)."""
    rows = records.read_csv(src)
    envelope = protocol.pack(
        rows, terminal_key=keys.read_terminal_key(terminal_key),
        county_key=protocol.parse_x25519_public(keys.read_public_text(county_key)),
        batch_id=batch_id)
    out.write_bytes(envelope)
    header = protocol.read_header(envelope)
    _out({"batch_id": header["batch_id"], "terminal": header["terminal"], "records": len(rows),
          "out": str(out)})


@app.command()
def upload(files: Annotated[list[Path], typer.Argument(help="batch.ctb …")],
           url: Annotated[str | None, typer.Option(
               "--url", help="发送到平台 API / send to the platform's API")] = None) -> None:
    """Receive batch files into the county database, or with --url send them to the platform."""
    results = [_send(f, url) for f in files] if url else _receive(files)
    for r in results:
        _out(r)
    if any(r.get("status") != "accepted" for r in results):
        raise typer.Exit(1)


def _send(path: Path, url: str) -> dict[str, Any]:
    import httpx

    try:
        reply = httpx.post(url.rstrip("/") + "/api/v1/collection/batches",
                           content=path.read_bytes(),
                           headers={"content-type": "application/json"}, timeout=60)
        return {"file": str(path), **reply.json()}
    except (httpx.HTTPError, ValueError) as exc:
        # Still offline or the server is unwell: the file stays as it is, send it again later.
        return {"file": str(path), "status": "unsent", "error": str(exc)[:200]}


def _receive(files: list[Path]) -> list[dict[str, Any]]:
    from ctown.catalogue.service import load_catalogue
    from ctown.collection.service import Refused, receive_batch
    from ctown.privacy.keyring import open_cipher

    results: list[dict[str, Any]] = []
    with database() as (settings, factory):
        county, cipher, catalogue = (keys.county_private_key(settings),
                                     open_cipher(settings), load_catalogue())
        for path in files:
            # One transaction per file: a refusal is committed too, so that it stays logged.
            with factory.begin() as session:
                try:
                    receipt = receive_batch(session, path.read_bytes(), county_key=county,
                                            cipher=cipher, catalogue=catalogue, client="cli")
                    results.append({"file": str(path), **receipt.__dict__})
                except Refused as exc:
                    results.append({"file": str(path), "status": "refused", "code": exc.code,
                                    "reason": exc.message.both(),
                                    "already_accepted": exc.already_accepted})
    return results


@app.command("register")
def register_cmd(public_key: Annotated[str, typer.Option("--public-key", help="公钥或 .pub 文件")],
                 village: Annotated[str, typer.Option("--village", help="村区划代码")],
                 name: Annotated[str, typer.Option("--name")] = "") -> None:
    """Register a terminal's public key for a village (county side)."""
    from ctown.collection.service import register_terminal

    with database() as (_s, factory), factory.begin() as session:
        t = _guard(lambda: register_terminal(session, actor=None, via="cli", name=name,
                                             public_key=keys.read_public_text(public_key),
                                             village_code=village))
        _out({"terminal": t.id, "village": t.village_code, "name": t.name})


@app.command()
def revoke(terminal: Annotated[str, typer.Argument()],
           reason: Annotated[str, typer.Option("--reason")] = "") -> None:
    """Revoke a terminal: its batches are refused from now on."""
    from ctown.collection.service import revoke_terminal

    with database() as (_s, factory), factory.begin() as session:
        t = _guard(lambda: revoke_terminal(session, actor=None, terminal_id=terminal,
                                           reason=reason))
        _out({"terminal": t.id, "revoked_at": t.revoked_at})


@app.command()
def terminals() -> None:
    """List the registered terminals (one JSON object a line)."""
    from ctown.collection.service import terminals_for

    with database() as (_s, factory), factory() as session:
        for t in terminals_for(session, None):
            _out({"terminal": t.id, "name": t.name, "village": t.village_code,
                  "via": t.enrolled_via, "revoked": t.revoked_at is not None,
                  "last_seen_at": t.last_seen_at})


def _guard(action: Any) -> Any:
    from ctown.errors import DomainError

    try:
        return action()
    except DomainError as exc:
        print(str(exc.message), file=sys.stderr)
        raise typer.Exit(2) from None
