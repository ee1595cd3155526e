"""The plan of one check: which stacks are stopped, started, restarted, in which order, why."""

from returns.result import Failure

from gitops_compose.core.reconcile.action import Changed
from gitops_compose.core.reconcile.plan import (
    FastForward,
    Phase,
    Problem,
    Skip,
    StackAction,
    Verb,
    plan,
)
from gitops_compose.core.reconcile.status import StackStatus, Status
from gitops_compose.core.value import replace

from .builders import (
    MY_APP,
    all_running,
    compose,
    exited,
    facts,
    planned,
    stacks,
    steps,
    up,
)

IGNORED = compose(toy={"labels": ["gitops.ignore=true"]})
BROKEN = "services:\n  web: [\n"


def without(files: dict[str, str], folder: str) -> dict[str, str]:
    return {path: text for path, text in files.items() if not path.startswith(f"{folder}/")}


def moved(files: dict[str, str], source: str, target: str) -> dict[str, str]:
    return {
        path.replace(f"{source}/", f"{target}/", 1) if path.startswith(f"{source}/") else path: text
        for path, text in files.items()
    }


# --- nothing to do --------------------------------------------------------------------------


def test_unchanged_and_running_stacks_never_appear() -> None:
    found = planned(facts(MY_APP, full_pass=True))
    assert found.actions == ()
    assert found.in_sync


def test_edit_outside_every_stack_only_fast_forwards() -> None:
    assert steps(planned(facts(MY_APP, {**MY_APP, "README.md": "# v2\n"}))) == ["fast-forward"]


# --- changes --------------------------------------------------------------------------------


def test_env_edit_restarts_only_that_stack_naming_the_file() -> None:
    found = planned(facts(MY_APP, {**MY_APP, "my_app/production/.env": "TAG=1.5\n"}))
    assert steps(found) == [
        "fast-forward",
        "restart my_app/production: changed: my_app/production/.env",
    ]


def test_nested_config_edit_restarts_its_stack() -> None:
    remote = {**MY_APP, "my_app/production/config/nginx/site.conf": "server { listen 81; }\n"}
    assert steps(planned(facts(MY_APP, remote)))[1:] == [
        "restart my_app/production: changed: my_app/production/config/nginx/site.conf"
    ]


def test_shared_env_file_edit_restarts_the_stacks_naming_it_and_says_which_file() -> None:
    files = {
        **MY_APP,
        "shared/common.env": "TZ=UTC\n",
        "my_app/staging/compose.yaml": compose(web={"env_file": "../../shared/common.env"}),
    }
    found = planned(facts(files, {**files, "shared/common.env": "TZ=Europe/Paris\n"}))
    assert steps(found) == [
        "fast-forward",
        "restart my_app/staging: changed: shared/common.env",
    ]


def test_many_changed_files_are_summarised() -> None:
    remote = {
        **MY_APP,
        **{f"my_app/staging/config/{n}.conf": "x\n" for n in "abcde"},
    }
    (action,) = planned(facts(MY_APP, remote)).stack_actions
    assert action.reason == (
        "changed: my_app/staging/config/a.conf, my_app/staging/config/b.conf, "
        "my_app/staging/config/c.conf and 2 more"
    )


def test_restart_uses_the_remote_commit_and_files() -> None:
    remote = {**MY_APP, "my_app/staging/.env": "TAG=2\n"}
    given = facts(MY_APP, remote)
    (action,) = planned(given).stack_actions
    assert action.commit == given.remote.commit
    assert action.compose_files == ("my_app/staging/compose.yaml",)
    assert action.fingerprint == given.remote.valid["my_app/staging"].fingerprint


def test_switching_to_an_override_file_restarts() -> None:
    remote = {**MY_APP, "my_app/staging/compose.override.yaml": compose("debug")}
    given = facts(MY_APP, remote)
    (action,) = planned(given).stack_actions
    assert action.verb is Verb.RESTART
    assert action.compose_files == (
        "my_app/staging/compose.yaml",
        "my_app/staging/compose.override.yaml",
    )


def test_editing_the_root_stacks_loose_files_restarts_it() -> None:
    local = {**MY_APP, "compose.yaml": compose("monitoring")}
    assert steps(planned(facts(local, {**local, "README.md": "# v2\n"})))[1:] == [
        "restart .: changed: README.md"
    ]


