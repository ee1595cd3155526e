"""From what the actions did to each stack's status and the counts behind the metrics.

Each test runs checks as the shell does: the saved statuses go into the next plan.
"""

from gitops_compose.core.reconcile.outcome import Outcome, StackStatus, Status
from gitops_compose.core.reconcile.plan import Plan, Verb
from gitops_compose.core.reconcile.verdict import statuses_after, tally

from .builders import all_running, compose, facts, planned, stacks, steps

PULL_FAILED = "pull access denied for registry.local/web"
BROKEN = "services:\n  web: [\n"
FILES = {
    "shop/compose.yaml": compose("web"),
    "blog/compose.yaml": compose("web"),
    "gitops/compose.yaml": compose(agent={"labels": {"gitops.controller": True}}),
    "lab/compose.yaml": compose(toy={"labels": {"gitops.ignore": True}}),
}
Statuses = dict[str, StackStatus]


def check(
    local: dict[str, str],
    remote: dict[str, str] | None = None,
    previous: Statuses | None = None,
    errors: dict[str, str] | None = None,
    now: float = 1000.0,
) -> tuple[Plan, list[Outcome], Statuses]:
    """One check on a host where everything either commit deploys runs; actions on the
    stacks in ``errors`` fail with that message."""
    previous = first_check() if previous is None else previous
    host = {**all_running(stacks(local)), **all_running(stacks(remote or local))}
    given = facts(local, remote, host, statuses=previous, now=now)
    found = planned(given)
    errors = errors or {}
    outcomes = [Outcome(each, errors.get(each.stack)) for each in found.stack_actions]
    return found, outcomes, statuses_after(previous, found, outcomes, given.remote, now)


def first_check(files: dict[str, str] = FILES) -> Statuses:
    return check(files, previous={})[2]


def seen(statuses: Statuses) -> dict[str, tuple[str | None, str, str | None]]:
    """What a user sees of each stack: project, status and error."""
    return {path: (each.project, each.status.value, each.error) for path, each in statuses.items()}


def without(files: dict[str, str], folder: str) -> dict[str, str]:
    return {path: text for path, text in files.items() if not path.startswith(f"{folder}/")}


ALL_OK = {"shop": ("shop", "ok", None), "blog": ("blog", "ok", None)}


def test_first_check_adopts_deployable_stacks_as_ok_and_lists_no_controller_or_ignored() -> None:
    statuses = first_check()
    assert seen(statuses) == ALL_OK
    assert statuses["shop"].fingerprint == stacks(FILES).valid["shop"].fingerprint


def test_successful_restart_is_ok_and_remembers_what_was_deployed() -> None:
    remote = {**FILES, "shop/.env": "A=1\n"}
    _, _, statuses = check(FILES, remote)
    assert seen(statuses) == ALL_OK
    assert statuses["shop"].fingerprint == stacks(remote).valid["shop"].fingerprint


def test_failed_restart_is_an_error_with_composes_message_retried_a_minute_later() -> None:
    _, _, statuses = check(FILES, {**FILES, "shop/.env": "A=1\n"}, errors={"shop": PULL_FAILED})
    assert seen(statuses) == {**ALL_OK, "shop": ("shop", "error", PULL_FAILED)}
    assert (statuses["shop"].failures, statuses["shop"].retry_at) == (1, 1060.0)


def test_failures_in_a_row_double_the_wait() -> None:
    remote = {**FILES, "shop/.env": "A=1\n"}
    _, _, failed = check(FILES, remote, errors={"shop": PULL_FAILED}, now=1000.0)
    found, _, again = check(remote, previous=failed, errors={"shop": PULL_FAILED}, now=1060.0)
    assert steps(found) == ["restart shop: retry after error (attempt 2)"]
    assert (again["shop"].failures, again["shop"].retry_at) == (2, 1180.0)


def test_a_failed_stack_waits_for_its_next_try() -> None:
    remote = {**FILES, "shop/.env": "A=1\n"}
    _, _, failed = check(FILES, remote, errors={"shop": PULL_FAILED}, now=1000.0)
    found, _, statuses = check(remote, previous=failed, now=1030.0)
    assert found.actions == ()
    assert [(each.stack, each.reason) for each in found.waits] == [
        ("shop", f"waiting 1 min to retry after error: {PULL_FAILED}")
    ]
    assert seen(statuses) == seen(failed)


