"""Plans and statuses as people and scripts read them: text lines and stable JSON documents.

The words are the plan's own (verb and reason), so the log, ``plan``, ``status`` and
``/status`` say the same thing. The JSON documents carry a ``version``; fields are only
ever added to them.
"""

from __future__ import annotations

from typing import Any

from gitops_compose.core.compose.scope import MISSING_REASON
from gitops_compose.core.reconcile.action import FastForward, StackAction, Verb, short_digest
from gitops_compose.core.reconcile.plan import Plan
from gitops_compose.core.reconcile.state import State, active_counts

DOCUMENT_VERSION = 1


def plan_document(plan: Plan, branch: str) -> dict[str, Any]:
    fast_forward = next((each for each in plan.actions if isinstance(each, FastForward)), None)
    stacks: list[dict[str, Any]] = [
        _action_entry(each)
        if each.stack not in plan.blocked or each.verb is Verb.STOP
        else {
            "stack": each.stack,
            "project": each.project,
            "action": "error",
            "reason": plan.blocked[each.stack],
        }
        for each in plan.stack_actions
    ]
    stacks += [
        {"stack": s.stack, "project": s.project, "action": "skip", "reason": s.reason}
        for s in plan.skips
    ]
    stacks += [
        {"stack": w.stack, "project": w.project, "action": "wait", "reason": w.reason}
        for w in plan.waits
    ]
    stacks += [
        {"stack": p.stack, "project": p.project, "action": "error", "reason": p.reason}
        for p in plan.problems
    ]
    stacks += [
        {"stack": d.stack, "project": d.project, "action": "drift", "reason": d.reason}
        for d in plan.drift
    ]
    return {
        "version": DOCUMENT_VERSION,
        "branch": branch,
        "local": plan.local,
        "remote": plan.remote,
        "in_sync": plan.in_sync,
        "fast_forward": (
            None
            if fast_forward is None
            else {"from": fast_forward.source, "to": fast_forward.target}
        ),
        "stacks": stacks,
        "missing_subtrees": list(plan.missing_subtrees),
        "warnings": [
            {
                "stack": each.stack,
                "project": each.project,
                "kind": "link outside",
                "link": each.link.path,
                "target": each.link.target,
                "via": list(each.link.via),
                "outside": each.link.outside,
                "reason": each.link.reason,
            }
            for each in plan.warnings
        ],
        "images": _images_entry(plan),
    }


def _images_entry(plan: Plan) -> dict[str, Any] | None:
    """What the plan's image check found (None: none was due): the services whose tags
    point at another digest than they run, each taken now or when its cool-down ends,
    and the tags that could not be checked."""
    found = plan.images
    if found is None:
        return None
    return {
        "tags": found.asked,
        "pending": [
            {
                "stack": each.stack,
                "project": each.project,
                "service": each.change.service,
                "image": each.change.image,
                "running": each.change.running,
                "registry": each.change.available,
                "cooling_until": None if each.taken else iso_time(each.ready_at),
            }
            for each in found.pending
        ],
        "warnings": [
            {
                "stack": each.stack,
                "project": each.project,
                "image": each.image,
                "reason": each.reason,
            }
            for each in found.warnings
        ],
    }


def image_lines(plan: Plan) -> list[str]:
    """``plan --images``: each pending update (``update``, or ``cooling`` until when) and
    each tag that could not be checked, stack and service named."""
    document = _images_entry(plan)
    if document is None:
        return ["images: no stack follows its images"]
    lines = [f"images: {document['tags']} tag(s) asked of their registries"]
    for entry in document["pending"]:
        until = entry["cooling_until"]
        word = "update" if until is None else "cooling"
        change = (
            f"{entry['image']} {short_digest(entry['running'])} → {short_digest(entry['registry'])}"
        )
        when = f" until {until}" if until else ""
        lines.append(f"{word:<8} {entry['stack']} {entry['service']} ({change}){when}")
    lines += [
        f"warning  {each['stack']} ({each['image']}: {each['reason']})"
        for each in document["warnings"]
    ]
    if not document["pending"] and not document["warnings"]:
        lines.append("images up to date")
    return lines


