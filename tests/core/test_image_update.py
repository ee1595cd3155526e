"""Which tags are asked about, when, and what a new digest restarts (see image_update)."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from returns.result import Failure, Result, Success

from gitops_compose.core.compose.snapshot import Snapshot
from gitops_compose.core.compose.stack import Stacks, stacks_of
from gitops_compose.core.reconcile.image import RunningImage, RunningImages
from gitops_compose.core.reconcile.image_check import ImageSettings, SeenDigest, image_check_due
from gitops_compose.core.reconcile.image_update import (
    ImageFindings,
    ImageTag,
    followed,
    image_findings,
    tag_of,
    tags_to_ask,
)
from gitops_compose.core.reconcile.runtime import Container
from gitops_compose.core.reconcile.state import State, state_from_json, state_to_json

from .builders import PARSING, ROOT_NAME, read_as_the_shell_does

OLD = "sha256:" + "a" * 64
NEW = "sha256:" + "b" * 64


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("nginx", ("docker.io", "library/nginx", "latest")),
        ("nginx:1.27", ("docker.io", "library/nginx", "1.27")),
        ("grafana/grafana:11", ("docker.io", "grafana/grafana", "11")),
        ("127.0.0.1:5000/app:latest", ("127.0.0.1:5000", "app", "latest")),
        ("localhost/team/app", ("localhost", "team/app", "latest")),
        ("ghcr.io/o/r:v1", ("ghcr.io", "o/r", "v1")),
        ("registry.example.com:8443/a/b/c:2", ("registry.example.com:8443", "a/b/c", "2")),
    ],
)
def test_a_tag_is_named_as_docker_normalises_it(image: str, expected: tuple[str, str, str]) -> None:
    assert tag_of(image) == ImageTag(*expected)


@pytest.mark.parametrize(
    "image",
    [f"app@{OLD}", f"app:1@{OLD}", "App:latest", "app:${TAG}", "app:", "-app"],
)
def test_a_pinned_or_unreadable_image_has_no_tag_to_ask(image: str) -> None:
    assert tag_of(image) is None


def stacks(files: dict[str, str]) -> Stacks:
    blobs = {path: f"{index:040x}" for index, path in enumerate(files)}
    return stacks_of(read_as_the_shell_does(Snapshot("c1", blobs), files), ROOT_NAME, PARSING)


FOLLOWING = "x-gitops: {image_updates: true}\n"
WEB = "services:\n  web:\n    image: 127.0.0.1:5000/app:latest\n"
TWO = (
    "services:\n"
    "  web: {image: 127.0.0.1:5000/app:latest}\n"
    f"  db: {{image: 'postgres:16@{OLD}'}}\n"
    "  built: {image: 127.0.0.1:5000/mine:1, build: .}\n"
    "  cache: {image: redis:7}\n"
)
RUNNING = {
    project: (Container("web", "running"), Container("db", "running"))
    for project in ("a", "b", "c", "d")
}


def test_followed_services_are_those_of_running_stacks_that_opt_in_by_tag() -> None:
    found = stacks(
        {
            "a/compose.yaml": TWO + FOLLOWING,
            "b/compose.yaml": WEB,
            "c/compose.yaml": WEB + "x-gitops: {image_updates: false}\n",
            "e/compose.yaml": WEB + FOLLOWING,  # not running
        }
    )
    only_opted = followed(found, ImageSettings(), RUNNING)
    assert [(each.stack, each.service) for each in only_opted] == [("a", "cache"), ("a", "web")]
    every = followed(found, ImageSettings(follow=True), RUNNING)
    # The flag takes b in; c's own false wins; e runs nothing.
    assert sorted({each.stack for each in every}) == ["a", "b"]
    # One request per distinct tag, however many use it.
    assert [each.name for each in tags_to_ask(every)] == [
        "127.0.0.1:5000/app:latest",
        "docker.io/library/redis:7",
    ]


def test_an_image_check_is_due_once_per_interval_when_some_stack_follows() -> None:
    settings = ImageSettings(interval=3600.0)
    assert not image_check_due(State(images_followed=False), settings, 10_000.0)
    state = State(images_followed=True, images_checked=10_000.0)
    assert not image_check_due(state, settings, 13_599.0)
    assert image_check_due(state, settings, 13_600.0)
    assert image_check_due(state, ImageSettings(now=True), 10_001.0)


TAG = ImageTag("127.0.0.1:5000", "app", "latest")


def findings(
    answer: Result[str, str],
    runs: str,
    *,
    before: Mapping[str, SeenDigest] | None = None,
    cooldown: float = 0.0,
    now: float = 5000.0,
) -> ImageFindings:
    services = followed(stacks({"a/compose.yaml": WEB + FOLLOWING}), ImageSettings(), RUNNING)
    running: RunningImages = {
        "a": {"web": RunningImage("sha256:id", (f"127.0.0.1:5000/app@{runs}",))}
    }
    return image_findings(
        services,
        Success(running),
        {TAG: answer},
        before or {},
        ImageSettings(cooldown=cooldown),
        now,
    )


def test_the_same_digest_is_no_update() -> None:
    found = findings(Success(OLD), OLD)
    assert found.pending == ()
    assert found.updates() == {}


def test_a_new_digest_restarts_the_service_with_its_reason() -> None:
    found = findings(Success(NEW), OLD)
    [(path, cause)] = found.updates().items()
    assert path == "a"
    assert cause.services == ("web",)
    assert cause.reason == (
        "image updated: web 127.0.0.1:5000/app:latest sha256:aaaaaaaaaaaa… → sha256:bbbbbbbbbbbb…"
    )


def test_a_new_digest_waits_out_the_cooldown_from_when_it_was_first_seen() -> None:
    first = findings(Success(NEW), OLD, cooldown=3600.0, now=1000.0)
    assert first.updates() == {}
    [waiting] = first.pending
    assert (waiting.taken, waiting.ready_at) == (False, 4600.0)
    seen = first.seen
    assert seen == {TAG.name: SeenDigest(NEW, 1000.0)}
    later = findings(Success(NEW), OLD, before=seen, cooldown=3600.0, now=4600.0)
    assert list(later.updates()) == ["a"]
    # Pushed again meanwhile: the cool-down starts over.
    other = "sha256:" + "c" * 64
    again = findings(Success(other), OLD, before=seen, cooldown=3600.0, now=4600.0)
    assert again.updates() == {}


def test_a_registry_that_cannot_be_asked_is_a_warning_and_no_update() -> None:
    found = findings(Failure("127.0.0.1:5000 could not be reached: refused"), OLD)
    assert found.updates() == {}
    [warning] = found.warnings
    assert (warning.stack, warning.image) == ("a", "127.0.0.1:5000/app:latest")


def test_what_an_image_check_keeps_survives_the_state_file() -> None:
    state = State(
        images_checked=1234.5,
        images_followed=True,
        image_digests={TAG.name: SeenDigest(NEW, 1000.0)},
    )
    assert state_from_json(state_to_json(state)) == Success(state)
