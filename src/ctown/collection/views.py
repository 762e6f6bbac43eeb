"""Pages: the offline collection form (村信息员) and the terminal administration page (县/乡镇)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session

from ctown.accounts.models import User
from ctown.catalogue.service import load_catalogue
from ctown.collection import service
from ctown.collection.api import county_key_out
from ctown.collection.validate import collectable
from ctown.errors import DomainError
from ctown.i18n import _
from ctown.web.deps import DB_SESSION, allowed, locale_of, verify_csrf
from ctown.web.templating import render

router = APIRouter()
STATIC = Path(__file__).parent / "static"
NAV = [
    {"href": "/collection/form", "label": _("信息采集"), "resource": "upload",
     "purpose": "collect"},
    {"href": "/collection/terminals", "label": _("采集终端"), "resource": "terminal",
     "purpose": "view"},
]
Db = Annotated[Session, DB_SESSION]
# Feature gates from the one table; which terminals a user reaches is the service's.
Viewer = Annotated[User, Depends(allowed("terminal", "view"))]
Manager = Annotated[User, Depends(allowed("terminal", "manage"))]
Collector = Annotated[User, Depends(allowed("upload", "collect"))]


@router.get("/collection/form", response_class=HTMLResponse)
def form(request: Request, user: Collector) -> HTMLResponse:
    """Works offline once loaded: the service worker keeps this page and its script."""
    en = locale_of(request) == "en"
    indicators = [{"code": i.code, "name": i.name_en if en else i.name_zh, "type": i.type,
                   "unit": i.unit, "min": i.min, "max": i.max,
                   "codes": {k: (v.en if en else v.zh) for k, v in i.codes.items()}}
                  for i in collectable(load_catalogue())]
    return render(request, "collection/form.html", user=user, indicators=indicators,
                  county=county_key_out(request).model_dump())


@router.get("/collection/collect.js", include_in_schema=False)
def script() -> FileResponse:
    return FileResponse(STATIC / "collect.js", media_type="text/javascript",
                        headers={"Cache-Control": "no-cache"})


@router.get("/collection/sw.js", include_in_schema=False)
def worker() -> FileResponse:
    # Served from /collection/ so that its scope is the collection pages only.
    return FileResponse(STATIC / "sw.js", media_type="text/javascript",
                        headers={"Cache-Control": "no-cache"})


@router.get("/collection/terminals", response_class=HTMLResponse)
def terminals(request: Request, db: Db, user: Viewer, message: str = "", kind: str = "info"
              ) -> HTMLResponse:
    desk = service.terminal_desk(db, user)
    return render(request, "collection/terminals.html", user=user, terminals=desk.terminals,
                  log=desk.uploads, can_register=desk.can_register,
                  manageable=desk.manageable, message=message, message_kind=kind,
                  county=county_key_out(request).model_dump())


@router.post("/collection/terminals", dependencies=[Depends(verify_csrf)])
def register(request: Request, public_key: Annotated[str, Form()],
             village_code: Annotated[str, Form()], db: Db, user: Manager,
             name: Annotated[str, Form()] = "") -> HTMLResponse:
    try:
        terminal = service.register_terminal(db, actor=user, public_key=public_key,
                                             village_code=village_code.strip(), name=name,
                                             via="admin")
    except DomainError as exc:
        return terminals(request, db, user, exc.message.render(locale_of(request)), "error")
    return terminals(request, db, user, f"{terminal.id} ✓", "ok")


@router.post("/collection/terminals/{terminal_id}/revoke", dependencies=[Depends(verify_csrf)])
def revoke(terminal_id: str, db: Db, user: Manager, reason: Annotated[str, Form()] = ""
           ) -> RedirectResponse:
    service.revoke_terminal(db, actor=user, terminal_id=terminal_id, reason=reason)
    return RedirectResponse("/collection/terminals", status_code=303)
