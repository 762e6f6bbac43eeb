"""The demo county (`make demo`): synthetic county, every department loaded, one account per role.

Every capability builds its own part (``Capability.demo``) from a :class:`DemoContext`: the demo
accounts by role, the settings, the work folder, the cipher. Idempotent: a second run finds what
the first built and only serves it.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import sqlalchemy as sa
from rich.console import Console
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from ctown.accounts.models import User
from ctown.accounts.roles import Role
from ctown.accounts.service import create_user
from ctown.capabilities import Capability, DemoBuilder, DemoContext, capabilities
from ctown.migrate import upgrade
from ctown.privacy.keyring import open_cipher
from ctown.registry.models import Region, Subject
from ctown.settings import Settings

console = Console(stderr=True)
DEMO_SEED = 20261124
FEED_DEPARTMENTS = ("psb", "nres", "agri", "samr", "tax", "court", "hrss", "civil", "util", "bank",
                    "insur", "village")


def county_dir(settings: Settings) -> Path:
    return settings.var_dir / "demo-county"


def build_demo(settings: Settings, engine: Engine, factory: sessionmaker[Session]
               ) -> list[tuple[str, str]]:
    """Synthesise the county, then every capability's demo builder in capability order: those
    marked ``demo_first`` (the feeds, which load the regions and create the households), the
    demo accounts, then the others — each handed a :class:`DemoContext` with the accounts."""
    upgrade(engine)
    workdir = county_dir(settings)
    _synthesise(settings, workdir)
    ctx = DemoContext(settings=settings, workdir=workdir,
                      cipher=open_cipher(settings, engine), factory=factory)
    builders = [(cap, fn) for cap in capabilities() if (fn := cap.demo_builder()) is not None]
    for cap, build in builders:
        if cap.demo_first:
            _build(cap, build, ctx)
    with factory.begin() as session:
        accounts = ensure_demo_users(session)
        ctx = replace(ctx, users=demo_users(session))
    for cap, build in builders:
        if not cap.demo_first:
            _build(cap, build, ctx)
    return accounts


def _build(cap: Capability, build: DemoBuilder, ctx: DemoContext) -> None:
    console.print(f"[bold]演示数据 / demo:[/bold] {cap.name}")
    assert ctx.factory is not None
    with ctx.factory.begin() as session:
        build(session, ctx)


def _synthesise(settings: Settings, workdir: Path) -> None:
    if (workdir / "manifest.json").exists():
        return
    from ctown.synth.generator import generate

    console.print(f"生成模拟县 / generating the synthetic county: {settings.demo_households} 户")
    generate(households=settings.demo_households, seed=DEMO_SEED, out=workdir)


DEMO_ROLES: list[tuple[str, Role, str]] = [
    ("admin", Role.county_admin, "county"), ("township", Role.township_officer, "township"),
    ("village", Role.village_officer, "village"), ("village2", Role.village_officer, "village2"),
    ("evaluator_group", Role.evaluation_member, "village"), ("proxy", Role.credit_proxy, "village"),
    ("bank", Role.bank_officer, "county"), ("auditor", Role.evaluator, "county"),
    ("insurer", Role.insurer, "county"), ("merchant", Role.merchant, "county"),
    ("privacy", Role.privacy_officer, "county"), ("farmer", Role.farmer, "village"),
]


def ensure_demo_users(session: Session) -> list[tuple[str, str]]:
    """One account per role (username = password: demo only), plus a clerk of each department
    (``feed_<dept>``: sees its department's batches and quarantine; pushing takes the department's
    key, which the feeds' demo issues to the department registered by ``ingest.feeds``)."""
    county = session.scalar(sa.select(Region).where(Region.level == "county"))
    if county is None:
        raise RuntimeError("no county loaded")
    township = session.scalar(sa.select(Region).where(Region.parent_code == county.code)
                              .order_by(Region.code))
    villages = session.scalars(sa.select(Region).where(Region.parent_code == township.code)
                               .order_by(Region.code)).all() if township else []
    places = {"county": county.code, "township": township.code if township else county.code,
              "village": villages[0].code if villages else county.code,
              "village2": villages[1].code if len(villages) > 1 else county.code}
    households = session.scalars(sa.select(Subject.id).where(
        Subject.kind == "household", Subject.region_code == places["village"])
        .order_by(Subject.id).limit(3)).all()
    existing = set(session.scalars(sa.select(User.username)))
    made: list[tuple[str, str]] = []
    for username, role, place in DEMO_ROLES:
        made.append((username, role.value))
        if username in existing:
            continue
        subject_id = households[0] if role == Role.farmer and households else None
        if role == Role.farmer and subject_id is None:
            continue
        # The proxy's mandates are ctown.proxy's demo (recorded and confirmed as at a service point).
        create_user(session, username=username, password=username, role=role,
                    region_code=places[place], subject_id=subject_id,
                    bank_code="RCB" if role == Role.bank_officer else None)
    for dept in FEED_DEPARTMENTS:
        username = f"feed_{dept}"
        made.append((username, Role.department_feed.value))
        if username not in existing:
            create_user(session, username=username, password=username,
                        role=Role.department_feed, region_code=places["county"],
                        department_code=dept)
    return made


def demo_users(session: Session) -> dict[Role, tuple[int, ...]]:
    """The demo accounts by role, in ``DEMO_ROLES`` order (the first village's officer first)."""
    ids = {name: i for name, i in session.execute(sa.select(User.username, User.id).where(
        User.username.in_([name for name, _r, _p in DEMO_ROLES])))}
    by_role: dict[Role, list[int]] = {}
    for username, role, _place in DEMO_ROLES:
        if username in ids:
            by_role.setdefault(role, []).append(ids[username])
    return {role: tuple(found) for role, found in by_role.items()}
