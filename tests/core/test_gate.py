"""The health gate's verdict on the containers of a stack that was just started."""

from gitops_compose.core.compose.expectation import Expectation
from gitops_compose.core.reconcile.action import Changed, Phase, StackAction, Verb
from gitops_compose.core.reconcile.gate import (
    PATIENCE_SECONDS,
    Failed,
    Gate,
    GateTimes,
    Passed,
    Waiting,
    judged,
    next_look,
    next_poll,
)
from gitops_compose.core.reconcile.runtime import ContainerHealth
from gitops_compose.core.value import replace

ACTION = StackAction(
    verb=Verb.RESTART,
    phase=Phase.UPDATE,
    stack="shop",
    project="shop",
    compose_files=("shop/compose.yaml",),
    commit="c",
    fingerprint="f",
    cause=Changed(("shop/compose.yaml",)),
)


def gate(
    settle: float = 10.0, timeout: float = 180.0, one_shot: frozenset[str] = frozenset()
) -> Gate:
    expects = Expectation(("migrate", "web") if one_shot else ("web",), one_shot)
    return Gate(ACTION, expects, GateTimes(timeout, settle), opened=100.0)


def web(state: str = "running", **given: object) -> ContainerHealth:
    return ContainerHealth(id="w1", service="web", state=state, **given)  # type: ignore[arg-type]


def test_a_running_stack_without_healthcheck_passes_once_the_settle_window_is_over() -> None:
    first = judged(gate(), (web(),), 101.0)
    assert isinstance(first, Waiting)
    assert isinstance(judged(first.gate, (web(),), 110.0), Waiting)
    assert isinstance(judged(first.gate, (web(),), 111.0), Passed)
    assert isinstance(judged(gate(settle=0), (web(),), 101.0), Passed)


def test_a_container_that_exits_fails_at_once_naming_service_code_and_time() -> None:
    verdict = judged(gate(), (web("exited", exit_code=1, ran=2.0),), 103.0)
    assert isinstance(verdict, Failed)
    assert verdict.reason == "exited: web exit 1 after 2 s"
    assert verdict.culprit == "w1"


def test_a_restart_during_the_settle_window_fails_it() -> None:
    waiting = judged(gate(), (web(restarts=0),), 101.0)
    assert isinstance(waiting, Waiting)
    verdict = judged(waiting.gate, (web(restarts=4),), 106.0)
    assert isinstance(verdict, Failed)
    assert verdict.reason == "restarting: web (4 restarts)"


def test_an_unhealthy_container_fails_with_its_failing_streak() -> None:
    verdict = judged(gate(), (web(health="unhealthy", failing_streak=3),), 130.0)
    assert isinstance(verdict, Failed)
    assert verdict.reason == "unhealthy: web (health check failed 3 times)"


def test_a_healthcheck_still_starting_waits_until_the_timeout_then_fails() -> None:
    starting = (web(health="starting"),)
    assert isinstance(judged(gate(), starting, 200.0), Waiting)
    verdict = judged(gate(), starting, 280.0)
    assert isinstance(verdict, Failed)
    assert verdict.reason == "not running and healthy within 180 s: web starting"
    healthy = judged(gate(settle=0), (web(health="healthy"),), 150.0)
    assert isinstance(healthy, Passed)


def test_a_service_without_containers_waits_then_fails_and_the_settle_restarts() -> None:
    assert isinstance(judged(gate(), (), 150.0), Waiting)
    verdict = judged(gate(), (), 281.0)
    assert isinstance(verdict, Failed)
    assert verdict.reason.endswith("web has no container")
    assert verdict.culprit is None


def test_a_one_shot_service_may_have_exited_0_but_not_1() -> None:
    done = ContainerHealth(id="m1", service="migrate", state="exited", exit_code=0, ran=1.0)
    failed = ContainerHealth(id="m1", service="migrate", state="exited", exit_code=1, ran=1.0)
    assert isinstance(
        judged(gate(settle=0, one_shot=frozenset({"migrate"})), (done, web()), 101.0), Passed
    )
    verdict = judged(gate(settle=0, one_shot=frozenset({"migrate"})), (failed, web()), 101.0)
    assert isinstance(verdict, Failed)
    assert verdict.reason == "exited: migrate exit 1 after 1 s"


def test_the_next_look_is_a_poll_away_or_at_the_end_of_a_settle_window() -> None:
    waiting = judged(gate(settle=0.25), (web(),), 101.0)
    assert isinstance(waiting, Waiting)
    assert next_poll((waiting.gate,), 101.0) == 101.25
    assert next_poll((gate(),), 101.0) == 102.0


def test_a_restart_before_the_first_look_counts_when_it_came_after_the_gate_opened() -> None:
    # Looked at late (the watch saw nothing): Docker's count and last start still tell.
    restarted = web(restarts=1, started=105.0)
    verdict = judged(gate(), (restarted,), 110.0)
    assert isinstance(verdict, Failed)
    assert verdict.reason == "restarting: web (1 restart)"
    # Restarted during its ``up``, before the gate opened: as when it was looked at first.
    assert isinstance(judged(gate(), (web(restarts=1, started=99.0),), 110.0), Waiting)
    assert isinstance(judged(gate(), (web(started=105.0),), 110.0), Waiting)


def test_watched_gates_are_looked_at_on_deadlines_and_passes_wait_for_running_commands() -> None:
    fresh = gate(settle=10.0)
    # Never looked at: at once, or once the commands running end, or a while after the
    # last gate opened, or at once when another stack waits for its verdict.
    assert next_look((fresh,), 101.0, busy=False) == 101.0
    assert next_look((fresh,), 101.0, busy=True) == 100.0 + PATIENCE_SECONDS
    assert next_look((replace(fresh, awaited=True),), 101.0, busy=True) == 101.0
    later = replace(fresh, opened=103.0)
    assert next_look((fresh, later), 104.0, busy=True) == 103.0 + PATIENCE_SECONDS
    # Settling: at the end of its window (while commands run, not before the patience).
    waiting = judged(fresh, (web(),), 101.0)
    assert isinstance(waiting, Waiting)
    assert next_look((waiting.gate,), 102.0, busy=False) == 111.0
    assert next_look((waiting.gate,), 102.0, busy=True) == 111.0
    # Not running and healthy yet: an event says when; else at its health timeout.
    starting = judged(fresh, (web(health="starting"),), 101.0)
    assert isinstance(starting, Waiting)
    assert next_look((starting.gate,), 102.0, busy=False) == 100.0 + 180.0
    # An event of theirs: at once, whatever runs.
    assert next_look((starting.gate,), 102.0, busy=True, stirred=True) == 102.0
