"""The registries images come from, asked over HTTP what digest a tag points at.

One HEAD request on ``/v2/<repository>/manifests/<tag>`` per tag, accepting OCI indexes,
Docker manifest lists, OCI manifests and Docker v2 manifests, read for its
``Docker-Content-Digest``: a HEAD, never a GET, so Docker Hub counts no pull, and no layer
is ever downloaded. A registry that answers 401 names where to get a token
(``WWW-Authenticate: Bearer realm=…,service=…,scope=…``); the token is fetched with the
host's own credentials, as ``docker pull`` finds them (see registry_credentials), and kept
for its lifetime. A 429 is honoured: its ``Retry-After`` is waited out when short, else
that registry is not asked again until then. Registries on 127.0.0.0/8, ``localhost`` and
``::1`` are spoken to in plain HTTP, as Docker does with them; every other over HTTPS. A
registry the engine is told is insecure (``insecure-registries`` in daemon.json, as
``docker info`` shows it) is reached as Docker reaches it: over HTTPS without verifying its
certificate, and over plain HTTP when it speaks no TLS.
"""

from __future__ import annotations

import base64
import contextlib
import email.utils
import ipaddress
import json
import logging
import socket
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import final

from returns.result import Failure, Result, Success

from gitops_compose import __version__
from gitops_compose.core.reconcile.image import DOCKER_HUB
from gitops_compose.core.reconcile.image_update import ImageTag
from gitops_compose.shell import log
from gitops_compose.shell.compose_host import run_docker
from gitops_compose.shell.registry_credentials import Credential, Credentials

MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
# Where Docker Hub's images are served from, for the name docker.io.
DOCKER_HUB_ENDPOINT = "registry-1.docker.io"
# A Retry-After up to this long is waited out; a longer one skips the registry until then.
LONGEST_WAIT = 30.0
# A token without expires_in lives 60 s (the distribution spec's default).
TOKEN_LIFETIME = 60.0


@final
@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes = b""


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@final
@dataclass(frozen=True, slots=True)
class Insecure:
    """The registries the engine reaches without verified TLS: its ``insecure-registries``,
    by name (``host:port`` as configured) or by network."""

    names: frozenset[str] = frozenset()
    networks: tuple[Network, ...] = ()

    @staticmethod
    def of_docker_info(text: str) -> Insecure:
        """From ``docker info --format '{{json .RegistryConfig}}'``; nothing on bad input."""
        try:
            found = json.loads(text)
        except ValueError:
            return Insecure()
        if not isinstance(found, dict):
            return Insecure()
        indexes = found.get("IndexConfigs")
        names = frozenset(
            name
            for name, index in (indexes.items() if isinstance(indexes, dict) else ())
            if isinstance(index, dict) and index.get("Secure") is False
        )
        networks: list[Network] = []
        cidrs = found.get("InsecureRegistryCIDRs")
        for cidr in cidrs if isinstance(cidrs, list) else ():
            with contextlib.suppress(TypeError, ValueError):
                networks.append(ipaddress.ip_network(cidr))
        return Insecure(names, tuple(networks))

    def holds(self, registry: str, addresses: Callable[[str], Sequence[str]]) -> bool:
        """Whether the engine counts this registry insecure; ``addresses`` resolves a host
        name when a network has to be matched."""
        if registry in self.names:
            return True
        if not any(not network.is_loopback for network in self.networks):
            return False
        name = _host_name(registry)
        try:
            found = [ipaddress.ip_address(name)]
        except ValueError:
            found = []
            for address in addresses(name):
                with contextlib.suppress(ValueError):
                    found.append(ipaddress.ip_address(address))
        return any(address in network for address in found for network in self.networks)


def insecure_of_engine(docker: str) -> Insecure:
    """The engine's insecure registries, from one ``docker info``; none when it fails (then
    only the loopback registries are reached without TLS)."""
    found = run_docker(docker, ["info", "--format", "{{json .RegistryConfig}}"], timeout=30)
    if isinstance(found, Failure):
        log.event("registry", logging.WARNING, error=f"docker info: {found.failure()}")
        return Insecure()
    return Insecure.of_docker_info(found.unwrap())


def endpoint(registry: str) -> str:
    """``scheme://host[:port]`` of a registry: plain HTTP for the loopback ones (Docker
    treats 127.0.0.0/8 as insecure registries by default), HTTPS for the rest."""
    host = DOCKER_HUB_ENDPOINT if registry == DOCKER_HUB else registry
    return f"{'http' if _loopback(registry) else 'https'}://{host}"


