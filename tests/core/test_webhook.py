"""What a hook asks for: signatures in each forge's form, and what the payload says."""

import hashlib
import hmac
import json
from urllib.parse import quote

from hypothesis import given
from hypothesis import strategies as st

from gitops_compose.core.reconcile.webhook import HookResult, judge

SECRET = b"the-secret"
PUSH = json.dumps({"ref": "refs/heads/main"}).encode()


def hex_hmac(body: bytes, secret: bytes = SECRET) -> str:
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


def result(headers: dict[str, str], body: bytes = PUSH) -> HookResult:
    return judge(headers, body, SECRET, "main").result


def test_each_forge_form_of_the_secret_is_accepted() -> None:
    forms = [
        {"x-hub-signature-256": f"sha256={hex_hmac(PUSH)}"},
        {"x-gitea-signature": hex_hmac(PUSH)},
        {"x-forgejo-signature": hex_hmac(PUSH)},
        {"x-gogs-signature": hex_hmac(PUSH).upper()},
        {"x-gitlab-token": "the-secret"},
        {"authorization": "Bearer the-secret"},
    ]
    assert [result(each) for each in forms] == [HookResult.ACCEPTED] * len(forms)


def test_a_signature_of_another_body_or_secret_is_unauthorized() -> None:
    forms = [
        {},
        {"x-hub-signature-256": f"sha1={hex_hmac(PUSH)}"},
        {"x-hub-signature-256": f"sha256={hex_hmac(PUSH + b' ')}"},
        {"x-gitea-signature": hex_hmac(PUSH, b"other")},
        {"x-gitlab-token": "the-secret "[:-2]},
        {"authorization": "Basic the-secret"},
        {"authorization": "Bearer \u00e9"},
    ]
    assert [result(each) for each in forms] == [HookResult.UNAUTHORIZED] * len(forms)


def test_a_bad_body_is_looked_at_only_once_signed() -> None:
    assert result({}, b"{not json") is HookResult.UNAUTHORIZED
    assert result({"x-gitlab-token": "the-secret"}, b"{not json") is HookResult.BAD_REQUEST
    assert result({"x-gitlab-token": "the-secret"}, b"[1, 2]") is HookResult.BAD_REQUEST


def test_pings_and_other_refs_are_ignored_and_ref_less_payloads_accepted() -> None:
    token = {"x-gitlab-token": "the-secret"}
    other = json.dumps({"ref": "refs/heads/mainline"}).encode()
    assert result({**token, "x-github-event": "ping"}, b'{"zen": "x"}') is HookResult.IGNORED
    assert result(token, other) is HookResult.IGNORED
    assert result(token, b'{"repository": {}}') is HookResult.ACCEPTED
    assert result(token, b"") is HookResult.ACCEPTED


def test_github_form_payloads_and_curl_json_labelled_as_a_form_are_read() -> None:
    form = {"content-type": "application/x-www-form-urlencoded", "x-gitlab-token": "the-secret"}
    other = json.dumps({"ref": "refs/heads/other"})
    assert result(form, f"payload={quote(other)}".encode()) is HookResult.IGNORED
    assert result(form, other.encode()) is HookResult.IGNORED
    assert result(form, b"payload=%7Bnot") is HookResult.BAD_REQUEST


@given(body=st.binary(max_size=256), secret=st.binary(min_size=1, max_size=32))
def test_only_the_secret_signs_any_body(body: bytes, secret: bytes) -> None:
    signed = {"x-hub-signature-256": f"sha256={hex_hmac(body, secret)}"}
    assert judge(signed, body, secret, "main").result is not HookResult.UNAUTHORIZED
    other = secret + b"x"
    assert judge(signed, body, other, "main").result is HookResult.UNAUTHORIZED
