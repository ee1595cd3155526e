"""The commands beside the check: plan, status, retry, accept-remote, sync and
notify-test, each from parsed options (see commands). A check loads none of them: commands
hands them over through the seam (shell/features)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from returns.result import Failure

from gitops_compose.core.reconcile.looking import heads_of
from gitops_compose.core.reconcile.report import (
    image_lines,
    plan_document,
    plan_lines,
    status_document,
    status_lines,
)
from gitops_compose.core.reconcile.state import within
from gitops_compose.core.reconcile.transition import retried
from gitops_compose.core.value import replace
from gitops_compose.shell.check import clone_of
from gitops_compose.shell.deploy import (
    EXIT_BUSY,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    Options,
    UsageError,
    open_clone,
    planned,
    readable_state_dir,
    require_docker,
    usable_paths,
)
from gitops_compose.shell.git_repository import GitRepository
from gitops_compose.shell.notifier import notify_test
from gitops_compose.shell.sops import Sops
from gitops_compose.shell.state_file import check_lock, load_state, read_state, save_state
from gitops_compose.shell.sync import NoDaemon, request_check

if TYPE_CHECKING:
    from gitops_compose.core.compose.snapshot import Snapshot
    from gitops_compose.core.reconcile.plan import Plan


def _secrets_tried(repository: GitRepository, plan: Plan, sops: Sops) -> Plan:
    """The plan with each stack's secret files decrypted by sops, in memory and dropped:
    the first that fails, and why, for each stack that has one."""
    tried = []
    snapshots: dict[str, Snapshot] = {}
    for each in plan.secrets:
        if each.commit not in snapshots:
            snapshots[each.commit] = repository.snapshot(each.commit)
        blobs = snapshots[each.commit].blobs
        error = None
        for file in each.files:
            raw = repository.blobs([blobs[file.path]]).get(blobs[file.path], b"")
            error = sops.decrypts(raw, file)
            if error is not None:
                break
        tried.append(replace(each, tried=True, error=error))
    return replace(plan, secrets=tuple(tried))


def print_plan(options: Options) -> int:
    repository = open_clone(options)
    require_docker(options.engine)
    found = planned(repository, options)
    if isinstance(found, Failure):
        print(f"gitops-compose: {found.failure().reason}", file=sys.stderr)
        return EXIT_USAGE
    the_plan = found.unwrap()
    if options.secrets:
        the_plan = _secrets_tried(repository, the_plan, Sops(options.sops_age_key_file))
    if options.output_format == "json":
        print(json.dumps(plan_document(the_plan, repository.branch), indent=2))
    else:
        print("\n".join(plan_lines(the_plan, repository.branch)))
        if options.images.now:
            print("\n".join(image_lines(the_plan)))
    return EXIT_OK if the_plan.in_sync else EXIT_FAILED


def retry(options: Options) -> int:
    """Marks a stack due for a try: the next check (the daemon's, or a --once) tries it."""
    stack = options.stack or ""
    repository = open_clone(options)
    state_dir = options.state_directory(repository)
    usable_paths(options, state_dir)
    with check_lock(state_dir):
        state, warning = load_state(state_dir, set_aside=False)
        if warning is not None:
            raise UsageError(warning)
        changed = retried(state, stack.strip("/") or ".")
        if isinstance(changed, Failure):
            raise UsageError(changed.failure())
        save_state(state_dir, changed.unwrap())
    print(f"{stack} is tried again by the next check")
    return EXIT_OK


def accept_remote(options: Options) -> int:
    """The recovery after a force push, as a command: the clone moves to the remote head
    the way a check would fast-forward it (a safe checkout, never over local work), but
    from any commit. Under the check lock, so no check runs meanwhile."""
    repository = open_clone(options)
    state_dir = options.state_directory(repository)
    usable_paths(options, state_dir)
    with check_lock(state_dir):
        found = heads_of(clone_of(repository))
        # Refused before any head was known: HEAD off the branch, a dirty tree, no fetch.
        # (A check would refuse a rewritten history too: that is what this accepts.)
        if isinstance(found, Failure):
            print(
                f"gitops-compose: accept-remote refused: {found.failure().reason}", file=sys.stderr
            )
            return EXIT_FAILED
        heads = found.unwrap()
        branch = repository.branch
        if heads.local == heads.remote:
            print(f"{branch} is at the remote head {heads.remote[:12]} already")
            return EXIT_OK
        moved = repository.fast_forward(heads.remote)
        if isinstance(moved, Failure):
            print(f"gitops-compose: accept-remote failed: {moved.failure()}", file=sys.stderr)
            return EXIT_FAILED
    how = "fast-forward" if heads.remote_descends else "history rewritten"
    print(
        f"moved {branch} from {heads.local[:12]} to {heads.remote[:12]} ({how}); the next "
        "check restarts what changed and stops, by project name, what the new history "
        "no longer has"
    )
    return EXIT_OK


def print_status(options: Options) -> int:
    """Reads the saved state only: no fetch, no Docker, no lock, nothing written."""
    repository = open_clone(options)
    readable_state_dir(options.state_directory(repository))
    directory = options.state_directory(repository)
    read = read_state(directory)
    if isinstance(read, Failure):
        unusable = read.failure()
        if unusable.unreadable:
            raise UsageError(f"state file {unusable.path}: {unusable.why}")
        raise UsageError(f"state file {unusable.path} is unusable: {unusable.why}")
    # Only this host's stacks, even before a check has forgotten the others.
    state = within(read.unwrap(), options.scope)
    if options.output_format == "json":
        print(json.dumps(status_document(state), indent=2))
    elif not state.stacks and state.counters.last_check == 0:
        print(f"no check has run yet (no state in {directory})")
    else:
        print("\n".join(status_lines(state)))
    return EXIT_OK


def sync(options: Options) -> int:
    """Ask the daemon of the state directory for a check, over its socket there."""
    repository = open_clone(options)
    state_dir = options.state_directory(repository)
    readable_state_dir(state_dir)
    try:
        code = request_check(state_dir, wait=options.wait, said=print)
    except NoDaemon as none:
        raise UsageError(f"{none}; start one, or run a check with --once") from None
    except OSError as error:
        raise UsageError(f"sync: {error.strerror or error}") from None
    if code is None:
        return EXIT_OK
    outcome = {EXIT_OK: "ok", EXIT_FAILED: "failed", EXIT_BUSY: "busy"}.get(code, "error")
    print(f"check {outcome}; the daemon's log says more")
    return code


def notify(options: Options) -> int:
    """notify-test: one test message to each target."""
    if options.notify is None:
        raise UsageError("notify-test: no target; pass --notify URL or set GITOPS_NOTIFY_URLS")
    return notify_test(options.notify)


COMMANDS: Mapping[str, Callable[[Options], int]] = {
    "plan": print_plan,
    "status": print_status,
    "retry": retry,
    "accept-remote": accept_remote,
    "sync": sync,
    "notify-test": notify,
}
