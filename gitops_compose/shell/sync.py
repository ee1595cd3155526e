"""``sync``: ask the running daemon of a state directory to check now, over a Unix socket
in that directory, so it works with ``--no-metrics`` and needs no port.

The daemon listens on ``<state-dir>/sync.sock`` (made by its user, under its umask). A client
sends ``check`` or ``wait`` on one line; the daemon answers ``queued``, and for ``wait``,
once the first check started after the request ended, ``done <exit code>``.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import final

from gitops_compose.shell.due import Due

SOCKET_NAME = "sync.sock"
_LONGEST_REQUEST = 64


class NoDaemon(Exception):
    """Nothing listens on the state directory's socket: no daemon runs for it."""


class AnotherDaemon(Exception):
    """A daemon already answers on the state directory's socket."""


@contextlib.contextmanager
def _inside(directory: Path) -> Iterator[None]:
    """In ``directory``, to name the socket by its short relative name: a Unix socket's path
    may hold 107 bytes at most, and state directories can be deeper than that. Used only
    while no other thread of the process depends on the working directory."""
    here = os.open(".", os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.chdir(directory)
        yield
    finally:
        os.fchdir(here)
        os.close(here)


def _connect(state_dir: Path) -> socket.socket:
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        with _inside(state_dir):
            client.connect(SOCKET_NAME)
    except OSError:
        client.close()
        raise
    return client


@final
class SyncServer:
    """Answers ``sync`` clients from threads of its own until closed."""

    def __init__(self, state_dir: Path, due: Due) -> None:
        self._path = state_dir / SOCKET_NAME
        self._due = due
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._bind(state_dir)
        except BaseException:
            self._listener.close()
            raise
        self._identity = _identity(self._path)
        threading.Thread(target=self._accept, name="sync", daemon=True).start()

    def _bind(self, state_dir: Path) -> None:
        try:
            _connect(state_dir).close()
        except (ConnectionRefusedError, FileNotFoundError):
            pass  # nothing listens: a socket left by a killed daemon is taken over
        else:
            raise AnotherDaemon(f"another daemon answers on {self._path}")
        with _inside(state_dir):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(SOCKET_NAME)
            self._listener.bind(SOCKET_NAME)
        self._listener.listen(16)

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return  # closed
            threading.Thread(
                target=self._answer, args=(connection,), name="sync-client", daemon=True
            ).start()

    def _answer(self, connection: socket.socket) -> None:
        with connection, contextlib.suppress(OSError):
            connection.settimeout(10)
            request = connection.recv(_LONGEST_REQUEST).strip()
            if request not in (b"check", b"wait"):
                connection.sendall(b"unknown request\n")
                return
            ticket = self._due.ask()
            connection.sendall(b"queued\n")
            if request == b"wait":
                connection.settimeout(None)
                ticket.answered.wait()
                if ticket.code is None:
                    return  # the daemon stops: the client says it went away
                connection.sendall(f"done {ticket.code}\n".encode())

    def close(self) -> None:
        """Stop listening, and remove the socket unless another daemon has replaced it."""
        self._listener.close()
        if _identity(self._path) == self._identity:
            with contextlib.suppress(OSError):
                self._path.unlink()


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        found = path.lstat()
    except OSError:
        return None
    return (found.st_dev, found.st_ino) if stat.S_ISSOCK(found.st_mode) else None


def request_check(state_dir: Path, *, wait: bool, said: Callable[[str], None]) -> int | None:
    """Ask the daemon of ``state_dir`` for a check; with ``wait``, the exit code of that
    check, else None once it is queued. Raises NoDaemon when none answers, and
    ConnectionError when the daemon went away before it answered."""
    try:
        client = _connect(state_dir)
    except (ConnectionRefusedError, FileNotFoundError, NotADirectoryError):
        raise NoDaemon(f"no daemon runs for the state directory {state_dir}") from None
    with client, client.makefile("rb") as replies:
        client.sendall(b"wait\n" if wait else b"check\n")
        if replies.readline().strip() != b"queued":
            raise ConnectionError("the daemon did not queue the check")
        said("check queued")
        if not wait:
            return None
        done = replies.readline().split()
        if len(done) != 2 or done[0] != b"done" or not done[1].isdigit():
            raise ConnectionError("the daemon went away before the check ended")
        return int(done[1])
