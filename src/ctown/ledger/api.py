"""JSON API of the ledger (mounted under /api/v1): checkpoint, proofs, receipts.

The checkpoint and the public key are public, like a transparency log's; proofs need a login
(they carry only hashes); a receipt carries the record itself and follows the record's scope.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from sqlalchemy.orm import Session

from ctown.accounts.models import User
from ctown.ledger import receipts, service
from ctown.settings import Settings
from ctown.web.deps import DB_SESSION, current_user, get_settings

router = APIRouter(tags=["ledger"])


@router.get("/ledger/checkpoint", response_model=None)
def checkpoint(format: str = "json", db: Session = DB_SESSION,
               settings: Settings = Depends(get_settings)) -> Response | dict[str, Any]:
    """The latest signed checkpoint (``?format=note`` gives the C2SP signed note as text)."""
    log = service.open_log(db, settings)
    cp = service.make_checkpoint(db, settings)
    if format == "note":
        return PlainTextResponse(cp.note)
    return {"origin": log.origin, "hash": log.hash_alg, "vkey": log.vkey, "size": cp.tree_size,
            "root": cp.root_hash.hex(), "checkpoint": cp.note,
            "created_at": cp.created_at.isoformat()}


@router.get("/ledger/key")
def key(db: Session = DB_SESSION, settings: Settings = Depends(get_settings)
        ) -> dict[str, str]:
    log = service.open_log(db, settings)
    return {"origin": log.origin, "hash": log.hash_alg, "vkey": log.vkey}


@router.get("/ledger/proof/inclusion")
def inclusion(leaf_index: int | None = None, tree_size: int | None = None,
              kind: str | None = None, ref: int | None = None,
              _user: User = Depends(current_user), db: Session = DB_SESSION
              ) -> dict[str, Any]:
    """By leaf (``leaf_index``) or by record (``kind`` + ``ref``, e.g. change_event + its id)."""
    if leaf_index is None and kind is not None and ref is not None:
        leaf_index = service.find_leaf(db, kind, ref)
    return service.inclusion(db, -1 if leaf_index is None else leaf_index, tree_size)


@router.get("/ledger/proof/consistency")
def consistency(first: int = Query(ge=0), second: int | None = None,
                _user: User = Depends(current_user), db: Session = DB_SESSION
                ) -> dict[str, Any]:
    return service.consistency(db, first, second)


@router.get("/ledger/receipt/{leaf_index}")
def receipt(leaf_index: int, user: User = Depends(current_user),
            db: Session = DB_SESSION, settings: Settings = Depends(get_settings)
            ) -> JSONResponse:
    """The offline proof file of one record, as a download."""
    body = receipts.receipt_for(db, settings, user, leaf_index)
    return JSONResponse(body, headers={
        "Content-Disposition": f'attachment; filename="ctown-receipt-{leaf_index}.json"'})
