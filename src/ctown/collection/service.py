"""Operations of the collection points (信用信息采集点): terminals in and out, batches received.

Every upload attempt is logged (``UploadLog``) with its outcome and a reason in zh and en; a refused
upload raises :class:`Refused` *after* the log entry was added, so the boundary must commit even
then (the API and the CLI do).

Who reaches which terminals and uploads is the one table's ``terminal`` and ``upload`` rows
(:mod:`ctown.access.policy`), by the village they belong to; ``actor=None`` is the county's own
CLI on the server and reaches every one.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ctown.access.scope import allowed, get_for, log_denied, reaches_row, require, scope
from ctown.catalogue.schemas import Catalogue
from ctown.collection import protocol
from ctown.collection.access import TERMINALS, UPLOADS
from ctown.collection.models import CollectionBatch, Terminal, UploadLog
from ctown.collection.validate import DEPARTMENT, check_records
from ctown.db import utcnow
from ctown.errors import Conflict, Forbidden, Invalid
from ctown.i18n import Message, _
from ctown.registry.models import Region
from ctown.registry.service import record_change

if TYPE_CHECKING:
    from ctown.accounts.models import User
    from ctown.crypto import FieldCipher

log = logging.getLogger(__name__)

#: Refusal code → (reason, HTTP status). Reasons name what to do, not only what went wrong.
REFUSALS: dict[str, tuple[str, int]] = {
    "malformed": (_("批次文件格式不正确（{detail}）：请用采集端重新打包"), 400),
    "too_large": (_("批次文件过大（上限 4 MB）：请分成几个批次上传"), 413),
    "unknown_terminal": (_("终端 {terminal} 未在县平台登记：请先登记该终端的公钥"), 403),
    "revoked_terminal": (
        _("终端 {terminal} 已被吊销（{reason}）：其批次一律拒收，请换用已登记的终端"), 403),
    "replay": (_("批次 {batch} 已于 {when} 接收，本次为重复上传（重放），未再入库"), 409),
    "reused_batch": (_("批次号 {batch} 已被本终端用过但随机数不同：疑似重放或伪造，拒收"), 409),
    "wrong_county": (
        _("批次是用另一县平台的公钥（{fingerprint}）加密的：请更新采集端的县平台公钥"), 422),
    "tampered": (_("批次内容在传输或保存中被改动或损坏，无法解密：请从采集端重新上传原文件"), 422),
    "bad_signature": (_("批次签名与终端 {terminal} 登记的公钥不符：拒收"), 422),
}


class Refused(Exception):
    def __init__(self, code: str, message: Message, *, batch_id: str | None = None,
                 already_accepted: bool = False) -> None:
        super().__init__(str(message))
        self.code = code
        self.message = message
        self.status_code = REFUSALS[code][1]
        self.batch_id = batch_id
        self.already_accepted = already_accepted


@dataclass
class Receipt:
    terminal: str
    batch_id: str
    records: int
    accepted: int
    rejected: int
    rejections: list[dict[str, Any]] = field(default_factory=list)
    credit_batch_id: int | None = None
    status: str = "accepted"


def _log(session: Session, *, outcome: str, code: str, message: Message, header: dict[str, str],
         terminal: Terminal | None, actor: User | None, client: str | None) -> None:
    both = message.both()
    session.add(UploadLog(
        terminal_id=header.get("terminal"),
        village_code=terminal.village_code if terminal else None,
        batch_id=header.get("batch_id"), outcome=outcome, code=code, reason_zh=both["zh"][:300],
        reason_en=both["en"][:300], client=client, actor_id=actor.id if actor else None))
    session.flush()
    level = logging.INFO if outcome == "accepted" else logging.WARNING
    log.log(level, "collection upload %s code=%s terminal=%s batch=%s", outcome, code,
            header.get("terminal"), header.get("batch_id"))


def _refuse(session: Session, code: str, params: dict[str, Any], *, header: dict[str, str],
            terminal: Terminal | None, actor: User | None, client: str | None,
            already_accepted: bool = False) -> Refused:
    message = Message(REFUSALS[code][0], params)
    _log(session, outcome="refused", code=code, message=message, header=header,
         terminal=terminal, actor=actor, client=client)
    return Refused(code, message, batch_id=header.get("batch_id"),
                   already_accepted=already_accepted)


def receive_batch(session: Session, envelope: bytes, *, county_key: X25519PrivateKey,
                  cipher: FieldCipher, catalogue: Catalogue, actor: User | None = None,
                  client: str | None = None, today: dt.date | None = None) -> Receipt:
    """Open, verify and store one batch, exactly once; raises :class:`Refused` (already logged)."""
    ctx: dict[str, Any] = {"actor": actor, "client": client, "terminal": None, "header": {}}
    try:
        header = protocol.read_header(envelope)
    except protocol.EnvelopeError as exc:
        raise _refuse(session, exc.code, {"detail": exc.detail}, **ctx) from None
    ctx["header"] = header
    terminal = session.get(Terminal, header["terminal"])
    if terminal is None:
        raise _refuse(session, "unknown_terminal", {"terminal": header["terminal"]}, **ctx)
    ctx["terminal"] = terminal
    if terminal.revoked_at is not None:
        raise _refuse(session, "revoked_terminal", {"terminal": terminal.id,
                                                    "reason": terminal.revoke_reason or "-"}, **ctx)
    _check_replay(session, header, ctx)
    try:
        opened = protocol.open_envelope(envelope, header, county_key=county_key,
                                        terminal_public=protocol.b64d(terminal.public_key))
    except protocol.EnvelopeError as exc:
        params = {"detail": exc.detail, "terminal": terminal.id,
                  "fingerprint": header["county_key"]}
        raise _refuse(session, exc.code, params, **ctx) from None
    checked = check_records(session, cipher, opened.payload["records"],
                            village_code=terminal.village_code, catalogue=catalogue,
                            today=today or dt.datetime.now(dt.UTC).date())
    return _store(session, opened, terminal, checked, ctx)


def _check_replay(session: Session, header: dict[str, str], ctx: dict[str, Any]) -> None:
    seen = session.scalar(sa.select(CollectionBatch).where(
        sa.or_(sa.and_(CollectionBatch.terminal_id == header["terminal"],
                       CollectionBatch.batch_id == header["batch_id"]),
               CollectionBatch.nonce == header["nonce"])))
    if seen is None:
        return
    if seen.nonce == header["nonce"] and seen.batch_id == header["batch_id"]:
        when = seen.received_at.isoformat(timespec="seconds")
        raise _refuse(session, "replay", {"batch": header["batch_id"], "when": when},
                      already_accepted=True, **ctx)
    raise _refuse(session, "reused_batch", {"batch": header["batch_id"]}, **ctx)


def _store(session: Session, opened: protocol.Opened, terminal: Terminal, checked: Any,
           ctx: dict[str, Any]) -> Receipt:
    header = opened.header
    try:
        # A savepoint: two uploads of one batch racing each other meet the unique keys here.
        with session.begin_nested():
            credit_batch = None
            if checked.values:
                from ctown.ingest.service import record_values

                credit_batch = record_values(
                    session, actor=ctx["actor"], department=DEPARTMENT,
                    source=f"collection:{terminal.id}:{header['batch_id']}", values=checked.values)
            session.add(CollectionBatch(
                terminal_id=terminal.id, batch_id=header["batch_id"], nonce=header["nonce"],
                envelope_sha256=opened.digest, village_code=terminal.village_code,
                created_at=_created_at(opened.payload.get("created_at")),
                records=len(opened.payload["records"]), accepted=len(checked.values),
                rejected=len(checked.rejections), officers=checked.officers,
                rejections=checked.rejections,
                credit_batch_id=credit_batch.id if credit_batch is not None else None))
            session.flush()
    except IntegrityError:
        raise _refuse(session, "replay", {"batch": header["batch_id"], "when": "-"},
                      already_accepted=True, **ctx) from None
    terminal.last_seen_at = utcnow()
    receipt = Receipt(terminal.id, header["batch_id"], len(opened.payload["records"]),
                      len(checked.values), len(checked.rejections), checked.rejections,
                      credit_batch.id if credit_batch is not None else None)
    _log(session, outcome="accepted", code="accepted", message=Message(
        _("已接收批次 {batch}：{accepted} 条入库，{rejected} 条退回"),
        {"batch": header["batch_id"], "accepted": receipt.accepted, "rejected": receipt.rejected}),
         header=header, terminal=terminal, actor=ctx["actor"], client=ctx["client"])
    return receipt


def _created_at(value: object) -> dt.datetime | None:
    try:
        parsed = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


# -- terminals -------------------------------------------------------------------------------------

def register_terminal(session: Session, *, actor: User | None, public_key: str, village_code: str,
                      name: str, via: str) -> Terminal:
    """Register a terminal's Ed25519 public key for a village (采集终端登记): the county and
    township offices for their villages ("manage"), a village officer's own browser for its
    village ("enrol", ``via="web"``)."""
    purpose = "enrol" if via == "web" else "manage"
    try:
        raw = protocol.parse_ed25519_public(public_key)
    except (protocol.EnvelopeError, ValueError):
        raise Invalid(Message(_("公钥无效：应为32字节的 Ed25519 公钥（base64url）"))) from None
    region = session.get(Region, village_code)
    if region is None or region.level != "village":
        raise Invalid(Message(_("区划代码 {code} 不是已登记的村"), {"code": village_code}))
    require(actor, "terminal", purpose)
    terminal_id = protocol.terminal_id_for(raw)
    if session.get(Terminal, terminal_id) is not None:
        raise Conflict(Message(_("该公钥已登记为终端 {terminal}"), {"terminal": terminal_id}))
    terminal = Terminal(id=terminal_id, name=(name.strip() or terminal_id)[:100],
                        village_code=village_code, public_key=protocol.b64e(raw), enrolled_via=via,
                        registered_by=actor.id if actor else None)
    # Whether the actor reaches a terminal of that village is asked of the row itself: written
    # in a savepoint, and taken back when the table says no.
    with session.begin_nested() as savepoint:
        session.add(terminal)
        session.flush()
        reached = reaches_row(session, actor, TERMINALS, terminal_id, purpose)
        if not reached:
            savepoint.rollback()
    if not reached:
        log_denied(session, actor, f"terminal for village {village_code}: {purpose}")
        raise Forbidden(Message(_("无权为村 {code} 登记采集终端"), {"code": village_code}))
    record_change(session, actor=actor, source="collection", action="create",
                  entity="collection_terminal", subject_id=None,
                  payload={"terminal": terminal_id, "village": village_code, "via": via,
                           "public_key": terminal.public_key})
    return terminal


def revoke_terminal(session: Session, *, actor: User | None, terminal_id: str, reason: str
                    ) -> Terminal:
    """Revoke a terminal (lost or stolen device): from now on its batches are refused. A terminal
    the actor does not manage is "not found" (the denial logged)."""
    terminal: Terminal = get_for(session, actor, TERMINALS, terminal_id, "manage")
    if terminal.revoked_at is None:
        terminal.revoked_at = utcnow()
        terminal.revoked_by = actor.id if actor else None
        terminal.revoke_reason = (reason.strip() or "-")[:200]
        record_change(session, actor=actor, source="collection", action="revoke",
                      entity="collection_terminal", subject_id=None,
                      payload={"terminal": terminal.id, "reason": terminal.revoke_reason})
    return terminal


def get_terminal_for(session: Session, actor: User | None, terminal_id: str,
                     purpose: str = "view") -> Terminal:
    """A terminal the actor reaches for ``purpose``, else "not found" (the denial logged)."""
    terminal: Terminal = get_for(session, actor, TERMINALS, terminal_id, purpose)
    return terminal


def terminals_for(session: Session, actor: User | None, purpose: str = "view") -> list[Terminal]:
    stmt = scope(sa.select(Terminal), actor, TERMINALS, purpose)
    return list(session.scalars(stmt.order_by(Terminal.village_code, Terminal.registered_at)))


def upload_log_for(session: Session, actor: User | None, limit: int = 50) -> list[UploadLog]:
    """The latest upload attempts the actor reaches (the county: also unknown terminals')."""
    stmt = scope(sa.select(UploadLog), actor, UPLOADS)
    return list(session.scalars(stmt.order_by(UploadLog.id.desc()).limit(limit)))


@dataclass
class TerminalDesk:
    """The terminal page: terminals and the latest uploads of the actor's area, and what the
    actor may do there — register terminals, and revoke those in ``manageable``."""

    terminals: list[Terminal]
    uploads: list[UploadLog]
    can_register: bool = False
    manageable: frozenset[str] = frozenset()


def terminal_desk(session: Session, actor: User | None) -> TerminalDesk:
    """What the terminal page shows, for those who see terminals (403 otherwise): the terminals
    the actor views, as the API lists them; managing them is for those who "manage"."""
    require(actor, "terminal", "view")
    can_manage = allowed(actor, "terminal", "manage")
    manageable = (frozenset(t.id for t in terminals_for(session, actor, "manage")) if can_manage
                  else frozenset())
    return TerminalDesk(terminals_for(session, actor, "view"), upload_log_for(session, actor),
                        can_register=can_manage, manageable=manageable)
