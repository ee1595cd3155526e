"""The core's view of each stack of a corpus against the real ``docker compose`` v2.

Every disagreement must be listed in known_differences.toml with its reason, and every
listed one must still happen, so the list stays true as the core is fixed. See
difference.py for the aspects and compose_view.py for which files count as read.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from gitops_compose.core.compose.compose_file import Role

from .compose_view import ComposeView, _opened
from .conftest import Tried
from .core_view import CoreView
from .corpus import case_names
from .difference import Difference, as_toml, differences, known, reasons


@pytest.mark.parametrize("name", case_names())
def test_the_core_sees_each_stack_as_compose_does(tried: Tried, name: str) -> None:
    found = set(tried.found[name])
    listed = {each for each in known() if each.case == name}
    core, compose = tried.views[name]
    # "files extra" (the core counts a file the trace did not show Compose opening) costs at
    # most a restart more, never a missed one; the trace of Compose's threads loses opens
    # now and then, whole cases at a time, so such a difference is shown, not failed on.
    unlisted = sorted(each for each in found - listed if each.aspect != "files extra")
    gone = sorted(listed - found)
    assert (unlisted, gone) == ([], []), "\n".join(
        [
            f"{name}: the core and Compose disagree, and known_differences.toml says otherwise",
            *[f"not listed:\n{as_toml(each)}" for each in unlisted],
            *[f"listed, no longer seen:\n{as_toml(each, reasons()[each])}" for each in gone],
            f"core: {core.error or 'loads'}; compose: {compose.error or 'loads'}",
        ]
    )


def test_every_known_difference_names_a_case_of_the_corpus_and_a_reason() -> None:
    names = set(case_names())
    listed = known()
    assert len(set(listed)) == len(listed), "a difference is listed twice"
    stray = [each for each in listed if each.case not in names]
    assert not stray, f"listed for no case of the corpus: {stray}"
    unexplained = [each for each, reason in reasons().items() if not reason.strip()]
    assert not unexplained, f"listed without a reason: {unexplained}"


def test_a_file_counts_as_read_when_compose_opened_it_not_when_it_only_looked() -> None:
    # Compose's threads interleave: strace splits a call and resumes it later.
    trace = "\n".join(
        [
            '12 openat(AT_FDCWD, "/r/a.env", O_RDONLY|O_CLOEXEC <unfinished ...>',
            '13 openat(AT_FDCWD, "/r/b.env", O_RDONLY|O_CLOEXEC) = 7',
            '14 openat(AT_FDCWD, "/r/gone.env", O_RDONLY|O_CLOEXEC) = -1 ENOENT (No such file)',
            '15 openat(AT_FDCWD, "/r/certs", O_RDONLY|O_CLOEXEC|O_DIRECTORY) = 8',
            '17 newfstatat(AT_FDCWD, "/r/looked-at", {st_mode=S_IFREG|0644, ...}, 0) = 0',
            "12 <... openat resumed>) = 6",
            '16 openat(AT_FDCWD, "relative.yaml", O_RDONLY) = 9',
        ]
    )

    assert _opened(trace, Path("/r")) == [
        Path("/r/b.env"),
        Path("/r/a.env"),
        Path("/r/relative.yaml"),
    ]


def test_files_the_core_counts_beyond_compose_are_a_difference_only_outside_the_stack() -> None:
    core = CoreView(
        loads=True,
        error="",
        project="app",
        compose_files=("app/compose.yaml",),
        services=frozenset({"web"}),
        started=frozenset({"web"}),
        role=Role.DEPLOY,
        files=frozenset({"app/compose.yaml", "app/README", "shared/old.env"}),
        owned=frozenset({"app/compose.yaml", "app/README"}),
    )
    compose = ComposeView(
        loads=True,
        error="",
        project="app",
        services=frozenset({"web"}),
        started=frozenset({"web"}),
        labels={"web": {"gitops.ignore": "yes"}},
        files=frozenset({"app/compose.yaml", "shared/new.env"}),
    )

    assert list(differences("x", "app", core, compose)) == [
        Difference("x", "files missed", "not counted", "shared/new.env"),
        Difference("x", "files extra", "shared/old.env", "not read"),
    ]
    rejected = replace(compose, loads=False, error="boom")
    assert list(differences("x", "app", core, rejected)) == [
        Difference("x", "loads", "loads", "rejected")
    ]
    controller = replace(compose, labels={"web": {"gitops.controller": " True "}}, files=core.files)
    assert list(differences("x", "app", core, controller)) == [
        Difference("x", "role", "deploy", "controller")
    ]
