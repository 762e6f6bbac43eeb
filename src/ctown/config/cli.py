"""``ctown config``: check, diff, propose, approve, reject, roll back the county's configuration.

``check`` needs no database; the others record proposals and versions in it. A person acts with
``--by USERNAME`` (two people: who proposes cannot approve). Exit status: 0 done; 1 the
configuration has problems (one ``FILE:LINE: field: message`` line each, on standard output);
2 a refusal (unknown user, not allowed, own proposal, nothing to do).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, NoReturn

import sqlalchemy as sa
import typer
from sqlalchemy.orm import Session

from ctown import configdir
from ctown.accounts.models import User
from ctown.cli_support import database, err
from ctown.config import service, upload
from ctown.config.diffs import FileChange, changes, summary
from ctown.config.schemas import proposal_out, version_out
from ctown.errors import DomainError

app = typer.Typer(help="县级配置 / the county's configuration", no_args_is_help=True)
By = Annotated[str, typer.Option("--by", help="提议或批准的人（用户名）/ username of who acts")]
AsJson = Annotated[bool, typer.Option("--json", help="JSON output")]


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="config")


def _problems(exc: service.ConfigInvalid) -> NoReturn:
    for line in exc.lines():
        typer.echo(line)
    err.print(f"[red]✗ {exc.message}[/red]", highlight=False)
    raise typer.Exit(1)


def _refuse(exc: DomainError) -> NoReturn:
    err.print(f"[red]✗ {exc.message}[/red]", highlight=False)
    raise typer.Exit(2)


def _user(session: Session, username: str) -> User:
    user = session.scalar(sa.select(User).where(User.username == username))
    if user is None or not user.is_active:
        err.print(f"[red]✗ 没有这个有效用户 / no active user named {username}[/red]",
                  highlight=False)
        raise typer.Exit(2)
    return user


@app.command("check")
def check(folder: Annotated[Path | None, typer.Argument(
        help="配置目录（默认：CTOWN_CONFIG_DIR，否则内置默认）/ folder (default: the live one)")
          ] = None) -> None:
    """Validate every file of FOLDER merged over the packaged defaults (no database)."""
    live = configdir.live_dir()
    chosen = folder if folder is not None else live
    if chosen is not None and not chosen.is_dir():
        err.print(f"[red]✗ 不是文件夹 / not a folder: {chosen}[/red]", highlight=False)
        raise typer.Exit(2)
    shown = str(chosen).rstrip("/") if chosen is not None else None
    problems = service.check_dir(chosen, shown, live)
    for problem in problems:
        typer.echo(problem.text())
    if problems:
        err.print(f"[red]✗ {len(problems)} 处问题 / problems[/red]", highlight=False)
        raise typer.Exit(1)
    mine = len(configdir.folder_files(chosen)) if chosen is not None else 0
    typer.echo(f"✓ 配置有效 / configuration valid: {len(configdir.merged({}))} 个内置文件 "
               f"packaged files, {mine} 个来自 / from {shown or '-'}")


def _show(found: list[FileChange], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps({**summary(found), "files": [c.as_dict() for c in found]},
                              ensure_ascii=False, indent=1))
        return
    if not found:
        typer.echo("没有变化 / no change")
    for change in found:
        typer.echo(f"{change.status:8} {change.name}")
    for change in found:
        if change.status == "changed":
            typer.echo("\n".join(change.unified()))


@app.command("diff")
def diff(folder: Annotated[Path | None, typer.Argument(help="提议的文件夹或文件 / proposed")] = None,
         proposal: Annotated[int | None, typer.Option("--proposal", help="提议编号")] = None,
         as_json: AsJson = False) -> None:
    """What FOLDER (or proposal ID) would change against what is live; neither: what the live
    folder changes against the packaged defaults."""
    live = configdir.live_dir()
    with database() as (_settings, factory), factory.begin() as session:
        try:
            if proposal is not None:
                found = service.proposal_changes(
                    session, service.get_proposal_for(session, None, proposal), live)
            elif folder is not None:
                found = service.dir_changes(session, upload.from_path(folder), live)
            else:
                found = changes({}, service.disk_files(live))
        except DomainError as exc:
            _refuse(exc)
    _show(found, as_json)


@app.command("propose")
def propose(path: Annotated[Path, typer.Argument(exists=True, help="文件夹或一个 YAML 文件")],
            by: By, note: Annotated[str, typer.Option("--note", help="说明 / why")] = "",
            as_name: Annotated[str | None, typer.Option(
                "--as", help="单个文件在配置目录中的名字，如 products/x.yaml")] = None,
            remove: Annotated[list[str] | None, typer.Option(
                "--remove", help="从配置目录移除的文件 / a file to take out")] = None) -> None:
    """Propose a folder or one file as a change of the live configuration (checked now)."""
    live = configdir.live_dir()
    with database() as (_settings, factory), factory.begin() as session:
        try:
            files = upload.from_path(path, as_name)
            made = service.propose(session, _user(session, by), files, note, folder=live,
                                   removes=remove or ())
            found = service.proposal_changes(session, made, live)
        except service.ConfigInvalid as exc:
            _problems(exc)
        except DomainError as exc:
            _refuse(exc)
        typer.echo(f"提议 / proposal {made.id}: {len(found)} 个文件变化 / files change")
        _show(found, False)


@app.command("approve")
def approve(proposal: Annotated[int, typer.Argument(help="提议编号 / proposal ID")], by: By
            ) -> None:
    """Approve a proposal of someone else: checked again, put live as a new version."""
    live = configdir.live_dir()
    with database() as (_settings, factory), factory.begin() as session:
        try:
            version = service.approve(session, _user(session, by), proposal, folder=live)
        except service.ConfigInvalid as exc:
            _problems(exc)
        except DomainError as exc:
            _refuse(exc)
        typer.echo(f"✓ 生效版本 / live version {version.version} ({version.sha256[:12]})")


@app.command("reject")
def reject(proposal: Annotated[int, typer.Argument(help="提议编号 / proposal ID")], by: By,
           reason: Annotated[str, typer.Option("--reason", help="驳回理由 / why")]) -> None:
    """Reject a proposal, with the reason."""
    with database() as (_settings, factory), factory.begin() as session:
        try:
            service.reject(session, _user(session, by), proposal, reason)
        except DomainError as exc:
            _refuse(exc)
        typer.echo(f"✓ 已驳回 / rejected {proposal}")


@app.command("rollback")
def rollback(version: Annotated[int, typer.Argument(help="要恢复的版本（0：内置默认）")], by: By,
             note: Annotated[str, typer.Option("--note", help="说明 / why")] = "") -> None:
    """Propose putting an earlier live version live again (another person approves it)."""
    live = configdir.live_dir()
    with database() as (_settings, factory), factory.begin() as session:
        try:
            made = service.propose_rollback(session, _user(session, by), version, note,
                                            folder=live)
        except service.ConfigInvalid as exc:
            _problems(exc)
        except DomainError as exc:
            _refuse(exc)
        typer.echo(f"提议 / proposal {made.id}: 恢复版本 / roll back to version {version}")


@app.command("list")
def list_cmd(as_json: AsJson = False) -> None:
    """The live versions and the proposals, newest first."""
    with database() as (_settings, factory), factory.begin() as session:
        versions = service.versions_for(session, None)
        proposals = service.proposals_for(session, None)
        names = service.usernames(session, [*(v.proposed_by_id for v in versions),
                                            *(v.approved_by_id for v in versions),
                                            *(p.proposed_by_id for p in proposals),
                                            *(p.decided_by_id for p in proposals)])
        if as_json:
            typer.echo(json.dumps({
                "versions": [version_out(v, names).model_dump(mode="json") for v in versions],
                "proposals": [proposal_out(p, names).model_dump(mode="json")
                              for p in proposals]}, ensure_ascii=False, indent=1))
            return
        for v in versions:
            typer.echo(f"v{v.version:<4} {v.approved_at:%Y-%m-%d %H:%M}Z "
                       f"{names.get(v.proposed_by_id)} → {names.get(v.approved_by_id)} "
                       f"{len(v.files)} files  {v.note}")
        for p in proposals:
            typer.echo(f"#{p.id:<4} {p.status:8} {p.kind:8} {names.get(p.proposed_by_id)} "
                       f"{', '.join(f['name'] for f in p.files)}  {p.note}")


@app.command("status")
def status(as_json: AsJson = False) -> None:
    """The live folder, the live version, and whether the folder holds what it recorded."""
    live = configdir.live_dir()
    with database() as (_settings, factory), factory.begin() as session:
        state = service.live_state(session, live)
        data = {"folder": str(live) if live else None,
                "version": state.version.version if state.version else 0,
                "drift": state.drift}
    if as_json:
        typer.echo(json.dumps(data, ensure_ascii=False))
        return
    typer.echo(f"配置目录 / folder: {data['folder'] or '-'}  生效版本 / live version: "
               f"{data['version']}")
    if state.drift:
        typer.echo("与生效版本不一致的文件 / files that differ from the live version: "
                   + ", ".join(state.drift) + "  (ctown config sync)")
        raise typer.Exit(1)


@app.command("sync")
def sync() -> None:
    """Write the live version's files into the folder again (after a failed write or an edit
    by hand): what the recorded version holds is what counts."""
    live = configdir.live_dir()
    with database() as (_settings, factory), factory.begin() as session:
        try:
            number = service.sync(session, None, live)
        except DomainError as exc:
            _refuse(exc)
    typer.echo(f"✓ 配置目录已写为版本 / folder written as version {number}")
