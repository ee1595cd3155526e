"""One repository, many hosts: the check loop of a host with --path, against models of the
repository and of one engine that runs every host's stacks."""

from __future__ import annotations

from gitops_compose.core.compose.scope import EVERYWHERE, Scope
from gitops_compose.core.reconcile.check import CheckReport, CheckSettings
from gitops_compose.core.reconcile.event import Event, StackLeftScope, SubtreeMissing
from gitops_compose.core.reconcile.runtime import Container
from gitops_compose.core.reconcile.state import State
from gitops_compose.shell.check import run_check

from ..core.builders import PARSING
from ..models import ModelHost, ModelRepository

PLAIN = "services:\n  web:\n    image: busybox\n"
SHARING = "services:\n  web:\n    image: busybox\n    env_file: [../../../shared/common.env]\n"
A, B = Scope(("hosts/a",)), Scope(("hosts/b",))
FILES = {
    "shared/common.env": "TZ=UTC\n",
    "hosts/a/web/compose.yaml": SHARING,
    "hosts/a/db/compose.yaml": PLAIN,
    "hosts/b/web/compose.yaml": SHARING,
    "hosts/b/api/compose.yaml": PLAIN,
}
RUNNING = (Container("web", "running"),)


class Heard:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def report(self, event: Event) -> None:
        self.events.append(event)


def check(
    repo: ModelRepository, host: ModelHost, scope: Scope, state: State | None = None
) -> tuple[CheckReport, list[Event]]:
    settings = CheckSettings(branch="main", root_name=repo.name, parsing=PARSING, scope=scope)
    heard = Heard()
    report = run_check(
        repo, host, state or State(), settings, now=lambda: 1000.0, reporters=(heard,)
    )
    return report, heard.events


def test_a_host_deploys_only_its_subtrees_stacks_and_leaves_the_others_running() -> None:
    repo = ModelRepository({"c1": FILES}, "c1", "c1")
    # Another host's stacks run on this engine too (or ran here before --path was added).
    host = ModelHost(repo, running={"hosts-b-web": RUNNING, "hosts-b-api": RUNNING})

    report, _ = check(repo, host, A)

    assert report.ok
    assert sorted(host.done) == [("start", "hosts/a/db"), ("start", "hosts/a/web")]
    assert sorted(report.state.stacks) == ["hosts/a/db", "hosts/a/web"]
    assert host.running["hosts-b-web"] == RUNNING
    assert host.running["hosts-b-api"] == RUNNING


def test_a_change_in_another_subtree_fast_forwards_and_restarts_nothing() -> None:
    edited = {**FILES, "hosts/b/web/compose.yaml": SHARING + "    command: [sleep, '9']\n"}
    repo = ModelRepository({"c1": FILES, "c2": edited}, "c1", "c1")
    host = ModelHost(repo)
    first, _ = check(repo, host, A)
    host.done.clear()
    repo.remote = "c2"

    report, _ = check(repo, host, A, first.state)

    assert report.ok
    assert host.done == []
    assert repo.local == "c2"


def test_a_shared_file_restarts_only_this_hosts_stacks_that_name_it() -> None:
    edited = {**FILES, "shared/common.env": "TZ=Europe/Paris\n"}
    repo = ModelRepository({"c1": FILES, "c2": edited}, "c1", "c1")
    host = ModelHost(repo)
    first, _ = check(repo, host, A)
    host.done.clear()
    repo.remote = "c2"

    report, _ = check(repo, host, A, first.state)

    assert report.ok
    assert host.done == [("restart", "hosts/a/web")]


def test_a_stack_moved_between_subtrees_stops_on_the_old_host_and_starts_on_the_new() -> None:
    moved = {key.replace("hosts/b/api", "hosts/a/api"): value for key, value in FILES.items()}
    repo_a = ModelRepository({"c1": FILES, "c2": moved}, "c1", "c1")
    repo_b = ModelRepository({"c1": FILES, "c2": moved}, "c1", "c1")
    host = ModelHost(repo_a)  # one engine for both, as in the e2e test
    state_a, _ = check(repo_a, host, A)
    host.repository = repo_b
    state_b, _ = check(repo_b, host, B)
    assert "hosts-b-api" in host.running
    host.done.clear()
    repo_a.remote = repo_b.remote = "c2"

    host.repository = repo_a
    report_a, _ = check(repo_a, host, A, state_a.state)
    host.repository = repo_b
    report_b, _ = check(repo_b, host, B, state_b.state)

    assert report_a.ok
    assert report_b.ok
    assert host.done == [("start", "hosts/a/api"), ("stop", "hosts/b/api")]
    assert "hosts-a-api" in host.running
    assert "hosts-b-api" not in host.running
    assert sorted(report_b.state.stacks) == ["hosts/b/web"]


def test_stacks_known_from_before_path_was_given_are_forgotten_and_left_running() -> None:
    repo = ModelRepository({"c1": FILES}, "c1", "c1")
    host = ModelHost(repo)
    everything, _ = check(repo, host, EVERYWHERE)
    assert len(everything.state.stacks) == 4
    host.done.clear()

    report, events = check(repo, host, A, everything.state)

    assert report.ok
    assert host.done == []
    assert {"hosts-b-web", "hosts-b-api"} <= host.running.keys()
    assert sorted(report.state.stacks) == ["hosts/a/db", "hosts/a/web"]
    left = [each for each in events if isinstance(each, StackLeftScope)]
    assert [(each.stack, each.project) for each in left] == [
        ("hosts/b/api", "hosts-b-api"),
        ("hosts/b/web", "hosts-b-web"),
    ]


def test_a_typo_in_path_stops_nothing_and_says_so() -> None:
    edited = {**FILES, "hosts/a/db/compose.yaml": PLAIN + "    command: [sleep, '9']\n"}
    repo = ModelRepository({"c1": FILES, "c2": edited}, "c1", "c1")
    host = ModelHost(repo)
    right, _ = check(repo, host, A)
    host.done.clear()
    repo.remote = "c2"

    report, events = check(repo, host, Scope(("host/a",)), right.state)

    assert host.done == []
    assert {"hosts-a-web", "hosts-a-db"} <= host.running.keys()
    assert report.state.stacks == {}
    missing = [each for each in events if isinstance(each, SubtreeMissing)]
    assert [(each.subtree, each.commit) for each in missing] == [("host/a", "c2")]
    assert report.plan is not None
    assert report.plan.missing_subtrees == ("host/a",)

    # Put right, --path takes the stacks back: a full pass adopts what runs.
    host.done.clear()
    fixed, _ = check(repo, host, A, report.state)
    assert fixed.ok
    assert sorted(fixed.state.stacks) == ["hosts/a/db", "hosts/a/web"]
    assert fixed.state.scope == ("hosts/a",)
