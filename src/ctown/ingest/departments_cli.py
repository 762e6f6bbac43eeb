"""``ctown departments``: the county's register of department feeds (部门登记) and their push keys
(报送密钥). The commands are the county's own job on the server (no signed-in actor); every
change is audited. A key is printed once, after it is stored; only its digest is kept."""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer

T = TypeVar("T")

app = typer.Typer(no_args_is_help=True,
                  help="部门登记与报送密钥 / department feeds and their push keys")
key_app = typer.Typer(no_args_is_help=True, help="报送密钥 / push keys")
app.add_typer(key_app, name="key")

JsonFlag = Annotated[bool, typer.Option("--json", help="JSON output")]


def _run(action: Callable[[Any], T]) -> T:
    """Run ``action(session)`` in one transaction; a refusal is one line (zh / en), exit 2."""
    from ctown.cli_support import database
    from ctown.db import transaction
    from ctown.errors import DomainError

    with database() as (_settings, factory):
        try:
            with transaction(factory) as session:
                return action(session)
        except DomainError as exc:
            print(str(exc.message), file=sys.stderr)
            raise typer.Exit(2) from None


def _json(value: Any) -> str:
    def default(v: object) -> str:
        return v.isoformat() if isinstance(v, dt.datetime) else str(v)

    return json.dumps(value, ensure_ascii=False, default=default)


def _time(value: dt.datetime | None) -> str:
    """Beijing time for people reading the terminal (stored times are UTC)."""
    from ctown.access.rules import local_time

    return local_time(value).strftime("%Y-%m-%d %H:%M") if value else "-"


@app.command("add")
def add(code: str, name: Annotated[str, typer.Option("--name", help="部门名称 / name")],
        contact: Annotated[str | None, typer.Option(help="联系人与电话 / contact")] = None,
        mapping: Annotated[str | None, typer.Option(
            help="映射文件代码（默认同部门代码）/ mapping file code (default: CODE)")] = None,
        as_json: JsonFlag = False) -> None:
    """Register a department (and its machine account, under which its pushes are recorded)."""
    from ctown.ingest.feeds import account_name, add_department

    def act(session: Any) -> dict[str, Any]:
        d = add_department(session, None, code=code, name=name, contact=contact, mapping=mapping)
        return {"code": d.code, "name": d.name, "mapping": d.mapping,
                "account": account_name(d.code)}

    made = _run(act)
    if as_json:
        print(_json(made))
    else:
        print(f"✓ 部门 {made['code']}（{made['name']}）已登记，映射 {made['mapping']}，"
              f"账号 {made['account']} / department registered (mapping {made['mapping']}, "
              f"account {made['account']}); 签发密钥 / issue a key: "
              f"ctown departments key issue {made['code']}")


@app.command("list")
def list_(as_json: JsonFlag = False) -> None:
    """Registered departments: mapping, keys in force, last push."""
    from ctown.ingest.feeds import list_departments

    rows = _run(lambda session: list_departments(session, None))
    if as_json:
        print(_json(rows))
        return
    for r in rows:
        state = "" if r["active"] else "  [停用 disabled]"
        print(f"{r['code']:10} {r['name']:20} mapping {r['mapping']:8} keys {r['active_keys']}  "
              f"last push {_time(r['last_push_at'])}  {r['contact'] or ''}{state}")


@app.command("disable")
def disable(code: str) -> None:
    """Disable a department: every key refused until it is enabled again."""
    _set_active(code, False)


@app.command("enable")
def enable(code: str) -> None:
    """Enable a disabled department again (its keys in force work again)."""
    _set_active(code, True)


def _set_active(code: str, active: bool) -> None:
    from ctown.ingest.feeds import set_active

    _run(lambda session: set_active(session, None, code, active))
    print(f"✓ {code}: {'已启用 enabled' if active else '已停用 disabled'}")


# -- keys ------------------------------------------------------------------------------------------

@key_app.command("issue")
def key_issue(code: str, as_json: JsonFlag = False) -> None:
    """Issue a push key; it is printed only now (stored as a digest)."""
    from ctown.ingest.feeds import issue_key

    issued = _run(lambda session: issue_key(session, None, code))
    if as_json:
        print(json.dumps({"department": issued.department, "key": issued.key}))
    else:
        print(f"部门 {issued.department} 的报送密钥（只显示这一次）/ push key of "
              f"{issued.department} (shown only now): {issued.key}")


@key_app.command("rotate")
def key_rotate(code: str,
               grace_hours: Annotated[int, typer.Option(
                   help="旧密钥继续有效的小时数 / hours the old keys stay valid")] = 24,
               as_json: JsonFlag = False) -> None:
    """Issue a new key; the keys in force stay valid for the grace period, then are refused."""
    from ctown.ingest.feeds import rotate_key

    issued = _run(lambda session: rotate_key(session, None, code, grace_hours))
    until = issued.previous_valid_until
    if as_json:
        print(json.dumps({"department": issued.department, "key": issued.key,
                          "previous_valid_until": until.isoformat() if until else None}))
        return
    print(f"部门 {issued.department} 的新报送密钥（只显示这一次）/ new push key of "
          f"{issued.department} (shown only now): {issued.key}")
    if until:
        print(f"旧密钥有效至 / the old keys are valid until {_time(until)} (北京时间 Beijing time)")


@key_app.command("revoke")
def key_revoke(code: str) -> None:
    """Revoke every key of the department at once."""
    from ctown.ingest.feeds import revoke_keys

    count = _run(lambda session: revoke_keys(session, None, code))
    print(f"✓ {code}: 已撤销 {count} 个密钥 / {count} key(s) revoked")


@key_app.command("list")
def key_list(code: str, as_json: JsonFlag = False) -> None:
    """The department's keys: prefix, state, issued, last used, expires / revoked — never a key."""
    from ctown.ingest.feeds import list_keys

    keys = _run(lambda session: list_keys(session, None, code))
    if as_json:
        print(_json(keys))
        return
    for k in keys:
        end = (f"revoked {_time(k['revoked_at'])}" if k["revoked_at"] else
               f"expires {_time(k['expires_at'])}" if k["expires_at"] else "")
        print(f"{k['prefix']}…  {k['state']:8} issued {_time(k['issued_at'])}  "
              f"last used {_time(k['last_used_at'])}  {end}")
