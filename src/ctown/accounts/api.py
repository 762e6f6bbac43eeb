"""API authentication: exchange a password for a bearer token (setting one's own password first
when someone else chose it), list and revoke one's tokens; who am I."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.orm import Session

from ctown.accounts import users
from ctown.accounts.models import User
from ctown.accounts.service import LoginRefused, authenticate, tokens_of
from ctown.web.deps import (
    DB_SESSION,
    PasswordChangeRequired,
    client_of,
    current_user,
    get_settings,
    verify_csrf,
)

router = APIRouter(tags=["accounts"])


class TokenRequest(BaseModel):
    username: str
    password: str
    name: str = "api"
    #: Sets the user's own password first: required when someone else chose the current one.
    new_password: str | None = None


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 the OAuth2 scheme name, not a secret
    expires_at: dt.datetime


class TokenInfo(BaseModel):
    id: int
    name: str
    created_at: dt.datetime
    expires_at: dt.datetime


class Me(BaseModel):
    id: int
    username: str
    display_name: str
    role: str
    region_code: str
    subject_id: int | None


@router.post("/auth/token", response_model=TokenOut,
             responses={401: {"description": "wrong password or locked out"},
                        403: {"description": "a password must be set first (new_password)"},
                        422: {"description": "new_password refused by the password policy"}})
def token(body: TokenRequest, request: Request, db: Session = DB_SESSION
          ) -> TokenOut | JSONResponse:
    settings = get_settings(request)
    try:
        user = authenticate(db, body.username, body.password, client=client_of(request),
                            max_failures=settings.login_max_failures,
                            window_seconds=settings.login_window_seconds)
    except LoginRefused as exc:
        # Answered, not raised: the failed attempt must be committed to count towards lock-out.
        return JSONResponse({"detail": exc.message.both()}, status_code=401)
    if body.new_password is not None:
        users.change_own_password(db, user, current=body.password, new=body.new_password,
                                  min_length=settings.password_min_length)
    elif user.must_change_password:
        return JSONResponse({"detail": PasswordChangeRequired.message.both()}, status_code=403)
    clear, row = users.create_token(db, user, body.name, days=settings.token_days)
    return TokenOut(access_token=clear, expires_at=row.expires_at)


@router.get("/auth/tokens", response_model=list[TokenInfo])
def my_tokens(user: User = Depends(current_user), db: Session = DB_SESSION
              ) -> list[TokenInfo]:
    """One's own API tokens in force (never the tokens themselves)."""
    return [TokenInfo.model_validate(t, from_attributes=True) for t in tokens_of(db, user.id)]


@router.delete("/auth/tokens/{token_id}", status_code=204, dependencies=[Depends(verify_csrf)])
def revoke_my_token(token_id: int, user: User = Depends(current_user),
                    db: Session = DB_SESSION) -> Response:
    """Revoke one of one's own tokens; another's (or an unknown one) is not found."""
    users.revoke_token(db, user, user.id, token_id)
    return Response(status_code=204)


@router.get("/me", response_model=Me)
def me(user: User = Depends(current_user)) -> Me:
    return Me.model_validate(user, from_attributes=True)
