"""Where a forge's commit-status API is, for which repository, and what a request to it is.

``--commit-status FORGE`` names the forge; the API's base URL and the repository come from
the remote's URL unless ``--forge-url`` and ``--forge-repo`` say otherwise:

- GitHub: ``https://api.github.com`` for github.com (``SCHEME://HOST/api/v3`` for another
  host, GitHub Enterprise Server); ``POST /repos/{owner}/{repo}/statuses/{sha}`` with
  ``Authorization: Bearer TOKEN`` and ``{state, description, context}``.
- Gitea and Forgejo: ``SCHEME://HOST/api/v1`` (after the path prefix an HTTP(S) remote
  has); ``POST /repos/{owner}/{repo}/statuses/{sha}`` with ``Authorization: token TOKEN``
  and the same fields.
- GitLab: ``SCHEME://HOST/api/v4``; ``POST /projects/{id}/statuses/{sha}``, the id being
  the project's path URL-encoded (groups and subgroups included), with ``PRIVATE-TOKEN:
  TOKEN`` and ``{state, name, description}``, ``failed`` for a failure.

The repository is the remote URL's path (``.git`` left off) for HTTPS, SSH and scp-like
(``git@host:owner/name.git``) remotes: its last two segments for GitHub and Gitea, all of it
for GitLab. A URL's user and password never go into the API's URL. SCHEME is the remote's
for an HTTP(S) remote (its port too), else ``https``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from enum import Enum
from typing import final
from urllib.parse import quote, urlsplit

from returns.result import Failure, Result, Success

from gitops_compose.core.reconcile.commit_status import CommitStatus, Verdict


class Forge(Enum):
    GITHUB = "github"
    GITEA = "gitea"
    GITLAB = "gitlab"


FORGES = tuple(each.value for each in Forge)
GITHUB_API = "https://api.github.com"


@final
@dataclass(frozen=True, slots=True)
class RemoteAddress:
    """A remote URL's parts that say where its forge is; never its user or password."""

    # "http" or "https" for an HTTP(S) remote, "ssh" for the rest.
    scheme: str
    host: str
    port: int | None
    # Its path's segments, ``.git`` left off the last.
    segments: tuple[str, ...]


# ``user@host:path`` or ``host:path`` (a colon before any slash), as git reads it.
_SCP_LIKE = re.compile(r"^(?:[^@/]+@)?(?P<host>[^:/]+):(?P<path>.*)$")


def address_of(url: str) -> RemoteAddress | None:
    """The forge's side of a remote URL; None for a local path or ``file://``."""
    if "://" in url:
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            return None
        scheme = parts.scheme.lower()
        if scheme == "file" or not parts.hostname:
            return None
        kind = scheme if scheme in {"http", "https"} else "ssh"
        return RemoteAddress(
            kind, parts.hostname, port if kind != "ssh" else None, _segments(parts.path)
        )
    found = _SCP_LIKE.match(url)
    if found is None:
        return None
    return RemoteAddress("ssh", found.group("host"), None, _segments(found.group("path")))


def _segments(path: str) -> tuple[str, ...]:
    segments = [each for each in path.strip("/").split("/") if each]
    if segments and segments[-1].endswith(".git"):
        segments[-1] = segments[-1].removesuffix(".git")
    return tuple(each for each in segments if each)


@final
@dataclass(frozen=True, slots=True)
class ForgeTarget:
    """Where statuses go: the forge, its API's base URL (no trailing slash), the
    repository (``owner/name``, or GitLab's project path)."""

    forge: Forge
    api: str
    repository: str


def target_of(
    forge: Forge, remote_url: str | None, api: str | None, repository: str | None
) -> Result[ForgeTarget, str]:
    """The target from the remote's URL, with ``--forge-url`` (api) and ``--forge-repo``
    (repository) over what it gives; Failure: one line saying what to pass."""
    address = address_of(remote_url) if remote_url else None
    if api is None:
        derived = api_of(forge, address)
        if isinstance(derived, Failure):
            return derived
        api = derived.unwrap()
    if repository is None:
        found = repository_of(forge, address)
        if isinstance(found, Failure):
            return found
        repository = found.unwrap()
    return Success(ForgeTarget(forge, api, repository))


