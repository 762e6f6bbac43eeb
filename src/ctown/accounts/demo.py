"""Demo: what the user administration shows — a township clerk added by the county with a
one-time code (still to set their own password), a proxy who left and was disabled, and an API
token of the bank officer's script, each added as the county administrator does, audited."""

from __future__ import annotations

from sqlalchemy.orm import Session

from ctown.accounts.roles import Role
from ctown.accounts.service import tokens_of
from ctown.accounts.users import add_user, create_token, list_users, set_active
from ctown.capabilities import DemoContext

CLERK, FORMER = "township_clerk", "former_proxy"


def build(session: Session, ctx: DemoContext) -> None:
    admin = ctx.user(session, Role.county_admin)
    township = ctx.user(session, Role.township_officer)
    proxy = ctx.user(session, Role.credit_proxy)
    if admin is None or township is None or proxy is None:
        return
    present = {u.username for u in list_users(session, None)}
    if CLERK not in present:
        add_user(session, admin, username=CLERK, role=Role.township_officer,
                 region_code=township.region_code, display_name="乡镇新同事")
    if FORMER not in present:
        former = add_user(session, admin, username=FORMER, role=Role.credit_proxy,
                          region_code=proxy.region_code, display_name="离任代理员").user
        set_active(session, admin, former.id, False)
    bank = ctx.user(session, Role.bank_officer)
    if bank is not None and not tokens_of(session, bank.id):
        create_token(session, bank, "演示脚本 / demo script", days=ctx.settings.token_days)
