"""A stack's secret files decrypted for Compose: sops writes each into the project's
private directory (see plaintext), and Compose's commands are pointed at them there.

Only a stack with secret files (see core/compose/secret_file) needs this module, and with
it sops and the secret-file model: a check loads it through its seam (shell/features) at
the first such stack, never when it has nothing to start.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, final

from returns.result import Failure, Result, Success

from gitops_compose.core.compose.secret_file import (
    Redirection,
    SecretFile,
    redirection,
    stack_variables,
)
from gitops_compose.core.compose.snapshot import ENV_FILE, ROOT
from gitops_compose.shell.plaintext import PlaintextDirectory
from gitops_compose.shell.sops import Sops

if TYPE_CHECKING:
    from gitops_compose.core.compose.parse_cache import ParseCache

# The override file that points Compose at a stack's decrypted files (see secret_file).
OVERRIDE_FILE = ".gitops-secrets.yaml"


@final
class Decryption:
    def __init__(self, plaintext: PlaintextDirectory, sops: Sops, parsing: ParseCache) -> None:
        self._plaintext = plaintext
        self._sops = sops
        self._parsing = parsing

    def redirected(
        self,
        commands: Sequence[Sequence[str]],
        *,
        project: str,
        stack: str,
        compose_files: Sequence[str],
        secrets: Sequence[SecretFile],
        base: Path,
    ) -> Result[list[list[str]], str]:
        """Decrypt a stack's secret files (written out below ``base``) into the project's
        private directory, and its Compose commands pointed at them there."""
        found = self._decrypted(project, stack, compose_files, secrets, base)
        if isinstance(found, Failure):
            return found
        return Success(
            [redirected(each, base, compose_files, *found.unwrap()) for each in commands]
        )

    def _decrypted(
        self,
        project: str,
        stack: str,
        compose_files: Sequence[str],
        secrets: Sequence[SecretFile],
        base: Path,
    ) -> Result[tuple[Redirection, Path | None], str]:
        try:
            directory = self._plaintext.fresh(project)
        except OSError as error:
            where = self._plaintext.root
            return Failure(f"cannot make a private directory in {where}: {error.strerror}")
        decrypted: dict[str, str] = {}
        plain: dict[str, bytes] = {}
        for secret in secrets:
            found = self._sops.decrypt(base / secret.path, secret)
            if isinstance(found, Failure):
                self._plaintext.remove(project)
                return found
            plain[secret.path] = found.unwrap()
            try:
                written = PlaintextDirectory.write(directory, secret.path, plain[secret.path])
            except OSError as error:
                self._plaintext.remove(project)
                return Failure(f"cannot write the decrypted {secret.path}: {error.strerror}")
            decrypted[secret.path] = str(written)
        env = ENV_FILE if stack == ROOT else f"{stack}/{ENV_FILE}"
        try:
            documents = [_contents(plain, base, path) for path in compose_files]
            env_raw = (
                _contents(plain, base, env) if env in plain or (base / env).is_file() else None
            )
        except OSError as error:
            self._plaintext.remove(project)
            return Failure(f"cannot read the Compose files of {stack}: {error.strerror}")
        redirected = redirection(
            stack,
            compose_files,
            documents,
            decrypted,
            str(base),
            variables=stack_variables(env_raw),
            parsing=self._parsing,
        )
        if isinstance(redirected, Failure):
            self._plaintext.remove(project)
            return Failure(f"{stack}: {redirected.failure()}")
        found_redirection = redirected.unwrap()
        override = None
        if found_redirection.override is not None:
            override = PlaintextDirectory.write(
                directory, OVERRIDE_FILE, found_redirection.override.encode()
            )
        return Success((found_redirection, override))


def _contents(plain: Mapping[str, bytes], base: Path, path: str) -> bytes:
    """A file's decrypted contents where it is a secret file, else as it is written out."""
    return plain[path] if path in plain else (base / path).read_bytes()


def redirected(
    command: Sequence[str],
    base: Path,
    compose_files: Sequence[str],
    redirection: Redirection,
    override: Path | None,
) -> list[str]:
    """A Compose command run from a stack's decrypted files: decrypted Compose files in
    place of encrypted ones, then the override file and the decrypted .env."""
    instead = {
        str(base / path): placed
        for path, placed in zip(compose_files, redirection.compose_files, strict=True)
    }
    found: list[str] = []
    last = -1
    for index, each in enumerate(command):
        after_file = index > 0 and command[index - 1] == "--file"
        found.append(instead.get(each, each) if after_file else each)
        if after_file:
            last = index
    extra: list[str] = []
    if override is not None:
        extra += ["--file", str(override)]
    if redirection.env_file is not None:
        extra += ["--env-file", redirection.env_file]
    if last < 0:
        return found
    return [*found[: last + 1], *extra, *found[last + 1 :]]
