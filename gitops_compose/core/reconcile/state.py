"""What one check leaves for the next, as a value, and its JSON form.

Everything that has to survive between two ``--once`` runs lives here: each stack's status
and what was last deployed, the retry schedule of failed stacks, the counters behind the
metrics, and whether the first full pass has happened. The shell only reads and writes the
text; every transition is a pure function of the old state, the check and the time.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from enum import Enum
from typing import Any, final

from returns.result import Failure, Result, Success

from gitops_compose.core.compose.expectation import Expectation
from gitops_compose.core.compose.scope import Scope
from gitops_compose.core.reconcile.configuration import ExpectedConfig
from gitops_compose.core.reconcile.history import MOST_ENTRIES, Happening, HistoryEntry
from gitops_compose.core.reconcile.image_check import SeenDigest
from gitops_compose.core.reconcile.status import Condition, StackStatus, Status
from gitops_compose.core.value import Value, field, field_names, replace

STATE_VERSION = 1


@final
class Counters(Value):
    check_success: int = 0
    check_error: int = 0
    deployment_success: int = 0
    deployment_error: int = 0
    # Unix seconds; 0 for never.
    last_check: float = 0.0
    last_success: float = 0.0
    last_error: float = 0.0
    # For the original GitopsCompose's families: operations that succeeded by what they
    # did, stacks found invalid by checks that planned, and when the last operation
    # succeeded and failed (0: never).
    deployment_started: int = 0
    deployment_stopped: int = 0
    deployment_updated: int = 0
    deployment_invalid: int = 0
    last_deployment_success: float = 0.0
    last_deployment_error: float = 0.0


@final
class State(Value):
    full_pass_done: bool = False
    counters: Counters = field(default_factory=Counters)
    stacks: Mapping[str, StackStatus] = field(default_factory=dict)
    # The remote head the last check saw: what every stack should be at.
    desired_commit: str | None = None
    # The remote head of the last check that carried out everything it planned. Until a
    # check gets that far (one was killed, or stopped by a signal), the next one plans.
    settled_commit: str | None = None
    # Stacks labelled gitops.ignore in the commit the last check that planned deployed.
    ignored: int = 0
    # The stacks' recent events, oldest first, the last MOST_ENTRIES (see history).
    history: tuple[HistoryEntry, ...] = ()
    # What the notifications last told, by stack path ("" for the check): a failure with
    # the same reason is not told again (see notice).
    notified: Mapping[str, str] = field(default_factory=dict)
    # Stack path -> the configuration hashes its files give (see configuration).
    configs: Mapping[str, ExpectedConfig] = field(default_factory=dict)
    # Image updates (see image_update): when the registries were last asked (Unix seconds,
    # 0: never), whether some stack followed its images when the stacks were last read,
    # and the digest each followed tag pointed at, since when (the cool-down's start).
    images_checked: float = 0.0
    images_followed: bool = False
    image_digests: Mapping[str, SeenDigest] = field(default_factory=dict)
    # The subtrees (--path) the last check managed; () for the whole repository.
    scope: tuple[str, ...] = ()


def within(state: State, scope: Scope) -> State:
    """The state of the stacks in ``scope`` only: the others' records, expected
    configurations and last notices are forgotten (see check.begin). A state of other
    subtrees than ``scope`` owes a full pass: the stacks the scope has gained are looked
    at on the host (and recorded), as on a first check."""
    if state.scope != scope.subtrees:
        state = replace(state, scope=scope.subtrees, full_pass_done=False)
    if scope.everywhere:
        return state
    if all(scope.holds(path) for path in state.stacks.keys() | state.configs.keys()):
        return state
    return replace(
        state,
        stacks={path: each for path, each in state.stacks.items() if scope.holds(path)},
        configs={path: each for path, each in state.configs.items() if scope.holds(path)},
        notified={
            path: each for path, each in state.notified.items() if not path or scope.holds(path)
        },
    )


def active_counts(state: State) -> dict[Condition, int]:
    """Managed stacks in each condition, every condition present."""
    counts = dict.fromkeys(Condition, 0)
    for record in state.stacks.values():
        counts[record.condition] += 1
    return counts


class OriginalStatus(Enum):
    """The statuses of the original GitopsCompose's ``gitops_deployments_active_total``."""

    RUNNING = "running"
    FAILED = "failed"
    INVALID = "invalid"
    IGNORED = "ignored"


