"""What Docker says happens to the containers of the stacks at their health gate, as it
happens: one ``docker events`` stream for all of them, open while some gate is.

The stream only says when to look (the core decides when, see core/reconcile/gate.py);
the look itself, ``docker ps`` and ``docker inspect``, is the truth. An event lost (the
stream down, Docker's buffer overrun, a daemon whose clock differs from ours) costs time,
never a verdict: a restart shows in the container's restart count and its last start.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import IO, Protocol, final

from gitops_compose.shell import log

_PROJECT = "com.docker.compose.project"
# What may change a gate's verdict: a container starting or ending, its health changing.
# Not its health probes (exec_*), which come every interval, nor its creation (a start
# follows it).
_STIRRING = (
    "start",
    "restart",
    "die",
    "oom",
    "kill",
    "stop",
    "pause",
    "unpause",
    "destroy",
    "health_status",
)
# Events since a little before the stream starts: Docker replays what it keeps, so an event
# while the command was still connecting is not lost.
_REPLAY_SECONDS = 1.0


class ContainerWatch(Protocol):
    """How the check's loop watches the containers of the stacks at their gate."""

    @property
    def live(self) -> bool:
        """Whether events come (the stream is up)."""
        ...

    def look(self, projects: Sequence[str]) -> bool:
        """A look at these projects' containers is about to be taken: follow them (and no
        others) from now, starting the stream if need be; what stirred them before is seen
        by the look. Whether the stream is up."""
        ...

    def wait(self, projects: Sequence[str], timeout: float) -> bool:
        """Follow these projects, starting the stream if need be; wait at most ``timeout``
        seconds for an event of theirs (or the stream's end). Whether one came since the
        last look."""
        ...

    def stop(self) -> None:
        """No gate is open: end the stream (it starts again when a gate is watched)."""
        ...


@final
class ContainerEvents:
    """``docker events`` for Compose's containers, read on a thread of its own."""

    def __init__(
        self,
        docker: str,
        env: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._docker = docker
        self._env = dict(os.environ if env is None else env)
        self._clock = clock
        self._changed = threading.Condition()
        self._process: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None
        # Project -> since when it is followed (Unix seconds): older events are not its gate's.
        self._followed: dict[str, float] = {}
        self._stirred: set[str] = set()
        # The stream ended without being asked to: watch no more in this check (the core
        # looks once per poll instead).
        self._broken = False

    @property
    def live(self) -> bool:
        with self._changed:
            return self._process is not None and not self._broken

    def look(self, projects: Sequence[str]) -> bool:
        with self._changed:
            self._follow(projects)
            self._stirred.clear()
        self._started(projects)
        return self.live

    def wait(self, projects: Sequence[str], timeout: float) -> bool:
        with self._changed:
            self._follow(projects)
        self._started(projects)
        with self._changed:
            self._changed.wait_for(lambda: self._stirred or self._broken, max(0.0, timeout))
            return bool(self._stirred)

    def stop(self) -> None:
        with self._changed:
            process, self._process = self._process, None
            reader, self._reader = self._reader, None
            self._followed.clear()
            self._stirred.clear()
        if process is not None:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if reader is not None:
            reader.join(timeout=5)

    def _follow(self, projects: Sequence[str]) -> None:
        now = self._clock()
        self._followed = {each: self._followed.get(each, now) for each in projects}
        self._stirred &= self._followed.keys()

    def _started(self, projects: Sequence[str]) -> None:
        if self._process is None and not self._broken and projects:
            self._start()

    def _start(self) -> None:
        command = [
            self._docker,
            "events",
            "--filter",
            "type=container",
            "--filter",
            f"label={_PROJECT}",
            *(argument for each in _STIRRING for argument in ("--filter", f"event={each}")),
            "--since",
            f"{self._clock() - _REPLAY_SECONDS:.6f}",
            "--format",
            "{{json .}}",
        ]
        try:
            process = subprocess.Popen(
                command,
                env=self._env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                errors="replace",
                start_new_session=True,
            )
        except OSError as error:
            log.event("docker", logging.WARNING, command=f"{self._docker} events", error=str(error))
            with self._changed:
                self._broken = True
            return
        log.event("docker", logging.DEBUG, command=f"{self._docker} events", started=True)
        assert process.stdout is not None
        reader = threading.Thread(
            target=self._read, args=(process, process.stdout), name="container-events", daemon=True
        )
        with self._changed:
            self._process, self._reader = process, reader
        reader.start()

    def _read(self, process: subprocess.Popen[str], stream: IO[str]) -> None:
        for line in stream:
            seen = _event(line)
            if seen is None:
                continue
            project, when = seen
            with self._changed:
                since = self._followed.get(project)
                if since is not None and when >= since and project not in self._stirred:
                    self._stirred.add(project)
                    self._changed.notify_all()
        with self._changed:
            if self._process is process:  # not stopped by us: it ended on its own
                self._broken = True
                log.event(
                    "docker",
                    logging.WARNING,
                    command=f"{self._docker} events",
                    exit=process.poll(),
                    error="the stream of container events ended; looking once per poll",
                )
            self._changed.notify_all()


def _event(line: str) -> tuple[str, float] | None:
    """The project of a container event and when it happened (Unix seconds), or None."""
    try:
        found = json.loads(line)
    except ValueError:
        return None
    if not isinstance(found, dict):
        return None
    actor = found.get("Actor") or {}
    attributes = actor.get("Attributes") if isinstance(actor, dict) else None
    project = attributes.get(_PROJECT) if isinstance(attributes, dict) else None
    if not isinstance(project, str):
        return None
    nanoseconds = found.get("timeNano")
    if isinstance(nanoseconds, int):
        return project, nanoseconds / 1e9
    seconds = found.get("time")
    return project, float(seconds) if isinstance(seconds, int | float) else 0.0
