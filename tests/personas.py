"""The personas of the access tests, in one place (as healthchecks' alice/bob/charlie and netbox's
``*_without_permission``): every role of the county, and for each the neighbour it must not see.

``build_personas`` adds them to the test county of :mod:`tests.factories`; each persona test
class tries list, get and every action of one resource as each persona, on both databases.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session
from tests.factories import COUNTY, TOWNSHIP, TOWNSHIP2, VILLAGE_A, VILLAGE_B, VILLAGE_C, County

from ctown.accounts.models import AccessLog, ProxyMandate, User
from ctown.accounts.roles import Role
from ctown.accounts.service import create_user
from ctown.db import utcnow
from ctown.errors import Forbidden, NotFound
from ctown.privacy.models import Consent
from ctown.registry.models import Subject

BANK, OTHER_BANK, INSURER = "RCB001", "ABC002", "PICC01"

#: name → (role, region, bank) of the personas beyond the factory's own users.
EXTRA: dict[str, tuple[Role, str, str | None]] = {
    "township2": (Role.township_officer, TOWNSHIP2, None),
    "group": (Role.evaluation_member, VILLAGE_A, None),
    "other_bank": (Role.bank_officer, COUNTY, OTHER_BANK),
    "insurer": (Role.insurer, COUNTY, INSURER),
    "merchant": (Role.merchant, COUNTY, None),
    "proxy_expired": (Role.credit_proxy, VILLAGE_A, None),
    "proxy_revoked": (Role.credit_proxy, VILLAGE_A, None),
    "proxy_unconfirmed": (Role.credit_proxy, VILLAGE_A, None),
    "evaluator": (Role.evaluator, COUNTY, None),
    "privacy": (Role.privacy_officer, COUNTY, None),
}


@dataclass
class Personas:
    """The users by persona name, and the households they are about.

    ``home`` is the farmer's household in village A; ``neighbour`` another household of village A
    (for "the other farmer"); ``far`` a household of village C, in the other township. The bank
    persona ``bank`` holds the farmer's consent for ``home`` and none for ``neighbour`` (the
    bank "with and without consent"); ``other_bank`` is another bank, with none. ``proxy`` holds
    a mandate in force for ``home``, ``proxy_expired`` one that ran out, ``proxy_revoked`` one
    that was revoked, ``proxy_unconfirmed`` one recorded that the farmer has not confirmed (each of
    every scope: :func:`mandate` builds them).
    """

    users: dict[str, User]
    home: int
    neighbour: int
    far: int

    def __getitem__(self, name: str) -> User:
        return self.users[name]


def _household(session: Session, village: str, n: int) -> int:
    ids = session.scalars(sa.select(Subject.id).where(
        Subject.kind == "household", Subject.region_code == village).order_by(Subject.id)).all()
    return ids[n]


def mandate(proxy_id: int, household: int, *, scopes: tuple[str, ...] = ("query", "apply",
                                                                        "consent"),
            confirmed: bool = True, **columns: Any) -> ProxyMandate:
    """A mandate row as ctown.proxy leaves it: of these scopes, confirmed on paper (or not)."""
    granted = columns.pop("granted_at", utcnow())
    return ProxyMandate(proxy_id=proxy_id, subject_id=household, granted_at=granted,
                        code_sends=0, code_failures=0,
                        confirmed_at=granted if confirmed else None,
                        confirmation="paper" if confirmed else None,
                        **{f"scope_{s}": s in scopes for s in ("query", "apply", "consent")},
                        **columns)


def build_personas(session: Session, county: County) -> Personas:
    """Every persona over a county built by :func:`tests.factories.build_county`."""
    users = dict(county.users)
    users["bank"].bank_code = BANK
    users["feed"].department_code = "tax"
    farmer2_home = _household(session, VILLAGE_A, 1)
    for name, (role, region, bank) in EXTRA.items():
        users[name] = create_user(session, username=name, role=role, region_code=region,
                                  password=None, bank_code=bank)
    users["farmer2"] = create_user(session, username="farmer2", role=Role.farmer,
                                   region_code=VILLAGE_A, password=None, subject_id=farmer2_home)
    home = users["farmer"].subject_id
    assert home is not None
    now = utcnow()
    session.add_all([
        mandate(users["proxy"].id, home, valid_until=now + dt.timedelta(days=30)),
        mandate(users["proxy_expired"].id, home, granted_at=now - dt.timedelta(days=400),
                valid_until=now - dt.timedelta(days=1)),
        mandate(users["proxy_revoked"].id, home, valid_until=now + dt.timedelta(days=30),
                revoked_at=now),
        mandate(users["proxy_unconfirmed"].id, home, valid_until=now + dt.timedelta(days=30),
                confirmed=False),
        Consent(subject_id=home, bank_code=BANK, purpose="loan_application", scope="query",
                granted_by_id=users["farmer"].id, granted_at=now - dt.timedelta(minutes=1),
                valid_until=now + dt.timedelta(days=90)),
    ])
    session.flush()
    return Personas(users, home=home, neighbour=farmer2_home, far=_household(session, VILLAGE_C, 0))


#: Who reaches the farmer's household (village A, township 1) in the register, and who does not.
SEES_HOME = {"admin", "township", "village", "group", "bank", "proxy",
             "farmer", "evaluator", "privacy"}
NOT_HOME = {"township2", "village2", "other_bank", "insurer", "merchant", "proxy_expired",
            "proxy_revoked", "proxy_unconfirmed", "farmer2", "feed"}
ALL = sorted(SEES_HOME | NOT_HOME)
_ = (TOWNSHIP, VILLAGE_B)  # the factory's other places, named here for the reader


def attempt(session: Session, action: Callable[[], Any]) -> str:
    """"ok", "403" or "404" — tried in a savepoint that is rolled back either way."""
    savepoint = session.begin_nested()
    try:
        action()
        return "ok"
    except NotFound:
        return "404"
    except Forbidden:
        return "403"
    finally:
        savepoint.rollback()


def expect(ok: set[str], forbidden: set[str] | frozenset[str] = frozenset()) -> dict[str, str]:
    """Every persona's answer: "ok" for ``ok``, 403 for ``forbidden``, else "not found"."""
    return {n: "ok" if n in ok else "403" if n in forbidden else "404" for n in ALL}


def denials(session: Session, people: Personas, name: str) -> list[str]:
    """The denied accesses logged for the persona, oldest first."""
    return list(session.scalars(sa.select(AccessLog.detail).where(
        AccessLog.user_id == people[name].id, AccessLog.event == "denied")
        .order_by(AccessLog.id)))
