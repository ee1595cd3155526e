"""Commit statuses: what a check's events call for (the core's fold, fed by the real check
loop on the models), and the poster against an HTTP server that answers badly."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from gitops_compose.core.reconcile.commit_status import (
    LONGEST_DESCRIPTION,
    CommitStatus,
    Verdict,
    heard,
    watch,
)
from gitops_compose.core.reconcile.event import Event
from gitops_compose.core.reconcile.forge import Forge, ForgeTarget
from gitops_compose.core.reconcile.state import State
from gitops_compose.shell.commit_statuses import CommitStatuses, StatusSettings

from ..models import ModelHost, ModelRepository
from .test_events import BROKEN, CHANGED, STACK, Recorder, checked


def statuses_of(events: list[Event], name: str = "host") -> list[CommitStatus]:
    told = []
    seen = watch(name)
    for event in events:
        seen, status = heard(seen, event)
        if status is not None:
            told.append(status)
    return told


def two_commits(second: dict[str, str]) -> tuple[ModelRepository, ModelHost, State]:
    repo = ModelRepository(
        {"c1": {"web/compose.yaml": STACK, "db/compose.yaml": STACK}, "c2": second}, "c1", "c1"
    )
    host = ModelHost(repo)
    first = checked(repo, host, State(), Recorder())
    assert first.ok
    repo.remote = "c2"
    return repo, host, first.state


def test_a_good_deploy_posts_pending_then_success_on_the_remote_head() -> None:
    repo, host, state = two_commits({"web/compose.yaml": CHANGED, "db/compose.yaml": STACK})
    recorder = Recorder()
    assert checked(repo, host, state, recorder).ok

    pending, done = statuses_of(recorder.events)
    assert (pending.sha, pending.verdict, pending.context) == (
        "c2",
        Verdict.PENDING,
        "gitops-compose/host",
    )
    assert "web" in pending.description
    assert (done.sha, done.verdict) == ("c2", Verdict.SUCCESS)
    assert done.description == "deployed web"


def test_a_rolled_back_stack_is_a_failure_that_names_it() -> None:
    repo, host, state = two_commits({"web/compose.yaml": CHANGED, "db/compose.yaml": CHANGED})
    host.failing_half_way = {"db"}
    recorder = Recorder()
    checked(repo, host, state, recorder)

    pending, done = statuses_of(recorder.events)
    assert pending.verdict is Verdict.PENDING
    assert (done.sha, done.verdict) == ("c2", Verdict.FAILURE)
    assert "rolled back: db" in done.description
    assert "web" not in done.description


def test_a_failed_stack_is_a_failure_that_names_it() -> None:
    repo, host, state = two_commits(
        {"web/compose.yaml": STACK, "db/compose.yaml": STACK, "new/compose.yaml": STACK}
    )
    host.failing = {"new"}
    recorder = Recorder()
    checked(repo, host, state, recorder)

    [_, done] = statuses_of(recorder.events)
    assert done.verdict is Verdict.FAILURE
    assert "failed: new" in done.description


def test_a_removal_alone_posts_on_the_remote_head_not_the_old_commit() -> None:
    repo, host, state = two_commits({"web/compose.yaml": STACK})
    recorder = Recorder()
    assert checked(repo, host, state, recorder).ok

    pending, done = statuses_of(recorder.events)
    assert (pending.sha, done.sha) == ("c2", "c2")
    assert done.verdict is Verdict.SUCCESS


def test_a_check_that_deploys_nothing_posts_nothing() -> None:
    repo, host, state = two_commits({"web/compose.yaml": STACK, "db/compose.yaml": STACK})
    recorder = Recorder()
    checked(repo, host, state, recorder)
    recorder.events.clear()
    checked(repo, host, checked(repo, host, state, Recorder()).state, recorder)
    assert statuses_of(recorder.events) == []
    # Only invalid files: nothing deployed, nothing posted.
    broken, host, state = two_commits({"web/compose.yaml": BROKEN, "db/compose.yaml": STACK})
    recorder = Recorder()
    checked(broken, host, state, recorder)
    assert statuses_of(recorder.events) == []


def test_a_description_is_cut_to_what_github_takes() -> None:
    many = {f"stack-with-a-long-name-{n}/compose.yaml": STACK for n in range(12)}
    repo, host, state = two_commits(many)
    recorder = Recorder()
    checked(repo, host, state, recorder)
    for status in statuses_of(recorder.events):
        assert len(status.description) <= LONGEST_DESCRIPTION
    assert [each.verdict for each in statuses_of(recorder.events)] == [
        Verdict.PENDING,
        Verdict.SUCCESS,
    ]


# --- the poster -----------------------------------------------------------------------------


class Forge500:
    """An HTTP server that records each POST and answers 500 (or hangs, when told)."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, str], bytes]] = []
        self.hang = threading.Event()
        forge = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                forge.received.append((self.path, dict(self.headers), body))
                if forge.hang.is_set():
                    time.sleep(5)  # no answer in time: the client's timeout ends it
                    return
                self.send_response(500)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                del format, args

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/api/v1"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def forge() -> Iterator[Forge500]:
    served = Forge500()
    yield served
    served.close()


def test_a_forge_answering_500_is_counted_and_logged_once_per_status(
    forge: Forge500, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    repo, host, state = two_commits({"web/compose.yaml": CHANGED, "db/compose.yaml": STACK})
    target = ForgeTarget(Forge.GITEA, forge.api, "acme/stacks")
    poster = CommitStatuses(StatusSettings(target, "sekrit-token", "host", 2.0))
    report = checked(repo, host, state, poster)
    assert report.ok  # the check's own outcome
    poster.wait(5)

    assert (poster.deliveries.sent, poster.deliveries.failed) == (0, 2)
    assert [path for path, _, _ in forge.received] == ["/api/v1/repos/acme/stacks/statuses/c2"] * 2
    assert [json.loads(body)["state"] for _, _, body in forge.received] == ["pending", "success"]
    assert all(headers["Authorization"] == "token sekrit-token" for _, headers, _ in forge.received)
    lines = [each for each in caplog.records if each.getMessage() == "commit-status"]
    assert len(lines) == 2
    for line in lines:
        fields = line.__dict__["fields"]
        assert "HTTP 500" in fields["error"]
        assert "sekrit-token" not in str(fields)
    [family] = poster.collect()
    assert {s.labels["result"]: s.value for s in family.samples} == {"sent": 0.0, "failed": 2.0}


def test_a_forge_that_hangs_holds_a_wait_no_longer_than_asked(forge: Forge500) -> None:
    forge.hang.set()
    target = ForgeTarget(Forge.GITHUB, forge.api, "acme/stacks")
    poster = CommitStatuses(StatusSettings(target, "t", "host", 30.0))
    repo, host, state = two_commits({"web/compose.yaml": CHANGED, "db/compose.yaml": STACK})
    checked(repo, host, state, poster)
    began = time.monotonic()
    poster.wait(1.0)
    assert time.monotonic() - began < 2.0
    assert poster.deliveries.failed >= 1