# --- added, removed, renamed, moved ---------------------------------------------------------


def test_new_stack_is_started() -> None:
    remote = {**MY_APP, "my_app/qa/compose.yaml": compose("web")}
    given = facts(MY_APP, remote)
    (action,) = planned(given).stack_actions
    assert (action.verb, action.stack, action.project, action.reason) == (
        Verb.START,
        "my_app/qa",
        "my_app-qa",
        "new",
    )
    assert action.phase is Phase.ADD


def test_removed_stack_is_stopped_with_the_local_files_before_fast_forward() -> None:
    given = facts(MY_APP, without(MY_APP, "my_app/staging"))
    found = planned(given)
    assert steps(found) == ["stop my_app/staging: removed from main", "fast-forward"]
    (stop,) = found.stack_actions
    assert stop.commit == given.local.commit
    assert stop.compose_files == ("my_app/staging/compose.yaml",)
    assert stop.project == "my_app-staging"


def test_renamed_project_stops_the_old_name_and_starts_the_new() -> None:
    remote = {**MY_APP, "my_app/production/compose.yaml": compose("web", "db", name="shop")}
    found = planned(facts(MY_APP, remote))
    assert steps(found) == [
        "stop my_app/production: project renamed to shop",
        "fast-forward",
        "start my_app/production: renamed from my_app-production",
    ]
    stop, start = found.stack_actions
    assert (stop.project, start.project) == ("my_app-production", "shop")


def test_moved_stack_stops_the_old_project_and_starts_the_new() -> None:
    found = planned(facts(MY_APP, moved(MY_APP, "my_app/staging", "staging")))
    assert steps(found) == [
        "stop my_app/staging: removed from main",
        "fast-forward",
        "start staging: new",
    ]
    assert [each.project for each in found.stack_actions] == ["my_app-staging", "staging"]


def test_moved_stack_with_a_declared_name_is_stopped_then_started_under_that_name() -> None:
    local = {**MY_APP, "shop/compose.yaml": compose("web", name="shop")}
    found = planned(facts(local, moved(local, "shop", "apps/shop")))
    assert [(each.verb, each.stack, each.project) for each in found.stack_actions] == [
        (Verb.STOP, "shop", "shop"),
        (Verb.START, "apps/shop", "shop"),
    ]


def test_removing_a_broken_stack_stops_it_by_project_name() -> None:
    local = {**MY_APP, "my_app/staging/compose.yaml": BROKEN}
    host = {**all_running(stacks(local)), "my_app-staging": up("web", "db")}
    given = facts(local, without(local, "my_app/staging"), host=host)
    (stop,) = planned(given).stack_actions
    assert (stop.verb, stop.project, stop.compose_files, stop.reason) == (
        Verb.STOP,
        "my_app-staging",
        (),
        "removed from main",
    )


def test_project_stopped_with_one_folder_is_started_from_the_folder_that_keeps_it() -> None:
    store = compose("web", name="store")
    before = {**MY_APP, "my_store/compose.yaml": store}
    back = stacks(before).valid["my_store"]
    # my_store/ broke while a copy in apps/store/ ran as 'store'; now it is back, the copy gone.
    local = {**MY_APP, "my_store/compose.yaml": BROKEN, "apps/store/compose.yaml": store}
    record = StackStatus("store", Status.ERROR, "invalid compose file", back.fingerprint)
    host = {**all_running(stacks(MY_APP)), "store": up("web")}
    found = planned(facts(local, before, host, statuses={"my_store": record}))
    assert steps(found) == [
        "stop apps/store: removed from main",
        "fast-forward",
        "start my_store: not running: project store stopped with apps/store",
    ]


# --- broken stacks and clashes --------------------------------------------------------------


def test_removed_broken_stack_is_stopped_as_the_project_it_runs_as() -> None:
    local = {**MY_APP, "shop/compose.yaml": BROKEN}
    record = StackStatus("storefront", Status.ERROR, "invalid compose file", "f1")
    found = planned(facts(local, MY_APP, statuses={"shop": record}))
    assert [(a.verb.value, a.project, a.reason) for a in found.stack_actions] == [
        ("stop", "storefront", "removed from main")
    ]


