"""The check loop with the gates' containers watched: looks on events and deadlines, not
once per poll; and the watch itself, a ``docker events`` stream read on a thread."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from pathlib import Path

from gitops_compose.core.reconcile.check import CheckReport, CheckSettings
from gitops_compose.core.reconcile.state import State
from gitops_compose.shell.check import run_check
from gitops_compose.shell.compose_host import parse_inspect
from gitops_compose.shell.container_events import ContainerEvents
from tests.core.builders import PARSING

from ..models import ModelHost, ModelRepository

STACK = "services:\n  web:\n    image: busybox\n"


class ModelWatch:
    """A watch on a clock that moves only when the loop waits. ``stir_at``: the clock time
    from which an event is reported (None: the stream sees nothing, as if it were down);
    ``ends_after``: how many waits before the stream ends on its own."""

    def __init__(
        self, clock: list[float], stir_at: float | None = None, ends_after: int | None = None
    ) -> None:
        self.clock, self.stir_at, self.ends_after = clock, stir_at, ends_after
        self.looks = self.waits = self.stops = 0
        self.followed: list[tuple[str, ...]] = []

    @property
    def live(self) -> bool:
        return self.ends_after is None or self.waits < self.ends_after

    def look(self, projects: Sequence[str]) -> bool:
        self.looks += 1
        self.followed.append(tuple(projects))
        return self.live

    def wait(self, projects: Sequence[str], timeout: float) -> bool:
        self.waits += 1
        self.followed.append(tuple(projects))
        if not self.live:
            return False  # it ended at once
        if self.stir_at is not None and self.clock[0] + timeout >= self.stir_at:
            self.clock[0] = max(self.clock[0], self.stir_at)
            self.stir_at = None
            return True
        self.clock[0] += timeout
        return False

    def stop(self) -> None:
        self.stops += 1


def watched_check(
    repo: ModelRepository, host: ModelHost, watch: ModelWatch | None, settle: float = 10.0
) -> tuple[CheckReport, float]:
    """A gated check on the watch's clock; what it took on that clock."""
    clock = watch.clock if watch is not None else [1000.0]
    began = clock[0]

    def now() -> float:
        host.time = clock[0]
        return clock[0]

    def sleep(seconds: float) -> None:
        clock[0] += seconds

    settings = CheckSettings(
        branch="main", root_name=repo.name, health_timeout=180.0, settle=settle, parsing=PARSING
    )
    report = run_check(
        repo, host, State(full_pass_done=True), settings, now=now, sleep=sleep, watch=watch
    )
    return report, clock[0] - began


def ten_stacks() -> ModelRepository:
    files = {f"s{n}/compose.yaml": STACK for n in range(10)}
    return ModelRepository({"c1": {}, "c2": files}, "c1", "c2")


def test_ten_new_stacks_watched_are_looked_at_twice_not_once_a_poll_each() -> None:
    polled = ModelHost(ten_stacks())
    report, _ = watched_check(polled.repository, polled, None)
    assert report.ok
    watch = ModelWatch([1000.0])
    host = ModelHost(ten_stacks())

    report, took = watched_check(host.repository, host, watch)

    assert report.ok
    assert [each.ok for each in report.outcomes] == [True] * 10
    assert took >= 10.0  # the settle window, waited for all at once
    # Once when the commands are over (every gate seen), once at the window's end.
    assert host.inspected == 2 < polled.inspected
    assert watch.looks == 2
    assert watch.stops >= 1  # never left open after the check


def test_a_crash_the_stream_did_not_report_is_seen_by_the_look_at_the_deadline() -> None:
    watch = ModelWatch([1000.0])  # sees nothing: as if the stream were down
    host = ModelHost(ModelRepository({"c1": {}, "c2": {"a/compose.yaml": STACK}}, "c1", "c2"))
    host.crashing.add("a")

    report, _ = watched_check(host.repository, host, watch)

    [outcome] = report.outcomes
    assert outcome.error == "exited: web exit 1 after 2 s; its log: web: boom"


def test_an_event_makes_the_check_look_at_once_not_at_the_end_of_the_window() -> None:
    clock = [1000.0]
    watch = ModelWatch(clock, stir_at=1002.0)
    host = ModelHost(ModelRepository({"c1": {}, "c2": {"a/compose.yaml": STACK}}, "c1", "c2"))
    unhealthy_from = 1002.0
    health = host.health

    def turning(projects: Sequence[str]):  # type: ignore[no-untyped-def]
        if clock[0] >= unhealthy_from:
            host.unhealthy["a"] = "unhealthy"
        return health(projects)

    host.health = turning  # type: ignore[method-assign]

    report, took = watched_check(host.repository, host, watch)

    [outcome] = report.outcomes
    assert outcome.error is not None
    assert outcome.error.startswith("unhealthy: web")
    assert took < 3.0  # at the event, not at the end of the 10 s window


