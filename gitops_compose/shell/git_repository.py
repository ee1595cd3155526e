"""The deploy host's clone, through pygit2 only: clean check, fetch, read, fast-forward.

Both commits are read straight from the object database, so the remote head's stacks are
known before anything on disk changes. Credentials never reach a log: every message that
may hold a URL goes through :func:`redacted`.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import final
from urllib.parse import unquote, urlsplit

import pygit2
from pygit2.enums import CheckoutStrategy, CredentialType, FileMode, FileStatus
from returns.result import Failure, Result, Success

from gitops_compose.core.compose.link import MAX_HOPS, link_destination
from gitops_compose.core.compose.parse_cache import ParseCache
from gitops_compose.core.compose.scope import EVERYWHERE, Scope
from gitops_compose.core.compose.snapshot import ROOT, Snapshot, directory_of
from gitops_compose.core.reconcile.check import Heads
from gitops_compose.core.reconcile.check_failure import CheckFailure

_CLEAN = {FileStatus.CURRENT, FileStatus.IGNORED}
_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")


def redacted(text: str) -> str:
    """``https://user:token@host/x`` -> ``https://***@host/x``."""
    return _USERINFO.sub("***@", text)


# ``host:path`` and ``user@host:path``: SSH, as git reads them (a colon before any slash).
_SCP_LIKE = re.compile(r"^[^/:]+:")


def missing_origin_path(remote: str, url: str | None) -> str | None:
    """Why a remote on this machine cannot be fetched, when its path does not exist;
    None for a URL of another kind, or a path that exists.

    libgit2 reads a path that does not exist as a URL of a protocol it does not know
    (``unsupported URL protocol``), which tells the user nothing.
    """
    if url is None:
        return None
    if url.startswith("file://"):
        path = unquote(url.removeprefix("file://"))
    elif "://" in url or _SCP_LIKE.match(url):
        return None
    else:
        path = url
    if Path(path).exists():
        return None
    return (
        f"its path {path} does not exist (moved or deleted?); point the remote at the "
        f"repository with git remote set-url {remote} NEW-PATH"
    )


def open_repository(path: Path) -> Result[pygit2.Repository, str]:
    try:
        found = pygit2.discover_repository(str(path))
    except (pygit2.GitError, OSError) as error:
        return Failure(f"{path}: {error}")
    if found is None:
        return Failure(f"{path} is not inside a git repository")
    repository = pygit2.Repository(found)
    if repository.is_bare:
        return Failure(f"{path} is a bare repository; gitops-compose needs a working tree")
    return Success(repository)


