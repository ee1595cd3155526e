"""Configuration drift through the check loop, on the models: what decides the expected
hashes (the files and the environment values they read), and when Compose is asked."""

from __future__ import annotations

from gitops_compose.core.reconcile.check import CheckReport, CheckSettings
from gitops_compose.core.reconcile.runtime import Container
from gitops_compose.core.reconcile.state import State, state_to_json
from gitops_compose.core.reconcile.status import Condition
from gitops_compose.shell.check import run_check

from ..core.builders import PARSING
from ..models import ModelHost, ModelRepository

READS_TAG = "services:\n  web:\n    image: busybox:${TAG:-1}\n"
PLAIN = "services:\n  web:\n    image: busybox\n"


def check(
    repo: ModelRepository,
    host: ModelHost,
    state: State | None = None,
    *,
    environment: dict[str, str] | None = None,
    full_pass: bool = False,
) -> CheckReport:
    settings = CheckSettings(
        branch="main",
        root_name=repo.name,
        daemon_starting=full_pass,
        environment=environment or {},
        parsing=PARSING,
    )
    return run_check(repo, host, state or State(), settings, now=lambda: 1000.0)


def deployed(files: dict[str, str], environment: dict[str, str]) -> tuple[ModelHost, State]:
    repo = ModelRepository({"c1": files}, "c1", "c1")
    host = ModelHost(repo, configs={path.split("/")[0]: {"web": "h1"} for path in files})
    report = check(repo, host, environment=environment)
    assert report.ok
    host.done.clear()
    return host, report.state


def test_a_deployed_stack_keeps_the_hashes_compose_stamped_and_asks_compose_nothing() -> None:
    host, state = deployed({"a/compose.yaml": PLAIN, "b/compose.yaml": PLAIN}, {})
    assert host.configs_asked == []  # read from the containers after the up
    assert {path: dict(each.hashes) for path, each in state.configs.items()} == {
        "a": {"web": "h1"},
        "b": {"web": "h1"},
    }
    looked = host.looked

    idle = check(host.repository, host, state)
    full = check(host.repository, host, idle.state, full_pass=True)

    assert host.configs_asked == []
    assert host.looked == looked + 2  # one look at the containers each
    assert host.done == []
    assert full.state.stacks["a"].condition is Condition.OK


def test_a_changed_environment_value_is_asked_of_compose_again_on_a_full_pass_only() -> None:
    before = {"TAG": "s3cr3t-tag"}
    host, state = deployed({"a/compose.yaml": READS_TAG, "b/compose.yaml": PLAIN}, before)
    assert state.configs["a"].variables == ("TAG",)
    assert "s3cr3t" not in state_to_json(state)  # a hash of the values, never them
    again = check(host.repository, host, state, environment=before, full_pass=True)
    assert host.configs_asked == []  # same files, same values: the kept hashes hold

    idle = check(host.repository, host, again.state, environment={"TAG": "2"})
    assert host.configs_asked == []  # an idle check computes nothing
    assert idle.state.stacks["a"].condition is Condition.OK  # not judged: not known

    host.configs["a"] = {"web": "h2"}  # what Compose gives with TAG=2
    full = check(host.repository, host, idle.state, environment={"TAG": "2"}, full_pass=True)

    assert host.configs_asked == ["a"]  # b reads no variable: its hashes still hold
    assert host.done == [("start", "a")]
    assert [each.reason for each in full.plan.stack_actions] == [  # type: ignore[union-attr]
        "drift: web runs other configuration than h2"
    ]
    again = check(host.repository, host, full.state, environment={"TAG": "2"}, full_pass=True)
    assert host.configs_asked == ["a"]
    assert again.state.stacks["a"].condition is Condition.OK


def test_a_running_stack_deployed_anyway_is_not_asked_of_compose_first() -> None:
    host, state = deployed({"a/compose.yaml": PLAIN, "b/compose.yaml": PLAIN}, {})
    changed = {"a/compose.yaml": "services:\n  web:\n    image: busybox:2\n"}
    host.repository.commits["c2"] = {**host.repository.commits["c1"], **changed}
    host.repository.remote = "c2"

    report = check(host.repository, host, state, full_pass=True)

    assert report.ok
    assert host.done == [("restart", "a")]
    assert host.configs_asked == []  # a's hashes come from its containers after the up


def test_a_stack_running_before_the_first_check_is_asked_once_and_adopted() -> None:
    repo = ModelRepository({"c1": {"a/compose.yaml": PLAIN}}, "c1", "c1")
    running = (Container("web", "running", config_hash="h1"),)
    host = ModelHost(repo, running={"a": running}, configs={"a": {"web": "h1"}})

    first = check(repo, host, full_pass=True)
    again = check(repo, host, first.state, full_pass=True)

    assert host.configs_asked == ["a"]
    assert host.done == []
    assert again.state.stacks["a"].condition is Condition.OK