def original_status(record: StackStatus) -> OriginalStatus:
    """A managed stack as the original counts it: ``running`` when it is ok and runs,
    ``invalid`` when its files are in error (nothing was tried, nothing is retried until
    they change), ``failed`` for the rest: a failed start, restart or removal, or a
    deployment whose services do not all run (a drifted one runs)."""
    if record.condition in (Condition.OK, Condition.DRIFTED):
        return OriginalStatus.RUNNING
    if record.status is Status.ERROR and record.retry_at is None:
        return OriginalStatus.INVALID
    return OriginalStatus.FAILED


def original_counts(state: State) -> dict[OriginalStatus, int]:
    """Stacks in each of the original's statuses, every status present; ``ignored`` counts
    the stacks labelled ``gitops.ignore``, which are not managed."""
    counts = dict.fromkeys(OriginalStatus, 0)
    for record in state.stacks.values():
        counts[original_status(record)] += 1
    counts[OriginalStatus.IGNORED] = state.ignored
    return counts


def troubled(state: State) -> tuple[str, ...]:
    """The managed stacks that are not ok and running: what makes ``--once`` exit 1 even
    when this check itself did all it had to, so cron, the alerts and ``status`` agree."""
    return tuple(
        path
        for path, record in sorted(state.stacks.items())
        if record.condition is not Condition.OK
    )


def state_to_json(state: State) -> str:
    document = {
        "version": STATE_VERSION,
        "full_pass_done": state.full_pass_done,
        "desired_commit": state.desired_commit,
        "settled_commit": state.settled_commit,
        "ignored": state.ignored,
        "notified": dict(sorted(state.notified.items())),
        "scope": list(state.scope),
        "counters": {name: getattr(state.counters, name) for name in field_names(Counters)},
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
                "images": dict(record.images),
                "digests": dict(record.digests),
                "rolled_back_from": record.rolled_back_from,
                "rollbacks": record.rollbacks,
                "drift": list(record.drift),
            }
            for path, record in sorted(state.stacks.items())
        },
        "configs": {
            path: {
                "key": config.key,
                "hashes": dict(config.hashes),
                "variables": list(config.variables),
                "environment": config.environment,
            }
            for path, config in sorted(state.configs.items())
        },
        "images_checked": state.images_checked,
        "images_followed": state.images_followed,
        "image_digests": {
            tag: {"digest": seen.digest, "since": seen.since}
            for tag, seen in sorted(state.image_digests.items())
        },
        "history": [
            {
                "stack": entry.stack,
                "happening": entry.happening.value,
                "at": entry.at,
                "commit": entry.commit,
                "reason": entry.reason,
            }
            for entry in state.history
        ],
    }
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def state_from_json(text: str) -> Result[State, str]:
    """The state a file holds, or why it cannot be trusted: not JSON, from a newer version,
    or of the wrong shape (a field of the wrong kind, a number out of range). Never raises:
    any text is a state or a reason."""
    try:
        document = json.loads(text)
    except RecursionError:
        return Failure("not valid JSON (nested too deeply)")
    except ValueError as error:  # JSONDecodeError, and integers too long to convert
        return Failure(f"not valid JSON ({error})")
    if not isinstance(document, dict):
        return Failure("not a state document")
    version = document.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        return Failure(f"unknown state version {_shown(version)}")
    if version > STATE_VERSION:
        return Failure(
            f"state version {_shown(version)} was written by a newer gitops-compose "
            f"(this one reads version {STATE_VERSION})"
        )
    try:
        return Success(_state(document))
    except _Malformed as error:
        return Failure(f"malformed state ({error})")


# The bounds of what a state may hold: counts a float still carries exactly (metrics are
# floats), and Unix seconds from 1970 to the end of year 9999.
MOST_COUNT = 2**53
LATEST_TIME = 253402300799.0


