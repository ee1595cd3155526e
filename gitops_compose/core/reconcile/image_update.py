"""Following image updates of mutable tags: which tags to ask about, when, and what a new
digest restarts.

A stack follows its images when its ``x-gitops: {image_updates: true}`` says so, or
``--image-updates`` does and its own ``false`` does not. Every ``--image-interval`` the
check asks the registry, once per distinct tag, for the digest behind each tag the running
services of such stacks use (never an image named by digest, never one built here), and
compares it with the repository digest Docker recorded for the image each service runs.
A digest differing from it is taken once it has been seen unchanged for the cool-down:
the services using it are pulled and recreated (an ``ImageUpdated`` action). A registry
that cannot be asked, or a tag it no longer has, is a warning for the stacks using it.

The shell talks HTTP to the registries and asks Docker; here it is decided.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, final

from returns.result import Failure, Result

from gitops_compose.core.compose.compose_file import Role
from gitops_compose.core.reconcile.action import ImageChange, ImageUpdated
from gitops_compose.core.reconcile.image import (
    RunningImage,
    RunningImages,
    repository_of,
)
from gitops_compose.core.reconcile.image_check import ImageSettings, SeenDigest

if TYPE_CHECKING:
    from gitops_compose.core.compose.stack import Stack, Stacks
    from gitops_compose.core.reconcile.runtime import HostState

_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


@final
@dataclass(frozen=True, slots=True, order=True)
class ImageTag:
    """An image named by a tag, as Docker normalises it: ``nginx`` is
    ``docker.io/library/nginx:latest``."""

    registry: str
    repository: str
    tag: str

    @property
    def name(self) -> str:
        return f"{self.registry}/{self.repository}:{self.tag}"


def tag_of(image: str) -> ImageTag | None:
    """The tag an image reference names, or None: a reference by digest
    (``app@sha256:…``, with or without a tag) is pinned, and is never asked about."""
    if "@" in image:
        return None
    last = image.rfind("/")
    name, colon, tag = image[last + 1 :].partition(":")
    if colon and not _TAG.match(tag):
        return None
    found = repository_of(image[: last + 1] + name)
    if found is None:
        return None
    return ImageTag(found[0], found[1], tag if colon else "latest")


@final
@dataclass(frozen=True, slots=True)
class Followed:
    """A running service of a stack that follows its image's tag."""

    stack: str
    project: str
    service: str
    # As the Compose file names it, and as normalised.
    image: str
    tag: ImageTag


def follows(stack: Stack, settings: ImageSettings) -> bool:
    """Whether a stack follows its images: its own x-gitops says, else the command line."""
    return settings.follow if stack.image_updates is None else stack.image_updates


def any_followed(stacks: Stacks, settings: ImageSettings) -> bool:
    return any(follows(stack, settings) for stack in stacks.valid.values())


def followed(remote: Stacks, settings: ImageSettings, host: HostState) -> tuple[Followed, ...]:
    """The running services whose image tags are followed, stack by stack: deployed stacks
    that follow their images and have containers; services with an image by tag, not built
    here."""
    found: list[Followed] = []
    for path, stack in sorted(remote.valid.items()):
        if stack.role is not Role.DEPLOY or not follows(stack, settings):
            continue
        if not host.get(stack.project):
            continue
        for service in stack.services:
            if service.built or service.image is None:
                continue
            tag = tag_of(service.image)
            if tag is not None:
                found.append(Followed(path, stack.project, service.name, service.image, tag))
    return tuple(found)


def tags_to_ask(services: Sequence[Followed]) -> tuple[ImageTag, ...]:
    """Each distinct tag once: one registry request per tag, however many use it."""
    return tuple(sorted({each.tag for each in services}))


@final
@dataclass(frozen=True, slots=True)
class PendingImage:
    """A service whose tag points at another digest than it runs; ``ready_at``: when the
    cool-down lets it be taken (at or before the check: taken now)."""

    stack: str
    project: str
    change: ImageChange
    ready_at: float
    taken: bool


@final
@dataclass(frozen=True, slots=True)
class ImageWarning:
    """A tag of a stack that could not be checked: the registry could not be asked, or no
    longer has it. Nothing is restarted for it."""

    stack: str
    project: str
    image: str
    reason: str


@final
@dataclass(frozen=True, slots=True)
class ImageFindings:
    """What one image check found."""

    pending: tuple[PendingImage, ...] = ()
    warnings: tuple[ImageWarning, ...] = ()
    # Tag name -> the digest its registry serves and since when: the state's, after this.
    seen: Mapping[str, SeenDigest] = field(default_factory=dict)
    # Registry requests asked for: one per distinct tag.
    asked: int = 0

    def updates(self) -> dict[str, ImageUpdated]:
        """The image updates to carry out now, by stack path (cooled-down ones only)."""
        changes: dict[str, list[ImageChange]] = {}
        for each in self.pending:
            if each.taken:
                changes.setdefault(each.stack, []).append(each.change)
        return {path: ImageUpdated(tuple(found)) for path, found in sorted(changes.items())}


def image_findings(  # noqa: PLR0917 (the facts of one image check, each its own)
    services: Sequence[Followed],
    running: Result[RunningImages, str],
    answers: Mapping[ImageTag, Result[str, str]],
    before: Mapping[str, SeenDigest],
    settings: ImageSettings,
    now: float,
) -> ImageFindings:
    """Each followed service's image against its registry's digest for the tag, with the
    cool-down measured from when that digest was first seen."""
    seen = dict(before)
    for tag, answer in answers.items():
        digest = answer.value_or(None)
        if digest is None:
            continue
        kept = seen.get(tag.name)
        if kept is None or kept.digest != digest:
            seen[tag.name] = SeenDigest(digest, now)
    pending: list[PendingImage] = []
    warnings: list[ImageWarning] = []
    images = running.value_or({})
    for each in services:
        if each.tag not in answers:
            continue
        answer = answers[each.tag]
        if isinstance(answer, Failure):
            warnings.append(ImageWarning(each.stack, each.project, each.image, answer.failure()))
            continue
        if isinstance(running, Failure):
            reason = f"the images running could not be read: {running.failure()}"
            warnings.append(ImageWarning(each.stack, each.project, each.image, reason))
            continue
        image = images.get(each.project, {}).get(each.service)
        if image is None:
            continue  # no container of it: nothing runs to update
        available = answer.unwrap()
        runs = image.digest_in(each.tag.registry, each.tag.repository)
        if runs == available:
            continue
        ready_at = seen[each.tag.name].since + settings.cooldown
        change = ImageChange(each.service, each.image, runs, available)
        pending.append(PendingImage(each.stack, each.project, change, ready_at, ready_at <= now))
    return ImageFindings(tuple(pending), tuple(warnings), seen, len(answers))


def deployed_images(
    stack: Stack | None, images: Mapping[str, RunningImage]
) -> tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]:
    """What a deployed stack's services run, to record: (service, image id) and (service,
    repository digest ``repo@sha256:…`` of the image its Compose file names, else the
    first one Docker recorded)."""
    named = {each.name: each.image for each in stack.services} if stack is not None else {}
    ids, digests = [], []
    for service, image in sorted(images.items()):
        ids.append((service, image.id))
        written = named.get(service)
        tag = tag_of(written) if written is not None else None
        chosen = next(iter(image.digests), None)
        if tag is not None:
            digest = image.digest_in(tag.registry, tag.repository)
            if digest is not None:
                chosen = next(d for d in image.digests if d.endswith(f"@{digest}"))
        if chosen is not None:
            digests.append((service, chosen))
    return tuple(ids), tuple(digests)
