"""The state's counters are a fold over a check's events: the recorded stream, folded from
the counters the check started with, is what the check saved."""

from __future__ import annotations

from functools import reduce

from gitops_compose.core.reconcile.counting import Counting, counted_by
from gitops_compose.core.reconcile.event import CheckSettled
from gitops_compose.core.reconcile.state import Counters, State
from gitops_compose.core.value import replace

from ..models import ModelHost, ModelRepository
from .test_events import BROKEN, STACK, Recorder, checked, pushed


def test_a_recorded_check_folded_gives_the_counters_it_saved() -> None:
    repo, host, ran = pushed(broken=BROKEN)
    # Counters from earlier checks go on from where they were.
    before = replace(ran, counters=replace(ran.counters, check_success=7))
    recorder = Recorder()

    report = checked(repo, host, before, recorder)

    folded = reduce(counted_by, recorder.events, Counting(before.counters))
    assert folded == Counting(report.state.counters)
    settled = recorder.events[-1]
    assert isinstance(settled, CheckSettled)
    at = settled.at
    # The values the counters had when they were tallied at the end of the check: the
    # check did all it had to (its failure is a stack's, not the check's); old removed,
    # new started and changed restarted went well, failing failed, broken is invalid.
    assert report.failure is None
    was = before.counters
    assert (was.deployment_success, was.deployment_started) == (3, 3)
    assert report.state.counters == Counters(
        check_success=8,
        check_error=0,
        deployment_success=3 + 3,
        deployment_error=1,
        last_check=at,
        last_success=at,
        last_error=0.0,
        deployment_started=3 + 1,
        deployment_stopped=1,
        deployment_updated=1,
        deployment_invalid=1,
        last_deployment_success=at,
        last_deployment_error=at,
    )
    assert report.tally is not None
    assert (report.tally.deployments_ok, report.tally.deployments_failed) == (3, 1)
    assert report.tally.problems == 1


def test_events_that_count_nothing_leave_the_counters_until_the_check_settles() -> None:
    repo = ModelRepository({"c1": {"web/compose.yaml": STACK}}, "c1", "c1")
    host = ModelHost(repo)
    recorder = Recorder()

    report = checked(repo, host, State(), recorder)

    start = Counting(Counters(check_error=2))
    before_the_end = reduce(counted_by, recorder.events[:-1], start)
    assert before_the_end.counters == start.counters
    assert before_the_end.heard.started == 1
    after = counted_by(before_the_end, recorder.events[-1])
    assert after.counters.check_error == 2
    assert after.counters.check_success == 1
    assert after.counters.deployment_started == 1
    assert report.state.counters.deployment_started == 1
