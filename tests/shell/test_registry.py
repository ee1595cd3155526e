"""The registry client against a registry served here: HEAD with the manifest types, the
Bearer token flow with the host's credentials (tokens kept for their lifetime), 429 and
Retry-After, a vanished tag, a registry that cannot be reached."""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from gitops_compose.core.reconcile.image_update import ImageTag
from gitops_compose.shell.registry import MANIFEST_TYPES, Insecure, RegistryClient, endpoint
from gitops_compose.shell.registry_credentials import Credential, Credentials

DIGEST = "sha256:" + "d" * 64


class Served:
    """What the registry was asked: (method, path, authorization) in order."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, str]] = []
        self.accepts: list[str] = []
        self.busy = 0


def handler(served: Served, port: int) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_HEAD(self) -> None:
            auth = self.headers.get("Authorization", "")
            served.requests.append(("HEAD", self.path, auth))
            served.accepts.append(self.headers.get("Accept", ""))
            if self.path == "/v2/private/manifests/latest" and auth != "Bearer tok1":
                realm = f"http://127.0.0.1:{port}/token"
                self._reply(
                    401,
                    WWW_Authenticate=(
                        f'Bearer realm="{realm}",service="here",scope="repository:private:pull"'
                    ),
                )
            elif self.path == "/v2/busy/manifests/1" and served.busy == 0:
                served.busy += 1
                self._reply(429, Retry_After="1")
            elif self.path == "/v2/limited/manifests/1":
                self._reply(429, Retry_After="120")
            elif self.path == "/v2/gone/manifests/1":
                self._reply(404)
            else:
                self._reply(200, Docker_Content_Digest=DIGEST)

        def do_GET(self) -> None:
            auth = self.headers.get("Authorization", "")
            served.requests.append(("GET", self.path, auth))
            good = "Basic " + base64.b64encode(b"deploy:s3cret").decode()
            if self.path.startswith("/token?") and auth == good:
                body = json.dumps({"token": "tok1", "expires_in": 300}).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            else:
                self._reply(401)

        def _reply(self, status: int, **headers: str) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name.replace("_", "-"), value)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def registry() -> Iterator[tuple[str, Served]]:
    yield from serving("127.0.0.1")


def serving(address: str, tls: ssl.SSLContext | None = None) -> Iterator[tuple[str, Served]]:
    """The registry served on an address of this machine (over TLS with ``tls``), as
    ``host:port``, with what it was asked."""
    served = Served()
    server = ThreadingHTTPServer((address, 0), BaseHTTPRequestHandler)
    port = server.server_address[1]
    server.RequestHandlerClass = handler(served, port)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{address}:{port}", served
    finally:
        server.shutdown()
        server.server_close()


def with_password(host: str) -> Credentials:
    auth = base64.b64encode(b"deploy:s3cret").decode()
    return Credentials({"auths": {host: {"auth": auth}}})


def test_a_tag_is_asked_by_a_head_accepting_indexes_and_manifests(
    registry: tuple[str, Served],
) -> None:
    host, served = registry
    client = RegistryClient(Credentials({}))

    found = client.digests([ImageTag(host, "team/app", "latest")])

    assert list(found.values()) == [found[ImageTag(host, "team/app", "latest")]]
    assert found[ImageTag(host, "team/app", "latest")].unwrap() == DIGEST
    assert served.requests == [("HEAD", "/v2/team/app/manifests/latest", "")]
    assert all(each in served.accepts[0] for each in MANIFEST_TYPES)


def test_a_bearer_token_is_fetched_with_the_hosts_credentials_and_kept(
    registry: tuple[str, Served],
) -> None:
    host, served = registry
    clock = [1000.0]
    client = RegistryClient(with_password(host), clock=lambda: clock[0])
    tag = ImageTag(host, "private", "latest")

    assert client.digest(tag).unwrap() == DIGEST
    assert [each[0] for each in served.requests] == ["HEAD", "GET", "HEAD"]
    assert served.requests[1][1].startswith("/token?service=here&scope=repository%3Aprivate")
    # Within its lifetime the token is used as it is: one request.
    assert client.digest(tag).unwrap() == DIGEST
    assert served.requests[-1] == ("HEAD", "/v2/private/manifests/latest", "Bearer tok1")
    assert len(served.requests) == 4
    # Expired: fetched again.
    clock[0] += 400
    assert client.digest(tag).unwrap() == DIGEST
    assert [each[0] for each in served.requests[4:]] == ["HEAD", "GET", "HEAD"]


def test_without_credentials_the_refusal_is_the_answer(registry: tuple[str, Served]) -> None:
    host, _ = registry
    found = RegistryClient(Credentials({})).digest(ImageTag(host, "private", "latest"))
    assert "refused access to private (401)" in found.failure()


def test_a_short_retry_after_is_waited_out_and_a_long_one_rests_the_registry(
    registry: tuple[str, Served],
) -> None:
    host, served = registry
    slept: list[float] = []
    client = RegistryClient(Credentials({}), sleep=slept.append)

    assert client.digest(ImageTag(host, "busy", "1")).unwrap() == DIGEST
    assert slept == [1.0]
    limited = client.digest(ImageTag(host, "limited", "1"))
    assert "retry after 120 s (429)" in limited.failure()
    asked = len(served.requests)
    # Until then the registry is not asked at all.
    later = client.digest(ImageTag(host, "team/app", "1"))
    assert "asked to wait" in later.failure()
    assert len(served.requests) == asked


def test_a_vanished_tag_and_an_unreachable_registry_are_reasons(
    registry: tuple[str, Served],
) -> None:
    host, _ = registry
    client = RegistryClient(Credentials({}), timeout=5)
    assert "has no tag" in client.digest(ImageTag(host, "gone", "1")).failure()
    down = client.digest(ImageTag("127.0.0.1:9", "app", "1"))
    assert "127.0.0.1:9 could not be reached" in down.failure()


def test_loopback_registries_are_plain_http_as_docker_treats_them() -> None:
    assert endpoint("127.0.0.1:5000") == "http://127.0.0.1:5000"
    assert endpoint("127.3.4.5:5000") == "http://127.3.4.5:5000"
    assert endpoint("localhost:5000") == "http://localhost:5000"
    assert endpoint("[::1]:5000") == "http://[::1]:5000"
    assert endpoint("ghcr.io") == "https://ghcr.io"
    assert endpoint("docker.io") == "https://registry-1.docker.io"


def test_credentials_come_from_a_helper_before_auths(tmp_path: Path) -> None:
    helper = tmp_path / "docker-credential-fake"
    helper.write_text(
        '#!/bin/sh\nread server\nprintf \'{"Username":"bot","Secret":"from-%s"}\' "$server"\n'
    )
    helper.chmod(0o755)
    config = {
        "credHelpers": {"ghcr.io": "fake"},
        "auths": {"ghcr.io": {"auth": base64.b64encode(b"u:p").decode()}},
    }
    path = os.environ["PATH"]
    os.environ["PATH"] = f"{tmp_path}{os.pathsep}{path}"
    try:
        found = Credentials(config).of("ghcr.io")
        missing = Credentials({"credsStore": "nothere"}).of("ghcr.io")
    finally:
        os.environ["PATH"] = path
    assert found == Credential("bot", "from-ghcr.io")
    assert missing is None
    hub = Credentials({"auths": {"https://index.docker.io/v1/": {"auth": "dTpw"}}})
    assert hub.of("docker.io") == Credential("u", "p")
    assert "p" not in repr(Credential("u", "p"))


# --- insecure registries: as the engine's daemon.json says, as Docker reaches them --------


def test_the_engines_insecure_registries_are_read_by_name_and_by_network() -> None:
    info = json.dumps(
        {
            "IndexConfigs": {
                "docker.io": {"Name": "docker.io", "Secure": True},
                "nas.lan:5000": {"Name": "nas.lan:5000", "Secure": False},
            },
            "InsecureRegistryCIDRs": ["127.0.0.0/8", "10.1.0.0/16", "not a network"],
        }
    )
    insecure = Insecure.of_docker_info(info)
    lan = {"nas.lan": ["10.1.2.3"], "ghcr.io": ["140.82.1.1"], "other.lan": ["10.1.9.9"]}

    def resolve(name: str) -> list[str]:
        return lan.get(name, [])

    assert insecure.holds("nas.lan:5000", resolve)
    assert insecure.holds("10.1.4.4:5000", resolve)
    assert insecure.holds("other.lan:443", resolve)  # by the address its name resolves to
    assert not insecure.holds("ghcr.io", resolve)
    assert not insecure.holds("docker.io", resolve)
    assert Insecure.of_docker_info("not json") == Insecure()
    # Docker's default, loopback only: nothing to resolve, nothing insecure beyond it.
    default = Insecure.of_docker_info(json.dumps({"InsecureRegistryCIDRs": ["127.0.0.0/8"]}))
    assert not default.holds("ghcr.io", lambda name: pytest.fail(f"resolved {name}"))


def local_address() -> str:
    """An address of this machine that is not loopback: the source of its default route."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))  # no packet is sent for a UDP connect
        address = str(probe.getsockname()[0])
    assert not ipaddress.ip_address(address).is_loopback, "no non-loopback address here"
    return address


