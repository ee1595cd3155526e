"""What the core sees of a real commit: symbolic links read as what Compose reads on disk."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path

import pygit2

from gitops_compose.core.compose.compose_sources import contents_needed
from gitops_compose.core.compose.stack import Stacks, stacks_of
from gitops_compose.shell.check import read_commit
from gitops_compose.shell.git_repository import GitRepository

from ..core.builders import PARSING

COMPOSE = "services:\n  web:\n    image: registry.local/web:1\n"


def commit(work: Path, files: Mapping[str, str], links: Mapping[str, str] = {}) -> str:
    """Write files and symbolic links (path -> target) into ``work`` and commit them."""
    for path, text in files.items():
        (work / path).parent.mkdir(parents=True, exist_ok=True)
        (work / path).write_text(text)
    for path, target in links.items():
        (work / path).parent.mkdir(parents=True, exist_ok=True)
        (work / path).unlink(missing_ok=True)
        (work / path).symlink_to(target)
    git = ["git", "-C", str(work), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "c"], check=True)
    return subprocess.run(
        [*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()


def read(work: Path, at: str) -> Stacks:
    repository = GitRepository(pygit2.Repository(str(work)), "origin", "main", parsing=PARSING)
    snapshot = read_commit(repository, at, lambda found: contents_needed(found, PARSING))
    return stacks_of(snapshot, "infra", PARSING)


def fresh(tmp_path: Path) -> Path:
    subprocess.run(["git", "init", "-q", "-b", "main", str(tmp_path)], check=True)
    return tmp_path


def test_a_linked_compose_file_is_read_as_its_target_and_follows_its_edits(
    tmp_path: Path,
) -> None:
    work = fresh(tmp_path)
    first = commit(
        work,
        {"production/compose.yaml": COMPOSE, "production/.env": "A=1\n", "staging/.env": "A=2\n"},
        {"staging/compose.yaml": "../production/compose.yaml"},
    )
    second = commit(work, {"production/compose.yaml": COMPOSE.replace(":1", ":2")})

    before, after = read(work, first), read(work, second)

    assert set(before.valid) == {"production", "staging"}
    assert [each.name for each in before.valid["staging"].services] == ["web"]
    assert after.valid["staging"].fingerprint != before.valid["staging"].fingerprint


def test_a_linked_directory_holds_the_files_of_its_target(tmp_path: Path) -> None:
    work = fresh(tmp_path)
    at = commit(
        work,
        {"base/compose.yaml": COMPOSE, "base/config/site.conf": "listen 80\n"},
        {"mirror": "base", "lost/compose.yaml": "gone.yaml", "echo": "lost"},
    )

    found = read(work, at)

    assert set(found.valid) == {"base", "mirror"}
    assert set(found.valid["mirror"].files) == {"mirror/compose.yaml", "mirror/config/site.conf"}
    # A dead link seen through a linked directory is named as such too.
    assert "echo/compose.yaml is a symbolic link to gone.yaml" in found.broken["echo"].reason


def test_links_that_leave_the_repository_point_nowhere_or_loop_break_only_their_stack(
    tmp_path: Path,
) -> None:
    work = fresh(tmp_path)
    at = commit(
        work,
        {"good/compose.yaml": COMPOSE},
        {
            "outside/compose.yaml": "/etc/compose.yaml",
            "dangling/compose.yaml": "../nowhere/compose.yaml",
            "loop/compose.yaml": "other.yaml",
            "loop/other.yaml": "compose.yaml",
        },
    )

    found = read(work, at)

    assert set(found.valid) == {"good"}
    assert {path: error.reason for path, error in found.broken.items()} == {
        "outside": "outside/compose.yaml is a symbolic link to /etc/compose.yaml, "
        "which is not a file of the repository",
        "dangling": "dangling/compose.yaml is a symbolic link to ../nowhere/compose.yaml, "
        "which is not a file of the repository",
        "loop": "loop/compose.yaml is a symbolic link to other.yaml, "
        "which is not a file of the repository",
    }


def test_links_out_of_the_repository_are_named_for_the_stacks_that_use_them(
    tmp_path: Path,
) -> None:
    work = fresh(tmp_path)
    uses_env = "services:\n  web:\n    image: registry.local/web:1\n    env_file: app.env\n"
    at = commit(
        work,
        {
            "shared/app.env": "A=1\n",
            **{f"{each}/compose.yaml": uses_env for each in ("inside", "host", "up", "chain")},
        },
        {
            "inside/app.env": "../shared/app.env",  # a file of the repository: silent
            "host/app.env": "/etc/passwd",
            "up/app.env": "../../etc/shadow",
            "shared/leak.env": "/etc/hostname",
            "chain/app.env": "../shared/leak.env",
        },
    )

    found = read(work, at)

    assert set(found.valid) == {"inside", "host", "up", "chain"}
    assert {
        path: [each.reason for each in links] for path, links in found.outside_links.items()
    } == {
        "host": ["host/app.env is a symbolic link to /etc/passwd, outside the repository"],
        "up": ["up/app.env is a symbolic link to ../../etc/shadow, outside the repository"],
        "chain": [
            "chain/app.env is a symbolic link to ../shared/leak.env, which leads through "
            "shared/leak.env to /etc/hostname, outside the repository"
        ],
    }


def test_a_link_target_is_read_as_the_kernel_reads_it_nothing_expanded(tmp_path: Path) -> None:
    work = fresh(tmp_path)
    at = commit(
        work,
        {"app/$base.yaml": COMPOSE, "app/~home.env": "A=1\n"},
        {"app/compose.yaml": "$base.yaml", "app/.env": "~home.env"},
    )

    found = read(work, at)

    assert set(found.valid) == {"app"}
    assert found.outside_links == {}