def _loopback(registry: str) -> bool:
    name = _host_name(registry)
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _host_name(host: str) -> str:
    """``host`` of ``host[:port]`` or ``[v6][:port]``."""
    return host.rsplit(":", 1)[0] if not host.startswith("[") else host[1 : host.index("]")]


def addresses_of(name: str) -> list[str]:
    """The addresses a host name resolves to; none when it does not."""
    try:
        return [str(info[4][0]) for info in socket.getaddrinfo(name, None)]
    except (OSError, UnicodeError):
        return []


def challenge(header: str) -> tuple[str, dict[str, str]]:
    """``Bearer realm="…",service="…"`` as ("bearer", {"realm": …, "service": …})."""
    scheme, _, rest = header.strip().partition(" ")
    params: dict[str, str] = {}
    while rest:
        key, _, rest = rest.strip().partition("=")
        if rest.startswith('"'):
            value, _, rest = rest[1:].partition('"')
        else:
            value, _, rest = rest.partition(",")
        params[key.strip().lower()] = value
        rest = rest.lstrip(", ")
    return scheme.lower(), params


def retry_after(value: str | None, now: float) -> float:
    """Seconds to wait, from a ``Retry-After`` of seconds or of an HTTP date (none: 60)."""
    if not value:
        return 60.0
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return 60.0
    return max(0.0, when - now)


Send = Callable[[urllib.request.Request, float, "ssl.SSLContext | None"], _Answer]


def _send(
    request: urllib.request.Request, timeout: float, context: ssl.SSLContext | None = None
) -> _Answer:
    """An HTTP exchange; an error status is an answer too, not an exception."""
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            return _Answer(response.status, dict(response.headers.items()), response.read())
    except urllib.error.HTTPError as error:
        with error:
            return _Answer(error.code, dict(error.headers.items()), error.read())


