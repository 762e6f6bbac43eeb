"""``ctown admin create`` (the first county administrator) and ``ctown users …`` (用户管理).

Run by the county on the server: the actor is ``None`` (the county's own job), every change is
audited. A password comes from standard input (``--password-stdin``, never an argument, which
``ps`` and shell history would show); without it a one-time code is printed, once. Refusals are
one line in Chinese and English on standard error, exit code 2.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from ctown.cli_support import err, open_database
from ctown.i18n import Message, _
from ctown.settings import Settings

admin_app = typer.Typer(help="县管理员 / county administrators", no_args_is_help=True,
                        pretty_exceptions_show_locals=False)
users_app = typer.Typer(help="用户管理 / users: add, list, change, disable, reset, sessions",
                        no_args_is_help=True, pretty_exceptions_show_locals=False)
T = TypeVar("T")

PasswordStdin = Annotated[bool, typer.Option(
    "--password-stdin", help="read the password from standard input (else a one-time code)")]
AsJson = Annotated[bool, typer.Option("--json", help="JSON output")]


def register(root: typer.Typer) -> None:
    root.add_typer(admin_app, name="admin")
    root.add_typer(users_app, name="users")


def _refuse(message: Message) -> typer.Exit:
    err.print(str(message), highlight=False, soft_wrap=True, markup=False)
    return typer.Exit(2)


def _read_password(stdin: bool) -> str | None:
    """The password piped in (its final line break dropped), or None for a one-time code."""
    if not stdin:
        return None
    value = sys.stdin.read()
    value = value[:-1] if value.endswith("\n") else value
    value = value[:-1] if value.endswith("\r") else value
    if not value:
        raise _refuse(Message(_("标准输入中没有密码")))
    return value


@contextmanager
def _session(migrate: bool = False) -> Iterator[tuple[Settings, Session]]:
    """One transaction for the command, committed when it succeeds; a refusal exits 2."""
    from ctown.errors import DomainError

    settings, engine, factory = open_database()
    try:
        if migrate:
            from ctown.migrate import upgrade

            upgrade(engine)
        with factory.begin() as session:
            yield settings, session
    except DomainError as exc:
        raise _refuse(exc.message) from None
    finally:
        engine.dispose()


def _run(action: Callable[[Settings, Session], T], migrate: bool = False) -> T:
    with _session(migrate) as (settings, session):
        return action(settings, session)


def _user_row(user: Any) -> dict[str, Any]:
    return {"username": user.username, "display_name": user.display_name, "role": user.role,
            "region_code": user.region_code, "bank_code": user.bank_code,
            "subject_id": user.subject_id, "department_code": user.department_code,
            "active": user.is_active, "must_change_password": user.must_change_password,
            "created_at": user.created_at.isoformat()}


def _print_new(row: dict[str, Any], code: str | None, as_json: bool) -> None:
    """The user made (or reset); the one-time code on its own line, shown this once."""
    if as_json:
        print(json.dumps({**row, "one_time_code": code}, ensure_ascii=False))
        return
    err.print(f"{row['username']}: {row['role']} · {row['region_code']}", highlight=False)
    if code:
        print(f"一次性密码 / one-time code: {code}")
        err.print(str(Message(_("只显示这一次；首次登录时必须修改"))), highlight=False)


# -- ctown admin create ------------------------------------------------------------------------------

@admin_app.command("create")
def admin_create(
        username: str, password_stdin: PasswordStdin = False,
        region: Annotated[str | None, typer.Option(
            "--region", help="the county's 12-digit code, when no region is loaded yet")] = None,
        region_name: Annotated[str | None, typer.Option(
            "--region-name", help="the county's name, with --region")] = None,
        name: Annotated[str | None, typer.Option("--name", help="display name")] = None,
        as_json: AsJson = False) -> None:
    """The first county administrator, on an empty database (its tables are created first).

    Refused (exit 2) once an active county administrator exists: add users with `ctown users add`.
    """
    from ctown.accounts.users import create_admin

    password = _read_password(password_stdin)
    made = _run(lambda settings, session: _new(create_admin(
        session, username=username, password=password, region_code=region,
        region_name=region_name, display_name=name,
        min_length=settings.password_min_length)), migrate=True)
    _print_new(*made, as_json)


def _new(made: Any) -> tuple[dict[str, Any], str | None]:
    return _user_row(made.user), made.code


# -- ctown users … --------------------------------------------------------------------------------------

@users_app.command("add")
def users_add(
        username: str,
        role: Annotated[str, typer.Option("--role", help="a value of ctown.accounts.roles.Role")],
        region: Annotated[str, typer.Option("--region", help="12-digit region code")],
        bank: Annotated[str | None, typer.Option("--bank", help="bank or insurer code")] = None,
        subject: Annotated[int | None, typer.Option("--subject", help="farmer's subject id")] = None,
        department: Annotated[str | None, typer.Option(
            "--department", help="department code (department_feed)")] = None,
        name: Annotated[str | None, typer.Option("--name", help="display name")] = None,
        password_stdin: PasswordStdin = False, as_json: AsJson = False) -> None:
    """Add a user; they set their own password at first login."""
    from ctown.accounts.users import add_user

    password = _read_password(password_stdin)
    made = _run(lambda settings, session: _new(add_user(
        session, None, username=username, role=role, region_code=region, display_name=name,
        bank_code=bank, subject_id=subject, department_code=department, password=password,
        min_length=settings.password_min_length)))
    _print_new(*made, as_json)


@users_app.command("list")
def users_list(as_json: AsJson = False,
               role: Annotated[str | None, typer.Option("--role")] = None,
               region: Annotated[str | None, typer.Option(
                   "--region", help="this region and inside it")] = None) -> None:
    """Every user (one JSON object per user with --json)."""
    from ctown.accounts.users import list_users

    rows = _run(lambda _s, session: [_user_row(u) for u in list_users(
        session, None, role=role, region=region)])
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=1))
        return
    table = Table("username", "role", "region", "bank", "active", "must change", "created")
    for r in rows:
        table.add_row(r["username"], r["role"], r["region_code"], r["bank_code"] or "",
                      "yes" if r["active"] else "no", "yes" if r["must_change_password"] else "",
                      r["created_at"][:16])
    Console().print(table)


def _by_name(session: Session, username: str) -> Any:
    from ctown.accounts.users import user_named

    return user_named(session, None, username, "manage")


@users_app.command("disable")
def users_disable(username: str) -> None:
    """Disable a user: their sessions end and their tokens are revoked at once."""
    from ctown.accounts.users import set_active

    _run(lambda _s, session: set_active(session, None, _by_name(session, username).id, False))
    err.print(f"{username}: 已停用 / disabled", highlight=False)


@users_app.command("enable")
def users_enable(username: str) -> None:
    """Re-enable a disabled user (their old sessions and tokens stay ended)."""
    from ctown.accounts.users import set_active

    _run(lambda _s, session: set_active(session, None, _by_name(session, username).id, True))
    err.print(f"{username}: 已启用 / enabled", highlight=False)


@users_app.command("change")
def users_change(username: str,
                 role: Annotated[str | None, typer.Option("--role")] = None,
                 region: Annotated[str | None, typer.Option("--region")] = None,
                 bank: Annotated[str | None, typer.Option(
                     "--bank", help="bank code ('' removes it)")] = None,
                 name: Annotated[str | None, typer.Option("--name")] = None) -> None:
    """Change a user's role, region, bank or display name."""
    from ctown.accounts.users import change_user

    row = _run(lambda _s, session: _user_row(change_user(
        session, None, _by_name(session, username).id, role=role, region_code=region,
        bank_code=bank, display_name=name)))
    print(json.dumps(row, ensure_ascii=False))