def plan_lines(plan: Plan, branch: str) -> list[str]:
    """``restart my_app/production (changed: my_app/production/.env)``, one per stack, in
    the order they start; a stack that waits for others names them: ``after reverse_proxy``.
    """
    document = plan_document(plan, branch)
    lines = []
    if document["fast_forward"] is not None:
        lines.append(f"fast-forward {plan.local[:12]} -> {plan.remote[:12]} ({branch})")
    for entry in document["stacks"]:
        after = entry.get("after")
        waits = f" after {', '.join(after)}" if after else ""
        lines.append(f"{entry['action']:<8} {entry['stack']} ({entry['reason']}){waits}")
    lines += [f"warning  {each['stack']} ({each['reason']})" for each in document["warnings"]]
    lines += [f"warning  --path {each} ({MISSING_REASON})" for each in plan.missing_subtrees]
    if plan.in_sync:
        lines.append(f"in sync at {plan.remote[:12]} ({branch})")
    return lines


def status_document(state: State) -> dict[str, Any]:
    counters = state.counters
    return {
        "version": DOCUMENT_VERSION,
        "desired_commit": state.desired_commit,
        "full_pass_done": state.full_pass_done,
        "active": {each.value: count for each, count in active_counts(state).items()},
        "checks": {
            "success": counters.check_success,
            "error": counters.check_error,
            "last": iso_time(counters.last_check),
            "last_success": iso_time(counters.last_success),
            "last_error": iso_time(counters.last_error),
        },
        "deployments": {
            "success": counters.deployment_success,
            "error": counters.deployment_error,
        },
        "stacks": [
            {
                "stack": path,
                "project": record.project,
                "status": record.condition.value,
                # What the last check saw on the host; why not, when not.
                "running": record.down is None,
                "not_running": record.down,
                # Services that run another configuration than its files give.
                "drifted": list(record.drift),
                "deployed_commit": record.commit,
                "desired_commit": state.desired_commit,
                "last_error": record.error,
                "last_error_at": iso_time(record.error_at),
                "failures": record.failures,
                "retry_at": iso_time(record.retry_at),
                # What each service ran after its last successful deployment.
                "images": [
                    {"service": service, "image": image, "digest": digests.get(service)}
                    for service, image in record.images
                    for digests in (dict(record.digests),)
                ],
            }
            for path, record in sorted(state.stacks.items())
        ],
    }


def status_lines(state: State) -> list[str]:
    document = status_document(state)
    rows = [("STACK", "PROJECT", "STATUS", "DEPLOYED", "DESIRED", "LAST ERROR")]
    for entry in document["stacks"]:
        notes = []
        if entry["not_running"]:
            notes.append(f"not running: {entry['not_running']}")
        if entry["last_error"]:
            notes.append(f"{entry['last_error_at']} {entry['last_error']}")
        error = "; ".join(notes) or "-"
        rows.append(
            (
                entry["stack"],
                entry["project"] or "-",
                entry["status"],
                (entry["deployed_commit"] or "-")[:12],
                (entry["desired_commit"] or "-")[:12],
                error,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:5], widths, strict=True))
        + f"  {row[5]}"
        for row in rows
    ]
    for entry in document["stacks"]:
        for each in entry["images"]:
            digest = each["digest"] or "no repository digest"
            lines.append(f"  {entry['stack']} {each['service']}: {each['image'][:19]} {digest}")
    checks = document["checks"]
    last = checks["last"] or "never"
    lines.append(f"checks: {checks['success']} ok, {checks['error']} failed, last {last}")
    return lines


def _action_entry(action: StackAction) -> dict[str, Any]:
    return {
        "stack": action.stack,
        "project": action.project,
        "action": action.verb.value,
        "kind": action.kind.value,
        "reason": action.reason,
        "phase": action.phase.name.lower().replace("_", "-"),
        "commit": action.commit,
        # The stacks whose actions this one waits for (a stop: the stacks that use it).
        "after": list(action.after),
    }


def iso_time(seconds: float | None) -> str | None:
    """Unix seconds as ``2026-11-21T08:30:00Z``; None for never.

    Civil-from-days arithmetic (proleptic Gregorian), so the core needs no clock module.
    """
    if not seconds:
        return None
    days, second = divmod(int(seconds), 86400)
    hour, rest = divmod(second, 3600)
    minute, second = divmod(rest, 60)
    days += 719468
    era, day_of_era = divmod(days, 146097)
    year_of_era = (
        day_of_era - day_of_era // 1460 + day_of_era // 36524 - day_of_era // 146096
    ) // 365
    day_of_year = day_of_era - (365 * year_of_era + year_of_era // 4 - year_of_era // 100)
    shifted_month = (5 * day_of_year + 2) // 153
    day = day_of_year - (153 * shifted_month + 2) // 5 + 1
    month = shifted_month + 3 if shifted_month < 10 else shifted_month - 9
    year = year_of_era + era * 400 + (month <= 2)
    return f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}Z"
