"""When a stack counts as fully running on the host, and how the reason reads when not."""

from gitops_compose.core.compose.stack import Stack
from gitops_compose.core.reconcile.runtime import Container, not_running_reason

from .builders import compose, exited, stacks, up


def shop(**bodies: dict[str, object]) -> Stack:
    text = compose(**bodies) if bodies else compose("web", "db")
    return stacks({"shop/compose.yaml": text}).valid["shop"]


def test_every_service_running_is_fully_running() -> None:
    assert not_running_reason(shop().expectation, up("web", "db")) is None


def test_no_containers_at_all() -> None:
    assert not_running_reason(shop().expectation, ()) == "no containers"


def test_exited_service_names_its_exit_code() -> None:
    assert not_running_reason(shop().expectation, (*up("web"), exited("db", 1))) == "db exited 1"


def test_missing_service_is_named() -> None:
    assert not_running_reason(shop().expectation, up("web")) == "db has no container"


def test_every_problem_is_listed() -> None:
    containers = (Container("web", "restarting"), Container("db", "paused"))
    assert not_running_reason(shop().expectation, containers) == "db paused, web restarting"


def test_one_stopped_replica_is_enough_to_count_as_not_running() -> None:
    containers = (*up("web", "db"), exited("web", 137))
    assert not_running_reason(shop().expectation, containers) == "web exited 137"


def test_a_long_running_service_that_exited_0_is_not_running() -> None:
    assert not_running_reason(shop().expectation, (*up("web"), exited("db", 0))) == "db exited 0"


def test_one_shot_service_exited_0_counts_as_fine() -> None:
    stack = shop(
        migrate={},
        app={"depends_on": {"migrate": {"condition": "service_completed_successfully"}}},
    )
    assert not_running_reason(stack.expectation, (*up("app"), exited("migrate", 0))) is None
    assert (
        not_running_reason(stack.expectation, (*up("app"), exited("migrate", 2)))
        == "migrate exited 2"
    )


def test_profile_and_scale_zero_services_are_not_expected() -> None:
    stack = shop(web={}, debug={"profiles": ["debug"]}, spare={"scale": 0})
    assert not_running_reason(stack.expectation, up("web")) is None


def test_stack_whose_services_all_wait_for_a_profile_needs_no_containers() -> None:
    stack = shop(backup={"profiles": ["backup"]}, restore={"profiles": ["backup"]})
    assert not_running_reason(stack.expectation, ()) is None


def included(path: str) -> Stack:
    files = {"proxy/compose.yaml": f"include: [{path}]\n", "lib/proxy.yaml": compose("proxy")}
    return stacks(files).valid["proxy"]


def test_services_of_an_included_file_of_the_repository_must_run() -> None:
    assert not_running_reason(
        included("../lib/proxy.yaml").expectation, (exited("proxy", 137),)
    ) == ("proxy exited 137")


def test_a_stack_including_only_host_files_without_containers_is_not_running() -> None:
    assert (
        not_running_reason(included("/etc/compose/proxy.yaml").expectation, ()) == "no containers"
    )


def test_a_stack_including_only_host_files_runs_when_its_containers_run() -> None:
    assert not_running_reason(included("/etc/compose/proxy.yaml").expectation, up("proxy")) is None
