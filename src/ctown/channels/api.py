"""The SMS gateway's webhook (短信上行接口), mounted under /api/v1: signed, answered once per id.

``POST /api/v1/channels/sms/inbound`` with JSON ``{"id", "from", "text"}`` and
``X-Ctown-Signature: hex(HMAC-SHA256(CTOWN_SMS_SECRET, raw body))``. 200 ``{"reply"}`` (the same
text is queued to the sender); 401 for a missing or wrong signature (nothing read, nothing
queued); 400 for a body that is not a JSON object of those strings; 413 past :data:`MAX_BODY`.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from ctown.channels import service, signature
from ctown.crypto import FieldCipher
from ctown.i18n import Message, _
from ctown.web.deps import DB, get_settings
from ctown.web.problems import Problem, ValidationProblem

router = APIRouter(prefix="/channels", tags=["channels 短信"])
#: Bytes of a webhook body: a concatenated SMS is at most a few hundred characters.
MAX_BODY = 8 * 1024
SIGNATURE = "X-Ctown-Signature"


class ReplyOut(BaseModel):
    reply: str


class InboundIn(BaseModel):
    """What the gateway posts (documentation: the handler reads the raw body, signed)."""

    model_config = ConfigDict(populate_by_name=True)

    id: str = Field(max_length=service.MESSAGE_ID_MAX, description="the gateway's message id")
    sender: str = Field(alias="from", description="the sender's number, any spelling")
    text: str


_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": InboundIn.model_json_schema(by_alias=True)}}}}


def _refuse(status: int, message: Message) -> JSONResponse:
    return JSONResponse({"detail": message.both()}, status_code=status)



@router.post("/sms/inbound", response_model=ReplyOut, openapi_extra=_BODY,
             responses={400: {"model": Problem}, 401: {"model": Problem},
                        413: {"model": Problem}, 422: {"model": ValidationProblem}})
async def sms_inbound(request: Request, db: DB) -> object:
    """One message from the SMS gateway: the reply, queued to the sender once."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            return _refuse(413, Message(_("请求体超过 {max} 字节"), {"max": MAX_BODY}))
    settings = get_settings(request)
    if not signature.valid(settings.sms_secret, body, request.headers.get(SIGNATURE)):
        return _refuse(401, Message(_("签名缺失或不正确（X-Ctown-Signature）")))
    try:
        parsed = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return _refuse(400, Message(_("请求内容无法解析：请发送 UTF-8 编码的 JSON")))
    inbound = service.Inbound.of(parsed)
    cipher: FieldCipher = request.app.state.cipher
    # The database work blocks: off the event loop (the body had to be read raw, for the HMAC).
    limits = service.Limits(settings.sms_replies_per_10_minutes, settings.sms_replies_per_day)
    reply = await run_in_threadpool(lambda: service.handle(db, cipher, inbound, limits=limits))
    return ReplyOut(reply=reply)
