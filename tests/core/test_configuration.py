"""Configuration drift: a running stack is adopted only when it runs its files'
configuration; otherwise it is deployed, or reported as drifted."""

from gitops_compose.core.compose.interpolation import names_read
from gitops_compose.core.reconcile.action import Drift
from gitops_compose.core.reconcile.configuration import (
    Baseline,
    ExpectedConfig,
    drifted,
    expected_config,
)
from gitops_compose.core.reconcile.looking import on_host
from gitops_compose.core.reconcile.plan import Facts
from gitops_compose.core.reconcile.runtime import Container
from gitops_compose.core.reconcile.state import State, state_from_json, state_to_json
from gitops_compose.core.reconcile.status import Condition, StackStatus, Status
from gitops_compose.core.value import replace

from .builders import MY_APP, facts, planned, stacks, steps

CLONE = "/srv/infra"
PRODUCTION = "my_app/production"
HASHES = {"web": "a1b2c3d4e5", "db": "f6e5d4c3b2"}


def running(
    web: str = "a1b2c3d4e5", directory: str = f"{CLONE}/{PRODUCTION}"
) -> dict[str, tuple[Container, ...]]:
    """The production stack runs with these labels; staging runs as its files say."""
    return {
        "my_app-production": (
            Container("web", "running", config_hash=web, working_dir=directory),
            Container("db", "running", config_hash=HASHES["db"], working_dir=directory),
        ),
        "my_app-staging": (Container("web", "running"), Container("db", "running")),
    }


def with_configs(
    given_host: dict[str, tuple[Container, ...]],
    *,
    full_pass: bool = False,
    self_heal: bool = False,
    deployed: dict[str, str] | None = None,
    statuses: dict[str, StackStatus] | None = None,
) -> Facts:
    found = facts(
        MY_APP,
        host=given_host,
        full_pass=full_pass,
        self_heal=self_heal,
        deployed=deployed,
        statuses=statuses,
    )
    return replace(found, configs={PRODUCTION: HASHES}, clone=CLONE)


def test_a_stack_running_its_configuration_is_adopted_without_a_restart() -> None:
    assert planned(with_configs(running(), full_pass=True)).actions == ()


def test_a_service_running_other_configuration_is_deployed_on_a_full_pass_naming_it() -> None:
    found = planned(with_configs(running(web="0000000000"), full_pass=True))
    assert steps(found) == [
        "start my_app/production: drift: web runs other configuration than a1b2c3d"
    ]
    cause = found.stack_actions[0].cause
    assert isinstance(cause, Drift)
    assert cause.services == ("web",)


def test_a_project_started_from_another_directory_is_drift_of_every_service() -> None:
    found = planned(with_configs(running(directory="/home/me/manual"), full_pass=True))
    assert steps(found) == [
        "start my_app/production: drift: db, web run other configuration than the repository's"
    ]


def test_drift_later_is_reported_and_left_alone_without_self_heal() -> None:
    deployed = {path: each.fingerprint for path, each in stacks(MY_APP).valid.items()}
    found = planned(with_configs(running(web="0000000000"), deployed=deployed))
    assert found.actions == ()
    assert not found.in_sync
    assert [(each.stack, each.reason) for each in found.drift] == [
        (
            PRODUCTION,
            "drifted: web runs other configuration than a1b2c3d; "
            "left alone until its next change or --self-heal",
        )
    ]


def test_drift_later_is_deployed_back_with_self_heal() -> None:
    deployed = {path: each.fingerprint for path, each in stacks(MY_APP).valid.items()}
    found = planned(with_configs(running(web="0000000000"), deployed=deployed, self_heal=True))
    assert steps(found) == [
        "start my_app/production: drift: web runs other configuration than a1b2c3d"
    ]


def test_a_rolled_back_stack_runs_its_last_good_configuration_without_drift() -> None:
    fingerprint = stacks(MY_APP).valid[PRODUCTION].fingerprint
    record = StackStatus(
        "my_app-production", Status.ERROR, fingerprint="old", rolled_back_from=fingerprint
    )
    found = planned(
        with_configs(running(web="0000000000"), self_heal=True, statuses={PRODUCTION: record})
    )
    assert not any(isinstance(each.cause, Drift) for each in found.stack_actions)
    assert not any(each.reason.startswith("drifted") for each in found.drift)


def test_a_container_without_the_label_or_an_unknown_service_is_not_judged() -> None:
    containers = (Container("web", "running"), Container("extra", "running", config_hash="x"))
    assert drifted(HASHES, containers, None) == ()


def test_expected_configurations_survive_the_state_file() -> None:
    config = expected_config("fp", ("TAG",), {"TAG": "1"}, HASHES)
    state = State(configs={PRODUCTION: config})
    assert state_from_json(state_to_json(state)).unwrap() == state


