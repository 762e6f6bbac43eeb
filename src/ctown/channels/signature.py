"""The webhooks' signature (回调签名), one rule for the SMS gateway and the telephony platform:
``X-Ctown-Signature`` is the hex HMAC-SHA256 of the raw request body, keyed with
``CTOWN_SMS_SECRET`` or ``CTOWN_VOICE_SECRET`` — the scheme common SMS and telephony platforms use
for their webhooks. No secret configured: nothing is accepted."""

from __future__ import annotations

import hashlib
import hmac


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def valid(secret: str, body: bytes, signature: str | None) -> bool:
    """Whether ``signature`` signs ``body``; compared in constant time."""
    if not secret or not signature:
        return False
    return hmac.compare_digest(sign(secret, body), signature.strip().lower())
