"""What a forge's webhook asks for: a check now, nothing, or a rejection, and why.

A hook is a reason to run a check sooner; it never says what the check does. It is trusted
only when signed with the shared secret in one of the forms forges use, each compared in
constant time: GitHub's ``X-Hub-Signature-256: sha256=<hex>``, the hex HMAC-SHA256 of
Gitea, Forgejo and Gogs, GitLab's ``X-Gitlab-Token`` (the secret itself), and
``Authorization: Bearer <secret>`` for anything else. The signature is looked at before the
body is parsed, so nobody without the secret learns anything from the answers.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from enum import Enum
from typing import final
from urllib.parse import parse_qs

from gitops_compose.core.value import Value

# The largest body read; forges send a few kB, GitHub at most 25 MB for huge pushes, whose
# hooks then fail loudly on the forge's side.
MOST_BODY_BYTES = 1024 * 1024

# Hex HMAC-SHA256 of the raw body, without a prefix.
_HEX_SIGNATURES = ("x-gitea-signature", "x-forgejo-signature", "x-gogs-signature")
_EVENT_HEADERS = (
    "x-github-event",
    "x-gitea-event",
    "x-forgejo-event",
    "x-gogs-event",
    "x-gitlab-event",
)


class HookResult(Enum):
    """The label of ``gitops_webhook_requests_total``."""

    ACCEPTED = "accepted"
    IGNORED = "ignored"
    UNAUTHORIZED = "unauthorized"
    BAD_REQUEST = "bad_request"


@final
class Verdict(Value):
    result: HookResult
    # One line for the forge's delivery log.
    reason: str


def judge(headers: Mapping[str, str], body: bytes, secret: bytes, branch: str) -> Verdict:
    """What a hook of these headers (names in lower case) and body asks for, following
    ``branch``. ``secret`` is never empty: without one there is no endpoint at all."""
    if not signed(headers, body, secret):
        return Verdict(HookResult.UNAUTHORIZED, "missing or bad signature")
    if any(headers.get(name, "").strip().lower() == "ping" for name in _EVENT_HEADERS):
        return Verdict(HookResult.IGNORED, "ping")
    payload = _payload(headers.get("content-type", ""), body)
    if payload is None:
        return Verdict(HookResult.BAD_REQUEST, "the body is not a JSON object")
    ref = payload.get("ref")
    wanted = f"refs/heads/{branch}"
    if isinstance(ref, str) and ref != wanted:
        return Verdict(HookResult.IGNORED, f"{ref} is not the followed branch {wanted}")
    return Verdict(HookResult.ACCEPTED, "check queued")


def signed(headers: Mapping[str, str], body: bytes, secret: bytes) -> bool:
    """Whether any of the forms carries a signature of ``body`` made with ``secret``."""
    digest = hmac.new(secret, body, hashlib.sha256).hexdigest().encode()
    found = False
    github = headers.get("x-hub-signature-256")
    if github is not None:
        scheme, _, value = github.strip().partition("=")
        found |= scheme == "sha256" and _same(value.lower(), digest)
    for name in _HEX_SIGNATURES:
        hex_signature = headers.get(name)
        if hex_signature is not None:
            found |= _same(hex_signature.strip().lower(), digest)
    token = headers.get("x-gitlab-token")
    if token is not None:
        found |= _same(token, secret)
    authorization = headers.get("authorization")
    if authorization is not None:
        scheme, _, value = authorization.strip().partition(" ")
        found |= scheme.lower() == "bearer" and _same(value.strip(), secret)
    return found


def _same(given: str, expected: bytes) -> bool:
    # compare_digest takes bytes of any content in constant time (for equal lengths).
    return hmac.compare_digest(given.encode("utf-8", errors="replace"), expected)


def _payload(content_type: str, body: bytes) -> Mapping[str, object] | None:
    """The JSON object a hook carries: the body, or GitHub's form field ``payload``; an
    empty body is an empty payload (``curl -X POST`` with a bearer token). ``curl -d``
    labels JSON as a form, so only a body that starts as GitHub's form is read as one."""
    if not body.strip():
        return {}
    text: str | bytes = body
    form = content_type.split(";", 1)[0].strip().lower() == "application/x-www-form-urlencoded"
    if form and body.startswith(b"payload="):
        try:
            fields = parse_qs(body.decode("utf-8"), strict_parsing=True)
        except (UnicodeDecodeError, ValueError):
            return None
        if len(fields.get("payload", [])) != 1:
            return None
        text = fields["payload"][0]
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return document if isinstance(document, dict) else None