@users_app.command("reset-password")
def users_reset_password(username: str, password_stdin: PasswordStdin = False,
                         as_json: AsJson = False) -> None:
    """A new password (one-time code, or from standard input) to be changed at the next login;
    the user's sessions end and their tokens are revoked."""
    from ctown.accounts.users import reset_password

    password = _read_password(password_stdin)
    made = _run(lambda settings, session: _new(reset_password(
        session, None, _by_name(session, username).id, password=password,
        min_length=settings.password_min_length)))
    _print_new(*made, as_json)


@users_app.command("sessions")
def users_sessions(username: str, as_json: AsJson = False) -> None:
    """The user's sessions and API tokens in force."""
    from ctown.accounts.sessions import Timeouts
    from ctown.accounts.users import sessions_for, tokens_for

    def collect(settings: Settings, session: Session) -> dict[str, Any]:
        user = _by_name(session, username)
        return {"username": user.username,
                "sessions": [{"id": s.id, "created_at": s.created_at.isoformat(),
                              "last_seen_at": s.last_seen_at.isoformat(), "client": s.client,
                              "user_agent": s.user_agent}
                             for s in sessions_for(session, None, user.id,
                                                   Timeouts.of(settings))],
                "tokens": [{"id": t.id, "name": t.name, "created_at": t.created_at.isoformat(),
                            "expires_at": t.expires_at.isoformat()}
                           for t in tokens_for(session, None, user.id)]}

    data = _run(collect)
    if as_json:
        print(json.dumps(data, ensure_ascii=False, indent=1))
        return
    table = Table("kind", "id", "since", "last seen / expires", "client / name")
    for s in data["sessions"]:
        table.add_row("session", str(s["id"]), s["created_at"][:16], s["last_seen_at"][:16],
                      s["client"] or "")
    for t in data["tokens"]:
        table.add_row("token", str(t["id"]), t["created_at"][:16], t["expires_at"][:16],
                      t["name"])
    Console().print(table)


@users_app.command("end-sessions")
def users_end_sessions(username: str, tokens: Annotated[bool, typer.Option(
        "--tokens", help="revoke the user's API tokens too")] = False) -> None:
    """End every session of the user (and revoke their tokens with --tokens)."""
    from ctown.accounts.users import end_sessions

    ended, revoked = _run(lambda _s, session: end_sessions(
        session, None, _by_name(session, username).id, tokens=tokens))
    print(json.dumps({"username": username, "sessions_ended": ended, "tokens_revoked": revoked}))
