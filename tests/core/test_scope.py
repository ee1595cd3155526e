"""A host's scope (--path): which stacks of the repository are its own, and what still counts."""

from __future__ import annotations

import pytest
from returns.result import Failure, Success

from gitops_compose.core.compose.compose_sources import contents_needed
from gitops_compose.core.compose.scope import EVERYWHERE, Scope, scope_of
from gitops_compose.core.compose.snapshot import Snapshot
from gitops_compose.core.compose.stack import stacks_of
from gitops_compose.core.reconcile.state import State, within
from gitops_compose.core.reconcile.status import StackStatus, Status
from gitops_compose.core.value import replace

from .builders import PARSING, ROOT_NAME, blob_id, compose, repo

A = Scope(("hosts/a",))
SHARED = "../../../shared/common.env"
MANY_HOSTS = {
    "shared/common.env": "TZ=UTC\n",
    "hosts/a/web/compose.yaml": compose(web={"env_file": [SHARED]}),
    "hosts/a/db/compose.yaml": compose("db"),
    "hosts/b/web/compose.yaml": compose(web={"env_file": [SHARED]}),
    "hosts/ab/compose.yaml": compose("other"),
    "compose.yaml": compose("root"),
}


@pytest.mark.parametrize(
    ("given", "subtrees"),
    [
        (["hosts/a"], ("hosts/a",)),
        (["hosts/a/", "./hosts/b"], ("hosts/a", "hosts/b")),
        (["hosts/a", "hosts/a/web", "hosts/a"], ("hosts/a",)),
        (["hosts//a/./x/.."], ("hosts/a",)),
    ],
)
def test_paths_are_normalised_and_nested_ones_kept_once(
    given: list[str], subtrees: tuple[str, ...]
) -> None:
    assert scope_of(given) == Success(Scope(subtrees))


def test_no_path_or_the_root_is_the_whole_repository() -> None:
    assert scope_of([]) == Success(EVERYWHERE)
    assert scope_of(["hosts/a", "."]) == Success(EVERYWHERE)
    assert scope_of(["hosts/a", "."]).unwrap().holds("anything/at/all")


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ("/srv/infra/hosts/a", "must be relative to the repository root"),
        ("~/hosts/a", "must be relative to the repository root"),
        ("..", "leaves the repository"),
        ("hosts/../../elsewhere", "leaves the repository"),
        ("  ", "must not be empty"),
        ("hosts\\a", "separate directories with /"),
    ],
)
def test_a_path_outside_the_repository_is_refused_with_one_line(given: str, said: str) -> None:
    found = scope_of(["hosts/b", given])
    assert isinstance(found, Failure)
    assert said in found.failure()
    assert "\n" not in found.failure()


def test_a_subtree_holds_its_directory_and_below_and_nothing_beside_or_above() -> None:
    assert A.holds("hosts/a")
    assert A.holds("hosts/a/web")
    assert not A.holds("hosts/ab")
    assert not A.holds("hosts")
    assert not A.holds(".")


def test_only_the_stacks_of_the_subtrees_are_read() -> None:
    found = stacks_of(repo(MANY_HOSTS), ROOT_NAME, PARSING, A)
    assert sorted(found.valid) == ["hosts/a/db", "hosts/a/web"]
    assert found.missing == ()


def test_project_names_stay_relative_to_the_repository_root() -> None:
    everything = stacks_of(repo(MANY_HOSTS), ROOT_NAME, PARSING)
    scoped = stacks_of(repo(MANY_HOSTS), ROOT_NAME, PARSING, A)
    assert {path: each.project for path, each in scoped.valid.items()} == {
        "hosts/a/db": "hosts-a-db",
        "hosts/a/web": "hosts-a-web",
    }
    for path, stack in scoped.valid.items():
        assert everything.valid[path].project == stack.project
        assert everything.valid[path].fingerprint == stack.fingerprint


def test_a_file_outside_the_subtree_still_counts_for_the_stacks_that_name_it() -> None:
    before = stacks_of(repo(MANY_HOSTS), ROOT_NAME, PARSING, A)
    edited = {**MANY_HOSTS, "shared/common.env": "TZ=Europe/Paris\n"}
    after = stacks_of(repo(edited), ROOT_NAME, PARSING, A)
    assert "shared/common.env" in after.valid["hosts/a/web"].files
    changed = {
        path
        for path in after.valid
        if after.valid[path].fingerprint != before.valid[path].fingerprint
    }
    assert changed == {"hosts/a/web"}


def test_a_change_in_another_hosts_subtree_changes_no_stack_of_this_one() -> None:
    before = stacks_of(repo(MANY_HOSTS), ROOT_NAME, PARSING, A)
    edited = {**MANY_HOSTS, "hosts/b/web/compose.yaml": compose("web", "cache")}
    after = stacks_of(repo(edited), ROOT_NAME, PARSING, A)
    assert after.valid == before.valid


def test_hosts_may_name_their_projects_alike() -> None:
    files = {
        "hosts/a/app/compose.yaml": compose("web", name="app"),
        "hosts/b/app/compose.yaml": compose("web", name="app"),
    }
    assert sorted(stacks_of(repo(files), ROOT_NAME, PARSING).broken) == [
        "hosts/a/app",
        "hosts/b/app",
    ]
    scoped = stacks_of(repo(files), ROOT_NAME, PARSING, A)
    assert scoped.valid["hosts/a/app"].project == "app"
    assert not scoped.broken


def test_a_subtree_the_commit_lacks_is_said_and_holds_no_stack() -> None:
    scope = Scope(("hosts/a", "hosts/zz", "shared/common.env"))
    found = stacks_of(repo(MANY_HOSTS), ROOT_NAME, PARSING, scope)
    # A file is no directory: nothing below it could be a stack.
    assert found.missing == ("hosts/zz", "shared/common.env")
    assert sorted(found.valid) == ["hosts/a/db", "hosts/a/web"]


def test_the_state_within_a_scope_keeps_only_its_stacks_and_the_checks_notice() -> None:
    records = {
        path: StackStatus(path.replace("/", "-"), Status.OK, fingerprint="f")
        for path in ("hosts/a/web", "hosts/b/web", "hosts/ab")
    }
    state = State(
        stacks=records,
        notified={"": "check failed", "hosts/a/web": "x", "hosts/b/web": "y"},
    )
    kept = within(state, A)
    assert sorted(kept.stacks) == ["hosts/a/web"]
    assert kept.notified == {"": "check failed", "hosts/a/web": "x"}
    assert within(state, EVERYWHERE) is state


def test_only_the_files_of_the_subtrees_stacks_are_read_with_what_they_include() -> None:
    files = {
        **MANY_HOSTS,
        "hosts/a/web/.env": "TAG=1\n",
        "hosts/a/db/compose.yaml": "include: [../../../shared/base.yaml]\n",
        "shared/base.yaml": compose("db"),
    }
    listing = Snapshot(commit="c", blobs={path: blob_id(text) for path, text in files.items()})
    first = contents_needed(listing, PARSING, A)
    assert first == {"hosts/a/web/compose.yaml", "hosts/a/web/.env", "hosts/a/db/compose.yaml"}
    read = replace(listing, contents={listing.blobs[path]: files[path].encode() for path in first})
    assert contents_needed(read, PARSING, A) == {"shared/base.yaml"}
