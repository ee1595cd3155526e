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
from typing import final

from returns.result import Failure, Result, Success

from gitops_compose.core.reconcile.state import State, state_from_json, state_to_json
from gitops_compose.core.value import Value

STATE_NAME = "state.json"
LOCK_NAME = "lock"


class Busy(Exception):
    """Another check holds this state directory's lock."""


@final
class Unusable(Value):
    """A state file that is there but cannot be trusted, and why."""

    path: Path
    why: str
    # The file could not be read at all (an OS error, ``why`` says which), rather than
    # read and found not to be a state.
    unreadable: bool = False


def read_state(directory: Path) -> Result[State, Unusable]:
    """The saved state of a state directory: the one place its file is read. A missing
    file is a fresh start; anything else that is not a state is ``Unusable``. Never writes,
    never raises."""
    path = directory / STATE_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Success(State())
    except OSError as error:
        return Failure(Unusable(path, str(error.strerror or error), unreadable=True))
    except UnicodeDecodeError as error:
        return Failure(Unusable(path, f"not UTF-8 text ({error.reason})"))
    return state_from_json(text).alt(lambda why: Unusable(path, why))


def load_state(directory: Path, *, set_aside: bool = True) -> tuple[State, str | None]:
    """The saved state, and a warning when the file could not be used.

    A missing file is a fresh start. A corrupt or newer file is renamed aside (unless the
    caller only reads), never deleted, so nothing is lost and the next check starts from
    the host as it is.
    """
    read = read_state(directory)
    if not isinstance(read, Failure):
        return read.unwrap(), None
    unusable = read.failure()
    path = unusable.path
    if not set_aside:
        return State(), f"state file {path} is unusable ({unusable.why})"
    aside = path.with_name(f"{STATE_NAME}.unusable-{time.strftime('%Y%m%dT%H%M%S')}")
    try:
        path.rename(aside)
    except OSError as error:
        return State(), f"state file {path} is unusable ({unusable.why}) ({error})"
    return State(), (
        f"state file {path} is unusable ({unusable.why}); moved it to {aside.name} "
        "and started from the host as it is"
    )


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
