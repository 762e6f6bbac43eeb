"""``ctown feedback``: the county's own view of the feedback queue, and the escalation job.

Run by the operator on the server, as the county (no acting user): every region's items. The
text is not printed (it is the farmer's words, encrypted at rest): the officers read it on their
queue page."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from ctown.cli_support import database

app = typer.Typer(help="反馈与投诉 / feedback and complaints", no_args_is_help=True,
                  pretty_exceptions_show_locals=False)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="feedback")


@app.command("list")
def list_cmd(status: Annotated[str | None, typer.Option(
        help="received | answered | closed")] = None,
        overdue: Annotated[bool, typer.Option(help="only those past their deadline")] = False
        ) -> None:
    """Every item, the most urgent first, one JSON object a line (no text)."""
    from ctown.feedback import service

    with database() as (_settings, factory), factory() as session:
        for item in service.queue_for(session, None, status=status, overdue_only=overdue,
                                      limit=100_000):
            print(json.dumps({
                "id": item.id, "ref": item.ref, "channel": item.channel, "kind": item.kind,
                "subject_id": item.subject_id, "region": item.region_code,
                "role": item.assigned_role, "status": item.status,
                "received_at": item.received_at.isoformat(),
                "deadline_at": item.deadline_at.isoformat(),
                "overdue": service.is_overdue(item),
                "escalation_level": item.escalation_level}, ensure_ascii=False))


@app.command("escalate")
def escalate_cmd() -> None:
    """Move overdue items up (the every-15-minutes job); prints how many moved."""
    from ctown.feedback import service

    with database() as (_settings, factory), factory.begin() as session:
        moved = service.escalate_overdue(session)
        print(json.dumps({"escalated": len(moved)}))