@final
class RegistryClient:
    """Asks registries for the digests of tags; keeps tokens and rate limits between
    checks of one process."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        timeout: float = 30.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        send: Send = _send,
        insecure: Insecure = Insecure(),
        addresses: Callable[[str], Sequence[str]] = addresses_of,
    ) -> None:
        self._credentials = credentials
        self._insecure, self._addresses = insecure, addresses
        # Insecure registries found to speak no TLS: asked over plain HTTP from then on.
        self._plain: set[str] = set()
        # Registry -> whether the engine counts it insecure: its name resolved once.
        self._counted: dict[str, bool] = {}
        self._unverified: ssl.SSLContext | None = None
        self._timeout = timeout
        self._clock, self._sleep, self._send = clock, sleep, send
        # (registry, scope) -> (the Authorization header, until when it is good).
        self._tokens: dict[tuple[str, str], tuple[str, float]] = {}
        # Registry -> until when it asked not to be asked (429).
        self._resting: dict[str, float] = {}
        # Requests made, for the logs and the benchmark.
        self.requests = 0

    def digests(self, tags: Sequence[ImageTag]) -> dict[ImageTag, Result[str, str]]:
        """The digest behind each tag, or why it could not be had; one request each."""
        return {tag: self.digest(tag) for tag in dict.fromkeys(tags)}

    def digest(self, tag: ImageTag) -> Result[str, str]:
        resting = self._resting.get(tag.registry, 0.0) - self._clock()
        if resting > 0:
            return Failure(f"{tag.registry} asked to wait {resting:.0f} s more (429)")
        path = f"/v2/{tag.repository}/manifests/{urllib.parse.quote(tag.tag)}"
        try:
            answer = self._head(tag, path)
        except (OSError, ValueError) as error:
            reason = getattr(error, "reason", None) or error
            return Failure(f"{tag.registry} could not be reached: {reason}")
        match answer.status:
            case 200:
                digest = _header(answer.headers, "Docker-Content-Digest")
                if not digest:
                    return Failure(f"{tag.registry} gave no Docker-Content-Digest for {tag.name}")
                return Success(digest)
            case 404:
                return Failure(f"{tag.registry} has no tag {tag.name} (removed?)")
            case 401 | 403:
                return Failure(
                    f"{tag.registry} refused access to {tag.repository} ({answer.status})"
                )
            case 429:
                wait = retry_after(_header(answer.headers, "Retry-After"), self._clock())
                self._resting[tag.registry] = self._clock() + wait
                return Failure(f"{tag.registry} limits requests: retry after {wait:.0f} s (429)")
            case status:
                return Failure(f"{tag.registry} answered {status} for {tag.name}")

    def _head(self, tag: ImageTag, path: str) -> _Answer:
        """The HEAD at the registry's endpoint; an insecure registry that speaks no TLS is
        asked again over plain HTTP, and over it from then on, as Docker does."""
        url = endpoint(tag.registry) + path
        if _loopback(tag.registry) or not self._is_insecure(tag.registry):
            return self._head_at(tag, url, None)
        plain = f"http://{tag.registry}{path}"
        if tag.registry in self._plain:
            return self._head_at(tag, plain, None)
        try:
            return self._head_at(tag, url, self._unverified_context())
        except OSError:
            answer = self._head_at(tag, plain, None)
        self._plain.add(tag.registry)
        return answer

    def _is_insecure(self, registry: str) -> bool:
        if registry not in self._counted:
            self._counted[registry] = self._insecure.holds(registry, self._addresses)
        return self._counted[registry]

    def _unverified_context(self) -> ssl.SSLContext:
        """TLS that takes any certificate: what Docker does for an insecure registry."""
        if self._unverified is None:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            self._unverified = context
        return self._unverified

    def _head_at(self, tag: ImageTag, url: str, context: ssl.SSLContext | None) -> _Answer:
        """The HEAD, with a token when the registry asks for one, and once more after a
        short 429."""
        scope = f"repository:{tag.repository}:pull"
        headers = {"Accept": ", ".join(MANIFEST_TYPES)}
        authorization = self._cached(tag.registry, scope)
        for attempt in range(3):
            sent = {**headers, **({"Authorization": authorization} if authorization else {})}
            head = urllib.request.Request(url, headers=sent, method="HEAD")
            answer = self._request(head, context)
            if answer.status == 401 and attempt == 0:
                found = self._authorization(tag.registry, scope, answer.headers)
                if found is not None:
                    authorization = found
                    continue
            if answer.status == 429 and attempt < 2:
                wait = retry_after(_header(answer.headers, "Retry-After"), self._clock())
                if wait <= LONGEST_WAIT:
                    log.event("registry", logging.INFO, registry=tag.registry, waiting=wait)
                    self._sleep(wait)
                    continue
            return answer
        return answer

    def _request(
        self, request: urllib.request.Request, context: ssl.SSLContext | None = None
    ) -> _Answer:
        request.add_header("User-Agent", f"gitops-compose/{__version__}")
        self.requests += 1
        return self._send(request, self._timeout, context)

    def _cached(self, registry: str, scope: str) -> str | None:
        kept = self._tokens.get((registry, scope))
        return kept[0] if kept is not None and kept[1] > self._clock() else None

    def _authorization(self, registry: str, scope: str, headers: Mapping[str, str]) -> str | None:
        """The Authorization a 401's challenge asks for: a Bearer token from its realm
        (fetched with the host's credentials, if any), or Basic credentials."""
        scheme, params = challenge(_header(headers, "WWW-Authenticate") or "")
        credential = self._credentials.of(registry)
        if scheme == "basic":
            if credential is None or credential.password is None:
                return None
            value = f"Basic {_basic(credential)}"
            self._tokens[(registry, scope)] = (value, self._clock() + 3600)
            return value
        realm = params.get("realm")
        if scheme != "bearer" or not realm:
            return None
        service = params.get("service", "")
        wanted = params.get("scope", scope)
        query = urllib.parse.urlencode([("service", service)] * bool(service) + [("scope", wanted)])
        request = urllib.request.Request(f"{realm}?{query}", method="GET")
        if credential is not None and credential.password is not None:
            request.add_header("Authorization", f"Basic {_basic(credential)}")
        answer = self._request(request)
        if answer.status != 200:
            return None
        try:
            document = json.loads(answer.body)
        except ValueError:
            return None
        token = document.get("token") or document.get("access_token")
        if not isinstance(token, str) or not token:
            return None
        lifetime = document.get("expires_in")
        seconds = float(lifetime) if isinstance(lifetime, int | float) else TOKEN_LIFETIME
        value = f"Bearer {token}"
        # Kept a little less than its lifetime, so it never expires on the way.
        self._tokens[(registry, scope)] = (value, self._clock() + max(0.0, seconds - 5))
        return value


def _basic(credential: Credential) -> str:
    pair = f"{credential.username}:{credential.password}".encode()
    return base64.b64encode(pair).decode("ascii")


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), None)