def test_a_deployed_stack_running_other_configuration_is_drifted_on_any_look() -> None:
    record = StackStatus("my_app-production", Status.OK, fingerprint="fp")
    configs = Baseline({PRODUCTION: ExpectedConfig("fp", tuple(sorted(HASHES.items())))})
    seen = on_host({PRODUCTION: record}, running(web="0000000000"), {}, configs)
    assert seen[PRODUCTION].drift == ("web",)
    assert seen[PRODUCTION].condition is Condition.DRIFTED
    back = on_host(seen, running(), {}, configs)
    assert back[PRODUCTION].condition is Condition.OK


def test_hashes_kept_for_other_files_or_a_rollback_judge_nothing() -> None:
    older = ExpectedConfig("older", tuple(sorted(HASHES.items())))
    configs = Baseline({PRODUCTION: older})
    record = StackStatus("my_app-production", Status.OK, fingerprint="fp")
    assert on_host({PRODUCTION: record}, running(web="0"), {}, configs)[PRODUCTION].drift == ()
    kept = Baseline({PRODUCTION: replace(older, key="fp")})
    rolled = replace(record, rolled_back_from="new")
    assert on_host({PRODUCTION: rolled}, running(web="0"), {}, kept)[PRODUCTION].drift == ()


def test_hashes_kept_for_other_environment_values_judge_nothing() -> None:
    record = StackStatus("my_app-production", Status.OK, fingerprint="fp")
    config = expected_config("fp", ("TAG",), {"TAG": "1"}, HASHES)
    then = Baseline({PRODUCTION: config}, {"TAG": "1", "OTHER": "x"})
    now = Baseline({PRODUCTION: config}, {"TAG": "2"})
    unset = Baseline({PRODUCTION: config}, {})
    assert on_host({PRODUCTION: record}, running(web="0"), {}, then)[PRODUCTION].drift == ("web",)
    assert on_host({PRODUCTION: record}, running(web="0"), {}, now)[PRODUCTION].drift == ()
    assert on_host({PRODUCTION: record}, running(web="0"), {}, unset)[PRODUCTION].drift == ()
    assert not config.holds("fp", {"TAG": ""})  # empty is not unset


def test_a_project_run_from_another_directory_shows_in_status_after_a_deploy() -> None:
    record = StackStatus("my_app-production", Status.OK, fingerprint="fp")
    kept = Baseline({PRODUCTION: ExpectedConfig("fp", tuple(sorted(HASHES.items())))}, clone=CLONE)
    assert on_host({PRODUCTION: record}, running(), {}, kept)[PRODUCTION].drift == ()
    moved = on_host({PRODUCTION: record}, running(directory="/home/me/app"), {}, kept)
    assert moved[PRODUCTION].drift == ("db", "web")
    assert moved[PRODUCTION].condition is Condition.DRIFTED


def test_services_run_from_another_directory_are_recreated_by_force_when_healed() -> None:
    deployed = {path: each.fingerprint for path, each in stacks(MY_APP).valid.items()}
    given = with_configs(running(directory="/home/me/app"), deployed=deployed, self_heal=True)
    found = planned(given)
    assert [each.recreating for each in found.stack_actions] == [("db", "web")]
    other = planned(with_configs(running(web="0000000000"), deployed=deployed, self_heal=True))
    assert [each.recreating for each in other.stack_actions] == [None]  # Compose sees it


def test_the_variables_a_text_reads_include_defaults_and_not_escapes() -> None:
    assert names_read("${A:-${B}}-$C-$$D-${E:?no}") == ("B", "A", "C", "E")
    assert names_read("no variables") == ()


def test_a_stack_reads_the_variables_it_interpolates_and_those_passed_through() -> None:
    files = {
        "app/compose.yaml": (
            "services:\n  web:\n    image: busybox:${TAG}\n"
            "    environment: [TOKEN, FIXED=1, 'LEVEL=${LEVEL:-info}']\n"
            "    labels: {a: $$NOT}\n"
        ),
        "app/.env": "TAG=2\n",
    }
    assert stacks(files).valid["app"].variables_read == ("LEVEL", "TAG", "TOKEN")


def test_a_new_stack_whose_project_runs_from_elsewhere_recreates_those_services() -> None:
    given = facts({}, MY_APP, host=running(directory="/home/me/app"))  # a commit adds them
    found = planned(replace(given, clone=CLONE))
    starts = {each.stack: each for each in found.stack_actions}
    assert starts[PRODUCTION].reason == "new"
    assert starts[PRODUCTION].recreating == ("db", "web")
    assert starts["my_app/staging"].recreating is None
