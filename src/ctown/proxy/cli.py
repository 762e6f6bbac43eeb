"""``ctown proxy``: the county's own view of proxy mandates (信用代理授权), and revoking one.

Run by the operator on the server, as the county (no acting user): every region's mandates.
Recording and confirming happen at the village service point, on the officer's page."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from ctown.cli_support import database

app = typer.Typer(help="信用代理授权 / proxy mandates", no_args_is_help=True,
                  pretty_exceptions_show_locals=False)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="proxy")


@app.command("list")
def list_cmd(state: Annotated[str | None, typer.Option(
        help="awaiting | in_force | expired | revoked")] = None) -> None:
    """Every mandate, newest first, one JSON object a line."""
    from ctown.proxy import service

    try:
        chosen = service.State(state) if state else None
    except ValueError:
        print(f"未知状态 / unknown state: {state}", file=sys.stderr)
        raise typer.Exit(2) from None
    with database() as (_settings, factory), factory() as session:
        for row in service.mandates_for(session, None, state=chosen, limit=100_000):
            m = row.mandate
            print(json.dumps({"id": m.id, "household_id": m.subject_id, "proxy_id": m.proxy_id,
                              "proxy": row.proxy_name, "scopes": row.scopes,
                              "state": row.state.value, "until": row.until.isoformat(),
                              "confirmation": m.confirmation}, ensure_ascii=False))


@app.command("revoke")
def revoke_cmd(mandate_id: int, reason: Annotated[str, typer.Option(
        help="why (kept with the mandate and in the audit trail)")]) -> None:
    """Revoke a mandate now, as the county (the reason is required)."""
    from ctown.errors import DomainError
    from ctown.proxy import service

    with database() as (_settings, factory), factory.begin() as session:
        try:
            m = service.revoke(session, None, mandate_id, reason)
        except DomainError as exc:
            print(str(exc.message), file=sys.stderr)
            raise typer.Exit(2) from None
        print(json.dumps({"id": m.id, "state": "revoked"}))
