"""Login and logout pages."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from ctown.accounts.service import LoginRefused, authenticate
from ctown.web.deps import client_of, get_db, get_settings, locale_of, verify_csrf
from ctown.web.templating import render

router = APIRouter()


def _safe_next(target: str) -> str:
    # Only local paths: an open redirect after login is a phishing aid.
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc and target.startswith("/") else "/"


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/") -> HTMLResponse:
    return render(request, "accounts/login.html", next=_safe_next(next))


@router.post("/login", dependencies=[Depends(verify_csrf)])
def login(request: Request, username: str = Form(...), password: str = Form(...),
          next: str = Form("/"), db: Session = Depends(get_db)) -> Response:
    settings = get_settings(request)
    try:
        user = authenticate(db, username.strip(), password, client=client_of(request),
                            max_failures=settings.login_max_failures,
                            window_seconds=settings.login_window_seconds)
    except LoginRefused as exc:
        return render(request, "accounts/login.html", status_code=401, next=_safe_next(next),
                      username=username, error=exc.message.render(locale_of(request)))
    request.session.clear()  # a new session id on login (no session fixation)
    request.session["uid"] = user.id
    return RedirectResponse(_safe_next(next), status_code=303)


@router.post("/logout", dependencies=[Depends(verify_csrf)])
def logout(request: Request) -> Response:
    request.session.clear()
    return RedirectResponse("/login", status_code=303)
