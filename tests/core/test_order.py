"""Order between stacks: what depends on what, and how a plan orders its actions by it."""

from __future__ import annotations

from typing import Any

import yaml

from gitops_compose.core.compose.resource import Resource, ResourceKind
from gitops_compose.core.reconcile.order import order_of
from gitops_compose.core.value import replace

from .builders import compose, facts, planned, stacks, up

PROXY_NET = {"proxy": {"name": "proxy"}}


def stack_file(body: dict[str, Any] | None = None, **top: Any) -> str:
    document = {"services": {"web": {"image": "registry.local/web:1", **(body or {})}}, **top}
    return yaml.safe_dump(document)


PROXY = stack_file({"networks": ["proxy"]}, networks=PROXY_NET)
USER = stack_file({"networks": ["proxy"]}, networks={"proxy": {"external": True, "name": "proxy"}})
REPO = {"reverse_proxy/compose.yaml": PROXY, "app/compose.yaml": USER, "blog/compose.yaml": USER}


def test_a_stack_using_an_external_network_depends_on_the_stack_creating_it() -> None:
    order = order_of(stacks(REPO))
    assert order.needs == {"app": {"reverse_proxy"}, "blog": {"reverse_proxy"}}
    assert order.problems == {}


def test_networks_and_volumes_match_by_the_name_docker_gives_them() -> None:
    # No name: Docker calls the network <project>_<key>; the user names it so, externally.
    repo = {
        "db/compose.yaml": stack_file(
            {"volumes": ["data:/var/lib/db"]}, volumes={"data": None}, networks={"back": {}}
        ),
        "app/compose.yaml": stack_file(
            {"volumes": ["db_data:/data"], "networks": ["db_back"]},
            volumes={"db_data": {"external": True}},
            networks={"db_back": {"external": {"name": "db_back"}}},
        ),
    }
    found = stacks(repo)
    assert Resource(ResourceKind.VOLUME, "db_data") in found.valid["db"].creates
    assert order_of(found).needs == {"app": {"db"}}


def test_the_default_network_of_another_project_counts_too() -> None:
    repo = {
        "db/compose.yaml": compose("db"),
        "app/compose.yaml": stack_file(
            networks={"default": {"name": "db_default", "external": True}}
        ),
    }
    assert order_of(stacks(repo)).needs == {"app": {"db"}}


def test_x_gitops_depends_on_names_stacks_by_path() -> None:
    repo = {
        "db/main/compose.yaml": compose("db"),
        "app/compose.yaml": stack_file(**{"x-gitops": {"depends_on": ["./db/main/"]}}),
    }
    assert order_of(stacks(repo)).needs == {"app": {"db/main"}}


def test_a_cycle_is_an_error_for_the_stacks_in_it_alone() -> None:
    repo = {
        "a/compose.yaml": stack_file(**{"x-gitops": {"depends_on": ["b"]}}),
        "b/compose.yaml": stack_file(**{"x-gitops": {"depends_on": ["a"]}}),
        "c/compose.yaml": stack_file(**{"x-gitops": {"depends_on": ["a"]}}),
        "d/compose.yaml": stack_file(**{"x-gitops": {"depends_on": ["d"]}}),
    }
    order = order_of(stacks(repo))
    assert order.problems == {
        "a": "stacks depend on each other in a cycle: a -> b -> a",
        "b": "stacks depend on each other in a cycle: a -> b -> a",
        "d": "stacks depend on each other in a cycle: d -> d",
    }


def test_depends_on_naming_no_stack_is_an_error_naming_it() -> None:
    repo = {"app/compose.yaml": stack_file(**{"x-gitops": {"depends_on": ["reverse_proxx"]}})}
    assert order_of(stacks(repo)).problems == {
        "app": "x-gitops depends_on names reverse_proxx, which is no stack of the repository"
    }


def test_a_bad_x_gitops_section_is_an_error_for_its_stack() -> None:
    repo = {"app/compose.yaml": stack_file(**{"x-gitops": {"depends_on": {"a": 1}}})}
    assert stacks(repo).broken["app"].reason == (
        "invalid x-gitops: depends_on must be a list of stack paths"
    )


# --- plans in order -------------------------------------------------------------------------


def test_new_stacks_start_after_what_they_depend_on_and_say_so() -> None:
    found = planned(facts({}, REPO, host={}))
    assert [(a.verb.value, a.stack, a.after) for a in found.stack_actions] == [
        ("start", "reverse_proxy", ()),
        ("start", "app", ("reverse_proxy",)),
        ("start", "blog", ("reverse_proxy",)),
    ]


def test_dependencies_only_order_what_this_plan_acts_on() -> None:
    # The proxy runs and did not change: its users wait for nothing.
    running = {"reverse_proxy": up("web")}
    found = planned(facts({"reverse_proxy/compose.yaml": PROXY}, REPO, host=running))
    assert [(a.stack, a.after) for a in found.stack_actions] == [("app", ()), ("blog", ())]


def test_removed_stacks_stop_before_the_stacks_they_use() -> None:
    found = planned(facts(REPO, {"README.md": "gone\n"}))
    assert [(a.verb.value, a.stack, a.after) for a in found.stack_actions] == [
        ("stop", "app", ()),
        ("stop", "blog", ()),
        ("stop", "reverse_proxy", ("app", "blog")),
    ]


def test_a_missing_external_network_blocks_its_stack_before_anything_is_tried() -> None:
    given = facts({}, {"app/compose.yaml": USER}, host={})
    assert planned(given).needs_resources
    lacking = planned(replace(given, resources=frozenset()))
    assert lacking.blocked == {
        "app": "network proxy is external, but no stack creates it and the host has none"
    }
    there = frozenset({Resource(ResourceKind.NETWORK, "proxy")})
    assert planned(replace(given, resources=there)).blocked == {}


def test_a_stack_lacking_a_network_and_a_volume_names_both() -> None:
    user = stack_file(
        {"networks": ["proxy"], "volumes": ["media:/media"]},
        networks={"proxy": {"external": True}},
        volumes={"media": {"external": True}},
    )
    given = replace(facts({}, {"app/compose.yaml": user}, host={}), resources=frozenset())
    assert planned(given).blocked == {
        "app": "network proxy and volume media are external, but no stack creates them and "
        "the host has none"
    }