class _Malformed(Exception):
    """A field of the wrong kind or out of range: the file as a whole is not trusted."""

    def __init__(self, where: str, wanted: str, found: object) -> None:
        super().__init__(f"{where}: expected {wanted}, found {_shown(found)}")


def _state(document: Mapping[str, object]) -> State:
    counters = _mapping(document.get("counters", {}), "counters")
    stacks = _mapping(document.get("stacks", {}), "stacks")
    return State(
        full_pass_done=_flag(document.get("full_pass_done", False), "full_pass_done"),
        desired_commit=_text(document.get("desired_commit"), "desired_commit"),
        settled_commit=_text(document.get("settled_commit"), "settled_commit"),
        ignored=_count(document.get("ignored", 0), "ignored"),
        notified={
            _checked_text(key, "notified"): _checked_text(reason, f"notified[{_shown(key)}]")
            for key, reason in _mapping(document.get("notified", {}), "notified").items()
        },
        counters=_counters(counters),
        stacks={
            _checked_text(path, "stacks"): _record(record, f"stacks[{_shown(path)}]")
            for path, record in stacks.items()
        },
        history=_history(document.get("history", [])),
        scope=_names(document.get("scope", []), "scope"),
        configs={
            _checked_text(path, "configs"): _config(config, f"configs[{_shown(path)}]")
            for path, config in _mapping(document.get("configs", {}), "configs").items()
        },
        images_checked=_time(document.get("images_checked", 0), "images_checked"),
        images_followed=_flag(document.get("images_followed", False), "images_followed"),
        image_digests={
            _checked_text(tag, "image_digests"): _seen(seen, f"image_digests[{_shown(tag)}]")
            for tag, seen in _mapping(document.get("image_digests", {}), "image_digests").items()
        },
    )


def _seen(value: object, where: str) -> SeenDigest:
    found = _mapping(value, where)
    return SeenDigest(
        digest=_checked_text(found.get("digest"), f"{where}.digest"),
        since=_time(found.get("since", 0), f"{where}.since"),
    )


def _config(value: object, where: str) -> ExpectedConfig:
    found = _mapping(value, where)
    return ExpectedConfig(
        key=_checked_text(found.get("key"), f"{where}.key"),
        hashes=_images(found.get("hashes", {}), f"{where}.hashes"),
        variables=_names(found.get("variables", []), f"{where}.variables"),
        environment=_checked_text(found.get("environment", ""), f"{where}.environment"),
    )


def _history(value: object) -> tuple[HistoryEntry, ...]:
    """The saved history; absent in a state written before there was one."""
    if not isinstance(value, list):
        raise _Malformed("history", "a list", value)
    entries = []
    for index, each in enumerate(value[-MOST_ENTRIES:]):
        where = f"history[{index}]"
        entry = _mapping(each, where)
        happening = entry.get("happening")
        if not isinstance(happening, str) or happening not in _HAPPENINGS:
            raise _Malformed(f"{where}.happening", f"one of {', '.join(_HAPPENINGS)}", happening)
        entries.append(
            HistoryEntry(
                stack=_checked_text(entry.get("stack"), f"{where}.stack"),
                happening=_HAPPENINGS[happening],
                at=_time(entry.get("at"), f"{where}.at"),
                commit=_text(entry.get("commit"), f"{where}.commit"),
                reason=_text(entry.get("reason"), f"{where}.reason"),
            )
        )
    return tuple(entries)


_HAPPENINGS = {each.value: each for each in Happening}


def _counters(counters: Mapping[str, object]) -> Counters:
    """Each counter as its field's kind says: a count, or Unix seconds."""
    found: dict[str, Any] = {}
    for name in field_names(Counters):
        read = _time if isinstance(getattr(_NO_COUNTS, name), float) else _count
        found[name] = read(counters.get(name, 0), f"counters.{name}")
    return Counters(**found)


_NO_COUNTS = Counters()


