"""Image updates through the real check loop, on the models: a moved tag restarts the
stack's services using it through the gate and rollback, once per image interval."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from returns.result import Result, Success

from gitops_compose.core.reconcile.action import ImageUpdated, Verb
from gitops_compose.core.reconcile.check import CheckReport, CheckSettings
from gitops_compose.core.reconcile.image_check import ImageSettings
from gitops_compose.core.reconcile.image_update import ImageTag
from gitops_compose.core.reconcile.state import State
from gitops_compose.core.reconcile.status import Status
from gitops_compose.shell.check import plan_now, run_check

from ..core.builders import PARSING
from ..models import ModelHost, ModelRepository

OLD = "sha256:" + "a" * 64
NEW = "sha256:" + "b" * 64
FOLLOWING = "services:\n  web:\n    image: busybox\nx-gitops: {image_updates: true}\n"
NOT_FOLLOWING = "services:\n  web:\n    image: busybox\n"


class Registry:
    """Answers every tag with ``digest``, and counts what it was asked."""

    def __init__(self, digest: str) -> None:
        self.digest = digest
        self.asked: list[ImageTag] = []

    def digests(self, tags: Sequence[ImageTag]) -> Mapping[ImageTag, Result[str, str]]:
        self.asked += tags
        return {tag: Success(self.digest) for tag in tags}


def settings(*, now: bool = False, cooldown: float = 0.0) -> CheckSettings:
    return CheckSettings(
        "main",
        "repo",
        jobs=2,
        health_timeout=60.0,
        settle=0.0,
        rollback=True,
        images=ImageSettings(interval=3600.0, cooldown=cooldown, now=now),
        parsing=PARSING,
    )


def checked(
    repo: ModelRepository,
    host: ModelHost,
    state: State,
    registry: Registry,
    at: float,
    *,
    given: CheckSettings | None = None,
) -> CheckReport:
    clock = [at]

    def now() -> float:
        host.time = clock[0]
        return clock[0]

    def sleep(seconds: float) -> None:
        clock[0] += seconds

    return run_check(
        repo,
        host,
        state,
        given or settings(),
        now=now,
        sleep=sleep,
        registry=registry,
        reporters=(),
    )


def deployed() -> tuple[ModelRepository, ModelHost, State]:
    repo = ModelRepository(
        {"c1": {"a/compose.yaml": FOLLOWING, "b/compose.yaml": NOT_FOLLOWING}}, "c1", "c1"
    )
    host = ModelHost(repo, digests=(f"busybox@{OLD}",))
    first = checked(repo, host, State(), Registry(OLD), 1000.0)
    assert first.ok
    host.done.clear()
    return repo, host, first.state


def test_a_moved_tag_restarts_the_stack_following_it_once_per_interval() -> None:
    repo, host, state = deployed()
    assert state.stacks["a"].digests == (("web", f"busybox@{OLD}"),)
    registry = Registry(NEW)

    between = checked(repo, host, state, registry, 2000.0)
    assert (registry.asked, host.done) == ([], [])  # the interval has not passed
    assert host.images_looked == 1  # the look after the first deploy, none since

    report = checked(repo, host, between.state, registry, 4700.0)

    assert report.ok
    assert [each.name for each in registry.asked] == ["docker.io/library/busybox:latest"]
    assert host.done == [("restart", "a")]
    [action] = report.plan.stack_actions if report.plan else ()
    assert action.verb is Verb.RESTART
    assert isinstance(action.cause, ImageUpdated)
    assert action.image_services == ("web",)
    assert action.reason.startswith("image updated: web busybox sha256:aaaaaaaaaaaa… → ")
    assert report.state.images_checked == 4700.0


def test_an_image_update_that_fails_its_gate_goes_back_to_the_images_by_id() -> None:
    repo, host, state = deployed()
    host.crashing = {"a"}

    report = checked(repo, host, state, Registry(NEW), 4700.0)

    assert host.done == [("restart", "a"), ("rollback", "a")]
    record = report.state.stacks["a"]
    assert record.status is Status.ERROR
    assert record.error is not None
    assert record.error.startswith("rolled back to c1: ")


def test_plan_images_asks_now_and_changes_nothing() -> None:
    repo, host, state = deployed()
    registry = Registry(NEW)

    found = plan_now(
        repo, host, state, settings(now=True, cooldown=600.0), 2000.0, registry=registry
    )

    plan = found.unwrap()
    assert plan.images is not None
    [waiting] = plan.images.pending
    assert (waiting.stack, waiting.taken, waiting.ready_at) == ("a", False, 2600.0)
    assert plan.stack_actions == ()
    assert host.done == []