def api_of(forge: Forge, address: RemoteAddress | None) -> Result[str, str]:
    """The API's base URL the remote's address gives."""
    if address is None:
        if forge is Forge.GITHUB:
            return Success(GITHUB_API)
        return Failure("the remote is a local path, so its forge is unknown; pass --forge-url URL")
    host = address.host.lower()
    if forge is Forge.GITHUB and host in {"github.com", "www.github.com"}:
        return Success(GITHUB_API)
    scheme = address.scheme if address.scheme in {"http", "https"} else "https"
    bracketed = f"[{host}]" if ":" in host else host
    root = f"{scheme}://{bracketed}" + (f":{address.port}" if address.port else "")
    if forge is Forge.GITHUB:
        return Success(f"{root}/api/v3")
    if forge is Forge.GITLAB:
        return Success(f"{root}/api/v4")
    prefix = address.segments[:-2] if address.scheme != "ssh" else ()
    return Success("/".join((root, *prefix, "api/v1")))


def repository_of(forge: Forge, address: RemoteAddress | None) -> Result[str, str]:
    """``owner/name`` (GitLab: the project's whole path) the remote's address gives."""
    if address is None:
        return Failure("the remote is a local path; pass --forge-repo OWNER/NAME")
    if len(address.segments) < 2:
        shown = "/".join(address.segments) or "/"
        return Failure(
            f"the remote's path {shown!r} names no OWNER/NAME; pass --forge-repo OWNER/NAME"
        )
    if forge is Forge.GITLAB:
        return Success("/".join(address.segments))
    return Success("/".join(address.segments[-2:]))


def repository_problem(forge: Forge, repository: str) -> str | None:
    """What is wrong with a ``--forge-repo`` value, or None."""
    segments = repository.strip("/").split("/")
    wanted = "GROUP/.../NAME" if forge is Forge.GITLAB else "OWNER/NAME"
    if any(not each or each != each.strip() or each in {".", ".."} for each in segments):
        return f"--forge-repo takes {wanted}, not {repository!r}"
    if len(segments) < 2 or (forge is not Forge.GITLAB and len(segments) != 2):
        return f"--forge-repo takes {wanted}, not {repository!r}"
    return None


def api_problem(url: str) -> str | None:
    """What is wrong with a ``--forge-url`` value, or None."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a bad port raises
    except ValueError:
        return "--forge-url takes an http:// or https:// URL"
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return "--forge-url takes an http:// or https:// URL"
    if parts.username is not None or parts.password is not None:
        return "--forge-url must carry no user or password; the token goes in --forge-token-file"
    if parts.query or parts.fragment:
        return "--forge-url takes the API's base URL, without a query"
    return None


@final
@dataclass(frozen=True, slots=True)
class StatusRequest:
    """One POST to the forge: where, its headers (the token's among them) and its body."""

    url: str
    headers: tuple[tuple[str, str], ...] = field(repr=False)
    body: bytes


def status_request(target: ForgeTarget, token: str, status: CommitStatus) -> StatusRequest:
    """The request that posts ``status`` to the forge, as its documentation gives it."""
    sha = quote(status.sha, safe="")
    common = (("Content-Type", "application/json"), ("User-Agent", "gitops-compose"))
    if target.forge is Forge.GITLAB:
        project = quote(target.repository, safe="")
        state = "failed" if status.verdict is Verdict.FAILURE else status.verdict.value
        fields = {"state": state, "name": status.context, "description": status.description}
        return StatusRequest(
            f"{target.api}/projects/{project}/statuses/{sha}",
            (("PRIVATE-TOKEN", token), *common),
            json.dumps(fields).encode(),
        )
    path = "/".join(quote(each, safe="") for each in target.repository.split("/"))
    fields = {
        "state": status.verdict.value,
        "description": status.description,
        "context": status.context,
    }
    headers: tuple[tuple[str, str], ...]
    if target.forge is Forge.GITHUB:
        headers = (
            ("Authorization", f"Bearer {token}"),
            ("Accept", "application/vnd.github+json"),
            ("X-GitHub-Api-Version", "2022-11-28"),
            *common,
        )
    else:
        headers = (("Authorization", f"token {token}"), ("Accept", "application/json"), *common)
    return StatusRequest(
        f"{target.api}/repos/{path}/statuses/{sha}", headers, json.dumps(fields).encode()
    )