def test_broken_stack_fixed_under_a_new_name_stops_the_old_project() -> None:
    local = {**MY_APP, "shop/compose.yaml": BROKEN}
    remote = {**MY_APP, "shop/compose.yaml": compose("web", name="shop-v2")}
    record = StackStatus("storefront", Status.ERROR, "invalid compose file", "f1")
    found = planned(facts(local, remote, statuses={"shop": record}))
    assert steps(found)[:1] == ["stop shop: project renamed to shop-v2"]
    assert found.stack_actions[0].project == "storefront"
    assert [a.verb.value for a in found.stack_actions if a.project == "shop-v2"] == ["restart"]


def test_a_removed_broken_stack_never_stops_a_project_another_stack_runs() -> None:
    local = {**MY_APP, "old/compose.yaml": BROKEN, "new/compose.yaml": compose("web", name="old")}
    remote = {**MY_APP, "new/compose.yaml": compose("web", name="old")}
    found = planned(facts(local, remote))
    assert [a for a in found.stack_actions if a.verb.value == "stop"] == []


def test_invalid_yaml_is_a_problem_for_that_stack_and_others_are_still_planned() -> None:
    remote = {
        **MY_APP,
        "my_app/staging/compose.yaml": BROKEN,
        "my_app/production/.env": "TAG=1.5\n",
    }
    found = planned(facts(MY_APP, remote))
    assert steps(found) == [
        "fast-forward",
        "restart my_app/production: changed: my_app/production/.env",
    ]
    (problem,) = found.problems
    assert (problem.stack, problem.project) == ("my_app/staging", "my_app-staging")
    assert problem.reason.startswith("invalid compose file: while parsing a flow node")
    assert not found.in_sync


def test_breaking_a_named_stacks_compose_file_leaves_it_running() -> None:
    local = {**MY_APP, "my_shop/compose.yaml": compose("web", name="shop")}
    found = planned(facts(local, {**local, "my_shop/compose.yaml": BROKEN}))
    assert steps(found) == ["fast-forward"]
    assert [each.stack for each in found.problems] == ["my_shop"]


def test_name_clash_blocks_both_stacks_and_stops_neither() -> None:
    local = {**MY_APP, "a/production/compose.yaml": compose("web", name="production")}
    remote = {**local, "b/production/compose.yaml": compose("web", name="production")}
    found = planned(facts(local, remote, full_pass=True))
    assert steps(found) == ["fast-forward"]
    reason = "project name 'production' is shared by a/production and b/production"
    assert found.problems == (
        Problem("a/production", None, reason),
        Problem("b/production", None, reason),
    )


def test_history_rewritten_is_a_failure_and_plans_nothing() -> None:
    given = facts(MY_APP, {**MY_APP, "my_app/staging/.env": "x\n"}, remote_descends=False)
    result = plan(given)
    assert isinstance(result, Failure)
    reason = result.failure().reason
    assert f"local HEAD {given.local.commit[:12]} is not an ancestor" in reason
    assert f"main {given.remote.commit[:12]}" in reason
    assert reason.endswith("nothing was changed")


# --- the tool's own and ignored stacks ------------------------------------------------------


def test_controller_stack_is_never_restarted_stopped_or_started() -> None:
    changed = planned(facts(MY_APP, {**MY_APP, "gitops/.env": "LOG=debug\n"}))
    removed = planned(facts(MY_APP, without(MY_APP, "gitops")))
    down = planned(facts(MY_APP, host={}, full_pass=True))
    assert steps(changed) == steps(removed) == ["fast-forward"]
    assert "gitops" not in {each.stack for each in down.stack_actions}
    assert changed.skips == (Skip("gitops", "gitops", "controller"),)


def test_ignored_stack_is_left_alone_and_listed_as_skipped() -> None:
    local = {**MY_APP, "lab/compose.yaml": IGNORED}
    found = planned(facts(local, {**local, "lab/.env": "X=1\n"}, host={}, full_pass=True))
    assert "lab" not in {each.stack for each in found.stack_actions}
    assert Skip("lab", "lab", "ignored") in found.skips


