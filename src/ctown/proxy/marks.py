"""Every act of a proxy is marked "由代理员 X 代办" and told to the household by SMS (R-6.3).

The acts are kept where they happen (:mod:`ctown.proxy.acts` lists them); what this adds is the
SMS. It listens (installed by :func:`install` when ``proxy.service`` is imported — by every page
of the platform) and, for each new row that is an act by a credit proxy, queues an SMS to the
household in the same transaction: a step of a loan application (``loan_transitions``, a Core
insert on lending's hot path, heard by the engine's ``after_execute``; its ``actor_role``), a
consent given or revoked (``privacy_consents``), an objection raised (``privacy_objections``),
both ORM rows heard after the flush. Capabilities above
(feedback) call :func:`tell_household` for their own acts. Looking at the household's data is
an act too, listed on the farmer's page, but not texted: a proxy opening the file three times
would send three messages about nothing done.

Cost on the hot path: one ``isinstance`` and a table identity per statement, the flush's new rows
by type (no query) — a statement more only for an act of a proxy; the proxy's name is read from the
session's identity map (the acting user is loaded by the request).
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event, inspect
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from ctown.accounts.models import User
from ctown.accounts.roles import Role
from ctown.i18n import _, translate
from ctown.lending.approval import ACTION_LABELS
from ctown.lending.models import LoanApplication, Transition
from ctown.notify import service as notify
from ctown.notify.channels import SMS
from ctown.privacy.models import Consent, Objection
from ctown.registry.models import Subject

SOURCE = "proxy"
REF_KIND = "proxy_act"
#: The mark on the farmer's pages, beside each act a proxy did.
BY_PROXY = _("由代理员 {proxy} 代办")
TELL = _("信用代理员 {proxy} 替您家办理了：{act}。如不是您委托的，请到村信用服务点撤销授权。")
ACTS = {
    "consent_given": _("授权银行 {bank} 查询信用报告"),
    "consent_revoked": _("撤回对 {bank} 的授权"),
    "objection": _("对信用档案提出异议"),
}
_STEPS: dict[str, str] = {a.value: label for a, label in ACTION_LABELS.items()}
_LOCALE = "zh_Hans"  # the act is rendered into the message's parameters, in the county's words


def by_proxy(name: str, locale: str | None = None) -> str:
    """The mark "由代理员 X 代办 / by proxy X"."""
    return translate(BY_PROXY, locale, proxy=name)


def tell_household(session: Session, proxy_id: int, subject_id: int, act: str,
                   ref: tuple[str, int] | None = None) -> None:
    """Queue the SMS to the household (its head's phone on file) about one act of the proxy;
    ``act`` is the act in words."""
    proxy = session.get(User, proxy_id)
    household = _household(session, subject_id)
    if proxy is None or household is None:
        return
    notify.queue(session, channel=SMS, msgid=TELL, source=SOURCE, subject_id=household,
                 ref_kind=ref[0] if ref else REF_KIND, ref_id=ref[1] if ref else None,
                 params={"proxy": proxy.display_name, "act": act})


def _household(session: Session, subject_id: int) -> int | None:
    subject = session.get(Subject, subject_id)
    return (subject.household_id or subject.id) if subject is not None else None


def _is_proxy(session: Session, user_id: int | None) -> bool:
    if user_id is None:
        return False
    user = session.get(User, user_id)
    return user is not None and user.role == Role.credit_proxy


def _acts(session: Session) -> list[tuple[int, int, str, tuple[str, int]]]:
    """(proxy, subject, act in words, what it is about) of the rows this flush wrote."""
    found: list[tuple[int, int, str, tuple[str, int]]] = []
    for obj in list(session.new) + list(session.dirty):
        if isinstance(obj, Consent) and obj.bank_code:
            if obj in session.new and _is_proxy(session, obj.granted_by_id):
                assert obj.granted_by_id is not None
                act = translate(ACTS["consent_given"], _LOCALE, bank=obj.bank_code)
                found.append((obj.granted_by_id, obj.subject_id, act, ("consent", obj.id)))
            elif obj not in session.new and _revoked_now(obj) and _is_proxy(
                    session, obj.revoked_by_id):
                assert obj.revoked_by_id is not None
                act = translate(ACTS["consent_revoked"], _LOCALE, bank=obj.bank_code)
                found.append((obj.revoked_by_id, obj.subject_id, act, ("consent", obj.id)))
        elif isinstance(obj, Objection) and obj in session.new and _is_proxy(
                session, obj.raised_by_id):
            assert obj.raised_by_id is not None
            found.append((obj.raised_by_id, obj.subject_id,
                          translate(ACTS["objection"], _LOCALE), ("objection", obj.id)))
    return found


def _revoked_now(consent: Consent) -> bool:
    added: list[object] = list(inspect(consent).attrs.revoked_at.history.added or ())
    return bool(added) and added[-1] is not None


def _after_flush(session: Session, _context: Any) -> None:
    with session.no_autoflush:
        for proxy_id, subject_id, act, ref in _acts(session):
            tell_household(session, proxy_id, subject_id, act, ref)


# -- loan applications: Core inserts (lending's hot path has no ORM flush) -----------------------
_TRANSITIONS = Transition.__table__
_SESSION = "ctown.proxy.marks.session"


def _remember(session: Session, _transaction: Any, connection: Connection) -> None:
    """Which session works on a connection: an application's step is a Core insert on it."""
    connection.info[_SESSION] = weakref.ref(session)


def _session_of(conn: Connection) -> Session | None:
    ref = conn.info.get(_SESSION)
    session: Session | None = ref() if ref is not None else None
    if session is None or not session.in_transaction() or session.connection() is not conn:
        return None  # a stale entry of a pooled connection, or Core without a session
    return session


def _after_execute(conn: Connection, clause: Any, multiparams: Any, params: Any,
                   _options: Any, _result: Any) -> None:
    if not isinstance(clause, sa.Insert) or clause.table is not _TRANSITIONS:
        return
    rows = [p for p in (multiparams or [params]) if isinstance(p, Mapping)
            and p.get("actor_role") == Role.credit_proxy and p.get("actor_id") is not None]
    session = _session_of(conn) if rows else None
    if session is None:
        return
    with session.no_autoflush:
        for row in rows:
            label = _STEPS.get(row.get("action", ""))
            subject_id = conn.scalar(sa.select(LoanApplication.subject_id).where(
                LoanApplication.id == row["application_id"]))
            if label and subject_id is not None:
                act = translate(_("贷款申请（{step}）"), _LOCALE, step=translate(label, _LOCALE))
                tell_household(session, row["actor_id"], subject_id, act,
                               ("loan_application", row["application_id"]))


def install() -> None:
    """Listen to every flush and to Core inserts of application steps (once per process;
    ``proxy.service`` calls it on import)."""
    if not event.contains(Session, "after_flush", _after_flush):
        event.listen(Session, "after_flush", _after_flush)
        event.listen(Session, "after_begin", _remember)
        event.listen(Engine, "after_execute", _after_execute)
