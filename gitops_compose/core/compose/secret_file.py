"""Secret files: files of the repository that SOPS encrypted, and how Compose reads them
decrypted.

A file is a secret file by its SOPS metadata, never by its name: a dotenv file with
``sops_version=`` and ``sops_mac=`` keys, a YAML file with a top-level ``sops:`` mapping
holding ``mac`` and ``version``, the same in JSON, an INI file with a ``[sops]`` section,
or a binary file (JSON holding ``data`` and ``sops`` alone). The stack's own files Compose
reads are looked at: its Compose files, its ``.env``, and the files its Compose files name
(``env_file:``, ``secrets:`` and ``configs:`` files, bind-mounted files).

Change detection stays on the encrypted blob: nothing here is asked on a check that starts
nothing. When a stack is started, the shell decrypts its secret files with ``sops`` into a
private directory and runs Compose through ``redirection``: the decrypted Compose files in
place of the encrypted ones, ``--env-file`` for a decrypted ``.env``, and an override file
that points ``env_file:``, bind mounts and ``secrets:``/``configs:`` at the decrypted copies.
Why sops failed is read from its exit code and message (``failure_of``), and said in one
line that names the file (``reason``), never with anything the file holds.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, final

from returns.result import Failure, Result, Success

from gitops_compose.core.compose.compose_merge import merged
from gitops_compose.core.compose.dotenv import variables as dotenv_variables
from gitops_compose.core.compose.interpolation import interpolated
from gitops_compose.core.compose.parse_cache import ParseCache
from gitops_compose.core.compose.snapshot import ENV_FILE, ROOT, repository_path


class SecretFormat(Enum):
    """The formats SOPS writes; the value is its ``--input-type``/``--output-type``."""

    DOTENV = "dotenv"
    YAML = "yaml"
    JSON = "json"
    INI = "ini"
    BINARY = "binary"


@final
@dataclass(frozen=True, slots=True)
class SecretFile:
    """A file of the repository that SOPS encrypted, and the format to decrypt it as."""

    path: str
    format: SecretFormat


_DOTENV_VERSION = re.compile(rb"^sops_version=", re.MULTILINE)
_DOTENV_MAC = re.compile(rb"^sops_mac=", re.MULTILINE)
_YAML_SOPS = re.compile(rb"^sops:[ \t]*\r?$", re.MULTILINE)
_YAML_MAC = re.compile(rb"^[ \t]+mac:", re.MULTILINE)
_YAML_VERSION = re.compile(rb"^[ \t]+version:", re.MULTILINE)
_INI_SOPS = re.compile(rb"^\[sops\][ \t]*\r?$", re.MULTILINE)
_INI_MAC = re.compile(rb"^mac[ \t]*=", re.MULTILINE)
_INI_VERSION = re.compile(rb"^version[ \t]*=", re.MULTILINE)


def secret_format(raw: bytes, name: str = "") -> SecretFormat | None:
    """The SOPS format of a file by its metadata, or None for a file SOPS did not encrypt.
    ``name`` only tells a JSON file from a binary one, which look alike: a JSON document
    holding ``data`` and ``sops`` alone is a binary file unless its name ends in ``.json``."""
    if b"sops" not in raw:
        return None  # nearly every file: one scan
    if raw.lstrip()[:1] == b"{":
        return _json_format(raw, name)
    if _DOTENV_VERSION.search(raw) and _DOTENV_MAC.search(raw):
        return SecretFormat.DOTENV
    if _YAML_SOPS.search(raw) and _YAML_MAC.search(raw) and _YAML_VERSION.search(raw):
        return SecretFormat.YAML
    if _INI_SOPS.search(raw) and _INI_MAC.search(raw) and _INI_VERSION.search(raw):
        return SecretFormat.INI
    return None


def _json_format(raw: bytes, name: str) -> SecretFormat | None:
    try:
        document = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(document, dict):
        return None
    metadata = document.get("sops")
    if not isinstance(metadata, dict) or "mac" not in metadata or "version" not in metadata:
        return None
    binary = document.keys() == {"data", "sops"} and isinstance(document["data"], str)
    return SecretFormat.BINARY if binary and not name.endswith(".json") else SecretFormat.JSON


def secret_files(contents: Mapping[str, bytes]) -> tuple[SecretFile, ...]:
    """The secret files among these (repository path -> contents), by path."""
    found = []
    for path in sorted(contents):
        format = secret_format(contents[path], path)
        if format is not None:
            found.append(SecretFile(path, format))
    return tuple(found)


# --- why sops failed ------------------------------------------------------------------------


class DecryptionFailure(Enum):
    """Why a secret file could not be decrypted; the value is how a person is told."""

    NO_SOPS = "no sops command on PATH"
    NO_KEY = "no age key found (set SOPS_AGE_KEY_FILE, SOPS_AGE_KEY or --sops-age-key-file)"
    KEY_FILE = "the age key file cannot be read"
    WRONG_KEY = "no age key matches"
    CORRUPTED = "the file is corrupted or not what its SOPS metadata says"
    FAILED = "sops failed"
    TIMED_OUT = "sops took too long"


def failure_of(exit_code: int, said: str) -> DecryptionFailure:
    """Why sops, exiting ``exit_code`` with ``said`` on stderr, decrypted nothing."""
    text = " ".join(said.split()).lower()
    if "did not match any of the recipients" in text or "incorrect identity" in text:
        return DecryptionFailure.WRONG_KEY
    if "failed to open sops_age_key_file" in text or ("failed to parse" in text and "age" in text):
        return DecryptionFailure.KEY_FILE
    if "failed to load age identities" in text or "did not find keys" in text:
        return DecryptionFailure.NO_KEY
    if exit_code == 128:  # CouldNotRetrieveKey: no key source worked
        return DecryptionFailure.WRONG_KEY
    corrupted = (
        "could not decrypt",
        "mac mismatch",
        "unmarshal",
        "error walking tree",
        "authentication failed",
        "invalid character",
        "error loading file",
        "sops metadata not found",
    )
    if any(each in text for each in corrupted):
        return DecryptionFailure.CORRUPTED
    return DecryptionFailure.FAILED


def reason(path: str, failure: DecryptionFailure, exit_code: int | None = None) -> str:
    """``cannot decrypt my_app/production/.env: no age key matches (sops exit 128)``."""
    code = "" if exit_code is None else f" (sops exit {exit_code})"
    return f"cannot decrypt {path}: {failure.value}{code}"


# --- Compose pointed at the decrypted files -------------------------------------------------


@final
@dataclass(frozen=True, slots=True)
class Redirection:
    """How Compose runs a stack from its decrypted files (absolute paths)."""

    # The Compose files to pass, in order: decrypted copies in place of encrypted ones.
    compose_files: tuple[str, ...]
    # The decrypted .env, for --env-file; None when the stack's .env is not a secret.
    env_file: str | None
    # An override file's text (YAML), to pass after the Compose files; None when no
    # env_file, mount, secret or config names a decrypted file.
    override: str | None


def redirection(
    stack: str,
    compose_files: Sequence[str],
    documents: Sequence[bytes],
    decrypted: Mapping[str, str],
    base: str,
    *,
    variables: Mapping[str, str],
    parsing: ParseCache,
) -> Result[Redirection, str]:
    """How Compose finds the decrypted copies of a stack's secret files.

    ``compose_files`` are repository paths, ``documents`` their contents (decrypted where
    encrypted), ``decrypted`` each secret file's repository path -> the absolute path of its
    decrypted copy, and ``base`` the absolute directory the repository's files are in. A
    secret file Compose would read in a way no override can point elsewhere (through an
    ``include:``, ``extends:``, a label file or a build) is refused, naming it.
    """
    env = decrypted.get(_beside(stack, ENV_FILE))
    known = variables
    files = tuple(decrypted.get(path, f"{base}/{path}") for path in compose_files)
    parsed = merged(documents, parsing.parse)
    if isinstance(parsed, Failure):
        return Failure(f"invalid compose file: {parsed.failure()}")
    document = parsed.unwrap()
    used = {_beside(stack, ENV_FILE), *compose_files}
    lines: list[str] = []
    services = document.get("services")
    service_lines: list[str] = []
    for name, body in services.items() if isinstance(services, dict) else ():
        if not isinstance(body, dict):
            continue
        own: list[str] = []
        env_files = _redirected_env_files(stack, body.get("env_file"), decrypted, known, used)
        if env_files is not None:
            own.append(f"    env_file: !override {json.dumps(env_files)}")
        volumes = _redirected_volumes(stack, body.get("volumes"), decrypted, known, used)
        if volumes is not None:
            own.append(f"    volumes: !override {json.dumps(volumes)}")
        if own:
            service_lines += [f"  {json.dumps(str(name))}:", *own]
    if service_lines:
        lines += ["services:", *service_lines]
    for section in ("secrets", "configs"):
        definitions = document.get(section)
        section_lines = []
        for key, definition in definitions.items() if isinstance(definitions, dict) else ():
            file = definition.get("file") if isinstance(definition, dict) else None
            target = _secret(stack, file, decrypted, known)
            if target is not None:
                used.add(target)
                section_lines.append(
                    f"  {json.dumps(str(key))}: {{file: {json.dumps(decrypted[target])}}}"
                )
        if section_lines:
            lines += [f"{section}:", *section_lines]
    left = sorted(path for path in decrypted if path not in used)
    if left:
        return Failure(
            f"{left[0]} is encrypted with SOPS, and Compose reads it other than as the "
            "stack's Compose file, .env, an env_file, a bind-mounted file or a secrets:/"
            "configs: file, where it cannot be given decrypted"
        )
    override = "\n".join(lines) + "\n" if lines else None
    return Success(Redirection(files, env, override))


def stack_variables(raw: bytes | None) -> dict[str, str]:
    """The variables of a stack's (decrypted) .env, to resolve the paths its files name."""
    return {} if raw is None else dotenv_variables(raw)