def test_a_later_success_clears_the_error() -> None:
    remote = {**FILES, "shop/.env": "A=1\n"}
    _, _, failed = check(FILES, remote, errors={"shop": PULL_FAILED}, now=1000.0)
    _, _, statuses = check(remote, previous=failed, now=1060.0)
    assert seen(statuses) == ALL_OK


def test_broken_stack_is_an_error_with_the_reason() -> None:
    _, _, statuses = check(FILES, {**FILES, "blog/compose.yaml": BROKEN})
    project, status, error = seen(statuses)["blog"]
    assert (project, status) == ("blog", "error")
    assert str(error).startswith("invalid compose file: while parsing")


def test_broken_stack_keeps_the_declared_project_it_runs_as() -> None:
    named = {**FILES, "blog/compose.yaml": compose("web", name="journal")}
    _, _, statuses = check(named, {**named, "blog/compose.yaml": BROKEN}, first_check(named))
    assert seen(statuses)["blog"][:2] == ("journal", "error")


def test_reverting_the_commit_that_broke_a_stack_clears_its_error() -> None:
    broken = {**FILES, "blog/compose.yaml": BROKEN}
    _, _, failed = check(FILES, broken)
    found, _, statuses = check(broken, FILES, previous=failed)
    assert steps(found) == ["fast-forward"]  # the running stack already has these files
    assert seen(statuses) == ALL_OK


def test_deleting_the_duplicate_of_a_name_clash_clears_both_errors() -> None:
    one = {**FILES, "a/production/compose.yaml": compose("web", name="production")}
    two = {**one, "b/production/compose.yaml": compose("web", name="production")}
    _, _, clashing = check(one, two, previous=first_check(one))
    assert seen(clashing)["b/production"][1] == "error"
    _, _, statuses = check(two, one, previous=clashing)
    assert seen(statuses) == {**ALL_OK, "a/production": ("production", "ok", None)}


def test_stopped_removed_stack_leaves_the_list() -> None:
    _, _, statuses = check(FILES, without(FILES, "blog"))
    assert seen(statuses) == {"shop": ALL_OK["shop"]}


def test_failed_stop_of_a_removed_stack_is_removal_failed_and_retried_by_name() -> None:
    remote = without(FILES, "blog")
    _, _, failed = check(FILES, remote, errors={"blog": "container busy"}, now=1000.0)
    assert seen(failed)["blog"] == ("blog", "removal_failed", "container busy")
    found, _, statuses = check(remote, previous=failed, now=1060.0)
    (retry,) = found.stack_actions
    assert (retry.verb.value, retry.project, retry.reason) == (
        "stop",
        "blog",
        "retry removal (attempt 2)",
    )
    assert seen(statuses) == {"shop": ALL_OK["shop"]}


def test_reverting_a_removal_whose_stop_failed_deploys_at_once_and_ends_removal_failed() -> None:
    remote = without(FILES, "blog")
    _, _, failed = check(FILES, remote, errors={"blog": "container busy"}, now=1000.0)
    found, _, statuses = check(remote, FILES, previous=failed, now=1030.0)
    assert steps(found) == ["fast-forward", "start blog: retry after removal (attempt 2)"]
    assert seen(statuses) == ALL_OK


def test_restoring_the_running_files_after_a_failed_removal_is_ok_with_nothing_to_do() -> None:
    broken = {**FILES, "blog/compose.yaml": BROKEN}
    _, _, s1 = check(FILES, broken, now=1000.0)
    removed = without(FILES, "blog")
    _, _, s2 = check(broken, removed, previous=s1, errors={"blog": "busy"}, now=1000.0)
    assert seen(s2)["blog"] == ("blog", "removal_failed", "busy")
    found, _, statuses = check(removed, FILES, previous=s2, now=1000.0)
    assert steps(found) == ["fast-forward"]  # still runs: its stop failed
    assert seen(statuses) == ALL_OK


