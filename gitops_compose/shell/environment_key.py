"""The host's key for the values of its environment, so that none reaches the state file.

A check keeps, beside a stack's expected configuration hashes, a digest of the values of
the variables its files read (core/reconcile/configuration.py), to know later whether the
hashes still hold. A plain hash of one short value, a password say, is guessed offline
from a world-readable state file. So the core is never given the values: the shell gives
it each value's HMAC-SHA256 under a random key of this host, kept beside the state in a
file only its owner reads. A value changed or unset still shows as a changed digest.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
from collections.abc import Mapping
from pathlib import Path

KEY_NAME = "environment.key"
_KEY_BYTES = 32


def environment_key(directory: Path, *, make: bool = True) -> bytes:
    """The host's key, made on first use unless ``make`` is false (``plan`` writes
    nothing); owner-only, never replaced. When there is none and none can be made (a
    read-only state directory), a key for this process alone: its digests match none kept
    before, which costs a ``config --hash`` per stack on a full pass and never a value in a
    file."""
    path = directory / KEY_NAME
    for _ in range(2):
        with contextlib.suppress(OSError):
            key = path.read_bytes()
            if len(key) == _KEY_BYTES:
                return key
        if not make or not _made(path):
            break
    return os.urandom(_KEY_BYTES)


def _made(path: Path) -> bool:
    """Write a new key whole, or find one another process wrote meanwhile."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(handle, "wb") as file:
            file.write(os.urandom(_KEY_BYTES))
            file.flush()
            os.fsync(file.fileno())
        # A link never replaces: of two first checks at once, one key wins for both.
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
        os.unlink(temporary)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        return False
    return True


def keyed(environment: Mapping[str, str], key: bytes) -> dict[str, str]:
    """Each variable with its value's HMAC under the key in place of the value."""
    return {
        name: hmac.new(key, value.encode("utf-8", "surrogateescape"), hashlib.sha256).hexdigest()
        for name, value in environment.items()
    }
