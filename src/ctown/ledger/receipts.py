"""Offline proof files (存证回执): one record, its leaf, its inclusion proof, a signed checkpoint.

A bank or a farmer keeps the file; years later ``python -m ctown.ledger.verifier receipt.json
--key VKEY`` shows, without the platform, that the record was in the log the county signed.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from ctown.access.policy import Reach, reaches
from ctown.access.scope import get_subject_for
from ctown.errors import Conflict, NotFound
from ctown.i18n import Message, _
from ctown.ledger import merkle, service
from ctown.ledger.note import Checkpoint
from ctown.ledger.sources import all_sources, leaf_bytes, leaf_object
from ctown.ledger.verifier import RECEIPT_FORMAT

if TYPE_CHECKING:
    from ctown.accounts.models import User
    from ctown.settings import Settings


def build_receipt(session: Session, settings: Settings, leaf_index: int) -> dict[str, Any]:
    log = service.require_log(session)
    tree = service.tree(session, log)
    found = tree.record_of(leaf_index) if 0 <= leaf_index < log.size else None
    if found is None:
        raise NotFound(Message(_("账本中没有序号为 {index} 的记录"), {"index": leaf_index}))
    kind, ref = found
    source = all_sources().get(kind)
    record = source.by_ids(session, [ref]).get(ref) if source else None
    if record is None:
        raise Conflict(Message(_("账本记录 {kind} #{ref} 在数据库中已不存在"),
                               {"kind": kind, "ref": ref}))
    data = leaf_bytes(kind, ref, record)
    stored = tree.get_nodes([(0, leaf_index)]).get((0, leaf_index))
    if stored != tree.hasher.leaf(data):
        raise Conflict(Message(_("记录 {kind} #{ref} 与账本不一致，不能出具回执"),
                               {"kind": kind, "ref": ref}))
    cp = service.latest_checkpoint(session)
    if cp is None or cp.tree_size <= leaf_index:
        cp = service.make_checkpoint(session, settings)
    body = Checkpoint.parse(cp.note[: cp.note.rfind("\n\n") + 1])
    return {
        "format": RECEIPT_FORMAT,
        "origin": log.origin,
        "hash": log.hash_alg,
        "vkey": log.vkey,
        "kind": kind,
        "ref": ref,
        "record": leaf_object(data),
        "leaf": base64.b64encode(data).decode(),
        "leaf_index": leaf_index,
        "leaf_hash": stored.hex(),
        "tree_size": body.size,
        "proof": [p.hex() for p in merkle.inclusion_proof(tree, leaf_index, body.size)],
        "checkpoint": cp.note,
    }


def receipt_for_record(session: Session, settings: Settings, kind: str, ref: int
                       ) -> dict[str, Any]:
    return build_receipt(session, settings, service.find_leaf(session, kind, ref))


def receipt_for(session: Session, settings: Settings, actor: User, leaf_index: int
                ) -> dict[str, Any]:
    """A receipt for whoever may see the record: those who audit the whole log (the one table's
    ``ledger`` row: 县中心, 第三方评估, 个人信息保护负责人) any, others only records of subjects in
    their scope (a farmer: their own household). Anything else is "not found"."""
    from ctown.audit import audit

    receipt = build_receipt(session, settings, leaf_index)
    if Reach.all not in reaches("ledger", "view", actor.role):
        subject_id = receipt["record"].get("record", {}).get("subject_id")
        if not isinstance(subject_id, int):
            raise NotFound()
        get_subject_for(session, actor, subject_id)
    audit(session, actor, "receipt.download", f"leaf {leaf_index}", kind=receipt["kind"],
          ref=receipt["ref"])
    return receipt
