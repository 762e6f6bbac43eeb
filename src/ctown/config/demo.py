"""The configuration's part of ``ctown demo``: one live version and one pending proposal.

The bank's officer proposed lowering the base rate of its pure-credit loan (信用贷) and the county
approved it (version 1); the same officer has proposed a longer term for the credit + insurance
loan, which waits for the county. The folder is ``CTOWN_CONFIG_DIR``, else ``var/config`` — set
for this process, so the demo served next reads it.
"""

from __future__ import annotations

import sqlalchemy as sa
from rich.console import Console
from sqlalchemy.orm import Session

from ctown import configdir
from ctown.accounts.roles import Role
from ctown.capabilities import DemoContext
from ctown.config import service
from ctown.config.models import ConfigVersion
from ctown.lending.products import PRODUCTS_DIR

console = Console(stderr=True)


def _edited(name: str, old: str, new: str) -> bytes:
    text = (PRODUCTS_DIR / name).read_text(encoding="utf-8")
    return text.replace("version: 1\n", "version: 2\n", 1).replace(old, new, 1).encode()


def build(session: Session, ctx: DemoContext) -> None:
    folder = ctx.settings.config_dir or configdir.live_dir() or ctx.settings.var_dir / "config"
    configdir.configure(folder)
    console.print(f"配置目录 / configuration folder: {folder} "
                  f"(ctown serve 时请设置 / when serving: CTOWN_CONFIG_DIR={folder})")
    if session.scalar(sa.select(ConfigVersion.id).limit(1)) is not None:
        if service.live_state(session, folder).drift:
            service.sync(session, None, folder)
        return
    bank = ctx.user(session, Role.bank_officer)
    admin = ctx.user(session, Role.county_admin)
    if bank is None or admin is None:
        return
    cheaper = _edited("rcb_credit.yaml", 'base_rate_pct: "4.35"', 'base_rate_pct: "4.20"')
    first = service.propose(session, bank, {"products/rcb_credit.yaml": cheaper},
                            "信用贷基准利率下调至 4.20%", folder=folder)
    service.approve(session, admin, first.id, folder=folder)
    longer = _edited("rcb_insured.yaml", "terms_months: [12, 24]", "terms_months: [12, 24, 36]")
    service.propose(session, bank, {"products/rcb_insured.yaml": longer},
                    "信用+保险贷增加 36 个月期限", folder=folder)
