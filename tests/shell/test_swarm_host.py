"""What the Swarm host makes of Docker's answers: services, convergence, the gate's view."""

from __future__ import annotations

import json

from returns.result import Success

from gitops_compose.core.compose.expectation import Expectation
from gitops_compose.core.reconcile.gate import Failed, Gate, GateTimes, Passed, judged
from gitops_compose.core.reconcile.runtime import Container
from gitops_compose.shell.swarm_host import (
    SwarmService,
    convergence,
    failed_tasks,
    health_of,
    host_state,
    parse_services,
    repository_digests,
)

from ..core.test_gate import ACTION

INSPECTED = [
    {
        "ID": "abc123full",
        "CreatedAt": "2026-12-03T11:00:00.5Z",
        "UpdatedAt": "2026-12-03T11:10:00Z",
        "Spec": {
            "Name": "shop_web",
            "Labels": {"com.docker.stack.namespace": "shop"},
            "TaskTemplate": {"ContainerSpec": {"Image": "web:1@sha256:aa"}},
        },
        "UpdateStatus": {
            "State": "rollback_completed",
            "StartedAt": "2026-12-03T11:09:58Z",
            "Message": "rollback completed",
        },
    },
    {
        "ID": "def456full",
        "Spec": {
            "Name": "shop_my_worker",
            "Labels": {"com.docker.stack.namespace": "shop"},
            "TaskTemplate": {"ContainerSpec": {"Image": "worker:1"}},
        },
    },
    {"ID": "zzz", "Spec": {"Name": "not_a_stack", "Labels": {}}},
]


def service(name: str = "web", **given: object) -> SwarmService:
    fields: dict[str, object] = {"running": 1, "desired": 1, **given}
    return SwarmService(id=f"id-{name}", stack="shop", name=name, **fields)  # type: ignore[arg-type]


def test_services_are_read_by_stack_with_their_compose_name_replicas_and_update() -> None:
    found = parse_services(
        json.dumps(INSPECTED), {"abc123": "1/1", "def456": "0/2 (max 1 per node)"}
    )

    assert isinstance(found, Success)
    web, worker = found.unwrap()
    assert (web.stack, web.name, web.running, web.desired) == ("shop", "web", 1, 1)
    assert web.image == "web:1@sha256:aa"
    assert web.rolled_back
    assert web.update_message == "rollback completed"
    assert (worker.name, worker.running, worker.desired, worker.update) == ("my_worker", 0, 2, None)


def test_the_host_state_is_a_container_per_service_running_when_its_replicas_run() -> None:
    state = host_state(
        (
            service(),
            service("worker", running=0, desired=2),
            service("api", update="rollback_completed"),
        )
    )

    # Swarm's word on an update is the deploy's verdict, not the state's: it stays.
    assert state == {
        "shop": (
            Container("web", "running"),
            Container("worker", "0/2 replicas running"),
            Container("api", "running"),
        )
    }


def test_a_deploy_converges_once_every_service_runs_its_replicas() -> None:
    before = {"web": "t1"}
    assert convergence([service(template="t1")], 100.0, 101.0, before) == (None, [])
    waiting = convergence([service(running=0, template="t1")], 100.0, 101.0, before)
    assert waiting == (None, ["web 0/1 replicas running"])


def test_a_changed_service_waits_for_the_update_swarm_begins_then_for_its_end() -> None:
    before = {"web": "old"}
    not_begun = convergence([service(template="new")], 100.0, 101.0, before)
    assert not_begun == (None, ["web update not begun"])
    updating = service(template="new", update="updating", update_started=100.5)
    assert convergence([updating], 100.0, 103.0, before) == (None, ["web updating"])
    done = service(template="new", update="completed", update_started=100.5)
    assert convergence([done], 100.0, 104.0, before) == (None, [])
    # A change that begins no update (a label) is not waited for long.
    assert convergence([service(template="new")], 100.0, 106.0, before) == (None, [])


def test_an_update_swarm_rolled_back_or_paused_since_the_deploy_is_why_it_failed() -> None:
    rolled = service(update="rollback_completed", update_started=100.2, update_message="why")
    assert convergence([rolled], 100.0, 110.0, {}) == ("rolled back by Swarm: web: why", [])
    rolling = service(update="rollback_started", update_started=100.2)
    problem, pending = convergence([rolling], 100.0, 110.0, {})
    assert problem is None
    assert pending == ["web rolled back by Swarm, still rolling back"]
    paused = service(update="paused", update_started=100.2, update_message="task failed")
    assert convergence([paused], 100.0, 110.0, {}) == (
        "update paused by Swarm: web: task failed",
        [],
    )
    # A rollback of an earlier deploy is history.
    old = service(update="rollback_completed", update_started=50.0)
    assert convergence([old], 100.0, 110.0, {"web": ""}) == (None, [])


def test_failed_tasks_are_counted_by_service_whatever_dots_the_stack_name_has() -> None:
    services = [service("web"), service("worker")]
    output = "\n".join(
        [
            "shop_web.1\tRunning 5 seconds ago",
            "shop_web.1\tFailed 10 seconds ago",
            " \\_ shop_web.1\tRejected 20 seconds ago",
            "shop_worker.abcnode\tFailed 1 second ago",
            "shop_worker.1\tShutdown 1 minute ago",
        ]
    )
    assert failed_tasks(services, output) == {"id-web": 2, "id-worker": 1}


def test_the_gate_fails_a_service_swarm_rolled_back_at_once() -> None:
    gate = Gate(ACTION, Expectation(("web",)), GateTimes(180.0, 10.0), opened=100.0)
    seen = health_of([service(update="rollback_completed")], {})

    verdict = judged(gate, seen["shop"], 101.0)

    assert isinstance(verdict, Failed)
    assert verdict.reason == "rolled back by Swarm: web"


def test_a_rollback_swarm_began_before_the_last_deploy_is_history_at_the_gate() -> None:
    gate = Gate(ACTION, Expectation(("web",)), GateTimes(180.0, 0.0), opened=100.0)
    old = service(update="rollback_completed", update_started=50.0)

    assert isinstance(judged(gate, health_of([old], {}, {"shop": 99.0})["shop"], 101.0), Passed)
    fresh = service(update="rollback_completed", update_started=99.5)
    seen = health_of([fresh], {}, {"shop": 99.0})["shop"]
    assert isinstance(judged(gate, seen, 101.0), Failed)


def test_the_gate_sees_a_task_that_fails_after_it_opened_as_a_restart() -> None:
    gate = Gate(ACTION, Expectation(("web",)), GateTimes(180.0, 10.0), opened=100.0)
    first = judged(gate, health_of([service()], {"id-web": 1})["shop"], 101.0)
    assert not isinstance(first, Failed)

    later = judged(first.gate, health_of([service()], {"id-web": 2})["shop"], 103.0)

    assert isinstance(later, Failed)
    assert later.reason.startswith("restarting: web")


def test_an_image_swarm_pinned_gives_its_repository_digest_as_docker_records_it() -> None:
    pinned = "127.0.0.1:5000/team/app:1@sha256:ab"
    assert repository_digests(pinned) == ("127.0.0.1:5000/team/app@sha256:ab",)
    assert repository_digests("127.0.0.1:5000/app@sha256:ab") == ("127.0.0.1:5000/app@sha256:ab",)
    assert repository_digests("127.0.0.1:5000/app:1") == ()
