"""Properties of the check loop on generated repositories, hosts, failures and job counts."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from gitops_compose.core.reconcile.check import CheckReport, CheckSettings
from gitops_compose.core.reconcile.runtime import Container
from gitops_compose.core.reconcile.state import State
from gitops_compose.shell.check import InlineWorkers, run_check

from ..core.builders import BRANCH, PARSING, ROOT_NAME, stacks
from ..core.repositories import hosts, paths, render, repositories, specs, successors
from ..models import ModelHost, ModelRepository

SETTINGS = settings(max_examples=150, deadline=None)

# Files of the local and the remote commit, what runs on the host, and the stacks that fail.
World = tuple[dict[str, str], dict[str, str], dict[str, tuple[Container, ...]], set[str]]


@st.composite
def worlds(draw: st.DrawFn) -> World:
    # Half the time only valid, deployed stacks: more of them depend on each other.
    deployed = st.dictionaries(
        paths, specs.map(lambda spec: spec.edited(broken=False, role="deploy")), max_size=6
    )
    before = draw(st.one_of(repositories, deployed))
    after = draw(successors(before))
    local_files, remote_files = render(before), render(after)
    # Often nothing runs yet, so that stacks and their dependencies start together.
    host = draw(st.one_of(st.just({}), hosts(stacks(local_files))))
    touched = sorted({*before, *after})
    failures = draw(st.sets(st.sampled_from(touched)) if touched else st.just(set()))
    return local_files, remote_files, host, failures


def run(
    world: World,
    jobs: int,
    pick: Callable[[int], int] = lambda waiting: 0,
) -> tuple[CheckReport, dict[str, tuple[Container, ...]], ModelHost]:
    local_files, remote_files, running, failures = world
    repo = ModelRepository({"c1": local_files, "c2": remote_files}, "c1", "c2")
    host = ModelHost(repo, running=dict(running), failing=set(failures))
    report = run_check(
        repo,
        host,
        State(),
        CheckSettings(BRANCH, ROOT_NAME, jobs=jobs, parsing=PARSING),
        now=lambda: 1000.0,
        workers=InlineWorkers(repo, host, pick),
    )
    return report, host.running, host


@SETTINGS
@given(worlds(), st.data())
def test_one_job_and_four_in_any_order_settle_the_same(world, data: st.DataObject) -> None:  # type: ignore[no-untyped-def]
    one, host_one, _ = run(world, jobs=1)
    four, host_four, _ = run(world, 4, lambda waiting: data.draw(st.integers(0, waiting - 1)))
    assert four.state == one.state
    assert four.tally == one.tally
    assert host_four == host_one
    assert sorted(map(repr, four.outcomes)) == sorted(map(repr, one.outcomes))


@SETTINGS
@given(worlds(), st.data())
def test_no_stack_starts_before_what_it_depends_on_succeeded(world, data: st.DataObject) -> None:  # type: ignore[no-untyped-def]
    report, _, host = run(world, 4, lambda waiting: data.draw(st.integers(0, waiting - 1)))
    failed = {each.action.stack for each in report.outcomes if not each.ok}
    actions = {each.action.stack: each.action for each in report.outcomes}
    started: set[str] = set()
    for verb, stack in host.done:
        if verb == "stop":
            continue
        early = [each for each in actions[stack].after if each not in started or each in failed]
        assert early == [], f"{stack} started before {early} succeeded"
        started.add(stack)


@SETTINGS
@given(worlds())
def test_a_check_right_after_a_check_with_no_failures_does_nothing(world) -> None:  # type: ignore[no-untyped-def]
    local_files, remote_files, running, _ = world
    repo = ModelRepository({"c1": local_files, "c2": remote_files}, "c1", "c2")
    host = ModelHost(repo, running=dict(running))
    first = run_check(
        repo, host, State(), CheckSettings(BRANCH, ROOT_NAME, parsing=PARSING), now=lambda: 1000.0
    )
    done = len(host.done)

    again = run_check(
        repo,
        host,
        first.state,
        CheckSettings(BRANCH, ROOT_NAME, always=True, parsing=PARSING),
        now=lambda: 1000.0,
    )

    assert again.plan is not None
    # What is left is what cannot be done: a network nobody creates, which fails again.
    blocked = {each.action.stack for each in first.outcomes if not each.ok}
    assert {stack for _, stack in host.done[done:]} <= blocked