def name_problem(option: str, name: str) -> str | None:
    """Why ``name``, given as ``--remote`` or ``--branch``, can name no remote or branch."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return f"{option} {name!r} is not UTF-8 text"
    # A remote's branches live under refs/remotes/NAME/: its name must fit there too.
    reference = f"refs/remotes/{name}/main" if option == "--remote" else f"refs/heads/{name}"
    if not pygit2.reference_is_valid_name(reference):
        return f"{option} {name!r} is not a valid git name"
    return None


@final
class GitRepository:
    """A non-bare clone whose HEAD is on ``branch``, tracking ``remote``."""

    def __init__(
        self,
        repository: pygit2.Repository,
        remote: str,
        branch: str,
        ssh_key: Path | None = None,
        *,
        parsing: ParseCache,
        scope: Scope = EVERYWHERE,
    ) -> None:
        self._repository = repository
        self._remote = remote
        self._branch = branch
        self._ssh_key = ssh_key
        self._parsing = parsing
        # The host's subtrees: the Compose files of other stacks are never read.
        self._scope = scope

    @property
    def branch(self) -> str:
        return self._branch

    @property
    def parsing(self) -> ParseCache:
        """The parse cache its commits are read with, the check's too."""
        return self._parsing

    @property
    def workdir(self) -> Path:
        return Path(self._repository.workdir)

    @property
    def git_dir(self) -> Path:
        return Path(self._repository.path)

    @property
    def name(self) -> str:
        """What Compose would call a stack at the repository root: its directory's name."""
        return self.workdir.resolve().name

    def followed(self) -> str:
        """The remote followed and its URL, credentials redacted: what a page may show."""
        url = self.remote_url()
        return self._remote if url is None else f"{self._remote} ({redacted(url)})"

    @property
    def remote(self) -> str:
        """The name of the remote followed."""
        return self._remote

    def remote_url(self) -> str | None:
        """The followed remote's URL as configured, credentials and all: never to show."""
        try:
            url = self._repository.remotes[self._remote].url
        except (KeyError, ValueError, pygit2.GitError):
            return None
        return str(url) if url is not None else None

    def subject(self, commit: str) -> str | None:
        """A commit's subject line, or None when the clone does not hold it."""
        try:
            found = self._repository.get(commit)
        except (ValueError, pygit2.GitError):
            return None
        if not isinstance(found, pygit2.Commit):
            return None
        return found.message.split("\n", 1)[0].strip()

    def dirty_paths(self) -> list[str]:
        """Tracked changes, and untracked files that .gitignore does not ignore."""
        status = self._repository.status(untracked_files="normal", ignored=False)
        return sorted(path for path, flags in status.items() if flags not in _CLEAN)

    def check_branch(self) -> Result[None, CheckFailure]:
        if self._repository.head_is_detached:
            return Failure(CheckFailure("HEAD is detached; check out a branch or pass --branch"))
        if self._repository.head_is_unborn:
            return Failure(CheckFailure("the repository has no commits yet"))
        on = self._repository.head.shorthand
        if on != self._branch:
            return Failure(
                CheckFailure(
                    f"HEAD is on branch {on}, not {self._branch}; check out {self._branch}"
                )
            )
        return Success(None)

    def fetch(self) -> Result[Heads, CheckFailure]:
        try:
            remote = self._repository.remotes[self._remote]
        except KeyError:
            return Failure(CheckFailure(f"no remote named {self._remote}"))
        try:
            remote.fetch(callbacks=_Callbacks(self._ssh_key))
            # The branches the remote has, as it told this fetch (no new connection).
            advertised = {head.name for head in remote.list_heads(connect=False)}
        except (pygit2.GitError, KeyError, ValueError, OSError, CredentialsRejected) as error:
            why = missing_origin_path(self._remote, remote.url) or str(error)
            return Failure(CheckFailure(redacted(f"fetch from {self._remote} failed: {why}")))
        tracking = f"refs/remotes/{self._remote}/{self._branch}"
        if f"refs/heads/{self._branch}" not in advertised:
            # Pruned as `git fetch --prune` would, this one ref only: a stale copy of a
            # deleted branch must not pass for the remote head.
            gone = (
                f"the remote {self._remote} has no branch {self._branch} (deleted or renamed "
                "there?); push it again, or follow another branch with --branch"
            )
            stale = self._repository.references.get(tracking)
            try:
                if stale is not None:
                    stale.delete()
            except (pygit2.GitError, OSError) as error:
                gone += f"; removing the stale {tracking} failed: {error}"
            return Failure(CheckFailure(gone))
        reference = self._repository.references.get(tracking)
        if reference is None:
            # The remote has the branch, but the fetch did not bring it here: the remote's
            # fetch refspecs leave it out.
            return Failure(
                CheckFailure(
                    f"fetching {self._remote} does not update {tracking}; check "
                    f"remote.{self._remote}.fetch in the clone's git config"
                )
            )
        local = self._repository.head.target
        remote_head = reference.target
        descends = local == remote_head or self._repository.descendant_of(remote_head, local)
        return Success(Heads(local=str(local), remote=str(remote_head), remote_descends=descends))

    def snapshot(self, commit: str) -> Snapshot:
        """Every file of a commit by blob id, no contents yet: the loop reads the contents
        the check needs (shell/check.read_commit), so a check that reads no commit does not
        load the Compose file model."""
        return _listing(commit, self._repository[commit].peel(pygit2.Tree))

    def blobs(self, ids: Sequence[str]) -> Mapping[str, bytes]:
        found: dict[str, bytes] = {}
        for each in ids:
            with contextlib.suppress(KeyError, ValueError, pygit2.GitError):
                found[each] = self._blob_data(each)
        return found

    def _blob_data(self, blob_id: str) -> bytes:
        return self._repository[blob_id].peel(pygit2.Blob).data

    def fast_forward(self, target: str) -> Result[None, str]:
        """Check the target out safely, then move the branch: never discards local work."""
        commit = self._repository[target].peel(pygit2.Commit)
        try:
            self._repository.checkout_tree(commit, strategy=CheckoutStrategy.SAFE)  # type: ignore[no-untyped-call]
            self._repository.references[f"refs/heads/{self._branch}"].set_target(
                commit.id, f"gitops-compose: fast-forward to {target[:12]}"
            )
        except (pygit2.GitError, OSError) as error:
            return Failure(f"fast-forward to {target[:12]} failed: {error}")
        return Success(None)


# Symbolic links, as git stores them: a blob holding the target path.
_LINK = FileMode.LINK


