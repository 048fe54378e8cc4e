"""Browser-facing protections of the service: CSRF tokens, origin checks, security headers, HTTPS detection.

CSRF
----
A form post authenticated by the session cookie must carry the session's CSRF token -- the hidden
``csrf_token`` field every dashboard form has, or the ``X-CSRF-Token`` header htmx sends -- and, when the
browser names where the request comes from (``Origin``, else ``Referer``), that origin must be the
service's own (scheme, host and port: a page on another port of the same host is another origin, even
though the ``SameSite`` cookie rule treats it as the same site). The token is an HMAC of the session id,
which only the signed-in browser knows (the cookie is HttpOnly) -- OWASP's "HMAC based token" pattern.
Requests with an API token (``Authorization`` header) are not CSRF-prone: a browser never adds that
header by itself.

Headers
-------
Every answer carries ``Content-Security-Policy`` (scripts only from the service itself or inline with the
request's nonce; no framing: ``frame-ancestors 'none'``), ``X-Frame-Options: DENY``,
``X-Content-Type-Options: nosniff`` and ``Referrer-Policy: same-origin``; over HTTPS also
``Strict-Transport-Security``. A request counts as HTTPS when it arrived over TLS or from a trusted proxy
(``trusted_proxies``) that says so in ``X-Forwarded-Proto``; the session cookie is then ``Secure``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

__all__ = ["CSRF_FIELD", "CSRF_HEADER", "add_nonce", "csrf_token", "is_https", "new_nonce", "own_origin",
           "security_headers", "sent_origin"]

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
_CSRF_KEY = b"equicare-csrf-v1"
_SCRIPT_TAG = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*\bnonce=)", re.I)


def csrf_token(session_id: str) -> str:
    """The CSRF token of a session: HMAC-SHA256 of its id (hex)."""
    return hmac.new(_CSRF_KEY, session_id.encode(), hashlib.sha256).hexdigest()


def csrf_ok(session_id: str, sent: str | None) -> bool:
    """Whether ``sent`` is the session's CSRF token (constant-time)."""
    return bool(sent) and hmac.compare_digest(csrf_token(session_id), str(sent))


def is_https(request: Request, trusted_proxies: frozenset[str]) -> bool:
    """Whether the client reached the service over HTTPS (directly, or through a trusted proxy)."""
    if request.url.scheme == "https":
        return True
    client = request.client.host if request.client else None
    if client is not None and client in trusted_proxies:
        proto = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
        return proto == "https"
    return False


def own_origin(request: Request, https: bool) -> str:
    """``scheme://host[:port]`` the client used to reach the service."""
    host = request.headers.get("host") or (f"{request.url.hostname}:{request.url.port}" if request.url.port
                                           else str(request.url.hostname))
    return f"{'https' if https else 'http'}://{host}".lower()


def sent_origin(request: Request) -> str | None:
    """The origin the browser says the request comes from (``Origin``, else ``Referer``), or None."""
    origin = request.headers.get("origin")
    if origin and origin.lower() != "null":
        return origin.rstrip("/").lower()
    if origin:  # "null": an opaque origin (sandboxed frame, file://) is never ours
        return "null"
    ref = request.headers.get("referer")
    if ref:
        parts = urlsplit(ref)
        return f"{parts.scheme}://{parts.netloc}".lower()
    return None


def new_nonce() -> str:
    return secrets.token_urlsafe(16)


def add_nonce(html: str, nonce: str) -> str:
    """Give every inline ``<script>`` of ``html`` the CSP nonce (scripts with ``src`` are left alone)."""
    return _SCRIPT_TAG.sub(f'<script nonce="{nonce}"', html)


def security_headers(resp: Response, nonce: str, https: bool) -> None:
    """Set the headers of the module docstring on ``resp``."""
    resp.headers["Content-Security-Policy"] = (
        f"default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'")
    resp.headers["X-Frame-Options"] = "DENY"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Referrer-Policy"] = "same-origin"
    if https:
        resp.headers["Strict-Transport-Security"] = "max-age=31536000"
