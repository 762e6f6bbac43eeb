"""API authentication: exchange a password for a bearer token; who am I."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.orm import Session

from ctown.accounts.models import User
from ctown.accounts.service import LoginRefused, authenticate, issue_token
from ctown.web.deps import client_of, current_user, get_db, get_settings

router = APIRouter(tags=["accounts"])


class TokenRequest(BaseModel):
    username: str
    password: str
    name: str = "api"


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 the OAuth2 scheme name, not a secret


class Me(BaseModel):
    id: int
    username: str
    display_name: str
    role: str
    region_code: str
    subject_id: int | None


@router.post("/auth/token", response_model=TokenOut)
def token(body: TokenRequest, request: Request, db: Session = Depends(get_db)
          ) -> TokenOut | JSONResponse:
    settings = get_settings(request)
    try:
        user = authenticate(db, body.username, body.password, client=client_of(request),
                            max_failures=settings.login_max_failures,
                            window_seconds=settings.login_window_seconds)
    except LoginRefused as exc:
        # Answered, not raised: the failed attempt must be committed to count towards lock-out.
        return JSONResponse({"detail": exc.message.both()}, status_code=401)
    return TokenOut(access_token=issue_token(db, user, body.name))


@router.get("/me", response_model=Me)
def me(user: User = Depends(current_user)) -> Me:
    return Me.model_validate(user, from_attributes=True)