def _listing(commit: str, root: pygit2.Tree) -> Snapshot:
    """Every file of a tree by path, a symbolic link as the file it points to.

    Compose reads through links on disk (``staging/compose.yaml -> ../production/compose.yaml``,
    a linked directory of shared config), so the core must see the target's content. A link
    that leaves the repository, points nowhere or loops stays what git holds (the target's
    name) and is listed as dead.
    """
    files: dict[str, str] = {}
    links: dict[str, bytes] = {}
    _list_tree(root, "", files, links)
    dead: dict[str, str] = {}
    for path, text in links.items():
        target = _link_target(root, path, text)
        if isinstance(target, pygit2.Tree):
            del files[path]  # the files below it stand for it
            # Links inside a linked directory go to files only, so link loops cannot recur.
            inner: dict[str, bytes] = {}
            _list_tree(target, f"{path}/", files, inner)
            for inner_path, inner_text in inner.items():
                found = _link_target(root, inner_path, inner_text)
                if isinstance(found, pygit2.Blob):
                    files[inner_path] = str(found.id)
                elif found is None:
                    dead[inner_path] = inner_text.decode(errors="replace")
        elif isinstance(target, pygit2.Blob):
            files[path] = str(target.id)
        else:
            dead[path] = text.decode(errors="replace")
    return Snapshot(commit=commit, blobs=files, dead_links=dead)


def _list_tree(
    tree: pygit2.Tree, prefix: str, files: dict[str, str], links: dict[str, bytes]
) -> None:
    for entry in tree:
        path = f"{prefix}{entry.name}"
        if isinstance(entry, pygit2.Tree):
            _list_tree(entry, f"{path}/", files, links)
        elif isinstance(entry, pygit2.Blob):
            files[path] = str(entry.id)
            if entry.filemode == _LINK:
                links[path] = entry.data
        # A submodule (a commit entry) has no files here to deploy.


def _link_target(root: pygit2.Tree, path: str, text: bytes) -> pygit2.Object | None:
    """The blob or tree a link at ``path`` ends at, inside the repository, or None."""
    for _ in range(MAX_HOPS):
        target = link_destination(directory_of(path), text.decode(errors="replace"))
        if target is None or target == ROOT:
            return None
        try:
            found = root[target]
        except KeyError:
            return None
        if not (isinstance(found, pygit2.Blob) and found.filemode == _LINK):
            return found
        path, text = target, found.data
    return None


class CredentialsRejected(Exception):
    """The remote asked again for credentials it had just been given: it refused them."""

    def __init__(self, url: str, given: str, advice: str) -> None:
        super().__init__(f"authentication failed: {url} rejected {given}; {advice}")


class _Callbacks(pygit2.RemoteCallbacks):
    """Credentials from the URL or SSH; host keys and certificates must check out.

    Each set of credentials is handed over once per URL: libgit2 asks again only when the
    remote refused them, and would otherwise replay them (over HTTP, up to 15 times, which
    servers may count towards locking the account out).
    """

    def __init__(self, ssh_key: Path | None) -> None:
        super().__init__()
        self._ssh_key = ssh_key
        self._given: dict[str, CredentialsRejected] = {}

    def credentials(
        self, url: str, username_from_url: str | None, allowed_types: CredentialType
    ) -> pygit2.UserPass | pygit2.Keypair | pygit2.KeypairFromAgent:
        refused = self._given.get(url)
        if refused is not None:
            raise refused
        user = username_from_url or "git"
        if allowed_types & CredentialType.USERPASS_PLAINTEXT:
            parts = urlsplit(url)
            if parts.username is not None and parts.password is not None:
                self._given[url] = CredentialsRejected(
                    url,
                    "the user and password in the remote URL",
                    "correct them with git remote set-url",
                )
                return pygit2.UserPass(unquote(parts.username), unquote(parts.password))
        if allowed_types & CredentialType.SSH_KEY:
            if self._ssh_key is not None:
                public = self._ssh_key.with_name(self._ssh_key.name + ".pub")
                self._given[url] = CredentialsRejected(
                    url,
                    f"the SSH key {self._ssh_key}",
                    f"add its public key to the authorized keys of {user} on the server",
                )
                return pygit2.Keypair(
                    user, str(public) if public.exists() else None, str(self._ssh_key), ""
                )
            self._given[url] = CredentialsRejected(
                url,
                "every key ssh-agent offered",
                "add the right key to the agent (ssh-add), or pass --ssh-key",
            )
            return pygit2.KeypairFromAgent(user)
        raise pygit2.GitError("the remote asks for credentials that are not configured")

    def certificate_check(self, certificate: None, valid: bool, host: bytes) -> bool:
        # libgit2 checks TLS chains and ~/.ssh/known_hosts; an unknown host is refused,
        # never accepted silently.
        return valid
