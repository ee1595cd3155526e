"""From what the actions did to each stack's status and the counts behind the metrics."""

from gitops_compose.core.outcome import Outcome, StackStatus, Status, statuses_after, tally
from gitops_compose.core.plan import Facts, Plan

from .builders import compose, facts, planned

PULL_FAILED = "pull access denied for registry.local/web"
FILES = {
    "shop/compose.yaml": compose("web"),
    "blog/compose.yaml": compose("web"),
    "gitops/compose.yaml": compose(agent={"labels": {"gitops.controller": True}}),
    "lab/compose.yaml": compose(toy={"labels": {"gitops.ignore": True}}),
}
OK = {
    "shop": StackStatus("shop", Status.OK),
    "blog": StackStatus("blog", Status.OK),
}


def seen(statuses: dict[str, StackStatus]) -> dict[str, tuple[str | None, Status, str | None]]:
    """What a user sees of each status: project, status and error."""
    return {path: (each.project, each.status, each.error) for path, each in statuses.items()}


def check(
    given: Facts, errors: dict[str, str] | None = None, previous: dict[str, StackStatus] = OK
) -> tuple[Plan, list[Outcome], dict[str, StackStatus]]:
    """Plan, carry out with ``errors`` by stack path, and settle the statuses."""
    found = planned(given)
    errors = errors or {}
    outcomes = [Outcome(each, errors.get(each.stack)) for each in found.stack_actions]
    return found, outcomes, statuses_after(previous, found, outcomes, given.remote)


def test_first_check_adopts_deployable_stacks_as_ok_and_lists_no_controller_or_ignored() -> None:
    _, _, statuses = check(facts(FILES), previous={})
    assert seen(statuses) == seen(OK)


def test_successful_restart_is_ok() -> None:
    _, _, statuses = check(facts(FILES, {**FILES, "shop/.env": "A=1\n"}))
    assert seen(statuses) == seen(OK)


def test_failed_restart_is_an_error_with_composes_message() -> None:
    _, _, statuses = check(facts(FILES, {**FILES, "shop/.env": "A=1\n"}), {"shop": PULL_FAILED})
    assert (
        seen(statuses)["shop"] == seen({"x": StackStatus("shop", Status.ERROR, PULL_FAILED)})["x"]
    )
    assert seen(statuses)["blog"] == seen(OK)["blog"]


def test_a_later_success_clears_the_error() -> None:
    failed = {**OK, "shop": StackStatus("shop", Status.ERROR, PULL_FAILED)}
    _, _, statuses = check(facts(FILES, {**FILES, "shop/.env": "A=2\n"}), previous=failed)
    assert seen(statuses)["shop"] == seen({"x": StackStatus("shop", Status.OK)})["x"]


def test_a_stack_nobody_acted_on_keeps_its_error() -> None:
    failed = {**OK, "shop": StackStatus("shop", Status.ERROR, PULL_FAILED)}
    _, _, statuses = check(facts(FILES, {**FILES, "blog/.env": "A=2\n"}), previous=failed)
    assert seen(statuses) == seen(failed)


def test_broken_stack_is_an_error_with_the_reason() -> None:
    _, _, statuses = check(facts(FILES, {**FILES, "blog/compose.yaml": "services: [\n"}))
    assert statuses["blog"].status is Status.ERROR
    assert statuses["blog"].project == "blog"
    assert str(statuses["blog"].error).startswith("invalid compose file")


def test_stopped_removed_stack_leaves_the_list() -> None:
    remote = {k: v for k, v in FILES.items() if not k.startswith("blog/")}
    _, _, statuses = check(facts(FILES, remote))
    assert seen(statuses) == {"shop": seen(OK)["shop"]}


def test_failed_stop_of_a_removed_stack_is_removal_failed() -> None:
    remote = {k: v for k, v in FILES.items() if not k.startswith("blog/")}
    _, _, statuses = check(facts(FILES, remote), {"blog": "container busy"})
    assert (
        seen(statuses)["blog"]
        == seen({"x": StackStatus("blog", Status.REMOVAL_FAILED, "container busy")})["x"]
    )


def test_failed_stop_of_a_renamed_stack_is_a_failed_deployment_not_removal_failed() -> None:
    remote = {**FILES, "blog/compose.yaml": compose("web", name="journal")}
    found, outcomes, statuses = check(facts(FILES, remote), {"blog": "container busy"})
    counted = tally(found, outcomes, statuses)
    assert (counted.deployments_ok, counted.deployments_failed) == (0, 2)
    assert (
        seen(statuses)["blog"]
        == seen({"x": StackStatus("journal", Status.ERROR, "container busy")})["x"]
    )


def test_stack_that_becomes_ignored_leaves_the_list() -> None:
    remote = {**FILES, "blog/compose.yaml": compose(web={"labels": ["gitops.ignore=true"]})}
    _, _, statuses = check(facts(FILES, remote))
    assert seen(statuses) == {"shop": seen(OK)["shop"]}


def test_tally_counts_outcomes_statuses_and_problems() -> None:
    remote = {
        **{k: v for k, v in FILES.items() if not k.startswith("blog/")},
        "shop/.env": "A=1\n",
        "wiki/compose.yaml": compose("wiki"),
        "forum/compose.yaml": "services: [\n",
    }
    found, outcomes, statuses = check(facts(FILES, remote), {"blog": "busy", "shop": PULL_FAILED})
    counted = tally(found, outcomes, statuses)
    assert (counted.deployments_ok, counted.deployments_failed, counted.problems) == (1, 2, 1)
    assert counted.active == {Status.OK: 1, Status.ERROR: 2, Status.REMOVAL_FAILED: 1}
    assert not counted.all_ok


def test_tally_all_ok_when_every_action_succeeded_and_nothing_is_broken() -> None:
    found, outcomes, statuses = check(facts(FILES, {**FILES, "shop/.env": "A=1\n"}))
    counted = tally(found, outcomes, statuses)
    assert counted.all_ok
    assert counted.active == {Status.OK: 2, Status.ERROR: 0, Status.REMOVAL_FAILED: 0}