def test_failed_stop_of_a_moved_stack_is_never_retried_against_its_new_home() -> None:
    local = {**FILES, "shop/compose.yaml": compose("web", name="shop")}
    remote = {**without(local, "shop"), "apps/shop/compose.yaml": compose("web", name="shop")}
    _, _, moved = check(local, remote, errors={"shop": "container busy"}, now=1000.0)
    found, _, statuses = check(remote, previous=moved, now=4600.0)
    assert found.actions == ()
    assert seen(statuses) == {"blog": ALL_OK["blog"], "apps/shop": ("shop", "ok", None)}
    assert seen(moved) == seen(statuses)


def test_failed_removal_never_stops_a_project_an_ignored_stack_took_over() -> None:
    _, _, failed = check(FILES, without(FILES, "blog"), errors={"blog": "busy"}, now=1000.0)
    remote = {
        **without(FILES, "blog"),
        "notes/compose.yaml": compose(web={"labels": {"gitops.ignore": True}}, name="blog"),
    }
    found, _, _ = check(without(FILES, "blog"), remote, previous=failed, now=4600.0)
    assert "blog" not in {each.project for each in found.stack_actions}


def test_failed_stop_of_a_renamed_stack_is_an_error_not_removal_failed() -> None:
    remote = {**FILES, "blog/compose.yaml": compose("web", name="journal")}
    found, outcomes, statuses = check(FILES, remote, errors={"blog": "container busy"})
    counted = tally(found, outcomes, statuses)
    assert (counted.deployments_ok, counted.deployments_failed) == (0, 2)
    # The old project still runs: the stack is in error under that name.
    assert seen(statuses)["blog"] == ("blog", "error", "container busy")


def test_old_project_of_a_rename_whose_stop_failed_is_stopped_on_the_retry() -> None:
    remote = {**FILES, "blog/compose.yaml": compose("web", name="journal")}
    previous = first_check()
    given = facts(FILES, remote, statuses=previous, now=1000.0)
    found = planned(given)
    outcomes = [
        Outcome(each, "container busy" if each.verb is Verb.STOP else None)
        for each in found.stack_actions
    ]
    statuses = statuses_after(previous, found, outcomes, given.remote, 1000.0)
    # journal started, but blog still runs: the stack is in error under the old name.
    assert seen(statuses)["blog"] == ("blog", "error", "container busy")

    # Before the retry is due, nothing is tried; once due, the old project is stopped.
    assert planned(facts(remote, remote, statuses=statuses, now=1010.0)).stack_actions == ()
    later = facts(remote, remote, statuses=statuses, now=1061.0)
    retry = planned(later)
    assert [(a.verb, a.project) for a in retry.stack_actions][:1] == [(Verb.STOP, "blog")]
    done = [Outcome(each) for each in retry.stack_actions]
    settled = statuses_after(statuses, retry, done, later.remote, 1061.0)
    assert seen(settled)["blog"] == ("journal", "ok", None)


def test_stack_that_becomes_ignored_leaves_the_list() -> None:
    remote = {**FILES, "blog/compose.yaml": compose(web={"labels": ["gitops.ignore=true"]})}
    _, _, statuses = check(FILES, remote)
    assert seen(statuses) == {"shop": ALL_OK["shop"]}


def test_tally_counts_outcomes_statuses_and_problems() -> None:
    remote = {
        **without(FILES, "blog"),
        "shop/.env": "A=1\n",
        "wiki/compose.yaml": compose("wiki"),
        "forum/compose.yaml": BROKEN,
    }
    found, outcomes, statuses = check(FILES, remote, errors={"blog": "busy", "shop": PULL_FAILED})
    counted = tally(found, outcomes, statuses)
    assert (counted.deployments_ok, counted.deployments_failed, counted.problems) == (1, 2, 1)
    assert counted.active == {Status.OK: 1, Status.ERROR: 2, Status.REMOVAL_FAILED: 1}
    assert not counted.all_ok


def test_tally_all_ok_when_every_action_succeeded_and_nothing_is_broken() -> None:
    found, outcomes, statuses = check(FILES, {**FILES, "shop/.env": "A=1\n"})
    counted = tally(found, outcomes, statuses)
    assert counted.all_ok
    assert counted.active == {Status.OK: 2, Status.ERROR: 0, Status.REMOVAL_FAILED: 0}
