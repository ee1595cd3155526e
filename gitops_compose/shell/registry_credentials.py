"""The host's registry credentials, found as ``docker pull`` finds them.

Docker's ``config.json`` (in ``$DOCKER_CONFIG``, else ``~/.docker``): a registry named in
``credHelpers`` asks that helper; else, with a ``credsStore``, the store's helper; else
the ``auths`` entry's ``auth`` (base64 of ``user:password``). A helper is the program
``docker-credential-<name>``, run with ``get`` and the registry on its input, answering
``{"Username": …, "Secret": …}``. Nothing found: the registry is asked anonymously.
Credentials are never logged.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import final

from gitops_compose.core.reconcile.image import DOCKER_HUB

# How Docker names Docker Hub in config.json.
DOCKER_HUB_KEY = "https://index.docker.io/v1/"


@final
@dataclass(frozen=True, slots=True)
class Credential:
    username: str
    password: str | None = field(default=None, repr=False)


def config_path(environment: Mapping[str, str]) -> Path:
    directory = environment.get("DOCKER_CONFIG")
    if directory:
        return Path(directory) / "config.json"
    return Path(environment.get("HOME") or Path.home()) / ".docker" / "config.json"


@final
class Credentials:
    """What config.json says for each registry, read once, each helper asked once."""

    def __init__(self, config: Mapping[str, object], helper_timeout: float = 30.0) -> None:
        self._config = config
        self._timeout = helper_timeout
        self._found: dict[str, Credential | None] = {}

    @classmethod
    def of_host(cls, environment: Mapping[str, str] = os.environ) -> Credentials:
        """The host's config.json; none, or one that cannot be read: no credentials."""
        try:
            found = json.loads(config_path(environment).read_text())
        except (OSError, ValueError):
            found = {}
        return cls(found if isinstance(found, dict) else {})

    def of(self, registry: str) -> Credential | None:
        if registry not in self._found:
            self._found[registry] = self._look_up(registry)
        return self._found[registry]

    def _look_up(self, registry: str) -> Credential | None:
        key = DOCKER_HUB_KEY if registry == DOCKER_HUB else registry
        helpers = self._config.get("credHelpers")
        helper = helpers.get(key) if isinstance(helpers, dict) else None
        store = self._config.get("credsStore")
        if isinstance(helper, str) and helper:
            return _from_helper(helper, key, self._timeout)
        if isinstance(store, str) and store:
            found = _from_helper(store, key, self._timeout)
            if found is not None:
                return found
        return self._from_auths(registry, key)

    def _from_auths(self, registry: str, key: str) -> Credential | None:
        auths = self._config.get("auths")
        if not isinstance(auths, dict):
            return None
        entry = auths.get(key)
        if entry is None:
            # Written as a URL: https://registry.example.com or http://host:5000/v2/.
            entry = next(
                (
                    value
                    for name, value in auths.items()
                    if isinstance(name, str)
                    and name.split("://", 1)[-1].split("/", 1)[0] == registry
                ),
                None,
            )
        if not isinstance(entry, dict):
            return None
        encoded = entry.get("auth")
        if isinstance(encoded, str) and encoded:
            try:
                pair = base64.b64decode(encoded, validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                return None
            user, colon, secret = pair.partition(":")
            return Credential(user, secret) if colon else None
        username, password = entry.get("username"), entry.get("password")
        if isinstance(username, str) and isinstance(password, str):
            return Credential(username, password)
        return None


def _from_helper(name: str, server: str, timeout: float) -> Credential | None:
    """``docker-credential-<name> get``; its errors (none stored, no such program) are
    no credentials, as for Docker."""
    try:
        found = subprocess.run(
            [f"docker-credential-{name}", "get"],
            input=server,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if found.returncode != 0:
        return None
    try:
        document = json.loads(found.stdout)
    except ValueError:
        return None
    username, secret = document.get("Username"), document.get("Secret")
    if not isinstance(username, str) or not isinstance(secret, str) or not secret:
        return None
    return Credential(username, secret)
