"""The error answers of the JSON API (错误应答), declared once for the OpenAPI description.

A refusal of a service (:class:`ctown.errors.DomainError`) is answered by ``app.py`` as
``{"detail": {"zh": …, "en": …}}``, with the error's status code; FastAPI's own request validation
answers 422 with a list of field errors. ``create_app`` documents both on every ``/api/v1``
operation (``include_router(..., responses=API_ERRORS)``; an operation's own declaration of a code
wins), so a client — and the fuzzing of ``tests/test_fuzz_api.py`` — can rely on the shape of
every answer, not only of the successful one.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class Bilingual(BaseModel):
    """A message in Chinese and in English."""

    zh: str
    en: str


class Problem(BaseModel):
    """A refusal: why, in both languages."""

    detail: Bilingual


class FieldError(BaseModel):
    """One field FastAPI could not read (its ``loc``, ``msg`` and ``type``)."""

    loc: list[str | int]
    msg: str
    type: str


class ValidationProblem(BaseModel):
    """Input refused: by FastAPI (a list of field errors) or by the service (a message)."""

    detail: Bilingual | list[FieldError]


#: The answers any API operation may give besides its own: a body that cannot be read at all
#: (400), authentication and the access table (401, 403, 404: what may not be seen is not found),
#: state (409), input (422), the hardening middleware's body limit (413) and rate limits (429),
#: and a database that cannot serve for the moment (503).
API_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "the request body could not be read at all"},
    401: {"model": Problem, "description": "not signed in, or the token is not in force"},
    403: {"model": Problem, "description": "the role may not do this"},
    404: {"model": Problem, "description": "not found, or not the caller's to see"},
    409: {"model": Problem, "description": "conflicts with the current state"},
    413: {"model": Problem, "description": "request body over the limit"},
    422: {"model": ValidationProblem, "description": "invalid input"},
    429: {"model": Problem, "description": "too many requests: try again after Retry-After"},
    503: {"model": Problem, "description": "the database is unavailable for the moment: "
          "nothing was saved, try again after Retry-After (ctown.web.outage)"},
}
