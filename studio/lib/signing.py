"""The studio's one webhook signature: what outbound callbacks and budget alerts send, and inbound triggers check.

``X-Studio-Timestamp: <unix seconds>`` and ``X-Studio-Signature:
sha256=<hex HMAC-SHA256(secret, "<timestamp>." + body)>`` — the scheme GitHub
and Stripe webhooks use (a timestamp inside the MAC, so a captured request
cannot be replayed later than the receiver's tolerance).
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Studio-Signature"
TIMESTAMP_HEADER = "X-Studio-Timestamp"


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>`` for the ``X-Studio-Signature`` header."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"