@pytest.fixture
def lan_registry() -> Iterator[tuple[str, Served]]:
    """The registry of the other tests, on a LAN address (not loopback), plain HTTP."""
    yield from serving(local_address())


def test_an_insecure_lan_registry_without_tls_is_asked_over_http_then_at_once(
    lan_registry: tuple[str, Served],
) -> None:
    host, served = lan_registry
    secure = RegistryClient(Credentials({}), timeout=5)
    refused = secure.digest(ImageTag(host, "app", "1"))
    assert "could not be reached" in refused.failure()
    assert served.requests == []  # HTTPS only: the plain server answered nothing

    client = RegistryClient(Credentials({}), timeout=5, insecure=Insecure(frozenset({host})))
    assert client.digest(ImageTag(host, "app", "1")).unwrap() == DIGEST
    assert client.digest(ImageTag(host, "app", "2")).unwrap() == DIGEST
    assert [path for _, path, _ in served.requests] == [
        "/v2/app/manifests/1",
        "/v2/app/manifests/2",
    ]
    assert client.requests == 3  # the TLS attempt once, then HTTP for both


@pytest.fixture
def tls_registry(tmp_path: Path) -> Iterator[tuple[str, Served]]:
    """The registry over HTTPS with a self-signed certificate, on a LAN address."""
    key, certificate = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=registry.lan", "-keyout", str(key), "-out", str(certificate)),
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate, key)
    yield from serving(local_address(), context)


def test_an_insecure_registry_with_a_self_signed_certificate_is_asked_over_https(
    tls_registry: tuple[str, Served],
) -> None:
    host, served = tls_registry
    refused = RegistryClient(Credentials({}), timeout=5).digest(ImageTag(host, "app", "1"))
    assert "could not be reached" in refused.failure()
    assert "CERTIFICATE_VERIFY_FAILED" in refused.failure()

    client = RegistryClient(Credentials({}), timeout=5, insecure=Insecure(frozenset({host})))
    assert client.digest(ImageTag(host, "app", "1")).unwrap() == DIGEST
    assert client.requests == 1
    assert [path for _, path, _ in served.requests] == ["/v2/app/manifests/1"]
