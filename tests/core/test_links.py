"""Symbolic links that leave the repository: allowed, and named when a stack uses them."""

from __future__ import annotations

from collections.abc import Mapping

from gitops_compose.core.compose.link import OutsideLink
from gitops_compose.core.compose.stack import Stacks, stacks_of
from gitops_compose.core.reconcile.plan import Facts, LinkWarning
from gitops_compose.core.reconcile.report import plan_document, plan_lines
from gitops_compose.core.value import replace

from .builders import BRANCH, PARSING, ROOT_NAME, all_running, compose, planned, repo

APP = compose(app={"env_file": "app.env"})


def linked(files: Mapping[str, str], links: Mapping[str, str]) -> Stacks:
    """A commit whose ``links`` (path -> target) end at no file of it, as the git adapter
    hands them over: a blob holding the target, listed as a dead link."""
    snapshot = repo({**files, **links})
    return stacks_of(replace(snapshot, dead_links=dict(links)), ROOT_NAME, PARSING)


def warnings(files: Mapping[str, str], links: Mapping[str, str]) -> list[str]:
    """The plan's warnings for one commit as ``stack: reason``."""
    found = linked(files, links)
    facts = Facts(found, found, BRANCH, True, all_running(found), full_pass=False)
    return [f"{each.stack}: {each.link.reason}" for each in planned(facts).warnings]


def test_an_env_file_linked_to_an_absolute_host_path_is_named() -> None:
    found = warnings({"a/compose.yaml": APP}, {"a/app.env": "/etc/passwd"})
    assert found == ["a: a/app.env is a symbolic link to /etc/passwd, outside the repository"]


def test_a_link_climbing_above_the_root_is_named_and_one_staying_below_it_is_not() -> None:
    files = {
        "a/b/compose.yaml": compose("app", app={"secrets": ["s"]}),
        "c/d/compose.yaml": compose("app"),
    }
    found = warnings(
        files,
        {
            "a/b/secret": "../../../etc/shadow",  # a/b -> a -> . -> above the root
            "c/d/secret": "../../etc/shadow",  # etc/shadow of the repository: not there
        },
    )
    assert found == [
        "a/b: a/b/secret is a symbolic link to ../../../etc/shadow, outside the repository"
    ]


def test_a_link_to_a_link_of_the_repository_that_leaves_names_the_way_out() -> None:
    files = {"a/compose.yaml": APP}
    found = linked(files, {"a/app.env": "../shared/app.env", "shared/app.env": "/etc/passwd"})
    assert found.outside_links["a"] == (
        OutsideLink("a/app.env", "../shared/app.env", "/etc/passwd", ("shared/app.env",)),
    )
    assert found.outside_links["a"][0].reason == (
        "a/app.env is a symbolic link to ../shared/app.env, which leads through "
        "shared/app.env to /etc/passwd, outside the repository"
    )


def test_a_bind_mount_of_a_linked_directory_outside_the_stack_is_named() -> None:
    files = {
        "a/compose.yaml": compose(app={"volumes": ["../data:/data"]}),
        "b/compose.yaml": compose(app={"env_file": "../conf/app.env"}),
        "c/compose.yaml": compose("app"),
    }
    found = warnings(files, {"data": "/srv/data", "conf": "/etc/app"})
    assert found == [
        "a: data is a symbolic link to /srv/data, outside the repository",
        # Through a linked directory: the file Compose reads is /etc/app/app.env.
        "b: conf is a symbolic link to /etc/app, outside the repository",
    ]


def test_a_new_target_of_a_link_used_through_a_linked_directory_restarts_the_stack() -> None:
    files = {"b/compose.yaml": compose(app={"env_file": "../conf/app.env"})}
    before = linked(files, {"conf": "/etc/app"}).valid["b"]
    after = linked(files, {"conf": "/etc/other"}).valid["b"]
    assert "conf" in after.files
    assert after.fingerprint != before.fingerprint


def test_links_no_stack_uses_and_links_that_loop_or_point_nowhere_are_silent() -> None:
    files = {"a/compose.yaml": compose("app"), "notes/README.md": "x\n"}
    links = {
        "notes/passwd": "/etc/passwd",  # in no stack's directory, named by none
        "a/loop": "other",
        "a/other": "loop",
        "a/dangling": "../missing/app.env",
    }
    assert warnings(files, links) == []


def test_a_stack_the_tool_does_not_deploy_is_not_warned_about() -> None:
    ignored = compose(toy={"labels": ["gitops.ignore=true"], "env_file": "app.env"})
    assert warnings({"toy/compose.yaml": ignored}, {"toy/app.env": "/etc/passwd"}) == []


def test_each_stack_that_uses_a_shared_link_is_warned_about_once_per_link() -> None:
    files = {
        "a/compose.yaml": compose(app={"env_file": ["../shared/app.env", "../shared/x.env"]}),
        "b/compose.yaml": compose(app={"env_file": "../shared/app.env"}),
    }
    found = warnings(files, {"shared/app.env": "/etc/app.env", "shared/x.env": "/etc/x.env"})
    assert found == [
        "a: shared/app.env is a symbolic link to /etc/app.env, outside the repository",
        "a: shared/x.env is a symbolic link to /etc/x.env, outside the repository",
        "b: shared/app.env is a symbolic link to /etc/app.env, outside the repository",
    ]


def test_plan_text_and_json_name_the_link_and_its_target_and_stay_in_sync() -> None:
    found = linked({"a/compose.yaml": APP}, {"a/app.env": "/etc/passwd"})
    plan = planned(Facts(found, found, BRANCH, True, all_running(found), full_pass=False))
    assert plan.in_sync
    assert plan.warnings == (
        LinkWarning("a", "a", OutsideLink("a/app.env", "/etc/passwd", "/etc/passwd")),
    )
    assert plan_lines(plan, BRANCH)[:-1] == [
        "warning  a (a/app.env is a symbolic link to /etc/passwd, outside the repository)"
    ]
    assert plan_lines(plan, BRANCH)[-1].startswith("in sync at ")
    document = plan_document(plan, BRANCH)
    assert document["in_sync"] is True
    assert document["warnings"] == [
        {
            "stack": "a",
            "project": "a",
            "kind": "link outside",
            "link": "a/app.env",
            "target": "/etc/passwd",
            "via": [],
            "outside": "/etc/passwd",
            "reason": "a/app.env is a symbolic link to /etc/passwd, outside the repository",
        }
    ]


def test_a_commit_without_links_has_no_warnings() -> None:
    found = stacks_of(repo({"a/compose.yaml": APP, "a/app.env": "A=1\n"}), ROOT_NAME, PARSING)
    assert found.outside_links == {}


def test_an_included_file_a_build_context_and_a_config_file_out_of_the_repository_are_named() -> (
    None
):
    config = compose(web={"configs": ["c"]}) + "configs:\n  c:\n    file: ../conf/c.conf\n"
    files = {
        "inc/compose.yaml": "include: [../lib/tls.yaml]\n" + compose("web"),
        "built/compose.yaml": "services:\n  web:\n    build: ../src/api\n",
        "conf-user/compose.yaml": config,
    }
    links = {"lib/tls.yaml": "/etc/tls.yaml", "src": "/srv/src", "conf/c.conf": "../../c.conf"}
    assert warnings(files, links) == [
        "built: src is a symbolic link to /srv/src, outside the repository",
        "conf-user: conf/c.conf is a symbolic link to ../../c.conf, outside the repository",
        "inc: lib/tls.yaml is a symbolic link to /etc/tls.yaml, outside the repository",
    ]
