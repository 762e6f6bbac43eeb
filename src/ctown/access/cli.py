"""``ctown access policy``: the one table of who reaches what, printed for the county's review."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ctown.access import policy
from ctown.i18n import Message, _

app = typer.Typer(help="访问控制 / access: who reaches what, for which purpose", no_args_is_help=True)


@app.command("policy")
def show_policy(as_json: Annotated[bool, typer.Option("--json", help="JSON output")] = False,
                resource: Annotated[str | None, typer.Option(help="only this resource")] = None
                ) -> None:
    """Print the access table: resource, purpose, role, and how the role reaches the rows."""
    if resource is not None and resource not in policy.POLICY:
        # A typo would print an empty table, as if nobody reached anything: say so instead.
        typer.echo(str(Message(_("未知的资源 {resource}；已知的资源：{known}"), {
            "resource": resource, "known": ", ".join(sorted(policy.POLICY))})), err=True)
        raise typer.Exit(2)
    rows = [r for r in policy.rows() if resource in (None, r["resource"])]
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=1))
        return
    table = Table("resource", "purpose", "role", "reaches")
    for row in rows:
        table.add_row(row["resource"], row["purpose"], row["role"], row["reaches"])
    Console().print(table)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="access")