def _record(value: object, where: str) -> StackStatus:
    record = _mapping(value, where)
    status = record.get("status")
    if not isinstance(status, str) or status not in _STATUSES:
        raise _Malformed(f"{where}.status", f"one of {', '.join(_STATUSES)}", status)
    failures = record.get("failures", 0)
    return StackStatus(
        project=_text(record.get("project"), f"{where}.project"),
        status=_STATUSES[status],
        error=_text(record.get("error"), f"{where}.error"),
        fingerprint=_text(record.get("fingerprint"), f"{where}.fingerprint"),
        commit=_text(record.get("commit"), f"{where}.commit"),
        error_at=_optional_time(record.get("error_at"), f"{where}.error_at"),
        failures=_count(failures, f"{where}.failures"),
        attempted=_text(record.get("attempted"), f"{where}.attempted"),
        retry_at=_optional_time(record.get("retry_at"), f"{where}.retry_at"),
        expects=_expects(record.get("expects"), f"{where}.expects"),
        down=_text(record.get("down"), f"{where}.down"),
        images=_images(record.get("images", {}), f"{where}.images"),
        digests=_images(record.get("digests", {}), f"{where}.digests"),
        rolled_back_from=_text(record.get("rolled_back_from"), f"{where}.rolled_back_from"),
        rollbacks=_count(record.get("rollbacks", 0), f"{where}.rollbacks"),
        drift=_names(record.get("drift", []), f"{where}.drift"),
    )


def _images(value: object, where: str) -> tuple[tuple[str, str], ...]:
    found = _mapping(value, where)
    return tuple(
        (_checked_text(service, where), _checked_text(image, f"{where}[{_shown(service)}]"))
        for service, image in sorted(found.items())
    )


def _expects_to_json(expects: Expectation | None) -> dict[str, object] | None:
    if expects is None:
        return None
    return {
        "services": list(expects.services),
        "one_shot": sorted(expects.one_shot),
        "includes": expects.includes,
    }


def _expects(value: object, where: str) -> Expectation | None:
    if value is None:
        return None
    found = _mapping(value, where)
    return Expectation(
        services=_names(found.get("services", []), f"{where}.services"),
        one_shot=frozenset(_names(found.get("one_shot", []), f"{where}.one_shot")),
        includes=_flag(found.get("includes", False), f"{where}.includes"),
    )


def _names(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise _Malformed(where, "a list of names", value)
    return tuple(_checked_text(each, f"{where}[{index}]") for index, each in enumerate(value))


_STATUSES = {each.value: each for each in Status}


def _mapping(value: object, where: str) -> Mapping[str, object]:
    if not isinstance(value, dict):
        raise _Malformed(where, "an object", value)
    return value


def _flag(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise _Malformed(where, "true or false", value)
    return value


def _count(value: object, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MOST_COUNT:
        raise _Malformed(where, f"a whole number from 0 to {MOST_COUNT}", value)
    return value


def _time(value: object, where: str) -> float:
    # A JSON number of any kind; inf and NaN (json reads 1e400 and NaN) are out of range.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Malformed(where, "Unix seconds", value)
    if not 0 <= value <= LATEST_TIME:  # False for NaN too
        raise _Malformed(where, f"Unix seconds from 0 to {LATEST_TIME:.0f}", value)
    return float(value)


def _optional_time(value: object, where: str) -> float | None:
    return None if value is None else _time(value, where)


def _text(value: object, where: str) -> str | None:
    return None if value is None else _checked_text(value, where)


def _checked_text(value: object, where: str) -> str:
    # Text that UTF-8 can carry: a lone surrogate (JSON's "\ud800") could be read but
    # neither printed nor served as metrics.
    if not isinstance(value, str) or not _encodable(value):
        raise _Malformed(where, "text", value)
    return value


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _shown(value: object) -> str:
    """A value as the message quotes it: short, whatever its size or nesting."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**15:
        return "a number too large"
    if isinstance(value, dict | list):
        return "an object" if isinstance(value, dict) else "a list"
    shown = repr(value)
    return shown if len(shown) <= 40 else f"{shown[:37]}..."
