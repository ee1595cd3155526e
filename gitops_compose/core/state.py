"""What one check leaves for the next, as a value, and its JSON form.

Everything that has to survive between two ``--once`` runs lives here: each stack's status
and what was last deployed, the retry schedule of failed stacks, the counters behind the
metrics, and whether the first full pass has happened. The shell only reads and writes the
text; every transition is a pure function of the old state, the check and the time.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TypeVar, final

from returns.result import Failure, Result, Success

from gitops_compose.core.status import Condition, Expectation, StackStatus, Status

if TYPE_CHECKING:
    from gitops_compose.core.outcome import Tally

STATE_VERSION = 1


@final
@dataclass(frozen=True, slots=True)
class Counters:
    check_success: int = 0
    check_error: int = 0
    deployment_success: int = 0
    deployment_error: int = 0
    # Unix seconds; 0 for never.
    last_check: float = 0.0
    last_success: float = 0.0
    last_error: float = 0.0


@final
@dataclass(frozen=True, slots=True)
class State:
    full_pass_done: bool = False
    counters: Counters = field(default_factory=Counters)
    stacks: Mapping[str, StackStatus] = field(default_factory=dict)
    # The remote head the last check saw: what every stack should be at.
    desired_commit: str | None = None
    # The remote head of the last check that carried out everything it planned. Until a
    # check gets that far (one was killed, or stopped by a signal), the next one plans.
    settled_commit: str | None = None


def counted(state: State, ok: bool, now: float, tally: Tally | None) -> State:
    """The counters once a check has finished, ``ok`` meaning it did all it had to."""
    before = state.counters
    after = replace(
        before,
        check_success=before.check_success + ok,
        check_error=before.check_error + (not ok),
        last_check=now,
        last_success=now if ok else before.last_success,
        last_error=before.last_error if ok else now,
    )
    if tally is not None:
        after = replace(
            after,
            deployment_success=after.deployment_success + tally.deployments_ok,
            deployment_error=after.deployment_error + tally.deployments_failed,
        )
    return replace(state, counters=after)


def active_counts(state: State) -> dict[Condition, int]:
    """Managed stacks in each condition, every condition present."""
    counts = dict.fromkeys(Condition, 0)
    for record in state.stacks.values():
        counts[record.condition] += 1
    return counts


def troubled(state: State) -> tuple[str, ...]:
    """The managed stacks that are not ok and running: what makes ``--once`` exit 1 even
    when this check itself did all it had to, so cron, the alerts and ``status`` agree."""
    return tuple(
        path
        for path, record in sorted(state.stacks.items())
        if record.condition is not Condition.OK
    )


def retry_due(stacks: Mapping[str, StackStatus], now: float) -> bool:
    """Whether a failed stack's next try has come, which makes a check plan even with no push."""
    return any(each.retry_at is not None and each.retry_at <= now for each in stacks.values())


def state_to_json(state: State) -> str:
    document = {
        "version": STATE_VERSION,
        "full_pass_done": state.full_pass_done,
        "desired_commit": state.desired_commit,
        "settled_commit": state.settled_commit,
        "counters": {name: getattr(state.counters, name) for name in Counters.__dataclass_fields__},
        "stacks": {
            path: {
                "project": record.project,
                "status": record.status.value,
                "fingerprint": record.fingerprint,
                "commit": record.commit,
                "error": record.error,
                "error_at": record.error_at,
                "failures": record.failures,
                "attempted": record.attempted,
                "retry_at": record.retry_at,
                "expects": _expects_to_json(record.expects),
                "down": record.down,
            }
            for path, record in sorted(state.stacks.items())
        },
    }
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def state_from_json(text: str) -> Result[State, str]:
    """The state a file holds, or why it cannot be trusted (corrupt, or from a newer version)."""
    try:
        document = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        return Failure(f"not valid JSON ({error})")
    if not isinstance(document, dict):
        return Failure("not a state document")
    version = document.get("version")
    if not isinstance(version, int) or version < 1:
        return Failure(f"unknown state version {version!r}")
    if version > STATE_VERSION:
        return Failure(
            f"state version {version} was written by a newer gitops-compose "
            f"(this one reads version {STATE_VERSION})"
        )
    try:
        return Success(_state(document))
    except (KeyError, TypeError, ValueError) as error:
        return Failure(f"malformed state ({type(error).__name__}: {error})")


def _state(document: Mapping[str, Any]) -> State:
    counters = document.get("counters", {})
    return State(
        full_pass_done=bool(document.get("full_pass_done", False)),
        desired_commit=_optional(document.get("desired_commit"), str),
        settled_commit=_optional(document.get("settled_commit"), str),
        counters=Counters(
            **{
                name: type(getattr(Counters(), name))(counters.get(name, 0))
                for name in Counters.__dataclass_fields__
            }
        ),
        stacks={str(path): _record(record) for path, record in document.get("stacks", {}).items()},
    )


def _record(record: Mapping[str, Any]) -> StackStatus:
    return StackStatus(
        project=_optional(record.get("project"), str),
        status=Status(record["status"]),
        error=_optional(record.get("error"), str),
        fingerprint=_optional(record.get("fingerprint"), str),
        commit=_optional(record.get("commit"), str),
        error_at=_optional(record.get("error_at"), float),
        failures=int(record.get("failures", 0)),
        attempted=_optional(record.get("attempted"), str),
        retry_at=_optional(record.get("retry_at"), float),
        expects=_expects(record.get("expects")),
        down=_optional(record.get("down"), str),
    )


def _expects_to_json(expects: Expectation | None) -> dict[str, Any] | None:
    if expects is None:
        return None
    return {
        "services": list(expects.services),
        "one_shot": sorted(expects.one_shot),
        "includes": expects.includes,
    }


def _expects(value: object) -> Expectation | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise TypeError(f"expected an object, found {value!r}")
    services, one_shot = value.get("services", []), value.get("one_shot", [])
    includes = value.get("includes", False)
    names = (
        [*services, *one_shot]
        if isinstance(services, list) and isinstance(one_shot, list)
        else None
    )
    if names is None or not all(isinstance(each, str) for each in names):
        raise TypeError(f"expected lists of service names, found {value!r}")
    if not isinstance(includes, bool):
        raise TypeError(f"expected true or false, found {includes!r}")
    return Expectation(tuple(services), frozenset(one_shot), includes)


_T = TypeVar("_T")


def _optional(value: object, kind: type[_T]) -> _T | None:
    if value is None:
        return None
    if kind is float and isinstance(value, int | float) and not isinstance(value, bool):
        return kind(value)  # type: ignore[call-arg]
    if not isinstance(value, kind):
        raise TypeError(f"expected {kind.__name__}, found {value!r}")
    return value
