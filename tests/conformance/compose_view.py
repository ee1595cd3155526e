"""What the real ``docker compose`` v2 says of one stack, from ``config`` only (no containers).

Three calls, each with the stack's directory as the project directory (so its ``.env`` is
read as the product's own calls read it) and a clean environment (so no variable of this
machine reaches the interpolation):

- ``-p NAME config --format json`` under ``strace``: whether it loads, the model (services
  started by default, their labels, scale and replicas, bind sources, build contexts,
  config and secret files) and every file Compose opened while loading;
- ``-p NAME --profile '*' config --services``: every service, whatever its profiles;
- ``config --format json`` without ``-p``: the project name Compose itself gives it.

Which repository files count as read (the rule docs/stacks.md states, under Conformance):

- a committed file that Compose opened (``openat``/``open`` that succeeded) while loading:
  the Compose files, included and extended files, ``.env`` files, ``env_file:`` and
  ``label_file:`` files;
- a committed file that the model names: a bind source, a ``driver_opts`` bind ``device``,
  a ``configs:``/``secrets:`` ``file:``, and, for services Compose builds (no ``image:``,
  or ``pull_policy: build``), the build context, ``additional_contexts`` and Dockerfile;
  a named directory stands for every committed file below it, since what is mounted or
  sent to the builder is the whole tree;
- a ``stat`` alone reads nothing and counts for nothing (Compose stats candidate files and
  directories it then does not read); opened directories count only as named above.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, final

DOCKER = "docker"
STRACE = "strace"
TIMEOUT = 60

# An open of a path: `openat(AT_FDCWD, "/x/y", O_RDONLY|O_CLOEXEC) = 6` (after the thread id).
_OPENED = re.compile(r'^(?:openat\(AT_FDCWD, |open\()"((?:[^"\\]|\\.)*)", ([^,)<]*)')
_SUCCEEDED = re.compile(r"\) = \d+$")


@final
@dataclass(frozen=True, slots=True)
class ComposeView:
    loads: bool
    error: str  # Compose's last line when it does not load
    project: str | None  # the name Compose gives it without -p; None when that fails
    services: frozenset[str]  # every service, any profile
    started: frozenset[str]  # started by `up` with the default profiles
    labels: Mapping[str, Mapping[str, str]]  # gitops.* labels of the started-profile services
    files: frozenset[str]  # repository paths Compose reads for it


def compose_view(
    repository: Path, stack: str, compose_files: Sequence[str], project: str
) -> ComposeView:
    """``stack`` and ``compose_files`` are repository paths; ``project`` is passed as -p."""
    directory = repository / stack
    where = ["--ansi", "never", "--project-directory", str(directory)]
    for each in compose_files:
        where += ["--file", str(repository / each)]
    with tempfile.TemporaryDirectory(prefix="conformance-strace-") as scratch:
        log = Path(scratch) / "trace"
        trace = [STRACE, "-f", "--seccomp-bpf", "-qq", "-s", "4096", "-o", str(log)]
        trace += ["-e", "trace=openat,open,stat,newfstatat"]
        traced = _run(
            repository,
            [*trace, DOCKER, "compose", "-p", project, *where, "config", "--format", "json"],
        )
        opened = _opened(log.read_text(errors="replace"), repository) if log.exists() else ()
    if traced.returncode != 0:
        return ComposeView(
            loads=False,
            error=_last_line(traced.stderr),
            project=None,
            services=frozenset(),
            started=frozenset(),
            labels={},
            files=frozenset(),
        )
    model = _model(traced.stdout)
    every = _run(
        repository,
        [DOCKER, "compose", "-p", project, "--profile", "*", *where, "config", "--services"],
    )
    named = _run(repository, [DOCKER, "compose", *where, "config", "--format", "json"])
    name = _model(named.stdout).get("name") if named.returncode == 0 else None
    services = model.get("services") or {}
    committed = _committed(repository)
    return ComposeView(
        loads=True,
        error="",
        project=name,
        services=frozenset(every.stdout.split()) if every.returncode == 0 else frozenset(),
        started=frozenset(name for name, body in services.items() if _started(body)),
        labels={
            name: {
                key: str(value)
                for key, value in (body.get("labels") or {}).items()
                if key.startswith("gitops.")
            }
            for name, body in services.items()
        },
        files=_expand(committed, repository, [*opened, *_named_paths(model, repository)]),
    )


def compose_tools_problem() -> str | None:
    """Why this machine cannot run the suite (docker compose v2 and strace), or None."""
    from gitops_compose.shell.compose_host import compose_problem  # noqa: PLC0415

    problem = compose_problem(DOCKER)
    if problem is not None:
        return problem
    try:
        done = subprocess.run(
            [STRACE, "-f", "--seccomp-bpf", "-qq", "-o", os.devnull, "true"],
            capture_output=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"no usable strace ({error}); scripts/engine.sh ensure installs it"
    if done.returncode != 0:
        return f"strace cannot trace here: {_last_line(done.stderr.decode(errors='replace'))}"
    return None


def _run(cwd: Path, command: Sequence[str]) -> subprocess.CompletedProcess[str]:
    # Only what the CLI needs to find its plugin and its config: nothing to interpolate.
    env = {key: os.environ[key] for key in ("PATH", "HOME", "DOCKER_CONFIG") if key in os.environ}
    return subprocess.run(
        command,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def _opened(trace: str, repository: Path) -> list[Path]:
    """Files opened with success. Compose's threads interleave, so strace may split a call
    into ``openat(... <unfinished ...>`` and, later, ``<... openat resumed>) = 6``."""
    found = []
    pending: dict[str, tuple[str, str]] = {}  # thread id -> (path, flags)
    for line in trace.splitlines():
        thread, _, call = line.partition(" ")
        if call.startswith("<... open"):
            if thread in pending and _SUCCEEDED.search(call):
                found.append(pending.pop(thread))
            continue
        match = _OPENED.search(call)
        if match is None:
            continue
        if call.endswith("<unfinished ...>"):
            pending[thread] = (match.group(1), match.group(2))
        elif _SUCCEEDED.search(call):
            found.append((match.group(1), match.group(2)))
    paths = []
    for path, flags in found:
        if "O_DIRECTORY" in flags:
            continue
        opened = Path(path.encode().decode("unicode_escape"))
        paths.append(opened if opened.is_absolute() else repository / opened)
    return paths


def _model(text: str) -> dict[str, Any]:
    """Compose's JSON; a model nested deeper than Python's default recursion limit (a
    case tries 1,001 levels, which Compose loads) is read with a higher one."""
    try:
        found: dict[str, Any] = json.loads(text)
    except RecursionError:
        sys.setrecursionlimit(max(sys.getrecursionlimit(), 20_000))
        found = json.loads(text)
    return found


def _started(body: Mapping[str, Any]) -> bool:
    deploy = body.get("deploy") or {}
    return bool(body.get("scale", 1) != 0 and deploy.get("replicas", 1) != 0)


def _named_paths(model: Mapping[str, Any], repository: Path) -> Iterable[Path]:
    """Files and directories the model names that Compose or Docker read at ``up``."""
    for body in (model.get("services") or {}).values():
        for volume in body.get("volumes") or ():
            if volume.get("type") == "bind" and volume.get("source"):
                yield Path(volume["source"])
        build = body.get("build")
        if isinstance(build, dict) and (
            not body.get("image") or body.get("pull_policy") == "build"
        ):
            context = build.get("context", "")
            if context and "://" not in context:
                yield Path(context)
                dockerfile = build.get("dockerfile")
                if dockerfile:
                    yield Path(context) / dockerfile
            for extra in (build.get("additional_contexts") or {}).values():
                if "://" not in extra and not extra.startswith(("docker-image:", "service:")):
                    yield Path(extra)
    for section in ("configs", "secrets"):
        for definition in (model.get(section) or {}).values():
            if definition.get("file"):
                yield Path(definition["file"])
    for volume in (model.get("volumes") or {}).values():
        options = volume.get("driver_opts") or {}
        if "bind" in str(options.get("o", "")).split(",") and options.get("device"):
            device = Path(options["device"])
            yield device if device.is_absolute() else repository / device


def _committed(repository: Path) -> frozenset[str]:
    listed = subprocess.run(
        ["git", "-C", str(repository), "ls-files", "-z"],
        capture_output=True,
        check=True,
    )
    return frozenset(each.decode() for each in listed.stdout.split(b"\0") if each)


def _expand(committed: frozenset[str], repository: Path, paths: Iterable[Path]) -> frozenset[str]:
    """Repository paths of the committed files among ``paths``, or below them."""
    found: set[str] = set()
    for path in paths:
        try:
            relative = Path(os.path.normpath(path)).relative_to(repository).as_posix()
        except ValueError:
            continue  # the host's, not the repository's
        if relative in committed:
            found.add(relative)
            continue
        prefix = "" if relative == "." else f"{relative}/"
        found.update(each for each in committed if each.startswith(prefix))
    return frozenset(found)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no message"
