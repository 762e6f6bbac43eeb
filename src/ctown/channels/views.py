"""The sign-in by code pages (验证码登录, ``/login/code``): resident ID, then the 6-digit code.

Phone-first (one field a page, a numeric keypad for the code), in Chinese and English. The first
step answers the same whether or not the ID is on file (``channels.otp``).
"""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from ctown.channels import otp
from ctown.crypto import FieldCipher
from ctown.i18n import Message
from ctown.web.deps import DB, client_of, locale_of, sign_in, verify_csrf
from ctown.web.templating import render

router = APIRouter(prefix="/login/code")
CSRF = [Depends(verify_csrf)]


def _safe_next(target: str) -> str:
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc and target.startswith("/") else "/"


def _cipher(request: Request) -> FieldCipher:
    cipher: FieldCipher = request.app.state.cipher
    return cipher


@router.get("", response_class=HTMLResponse)
def ask_id(request: Request, next: str = "/") -> HTMLResponse:
    return render(request, "channels/code_id.html", next=_safe_next(next))


def _ask(request: Request, resident_id: str) -> otp.Requested:
    factory = request.app.state.session_factory
    with factory.begin() as session:
        return otp.request(session, _cipher(request), resident_id[:64], client_of(request))


@router.post("", dependencies=CSRF, response_class=HTMLResponse)
async def send_code(request: Request, resident_id: str = Form(""),
                    next: str = Form("/")) -> HTMLResponse:
    # Its own transaction, committed before the pause: the answer takes otp.FLOOR seconds
    # whether or not a code was queued, and no lock is held meanwhile.
    started = time.monotonic()
    asked = await run_in_threadpool(_ask, request, resident_id)
    await asyncio.sleep(max(0.0, otp.FLOOR - (time.monotonic() - started)))
    if asked.ticket is None:
        message = asked.wait.render(locale_of(request)) if asked.wait else ""
        return render(request, "channels/code_id.html", status_code=429, next=_safe_next(next),
                      error=message)
    return render(request, "channels/code_enter.html", ticket=asked.ticket,
                  next=_safe_next(next), sent=Message(otp.SENT).render(locale_of(request)))


@router.post("/verify", dependencies=CSRF, response_model=None)
def check_code(request: Request, db: DB, ticket: str = Form(""), code: str = Form(""),
               next: str = Form("/")) -> Response:
    checked = otp.verify(db, _cipher(request), ticket, code)
    if checked.user is None:
        message = checked.message.render(locale_of(request)) if checked.message else ""
        return render(request, "channels/code_enter.html", status_code=401, ticket=ticket,
                      next=_safe_next(next), error=message)
    sign_in(request, db, checked.user)
    return RedirectResponse(_safe_next(next), status_code=303)
