"""Why a check ended before it touched anything: the clone, the fetch or the plan failed."""

from __future__ import annotations

from typing import final

from gitops_compose.core.value import Value


@final
class CheckFailure(Value):
    """Ends a check before anything is touched."""

    reason: str
