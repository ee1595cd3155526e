"""Why a check ended before it touched anything: the clone, the fetch or the plan failed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import final


@final
@dataclass(frozen=True, slots=True)
class CheckFailure:
    """Ends a check before anything is touched."""

    reason: str
