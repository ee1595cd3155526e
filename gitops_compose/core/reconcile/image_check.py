"""When a check asks the registries about followed image tags, and what it keeps of them.

Its own small module, as the idle path asks ``image_check_due`` on every check: what is
decided on an image check itself (see image_update) stays unloaded until one is due.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, final

from gitops_compose.core.value import Value

if TYPE_CHECKING:
    from gitops_compose.core.reconcile.state import State


@final
class ImageSettings(Value):
    """How images are followed (``--image-updates``, ``--image-interval``,
    ``--image-cooldown``); ``now``: check them on this check whatever the interval (the
    ``plan --images`` command)."""

    follow: bool = False
    interval: float = 3600.0
    cooldown: float = 0.0
    now: bool = False


@final
class SeenDigest(Value):
    """The digest a tag pointed at in its registry, and since when it was seen unchanged
    (Unix seconds): what the cool-down is measured from."""

    digest: str
    since: float


def image_check_due(state: State, settings: ImageSettings, now: float) -> bool:
    """Whether this check asks the registries: some stack follows its images (as the last
    check that read the stacks found, or the command line says all do) and the interval
    since the last image check has passed. Between two, no registry is asked."""
    if not (settings.follow or state.images_followed or settings.now):
        return False
    return settings.now or now - state.images_checked >= settings.interval
