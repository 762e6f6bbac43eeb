"""Operations on the log: open it, append leaves, sign checkpoints, answer proofs.

Services never commit; the caller (request, CLI command, task) owns the transaction.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown import keyfiles
from ctown.errors import Conflict, Invalid, NotFound
from ctown.i18n import Message, _
from ctown.ledger import merkle
from ctown.ledger.models import LedgerCheckpoint, LedgerLog
from ctown.ledger.note import Checkpoint, Signer, sign_checkpoint
from ctown.ledger.store import DbTree, LeafInput

if TYPE_CHECKING:
    from ctown.settings import Settings

LOG_ID = 1
KEY_FILE = "ledger.key"


def hash_alg_for(settings: Settings) -> str:
    """The Chinese commercial suite (GB/T 39786) hashes with SM3, the international one SHA-256."""
    return "sm3" if settings.cipher_suite == "sm" else "sha256"


# -- the signing key -----------------------------------------------------------------------------
def key_path(settings: Settings) -> Path:
    return settings.var_dir / KEY_FILE


def load_signer(settings: Settings, origin: str | None = None) -> Signer:
    """The log's Ed25519 key (Go ``PRIVATE+KEY+…`` form), created on first use, owner-only,
    whole or not at all (two processes creating it at once both sign with the first one's)."""
    skey = keyfiles.read_or_create(key_path(settings), lambda: (Signer.generate(
        origin or f"ctown.local/ledger/{secrets.token_hex(4)}").skey + "\n").encode())
    return Signer.from_skey(skey.decode())


# -- the log -------------------------------------------------------------------------------------
def get_log(session: Session, *, lock: bool = False) -> LedgerLog | None:
    stmt = sa.select(LedgerLog).where(LedgerLog.id == LOG_ID)
    if lock:
        stmt = stmt.with_for_update()
    return session.scalar(stmt)


def open_log(session: Session, settings: Settings, *, lock: bool = False) -> LedgerLog:
    """The log, created with this installation's key and hash function on first use."""
    log = get_log(session, lock=lock)
    if log is None:
        signer = load_signer(settings)
        log = LedgerLog(id=LOG_ID, origin=signer.name, hash_alg=hash_alg_for(settings),
                        vkey=signer.verifier.vkey, size=0)
        session.add(log)
        session.flush()
        if lock:
            log = get_log(session, lock=True) or log
    return log


def require_log(session: Session) -> LedgerLog:
    log = get_log(session)
    if log is None:
        raise NotFound(Message(_("账本尚未建立")))
    return log


def tree(session: Session, log: LedgerLog) -> DbTree:
    return DbTree(session, merkle.get_hasher(log.hash_alg))


def append(session: Session, settings: Settings, leaves: Sequence[LeafInput]) -> tuple[int, int]:
    """Append leaves (kind, ref id, leaf hash) at the end of the log; returns ``(first, size)``."""
    log = open_log(session, settings, lock=True)
    first = log.size
    log.size = tree(session, log).append(first, leaves)
    session.flush()
    return first, log.size


def leaf_hash(log: LedgerLog, data: bytes) -> bytes:
    return merkle.get_hasher(log.hash_alg).leaf(data)


# -- proofs --------------------------------------------------------------------------------------
def _size(log: LedgerLog, tree_size: int | None) -> int:
    size = log.size if tree_size is None else tree_size
    if not 0 <= size <= log.size:
        raise Invalid(Message(_("树大小 {size} 超出账本范围 (0–{max})"), {"size": size,
                                                                  "max": log.size}))
    return size


def root_hash(session: Session, log: LedgerLog, tree_size: int | None = None) -> bytes:
    return merkle.root(tree(session, log), _size(log, tree_size))


def inclusion(session: Session, leaf_index: int, tree_size: int | None = None) -> dict[str, Any]:
    """An inclusion proof in the ``check-proof`` JSON form (hex hashes)."""
    log = require_log(session)
    size = _size(log, tree_size)
    if not 0 <= leaf_index < size:
        raise Invalid(Message(_("叶子序号 {index} 不在大小为 {size} 的树中"),
                              {"index": leaf_index, "size": size}))
    t = tree(session, log)
    leaf = t.get_nodes([(0, leaf_index)])[(0, leaf_index)]
    proof = merkle.inclusion_proof(t, leaf_index, size)
    return {"type": "inclusion", "hash": log.hash_alg, "leaf_index": leaf_index,
            "tree_size": size, "leaf_hash": leaf.hex(),
            "proof": [p.hex() for p in proof], "root": merkle.root(t, size).hex()}


def consistency(session: Session, first: int, second: int | None = None) -> dict[str, Any]:
    log = require_log(session)
    size2 = _size(log, second)
    if not 0 <= first <= size2:
        raise Invalid(Message(_("一致性证明要求 0 ≤ first ≤ second")))
    if first == 0 < size2:  # docs/ledger.md: a proof from the empty tree vouches for nothing
        raise Invalid(Message(_("从空树出发的一致性证明没有意义：first 应至少为 1")))
    t = tree(session, log)
    proof = merkle.consistency_proof(t, first, size2) if 0 < first < size2 else []
    return {"type": "consistency", "hash": log.hash_alg, "size1": first, "size2": size2,
            "root1": merkle.root(t, first).hex(), "root2": merkle.root(t, size2).hex(),
            "proof": [p.hex() for p in proof]}


def find_leaf(session: Session, kind: str, ref_id: int) -> int:
    """The leaf index of a source record, or NotFound while it is not in the log yet."""
    log = require_log(session)
    index = tree(session, log).locate(kind, ref_id)
    if index is None:
        raise NotFound(Message(_("该记录尚未写入账本")))
    return index


# -- checkpoints ---------------------------------------------------------------------------------
def latest_checkpoint(session: Session) -> LedgerCheckpoint | None:
    return session.scalar(sa.select(LedgerCheckpoint).order_by(
        LedgerCheckpoint.tree_size.desc(), LedgerCheckpoint.id.desc()).limit(1))


def make_checkpoint(session: Session, settings: Settings) -> LedgerCheckpoint:
    """Sign the current tree head (reuses the latest checkpoint when nothing was appended)."""
    log = open_log(session, settings, lock=True)
    latest = latest_checkpoint(session)
    if latest is not None and latest.tree_size == log.size:
        return latest
    signer = load_signer(settings)
    if signer.verifier.vkey != log.vkey:
        raise Conflict(Message(_("账本签名密钥与账本登记的公钥不一致")))
    root = root_hash(session, log)
    body = Checkpoint(log.origin, log.size, root)
    cp = LedgerCheckpoint(tree_size=log.size, root_hash=root, note=sign_checkpoint(body, signer))
    session.add(cp)
    session.flush()
    return cp