def _beside(stack: str, name: str) -> str:
    return name if stack == ROOT else f"{stack}/{name}"


def _secret(
    stack: str, written: object, decrypted: Mapping[str, str], known: Mapping[str, str]
) -> str | None:
    """The secret file a path written in the stack's Compose file names, if it is one."""
    if not isinstance(written, str):
        return None
    path = interpolated(written, known)
    target = repository_path(stack, path) if path is not None else None
    return target if target is not None and target in decrypted else None


def _listed(value: object) -> list[Any]:
    if isinstance(value, list):
        return value
    return [] if value is None else [value]


def _redirected_env_files(
    stack: str,
    value: object,
    decrypted: Mapping[str, str],
    known: Mapping[str, str],
    used: set[str],
) -> list[Any] | None:
    entries = _listed(value)
    found: list[Any] = []
    changed = False
    for entry in entries:
        path = entry.get("path") if isinstance(entry, dict) else entry
        target = _secret(stack, path, decrypted, known)
        if target is None:
            found.append(entry)
            continue
        used.add(target)
        changed = True
        # A decrypted dotenv file is read as Compose reads any.
        found.append(
            {**entry, "path": decrypted[target]} if isinstance(entry, dict) else decrypted[target]
        )
    return found if changed else None


def _redirected_volumes(
    stack: str,
    value: object,
    decrypted: Mapping[str, str],
    known: Mapping[str, str],
    used: set[str],
) -> list[Any] | None:
    found: list[Any] = []
    changed = False
    for volume in _listed(value):
        if isinstance(volume, dict):
            target = _secret(stack, volume.get("source"), decrypted, known)
            if target is not None and volume.get("type") == "bind":
                used.add(target)
                changed = True
                found.append({**volume, "source": decrypted[target]})
                continue
        elif isinstance(volume, str):
            source, colon, rest = volume.partition(":")
            target = _secret(stack, source, decrypted, known) if colon else None
            if target is not None:
                used.add(target)
                changed = True
                found.append(f"{decrypted[target]}:{rest}")
                continue
        found.append(volume)
    return found if changed else None
