"""Where a forge's commit-status API is and for which repository, from the remote's URL,
and the request each forge's documentation asks for."""

from __future__ import annotations

import json

import pytest
from returns.result import Failure, Success

from gitops_compose.core.reconcile.commit_status import CommitStatus, Verdict
from gitops_compose.core.reconcile.forge import (
    Forge,
    ForgeTarget,
    api_problem,
    repository_problem,
    status_request,
    target_of,
)

SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize(
    ("forge", "url", "api", "repository"),
    [
        (
            Forge.GITHUB,
            "https://github.com/acme/stacks.git",
            "https://api.github.com",
            "acme/stacks",
        ),
        (Forge.GITHUB, "git@github.com:acme/stacks.git", "https://api.github.com", "acme/stacks"),
        (Forge.GITHUB, "ssh://git@github.com/acme/stacks", "https://api.github.com", "acme/stacks"),
        (
            Forge.GITHUB,
            "https://ci:s3cret@github.example.org/acme/stacks.git",
            "https://github.example.org/api/v3",
            "acme/stacks",
        ),
        (
            Forge.GITEA,
            "https://git.example.org/acme/stacks.git",
            "https://git.example.org/api/v1",
            "acme/stacks",
        ),
        (
            Forge.GITEA,
            "git@git.example.org:acme/stacks.git",
            "https://git.example.org/api/v1",
            "acme/stacks",
        ),
        (
            Forge.GITEA,
            "ssh://git@git.example.org:2222/acme/stacks.git",
            "https://git.example.org/api/v1",
            "acme/stacks",
        ),
        (
            Forge.GITEA,
            "http://deploy:pw@127.0.0.1:3000/gitea/acme/stacks.git/",
            "http://127.0.0.1:3000/gitea/api/v1",
            "acme/stacks",
        ),
        (
            Forge.GITLAB,
            "https://gitlab.example.org/group/sub/stacks.git",
            "https://gitlab.example.org/api/v4",
            "group/sub/stacks",
        ),
        (
            Forge.GITLAB,
            "git@gitlab.com:group/sub/stacks.git",
            "https://gitlab.com/api/v4",
            "group/sub/stacks",
        ),
    ],
)
def test_the_api_and_repository_come_from_the_remote_url(
    forge: Forge, url: str, api: str, repository: str
) -> None:
    assert target_of(forge, url, None, None) == Success(ForgeTarget(forge, api, repository))


def test_no_user_or_password_of_the_remote_reaches_the_api_url() -> None:
    found = target_of(
        Forge.GITLAB, "https://user:s3cret@gitlab.example.org:8443/g/p.git", None, None
    )
    target = found.unwrap()
    assert target.api == "https://gitlab.example.org:8443/api/v4"
    assert "s3cret" not in repr(target)
    assert "user" not in target.api


def test_the_options_win_over_the_remote_url() -> None:
    found = target_of(Forge.GITEA, "https://a.example/x/y.git", "https://b.example/api/v1", "o/n")
    assert found == Success(ForgeTarget(Forge.GITEA, "https://b.example/api/v1", "o/n"))


@pytest.mark.parametrize("url", ["/srv/git/stacks.git", "file:///srv/git/stacks.git", "../origin"])
def test_a_local_remote_needs_the_repository_and_for_gitea_and_gitlab_the_api(url: str) -> None:
    found = target_of(Forge.GITHUB, url, None, None)
    assert isinstance(found, Failure)
    assert "--forge-repo" in found.failure()
    assert target_of(Forge.GITHUB, url, None, "o/n") == Success(
        ForgeTarget(Forge.GITHUB, "https://api.github.com", "o/n")
    )
    for forge in (Forge.GITEA, Forge.GITLAB):
        refused = target_of(forge, url, None, "o/n")
        assert isinstance(refused, Failure)
        assert "--forge-url" in refused.failure()


def test_a_remote_path_of_one_segment_names_no_repository() -> None:
    found = target_of(Forge.GITEA, "https://git.example.org/stacks.git", None, None)
    assert isinstance(found, Failure)
    assert "--forge-repo OWNER/NAME" in found.failure()


def test_bad_option_values_are_told() -> None:
    assert repository_problem(Forge.GITHUB, "acme/stacks") is None
    assert repository_problem(Forge.GITLAB, "group/sub/stacks") is None
    assert repository_problem(Forge.GITHUB, "group/sub/stacks") is not None
    assert repository_problem(Forge.GITEA, "stacks") is not None
    assert repository_problem(Forge.GITEA, "acme//stacks") is not None
    assert api_problem("https://api.github.com") is None
    assert api_problem("http://127.0.0.1:3000/api/v1") is None
    assert api_problem("ftp://x") is not None
    assert api_problem("api.github.com") is not None
    problem = api_problem("https://me:xyzzy@git.example.org/api/v1")
    assert problem is not None
    assert "xyzzy" not in problem


STATUS = CommitStatus(SHA, Verdict.FAILURE, "rolled back: web", "gitops-compose/host")


def test_github_is_asked_as_its_documentation_says() -> None:
    target = ForgeTarget(Forge.GITHUB, "https://api.github.com", "acme/stacks")
    request = status_request(target, "ghp_token", STATUS)
    assert request.url == f"https://api.github.com/repos/acme/stacks/statuses/{SHA}"
    assert dict(request.headers)["Authorization"] == "Bearer ghp_token"
    assert json.loads(request.body) == {
        "state": "failure",
        "description": "rolled back: web",
        "context": "gitops-compose/host",
    }
    assert "ghp_token" not in repr(request)


def test_gitea_is_asked_as_its_documentation_says() -> None:
    target = ForgeTarget(Forge.GITEA, "https://git.example.org/api/v1", "acme/stacks")
    request = status_request(target, "tok", STATUS)
    assert request.url == f"https://git.example.org/api/v1/repos/acme/stacks/statuses/{SHA}"
    assert dict(request.headers)["Authorization"] == "token tok"
    assert json.loads(request.body)["state"] == "failure"


def test_gitlab_is_asked_as_its_documentation_says() -> None:
    target = ForgeTarget(Forge.GITLAB, "https://gitlab.example.org/api/v4", "group/sub/stacks")
    request = status_request(target, "glpat", STATUS)
    assert request.url == (
        f"https://gitlab.example.org/api/v4/projects/group%2Fsub%2Fstacks/statuses/{SHA}"
    )
    assert dict(request.headers)["PRIVATE-TOKEN"] == "glpat"
    assert "Authorization" not in dict(request.headers)
    assert json.loads(request.body) == {
        "state": "failed",
        "name": "gitops-compose/host",
        "description": "rolled back: web",
    }