def test_a_stream_that_ends_leaves_the_check_polling_and_still_passing() -> None:
    watch = ModelWatch([1000.0], ends_after=1)
    host = ModelHost(ModelRepository({"c1": {}, "c2": {"a/compose.yaml": STACK}}, "c1", "c2"))

    report, took = watched_check(host.repository, host, watch)

    assert report.ok
    assert took >= 10.0
    assert host.inspected > 2  # once per poll again


# --- the stream ---------------------------------------------------------------------------


def fake_docker(tmp_path: Path, events: list[dict[str, object]], *, stay: bool = True) -> Path:
    """A ``docker`` that records its arguments, prints these events and stays (or ends)."""
    lines = "".join(f"{json.dumps(each)}\n" for each in events)
    (tmp_path / "events.jsonl").write_text(lines)
    fake = tmp_path / "docker"
    tail = "exec sleep 300" if stay else "exit 0"
    fake.write_text(
        f'#!/bin/sh\necho "$@" >"{tmp_path}/args"\necho $$ >"{tmp_path}/pid"\n'
        f'cat "{tmp_path}/events.jsonl"\n{tail}\n'
    )
    fake.chmod(0o755)
    return fake


def event(project: str, action: str, seconds: float) -> dict[str, object]:
    attributes = {"com.docker.compose.project": project, "com.docker.compose.service": "web"}
    return {
        "Type": "container",
        "Action": action,
        "Actor": {"ID": "c1", "Attributes": attributes},
        "time": int(seconds),
        "timeNano": int(seconds * 1e9),
    }


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def test_an_event_of_a_followed_project_after_it_was_followed_wakes_the_wait(
    tmp_path: Path,
) -> None:
    fake = fake_docker(
        tmp_path,
        [event("shop", "die", 900.0), event("other", "die", 1001.0), event("shop", "die", 1001.0)],
    )
    watch = ContainerEvents(str(fake), dict(os.environ), clock=lambda: 1000.0)
    try:
        assert watch.wait(["shop"], 10.0)
        assert watch.live
        args = (tmp_path / "args").read_text().split()
        assert args[:5] == [
            "events",
            "--filter",
            "type=container",
            "--filter",
            "label=com.docker.compose.project",
        ]
        assert args[args.index("--since") + 1] == "999.000000"
        assert watch.look(["shop"])  # the look sees what stirred it
        assert not watch.wait(["shop"], 0.2)
        pid = int((tmp_path / "pid").read_text())
    finally:
        watch.stop()
    deadline = time.monotonic() + 5
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(pid)
    assert not watch.live


def test_events_from_before_a_project_was_followed_or_of_others_do_not_wake_it(
    tmp_path: Path,
) -> None:
    fake = fake_docker(tmp_path, [event("shop", "die", 999.5), event("other", "start", 1001.0)])
    watch = ContainerEvents(str(fake), dict(os.environ), clock=lambda: 1000.0)
    try:
        assert not watch.wait(["shop"], 0.5)
        assert watch.live
    finally:
        watch.stop()


def test_a_stream_that_ends_on_its_own_is_no_longer_live(tmp_path: Path) -> None:
    fake = fake_docker(tmp_path, [], stay=False)
    watch = ContainerEvents(str(fake), dict(os.environ), clock=lambda: 1000.0)
    try:
        assert not watch.wait(["shop"], 5.0)
        assert not watch.live
        assert not watch.look(["shop"])  # not started again in this check
    finally:
        watch.stop()


def test_inspect_gives_each_container_its_restarts_and_last_start() -> None:
    document = [
        {
            "Id": "c1",
            "Created": "2026-12-03T09:00:00.5Z",
            "RestartCount": 2,
            "Image": "sha256:abc",
            "State": {"Status": "running", "StartedAt": "2026-12-03T09:00:07.250000000Z"},
            "Config": {
                "Labels": {
                    "com.docker.compose.project": "shop",
                    "com.docker.compose.service": "web",
                }
            },
        }
    ]

    found = parse_inspect(json.dumps(document)).unwrap()

    [web] = found["shop"]
    assert (web.id, web.service, web.state, web.restarts) == ("c1", "web", "running", 2)
    assert web.created is not None
    assert web.started is not None
    assert web.started - web.created == 6.75