def test_removing_the_ignore_label_deploys_the_stack() -> None:
    local = {**MY_APP, "lab/compose.yaml": IGNORED}
    found = planned(facts(local, {**local, "lab/compose.yaml": compose("toy")}))
    assert [(each.verb, each.stack) for each in found.stack_actions] == [(Verb.RESTART, "lab")]


# --- not running ----------------------------------------------------------------------------


def test_full_pass_starts_stacks_that_are_not_fully_running_with_the_reason() -> None:
    host = {**all_running(stacks(MY_APP)), "my_app-staging": (*up("web"), exited("db", 1))}
    del host["my_app-production"]
    found = planned(facts(MY_APP, host=host, full_pass=True))
    assert steps(found) == [
        "start my_app/production: not running: no containers",
        "start my_app/staging: not running: db exited 1",
    ]
    assert {each.phase for each in found.stack_actions} == {Phase.HEAL}


def test_stack_stopped_by_hand_stays_stopped_until_something_changes() -> None:
    host = {"my_app-production": up("web", "db")}
    deployed = {path: each.fingerprint for path, each in stacks(MY_APP).valid.items()}
    quiet = planned(facts(MY_APP, host=host, deployed=deployed))
    healing = planned(facts(MY_APP, host=host, self_heal=True, deployed=deployed))
    changed = planned(facts(MY_APP, {**MY_APP, "README.md": "# v2\n"}, host=host))
    assert quiet.actions == ()
    assert steps(healing) == ["start my_app/staging: not running: no containers"]
    assert steps(changed) == ["fast-forward", "start my_app/staging: not running: no containers"]


def test_a_stack_left_stopped_is_drift_and_the_plan_is_not_in_sync() -> None:
    host = {"my_app-production": up("web", "db")}
    deployed = {path: each.fingerprint for path, each in stacks(MY_APP).valid.items()}
    quiet = planned(facts(MY_APP, host=host, deployed=deployed))
    healing = planned(facts(MY_APP, host=host, self_heal=True, deployed=deployed))
    assert [(each.stack, each.reason) for each in quiet.drift] == [
        (
            "my_app/staging",
            "not running: no containers; left alone until its next change or --self-heal",
        )
    ]
    assert not quiet.in_sync
    # Started by this plan: an action, not drift.
    assert healing.drift == ()


def test_a_stack_the_state_has_no_record_of_is_started_when_it_does_not_run() -> None:
    # A check that died after the fast-forward never recorded the stacks it had not
    # started yet: the next one starts them, without a push or a full pass.
    host = {"my_app-production": up("web", "db")}
    deployed = {"my_app/production": stacks(MY_APP).valid["my_app/production"].fingerprint}
    found = planned(facts(MY_APP, host=host, deployed=deployed))
    assert steps(found) == ["start my_app/staging: not running: no containers"]


def test_a_recorded_stack_gone_from_both_commits_is_stopped_by_its_project_name() -> None:
    # History rewritten away, or a check that died after the fast-forward: the state still
    # records the stack, the files are gone, its project may still run.
    statuses = {"old/app": StackStatus("old-app", Status.OK, fingerprint="f", commit="c")}
    found = planned(facts(MY_APP, statuses=statuses))
    stop = found.stack_actions[0]
    assert steps(found) == ["stop old/app: removed from main"]
    assert (stop.project, stop.compose_files) == ("old-app", ())


def test_unknown_host_state_starts_nothing_for_not_running() -> None:
    given = replace(facts(MY_APP, host={}, full_pass=True), host=None)
    assert planned(given).actions == ()


def test_finished_one_shot_service_is_not_restarted() -> None:
    files = {
        "app/compose.yaml": compose(
            migrate={},
            app={"depends_on": {"migrate": {"condition": "service_completed_successfully"}}},
        )
    }
    host = {"app": (*up("app"), exited("migrate", 0))}
    assert planned(facts(files, host=host, full_pass=True)).actions == ()


def test_profile_service_without_container_is_not_restarted() -> None:
    files = {"app/compose.yaml": compose(web={}, debug={"profiles": ["debug"]})}
    assert planned(facts(files, host={"app": up("web")}, full_pass=True)).actions == ()


def test_changed_stack_that_is_down_is_restarted_once_not_also_started() -> None:
    remote = {**MY_APP, "my_app/staging/.env": "TAG=2\n"}
    host = {"my_app-production": up("web", "db")}
    found = planned(facts(MY_APP, remote, host=host, full_pass=True))
    assert [(each.verb, each.stack) for each in found.stack_actions] == [
        (Verb.RESTART, "my_app/staging")
    ]


