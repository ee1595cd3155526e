"""The state directory: the state file, written atomically, and the lock of one check.

The default directory is inside the repository's ``.git``, so the working tree stays clean.
A lock is an ``flock`` on a file, which the kernel drops with its process: a killed check
never blocks the next one, unlike a pid file.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import os
import time
from collections.abc import Iterator
from pathlib import Path

from returns.result import Failure

from gitops_compose.core.reconcile.state import State, state_from_json, state_to_json

STATE_NAME = "state.json"
LOCK_NAME = "lock"


class Busy(Exception):
    """Another check holds this state directory's lock."""


def load_state(directory: Path, *, set_aside: bool = True) -> tuple[State, str | None]:
    """The saved state, and a warning when the file could not be used.

    A missing file is a fresh start. A corrupt or newer file is renamed aside (unless the
    caller only reads), never deleted, so nothing is lost and the next check starts from
    the host as it is.
    """
    path = directory / STATE_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return State(), None
    except (OSError, UnicodeDecodeError) as error:
        text = f"\0unreadable: {error}"
    parsed = state_from_json(text)
    if isinstance(parsed, Failure) and not set_aside:
        return State(), f"state file {path} is unusable ({parsed.failure()})"
    if isinstance(parsed, Failure):
        aside = path.with_name(f"{STATE_NAME}.unusable-{time.strftime('%Y%m%dT%H%M%S')}")
        try:
            path.rename(aside)
        except OSError as error:
            return State(), f"state file {path} is unusable ({parsed.failure()}) ({error})"
        return State(), (
            f"state file {path} is unusable ({parsed.failure()}); moved it to {aside.name} "
            "and started from the host as it is"
        )
    return parsed.unwrap(), None


def save_state(directory: Path, state: State) -> None:
    write_atomically(directory / STATE_NAME, state_to_json(state).encode())


def write_atomically(path: Path, content: bytes) -> None:
    """Temp file beside the target, fsync, rename: a reader sees the old or the new file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # A name of this process's own (tempfile's would cost the import of random and hashlib
    # on every check); O_EXCL never reuses a file that is there.
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{next(_TEMPORARY)}")
    handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


_TEMPORARY = itertools.count()


@contextlib.contextmanager
def check_lock(directory: Path) -> Iterator[None]:
    """Hold the state directory's lock for one check; raises Busy at once if taken."""
    directory.mkdir(parents=True, exist_ok=True)
    handle = os.open(directory / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Busy(f"another check holds the lock {directory / LOCK_NAME}") from None
        yield
    finally:
        os.close(handle)
