"""JSON API of the collection points (mounted under /api/v1)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from ctown.accounts.models import User
from ctown.catalogue.service import load_catalogue
from ctown.collection import keys, protocol, service
from ctown.collection.schemas import (
    CountyKeyOut,
    EnrolIn,
    EnrolOut,
    ReceiptOut,
    RefusalOut,
    RevokeIn,
    TerminalIn,
    TerminalOut,
)
from ctown.web.deps import (
    DB_SESSION,
    allowed,
    client_of,
    current_user,
    get_settings,
    optional_user,
    verify_csrf,
)

router = APIRouter(prefix="/collection", tags=["collection 采集点"])
Db = Annotated[Session, DB_SESSION]
# Feature gates from the one table; which terminals a user reaches is the service's.
Viewer = Annotated[User, Depends(allowed("terminal", "view"))]
Manager = Annotated[User, Depends(allowed("terminal", "manage"))]
Enroller = Annotated[User, Depends(allowed("terminal", "enrol"))]


def county_key_out(request: Request) -> CountyKeyOut:
    text = keys.county_public_text(get_settings(request))
    return CountyKeyOut(public_key=text, fingerprint=protocol.fingerprint(protocol.b64d(text)),
                        suite=protocol.SUITE_NAME)


@router.get("/county-key", response_model=CountyKeyOut)
def county_key(request: Request) -> CountyKeyOut:
    """The county's public key (public: terminals encrypt their batches to it)."""
    return county_key_out(request)


@router.post("/batches", response_model=ReceiptOut,
             responses={400: {"model": RefusalOut}, 403: {"model": RefusalOut},
                        409: {"model": RefusalOut}, 413: {"model": RefusalOut},
                        422: {"model": RefusalOut}})
async def upload_batch(request: Request, db: Db,
                       actor: Annotated[User | None, Depends(optional_user)]) -> object:
    """Receive a sealed batch. The terminal's signature is the credential; no login is needed."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > protocol.MAX_ENVELOPE_BYTES:
            break  # enough to refuse as too large without holding all of it
    try:
        # In a worker thread, not on the event loop: it waits on the database (on SQLite for the
        # write lock), and on the loop it would stall every other request, the upload whose
        # commit it waits for among them — 8 concurrent uploads deadlocked for the 30 s busy
        # timeout (tests/test_db_faults.py).
        receipt = await run_in_threadpool(
            service.receive_batch, db, bytes(body),
            county_key=keys.county_private_key(get_settings(request)),
            cipher=request.app.state.cipher, catalogue=load_catalogue(), actor=actor,
            client=client_of(request))
    except service.Refused as exc:
        # Answered, not raised: the refusal's log entry must be committed with the request.
        out = RefusalOut(code=exc.code, reason=exc.message.both(), batch_id=exc.batch_id,
                         already_accepted=exc.already_accepted)
        return JSONResponse(out.model_dump(), status_code=exc.status_code)
    return ReceiptOut(**receipt.__dict__)


@router.post("/enrol", response_model=EnrolOut, dependencies=[Depends(verify_csrf)])
def enrol(body: EnrolIn, request: Request, db: Db, actor: Enroller) -> EnrolOut:
    """A village officer's browser registers its own key as a terminal of the officer's village."""
    terminal = service.register_terminal(db, actor=actor, public_key=body.public_key,
                                         village_code=actor.region_code,
                                         name=body.name or actor.display_name, via="web")
    return EnrolOut(terminal=TerminalOut.model_validate(terminal), county=county_key_out(request))


@router.get("/terminals", response_model=list[TerminalOut])
def list_terminals(db: Db, actor: Viewer) -> list[TerminalOut]:
    return [TerminalOut.model_validate(t) for t in service.terminals_for(db, actor)]


@router.post("/terminals", response_model=TerminalOut, status_code=201,
             dependencies=[Depends(verify_csrf)])
def register(body: TerminalIn, db: Db, actor: Manager) -> TerminalOut:
    terminal = service.register_terminal(db, actor=actor, public_key=body.public_key,
                                         village_code=body.village_code, name=body.name,
                                         via="admin")
    return TerminalOut.model_validate(terminal)


@router.post("/terminals/{terminal_id}/revoke", response_model=TerminalOut,
             dependencies=[Depends(verify_csrf)])
def revoke(terminal_id: str, body: RevokeIn, db: Db,
           actor: Annotated[User, Depends(current_user)]) -> TerminalOut:
    terminal = service.revoke_terminal(db, actor=actor, terminal_id=terminal_id,
                                       reason=body.reason)
    return TerminalOut.model_validate(terminal)