# --- saved deployment state -----------------------------------------------------------------


def test_stack_deployed_from_other_files_is_restarted_even_if_head_matches() -> None:
    given = facts(MY_APP, deployed={"my_app/staging": "0123456789abcdef"})
    assert steps(planned(given)) == ["restart my_app/staging: changed since the last deployment"]


def test_stack_deployed_with_the_current_files_is_left_alone() -> None:
    local = stacks(MY_APP)
    deployed = {path: stack.fingerprint for path, stack in local.valid.items()}
    assert planned(facts(MY_APP, deployed=deployed)).actions == ()


# --- order and grouping ---------------------------------------------------------------------


def test_phases_run_remove_fast_forward_add_update_heal() -> None:
    remote = {
        **without(MY_APP, "my_app/staging"),
        "my_app/qa/compose.yaml": compose("web"),
        "my_app/production/.env": "TAG=1.5\n",
        "wiki/compose.yaml": compose("wiki"),
    }
    local = {**MY_APP, "wiki/compose.yaml": compose("wiki")}
    host = {**all_running(stacks(local)), "wiki": (exited("wiki", 1),)}
    found = planned(facts(local, remote, host=host))
    assert steps(found) == [
        "stop my_app/staging: removed from main",
        "fast-forward",
        "start my_app/qa: new",
        "restart my_app/production: changed: my_app/production/.env",
        "start wiki: not running: wiki exited 1",
    ]
    assert [action.phase for action in found.actions] == sorted(Phase)


def test_phases_group_independent_actions_in_order() -> None:
    remote = {
        **without(without(MY_APP, "my_app/staging"), "my_app/production"),
        "a/compose.yaml": compose("web"),
        "b/compose.yaml": compose("web"),
    }
    found = planned(facts(MY_APP, remote))
    groups = found.phases()
    assert [[getattr(each, "stack", "ff") for each in group] for group in groups] == [
        ["my_app/production", "my_app/staging"],
        ["ff"],
        ["a", "b"],
    ]
    assert isinstance(groups[1][0], FastForward)
    assert found.stack_actions == (*groups[0], *groups[2])


def test_new_and_changed_stacks_that_build_here_are_built_and_healed_ones_are_not() -> None:
    built = {"api/compose.yaml": "services:\n  api:\n    build: .\n", "api/Dockerfile": "FROM x\n"}
    new = planned(facts({}, built))
    changed = planned(facts(built, {**built, "api/Dockerfile": "FROM y\n"}))
    healed = planned(facts(built, built, host={}, full_pass=True))
    assert [(a.verb, a.build) for a in new.actions if isinstance(a, StackAction)] == [
        (Verb.START, True)
    ]
    assert [(a.verb, a.build) for a in changed.actions if isinstance(a, StackAction)] == [
        (Verb.RESTART, True)
    ]
    assert [(a.verb, a.build) for a in healed.actions if isinstance(a, StackAction)] == [
        (Verb.START, False)
    ]


def test_a_changed_mounted_file_names_the_services_it_is_mounted_into() -> None:
    files = {
        "shop/compose.yaml": compose(
            web={"volumes": ["./conf/nginx.conf:/etc/nginx/nginx.conf:ro"]},
            api={"volumes": ["./conf:/conf"], "configs": ["settings"]},
            worker={},
        )
        + "configs:\n  settings:\n    file: ./settings.toml\n",
        "shop/conf/nginx.conf": "a\n",
        "shop/settings.toml": "a\n",
        "shop/.env": "A=1\n",
    }
    found = planned(facts(files, {**files, "shop/conf/nginx.conf": "b\n", "shop/.env": "A=2\n"}))
    [action] = found.stack_actions
    assert action.reason == "changed: shop/.env, shop/conf/nginx.conf → api and web"
    assert isinstance(action.cause, Changed)
    assert action.cause.recreated == ("api", "web")
    config = planned(facts(files, {**files, "shop/settings.toml": "b\n"}))
    [action] = config.stack_actions
    assert isinstance(action.cause, Changed)
    assert action.cause.recreated == ("api",)
